"""The WeChat client against the simulator, over real HTTP (WECHAT.md §1, §2, §6)."""

import logging
import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from reminders.wechat import simulator
from reminders.wechat.client import ErrorKind, WeChatError, get_client

ALICE = "o-demo-alice"
BOB = "o-demo-bob"
REMINDER = {
    "thing1": {"value": "羽毛球双打"},
    "time2": {"value": "2026-12-02 19:30"},
    "thing3": {"value": "朝阳体育中心 3 号馆"},
    "phrase4": {"value": "即将开始"},
}
ROOT = Path(__file__).resolve().parents[2]


def send(client, openid=ALICE, client_msg_id="job-1", data=REMINDER, **fields):
    return client.send_template(
        openid,
        fields.get("template_id", simulator.DEMO_TEMPLATE_ID),
        fields.get("url", "https://example.com/prs/7"),
        data,
        client_msg_id,
    )


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Sending


def test_a_send_answers_the_msgid_as_an_exact_string(wechat_sim, wechat_client):
    msgid = send(wechat_client)

    [message] = wechat_sim.inbox(ALICE)
    assert msgid == message["msgid"]
    assert int(msgid) > 2**53  # would lose digits as a float
    assert message["data"]["thing1"] == "羽毛球双打"
    assert message["url"] == "https://example.com/prs/7"


def test_first_remark_and_colours_are_dropped_without_an_error(
    wechat_sim, wechat_client
):
    data = {
        **REMINDER,
        "first": {"value": "您好"},
        "remark": {"value": "谢谢"},
        "thing1": {"value": "羽毛球双打", "color": "#ff0000"},
    }

    send(wechat_client, data=data)

    [message] = wechat_sim.inbox(ALICE)
    assert set(message["data"]) == {"thing1", "time2", "thing3", "phrase4"}


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (-1, ErrorKind.TRANSIENT),
        (45009, ErrorKind.TRANSIENT),
        (45011, ErrorKind.TRANSIENT),
        (43117, ErrorKind.TRANSIENT),
        (40241, ErrorKind.DUPLICATE),
        (43019, ErrorKind.PERMANENT),
        (40249, ErrorKind.PERMANENT),
        (43116, ErrorKind.PERMANENT),
        (48001, ErrorKind.PERMANENT),
        (47001, ErrorKind.PERMANENT),
    ],
)
def test_each_send_error_of_wechat_has_its_kind(
    wechat_sim, wechat_client, errcode, kind
):
    wechat_sim.fail("send", openid=ALICE, errcode=errcode)

    with pytest.raises(WeChatError) as raised:
        send(wechat_client)

    assert raised.value.errcode == errcode
    assert raised.value.kind == kind
    assert wechat_sim.inbox() == []


def test_a_person_who_does_not_follow_the_account_is_permanent_43004(
    wechat_sim, wechat_client
):
    wechat_sim.add_person("o-lurker", following=False)

    with pytest.raises(WeChatError) as raised:
        send(wechat_client, openid="o-lurker")

    assert (raised.value.errcode, raised.value.kind) == (43004, ErrorKind.PERMANENT)
    assert raised.value.message == "require subscribe"


def test_an_openid_unknown_to_the_account_is_permanent_40003(wechat_sim, wechat_client):
    with pytest.raises(WeChatError) as raised:
        send(wechat_client, openid="o-from-another-app")

    assert (raised.value.errcode, raised.value.kind) == (40003, ErrorKind.PERMANENT)


@pytest.mark.parametrize(
    ("template_id", "errcode"), [("no-such-template", 40037), ("", 40036)]
)
def test_a_bad_template_id_is_permanent(
    wechat_sim, wechat_client, template_id, errcode
):
    with pytest.raises(WeChatError) as raised:
        send(wechat_client, template_id=template_id)

    assert (raised.value.errcode, raised.value.kind) == (errcode, ErrorKind.PERMANENT)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("thing1", "一" * 21, "argument invalid! data.thing1.value invalid"),
        ("phrase4", "soon", "argument invalid! data.phrase4.value invalid"),
        ("phrase4", "马上就要开始", "argument invalid! data.phrase4.value invalid"),
        ("time2", "7pm tomorrow", "argument invalid! data.time2.value invalid"),
        ("thing3", "", "argument invalid! data.thing3.value is empty"),
    ],
)
def test_a_value_that_breaks_its_type_is_permanent_47003(
    wechat_sim, wechat_client, key, value, message
):
    data = {**REMINDER, key: {"value": value}}

    with pytest.raises(WeChatError) as raised:
        send(wechat_client, data=data)

    assert (raised.value.errcode, raised.value.kind) == (47003, ErrorKind.PERMANENT)
    assert raised.value.message == message


