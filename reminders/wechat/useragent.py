"""Which browser a page is open in: WeChat's, WeCom's, or another.

WeChat's in-app browser (phones and the Windows and Mac clients) says
`MicroMessenger` in its User-Agent. WeCom (企业微信) says `MicroMessenger` too and
adds `wxwork`, but the Official Account's login does not work there, so it is
checked first and counted as not WeChat (WECHAT.md §6.5).
"""

from enum import StrEnum

from django.conf import settings


class Browser(StrEnum):
    WECHAT = "wechat"
    WECOM = "wecom"
    OTHER = "other"


def browser_of(user_agent: str) -> Browser:
    agent = user_agent.lower()
    if "wxwork" in agent:
        return Browser.WECOM
    if "micromessenger" in agent:
        return Browser.WECHAT
    return Browser.OTHER


def is_desktop_wechat(user_agent: str) -> bool:
    agent = user_agent.lower()
    return browser_of(agent) is Browser.WECHAT and (
        "windowswechat" in agent or "macwechat" in agent
    )


def in_wechat(request) -> bool:
    """Whether the request comes from WeChat's browser, or `make run` pretends so."""
    if settings.WECHAT_ASSUME_IN_WECHAT:
        return True
    return browser_of(request.headers.get("User-Agent", "")) is Browser.WECHAT
