"""What operators use: the admin, prune_jobs, jobs_health, the outcome log."""

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command

from jobs import runner
from jobs.models import Job
from tests.conftest import T0
from tests.jobs import tasks

pytestmark = pytest.mark.django_db


def make_job(status, finished_days_ago=None, key=None):
    job = runner.enqueue(tasks.record, [status], dedupe_key=key)
    finished = (
        T0 - timedelta(days=finished_days_ago)
        if finished_days_ago is not None
        else None
    )
    Job.objects.filter(pk=job.pk).update(status=status, finished_at=finished)
    return job


@pytest.fixture
def operator_client(client, make_user):
    client.force_login(make_user("operator", is_staff=True, is_superuser=True))
    return client


# admin


def test_admin_lists_and_filters_jobs(clock, operator_client):
    make_job("FAILED", 1)
    pending = make_job("PENDING", key="slot:7")

    listing = operator_client.get("/admin/jobs/job/?status__exact=PENDING&q=slot:7")

    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [pending]


def test_admin_run_now_makes_waiting_jobs_due_and_restarts_failed_ones(
    clock, operator_client
):
    later = runner.enqueue(tasks.record, ["later"], run_at=T0 + timedelta(days=1))
    failed = make_job("FAILED", 1)
    done = make_job("SUCCEEDED", 1)

    operator_client.post(
        "/admin/jobs/job/",
        {"action": "run_now", "_selected_action": [later.pk, failed.pk, done.pk]},
    )

    later.refresh_from_db()
    failed.refresh_from_db()
    assert later.run_at == T0
    assert (failed.status, failed.attempts, failed.run_at) == ("RETRY", 0, T0)
    assert Job.objects.get(pk=done.pk).status == "SUCCEEDED"


def test_run_now_leaves_a_failed_job_whose_key_is_held_again(clock, operator_client):
    failed = make_job("FAILED", 1, key="slot:7:T-2h")
    again = make_job("FAILED", 1, key="slot:7:T-2h")
    holder = runner.enqueue(tasks.record, ["PENDING"], dedupe_key="slot:7:T-2h")

    response = operator_client.post(
        "/admin/jobs/job/",
        {"action": "run_now", "_selected_action": [failed.pk, again.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert set(Job.objects.values_list("pk", "status")) == {
        (failed.pk, "FAILED"),
        (again.pk, "FAILED"),
        (holder.pk, "PENDING"),
    }


def test_run_now_restarts_one_of_two_failed_jobs_sharing_a_free_key(clock):
    first = make_job("FAILED", 1, key="slot:8:T-2h")
    second = make_job("FAILED", 1, key="slot:8:T-2h")

    assert runner.run_now([first.pk, second.pk]) == 1
    statuses = sorted(Job.objects.values_list("status", flat=True))
    assert statuses == ["FAILED", "RETRY"]


def test_admin_delete_pending_spares_running_and_finished_jobs(clock, operator_client):
    waiting = [make_job("PENDING"), make_job("RETRY")]
    kept = [make_job("RUNNING"), make_job("SUCCEEDED", 1), make_job("FAILED", 1)]

    operator_client.post(
        "/admin/jobs/job/",
        {
            "action": "delete_pending",
            "_selected_action": [job.pk for job in waiting + kept],
        },
    )

    assert set(Job.objects.values_list("pk", flat=True)) == {job.pk for job in kept}


# prune_jobs


def test_prune_keeps_failures_longer_than_successes(clock, capsys):
    old_success = make_job("SUCCEEDED", 8)
    recent_success = make_job("SUCCEEDED", 6)
    old_failure = make_job("FAILED", 31)
    recent_failure = make_job("FAILED", 8)
    waiting = make_job("PENDING")

    call_command("prune_jobs")

    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {recent_success.pk, recent_failure.pk, waiting.pk}
    assert old_success.pk not in remaining and old_failure.pk not in remaining
    assert capsys.readouterr().out.startswith(
        "prune_jobs: deleted succeeded=1 failed=1"
    )


def test_prune_dry_run_deletes_nothing(clock, capsys):
    make_job("SUCCEEDED", 2)

    call_command("prune_jobs", "--dry-run", "--succeeded-days", "1")

    assert Job.objects.count() == 1
    assert "would delete succeeded=1 failed=0" in capsys.readouterr().out


# jobs_health


def test_jobs_health_is_ok_while_nothing_is_overdue(clock, capsys, settings):
    settings.JOBS_TOLERANCE_SECONDS = 60
    runner.enqueue(tasks.record, ["soon"], run_at=T0 - timedelta(seconds=30))

    call_command("jobs_health")

    out = capsys.readouterr().out
    assert out.startswith("jobs_health: ok PENDING=1 ")
    assert "oldest_overdue=none" in out


def test_jobs_health_exits_non_zero_when_a_job_waits_too_long(clock, capsys, settings):
    settings.JOBS_TOLERANCE_SECONDS = 60
    runner.enqueue(tasks.record, ["stuck"], run_at=T0 - timedelta(minutes=10))

    with pytest.raises(SystemExit) as exit_:
        call_command("jobs_health", "--max-overdue-seconds", "300")

    assert exit_.value.code == 1
    assert "UNHEALTHY" in capsys.readouterr().out


# logging


def test_each_outcome_is_one_log_line_with_the_job_s_facts(clock, caplog):
    job = runner.enqueue(tasks.record, ["a"])

    with caplog.at_level(logging.INFO, logger="jobs.runner"):
        runner.tick()

    lines = [r.getMessage() for r in caplog.records if r.name == "jobs.runner"]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"job succeeded job={job.pk} type=tests.jobs.tasks.record attempt=1/5 duration="
    )
