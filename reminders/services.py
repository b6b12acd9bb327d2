"""WeChat reminders (DESIGN §6): the preference, scheduling, deletion, delivery and
receipts. The only code that changes reminder state.

A reminder's life: a join by an opted-in user (or an opt-in while holding slots)
enqueues one job per reminder type whose time is still ahead, keyed per slot and
type; an exit, a release, an opt-out or a cancel deletes the jobs that have not
started; a job that runs checks everything again, sends the template message and
records the outcome on its `notification_deliveries` row; WeChat later reports the
final fate of a sent message, which lands on the same row.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from config import clock
from jobs import runner
from prs.models import PartnerRequest, Slot, User

from . import tasks
from .models import REMINDER_OFFSETS, NotificationDelivery, ReminderType
from .template import template_data
from .wechat import shorten
from .wechat.client import ErrorKind, WeChatError, get_client

logger = logging.getLogger(__name__)

# Transient failures (WeChat busy, network) are retried with the runner's backoff;
# after this many attempts the reminder is given up as FAILED.
REMINDER_MAX_ATTEMPTS = 5

# Slots whose holder may still come, and so may be reminded.
REMINDABLE = (Slot.Status.JOINED, Slot.Status.CONFIRMED)

# WeChat's errcode for "the user does not follow the Official Account".
NOT_FOLLOWING = "43004"


class ReminderNotSent(Exception):
    """A transient failure: raised after the delivery row is saved, so the runner
    retries the job later."""


# The preference


def set_opt_in(user: User, opt_in: bool) -> int:
    """Switch a user's reminders on or off; answer how many of their reminders are
    now scheduled (on) or were deleted (off). `user` is left holding the choice.

    On: schedule the reminders of every slot the user holds in an open PR that has
    not started. Off: delete every reminder of theirs that has not started. The user
    row is locked, so a concurrent switch or join sees one order of events.
    """
    fields = ["wechat_reminder_opt_in", "wechat_reminder_opt_in_at"]
    with transaction.atomic():
        saved = User.objects.select_for_update().get(pk=user.pk)
        if saved.wechat_reminder_opt_in != opt_in:
            saved.wechat_reminder_opt_in = opt_in
            saved.wechat_reminder_opt_in_at = clock.now() if opt_in else None
            saved.save(update_fields=fields)
        for field in fields:
            setattr(user, field, getattr(saved, field))

        slots = Slot.objects.filter(user=saved, status__in=REMINDABLE).select_related(
            "pr"
        )
        if opt_in:
            count = sum(schedule_reminders(slot) for slot in slots)
        else:
            count = sum(delete_reminders(slot) for slot in slots)

    logger.info(
        "reminders switched %s user=%s %s=%s",
        "on" if opt_in else "off",
        user.pk,
        "scheduled" if opt_in else "deleted",
        count,
    )
    return count


# Scheduling and deletion


def reminder_key(slot_id: int, reminder_type: str) -> str:
    return f"slot:{slot_id}:{reminder_type}"


def schedule_reminders(slot: Slot) -> int:
    """Enqueue the slot's reminders whose time is still ahead; answer how many.

    Each (slot, type) has a dedupe key, so scheduling twice schedules once.
    """
    pr = slot.pr
    if not pr.is_open or slot.status not in REMINDABLE:
        return 0

    now = clock.now()
    scheduled = 0
    for reminder_type, before_start in REMINDER_OFFSETS.items():
        due_at = pr.start_at - before_start
        if due_at <= now:
            continue
        runner.enqueue(
            tasks.send_reminder,
            [slot.pk, reminder_type.value],
            run_at=due_at,
            dedupe_key=reminder_key(slot.pk, reminder_type),
            max_attempts=REMINDER_MAX_ATTEMPTS,
        )
        scheduled += 1
    return scheduled


def delete_reminders(slot: Slot) -> int:
    """Delete the slot's reminders that have not started; answer how many.

    A reminder already running is left to its own second check.
    """
    return sum(
        runner.delete_pending(tasks.send_reminder, reminder_key(slot.pk, reminder_type))
        for reminder_type in ReminderType
    )


def schedule_after_join(slot: Slot) -> int:
    # Read the preference from the row, not from the request's user object: a
    # switch committed while this join waited for its locks must count.
    opted_in = (
        User.objects.filter(pk=slot.user_id)
        .values_list("wechat_reminder_opt_in", flat=True)
        .get()
    )
    scheduled = schedule_reminders(slot) if opted_in else 0
    if scheduled:
        logger.info(
            "reminders scheduled pr=%s slot=%s user=%s count=%s",
            slot.pr_id,
            slot.pk,
            slot.user_id,
            scheduled,
        )
    return scheduled


def delete_after_leaving(slot: Slot, why: str) -> int:
    deleted = delete_reminders(slot)
    logger.info(
        "reminders deleted on %s pr=%s slot=%s user=%s count=%s",
        why,
        slot.pr_id,
        slot.pk,
        slot.user_id,
        deleted,
    )
    return deleted


def delete_after_cancel(pr: PartnerRequest) -> int:
    deleted = sum(
        delete_reminders(slot) for slot in pr.slots.filter(status__in=REMINDABLE)
    )
    logger.info("reminders deleted on cancel pr=%s count=%s", pr.pk, deleted)
    return deleted


# Delivery


@dataclass
class Outcome:
    result: str  # a NotificationDelivery.Result, or "" while a retry is pending
    error_code: str = ""
    error_message: str = ""
    msgid: str = ""


def deliver_reminder(
    *, job_id: int, attempt: int, slot_id: int, reminder_type: str
) -> NotificationDelivery | None:
    """Run one attempt of a reminder job and record it on the delivery row.

    The slot and its user stay locked from the second check until the outcome is
    written. An exit or an opt-out that commits before this attempt is seen and the
    reminder is skipped; one that comes later waits for the send to finish. So no
    message goes out for a slot after its exit committed.

    An attempt that finds its delivery already SENT sends nothing: the worker of
    that attempt stopped before the job was marked done, and the job ran again.

    Raises `ReminderNotSent` for a transient failure with attempts left (the runner
    retries), and `runner.PermanentFailure` once the reminder is given up.
    """
    with transaction.atomic():
        slot = (
            Slot.objects.select_related("pr", "user")
            .select_for_update(of=("self", "user"), no_key=True)
            .filter(pk=slot_id)
            .first()
        )
        if slot is None:
            logger.info("reminder dropped: slot gone job=%s slot=%s", job_id, slot_id)
            return None

        delivery = _delivery_row(job_id, slot, reminder_type)
        if delivery.result == NotificationDelivery.Result.SENT:
            logger.info("reminder already sent job=%s delivery=%s", job_id, delivery.pk)
            return delivery

        delivery.attempts += 1
        reason = skip_reason(slot)
        if reason:
            outcome = Outcome(NotificationDelivery.Result.SKIPPED, error_code=reason)
        else:
            outcome = _send(job_id, slot)
            if outcome.result == "" and attempt >= REMINDER_MAX_ATTEMPTS:
                outcome.result = NotificationDelivery.Result.FAILED
        _record(delivery, outcome)

    _log_outcome(delivery, slot, attempt)
    if outcome.result == "":
        raise ReminderNotSent(f"{outcome.error_code}: {outcome.error_message}")
    if outcome.result == NotificationDelivery.Result.FAILED:
        raise runner.PermanentFailure(f"{outcome.error_code}: {outcome.error_message}")
    return delivery


def skip_reason(slot: Slot) -> str:
    """Why this slot's reminder must not go out now, or "" when it may."""
    if slot.status not in REMINDABLE:
        return "slot_inactive"
    if not slot.pr.is_open:
        return "pr_cancelled"
    if clock.now() >= slot.pr.start_at:
        return "too_late"
    if not slot.user.wechat_reminder_opt_in:
        return "opted_out"
    if not slot.user.wechat_openid:
        return "no_openid"
    return ""


