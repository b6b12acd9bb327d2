"""Reminder timeliness (issue 7, item 5): how late 5,000 reminders arrive.

5,000 reminder jobs fall due within one minute, for 5,000 followers of the
simulator's demo account. Lateness is the time the simulator accepted a message
minus the time its job fell due; negative means early, which the scheduling
tolerance (60 s) allows. Two ways of driving the queue, each on a fresh database:

- cron: two `run_jobs` processes started together once a minute, as two cron
  lines would, with the due minute falling between two ticks;
- request tails only: no worker at all, gunicorn serving a steady 10 requests/s,
  each process running a tail batch (at most 50 jobs, 2 s) at most once a second.
  Ticks that come every second need no minute of tolerance: this run sets 5 s,
  as a deployment driven by its traffic would (README "Jobs").

Lateness is reported with its earliest value too, since the tolerance trades
lateness for earliness.

Every message must be in the inbox exactly once.
"""

import logging
import threading
import time
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

from reminders.wechat import simulator

from .harness import (
    Bench,
    Figure,
    background,
    django_env,
    fresh_database,
    gunicorn,
    manage,
    percentile,
    probe,
)

TITLE = "Reminder timeliness (5,000 due within one minute)"
TICK_SECONDS = 60
# Time to set a run up before its minute of due reminders begins.
LEAD_SECONDS = 40
TAIL_SETTINGS = {
    "JOBS_TOLERANCE_SECONDS": "5",
    "JOBS_REQUEST_TAIL": "true",
    "JOBS_REQUEST_TAIL_INTERVAL": "1",
    "JOBS_REQUEST_TAIL_MAX_JOBS": "50",
    "JOBS_REQUEST_TAIL_MAX_SECONDS": "2",
}


def run(bench: Bench) -> tuple[list[Figure], dict]:
    # The simulator runs in this process; one line per message would drown the log.
    logging.getLogger("reminders.wechat.simulator").setLevel(logging.WARNING)
    count = bench.size(5_000, 500)
    lateness = {}
    details = {"reminders": count, "tick_seconds": TICK_SECONDS, "tail": TAIL_SETTINGS}

    # One run per mode: a run takes minutes and is itself `count` samples, so its
    # percentiles stand on their own (the figures' min and max are the run's).
    with fresh_database(bench, "timely_template") as template:
        manage(bench, template, "migrate", "--no-input")
        for mode in ("cron", "tails"):
            with fresh_database(bench, f"timely_{mode}", template) as database:
                lateness[mode], details[mode] = _run_once(bench, database, mode, count)

    figures = []
    for mode, target in (("cron", TICK_SECONDS + 5), ("tails", 5.0)):
        for name, p in (("earliest", 0), ("p50", 50), ("p99", 99), ("max", 100)):
            figures.append(
                Figure(
                    "timeliness",
                    f"{mode}: lateness {name}",
                    "s",
                    [percentile(lateness[mode], p)],
                    at_most=target if name == "p99" else None,
                )
            )
    return figures, details


