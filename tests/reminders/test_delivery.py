"""Sending reminders through the JobRunner to the WeChat simulator, over HTTP."""

import logging
from datetime import timedelta

import pytest

from jobs import runner
from jobs.models import Job
from prs import services as prs_services
from prs.models import Slot
from reminders import services
from reminders.models import NotificationDelivery
from tests.reminders.conftest import reminder_jobs

HOUR = timedelta(hours=1)


@pytest.fixture
def pr(clock, make_pr):
    return make_pr(
        start_in=timedelta(hours=3),
        title="周六羽毛球双打，欢迎新手一起来玩，场地已订好",
        location="朝阳体育中心",
    )


@pytest.fixture
def slot(pr, alice):
    """Alice joined; her T-2h reminder is due one hour from now."""
    return prs_services.join(pr.pk, alice)


def at_reminder_time(clock, pr):
    clock.set_now(pr.start_at - 2 * HOUR)


def delivery():
    return NotificationDelivery.objects.get()


def test_a_due_reminder_sends_one_template_message_and_records_it(
    clock, wechat_sim, settings, pr, slot
):
    settings.SITE_URL = "https://partners.example.com"
    at_reminder_time(clock, pr)

    result = runner.tick()

    [message] = wechat_sim.inbox("o-demo-alice")
    job = reminder_jobs().get()
    assert result.succeeded == 1
    assert message["template_id"] == settings.WECHAT_REMINDER_TEMPLATE_ID
    assert message["url"] == f"https://partners.example.com/prs/{pr.pk}"
    assert message["client_msg_id"] == f"reminder-{job.pk}"
    assert message["data"] == {
        "thing1": "周六羽毛球双打，欢迎新手一起来玩，场地…",
        "time2": "2026年12月1日 13:00",
        "thing3": "朝阳体育中心",
        "phrase4": "待确认",
    }
    row = delivery()
    assert (row.result, row.reminder_type, row.attempts) == ("SENT", "T-2h", 1)
    assert (row.job_id, row.pr_id, row.user_id) == (job.pk, pr.pk, slot.user_id)
    assert row.wechat_msg_id == message["msgid"]
    assert row.scheduled_at == pr.start_at - 2 * HOUR
    assert row.sent_at == clock.now()


def test_a_confirmed_participant_reads_that_they_are_confirmed(
    clock, wechat_sim, pr, slot, alice
):
    prs_services.confirm(pr.pk, alice)
    at_reminder_time(clock, pr)

    runner.tick()

    [message] = wechat_sim.inbox("o-demo-alice")
    assert message["data"]["phrase4"] == "已确认"


def test_nothing_is_sent_before_the_reminder_is_due(clock, wechat_sim, pr, slot):
    clock.set_now(pr.start_at - 2 * HOUR - timedelta(minutes=5))

    assert runner.tick().claimed == 0
    assert wechat_sim.inbox() == []


# The second check


def claim_reminder(clock, pr):
    """The reminder job as a worker holds it just before its handler runs."""
    at_reminder_time(clock, pr)
    [job] = runner._claim(1, "worker")
    return job


def run_claimed(job) -> runner.TickResult:
    result = runner.TickResult()
    runner._run(job, result)
    return result


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda pr, user: prs_services.exit(pr.pk, user), "slot_inactive"),
        (lambda pr, user: prs_services.cancel(pr.pk, pr.organiser), "pr_cancelled"),
        (lambda pr, user: services.set_opt_in(user, False), "opted_out"),
        (
            lambda pr, user: (
                type(user).objects.filter(pk=user.pk).update(wechat_openid=None)
            ),
            "no_openid",
        ),
    ],
    ids=["exited", "cancelled", "opted out", "no openid"],
)
def test_a_change_after_the_job_was_claimed_skips_the_message(
    clock, wechat_sim, pr, slot, alice, change, reason
):
    job = claim_reminder(clock, pr)
    change(pr, alice)

    result = run_claimed(job)

    assert result.succeeded == 1
    assert wechat_sim.inbox() == []
    row = delivery()
    assert (row.result, row.error_code, row.sent_at) == ("SKIPPED", reason, None)


def test_a_reminder_that_runs_after_the_start_is_skipped(clock, wechat_sim, pr, slot):
    job = claim_reminder(clock, pr)
    clock.set_now(pr.start_at)

    run_claimed(job)

    assert wechat_sim.inbox() == []
    assert (delivery().result, delivery().error_code) == ("SKIPPED", "too_late")


def test_a_reminder_whose_slot_is_gone_records_nothing(clock, wechat_sim, pr, slot):
    job = claim_reminder(clock, pr)
    Slot.objects.filter(pk=slot.pk).delete()

    assert run_claimed(job).succeeded == 1
    assert not NotificationDelivery.objects.exists()


# Failures


def test_a_user_who_does_not_follow_fails_at_once_with_43004(
    clock, wechat_sim, caplog, pr, slot
):
    wechat_sim.add_person("o-demo-alice", following=False)
    at_reminder_time(clock, pr)

    with caplog.at_level(logging.ERROR):
        result = runner.tick()

    job = reminder_jobs().get()
    row = delivery()
    assert result.failed == 1
    assert (job.status, job.attempts) == ("FAILED", 1)
    assert (row.result, row.error_code, row.attempts) == ("FAILED", "43004", 1)
    assert row.error_message
    assert wechat_sim.inbox() == []
    assert any(
        record.levelno == logging.ERROR
        and record.getMessage().startswith(f"reminder failed job={job.pk}")
        for record in caplog.records
    )


