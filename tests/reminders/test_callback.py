"""The Official Account's callback URL: handshake, signatures, delivery receipts."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client

from jobs import runner
from prs import services as prs_services
from reminders import callback
from reminders.models import NotificationDelivery
from reminders.wechat.signature import sign
from reminders.wechat.simulator import DEMO_CALLBACK_TOKEN

URL = "/wechat/callback"


@pytest.fixture(autouse=True)
def token(settings):
    settings.WECHAT_CALLBACK_TOKEN = DEMO_CALLBACK_TOKEN


def signed(token=DEMO_CALLBACK_TOKEN, timestamp="1714036504", nonce="1514711492"):
    return {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


def receipt_xml(msgid, status, create_time=1764554400):
    return (
        "<xml><ToUserName><![CDATA[gh_demo00000000]]></ToUserName>"
        "<FromUserName><![CDATA[o-demo-alice]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status></xml>"
    ).encode()


def push(body, query=None):
    query = signed() if query is None else query
    return Client().post(f"{URL}?{urlencode(query)}", body, content_type="text/xml")


@pytest.fixture
def sent(db, make_pr, make_user):
    """A delivery that WeChat accepted with msgid 200163836."""
    user = make_user("alice", wechat_openid="o-demo-alice")
    return NotificationDelivery.objects.create(
        pr=make_pr(),
        user=user,
        reminder_type="T-2h",
        scheduled_at=datetime(2026, 12, 1, tzinfo=UTC),
        result="SENT",
        job_id=1,
        wechat_msg_id="200163836",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_the_handshake_echoes_echostr_with_a_good_signature(db):
    response = Client().get(
        URL, {**signed(token="AAAAA"), "echostr": "4375120948345356249"}
    )

    assert response.status_code == 403  # signed with another token

    response = Client().get(URL, {**signed(), "echostr": "4375120948345356249"})

    assert response.status_code == 200
    assert response.content == b"4375120948345356249"


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"signature": "0" * 40, "timestamp": "1714036504", "nonce": "1514711492"},
        {**signed(), "nonce": "another-nonce"},
        {**signed(), "signature": "é" * 40},
    ],
    ids=["unsigned", "forged", "tampered", "not-ascii"],
)
def test_a_push_with_a_bad_signature_is_refused_and_changes_nothing(sent, query):
    response = push(receipt_xml("200163836", "success"), query)

    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.receipt_status == ""


def test_the_callback_is_404_while_no_token_is_configured(db, settings):
    settings.WECHAT_CALLBACK_TOKEN = ""

    assert Client().get(URL, signed()).status_code == 404


@pytest.mark.parametrize(
    "status",
    ["success", "failed:user block", "failed: system failed", "failed:freq limit"],
)
def test_a_receipt_is_stored_verbatim_with_its_time(sent, status):
    response = push(receipt_xml("200163836", status))

    assert (response.status_code, response.content) == (200, b"success")
    sent.refresh_from_db()
    assert sent.receipt_status == status
    assert sent.receipt_at == datetime.fromtimestamp(1764554400, tz=UTC)


def test_a_repeated_receipt_is_harmless(sent):
    for _ in range(3):
        assert push(receipt_xml("200163836", "success")).content == b"success"

    sent.refresh_from_db()
    assert sent.receipt_status == "success"


def test_a_receipt_for_an_unknown_message_is_acknowledged(sent, monkeypatch):
    monkeypatch.setattr(callback, "RECEIPT_WAIT_SECONDS", 0.05)

    response = push(receipt_xml("999", "success"))

    assert response.content == b"success"
    sent.refresh_from_db()
    assert sent.receipt_status == ""


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><MsgType><![CDATA[event]]></MsgType><Event>subscribe</Event></xml>",
        b"<xml><MsgType>text</MsgType><Content>hello</Content></xml>",
        b"not xml at all",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Event>&a;</Event></xml>',
    ],
    ids=["subscribe event", "text message", "garbage", "entity"],
)
def test_other_signed_pushes_are_acknowledged_and_ignored(sent, body):
    response = push(body)

    assert (response.status_code, response.content) == (200, b"success")
    sent.refresh_from_db()
    assert sent.receipt_status == ""


@pytest.mark.django_db(transaction=True)
def test_the_simulator_s_receipt_reaches_the_delivery_row(
    clock, wechat_sim, live_server, make_pr, alice
):
    wechat_sim.set_callback(f"{live_server.url}{URL}", DEMO_CALLBACK_TOKEN)
    wechat_sim.add_person("o-demo-alice", receipt="failed:user block")
    pr = make_pr(start_in=timedelta(hours=3))
    prs_services.join(pr.pk, alice)
    clock.set_now(pr.start_at - timedelta(hours=2))

    runner.tick()
    [event] = wechat_sim.flush_callbacks()

    row = NotificationDelivery.objects.get()
    assert event["msgid"] == row.wechat_msg_id
    assert (row.result, row.receipt_status) == ("SENT", "failed:user block")
    assert row.receipt_at is not None
