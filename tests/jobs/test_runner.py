"""jobs.runner: enqueue, dedupe, delete_pending, tick and its outcomes."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from jobs import runner
from jobs.models import Job
from tests.conftest import T0
from tests.jobs import tasks

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)


def status_of(job):
    return Job.objects.get(pk=job.pk).status


def in_own_connection(function):
    """Run `function` in a thread with its own connection, closed at the end."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    return run


# enqueue and dedupe


def test_enqueue_stores_the_task_path_and_json_arguments(clock):
    job = runner.enqueue(tasks.record, ["a"], {"extra": 1}, run_at=T0 + SECOND)

    stored = Job.objects.get(pk=job.pk)
    assert stored.job_type == "tests.jobs.tasks.record"
    assert stored.payload == {"args": ["a"], "kwargs": {"extra": 1}}
    assert stored.run_at == T0 + SECOND
    assert stored.status == "PENDING"
    assert (stored.attempts, stored.max_attempts) == (0, 5)
    assert stored.created_at == T0


def test_enqueue_without_run_at_is_due_now(clock):
    job = runner.enqueue(tasks.record, ["a"])

    assert job.run_at == T0


def test_enqueue_refuses_arguments_that_are_not_json(clock):
    with pytest.raises(TypeError):
        runner.enqueue(tasks.record, [object()])

    assert not Job.objects.exists()


def test_a_second_enqueue_with_the_same_key_returns_the_first_job(clock):
    first = runner.enqueue(tasks.record, ["a"], dedupe_key="k")

    second = runner.enqueue(tasks.record, ["b"], dedupe_key="k", run_at=T0 + SECOND)

    assert second.pk == first.pk
    assert Job.objects.count() == 1
    assert Job.objects.get().payload["args"] == ["a"]


def test_the_same_key_on_another_task_is_another_job(clock):
    runner.enqueue(tasks.record, ["a"], dedupe_key="k")

    runner.enqueue(tasks.fail, dedupe_key="k")

    assert Job.objects.count() == 2


@pytest.mark.parametrize("outcome", ["SUCCEEDED", "FAILED"])
def test_a_finished_job_frees_its_key(clock, outcome):
    first = runner.enqueue(tasks.record, ["a"], dedupe_key="k")
    Job.objects.filter(pk=first.pk).update(status=outcome)

    second = runner.enqueue(tasks.record, ["a"], dedupe_key="k")

    assert second.pk != first.pk
    assert Job.objects.count() == 2


@pytest.mark.parametrize("status", ["RUNNING", "RETRY"])
def test_an_unfinished_job_keeps_its_key(clock, status):
    first = runner.enqueue(tasks.record, ["a"], dedupe_key="k")
    Job.objects.filter(pk=first.pk).update(status=status)

    assert runner.enqueue(tasks.record, ["a"], dedupe_key="k").pk == first.pk


def test_an_enqueue_rolled_back_with_its_caller_leaves_no_job(clock):
    with pytest.raises(RuntimeError), transaction.atomic():
        runner.enqueue(tasks.record, ["a"], dedupe_key="k")
        raise RuntimeError("the caller's action failed")

    assert not Job.objects.exists()


# delete_pending


def job_with(key, status):
    job = runner.enqueue(tasks.record, [key], dedupe_key=key)
    Job.objects.filter(pk=job.pk).update(status=status)
    return job


@pytest.mark.parametrize("status", ["PENDING", "RETRY"])
def test_delete_pending_deletes_a_waiting_job_and_counts_it(clock, status):
    job_with("k", status)
    other = job_with("other", "PENDING")

    assert runner.delete_pending(tasks.record, "k") == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [other.pk]


def test_delete_pending_leaves_running_and_finished_jobs(clock):
    finished = [job_with("k", status) for status in ("SUCCEEDED", "FAILED")]
    running = job_with("k", "RUNNING")

    assert runner.delete_pending(tasks.record, "k") == 0
    assert Job.objects.count() == 3
    assert [status_of(job) for job in [*finished, running]] == [
        "SUCCEEDED",
        "FAILED",
        "RUNNING",
    ]


def test_delete_pending_accepts_a_job_type_string(clock):
    runner.enqueue(tasks.record, ["a"], dedupe_key="k")

    assert runner.delete_pending("tests.jobs.tasks.record", "k") == 1
    assert runner.delete_pending("tests.jobs.tasks.record", "k") == 0


# tick