def _delivery_row(job_id: int, slot: Slot, reminder_type: str) -> NotificationDelivery:
    existing = NotificationDelivery.objects.filter(job_id=job_id).first()
    if existing is not None:
        return existing
    return NotificationDelivery(
        job_id=job_id,
        pr=slot.pr,
        user=slot.user,
        reminder_type=reminder_type,
        scheduled_at=slot.pr.start_at - REMINDER_OFFSETS[ReminderType(reminder_type)],
        created_at=clock.now(),
    )


def _send(job_id: int, slot: Slot) -> Outcome:
    """Send the template message; never raises for a WeChat failure."""
    link = settings.SITE_URL + reverse("prs:detail", args=[slot.pr_id])
    try:
        msgid = get_client().send_template(
            slot.user.wechat_openid,
            settings.WECHAT_REMINDER_TEMPLATE_ID,
            link,
            template_data(slot),
            # The same for every attempt of this job: WeChat drops a repeat of a
            # message that did go out before a timeout hid the answer from us.
            client_msg_id=f"reminder-{job_id}",
        )
    except WeChatError as error:
        code = "" if error.errcode is None else str(error.errcode)
        if error.kind == ErrorKind.DUPLICATE:
            return Outcome(NotificationDelivery.Result.SENT, code, error.message)
        if error.kind == ErrorKind.PERMANENT:
            return Outcome(NotificationDelivery.Result.FAILED, code, error.message)
        # transient, or a token refused again right after a refresh
        return Outcome("", code or error.kind, error.message)
    return Outcome(NotificationDelivery.Result.SENT, msgid=msgid)


