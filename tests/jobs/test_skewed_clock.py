"""An application server whose clock disagrees with PostgreSQL's.

The queue decides "due" on the database's clock; the T-1h rule is judged on the
application's. These tests run the application's clock off the real time, as a
machine with a drifting clock does, and leave the database's alone.
"""

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from config import clock
from jobs import runner
from jobs.models import Job
from prs import services
from prs.models import Slot
from prs.tasks import release_key, release_unconfirmed_slot
from tests.jobs import tasks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

BEHIND = timedelta(seconds=30)


@pytest.fixture
def app_clock_behind(monkeypatch):
    """The application's clock runs BEHIND the real time; nothing is stopped."""
    monkeypatch.setattr(clock, "now", lambda: timezone.now() - BEHIND)


def test_a_release_on_a_slow_app_clock_waits_out_the_difference_instead_of_spinning(
    app_clock_behind, make_user
):
    organiser, participant = make_user(), make_user()
    # T-1h passed five seconds ago on the database's clock, not yet on the app's.
    start = timezone.now() + timedelta(hours=1) - timedelta(seconds=5)
    pr = services.create_pr(
        organiser,
        title="Dawn run",
        description="",
        location="Park",
        start_at=start,
        capacity=3,
    )
    slot = services.join(pr.pk, participant)

    result = runner.tick(max_jobs=50)

    job = Job.objects.get(
        job_type=release_unconfirmed_slot.module_path, dedupe_key=release_key(slot.pk)
    )
    assert (result.claimed, result.deferred) == (1, 1)
    assert (job.status, job.attempts) == ("PENDING", 0)
    # The app's clock reaches T-1h in about 25 s; the job waits that long.
    wait = (job.not_before - timezone.now()).total_seconds()
    assert 20 < wait <= 25, wait
    assert Slot.objects.get(pk=slot.pk).status == "JOINED"


def test_jobs_health_measures_lateness_on_the_database_s_clock(
    app_clock_behind, capsys, settings
):
    settings.JOBS_TOLERANCE_SECONDS = 0
    runner.enqueue(
        tasks.record, ["late"], run_at=timezone.now() - timedelta(seconds=20)
    )

    call_command("jobs_health", "--max-overdue-seconds", "600")

    # Twenty seconds late on the database's clock; the app's would say not yet due.
    out = capsys.readouterr().out
    age = re.search(r"oldest_overdue=(\d+)s", out)
    assert age and 19 <= int(age[1]) <= 25, out
