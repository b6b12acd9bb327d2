from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from config import clock
from prs.admin import ReadOnlyAdmin

from .models import NotificationDelivery, ReminderFigures
from .stats import delivery_figures

PERIODS = (1, 7, 30, 90)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdmin):
    """Deliveries are written by the reminder jobs only; operators read them."""

    list_display = (
        "id",
        "reminder_type",
        "pr",
        "user",
        "result",
        "error_code",
        "attempts",
        "scheduled_at",
        "sent_at",
        "receipt_status",
    )
    list_filter = (
        "result",
        "reminder_type",
        "error_code",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("pr__title", "user__username", "user__wechat_openid")
    list_select_related = ("pr", "user")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(ReminderFigures)
class ReminderFiguresAdmin(ReadOnlyAdmin):
    """Success rate, receipts, skips and the top failure reasons over a period."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("reminders.view_notificationdelivery")

    def changelist_view(self, request, extra_context=None):
        # This view replaces the admin's own, so it must check the permission too.
        if not self.has_view_permission(request):
            raise PermissionDenied
        days = _period(request.GET.get("days"))
        until = clock.now()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reminder figures"),
            "opts": self.model._meta,
            "figures": delivery_figures(until - timedelta(days=days), until),
            "days": days,
            "periods": PERIODS,
        }
        return TemplateResponse(request, "admin/reminders/figures.html", context)


def _period(value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        return 7
    return days if days in PERIODS else 7
