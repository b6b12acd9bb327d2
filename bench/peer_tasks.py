"""The no-op job for each peer, queued through the peer's own API.

Imported under bench.settings_peers only, where both peers are installed.
"""

from django.tasks import task
from procrastinate.contrib.django import app


@app.task(name="bench.noop")
def procrastinate_noop() -> None:
    return None


@task(backend="tasks_db")
def tasks_db_noop() -> None:
    return None