def test_tick_runs_a_due_job_and_marks_it_succeeded(clock):
    job = runner.enqueue(tasks.record, ["a"])

    result = runner.tick(worker="w1")

    assert (result.claimed, result.succeeded) == (1, 1)
    assert tasks.RUNS["a"] == 1
    job.refresh_from_db()
    assert job.status == "SUCCEEDED"
    assert job.attempts == 1
    assert job.locked_by == "w1"
    assert job.finished_at == T0
    assert job.lease_token == ""
    assert job.lease_expires_at is None


@pytest.fixture
def successes_wait_for_the_batch(monkeypatch):
    """Quick handlers, whatever the machine's load: no success is written early."""
    monkeypatch.setattr(runner, "SUCCESS_WRITE_AFTER", timedelta(hours=1))


def test_the_successes_of_a_batch_of_quick_jobs_are_written_in_one_statement(
    clock, successes_wait_for_the_batch
):
    for name, seconds in (("a", 3), ("b", 2), ("c", 1)):
        runner.enqueue(tasks.observe_queue, [name], run_at=T0 - seconds * SECOND)

    with CaptureQueriesContext(connection) as queries:
        result = runner.tick()

    marks = [q["sql"] for q in queries if "SET status = 'SUCCEEDED'" in q["sql"]]
    assert (result.claimed, result.succeeded, len(marks)) == (3, 3, 1)
    # The last handler saw the first two finished but not yet marked.
    assert tasks.OBSERVED["c"] == ["RUNNING", "RUNNING", "RUNNING"]
    assert set(Job.objects.values_list("status", flat=True)) == {"SUCCEEDED"}


def test_a_success_that_waited_long_enough_is_written_before_the_next_job_runs(
    clock, monkeypatch
):
    monkeypatch.setattr(runner, "SUCCESS_WRITE_AFTER", timedelta(0))
    for name, seconds in (("a", 3), ("b", 2), ("c", 1)):
        runner.enqueue(tasks.observe_queue, [name], run_at=T0 - seconds * SECOND)

    runner.tick()

    assert tasks.OBSERVED["c"] == ["SUCCEEDED", "SUCCEEDED", "RUNNING"]


def test_a_worker_leaving_mid_batch_still_writes_the_successes_before_it(
    clock, successes_wait_for_the_batch
):
    done = runner.enqueue(tasks.record, ["before"], run_at=T0 - 2 * SECOND)
    leaving = runner.enqueue(tasks.leave_the_worker, run_at=T0 - SECOND)

    with pytest.raises(SystemExit):
        runner.tick()

    done.refresh_from_db()
    leaving.refresh_from_db()
    assert (done.status, leaving.status) == ("SUCCEEDED", "RUNNING")


def test_a_shared_success_mark_skips_only_the_job_whose_claim_was_taken_over(
    clock, caplog
):
    for key in ("a", "b", "c"):
        runner.enqueue(tasks.record, [key])
    claimed = runner._claim(3, "w1")
    taken = claimed[1]
    Job.objects.filter(pk=taken.pk).update(lease_token="another-worker")

    with caplog.at_level(logging.WARNING, logger="jobs.runner"):
        outcomes = runner._succeed(claimed)

    assert [outcomes[job.pk] for job in claimed] == ["succeeded", "lost", "succeeded"]
    assert Job.objects.get(pk=taken.pk).status == "RUNNING"
    assert f"lease lost job={taken.pk}" in caplog.text


def test_tick_runs_jobs_in_run_at_order(clock):
    runner.enqueue(tasks.record, ["second"], run_at=T0 - SECOND)
    runner.enqueue(tasks.record, ["first"], run_at=T0 - 2 * SECOND)
    runner.enqueue(tasks.record, ["third"], run_at=T0)

    runner.tick()

    assert list(tasks.RUNS) == ["first", "second", "third"]


def test_tick_stops_at_max_jobs(clock, settings):
    settings.JOBS_CLAIM_BATCH = 2
    for key in "abcde":
        runner.enqueue(tasks.record, [key])

    result = runner.tick(max_jobs=3)

    assert result.claimed == 3
    assert Job.objects.filter(status="PENDING").count() == 2


def test_tick_hands_back_claimed_jobs_it_has_no_time_to_start(clock, settings):
    settings.JOBS_CLAIM_BATCH = 5
    for key in "abc":
        runner.enqueue(tasks.record, [key])
    stop = threading.Event()
    stop.set()

    result = runner.tick(stop=stop)

    assert result.claimed == 0
    assert list(Job.objects.values_list("status", "attempts")) == [("PENDING", 0)] * 3


