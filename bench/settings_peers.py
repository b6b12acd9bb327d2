"""The product's settings plus the two peers the throughput scenario measures.

Procrastinate (its Django integration) and django-tasks-db are development-only
dependencies of the benchmark: they appear here, never in config/settings.py.
Each peer gets a database of its own; this module only makes both importable.
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS, TASKS

INSTALLED_APPS = [*INSTALLED_APPS, "procrastinate.contrib.django", "django_tasks_db"]

TASKS = {**TASKS, "tasks_db": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Procrastinate finds its tasks here instead of in each app's tasks module.
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = "procrastinate_tasks"
PROCRASTINATE_IMPORT_PATHS = ["bench.peer_tasks"]
