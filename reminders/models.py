from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _

from prs.models import PartnerRequest, User


class ReminderType(models.TextChoices):
    T_24H = "T-24h", _("24 hours before")
    T_2H = "T-2h", _("2 hours before")


# How long before the start each reminder goes out.
REMINDER_OFFSETS = {
    ReminderType.T_24H: timedelta(hours=24),
    ReminderType.T_2H: timedelta(hours=2),
}


class NotificationDelivery(models.Model):
    """One reminder job's delivery: what was sent to whom, and how it ended.

    One row per job (`job_id` is unique), created when the job first runs and
    updated by each attempt; `result` stays empty while a retry is pending. The
    receipt WeChat pushes later (TEMPLATESENDJOBFINISH) lands in `receipt_*`.
    """

    class Result(models.TextChoices):
        SENT = "SENT", _("Sent")
        FAILED = "FAILED", _("Failed")
        SKIPPED = "SKIPPED", _("Skipped")

    pr = models.ForeignKey(
        PartnerRequest,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("partner request"),
    )
    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("user"),
    )
    reminder_type = models.CharField(
        _("reminder type"), max_length=8, choices=ReminderType
    )
    scheduled_at = models.DateTimeField(
        _("due at"), help_text=_("When the reminder was due.")
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    result = models.CharField(
        _("result"),
        max_length=8,
        choices=Result,
        blank=True,
        help_text=_("Empty while a retry is pending."),
    )
    error_code = models.CharField(
        _("error code"),
        max_length=32,
        blank=True,
        help_text=_("WeChat's errcode for a failure, the reason for a skip."),
    )
    error_message = models.TextField(_("error message"), blank=True)
    job_id = models.BigIntegerField(_("job id"), unique=True)
    wechat_msg_id = models.CharField(_("WeChat msgid"), max_length=32, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"))
    receipt_status = models.CharField(_("receipt"), max_length=64, blank=True)
    receipt_at = models.DateTimeField(_("receipt at"), null=True, blank=True)

    class Meta:
        db_table = "notification_deliveries"
        verbose_name = _("notification delivery")
        verbose_name_plural = _("notification deliveries")
        indexes = [
            # Success rate over a period, and pruning by age.
            models.Index(fields=["created_at", "result"], name="delivery_by_time"),
            # Failures (or skips) by code.
            models.Index(fields=["result", "error_code"], name="delivery_by_outcome"),
            # A user's and a PR's history.
            models.Index(fields=["user", "created_at"], name="delivery_by_user"),
            models.Index(fields=["pr", "reminder_type"], name="delivery_by_pr"),
            # Receipts arrive by msgid; most rows (skips, failures) have none.
            models.Index(
                fields=["wechat_msg_id"],
                condition=~models.Q(wechat_msg_id=""),
                name="delivery_by_msgid",
            ),
        ]

    def __str__(self):
        return (
            f"delivery {self.pk} job={self.job_id} {self.reminder_type} {self.result}"
        )


class ReminderFigures(NotificationDelivery):
    """The operators' figures page in the admin (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("reminder figures")
        verbose_name_plural = _("reminder figures")
