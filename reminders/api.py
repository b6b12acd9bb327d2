"""GET and POST /api/wechat/reminders/subscription (DESIGN §6)."""

from django.http import JsonResponse
from django.utils.translation import gettext as _

from config.http import (
    ApiError,
    field_error,
    json_endpoint,
    read_json_object,
    refuse_unknown_fields,
)

from . import services

FIELD = "wechatReminderOptIn"


@json_endpoint("GET", "POST")
def subscription(request):
    user = request.user
    if not user.is_authenticated or not user.wechat_openid:
        raise ApiError(
            401, "not_authenticated", _("Log in through WeChat to manage reminders.")
        )

    if request.method == "POST":
        services.set_opt_in(user, _read_choice(request))
    return JsonResponse(subscription_json(user))


def subscription_json(user) -> dict:
    switched_on_at = user.wechat_reminder_opt_in_at
    return {
        FIELD: user.wechat_reminder_opt_in,
        "wechatReminderOptInAt": switched_on_at.isoformat() if switched_on_at else None,
    }


def _read_choice(request) -> bool:
    body = read_json_object(request)
    refuse_unknown_fields(body, {FIELD})
    if FIELD not in body:
        raise field_error(FIELD, _("This field is required."))
    if not isinstance(body[FIELD], bool):
        raise field_error(FIELD, _("Expected true or false."))
    return body[FIELD]