def test_wechat_busy_once_retries_then_sends_one_message(clock, wechat_sim, pr, slot):
    wechat_sim.fail("send", openid="o-demo-alice", errcode=-1, times=1)
    at_reminder_time(clock, pr)

    first = runner.tick()
    waiting = (delivery().result, delivery().error_code, delivery().attempts)
    clock.set_now(reminder_jobs().get().run_at)
    second = runner.tick()

    assert (first.retried, second.succeeded) == (1, 1)
    assert waiting == ("", "-1", 1)
    assert (delivery().result, delivery().attempts) == ("SENT", 2)
    assert len(wechat_sim.inbox()) == 1


def test_a_token_invalidated_by_wechat_is_refreshed_within_the_attempt(
    clock, wechat_sim, pr, slot, make_pr, make_user
):
    at_reminder_time(clock, pr)
    from reminders.wechat.client import get_client

    get_client().access_token()  # a token is cached before WeChat drops it
    wechat_sim.invalidate_tokens()

    result = runner.tick()

    assert result.succeeded == 1
    assert (delivery().result, delivery().attempts) == ("SENT", 1)
    assert len(wechat_sim.inbox()) == 1


def test_retries_exhausted_end_failed_with_an_error_log(
    clock, wechat_sim, caplog, pr, slot
):
    wechat_sim.fail("send", openid="o-demo-alice", errcode=-1, times=None)
    at_reminder_time(clock, pr)

    with caplog.at_level(logging.ERROR):
        for _ in range(services.REMINDER_MAX_ATTEMPTS):
            runner.tick()
            clock.set_now(max(clock.now(), reminder_jobs().get().run_at))

    job = reminder_jobs().get()
    assert (job.status, job.attempts) == ("FAILED", services.REMINDER_MAX_ATTEMPTS)
    row = delivery()
    assert (row.result, row.error_code) == ("FAILED", "-1")
    assert row.attempts == services.REMINDER_MAX_ATTEMPTS
    assert wechat_sim.inbox() == []
    assert any(r.getMessage().startswith("reminder failed") for r in caplog.records)


def test_an_answer_lost_after_delivery_is_resent_once_and_arrives_once(
    clock, wechat_sim, settings, pr, slot
):
    settings.WECHAT_READ_TIMEOUT = 0.3
    wechat_sim.fail("send", openid="o-demo-alice", delay=1.0, times=1)
    at_reminder_time(clock, pr)

    first = runner.tick()
    clock.set_now(reminder_jobs().get().run_at)
    second = runner.tick()

    assert (first.retried, second.succeeded) == (1, 1)
    [message] = wechat_sim.inbox()
    assert delivery().wechat_msg_id == message["msgid"]


def test_a_job_run_again_after_its_reminder_was_sent_sends_nothing(
    clock, wechat_sim, pr, slot
):
    at_reminder_time(clock, pr)
    runner.tick()
    # The worker stopped after the send but before the job was marked done, and
    # the job's lease expired: the job runs again.
    reminder_jobs().update(status="RETRY", run_at=clock.now())

    again = runner.tick()

    assert again.succeeded == 1
    assert wechat_sim.calls()["send"] == 1
    assert (delivery().result, delivery().attempts) == ("SENT", 1)


def test_a_duplicate_reported_by_wechat_counts_as_sent(clock, wechat_sim, pr, slot):
    wechat_sim.fail("send", openid="o-demo-alice", errcode=40241, times=1)
    at_reminder_time(clock, pr)

    result = runner.tick()

    assert result.succeeded == 1
    assert (delivery().result, delivery().error_code) == ("SENT", "40241")


def test_wechat_down_is_a_transient_failure(clock, wechat_sim, settings, pr, slot):
    settings.WECHAT_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    at_reminder_time(clock, pr)

    result = runner.tick()

    assert result.retried == 1
    assert reminder_jobs().get().status == "RETRY"
    assert delivery().result == ""


# The follow hint


def test_the_follow_hint_shows_after_a_43004_until_reminders_are_switched_on_again(
    clock, wechat_sim, pr, slot, alice
):
    wechat_sim.add_person("o-demo-alice", following=False)
    at_reminder_time(clock, pr)
    runner.tick()

    hint_after_failure = services.must_follow_to_be_reminded(alice)
    services.set_opt_in(alice, False)
    hint_while_off = services.must_follow_to_be_reminded(alice)
    clock.advance(timedelta(minutes=1))
    services.set_opt_in(alice, True)

    assert (hint_after_failure, hint_while_off) == (True, True)
    assert services.must_follow_to_be_reminded(alice) is False


def test_no_follow_hint_after_a_sent_reminder(clock, wechat_sim, pr, slot, alice):
    at_reminder_time(clock, pr)
    runner.tick()

    assert services.must_follow_to_be_reminded(alice) is False
    assert Job.objects.filter(status="SUCCEEDED").exists()
