from django import template

from .. import services

register = template.Library()


@register.inclusion_tag("reminders/reminder_area.html", takes_context=True)
def reminder_area(context):
    """The WeChat reminder switch, or the hint that says how to get it.

    The switch shows inside WeChat to a viewer logged in through WeChat; anyone
    else reads how to switch reminders on. After a reminder failed because the
    viewer does not follow the Official Account, they are asked to follow it and
    switch reminders on again.
    """
    user = context["request"].user
    logged_in_with_wechat = user.is_authenticated and bool(user.wechat_openid)
    return {
        "show_switch": context.get("in_wechat", False) and logged_in_with_wechat,
        "in_wecom": context.get("in_wecom", False),
        "opted_in": logged_in_with_wechat and user.wechat_reminder_opt_in,
        "must_follow": logged_in_with_wechat
        and services.must_follow_to_be_reminded(user),
        "request": context["request"],
    }