def test_the_error_message_loses_its_rid_suffix(wechat_sim, wechat_client):
    wechat_sim.fail("send", errcode=-1)

    with pytest.raises(WeChatError) as raised:
        send(wechat_client)

    assert raised.value.message == "system error"
    assert "rid" not in str(raised.value)


def test_an_http_5xx_from_a_gateway_is_transient(wechat_sim, wechat_client):
    wechat_sim.fail("send", http_status=502)

    with pytest.raises(WeChatError) as raised:
        send(wechat_client)

    assert raised.value.kind == ErrorKind.TRANSIENT
    assert raised.value.errcode is None


def test_wechat_out_of_reach_is_transient(wechat_sim, settings):
    settings.WECHAT_API_BASE = closed_port_url()

    with pytest.raises(WeChatError) as raised:
        send(get_client())

    assert raised.value.kind == ErrorKind.TRANSIENT
    assert raised.value.message == "ConnectionError calling /cgi-bin/stable_token"


def test_a_timeout_after_delivery_and_a_retry_with_the_same_id_deliver_once(
    wechat_sim, wechat_client, settings
):
    send(wechat_client, openid=BOB, client_msg_id="warm-up")  # token in the cache
    settings.WECHAT_READ_TIMEOUT = 0.5
    client = get_client()
    wechat_sim.fail("send", openid=ALICE, delay=5.0)

    with pytest.raises(WeChatError) as raised:
        send(client, client_msg_id="job-42-T-2h")
    retried_msgid = send(client, client_msg_id="job-42-T-2h")

    assert raised.value.kind == ErrorKind.TRANSIENT
    assert raised.value.message == "ReadTimeout calling /cgi-bin/message/template/send"
    [message] = wechat_sim.inbox(ALICE)
    assert message["msgid"] == retried_msgid


def test_another_client_msg_id_is_another_message(wechat_sim, wechat_client):
    send(wechat_client, client_msg_id="job-1")
    send(wechat_client, client_msg_id="job-2")

    assert len(wechat_sim.inbox(ALICE)) == 2


# The access token


def test_a_hundred_sends_cost_one_token_fetch(wechat_sim, wechat_client):
    for number in range(100):
        send(wechat_client, client_msg_id=f"job-{number}")

    assert wechat_sim.calls()["stable_token"] == 1
    assert len(wechat_sim.inbox(ALICE)) == 100


def test_threads_needing_a_token_at_once_fetch_it_once(wechat_sim, wechat_client):
    start = threading.Barrier(8)
    tokens = []

    def fetch():
        start.wait()
        tokens.append(wechat_client.access_token())

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert wechat_sim.calls()["stable_token"] == 1
    assert len(set(tokens)) == 1


def test_the_token_is_refreshed_five_minutes_before_it_expires(
    wechat_sim, wechat_client, clock
):
    send(wechat_client, client_msg_id="first")
    first_token = wechat_client.access_token()

    clock.advance(timedelta(seconds=7200 - 301))
    wechat_sim.advance(7200 - 301)
    send(wechat_client, client_msg_id="still-cached")
    calls_before_the_window = wechat_sim.calls()["stable_token"]

    clock.advance(timedelta(seconds=2))
    wechat_sim.advance(2)
    send(wechat_client, client_msg_id="refreshed")

    assert calls_before_the_window == 1
    assert wechat_sim.calls()["stable_token"] == 2
    assert wechat_client.access_token() != first_token
    assert len(wechat_sim.inbox(ALICE)) == 3


def test_a_token_invalidated_by_wechat_is_refreshed_once_and_the_send_succeeds(
    wechat_sim, wechat_client
):
    send(wechat_client, client_msg_id="before")
    wechat_sim.invalidate_tokens()

    send(wechat_client, client_msg_id="after")

    assert wechat_sim.calls() | {"token": 0} == {
        "token": 0,
        "stable_token": 2,
        "send": 3,  # before, after refused, after retried
        "oauth_exchange": 0,
    }
    assert len(wechat_sim.inbox(ALICE)) == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_second_token_error_in_a_row_is_raised_instead_of_looping(
    wechat_sim, wechat_client, errcode
):
    wechat_sim.fail("send", errcode=errcode, times=None)

    with pytest.raises(WeChatError) as raised:
        send(wechat_client)

    assert (raised.value.errcode, raised.value.kind) == (errcode, ErrorKind.TOKEN)
    calls = wechat_sim.calls()
    assert (calls["send"], calls["stable_token"]) == (2, 2)


