"""The fault suite's stage: real worker processes, the WeChat simulator over HTTP,
PostgreSQL, and a batch of reminders that fall due at once.

Workers run with a two-second lease and short backoffs, so a crash or an outage
resolves in seconds of real time; the tests wait for the queue to settle, never
for a fixed time.
"""

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jobs.models import Job
from prs import services as prs_services
from prs.models import Slot, User
from reminders import services
from reminders.models import NotificationDelivery
from reminders.tasks import send_reminder
from reminders.wechat import simulator
from tests.conftest import wait_for

ROOT = Path(settings.BASE_DIR)

# What every worker of the suite runs with: quick lease expiry and retries.
WORKER_SETTINGS = {
    "JOBS_LEASE_SECONDS": "2",
    "JOBS_RETRY_BASE_SECONDS": "0.3",
    "JOBS_RETRY_MAX_SECONDS": "1.5",
    "JOBS_CLAIM_BATCH": "5",
    "WECHAT_CONNECT_TIMEOUT": "0.5",
    "WECHAT_READ_TIMEOUT": "0.8",
    "LOG_LEVEL": "WARNING",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@dataclass
class Stage:
    sim_port: int
    workers: list
    sim: simulator.RunningSimulator | None = None

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def env(self, **extra) -> dict:
        return (
            os.environ
            | WORKER_SETTINGS
            | {
                "DATABASE_URL": database_url(),
                "WECHAT_API_BASE": self.sim_url,
                "WECHAT_OAUTH_BASE": self.sim_url,
                "WECHAT_APP_ID": simulator.DEMO_APP_ID,
                "WECHAT_APP_SECRET": simulator.DEMO_APP_SECRET,
                "WECHAT_REMINDER_TEMPLATE_ID": simulator.DEMO_TEMPLATE_ID,
                "WECHAT_CALLBACK_TOKEN": simulator.DEMO_CALLBACK_TOKEN,
            }
            | extra
        )

    def start_simulator(self) -> simulator.SimulatorHandle:
        self.sim = simulator.RunningSimulator(port=self.sim_port)
        return self.sim.handle

    def start_worker(self, name: str) -> subprocess.Popen:
        worker = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_jobs",
                "--loop",
                "--interval",
                "0.2",
                "--worker",
                name,
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        if self.sim is not None:
            self.sim.stop()


@pytest.fixture
def stage(transactional_db):
    stage = Stage(sim_port=free_port(), workers=[])
    yield stage
    stage.stop()


def due_reminders(handle, count: int, *, prefix="fault") -> list[Slot]:
    """`count` opted-in followers holding a slot whose T-2h reminder is due now.

    The PRs start two hours and 45 seconds from now, by the real clock the worker
    processes read: every T-2h is still ahead when its user joins (setting up a
    batch takes seconds), and within the 60-second tolerance, so due at once.
    """
    start_at = timezone.now() + timedelta(hours=2, seconds=45)
    organiser = User.objects.create(username=f"{prefix}-organiser")
    slots = []
    for first in range(0, count, 100):
        pr = prs_services.create_pr(
            organiser,
            title=f"{prefix} {first}",
            description="",
            location="somewhere",
            start_at=start_at,
            capacity=100,
        )
        for n in range(first, min(first + 100, count)):
            openid = f"o-{prefix}-{n}"
            if handle is not None:
                handle.add_person(openid)
            user = User.objects.create(username=f"{prefix}-{n}", wechat_openid=openid)
            services.set_opt_in(user, True)
            slots.append(prs_services.join(pr.pk, user))
    return slots


def reminder_jobs():
    return Job.objects.filter(job_type=send_reminder.module_path)


def wait_until_settled(timeout=120.0):
    """Until no reminder job is waiting or running."""
    wait_for(
        lambda: not reminder_jobs().filter(status__in=Job.UNFINISHED).exists(),
        timeout=timeout,
        what="every reminder job to finish",
    )


def assert_each_reminder_ended_once(handle, expected: int):
    """Every reminder is SENT and in the inbox exactly once, or FAILED with a code;
    nothing is left RUNNING and no message arrived twice."""
    inbox = handle.inbox()
    ids = [message["client_msg_id"] for message in inbox]
    assert len(ids) == len(set(ids)), "a reminder was delivered twice"

    deliveries = NotificationDelivery.objects.all()
    assert deliveries.count() == expected, job_summary()
    assert not reminder_jobs().filter(status="RUNNING").exists()
    sent = deliveries.filter(result="SENT")
    assert {f"reminder-{d.job_id}" for d in sent} == set(ids)
    assert {d.wechat_msg_id for d in sent} == {m["msgid"] for m in inbox}
    unsent = deliveries.exclude(result="SENT")
    assert all(d.result == "FAILED" and d.error_code for d in unsent), [
        (d.job_id, d.result, d.error_code) for d in unsent
    ]
    return sent.count(), unsent.count()


def job_summary() -> str:
    """What the reminder jobs ended as, for a failing assertion's message."""
    counts = Counter(reminder_jobs().values_list("status", flat=True))
    errors = Counter(
        (job.last_error.splitlines() or [""])[0][:120] for job in reminder_jobs()
    )
    return f"jobs by status: {dict(counts)}; last errors: {errors.most_common(3)}"
