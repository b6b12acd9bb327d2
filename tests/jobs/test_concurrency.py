"""What only PostgreSQL can show: several connections and several worker processes
sharing the queue."""

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config import clock as app_clock
from jobs import runner
from jobs.models import Job
from prs import services
from prs.models import Slot
from tests.conftest import wait_for
from tests.jobs import tasks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)


def together(count, action):
    """Run `action(i)` in `count` threads that start at once, each with its own
    database connection."""
    start = threading.Barrier(count)

    def run(index):
        try:
            start.wait()
            return action(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def worker_env(**extra) -> dict:
    """The environment of a worker process that uses the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return os.environ | {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"} | extra


def start_worker(*args, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_jobs", *args],
        cwd=ROOT,
        env=worker_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_twenty_concurrent_enqueues_with_one_key_make_one_job(db):
    jobs = together(
        20, lambda i: runner.enqueue(tasks.record, [i], dedupe_key="one-key").pk
    )

    assert Job.objects.count() == 1
    assert set(jobs) == {Job.objects.get().pk}


def test_another_connection_sees_an_enqueued_job_only_after_commit(db):
    def count_elsewhere():
        return together(1, lambda i: Job.objects.count())[0]

    with transaction.atomic():
        runner.enqueue(tasks.record, ["a"])
        before_commit = count_elsewhere()

    assert (before_commit, count_elsewhere()) == (0, 1)


def test_a_join_rolled_back_after_its_enqueue_leaves_no_job(
    clock, make_pr, participant
):
    pr = make_pr()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.join(pr.pk, participant)
        assert Job.objects.count() == 1
        raise RuntimeError("something after the join failed")

    assert not Job.objects.exists()
    assert not Slot.objects.exists()


def test_four_worker_processes_run_two_thousand_jobs_exactly_once(db, tmp_path):
    trace = tmp_path / "executions.txt"
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            job_type="tests.jobs.tasks.append_line",
            payload={"args": [str(trace), f"job-{i}"], "kwargs": {}},
            run_at=now,
            max_attempts=3,
            created_at=now,
        )
        for i in range(2000)
    )

    workers = [
        start_worker("--loop", "--interval", "0.2", "--worker", f"w{n}")
        for n in range(4)
    ]
    try:
        wait_for(
            lambda: not Job.objects.exclude(status="SUCCEEDED").exists(),
            what="all jobs to finish",
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30) for worker in workers]

    lines = Counter(trace.read_text().split())
    assert len(lines) == 2000
    assert set(lines.values()) == {1}
    assert all(worker.returncode == 0 for worker in workers), outputs
    ran_by = Counter(Job.objects.values_list("locked_by", flat=True))
    assert len(ran_by) >= 2, f"the load was not shared: {ran_by}"
    assert Job.objects.filter(attempts=1).count() == 2000


def test_a_killed_worker_s_job_runs_again_after_its_lease_expires(db, tmp_path):
    trace = tmp_path / "trace.txt"
    job = runner.enqueue(tasks.hang_first_time, [str(trace)])

    worker = start_worker("--max-jobs", "1")
    wait_for(trace.exists, what="the handler to start")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("RUNNING", 1)

    assert runner.tick().claimed == 0  # the dead worker's lease still holds
    app_clock.set_now(job.lease_expires_at + timedelta(seconds=1))
    try:
        result = runner.tick(worker="rescuer")
    finally:
        app_clock.set_now(None)

    job.refresh_from_db()
    assert result.succeeded == 1
    assert (job.status, job.attempts, job.locked_by) == ("SUCCEEDED", 2, "rescuer")
    assert trace.read_text().split() == ["started", "started"]
    assert "lease expired" in job.last_error


def test_run_jobs_exits_non_zero_when_the_database_is_unreachable():
    worker = subprocess.run(
        [sys.executable, "manage.py", "run_jobs"],
        cwd=ROOT,
        env=os.environ
        | {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
            "LOG_LEVEL": "ERROR",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert worker.returncode == 1
    assert "database unavailable" in worker.stderr


def test_a_handler_running_past_its_lease_keeps_it_renewed(db, settings):
    """The lease keeper's own thread renews while the handler runs, on the
    database's clock, so no other worker can take the job over."""
    settings.JOBS_LEASE_SECONDS = 1
    for registry in (tasks.GATES, tasks.ENTERED, tasks.RUNS):
        registry.pop("renewed", None)
    job = runner.enqueue(tasks.wait_at_gate, ["renewed"])
    results = []

    def work():
        try:
            results.append(runner.tick(max_jobs=1))
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()

    try:
        assert tasks.entered("renewed").wait(timeout=10)
        first = Job.objects.get(pk=job.pk).lease_expires_at
        wait_for(
            lambda: Job.objects.get(pk=job.pk).lease_expires_at > first,
            timeout=10,
            what="the lease keeper to renew the lease",
        )
        assert runner.tick(max_jobs=1).claimed == 0  # another worker finds nothing
    finally:
        tasks.gate("renewed").set()
        worker.join()
        connection.close()

    assert results[0].succeeded == 1
    assert Job.objects.get(pk=job.pk).attempts == 1