@pytest.mark.django_db(transaction=True)
def test_a_stop_during_a_batch_finishes_the_current_job_and_hands_back_the_rest(
    clock, settings
):
    settings.JOBS_CLAIM_BATCH = 5
    stop = threading.Event()
    first = runner.enqueue(tasks.wait_at_gate, ["stop-test"])
    later = [runner.enqueue(tasks.record, [key]) for key in "ab"]

    worker = threading.Thread(
        target=in_own_connection(runner.tick), kwargs={"stop": stop}
    )
    worker.start()
    assert tasks.entered("stop-test").wait(timeout=10)
    stop.set()
    tasks.gate("stop-test").set()
    worker.join(timeout=10)

    assert status_of(first) == "SUCCEEDED"
    assert [status_of(job) for job in later] == ["PENDING", "PENDING"]


def test_an_empty_tick_claims_nothing(clock):
    runner.enqueue(tasks.record, ["later"], run_at=T0 + timedelta(hours=1))

    assert runner.tick().as_dict() == {
        "claimed": 0,
        "succeeded": 0,
        "retried": 0,
        "failed": 0,
        "deferred": 0,
        "lost": 0,
    }


def test_an_empty_tick_costs_two_queries(clock, django_assert_num_queries):
    runner.enqueue(tasks.record, ["later"], run_at=T0 + timedelta(hours=1))

    # Expired leases, then the claim: ticks run every few seconds per worker and
    # after requests, so this is the runner's idle cost (bench/scale.py times it).
    with django_assert_num_queries(2):
        runner.tick()


# tolerance


def test_a_job_due_within_the_tolerance_runs(clock, settings):
    settings.JOBS_TOLERANCE_SECONDS = 60
    runner.enqueue(tasks.record, ["early"], run_at=T0 + timedelta(seconds=60))

    assert runner.tick().succeeded == 1


def test_a_job_due_beyond_the_tolerance_waits(clock, settings):
    settings.JOBS_TOLERANCE_SECONDS = 60
    job = runner.enqueue(tasks.record, ["early"], run_at=T0 + timedelta(seconds=61))

    assert runner.tick().claimed == 0
    assert status_of(job) == "PENDING"


# retries and failures


