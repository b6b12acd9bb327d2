"""The start-up checks that refuse a wrong WeChat configuration."""

from pathlib import Path

import pytest
from django.core import checks

from reminders.checks import DEMO_VALUES
from reminders.wechat import simulator

REAL_API = "https://api.weixin.qq.com"
REAL_OAUTH = "https://open.weixin.qq.com"


def wechat_messages():
    """What the reminders app's own checks report (the model checks need a
    database, and these tests are about settings only)."""
    own_checks = [
        check
        for check in checks.registry.registry.get_checks()
        if check.__module__ == "reminders.checks"
    ]
    return [message for check in own_checks for message in check(None)]


def wechat_problems():
    return sorted(message.id for message in wechat_messages())


def configure_real_account(settings):
    settings.WECHAT_API_BASE = REAL_API
    settings.WECHAT_OAUTH_BASE = REAL_OAUTH
    settings.WECHAT_APP_ID = "wx0123456789abcdef"
    settings.WECHAT_APP_SECRET = "0123456789abcdef0123456789abcdef"
    settings.WECHAT_REMINDER_TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
    settings.WECHAT_CALLBACK_TOKEN = "callbackToken42"


def test_the_defaults_of_a_fresh_checkout_pass(settings):
    settings.DEBUG = False
    settings.WECHAT_APP_ID = ""
    settings.WECHAT_APP_SECRET = ""
    settings.WECHAT_REMINDER_TEMPLATE_ID = ""
    settings.WECHAT_CALLBACK_TOKEN = ""

    assert wechat_problems() == []


def test_a_real_deployment_passes(settings):
    settings.DEBUG = False
    settings.SITE_URL = "https://partners.example.com"
    configure_real_account(settings)

    assert wechat_problems() == []


def test_assuming_wechat_is_refused_while_debug_is_off(settings):
    settings.WECHAT_ASSUME_IN_WECHAT = True

    settings.DEBUG = True
    allowed = wechat_problems()
    settings.DEBUG = False
    refused = wechat_problems()

    assert allowed == []
    assert refused == ["reminders.E001"]


def test_demo_credentials_against_the_real_api_are_refused(settings):
    configure_real_account(settings)
    settings.WECHAT_APP_ID = simulator.DEMO_APP_ID
    settings.WECHAT_APP_SECRET = simulator.DEMO_APP_SECRET

    [problem] = [m for m in wechat_messages() if m.id == "reminders.E003"]

    assert "WECHAT_APP_ID, WECHAT_APP_SECRET" in problem.msg
    assert "wechat_simulator" in problem.hint


def test_demo_credentials_against_the_simulator_pass(settings):
    settings.WECHAT_API_BASE = "http://127.0.0.1:8001"
    settings.WECHAT_OAUTH_BASE = "http://127.0.0.1:8001"
    settings.WECHAT_APP_ID = simulator.DEMO_APP_ID
    settings.WECHAT_APP_SECRET = simulator.DEMO_APP_SECRET

    assert wechat_problems() == []


def test_a_deployment_without_credentials_is_refused(settings):
    settings.DEBUG = False
    settings.SITE_URL = "https://partners.example.com"
    configure_real_account(settings)
    settings.WECHAT_APP_SECRET = ""
    settings.WECHAT_CALLBACK_TOKEN = ""

    [problem] = [m for m in wechat_messages() if m.id == "reminders.E004"]

    assert problem.msg == (
        "WeChat is not configured; empty: WECHAT_APP_SECRET, WECHAT_CALLBACK_TOKEN."
    )


def test_a_base_that_is_not_a_url_is_refused(settings):
    settings.WECHAT_OAUTH_BASE = "open.weixin.qq.com"

    assert wechat_problems() == ["reminders.E002"]


def test_plain_http_to_a_remote_host_is_warned_about(settings):
    settings.WECHAT_API_BASE = "http://wechat-proxy.internal"

    assert wechat_problems() == ["reminders.W001"]


def test_a_timeout_must_be_positive(settings):
    settings.WECHAT_READ_TIMEOUT = 0

    assert wechat_problems() == ["reminders.E005"]


def test_make_run_uses_the_simulators_demo_account():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()

    for name, value in DEMO_VALUES.items():
        assert f"{name}={value} " in makefile or f"{name}={value}\n" in makefile
    assert "WECHAT_ASSUME_IN_WECHAT=true" in makefile


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            {"start": "time2", "place": "thing3", "status": "phrase4"},
            "no key for title",
        ),
        (
            {
                "title": "phrase1",
                "start": "time2",
                "place": "thing3",
                "status": "phrase4",
            },
            "title='phrase1'",
        ),
        (
            {
                "title": "thing1",
                "start": "thing2",
                "place": "thing3",
                "status": "phrase4",
            },
            "start='thing2'",
        ),
        (
            {
                "title": "thing1",
                "start": "time2",
                "place": "name3",
                "status": "phrase4",
            },
            "place='name3'",
        ),
        (
            {"title": "thing1", "start": "time2", "place": "thing3", "status": "time4"},
            "status='time4'",
        ),
        (
            {
                "title": "thing",
                "start": "time2",
                "place": "thing3",
                "status": "phrase4",
            },
            "title='thing'",
        ),
    ],
)
def test_template_keys_that_cannot_carry_their_part_are_refused(
    settings, keys, problem
):
    settings.WECHAT_REMINDER_TEMPLATE_KEYS = keys

    refused = [m for m in wechat_messages() if m.id == "reminders.E006"]

    assert len(refused) == 1
    assert problem in refused[0].msg


def test_template_keys_of_other_suitable_types_pass(settings):
    settings.WECHAT_REMINDER_TEMPLATE_KEYS = {
        "title": "const1",
        "start": "date2",
        "place": "short_thing3",
        "status": "thing4",
    }

    assert wechat_problems() == []
