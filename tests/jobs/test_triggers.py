"""The three triggers of a tick: the command, the HTTP endpoint, the request tail."""

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import Client

from jobs import runner
from jobs.models import Job
from jobs.tail import RequestTail
from tests.conftest import wait_for
from tests.jobs import tasks

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-tick-token"


# run_jobs


def test_run_jobs_runs_one_batch_and_prints_a_summary(clock, capsys):
    for key in "ab":
        runner.enqueue(tasks.record, [key])
    runner.enqueue(tasks.fail_permanently)

    call_command("run_jobs", "--max-jobs", "10")

    out = capsys.readouterr().out.strip()
    assert out == (
        "run_jobs: claimed=3 succeeded=2 retried=0 failed=1 deferred=0 lost=0"
    )
    assert dict(tasks.RUNS) == {"a": 1, "b": 1}


def test_run_jobs_respects_max_jobs(clock, capsys):
    for key in "abc":
        runner.enqueue(tasks.record, [key])

    call_command("run_jobs", "--max-jobs", "2")

    assert Job.objects.filter(status="PENDING").count() == 1


# POST /internal/jobs/tick


@pytest.mark.parametrize("method", ["post", "get", "put"])
def test_tick_endpoint_is_404_while_no_token_is_configured(client, settings, method):
    settings.JOBS_TICK_TOKEN = ""

    call = getattr(client, method)
    response = call("/internal/jobs/tick", HTTP_AUTHORIZATION="Bearer x")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
def test_tick_endpoint_refuses_a_missing_or_wrong_token(
    clock, client, settings, authorization
):
    settings.JOBS_TICK_TOKEN = TOKEN
    job = runner.enqueue(tasks.record, ["a"])
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post("/internal/jobs/tick", headers=headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert Job.objects.get(pk=job.pk).status == "PENDING"


def test_tick_endpoint_runs_a_batch_and_answers_counts(clock, settings):
    settings.JOBS_TICK_TOKEN = TOKEN
    runner.enqueue(tasks.record, ["a"])
    runner.enqueue(tasks.fail)
    csrf_checking = Client(enforce_csrf_checks=True)

    response = csrf_checking.post(
        "/internal/jobs/tick", headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "claimed": 2,
        "succeeded": 1,
        "retried": 1,
        "failed": 0,
        "deferred": 0,
        "lost": 0,
    }


def test_tick_endpoint_answers_405_to_get(client, settings):
    settings.JOBS_TICK_TOKEN = TOKEN

    response = client.get("/internal/jobs/tick")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


# Request tail


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_burst_of_requests_runs_at_most_one_batch_per_interval(clock, settings):
    settings.JOBS_REQUEST_TAIL = True
    settings.JOBS_REQUEST_TAIL_INTERVAL = 30
    settings.JOBS_REQUEST_TAIL_MAX_JOBS = 1
    for key in "abcde":
        runner.enqueue(tasks.record, [key])
    monotonic = FakeMonotonic()
    tail = RequestTail(monotonic=monotonic)

    for _ in range(10):
        tail()
    after_burst = sum(tasks.RUNS.values())
    monotonic.now += 29.9
    tail()
    before_interval = sum(tasks.RUNS.values())
    monotonic.now += 0.1
    tail()

    assert (after_burst, before_interval, sum(tasks.RUNS.values())) == (1, 1, 2)


def test_the_request_tail_is_off_when_disabled(clock, settings):
    settings.JOBS_REQUEST_TAIL = False
    runner.enqueue(tasks.record, ["a"])

    RequestTail()()

    assert not tasks.RUNS


def test_the_request_tail_never_raises_into_the_request(
    clock, settings, monkeypatch, caplog
):
    settings.JOBS_REQUEST_TAIL = True
    calls = []

    def broken_tick(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("database on fire")

    monkeypatch.setattr(runner, "tick", broken_tick)

    with caplog.at_level("ERROR", logger="jobs.tail"):
        RequestTail()()  # logs, does not raise

    assert len(calls) == 1
    (record,) = caplog.records
    assert record.getMessage() == "request tail batch failed"
    assert "database on fire" in caplog.text  # the traceback is kept


@pytest.mark.django_db(transaction=True)
def test_the_client_gets_the_whole_response_before_the_tail_batch_ends(
    clock, settings, live_server
):
    settings.JOBS_REQUEST_TAIL = True
    settings.JOBS_REQUEST_TAIL_INTERVAL = 0
    job = runner.enqueue(tasks.wait_at_gate, ["tail"])

    response = requests.get(f"{live_server.url}/healthz", timeout=10)
    body_while_tail_runs = response.json()
    tail_was_running = tasks.entered("tail").wait(timeout=10)
    still_running = Job.objects.get(pk=job.pk).status
    tasks.gate("tail").set()

    assert body_while_tail_runs == {"status": "ok"}
    assert tail_was_running
    assert still_running == "RUNNING"
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "SUCCEEDED")


@pytest.mark.parametrize(
    "arguments",
    [
        ["--loop", "--interval", "0"],
        ["--loop", "--interval", "-1"],
        ["--loop", "--max-jobs", "0"],
        ["--max-seconds", "nan"],
        ["--max-jobs", "many"],
    ],
)
def test_run_jobs_refuses_arguments_that_would_spin_or_do_nothing(arguments):
    with pytest.raises(CommandError, match="must be above zero|not a number"):
        call_command("run_jobs", *arguments)
