"""Every row of the DESIGN §3 table: allowed at its edges, refused just outside them,
and a refusal changes no row and no counter."""

from datetime import timedelta

import pytest

from prs import services
from prs.models import PartnerRequest, Slot, User
from prs.services import ActionRefused

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def at(clock, pr, offset):
    """Stop the clock at T + offset, T being the PR's start."""
    clock.set_now(pr.start_at + offset)


def snapshot():
    return (
        list(PartnerRequest.objects.order_by("pk").values()),
        list(Slot.objects.order_by("pk").values()),
        list(User.objects.order_by("pk").values()),
    )


def refused(code, action, *args):
    """Run an action that must be refused with `code` and leave everything as it was."""
    before = snapshot()

    with pytest.raises(ActionRefused) as refusal:
        action(*args)

    assert refusal.value.code == code
    assert snapshot() == before


@pytest.fixture
def pr(clock, make_pr):
    return make_pr(start_in=timedelta(days=1), capacity=2)


# join


def test_join_is_allowed_until_just_before_t_minus_1h(clock, pr, participant):
    at(clock, pr, -HOUR - SECOND)

    slot = services.join(pr.pk, participant)

    assert slot.status == Slot.Status.JOINED
    assert slot.joined_at == pr.start_at - HOUR - SECOND


def test_join_is_refused_from_t_minus_1h(clock, pr, participant):
    at(clock, pr, -HOUR)

    refused("join_closed", services.join, pr.pk, participant)


def test_join_takes_the_last_free_place(clock, pr, participant, make_user):
    services.join(pr.pk, make_user())

    services.join(pr.pk, participant)

    assert pr.slots.filter(status__in=Slot.ACTIVE).count() == pr.capacity


def test_join_is_refused_when_the_pr_is_full(clock, pr, participant, make_user):
    for _ in range(pr.capacity):
        services.join(pr.pk, make_user())

    refused("pr_full", services.join, pr.pk, participant)


def test_exited_and_released_places_are_free_again(clock, pr, participant, make_user):
    leaver, unconfirmed = make_user(), make_user()
    services.join(pr.pk, leaver)
    services.join(pr.pk, unconfirmed)
    services.exit(pr.pk, leaver)

    services.join(pr.pk, participant)

    assert pr.slots.filter(status__in=Slot.ACTIVE).count() == 2


def test_join_is_refused_while_the_user_holds_an_active_slot(clock, pr, participant):
    services.join(pr.pk, participant)

    refused("already_joined", services.join, pr.pk, participant)


def test_a_user_may_join_again_after_exiting(clock, pr, participant):
    first = services.join(pr.pk, participant)
    services.exit(pr.pk, participant)

    second = services.join(pr.pk, participant)

    assert second.pk != first.pk
    assert [s.status for s in pr.slots.order_by("pk")] == ["EXITED", "JOINED"]


def test_join_is_refused_on_a_cancelled_pr(clock, pr, participant, organiser):
    services.cancel(pr.pk, organiser)

    refused("pr_cancelled", services.join, pr.pk, participant)


# confirm


def test_confirm_is_allowed_until_just_before_t_minus_1h(clock, pr, participant):
    services.join(pr.pk, participant)
    at(clock, pr, -HOUR - SECOND)

    slot = services.confirm(pr.pk, participant)

    assert slot.status == Slot.Status.CONFIRMED
    assert slot.confirmed_at == pr.start_at - HOUR - SECOND


def test_confirm_is_refused_from_t_minus_1h(clock, pr, participant):
    services.join(pr.pk, participant)
    at(clock, pr, -HOUR)

    refused("confirm_closed", services.confirm, pr.pk, participant)


def test_confirm_is_refused_without_a_slot(clock, pr, participant):
    refused("not_joined", services.confirm, pr.pk, participant)


def test_confirm_is_refused_after_exit(clock, pr, participant):
    services.join(pr.pk, participant)
    services.exit(pr.pk, participant)

    refused("not_joined", services.confirm, pr.pk, participant)


def test_confirm_is_refused_twice(clock, pr, participant):
    services.join(pr.pk, participant)
    services.confirm(pr.pk, participant)

    refused("already_confirmed", services.confirm, pr.pk, participant)


# check-in


@pytest.fixture
def confirmed(clock, pr, participant):
    services.join(pr.pk, participant)
    services.confirm(pr.pk, participant)
    return participant


@pytest.mark.parametrize(
    "offset", [-timedelta(minutes=30), timedelta(0), HOUR], ids=["T-30m", "T", "T+1h"]
)
def test_check_in_is_allowed_inside_its_window(clock, pr, confirmed, offset):
    at(clock, pr, offset)

    slot = services.check_in(pr.pk, confirmed)

    assert slot.status == Slot.Status.ATTENDED
    assert slot.attended_at == pr.start_at + offset


