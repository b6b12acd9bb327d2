"""Faults a real deployment sees, against real processes (`make faults`).

Each case counts outcomes against the simulator's inbox: every reminder ends SENT
and in the inbox exactly once, or FAILED with WeChat's code; none stays RUNNING.
"""

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from prs import services as prs_services
from reminders.wechat import simulator
from tests.conftest import wait_for
from tests.faults.conftest import (
    ROOT,
    assert_each_reminder_ended_once,
    due_reminders,
    free_port,
    reminder_jobs,
    wait_until_settled,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

BATCH = 100


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(stage):
    handle = stage.start_simulator()
    # Each answer is held back a little after the message is accepted, so the kill
    # lands while a worker has sends out and jobs claimed.
    handle.fail("send", delay=0.1, times=None)
    due_reminders(handle, BATCH)
    doomed = stage.start_worker("doomed")
    stage.start_worker("survivor")

    wait_for(lambda: len(handle.inbox()) >= 20, what="the batch to be under way")
    doomed.kill()
    wait_until_settled()

    sent, failed = assert_each_reminder_ended_once(handle, BATCH)
    assert (sent, failed) == (BATCH, 0)
    rerun = reminder_jobs().filter(last_error__contains="lease expired")
    assert rerun.exists(), "the killed worker held no job: the kill missed the batch"
    assert all(job.attempts >= 2 for job in rerun)


@pytest.mark.parametrize(
    "fault",
    [
        "slow past the timeout",
        "HTTP 500 in bursts",
        "busy (-1) in bursts",
        "tokens invalidated mid-batch",
    ],
)
def test_simulator_faults_lose_nothing_and_send_nothing_twice(stage, fault):
    handle = stage.start_simulator()
    due_reminders(handle, BATCH)
    if fault == "slow past the timeout":
        # The message is delivered, then the answer comes after the client gave up:
        # the retry carries the same client_msg_id and must not deliver it again.
        handle.fail("send", delay=1.2, times=15)
    elif fault == "HTTP 500 in bursts":
        handle.fail("send", http_status=500, times=30)
    elif fault == "busy (-1) in bursts":
        handle.fail("send", errcode=-1, times=30)

    for name in ("w1", "w2"):
        stage.start_worker(name)
    if fault == "tokens invalidated mid-batch":
        wait_for(lambda: len(handle.inbox()) >= 20, what="the batch to be under way")
        handle.invalidate_tokens()
    wait_until_settled()

    sent, failed = assert_each_reminder_ended_once(handle, BATCH)
    assert sent + failed == BATCH
    assert sent >= BATCH * 0.9, f"too many given up: {failed}"


def test_reminders_wait_out_a_simulator_that_is_down(stage, settings):
    slots = due_reminders(None, BATCH)
    for name in ("w1", "w2"):
        stage.start_worker(name)
    wait_for(
        lambda: reminder_jobs().filter(status="RETRY").count() >= 10,
        what="sends to fail while WeChat is down",
    )

    followers = tuple(slot.user.wechat_openid for slot in slots)
    config = simulator.SimulatorConfig(followers=followers)
    stage.sim = simulator.RunningSimulator(config, port=stage.sim_port)
    wait_until_settled()

    sent, failed = assert_each_reminder_ended_once(stage.sim.handle, BATCH)
    assert sent + failed == BATCH
    assert sent >= BATCH * 0.9, f"too many given up: {failed}"


def test_an_exit_racing_its_reminder_never_lets_a_message_follow_the_exit(stage):
    """200 exits land at random moments while their reminders go out."""
    handle = stage.start_simulator()
    handle.fail("send", delay=0.01, times=None)
    slots = due_reminders(handle, 200, prefix="race")
    spread = random.Random(7)  # noqa: S311 - timing jitter, not a secret
    plan = sorted((spread.uniform(0, 1.5), slot) for slot in slots)
    exits: dict[str, float] = {}
    errors: list[BaseException] = []
    start = threading.Event()

    def exit_in_turn(share):
        # Each exit lands at its own random moment of the batch: the pauses are the
        # interleaving under test, not waits for something to happen.
        try:
            start.wait()
            began = time.monotonic()
            for offset, slot in share:
                threading.Event().wait(max(0.0, offset - (time.monotonic() - began)))
                prs_services.exit(slot.pr_id, slot.user)
                exits[slot.user.wechat_openid] = time.time()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=exit_in_turn, args=(plan[n::8],)) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for name in ("w1", "w2"):
        stage.start_worker(name)
    wait_for(lambda: len(handle.inbox()) >= 1, what="the first reminder")
    start.set()
    for thread in threads:
        thread.join()
    wait_until_settled()

    assert errors == []
    inbox = handle.inbox()
    late = [m for m in inbox if m["sent_at"] > exits[m["openid"]]]
    assert late == []
    assert len(exits) == 200
    assert 0 < len(inbox) < 200, (
        "the race was not exercised: every exit came before (or after) every send"
    )


@pytest.mark.restarts_postgres
def test_a_postgresql_restart_mid_batch_loses_nothing(stage):
    handle = stage.start_simulator()
    handle.fail("send", delay=0.05, times=None)
    due_reminders(handle, BATCH)
    web_port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runserver",
            "--noreload",
            f"127.0.0.1:{web_port}",
        ],
        cwd=ROOT,
        env=stage.env(DEBUG="true", CONN_MAX_AGE="600"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage.workers.append(web)
    healthz = f"http://127.0.0.1:{web_port}/healthz"
    wait_for(lambda: _answers(healthz) == 200, what="the web process to start")
    for name in ("w1", "w2"):
        stage.start_worker(name)

    wait_for(lambda: len(handle.inbox()) >= 20, what="the batch to be under way")
    restart_postgresql()
    connection.close()  # this test's own connection died with the server
    wait_until_settled()

    sent, failed = assert_each_reminder_ended_once(handle, BATCH)
    assert (sent, failed) == (BATCH, 0)
    wait_for(lambda: _answers(healthz) == 200, what="the web process to recover")


def restart_postgresql() -> None:
    version = sorted(Path("/etc/postgresql").iterdir())[-1].name
    subprocess.run(
        # Debian's cluster tool, found on PATH.
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],  # noqa: S607
        check=True,
        capture_output=True,
        timeout=60,
    )


def _answers(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return None
