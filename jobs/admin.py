from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import runner
from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs change through the runner only; operators can nudge or drop waiting ones."""

    list_display = (
        "id",
        "job_type",
        "status",
        "run_at",
        "attempts",
        "max_attempts",
        "dedupe_key",
        "locked_by",
        "finished_at",
    )
    list_filter = ("status", "job_type")
    search_fields = ("dedupe_key",)
    ordering = ("-id",)
    actions = ["run_now", "delete_pending"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Job._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Run now (failed jobs start over)"))
    def run_now(self, request, queryset):
        changed = runner.run_now(queryset.values_list("pk", flat=True))
        self.message_user(request, _("%(n)d jobs made due now.") % {"n": changed})

    @admin.action(description=_("Delete pending (PENDING and RETRY only)"))
    def delete_pending(self, request, queryset):
        selected = queryset.count()
        deleted = runner.delete_waiting(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            _("%(deleted)d deleted; %(kept)d running or finished jobs left alone.")
            % {"deleted": deleted, "kept": selected - deleted},
            messages.WARNING if deleted < selected else messages.SUCCESS,
        )
