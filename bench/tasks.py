"""The job the throughput and scale scenarios queue: it does nothing, so what is
measured is the queue itself."""

from django.tasks import task


@task
def noop() -> None:
    return None