@pytest.mark.parametrize(
    "offset",
    [-timedelta(minutes=30) - SECOND, HOUR + SECOND],
    ids=["just before T-30m", "just after T+1h"],
)
def test_check_in_is_refused_outside_its_window(clock, pr, confirmed, offset):
    at(clock, pr, offset)

    refused("check_in_closed", services.check_in, pr.pk, confirmed)


def test_check_in_is_refused_for_an_unconfirmed_slot(clock, pr, participant):
    services.join(pr.pk, participant)
    at(clock, pr, timedelta(0))

    refused("not_confirmed", services.check_in, pr.pk, participant)


def test_check_in_is_refused_twice(clock, pr, confirmed):
    at(clock, pr, timedelta(0))
    services.check_in(pr.pk, confirmed)

    refused("already_checked_in", services.check_in, pr.pk, confirmed)


def test_check_in_is_refused_without_a_slot(clock, pr, participant):
    at(clock, pr, timedelta(0))

    refused("not_joined", services.check_in, pr.pk, participant)


# exit


@pytest.mark.parametrize("confirm_first", [False, True], ids=["joined", "confirmed"])
def test_exit_is_allowed_until_just_before_the_start(
    clock, pr, participant, confirm_first
):
    services.join(pr.pk, participant)
    if confirm_first:
        services.confirm(pr.pk, participant)
    at(clock, pr, -SECOND)

    slot = services.exit(pr.pk, participant)

    assert slot.status == Slot.Status.EXITED
    assert slot.exited_at == pr.start_at - SECOND


def test_exit_is_refused_from_the_start(clock, pr, confirmed):
    at(clock, pr, timedelta(0))

    refused("exit_closed", services.exit, pr.pk, confirmed)


def test_exit_is_refused_after_check_in(clock, pr, confirmed):
    at(clock, pr, -timedelta(minutes=10))
    services.check_in(pr.pk, confirmed)

    refused("already_checked_in", services.exit, pr.pk, confirmed)


def test_exit_is_refused_without_a_slot(clock, pr, participant):
    refused("not_joined", services.exit, pr.pk, participant)


# auto-release


def test_release_frees_an_unconfirmed_slot_at_t_minus_1h(clock, pr, participant):
    slot = services.join(pr.pk, participant)
    at(clock, pr, -HOUR)

    released = services.release(slot.pk)

    slot.refresh_from_db()
    assert released is True
    assert slot.status == Slot.Status.RELEASED
    assert slot.released_at == pr.start_at - HOUR


def test_release_is_refused_before_t_minus_1h(clock, pr, participant):
    slot = services.join(pr.pk, participant)
    at(clock, pr, -HOUR - SECOND)

    refused("release_too_early", services.release, slot.pk)


@pytest.mark.parametrize("leave", ["confirm", "exit"])
def test_release_leaves_a_slot_that_is_no_longer_joined(clock, pr, participant, leave):
    slot = services.join(pr.pk, participant)
    getattr(services, leave)(pr.pk, participant)
    at(clock, pr, -HOUR)
    before = snapshot()

    released = services.release(slot.pk)

    assert released is False
    assert snapshot() == before


def test_release_leaves_slots_of_a_cancelled_pr(clock, pr, participant, organiser):
    slot = services.join(pr.pk, participant)
    services.cancel(pr.pk, organiser)
    at(clock, pr, -HOUR)

    assert services.release(slot.pk) is False
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.JOINED


def test_release_of_an_unknown_slot_does_nothing(db):
    assert services.release(123456) is False


# cancel


def test_organiser_can_cancel_until_just_before_the_start(clock, pr, organiser):
    at(clock, pr, -SECOND)

    services.cancel(pr.pk, organiser)

    pr.refresh_from_db()
    assert pr.status == PartnerRequest.Status.CANCELLED
    assert pr.cancelled_at == pr.start_at - SECOND


def test_staff_can_cancel_any_pr(clock, pr, make_user):
    services.cancel(pr.pk, make_user("operator", is_staff=True))

    assert PartnerRequest.objects.get(pk=pr.pk).status == "CANCELLED"


def test_cancel_is_refused_from_the_start(clock, pr, organiser):
    at(clock, pr, timedelta(0))

    refused("cancel_closed", services.cancel, pr.pk, organiser)


def test_cancel_is_refused_to_anyone_but_the_organiser(clock, pr, outsider):
    refused("not_organiser", services.cancel, pr.pk, outsider)


def test_cancel_is_refused_twice(clock, pr, organiser):
    services.cancel(pr.pk, organiser)

    refused("pr_cancelled", services.cancel, pr.pk, organiser)


@pytest.mark.parametrize("action", ["confirm", "check_in", "exit"])
def test_slot_actions_are_refused_on_a_cancelled_pr(
    clock, pr, confirmed, organiser, action
):
    services.cancel(pr.pk, organiser)
    at(clock, pr, -timedelta(minutes=10))

    refused("pr_cancelled", getattr(services, action), pr.pk, confirmed)


def test_an_unknown_pr_raises_does_not_exist(db, participant):
    with pytest.raises(PartnerRequest.DoesNotExist):
        services.join(987654, participant)
