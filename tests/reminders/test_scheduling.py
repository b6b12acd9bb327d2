"""When reminder jobs are created and deleted (DESIGN §6), under a stopped clock."""

from datetime import timedelta

import pytest

from jobs.models import Job
from prs import services as prs_services
from prs.models import User
from reminders import services
from reminders.services import reminder_key
from tests.reminders.conftest import reminder_jobs

HOUR = timedelta(hours=1)


def scheduled(slot):
    """{reminder type: run_at} of the slot's waiting reminder jobs."""
    return {
        job.payload["args"][1]: job.run_at
        for job in reminder_jobs(status__in=Job.WAITING, payload__args__0=slot.pk)
    }


@pytest.mark.parametrize(
    ("start_in", "expected"),
    [
        (timedelta(days=3), {"T-24h", "T-2h"}),
        (timedelta(hours=24, seconds=1), {"T-24h", "T-2h"}),
        (timedelta(hours=24), {"T-2h"}),
        (timedelta(hours=3), {"T-2h"}),
        (timedelta(hours=2), set()),
        (timedelta(minutes=90), set()),
    ],
    ids=["3 days", "just over 24h", "exactly 24h", "3 hours", "exactly 2h", "90 min"],
)
def test_a_join_schedules_the_reminders_still_ahead(
    clock, make_pr, alice, start_in, expected
):
    pr = make_pr(start_in=start_in)

    slot = prs_services.join(pr.pk, alice)

    times = scheduled(slot)
    assert set(times) == expected
    offsets = {"T-24h": timedelta(hours=24), "T-2h": timedelta(hours=2)}
    assert all(times[kind] == pr.start_at - offsets[kind] for kind in times)


def test_a_join_without_opting_in_schedules_nothing(clock, make_pr, participant):
    slot = prs_services.join(make_pr(start_in=timedelta(days=3)).pk, participant)

    assert scheduled(slot) == {}


def test_opting_in_after_joining_schedules_the_held_slots(clock, make_pr, make_user):
    bob = make_user("bob", wechat_openid="o-demo-bob")
    held = prs_services.join(make_pr(start_in=timedelta(days=3)).pk, bob)
    soon = prs_services.join(make_pr(start_in=timedelta(hours=3)).pk, bob)
    left = prs_services.join(make_pr(start_in=timedelta(days=2)).pk, bob)
    prs_services.exit(left.pr_id, bob)

    services.set_opt_in(bob, True)

    assert set(scheduled(held)) == {"T-24h", "T-2h"}
    assert set(scheduled(soon)) == {"T-2h"}
    assert scheduled(left) == {}


def test_opting_in_twice_schedules_no_duplicates(clock, make_pr, alice):
    prs_services.join(make_pr(start_in=timedelta(days=3)).pk, alice)

    services.set_opt_in(alice, True)
    services.set_opt_in(alice, True)

    assert reminder_jobs().count() == 2


def test_opting_in_sets_the_time_and_opting_out_clears_it(clock, participant):
    services.set_opt_in(participant, True)
    on = User.objects.get(pk=participant.pk)
    services.set_opt_in(participant, False)
    off = User.objects.get(pk=participant.pk)

    assert (on.wechat_reminder_opt_in, on.wechat_reminder_opt_in_at) == (
        True,
        clock.now(),
    )
    assert (off.wechat_reminder_opt_in, off.wechat_reminder_opt_in_at) == (False, None)
    # The caller's object holds the saved choice, as the API's answer needs.
    assert (
        participant.wechat_reminder_opt_in,
        participant.wechat_reminder_opt_in_at,
    ) == (
        False,
        None,
    )


def test_switching_answers_how_many_reminders_are_scheduled_or_were_deleted(
    clock, make_pr, participant
):
    prs_services.join(make_pr(start_in=timedelta(days=3)).pk, participant)
    prs_services.join(make_pr(start_in=timedelta(hours=3)).pk, participant)

    assert services.set_opt_in(participant, True) == 3
    assert services.set_opt_in(participant, True) == 3  # the same three
    assert services.set_opt_in(participant, False) == 3
    assert services.set_opt_in(participant, False) == 0


def test_a_cancelled_pr_gets_no_reminders_on_opt_in(
    clock, make_pr, make_user, organiser
):
    bob = make_user("bob")
    pr = make_pr(start_in=timedelta(days=3))
    prs_services.join(pr.pk, bob)
    prs_services.cancel(pr.pk, organiser)

    services.set_opt_in(bob, True)

    assert not reminder_jobs().exists()


# Deletion


@pytest.fixture
def held(clock, make_pr, alice):
    """Alice's slot in a PR three days away, with both reminders waiting."""
    slot = prs_services.join(make_pr(start_in=timedelta(days=3)).pk, alice)
    assert len(scheduled(slot)) == 2
    return slot


def test_exit_deletes_the_pending_reminders(held, alice, caplog):
    with caplog.at_level("INFO", logger="reminders.services"):
        prs_services.exit(held.pr_id, alice)

    assert scheduled(held) == {}
    assert f"reminders deleted on exit pr={held.pr_id} slot={held.pk}" in caplog.text
    assert "count=2" in caplog.text


def test_auto_release_deletes_the_pending_reminders(clock, held, caplog):
    clock.set_now(held.pr.start_at - HOUR)

    with caplog.at_level("INFO", logger="reminders.services"):
        assert prs_services.release(held.pk) is True

    assert scheduled(held) == {}
    assert f"reminders deleted on release pr={held.pr_id} slot={held.pk}" in caplog.text
    assert "count=2" in caplog.text


def test_opting_out_deletes_the_pending_reminders_of_every_slot(
    clock, held, alice, make_pr, make_user, caplog
):
    other = prs_services.join(make_pr(start_in=timedelta(days=2)).pk, alice)
    bob = make_user("bob")
    services.set_opt_in(bob, True)
    bystander = prs_services.join(held.pr_id, bob)

    with caplog.at_level("INFO", logger="reminders.services"):
        services.set_opt_in(alice, False)

    assert scheduled(held) == {} and scheduled(other) == {}
    assert len(scheduled(bystander)) == 2
    assert f"reminders switched off user={alice.pk} deleted=4" in caplog.text


def test_cancel_deletes_the_pending_reminders_of_every_slot(
    held, organiser, alice, make_user, caplog
):
    bob = make_user("bob")
    services.set_opt_in(bob, True)
    bobs = prs_services.join(held.pr_id, bob)

    with caplog.at_level("INFO", logger="reminders.services"):
        prs_services.cancel(held.pr_id, organiser)

    assert scheduled(held) == {} and scheduled(bobs) == {}
    assert f"reminders deleted on cancel pr={held.pr_id} count=4" in caplog.text


def test_deletion_counts_exactly_what_it_deleted(held):
    assert services.delete_reminders(held) == 2
    assert services.delete_reminders(held) == 0


def test_deletion_leaves_a_running_reminder_alone(held, alice):
    running = reminder_jobs().get(dedupe_key=reminder_key(held.pk, "T-24h"))
    Job.objects.filter(pk=running.pk).update(status="RUNNING")

    prs_services.exit(held.pr_id, alice)

    assert list(reminder_jobs().values_list("pk", "status")) == [
        (running.pk, "RUNNING")
    ]


def test_a_join_rolled_back_leaves_no_reminder(clock, make_pr, alice):
    from django.db import transaction

    pr = make_pr(start_in=timedelta(days=3))

    with pytest.raises(RuntimeError), transaction.atomic():
        prs_services.join(pr.pk, alice)
        raise RuntimeError("the request failed after the join")

    assert not reminder_jobs().exists()