def test_retries_back_off_exponentially_then_fail(clock, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 10
    settings.JOBS_RETRY_MAX_SECONDS = 1000
    settings.JOBS_TOLERANCE_SECONDS = 60  # longer than the first backoffs
    job = runner.enqueue(tasks.fail, max_attempts=4)
    delays = []

    for _ in range(3):
        assert runner.tick().retried == 1
        job.refresh_from_db()
        assert job.status == "RETRY"
        delays.append((job.run_at - clock.now()).total_seconds())
        assert runner.tick().claimed == 0  # not before its backoff
        clock.set_now(job.run_at)

    result = runner.tick()

    job.refresh_from_db()
    assert result.failed == 1
    assert job.status == "FAILED"
    assert job.attempts == 4
    assert job.finished_at == clock.now()
    assert job.last_error.startswith("builtins.RuntimeError: boom")
    assert [5 <= delays[0] <= 10, 10 <= delays[1] <= 20, 20 <= delays[2] <= 40] == [
        True
    ] * 3


def test_backoff_is_capped(settings):
    settings.JOBS_RETRY_BASE_SECONDS = 10
    settings.JOBS_RETRY_MAX_SECONDS = 60

    delays = [runner.retry_delay(20).total_seconds() for _ in range(50)]

    assert 30 <= min(delays) and max(delays) <= 60


def test_a_permanent_failure_fails_at_once(clock):
    job = runner.enqueue(tasks.fail_permanently, max_attempts=5)

    result = runner.tick()

    job.refresh_from_db()
    assert result.failed == 1
    assert (job.status, job.attempts) == ("FAILED", 1)
    assert "no point retrying" in job.last_error


@pytest.mark.parametrize(
    "job_type",
    ["tests.jobs.tasks.vanished", "tests.jobs.tasks.not_a_task", "nowhere.x"],
)
def test_an_unknown_job_type_fails_with_an_error_log(clock, caplog, job_type):
    job = runner.enqueue(tasks.record, ["x"])
    Job.objects.filter(pk=job.pk).update(job_type=job_type)

    with caplog.at_level(logging.ERROR, logger="jobs.runner"):
        result = runner.tick()

    job.refresh_from_db()
    assert result.failed == 1
    assert job.status == "FAILED"
    assert job.last_error.startswith("unknown job type")
    assert any(
        record.levelno == logging.ERROR and f"job={job.pk}" in record.getMessage()
        for record in caplog.records
    )


# run later


def test_a_handler_started_early_runs_again_at_its_time_without_spending_an_attempt(
    clock, settings
):
    settings.JOBS_TOLERANCE_SECONDS = 60
    at = T0 + timedelta(seconds=30)
    job = runner.enqueue(tasks.run_later, [at.isoformat()], run_at=at)

    first = runner.tick()
    again = runner.tick()
    job.refresh_from_db()

    assert (first.deferred, again.claimed) == (1, 0)
    assert (job.status, job.attempts, job.run_at, job.not_before) == (
        "PENDING",
        0,
        at,
        at,
    )

    clock.set_now(at)
    assert runner.tick().succeeded == 1
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_handler_asking_for_a_moment_that_passed_waits_the_minimum_deferral(
    clock,
):
    job = runner.enqueue(tasks.defer_to_the_past)

    result = runner.tick(max_jobs=50)

    job.refresh_from_db()
    assert (result.claimed, result.deferred) == (1, 1)
    assert job.not_before == job.run_at == T0 + runner.MIN_DEFER


# leases


def test_a_job_whose_lease_expired_is_run_again_and_counts_both_attempts(
    clock, settings
):
    settings.JOBS_LEASE_SECONDS = 30
    job = runner.enqueue(tasks.record, ["crashed"])
    runner._claim(1, "dead-worker")  # claimed, then the worker died

    assert runner.tick().claimed == 0  # the lease still holds
    clock.advance(timedelta(seconds=30))
    result = runner.tick(worker="rescuer")

    job.refresh_from_db()
    assert result.succeeded == 1
    assert (job.status, job.attempts, job.locked_by) == ("SUCCEEDED", 2, "rescuer")
    assert "dead-worker" in job.last_error


def test_an_expired_lease_on_the_last_attempt_fails_the_job(clock, settings, caplog):
    job = runner.enqueue(tasks.record, ["crashed"], max_attempts=1)
    runner._claim(1, "dead-worker")
    clock.advance(timedelta(seconds=settings.JOBS_LEASE_SECONDS))

    with caplog.at_level("INFO", logger="jobs.runner"):
        runner.tick()

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("FAILED", 1)
    assert tasks.RUNS["crashed"] == 0
    (record,) = [r for r in caplog.records if "lease expired" in r.getMessage()]
    assert record.levelname == "ERROR"
    assert f"job={job.pk}" in record.getMessage()


def test_the_lease_keeper_extends_the_lease_of_running_jobs(clock, settings):
    settings.JOBS_LEASE_SECONDS = 30
    job = runner.enqueue(tasks.record, ["long"])
    claimed = runner._claim(1, "w1")
    clock.advance(timedelta(seconds=20))

    with runner.LeaseKeeper() as keeper:
        keeper.watch(claimed)
        renewed = keeper.renew()

    job.refresh_from_db()
    assert renewed == 1
    assert job.lease_expires_at == clock.now() + timedelta(seconds=30)


@pytest.mark.django_db(transaction=True)
def test_a_late_worker_cannot_overwrite_the_attempt_that_took_over(clock, settings):
    settings.JOBS_LEASE_SECONDS = 30
    job = runner.enqueue(tasks.wait_at_gate, ["fenced"])
    late = {}

    def slow_worker():
        late["result"] = runner.tick(worker="slow")

    thread = threading.Thread(target=in_own_connection(slow_worker))
    thread.start()
    assert tasks.entered("fenced").wait(timeout=10)

    clock.advance(timedelta(seconds=31))
    takeover = runner.tick(worker="fast")
    tasks.gate("fenced").set()
    thread.join(timeout=10)

    job.refresh_from_db()
    assert takeover.succeeded == 1
    assert late["result"].lost == 1
    assert (job.status, job.attempts, job.locked_by) == ("SUCCEEDED", 2, "fast")


def test_a_task_that_takes_context_learns_its_job_and_attempt(clock):
    job = runner.enqueue(tasks.whoami, ["me"])

    runner.tick()

    assert dict(tasks.RUNS) == {f"me:{job.pk}:1": 1}