def _record(delivery: NotificationDelivery, outcome: Outcome) -> None:
    delivery.result = outcome.result
    delivery.error_code = outcome.error_code
    delivery.error_message = outcome.error_message
    if outcome.result == NotificationDelivery.Result.SENT:
        delivery.sent_at = clock.now()
        delivery.wechat_msg_id = outcome.msgid
    delivery.save()


def _log_outcome(delivery: NotificationDelivery, slot: Slot, attempt: int) -> None:
    facts = (
        delivery.job_id,
        slot.pr_id,
        slot.user_id,
        delivery.reminder_type,
        attempt,
    )
    fields = "job=%s pr=%s user=%s type=%s attempt=%s"
    if delivery.result == NotificationDelivery.Result.SENT:
        logger.info(
            f"reminder sent {fields} msgid=%s openid=%s",
            *facts,
            delivery.wechat_msg_id,
            shorten(slot.user.wechat_openid),
        )
    elif delivery.result == NotificationDelivery.Result.SKIPPED:
        logger.info(f"reminder skipped {fields} reason=%s", *facts, delivery.error_code)
    elif delivery.result == NotificationDelivery.Result.FAILED:
        logger.error(
            f"reminder failed {fields} errcode=%s error=%s",
            *facts,
            delivery.error_code,
            delivery.error_message,
        )
    else:
        logger.warning(
            f"reminder will retry {fields} errcode=%s error=%s",
            *facts,
            delivery.error_code,
            delivery.error_message,
        )


# Receipts


def record_receipt(msgid: str, status: str, at: datetime) -> int:
    """Store WeChat's final word on a sent message; answer how many rows matched.

    Repeating a receipt writes the same values again, so WeChat's retries are
    harmless.
    """
    updated = NotificationDelivery.objects.filter(wechat_msg_id=msgid).update(
        receipt_status=status, receipt_at=at
    )
    logger.info(
        "reminder receipt msgid=%s status=%s matched=%s", msgid, status, updated
    )
    return updated


# What the PR page shows


def must_follow_to_be_reminded(user: User) -> bool:
    """Whether the user's latest reminder failed because they do not follow the
    Official Account, and they have not switched reminders on since."""
    if not user.is_authenticated:
        return False
    latest = (
        NotificationDelivery.objects.filter(user=user)
        .exclude(result="")
        .order_by("-created_at", "-pk")
        .values("result", "error_code", "created_at")
        .first()
    )
    if latest is None or latest["error_code"] != NOT_FOLLOWING:
        return False
    switched_on_at = user.wechat_reminder_opt_in_at
    return switched_on_at is None or switched_on_at < latest["created_at"]
