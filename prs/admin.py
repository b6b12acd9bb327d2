from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from . import services
from .models import PartnerRequest, Slot, User

RELIABILITY_FIELDS = (
    "reliability_join_count",
    "reliability_confirm_count",
    "reliability_attend_count",
    "reliability_release_count",
    "join_to_confirm_ratio",
    "confirm_to_attend_ratio",
    "release_frequency",
)


def ratio_filter(field: str, label: str):
    """A sidebar filter that sorts users into bands of one reliability ratio."""

    bands = {
        "zero": ({field: 0}, _("0")),
        "low": ({f"{field}__gt": 0, f"{field}__lt": 0.5}, _("below 50%")),
        "mid": ({f"{field}__gte": 0.5, f"{field}__lt": 0.8}, _("50% to 80%")),
        "high": ({f"{field}__gte": 0.8}, _("80% and above")),
    }

    class RatioFilter(admin.SimpleListFilter):
        title = label
        parameter_name = field

        def lookups(self, request, model_admin):
            return [(key, text) for key, (_lookup, text) in bands.items()]

        def queryset(self, request, queryset):
            if self.value() in bands:
                return queryset.filter(**bands[self.value()][0])
            return queryset

    return RatioFilter


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = (
        "username",
        "wechat_openid",
        "reliability_join_count",
        "join_to_confirm_ratio",
        "confirm_to_attend_ratio",
        "release_frequency",
        "wechat_reminder_opt_in",
        "is_staff",
    )
    list_filter = (
        ratio_filter("join_to_confirm_ratio", _("join to confirm")),
        ratio_filter("confirm_to_attend_ratio", _("confirm to attend")),
        ratio_filter("release_frequency", _("release frequency")),
        "wechat_reminder_opt_in",
        "is_staff",
    )
    search_fields = ("username", "wechat_openid", "first_name", "last_name")
    readonly_fields = (*RELIABILITY_FIELDS, "wechat_reminder_opt_in_at")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (
            _("WeChat"),
            {
                "fields": (
                    "wechat_openid",
                    "wechat_reminder_opt_in",
                    "wechat_reminder_opt_in_at",
                )
            },
        ),
        (_("Reliability"), {"fields": RELIABILITY_FIELDS}),
    )


PR_FIELDS = ("title", "description", "location", "start_at", "capacity")


class SlotInline(admin.TabularInline):
    model = Slot
    extra = 0
    can_delete = False
    fields = (
        "user",
        "status",
        "joined_at",
        "confirmed_at",
        "attended_at",
        "exited_at",
        "released_at",
    )
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PartnerRequest)
class PartnerRequestAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "title",
        "start_at",
        "location",
        "capacity",
        "status",
        "organiser",
    )
    list_filter = ("status", ("start_at", admin.DateFieldListFilter))
    search_fields = ("title",)
    date_hierarchy = "start_at"
    raw_id_fields = ("organiser",)
    inlines = [SlotInline]
    actions = ["cancel_selected"]

    def get_readonly_fields(self, request, obj=None):
        # Moving the start or the capacity of a PR with participants would bypass
        # the rules and the scheduled jobs, so they are set once, at creation.
        fixed = ("status", "created_at", "cancelled_at")
        if obj is None:
            return fixed
        return (*fixed, "organiser", "start_at", "capacity")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        fields = {name: getattr(obj, name) for name in PR_FIELDS}
        obj.pk = services.create_pr(obj.organiser, **fields).pk
        obj.refresh_from_db()

    @admin.action(description=_("Cancel selected partner requests"))
    def cancel_selected(self, request, queryset):
        cancelled = 0
        for pr in queryset:
            try:
                services.cancel(pr.pk, request.user)
            except services.ActionRefused as refusal:
                self.message_user(request, f"{pr}: {refusal.message}", messages.WARNING)
            else:
                cancelled += 1
        self.message_user(request, _("%(n)d cancelled.") % {"n": cancelled})


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that only services write: operators look, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ("id", "pr", "user", "status", "joined_at")
    list_filter = ("status",)
    search_fields = ("pr__title", "user__username", "user__wechat_openid")
    list_select_related = ("pr", "user")