def test_a_wrong_secret_at_the_token_endpoint_is_permanent(wechat_sim, settings):
    settings.WECHAT_APP_SECRET = "not-the-secret"

    with pytest.raises(WeChatError) as raised:
        send(get_client())

    assert (raised.value.errcode, raised.value.kind) == (40125, ErrorKind.PERMANENT)
    assert wechat_sim.calls()["send"] == 0


def test_40001_from_the_token_endpoint_is_not_a_token_to_refresh(
    wechat_sim, wechat_client
):
    # From the token endpoint 40001 means a wrong secret (WECHAT.md §1.2).
    wechat_sim.fail("stable_token", errcode=40001)

    with pytest.raises(WeChatError) as raised:
        wechat_client.access_token()

    assert raised.value.kind == ErrorKind.PERMANENT
    assert wechat_sim.calls()["stable_token"] == 1


def test_a_busy_token_endpoint_is_transient(wechat_sim, wechat_client):
    wechat_sim.fail("stable_token", errcode=-1)

    with pytest.raises(WeChatError) as raised:
        send(wechat_client)

    assert raised.value.kind == ErrorKind.TRANSIENT


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_sharing_a_cache_share_one_token(wechat_sim, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "wechat_test_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    send(get_client(), client_msg_id="from-this-process")

    other = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", SEND_FROM_ANOTHER_PROCESS],
        cwd=ROOT,
        env=environment_for_another_process(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert other.returncode == 0, other.stderr
    assert wechat_sim.calls()["stable_token"] == 1
    msgids = {message["msgid"] for message in wechat_sim.inbox(ALICE)}
    assert other.stdout.strip() in msgids
    assert len(msgids) == 2


SEND_FROM_ANOTHER_PROCESS = """
import django
django.setup()
from reminders.wechat.client import get_client
from tests.reminders.test_wechat_client import REMINDER, send
print(send(get_client(), client_msg_id="from-another-process"))
"""


def environment_for_another_process() -> dict:
    database = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@"
            f"{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "CACHE_URL": "dbcache://wechat_test_cache",
        "WECHAT_API_BASE": settings.WECHAT_API_BASE,
        "WECHAT_OAUTH_BASE": settings.WECHAT_OAUTH_BASE,
        "WECHAT_APP_ID": settings.WECHAT_APP_ID,
        "WECHAT_APP_SECRET": settings.WECHAT_APP_SECRET,
    }


# OAuth and logs


def test_an_oauth_code_gives_the_openid_once(wechat_sim, wechat_client):
    authorize = wechat_client.authorize_url("https://example.com/back", "s1")
    code = code_from(wechat_sim.consent(authorize, ALICE))

    identity = wechat_client.exchange_oauth_code(code)
    with pytest.raises(WeChatError) as raised:
        wechat_client.exchange_oauth_code(code)

    assert identity.openid == ALICE
    assert identity.is_snapshot_user is False
    assert (raised.value.errcode, raised.value.kind) == (40163, ErrorKind.PERMANENT)


def code_from(location: str) -> str:
    return location.split("code=")[1].split("&")[0]


def test_no_secret_full_token_or_full_openid_reaches_the_logs(
    wechat_sim, wechat_client, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    authorize = wechat_client.authorize_url("https://example.com/back", "s1")
    code = code_from(wechat_sim.consent(authorize, ALICE))

    wechat_client.exchange_oauth_code(code)
    send(wechat_client)
    wechat_sim.invalidate_tokens()
    send(wechat_client, client_msg_id="after-invalidation")
    settings.WECHAT_API_BASE = closed_port_url()
    with pytest.raises(WeChatError):
        get_client().exchange_oauth_code("any")

    logged = caplog.text
    assert "wechat access token refused" in logged
    assert settings.WECHAT_APP_SECRET not in logged
    assert wechat_client.access_token() not in logged
    assert ALICE not in logged
