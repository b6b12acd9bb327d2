"""The JobRunner as Django's task backend."""

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued

from jobs import runner
from jobs.backend import DatabaseBackend
from jobs.models import Job
from tests.conftest import T0
from tests.jobs import tasks

pytestmark = pytest.mark.django_db


def test_the_default_backend_is_the_job_runner():
    assert isinstance(task_backends["default"], DatabaseBackend)


def test_task_enqueue_stores_a_pending_job(clock):
    received = []

    def on_enqueued(sender, task_result, **kwargs):
        received.append(task_result)

    task_enqueued.connect(on_enqueued)
    try:
        result = tasks.record.using(run_after=T0 + timedelta(minutes=5)).enqueue("a")
    finally:
        task_enqueued.disconnect(on_enqueued)

    job = Job.objects.get(pk=int(result.id))
    assert job.run_at == T0 + timedelta(minutes=5)
    assert job.payload == {"args": ["a"], "kwargs": {}}
    assert result.status == TaskResultStatus.READY
    assert [r.id for r in received] == [result.id]


@pytest.mark.parametrize(
    ("task", "status"),
    [(tasks.record, TaskResultStatus.SUCCESSFUL), (tasks.fail, TaskResultStatus.READY)],
)
def test_get_result_follows_the_job(clock, task, status):
    result = task.enqueue("a") if task is tasks.record else task.enqueue()

    runner.tick()

    fetched = task.get_result(result.id)
    assert fetched.status == status
    assert fetched.attempts == 1
    assert fetched.finished_at == (T0 if status == "SUCCESSFUL" else None)


def test_get_result_of_a_failed_job_carries_its_error(clock):
    result = tasks.fail_permanently.enqueue("broken for good")

    runner.tick()

    fetched = default_task_backend.get_result(result.id)
    assert fetched.status == TaskResultStatus.FAILED
    assert fetched.errors[0].exception_class_path == "jobs.runner.PermanentFailure"
    assert "broken for good" in fetched.errors[0].traceback


def test_a_running_job_reads_as_running(clock):
    result = tasks.record.enqueue("a")
    runner._claim(1, "w1")

    assert default_task_backend.get_result(result.id).status == "RUNNING"


@pytest.mark.parametrize("result_id", ["999999", "not-a-number", ""])
def test_get_result_of_an_unknown_id_raises(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(result_id)


def test_priorities_are_refused_since_jobs_run_in_time_order():
    with pytest.raises(InvalidTask):
        tasks.record.using(priority=10)
