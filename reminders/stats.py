"""The operators' figures on reminders, for `reminder_stats` and the admin page."""

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db.models import Count

from .models import NotificationDelivery

Result = NotificationDelivery.Result


@dataclass
class Figures:
    since: datetime
    until: datetime
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    receipts_confirmed: int = 0
    receipts_failed: int = 0
    skips_by_reason: dict[str, int] = field(default_factory=dict)
    top_failures: list[dict] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        """SENT / (SENT + FAILED); None when nothing was attempted."""
        attempted = self.sent + self.failed
        return self.sent / attempted if attempted else None

    def as_dict(self) -> dict:
        figures = asdict(self)
        figures["since"] = self.since.isoformat()
        figures["until"] = self.until.isoformat()
        figures["success_rate"] = self.success_rate
        return figures


def delivery_figures(since: datetime, until: datetime, top: int = 5) -> Figures:
    """What happened to the reminders processed in [since, until)."""
    period = NotificationDelivery.objects.filter(
        created_at__gte=since, created_at__lt=until
    )
    by_result = dict(_count_by(period, "result"))
    receipts = dict(_count_by(period.filter(result=Result.SENT), "receipt_status"))

    return Figures(
        since=since,
        until=until,
        sent=by_result.get(Result.SENT, 0),
        failed=by_result.get(Result.FAILED, 0),
        skipped=by_result.get(Result.SKIPPED, 0),
        retrying=by_result.get("", 0),
        receipts_confirmed=receipts.get("success", 0),
        receipts_failed=sum(
            n for status, n in receipts.items() if status.startswith("failed")
        ),
        skips_by_reason=dict(
            _count_by(period.filter(result=Result.SKIPPED), "error_code")
        ),
        top_failures=[
            {"error_code": code, "count": n, "example": _example(period, code)}
            for code, n in _count_by(period.filter(result=Result.FAILED), "error_code")[
                :top
            ]
        ],
    )


def _count_by(queryset, column: str) -> list[tuple[str, int]]:
    """(value, count) pairs, the most frequent first."""
    return list(
        queryset.values_list(column).annotate(n=Count("id")).order_by("-n", column)
    )


def _example(period, code: str) -> str:
    """The latest error message seen with this code, to say what it means."""
    latest = (
        period.filter(result=Result.FAILED, error_code=code)
        .order_by("-created_at")
        .values_list("error_message", flat=True)
        .first()
    )
    return latest or ""
