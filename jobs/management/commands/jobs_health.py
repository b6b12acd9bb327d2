"""Report the queue's health; exit non-zero when jobs wait too long."""

import sys
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count, Min

from jobs.models import Job
from jobs.runner import queue_now


class Command(BaseCommand):
    help = (
        "Print job counts per state and the age of the oldest overdue job; exit 1 "
        "when that age passes --max-overdue-seconds (for a health check or an alert)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-overdue-seconds",
            type=float,
            default=300.0,
            help="Overdue beyond the tolerance for longer than this is unhealthy.",
        )

    def handle(self, *args, max_overdue_seconds, **options):
        counts = dict(
            Job.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        # Lateness and expiry as the queue judges them: on the database's clock.
        now = queue_now()
        overdue_age = self.oldest_overdue_age(now)
        stuck = Job.objects.filter(
            status=Job.Status.RUNNING, lease_expires_at__lt=now
        ).count()

        states = " ".join(f"{status}={counts.get(status, 0)}" for status in Job.Status)
        age = "none" if overdue_age is None else f"{overdue_age:.0f}s"
        healthy = overdue_age is None or overdue_age <= max_overdue_seconds
        verdict = "ok" if healthy else "UNHEALTHY"
        self.stdout.write(
            f"jobs_health: {verdict} {states} "
            f"oldest_overdue={age} expired_leases={stuck}"
        )
        if not healthy:
            sys.exit(1)

    def oldest_overdue_age(self, now: datetime) -> float | None:
        """Seconds since the longest-waiting due job fell due, beyond the tolerance
        a tick is allowed to wait; None when nothing is overdue."""
        oldest = Job.objects.filter(status__in=Job.WAITING).aggregate(Min("run_at"))
        run_at = oldest["run_at__min"]
        if run_at is None:
            return None
        late = (now - run_at).total_seconds() - settings.JOBS_TOLERANCE_SECONDS
        return late if late > 0 else None
