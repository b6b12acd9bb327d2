"""Start-up checks of the WeChat settings.

A wrong WeChat setting would otherwise show itself only when the first person logs
in or the first reminder fails, long after the deployment. Every `manage.py`
command (the job worker included) runs these checks first.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from . import template
from .wechat import simulator

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "testserver"})
CREDENTIALS = (
    "WECHAT_APP_ID",
    "WECHAT_APP_SECRET",
    "WECHAT_REMINDER_TEMPLATE_ID",
    "WECHAT_CALLBACK_TOKEN",
)
DEMO_VALUES = {
    "WECHAT_APP_ID": simulator.DEMO_APP_ID,
    "WECHAT_APP_SECRET": simulator.DEMO_APP_SECRET,
    "WECHAT_REMINDER_TEMPLATE_ID": simulator.DEMO_TEMPLATE_ID,
    "WECHAT_CALLBACK_TOKEN": simulator.DEMO_CALLBACK_TOKEN,
}
BASES = ("WECHAT_API_BASE", "WECHAT_OAUTH_BASE")


@register(Tags.security)
def check_assume_in_wechat(app_configs, **kwargs):
    if settings.WECHAT_ASSUME_IN_WECHAT and not settings.DEBUG:
        return [
            Error(
                "WECHAT_ASSUME_IN_WECHAT is on while DEBUG is off.",
                hint="It makes every browser look like WeChat's and is meant for "
                "`make run` only. Unset it on a real deployment.",
                id="reminders.E001",
            )
        ]
    return []


@register()
def check_bases(app_configs, **kwargs):
    problems = []
    for name in BASES:
        url = urlsplit(getattr(settings, name))
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(
                Error(
                    f"{name} is not an http(s) URL.",
                    hint="e.g. https://api.weixin.qq.com, or http://127.0.0.1:8001 "
                    "for the local simulator.",
                    id="reminders.E002",
                )
            )
        elif url.scheme == "http" and not _is_local(url.hostname):
            problems.append(
                Warning(
                    f"{name} uses plain http to {url.hostname}.",
                    hint="The app secret and access tokens would cross the network "
                    "unencrypted; use https.",
                    id="reminders.W001",
                )
            )
    return problems


@register()
def check_demo_credentials(app_configs, **kwargs):
    if not any(_is_real_wechat(getattr(settings, name)) for name in BASES):
        return []
    demo = [
        name for name, value in DEMO_VALUES.items() if getattr(settings, name) == value
    ]
    if not demo:
        return []
    return [
        Error(
            f"{', '.join(demo)} hold the simulator's demo values, but the app talks "
            "to the real WeChat API.",
            hint="Set the Official Account's real values, or point WECHAT_API_BASE "
            "and WECHAT_OAUTH_BASE at the simulator "
            "(python manage.py wechat_simulator; see the README).",
            id="reminders.E003",
        )
    ]


@register()
def check_credentials_of_a_deployment(app_configs, **kwargs):
    # A deployment is told apart from a developer's machine by its public SITE_URL;
    # locally an empty setting only means WeChat login and reminders are off.
    if settings.DEBUG or _is_local(urlsplit(settings.SITE_URL).hostname):
        return []
    missing = [name for name in CREDENTIALS if not getattr(settings, name)]
    if not missing:
        return []
    return [
        Error(
            f"WeChat is not configured; empty: {', '.join(missing)}.",
            hint="Copy them from the Official Account's settings (README, WeChat); "
            "without them nobody can log in and no reminder is sent.",
            id="reminders.E004",
        )
    ]


@register()
def check_timeouts(app_configs, **kwargs):
    problems = []
    for name in ("WECHAT_CONNECT_TIMEOUT", "WECHAT_READ_TIMEOUT"):
        if not getattr(settings, name) > 0:
            problems.append(
                Error(
                    f"{name} must be a number of seconds above 0.",
                    hint="Without a timeout a stuck WeChat call would hold a worker "
                    "forever.",
                    id="reminders.E005",
                )
            )
    return problems


@register()
def check_template_keys(app_configs, **kwargs):
    """Every part of the reminder must go to a key of a type it can be written
    in; otherwise every send would fail with 47003 (or before it, on a missing
    part)."""
    keys = settings.WECHAT_REMINDER_TEMPLATE_KEYS
    problems = []
    for role, kinds in template.KEY_TYPES.items():
        key = keys.get(role, "") if isinstance(keys, dict) else ""
        if not re.fullmatch(r"[a-z_]+\d+", key):
            problem = f"has no key for {role}" if not key else f"{role}={key!r}"
        elif template.key_type(key) not in kinds:
            problem = f"{role}={key!r}: a {template.key_type(key)} key"
        else:
            continue
        problems.append(
            Error(
                f"WECHAT_REMINDER_TEMPLATE_KEYS {problem}.",
                hint=f"Map {role} to a key of the template of one of the types "
                f"{', '.join(kinds)}, e.g. title=thing1,start=time2,place=thing3,"
                "status=phrase4.",
                id="reminders.E006",
            )
        )
    return problems


def _is_real_wechat(base: str) -> bool:
    host = urlsplit(base).hostname or ""
    return host == "weixin.qq.com" or host.endswith(".weixin.qq.com")


def _is_local(host: str | None) -> bool:
    return not host or host in LOCAL_HOSTS