def _run_once(bench: Bench, database: str, mode: str, count: int):
    first_due = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
    seeded = probe(
        bench,
        database,
        "bench.timeliness:seed",
        count=count,
        first_due=first_due.isoformat(),
    )
    followers = tuple(seeded["openids"])
    sim = simulator.RunningSimulator(simulator.SimulatorConfig(followers=followers))
    env = {
        "WECHAT_API_BASE": sim.url,
        "WECHAT_OAUTH_BASE": sim.url,
        "WECHAT_APP_ID": simulator.DEMO_APP_ID,
        "WECHAT_APP_SECRET": simulator.DEMO_APP_SECRET,
        "WECHAT_REMINDER_TEMPLATE_ID": simulator.DEMO_TEMPLATE_ID,
        "WECHAT_CALLBACK_TOKEN": simulator.DEMO_CALLBACK_TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    try:
        if mode == "cron":
            _drive_with_cron(bench, database, env, first_due, count, sim.handle)
        else:
            _drive_with_tails(bench, database, env, count, sim.handle)
        inbox = sim.handle.inbox()
    finally:
        sim.stop()

    due = {f"reminder-{job}": at for job, at in seeded["due"].items()}
    ids = [message["client_msg_id"] for message in inbox]
    checks = {"messages": len(inbox), "distinct": len(set(ids)), "expected": count}
    if checks["messages"] != count or checks["distinct"] != count:
        raise RuntimeError(f"timeliness {mode}: the inbox is wrong: {checks}")
    late = [message["sent_at"] - due[message["client_msg_id"]] for message in inbox]
    return late, checks


def _drive_with_cron(bench, database, env, first_due, count, handle):
    """Two `run_jobs` started together each minute, the due minute between ticks."""
    tick_at = first_due.timestamp() - TICK_SECONDS / 2
    deadline = time.time() + 4 * TICK_SECONDS
    while len(handle.inbox()) < count and time.time() < deadline:
        threading.Event().wait(max(0.0, tick_at - time.time()))
        argv = [
            bench.python,
            "manage.py",
            "run_jobs",
            "--max-jobs=100000",
            f"--max-seconds={TICK_SECONDS - 5}",
        ]
        with ExitStack() as stack:
            workers = [
                stack.enter_context(
                    background(bench, f"cron_{n}", argv, django_env(database, **env))
                )
                for n in range(2)
            ]
            for worker in workers:
                worker.wait()
        tick_at += TICK_SECONDS


def _drive_with_tails(bench, database, env, count, handle):
    """No worker: a steady 10 requests/s, and the tails of those requests."""
    with gunicorn(bench, database, "tails_gunicorn", **env, **TAIL_SETTINGS) as base:
        stop = threading.Event()
        visitor = threading.Thread(target=_visit, args=(f"{base}/healthz", stop))
        visitor.start()
        try:
            deadline = time.time() + 4 * TICK_SECONDS
            while len(handle.inbox()) < count and time.time() < deadline:
                stop.wait(1.0)
        finally:
            stop.set()
            visitor.join()


def _visit(url: str, stop: threading.Event, per_second: float = 10.0) -> None:
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                response.read()
        except OSError:
            pass
        next_at += 1 / per_second
        stop.wait(max(0.0, next_at - time.monotonic()))


# In the benchmark's Django process (bench.probe)


def seed(count: int, first_due: str) -> dict:
    """`count` opted-in followers, each holding a slot with a reminder job due in
    the minute from `first_due`; answers the openids and each job's due time."""
    from django.utils import timezone

    from jobs.models import Job
    from prs.models import PartnerRequest, Slot, User
    from reminders.services import REMINDER_MAX_ATTEMPTS
    from reminders.tasks import send_reminder

    start = datetime.fromisoformat(first_due)
    now = timezone.now()
    organiser = User.objects.create(username="timeliness-organiser")
    prs = PartnerRequest.objects.bulk_create(
        PartnerRequest(
            organiser=organiser,
            title=f"提醒时效 {n}",
            location="测试地点",
            start_at=start + timedelta(hours=2, minutes=5),
            capacity=100,
        )
        for n in range((count + 99) // 100)
    )
    users = User.objects.bulk_create(
        User(
            username=f"timely-{n}",
            wechat_openid=f"o-timely-{n}",
            wechat_reminder_opt_in=True,
            wechat_reminder_opt_in_at=now,
        )
        for n in range(count)
    )
    slots = Slot.objects.bulk_create(
        Slot(pr=prs[n // 100], user=user, joined_at=now) for n, user in enumerate(users)
    )
    jobs = Job.objects.bulk_create(
        Job(
            job_type=send_reminder.module_path,
            payload={"args": [slot.pk, "T-2h"], "kwargs": {}},
            run_at=start + timedelta(seconds=TICK_SECONDS * n / count),
            dedupe_key=f"slot:{slot.pk}:T-2h",
            max_attempts=REMINDER_MAX_ATTEMPTS,
            created_at=now,
        )
        for n, slot in enumerate(slots)
    )
    return {
        "openids": [user.wechat_openid for user in users],
        "due": {str(job.pk): job.run_at.timestamp() for job in jobs},
    }
