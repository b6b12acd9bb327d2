"""Telling WeChat's in-app browser from the others (WECHAT.md §6.5)."""

import pytest
from django.template import engines

from reminders.context_processors import wechat as wechat_context
from reminders.wechat.useragent import Browser, browser_of, is_desktop_wechat
from tests.pages.helpers import WECOM_UA as WECOM_IPHONE

IOS_WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) "
    "NetType/WIFI Language/zh_CN"
)
ANDROID_WECHAT = (
    "Mozilla/5.0 (Linux; Android 13; V2148A Build/TP1A.220624.014; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile "
    "Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MMWEBID/2247 "
    "MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI "
    "Language/zh_CN ABI/arm64"
)
ANDROID_MINI_PROGRAM = (
    "Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.211006.001; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 "
    "Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20221012 MMWEBID/6520 "
    "MicroMessenger/8.0.30.2260(0x28001E3B) WeChat/arm64 Weixin NetType/WIFI "
    "Language/zh_CN ABI/arm64 miniProgram/wx0123456789abcdef"
)
WECOM_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/86.0.4240.198 Safari/537.36 wxwork/4.1.16 (MicroMessenger/6.2) "
    "WindowsWechat MailPlugin_Electron WeMail embeddisk"
)
WINDOWS_WECHAT = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI "
    "MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x6309092b) XWEB/9129 "
    "Flue"
)
MAC_WECHAT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) MicroMessenger/6.8.0(0x16080000) MacWechat/3.8.7(0x13080710) "
    "XWEB/1191 Flue"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IOS_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("user_agent", "browser", "desktop"),
    [
        (IOS_WECHAT, Browser.WECHAT, False),
        (ANDROID_WECHAT, Browser.WECHAT, False),
        (ANDROID_MINI_PROGRAM, Browser.WECHAT, False),
        (WINDOWS_WECHAT, Browser.WECHAT, True),
        (MAC_WECHAT, Browser.WECHAT, True),
        (WECOM_IPHONE, Browser.WECOM, False),
        (WECOM_WINDOWS, Browser.WECOM, False),
        (DESKTOP_CHROME, Browser.OTHER, False),
        (IOS_SAFARI, Browser.OTHER, False),
        ("", Browser.OTHER, False),
    ],
)
def test_the_browser_is_told_by_its_user_agent(user_agent, browser, desktop):
    assert browser_of(user_agent) is browser
    assert is_desktop_wechat(user_agent) is desktop


def render_in_wechat_flag(rf, user_agent):
    request = rf.get("/", headers={"User-Agent": user_agent})
    template = engines["django"].from_string(
        "{% if in_wechat %}wechat{% elif in_wecom %}wecom{% else %}other{% endif %}"
    )
    return template.render({}, request)


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (IOS_WECHAT, "wechat"),
        (MAC_WECHAT, "wechat"),
        (WECOM_IPHONE, "wecom"),
        (DESKTOP_CHROME, "other"),
    ],
)
def test_templates_know_whether_they_are_inside_wechat(rf, user_agent, shown):
    assert render_in_wechat_flag(rf, user_agent) == shown


def test_make_run_can_treat_any_browser_as_wechat(rf, settings):
    settings.WECHAT_ASSUME_IN_WECHAT = True

    assert render_in_wechat_flag(rf, DESKTOP_CHROME) == "wechat"
    assert render_in_wechat_flag(rf, WECOM_IPHONE) == "wechat"


def test_the_context_processor_answers_both_flags(rf):
    request = rf.get("/", headers={"User-Agent": WECOM_WINDOWS})

    assert wechat_context(request) == {"in_wechat": False, "in_wecom": True}
