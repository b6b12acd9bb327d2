"""The domain operations on partner requests and slots (DESIGN §3).

This module is the only code that changes a PR, a slot or a user's reliability
figures. Every action is one transaction that starts by locking the PR row, so
actions on one PR run one after another: two joins cannot both take the last
place, and a confirm cannot interleave with the release of the same slot. Locks are
always taken PR first, then the user's row (by the counter update), so two actions
never wait on each other in opposite orders.

A refused action raises `ActionRefused` before anything is written, so it changes
nothing.
"""

import hashlib
import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, FloatField
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils.translation import gettext_lazy as _

from config import clock
from jobs import runner

from . import tasks
from .models import PartnerRequest, Slot, User
from .signals import pr_cancelled, slot_changed

logger = logging.getLogger(__name__)

REFUSALS = {
    "pr_cancelled": _("This activity has been cancelled."),
    "pr_full": _("This activity is full."),
    "join_closed": _("Joining closed one hour before the start."),
    "already_joined": _("You have already joined this activity."),
    "not_joined": _("You have not joined this activity."),
    "already_confirmed": _("You have already confirmed."),
    "confirm_closed": _("Confirming closed one hour before the start."),
    "not_confirmed": _("Only confirmed participants can check in."),
    "already_checked_in": _("You have already checked in."),
    "check_in_closed": _(
        "Check-in is open from 30 minutes before the start until one hour after it."
    ),
    "exit_closed": _("The activity has started; you can no longer leave it."),
    "not_organiser": _("Only the organiser can cancel this activity."),
    "cancel_closed": _("The activity has started and can no longer be cancelled."),
    "release_too_early": _("Unconfirmed places are released one hour before start."),
}


class ActionRefused(Exception):
    """A rule refused the action. `code` is stable; `message` is for people."""

    def __init__(self, code: str):
        self.code = code
        self.message = str(REFUSALS[code])
        super().__init__(f"{code}: {self.message}")


def create_pr(
    organiser: User, *, title, description, location, start_at, capacity
) -> PartnerRequest:
    """Create an open PR from input that a form or the API has already validated."""
    pr = PartnerRequest.objects.create(
        organiser=organiser,
        title=title,
        description=description,
        location=location,
        start_at=start_at,
        capacity=capacity,
    )
    logger.info(
        "pr created pr=%s organiser=%s start_at=%s capacity=%s",
        pr.pk,
        organiser.pk,
        start_at.isoformat(),
        capacity,
    )
    return pr


def join(pr_id: int, user: User) -> Slot:
    with transaction.atomic():
        pr, now = _lock(pr_id)
        _refuse_if_cancelled(pr)
        if _active_slot(pr, user) is not None:
            raise ActionRefused("already_joined")
        if now >= pr.join_deadline:
            raise ActionRefused("join_closed")
        if pr.slots.filter(status__in=Slot.ACTIVE).count() >= pr.capacity:
            raise ActionRefused("pr_full")

        slot = Slot.objects.create(pr=pr, user=user, joined_at=now)
        _count(user, "reliability_join_count")
        runner.enqueue(
            tasks.release_unconfirmed_slot,
            [slot.pk],
            run_at=pr.join_deadline,
            dedupe_key=tasks.release_key(slot.pk),
        )
        slot_changed.send(sender=Slot, slot=slot, action="join")

    logger.info("slot joined pr=%s user=%s slot=%s", pr.pk, user.pk, slot.pk)
    return slot


def confirm(pr_id: int, user: User) -> Slot:
    with transaction.atomic():
        pr, now = _lock(pr_id)
        _refuse_if_cancelled(pr)
        slot = _require_active_slot(pr, user)
        if slot.status != Slot.Status.JOINED:
            raise ActionRefused("already_confirmed")
        if now >= pr.join_deadline:
            raise ActionRefused("confirm_closed")

        _move(slot, Slot.Status.CONFIRMED, confirmed_at=now)
        _count(user, "reliability_confirm_count")
        _drop_release(slot)
        slot_changed.send(sender=Slot, slot=slot, action="confirm")

    logger.info("slot confirmed pr=%s user=%s slot=%s", pr.pk, user.pk, slot.pk)
    return slot


def check_in(pr_id: int, user: User) -> Slot:
    with transaction.atomic():
        pr, now = _lock(pr_id)
        _refuse_if_cancelled(pr)
        slot = _require_active_slot(pr, user)
        if slot.status == Slot.Status.ATTENDED:
            raise ActionRefused("already_checked_in")
        if slot.status != Slot.Status.CONFIRMED:
            raise ActionRefused("not_confirmed")
        if not pr.check_in_opens_at <= now <= pr.check_in_closes_at:
            raise ActionRefused("check_in_closed")

        _move(slot, Slot.Status.ATTENDED, attended_at=now)
        _count(user, "reliability_attend_count")
        slot_changed.send(sender=Slot, slot=slot, action="check_in")

    logger.info("slot checked in pr=%s user=%s slot=%s", pr.pk, user.pk, slot.pk)
    return slot


def exit(pr_id: int, user: User) -> Slot:
    with transaction.atomic():
        pr, now = _lock(pr_id)
        _refuse_if_cancelled(pr)
        slot = _require_active_slot(pr, user)
        if slot.status == Slot.Status.ATTENDED:
            raise ActionRefused("already_checked_in")
        if now >= pr.start_at:
            raise ActionRefused("exit_closed")

        _move(slot, Slot.Status.EXITED, exited_at=now)
        _count(user, "reliability_release_count")
        _drop_release(slot)
        slot_changed.send(sender=Slot, slot=slot, action="exit")

    logger.info("slot exited pr=%s user=%s slot=%s", pr.pk, user.pk, slot.pk)
    return slot


