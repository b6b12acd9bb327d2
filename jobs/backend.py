"""The JobRunner as a Django task backend, so `some_task.enqueue(...)` stores a job.

Dedupe keys and deleting pending jobs are outside Django's task API; code that
needs them calls `jobs.runner.enqueue` and `jobs.runner.delete_pending` directly.
"""

from django.tasks import TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TaskError
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued

from . import runner
from .models import Job

STATUS = {
    Job.Status.PENDING: TaskResultStatus.READY,
    Job.Status.RETRY: TaskResultStatus.READY,
    Job.Status.RUNNING: TaskResultStatus.RUNNING,
    Job.Status.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    Job.Status.FAILED: TaskResultStatus.FAILED,
}


class DatabaseBackend(BaseTaskBackend):
    supports_defer = True
    """Tasks may carry `run_after`; it becomes the job's `run_at`."""

    supports_get_result = True
    """Any process sharing the database can read a job's result."""

    supports_async_task = False
    """Handlers run synchronously in the worker."""

    supports_priority = False
    """Jobs run in `run_at` order; there are no priorities."""

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        job = runner.enqueue(task, args, kwargs, run_at=task.run_after)
        result = task_result(job, task, backend=self.alias)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id):
        try:
            job = Job.objects.get(pk=int(result_id))
        except (ValueError, Job.DoesNotExist):
            raise TaskResultDoesNotExist(result_id) from None

        try:
            task = runner.load_task(job.job_type)
        except (ImportError, AttributeError, TypeError):
            raise TaskResultDoesNotExist(
                f"{result_id}: its task {job.job_type} no longer exists"
            ) from None
        return task_result(job, task, backend=self.alias)


def task_result(job: Job, task, backend: str = "default") -> TaskResult:
    """The job as Django's TaskResult.

    The job row records only its latest worker, so `worker_ids` repeats it once per
    attempt: `TaskResult.attempts` is then the job's attempt count.
    """
    errors = []
    if job.last_error:
        exception_path = job.last_error.split(":", 1)[0]
        errors.append(
            TaskError(exception_class_path=exception_path, traceback=job.last_error)
        )

    return TaskResult(
        task=task,
        id=str(job.pk),
        status=STATUS[job.status],
        enqueued_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_attempted_at=job.started_at,
        args=job.args,
        kwargs=job.kwargs,
        backend=backend,
        errors=errors,
        worker_ids=[job.locked_by] * job.attempts if job.locked_by else [],
    )
