"""Load the demo that `make run` shows: an operator, a few people, and PRs timed so
that each rule of DESIGN §3 happens within minutes of start-up.

Each run replaces the previous demo (its PRs and people) with a fresh one timed
from now, so the demo works on the second day as on the first. Anything else in
the database is left alone.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config import clock
from prs import services
from prs.models import PartnerRequest, User

OPERATOR = ("admin", "admin")
ORGANISER = "demo-organiser"
# username -> WeChat openid; the simulator knows these people as followers.
PEOPLE = {
    "alice": "o-demo-alice",
    "bob": "o-demo-bob",
    "carol": "o-demo-carol",
    "dan": "o-demo-dan",
}

# (title, location, starts in, capacity, [(person, joined and confirmed?)])
DEMO_PRS = [
    (
        "晨跑 · 签到已开放",
        "奥林匹克森林公园南门",
        timedelta(minutes=25),
        6,
        [("bob", True), ("carol", True)],
    ),
    (
        "羽毛球双打 · 一小时后截止确认",
        "朝阳体育中心 3 号馆",
        timedelta(hours=1, minutes=5),
        4,
        [("alice", False), ("bob", True), ("dan", False)],
    ),
    (
        "周末徒步 · 两小时提醒",
        "香山公园东门",
        timedelta(hours=2, minutes=5),
        8,
        [("carol", False), ("alice", True)],
    ),
    (
        "桌游之夜",
        "望京 SOHO T3 一层",
        timedelta(days=3),
        6,
        [("dan", False)],
    ),
]


def on_the_minute(instant):
    """Round up to a whole minute: activities start on the minute, and rounding up
    keeps each at least as far away as its title promises."""
    rounded = instant.replace(second=0, microsecond=0)
    return rounded if rounded == instant else rounded + timedelta(minutes=1)


class Command(BaseCommand):
    help = "Replace the demo data with a fresh set timed from now (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even when DEBUG is off (never on a real deployment).",
        )

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("load_demo runs with DEBUG on only; see --force.")

        with transaction.atomic():
            self.remove_previous_demo()
            operator_created = self.ensure_operator()
            organiser = User.objects.create(
                username=ORGANISER, first_name="活动组织者", wechat_openid="o-demo-org"
            )
            people = {
                name: User.objects.create(username=name, wechat_openid=openid)
                for name, openid in PEOPLE.items()
            }
            prs = [self.create_pr(organiser, people, *spec) for spec in DEMO_PRS]

        operator = "created admin/admin" if operator_created else "operator kept"
        self.stdout.write(
            f"demo loaded: {len(prs)} PRs, {len(people) + 1} people, {operator}"
        )

    def remove_previous_demo(self):
        demo_usernames = [ORGANISER, *PEOPLE]
        PartnerRequest.objects.filter(organiser__username=ORGANISER).delete()
        User.objects.filter(username__in=demo_usernames).delete()

    def ensure_operator(self) -> bool:
        username, password = OPERATOR
        if User.objects.filter(username=username).exists():
            return False
        User.objects.create_superuser(username, password=password)
        return True

    def create_pr(self, organiser, people, title, location, starts_in, capacity, joins):
        now = clock.now()
        pr = services.create_pr(
            organiser,
            title=title,
            description="演示数据：make run 每次启动都会重新生成。",
            location=location,
            start_at=on_the_minute(now + starts_in),
            capacity=capacity,
        )

        # People joined two hours ago, while joining and confirming were still open
        # for every demo PR, the one that starts in 25 minutes included.
        with clock.stopped_at(now - timedelta(hours=2)):
            for name, confirmed in joins:
                services.join(pr.pk, people[name])
                if confirmed:
                    services.confirm(pr.pk, people[name])
        return pr