def release(slot_id: int) -> bool:
    """Release a slot that is still unconfirmed at T-1h; answer whether it did.

    A slot that was confirmed, exited or already released, or whose PR was
    cancelled, is left alone (False). Called before T-1h it refuses with
    `release_too_early`: until then the user may still confirm.
    """
    pr_id = Slot.objects.filter(pk=slot_id).values_list("pr_id", flat=True).first()
    if pr_id is None:
        return False

    with transaction.atomic():
        pr, now = _lock(pr_id)
        slot = Slot.objects.select_related("user").get(pk=slot_id)
        if slot.status != Slot.Status.JOINED or not pr.is_open:
            return False
        if now < pr.join_deadline:
            raise ActionRefused("release_too_early")

        _move(slot, Slot.Status.RELEASED, released_at=now)
        _count(slot.user, "reliability_release_count")
        slot_changed.send(sender=Slot, slot=slot, action="release")

    logger.info("slot released pr=%s user=%s slot=%s", pr.pk, slot.user_id, slot.pk)
    return True


def cancel(pr_id: int, user: User) -> PartnerRequest:
    """Cancel a PR on behalf of its organiser or a staff member."""
    with transaction.atomic():
        pr, now = _lock(pr_id)
        if pr.organiser_id != user.pk and not user.is_staff:
            raise ActionRefused("not_organiser")
        _refuse_if_cancelled(pr)
        if now >= pr.start_at:
            raise ActionRefused("cancel_closed")

        pr.status = PartnerRequest.Status.CANCELLED
        pr.cancelled_at = now
        pr.save(update_fields=["status", "cancelled_at"])
        for slot in pr.slots.filter(status=Slot.Status.JOINED):
            _drop_release(slot)
        pr_cancelled.send(sender=PartnerRequest, pr=pr)

    logger.info("pr cancelled pr=%s by=%s", pr.pk, user.pk)
    return pr


def _lock(pr_id: int) -> tuple[PartnerRequest, datetime]:
    """Lock the PR row and read the clock once the lock is held.

    FOR NO KEY UPDATE serialises the actions on one PR like FOR UPDATE would, but
    leaves alone the key-share locks that PostgreSQL takes on the PR row when a row
    referencing it is written. With FOR UPDATE, an exit holding the PR and waiting
    for a slot that a reminder job holds deadlocks with that job writing its
    delivery row, which references the PR.

    The time is read after the wait for the lock, so an action that queued behind
    others is judged at the moment it really happens.
    """
    pr = PartnerRequest.objects.select_for_update(no_key=True).get(pk=pr_id)
    return pr, clock.now()


def _refuse_if_cancelled(pr: PartnerRequest) -> None:
    if not pr.is_open:
        raise ActionRefused("pr_cancelled")


def _active_slot(pr: PartnerRequest, user: User) -> Slot | None:
    return Slot.objects.filter(pr=pr, user=user, status__in=Slot.ACTIVE).first()


def _require_active_slot(pr: PartnerRequest, user: User) -> Slot:
    slot = _active_slot(pr, user)
    if slot is None:
        raise ActionRefused("not_joined")
    return slot


def _drop_release(slot: Slot) -> None:
    """Delete the slot's pending T-1h release: it has nothing left to release."""
    runner.delete_pending(tasks.release_unconfirmed_slot, tasks.release_key(slot.pk))


def _move(slot: Slot, status: str, **timestamps) -> None:
    slot.status = status
    for name, value in timestamps.items():
        setattr(slot, name, value)
    slot.save(update_fields=["status", *timestamps])


_COUNTERS = (
    "reliability_join_count",
    "reliability_confirm_count",
    "reliability_attend_count",
    "reliability_release_count",
)


def _count(user: User, counter: str) -> None:
    """Add one to a reliability counter and recompute the ratios, in one UPDATE.

    On the right of SET, SQL reads the row as it was before the statement, so the
    ratios are built from the new counts spelled out as expressions. One statement
    keeps the figures consistent with each other without reading the row first.
    """
    new = {name: F(name) + 1 if name == counter else F(name) for name in _COUNTERS}
    join, confirm, attend, release = (new[name] for name in _COUNTERS)

    User.objects.filter(pk=user.pk).update(
        **{counter: new[counter]},
        join_to_confirm_ratio=_ratio(confirm, join),
        confirm_to_attend_ratio=_ratio(attend, confirm),
        release_frequency=_ratio(release, join),
    )


def _ratio(numerator, denominator):
    """numerator / denominator as a float, 0 when the denominator is 0."""
    as_float = FloatField()
    return Coalesce(
        Cast(numerator, as_float) / NullIf(Cast(denominator, as_float), 0.0),
        0.0,
        output_field=as_float,
    )


def user_for_openid(openid: str) -> User:
    """The user who logs in with this WeChat openid, created at their first login.

    The username is derived from the openid through a hash, so a page that shows
    it does not show the openid. Two first logins at the same moment end with one
    user: the loser of the race on the unique openid reads the winner's row.
    """
    user = User.objects.filter(wechat_openid=openid).first()
    if user is not None:
        return user

    username = "wx-" + hashlib.sha256(openid.encode("utf-8")).hexdigest()[:12]
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, wechat_openid=openid)
    except IntegrityError:
        user = User.objects.filter(wechat_openid=openid).first()
        if user is None:
            raise
        return user

    logger.info("user created from wechat login user=%s", user.pk)
    return user
