"""PostgreSQL: an exit that meets a reminder in flight waits for it, then wins."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from jobs import runner
from prs import services as prs_services
from reminders.models import NotificationDelivery
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(function, outcome: dict, name: str) -> threading.Thread:
    def run():
        try:
            outcome[name] = function()
        except Exception as error:
            outcome[name] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_exit_during_a_send_waits_for_it_and_neither_deadlocks(
    clock, wechat_sim, make_pr, alice
):
    pr = make_pr(start_in=timedelta(hours=3))
    prs_services.join(pr.pk, alice)
    clock.set_now(pr.start_at - timedelta(hours=2))
    # WeChat accepts the message, then holds its answer: the job keeps the slot
    # locked meanwhile, and the exit below has to wait for it.
    wechat_sim.fail("send", openid="o-demo-alice", delay=0.5, times=1)
    outcome = {}

    sender = in_thread(runner.tick, outcome, "tick")
    wait_for(lambda: wechat_sim.inbox(), what="the message to be accepted")
    leaver = in_thread(lambda: prs_services.exit(pr.pk, alice), outcome, "exit")
    sender.join(timeout=20)
    leaver.join(timeout=20)
    exit_seen_at = time.time()

    assert not isinstance(outcome["tick"], Exception), outcome["tick"]
    assert not isinstance(outcome["exit"], Exception), outcome["exit"]
    assert outcome["tick"].succeeded == 1
    assert outcome["exit"].status == "EXITED"
    assert NotificationDelivery.objects.get().result == "SENT"
    [message] = wechat_sim.inbox()
    assert message["sent_at"] < exit_seen_at
