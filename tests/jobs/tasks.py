"""Real Django tasks for the JobRunner's tests: they record what ran, fail on
demand, or wait at a gate the test opens."""

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.tasks import task

from jobs.runner import PermanentFailure, RunLater

# In-process executions: key -> how many times a handler ran with it.
RUNS: Counter = Counter()
GATES: dict[str, threading.Event] = {}
ENTERED: dict[str, threading.Event] = {}


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


def entered(name: str) -> threading.Event:
    return ENTERED.setdefault(name, threading.Event())


@task
def record(key: str) -> str:
    RUNS[key] += 1
    return key


@task
def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


@task
def fail_permanently(message: str = "no point retrying") -> None:
    raise PermanentFailure(message)


@task
def run_later(iso_instant: str) -> None:
    from datetime import datetime

    from config import clock

    at = datetime.fromisoformat(iso_instant)
    if clock.now() < at:
        raise RunLater(at)
    RUNS[f"ran-at-{iso_instant}"] += 1


# What observe_queue saw: name -> the states of its task's jobs as it ran.
OBSERVED: dict[str, list[str]] = {}


@task
def observe_queue(name: str) -> None:
    """Note the states of every job of this task at the moment this one runs."""
    from jobs.models import Job

    states = Job.objects.filter(job_type=observe_queue.module_path).order_by("run_at")
    OBSERVED[name] = list(states.values_list("status", flat=True))


@task
def leave_the_worker() -> None:
    """Stop the worker process from inside a handler, as a signal handler might."""
    raise SystemExit(3)


@task
def defer_to_the_past() -> None:
    """Ask to run again at a moment that has already passed, every time."""
    from config import clock

    raise RunLater(clock.now() - timedelta(minutes=1))


@task
def wait_at_gate(name: str) -> None:
    """Block until the test opens the gate; the first run of each name only."""
    RUNS[name] += 1
    if RUNS[name] == 1:
        entered(name).set()
        if not gate(name).wait(timeout=30):
            raise TimeoutError(f"gate {name} never opened")


@task
def append_line(path: str, line: str) -> None:
    """Leave a trace another process can read: one line per execution."""
    with Path(path).open("a") as file:
        file.write(line + "\n")


@task
def hang_first_time(path: str) -> None:
    """Write a line, then hang on the first execution only (a worker to kill)."""
    trace = Path(path)
    first = not trace.exists()
    with trace.open("a") as file:
        file.write("started\n")
    if first:
        threading.Event().wait(timeout=60)


not_a_task = "a string, not a task"


@task(takes_context=True)
def whoami(context, key: str) -> None:
    """Record the job id and attempt the runner passed in its context."""
    RUNS[f"{key}:{context.task_result.id}:{context.attempt}"] += 1
