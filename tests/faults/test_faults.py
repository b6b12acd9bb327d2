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
    """200 exits: half aimed at their reminder while it is on its way to WeChat,
    half at random moments of the batch.

    A send held on the wire has passed its second check, so an exit aimed at it
    commits between that check and the delivery unless the slot's lock makes it
    wait for the outcome: without the lock, every aimed exit is followed by its
    message.
    """
    handle = stage.start_simulator()
    handle.set_latency("send", 0.05)
    slots = due_reminders(handle, 200, prefix="race")
    aimed = {slot.user.wechat_openid: slot for slot in slots[0::2]}
    spread = random.Random(7)  # noqa: S311 - timing jitter, not a secret
    plan = sorted((spread.uniform(0, 3.0), slot) for slot in slots[1::2])
    exits: dict[str, float] = {}
    on_the_wire: set[str] = set()
    errors: list[BaseException] = []
    start = threading.Event()
    done = threading.Event()

    def exit_now(slot):
        try:
            prs_services.exit(slot.pr_id, slot.user)
            exits[slot.user.wechat_openid] = time.time()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def exit_in_turn(share):
        # Each exit lands at its own random moment of the batch: the pauses are the
        # interleaving under test, not waits for something to happen.
        start.wait()
        began = time.monotonic()
        for offset, slot in share:
            threading.Event().wait(max(0.0, offset - (time.monotonic() - began)))
            exit_now(slot)

    def exit_on_the_wire():
        # Every send the simulator holds on its way in (50 ms) gets its exit at
        # once, each in its own thread, so an exit waiting on a lock holds up no
        # other; the watcher looks every 5 ms.
        aiming = []
        while not done.wait(0.005):
            for openid in handle.in_flight():
                if openid in aimed and openid not in on_the_wire:
                    on_the_wire.add(openid)
                    aiming.append(
                        threading.Thread(target=exit_now, args=(aimed[openid],))
                    )
                    aiming[-1].start()
        for thread in aiming:
            thread.join()

    threads = [
        threading.Thread(target=exit_in_turn, args=(plan[n::4],)) for n in range(4)
    ]
    watcher = threading.Thread(target=exit_on_the_wire)
    for thread in [*threads, watcher]:
        thread.start()
    for name in ("w1", "w2"):
        stage.start_worker(name)
    wait_for(lambda: len(handle.inbox()) >= 1, what="the first reminder")
    start.set()
    for thread in threads:
        thread.join()
    wait_until_settled()
    done.set()
    watcher.join()
    for openid, slot in aimed.items():  # the ones that went out before any aim
        if openid not in on_the_wire:
            exit_now(slot)

    assert errors == []
    inbox = handle.inbox()
    late = [m for m in inbox if m["sent_at"] > exits[m["openid"]]]
    assert late == []
    assert len(exits) == 200
    assert len(on_the_wire) >= 20, f"only {len(on_the_wire)} exits met a send"
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
