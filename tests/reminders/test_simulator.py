"""The simulator's own protocol behaviour, which every other WeChat test trusts.

These tests talk raw HTTP to it, the way WECHAT.md says the real API answers,
without the application's client in between.
"""

import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests

from reminders.wechat import signature, simulator

ALICE = "o-demo-alice"
RID = re.compile(r" rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\Z")
REMINDER = {
    "thing1": {"value": "羽毛球双打"},
    "time2": {"value": "2026-12-02 19:30"},
    "thing3": {"value": "朝阳体育中心"},
    "phrase4": {"value": "即将开始"},
}
ROOT = Path(__file__).resolve().parents[2]


class Api:
    """Raw HTTP to the simulator, as the real API would be spoken to."""

    def __init__(self, url):
        self.url = url

    def stable_token(self, **fields):
        body = {
            "grant_type": "client_credential",
            "appid": simulator.DEMO_APP_ID,
            "secret": simulator.DEMO_APP_SECRET,
            **fields,
        }
        return requests.post(f"{self.url}/cgi-bin/stable_token", json=body, timeout=5)

    def classic_token(self, **params):
        query = {
            "grant_type": "client_credential",
            "appid": simulator.DEMO_APP_ID,
            "secret": simulator.DEMO_APP_SECRET,
            **params,
        }
        return requests.get(f"{self.url}/cgi-bin/token", params=query, timeout=5)

    def token(self) -> str:
        return self.stable_token().json()["access_token"]

    def send(self, token, openid=ALICE, client_msg_id="", **fields):
        body = {
            "touser": openid,
            "template_id": simulator.DEMO_TEMPLATE_ID,
            "data": REMINDER,
            "client_msg_id": client_msg_id,
            **fields,
        }
        return requests.post(
            f"{self.url}/cgi-bin/message/template/send",
            params={"access_token": token},
            json=body,
            timeout=5,
        ).json()

    def authorize_url(self, state="s1", redirect_uri="https://app.example/back"):
        return (
            f"{self.url}/connect/oauth2/authorize?appid={simulator.DEMO_APP_ID}"
            f"&redirect_uri={redirect_uri}&response_type=code&scope=snsapi_base"
            f"&state={state}#wechat_redirect"
        )

    def exchange(self, code, **params):
        query = {
            "appid": simulator.DEMO_APP_ID,
            "secret": simulator.DEMO_APP_SECRET,
            "code": code,
            "grant_type": "authorization_code",
            **params,
        }
        return requests.get(
            f"{self.url}/sns/oauth2/access_token", params=query, timeout=5
        ).json()


@pytest.fixture
def api(wechat_sim):
    return Api(wechat_sim.url)


def errcode(answer: dict) -> int:
    return answer.get("errcode", 0)


# Errors


def test_errors_are_http_200_json_whose_errmsg_ends_in_a_rid(api):
    response = api.stable_token(secret="wrong")

    assert response.status_code == 200
    body = response.json()
    assert body["errcode"] == 40125
    assert body["errmsg"].startswith("invalid appsecret rid: ")
    assert RID.search(body["errmsg"])


def test_a_token_answer_has_no_errcode(api):
    body = api.stable_token().json()

    assert set(body) == {"access_token", "expires_in"}
    assert len(body["access_token"]) >= 64


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
        ({"grant_type": "password"}, 40002),
        ({"appid": "wx0123456789abcdef"}, 40013),
        ({"secret": "wrong"}, 40125),
    ],
)
def test_stable_token_checks_the_credentials(api, fields, expected):
    assert errcode(api.stable_token(**fields).json()) == expected


def test_stable_token_refuses_get(api, wechat_sim):
    body = requests.get(f"{wechat_sim.url}/cgi-bin/stable_token", timeout=5).json()

    assert body["errcode"] == 43002


# stable_token


def test_stable_token_answers_the_same_token_with_the_time_left(api, wechat_sim):
    first = api.stable_token().json()
    wechat_sim.advance(1000)

    second = api.stable_token().json()

    assert second["access_token"] == first["access_token"]
    assert first["expires_in"] == 7200
    assert second["expires_in"] == 6200


def test_stable_token_rotates_in_the_last_five_minutes_and_the_old_one_works_on(
    api, wechat_sim
):
    old = api.token()
    wechat_sim.advance(7200 - 300)

    new = api.stable_token().json()
    old_works = api.send(old, client_msg_id="old")
    wechat_sim.advance(300)
    old_expired = api.send(old, client_msg_id="old-later")
    new_works = api.send(new["access_token"], client_msg_id="new")

    assert new["access_token"] != old
    assert new["expires_in"] == 7200
    assert errcode(old_works) == 0
    assert errcode(old_expired) == 42001
    assert errcode(new_works) == 0


def test_a_token_past_its_lifetime_is_expired_42001(api, wechat_sim):
    token = api.token()
    wechat_sim.advance(7200)

    assert errcode(api.send(token)) == 42001


def test_force_refresh_rotates_at_most_once_in_30_seconds(api, wechat_sim):
    original = api.token()

    first = api.stable_token(force_refresh=True).json()["access_token"]
    wechat_sim.advance(10)
    too_soon = api.stable_token(force_refresh=True).json()["access_token"]
    wechat_sim.advance(20)
    second = api.stable_token(force_refresh=True).json()["access_token"]

    assert first != original
    assert too_soon == first
    assert second != first
    # Two force refreshes: the leaked original is dead at once.
    assert errcode(api.send(original)) == 40001
    assert errcode(api.send(first, client_msg_id="grace")) == 0


def test_force_refresh_is_limited_to_20_a_day(api, wechat_sim):
    tokens = set()
    for _ in range(21):
        tokens.add(api.stable_token(force_refresh=True).json()["access_token"])
        wechat_sim.advance(31)

    assert len(tokens) == 20


# cgi-bin/token


def test_the_classic_token_endpoint_mints_a_token_per_call(api):
    first = api.classic_token().json()["access_token"]
    second = api.classic_token().json()["access_token"]
    third = api.classic_token().json()["access_token"]

    assert len({first, second, third}) == 3
    assert errcode(api.send(second, client_msg_id="a")) == 0
    assert errcode(api.send(first, client_msg_id="b")) == 40001


def test_a_superseded_classic_token_works_five_minutes_more(api, wechat_sim):
    first = api.classic_token().json()["access_token"]
    api.classic_token()

    wechat_sim.advance(299)
    within = api.send(first, client_msg_id="a")
    wechat_sim.advance(1)
    after = api.send(first, client_msg_id="b")

    assert (errcode(within), errcode(after)) == (0, 40001)


def test_the_two_token_endpoints_do_not_invalidate_each_other(api):
    stable = api.token()

    api.classic_token()
    api.classic_token()

    assert api.token() == stable
    assert errcode(api.send(stable)) == 0


# Template send


@pytest.mark.parametrize(
    ("token", "expected"), [("", 41001), ("garbage", 40014), ("x" * 128, 40001)]
)
def test_a_send_checks_the_access_token(api, token, expected):
    assert errcode(api.send(token)) == expected


def test_an_invalidated_token_is_refused_and_a_new_one_issued(api, wechat_sim):
    old = api.token()
    wechat_sim.invalidate_tokens()

    refused = api.send(old)
    new = api.token()

    assert errcode(refused) == 40001
    assert new != old
    assert errcode(api.send(new)) == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"touser": "o-stranger"}, 40003),
        ({"template_id": ""}, 40036),
        ({"template_id": "unknown"}, 40037),
        ({"data": "thing1=x"}, 47001),
        ({"url": "https://example.com/" + "x" * 1024}, 40039),
    ],
)
def test_a_send_checks_recipient_template_and_body(api, fields, expected):
    assert errcode(api.send(api.token(), **fields)) == expected


def test_a_body_that_is_not_json_is_47001(api, wechat_sim):
    response = requests.post(
        f"{wechat_sim.url}/cgi-bin/message/template/send",
        params={"access_token": api.token()},
        data=b"{not json",
        timeout=5,
    )

    assert response.json()["errcode"] == 47001


def test_a_person_who_does_not_follow_gets_43004(api, wechat_sim):
    wechat_sim.add_person("o-lurker", following=False)

    answer = api.send(api.token(), openid="o-lurker")

    assert answer["errcode"] == 43004
    assert answer["errmsg"].startswith("require subscribe rid: ")


def test_the_same_client_msg_id_within_ten_minutes_is_delivered_once(api, wechat_sim):
    token = api.token()
    first = api.send(token, client_msg_id="job-7")
    wechat_sim.advance(599)
    again = api.send(token, client_msg_id="job-7")
    wechat_sim.advance(1)
    later = api.send(token, client_msg_id="job-7")

    assert first == {"errcode": 0, "errmsg": "ok", "msgid": first["msgid"]}
    assert again["msgid"] == first["msgid"]
    assert later["msgid"] != first["msgid"]
    assert len(wechat_sim.inbox(ALICE)) == 2


def test_msgids_are_int64_json_numbers(api):
    answer = api.send(api.token())

    assert isinstance(answer["msgid"], int)
    assert answer["msgid"] > 2**53


def test_a_scripted_failure_happens_the_number_of_times_asked(api, wechat_sim):
    token = api.token()
    wechat_sim.fail("send", openid=ALICE, errcode=-1, times=2)

    answers = [errcode(api.send(token, client_msg_id=str(n))) for n in range(3)]
    bob = api.send(token, openid="o-demo-bob")

    assert answers == [-1, -1, 0]
    assert errcode(bob) == 0


def test_a_scripted_delay_answers_late_after_delivering(api, wechat_sim):
    token = api.token()
    wechat_sim.fail("send", delay=5)

    with pytest.raises(requests.Timeout):
        requests.post(
            f"{wechat_sim.url}/cgi-bin/message/template/send",
            params={"access_token": token},
            json={
                "touser": ALICE,
                "template_id": simulator.DEMO_TEMPLATE_ID,
                "data": REMINDER,
            },
            timeout=(2, 0.2),
        )

    assert len(wechat_sim.inbox(ALICE)) == 1


def test_latency_holds_a_send_back_before_its_message_is_delivered(api, wechat_sim):
    token = api.token()
    wechat_sim.set_latency("send", 0.3)
    asked = time.time()

    api.send(token)

    (message,) = wechat_sim.inbox(ALICE)
    assert message["sent_at"] - asked >= 0.3


@pytest.mark.parametrize("seconds", [-1, 61, "1", True, None])
def test_latency_outside_its_range_is_refused(wechat_sim, seconds):
    response = requests.post(
        f"{wechat_sim.url}/_sim/latency",
        json={"endpoint": "send", "seconds": seconds},
        timeout=5,
    )

    assert response.status_code == 400


def test_reset_forgets_everything(api, wechat_sim):
    api.send(api.token())
    wechat_sim.add_person("o-new")
    wechat_sim.fail("send", errcode=-1, times=None)

    wechat_sim.reset()

    assert wechat_sim.inbox() == []
    assert wechat_sim.calls() == {
        "token": 0,
        "stable_token": 0,
        "send": 0,
        "oauth_exchange": 0,
    }
    assert errcode(api.send(api.token(), openid="o-new")) == 40003
    assert errcode(api.send(api.token(), client_msg_id="after")) == 0


# Template value rules (WECHAT.md §4.2)


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("thing1", "二十个字以内的活动名称", True),
        ("thing1", "x" * 20, True),
        ("thing1", "x" * 21, False),
        ("phrase3", "即将开始", True),
        ("phrase3", "明天", True),
        ("phrase3", "已经马上开始", False),
        ("phrase3", "开始2", False),
        ("time2", "2026-12-02 19:30", True),
        ("time2", "2026年12月2日 19:30", True),
        ("time2", "19:30", True),
        ("time2", "2026-12-02 19:30~21:00", True),
        ("time2", "24:00", False),
        ("time2", "7:30 PM", False),
        ("date4", "2026-12-02", True),
        ("character_string5", "PR-0007", True),
        ("character_string5", "活动7", False),
        ("number6", "12.5", True),
        ("number6", "12a", False),
        ("amount7", "￥12.50元", True),
        ("letter8", "abc", True),
        ("symbol9", "~!", True),
        ("name10", "张三", True),
        ("car_number11", "京A12345", True),
        ("phone_number12", "+86-0766-66888866", True),
    ],
)
def test_values_are_checked_by_the_type_of_their_key(key, value, valid):
    assert simulator.value_is_valid(key, value) is valid


# OAuth


def test_the_consent_page_offers_the_demo_people(api, wechat_sim):
    page = requests.get(api.authorize_url(), timeout=5)

    assert page.status_code == 200
    for openid in simulator.DEMO_FOLLOWERS:
        assert f'value="{openid}"' in page.text
    assert "拒绝" in page.text


@pytest.mark.parametrize(
    "query",
    [
        "redirect_uri=x&appid={appid}&response_type=code&scope=snsapi_base&state=s",
        "appid={appid}&redirect_uri=x&response_type=code&scope=snsapi_login&state=s",
        "appid=wx0&redirect_uri=x&response_type=code&scope=snsapi_base&state=s",
        "appid={appid}&redirect_uri=x&response_type=code&scope=snsapi_base&state=a-b",
    ],
)
def test_the_authorize_page_refuses_a_malformed_link(wechat_sim, query):
    url = f"{wechat_sim.url}/connect/oauth2/authorize?"
    url += query.format(appid=simulator.DEMO_APP_ID)

    page = requests.get(url, timeout=5)

    assert page.status_code == 400
    assert "错误码" in page.text


def test_consent_redirects_with_a_code_and_the_state(api, wechat_sim):
    location = wechat_sim.consent(api.authorize_url(state="abc123"), ALICE)

    url = urlsplit(location)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://app.example/back"
    assert query["state"] == ["abc123"]
    assert len(query["code"][0]) >= 16


def test_refused_consent_redirects_with_the_state_and_no_code(api, wechat_sim):
    location = wechat_sim.consent(api.authorize_url(state="abc123"), deny=True)

    assert location == "https://app.example/back?state=abc123"


def test_a_code_works_once(api, wechat_sim):
    code = parse_qs(urlsplit(wechat_sim.consent(api.authorize_url(), ALICE)).query)

    first = api.exchange(code["code"][0])
    second = api.exchange(code["code"][0])

    assert first["openid"] == ALICE
    assert first["scope"] == "snsapi_base"
    assert "is_snapshotuser" not in first
    assert second["errcode"] == 40163


def test_a_code_expires_after_five_minutes(api, wechat_sim):
    code = parse_qs(urlsplit(wechat_sim.consent(api.authorize_url(), ALICE)).query)
    wechat_sim.advance(300)

    assert api.exchange(code["code"][0])["errcode"] == 40029


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"code": "never-issued"}, 40029),
        ({"code": ""}, 41008),
        ({"grant_type": "client_credential"}, 40002),
        ({"secret": "wrong"}, 40125),
    ],
)
def test_the_code_exchange_checks_its_parameters(api, params, expected):
    params = {"code": "never-issued", **params}

    assert api.exchange(**params)["errcode"] == expected


def test_after_a_system_error_the_same_code_is_used(api, wechat_sim):
    wechat_sim.fail("oauth", errcode=-1)
    code = parse_qs(urlsplit(wechat_sim.consent(api.authorize_url(), ALICE)).query)

    first = api.exchange(code["code"][0])
    retry = api.exchange(code["code"][0])

    assert (first["errcode"], retry["errcode"]) == (-1, 40163)


def test_a_snapshot_page_gives_a_virtual_openid(api, wechat_sim):
    location = wechat_sim.consent(api.authorize_url(), ALICE, snapshot=True)

    answer = api.exchange(parse_qs(urlsplit(location).query)["code"][0])

    assert answer["is_snapshotuser"] == 1
    assert answer["openid"] != ALICE


def test_a_typed_openid_new_to_the_account_does_not_follow_it(api, wechat_sim):
    location = wechat_sim.consent(api.authorize_url(), "o-walk-in")
    api.exchange(parse_qs(urlsplit(location).query)["code"][0])

    assert api.send(api.token(), openid="o-walk-in")["errcode"] == 43004


def test_the_typed_openid_form_can_make_a_follower(api, wechat_sim):
    link = dict(parse_qsl(urlsplit(api.authorize_url()).query))
    form = {**link, "typed": "1", "openid": "o-walk-in", "following": "on"}

    response = requests.post(
        f"{wechat_sim.url}/connect/oauth2/authorize",
        data=form,
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 302
    assert errcode(api.send(api.token(), openid="o-walk-in")) == 0


# The delivery event pushed to the app (WECHAT.md §3)


class Receiver:
    """A stand-in for the app's /wechat/callback that records what it is sent."""

    def __init__(self, answer=b"success", status=200):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.requests.append((self.path, self.rfile.read(length)))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wechat/callback"
        threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(**options):
        made.append(Receiver(**options))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_an_accepted_message_is_followed_by_a_signed_event(api, wechat_sim, receiver):
    app = receiver()
    wechat_sim.set_callback(app.url, "callbackToken1")

    msgid = api.send(api.token())["msgid"]
    [event] = wechat_sim.flush_callbacks()

    [(path, body)] = app.requests
    query = {name: values[0] for name, values in parse_qs(urlsplit(path).query).items()}
    assert signature.verify(
        "callbackToken1", query["signature"], query["timestamp"], query["nonce"]
    )
    assert query["openid"] == ALICE
    xml = body.decode()
    assert f"<MsgID>{msgid}</MsgID>" in xml
    assert "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>" in xml
    assert f"<FromUserName><![CDATA[{ALICE}]]></FromUserName>" in xml
    assert "<Status><![CDATA[success]]></Status>" in xml
    assert event | {"create_time": 0} == {
        "msgid": str(msgid),
        "openid": ALICE,
        "status": "success",
        "create_time": 0,
        "url": app.url,
        "attempts": 1,
        "acknowledged": True,
    }


@pytest.mark.parametrize(
    ("person", "status"),
    [
        ({"blocked": True}, "failed:user block"),
        ({"receipt": "failed: system failed"}, "failed: system failed"),
        ({"receipt": "failed:freq limit"}, "failed:freq limit"),
    ],
)
def test_the_event_carries_wechat_status_strings_byte_for_byte(
    api, wechat_sim, receiver, person, status
):
    app = receiver()
    wechat_sim.set_callback(app.url, "callbackToken1")
    wechat_sim.add_person("o-someone", **person)

    answer = api.send(api.token(), openid="o-someone")
    wechat_sim.flush_callbacks()

    assert errcode(answer) == 0
    [(_, body)] = app.requests
    assert f"<Status><![CDATA[{status}]]></Status>".encode() in body


def test_an_event_not_acknowledged_is_tried_three_times(api, wechat_sim, receiver):
    app = receiver(answer=b"oops", status=500)
    wechat_sim.set_callback(app.url, "callbackToken1")

    api.send(api.token())
    [event] = wechat_sim.flush_callbacks()

    assert len(app.requests) == 3
    assert (event["attempts"], event["acknowledged"]) == (3, False)


def test_an_empty_answer_acknowledges_the_event(api, wechat_sim, receiver):
    app = receiver(answer=b"")
    wechat_sim.set_callback(app.url, "callbackToken1")

    api.send(api.token())
    [event] = wechat_sim.flush_callbacks()

    assert (event["attempts"], event["acknowledged"]) == (1, True)


def test_no_event_is_pushed_while_no_callback_is_set(api, wechat_sim):
    api.send(api.token())

    [event] = wechat_sim.flush_callbacks()

    assert (event["url"], event["attempts"]) == (None, 0)


# Pages and the command


def test_the_inbox_page_shows_the_messages(api, wechat_sim):
    api.send(api.token())

    page = requests.get(f"{wechat_sim.url}/inbox", timeout=5)

    assert page.status_code == 200
    assert "羽毛球双打" in page.text
    assert ALICE in page.text


def test_the_command_serves_the_simulator_until_terminated():
    process = subprocess.Popen(
        [sys.executable, "manage.py", "wechat_simulator", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", started).group()
        token = Api(url).stable_token().json()
    finally:
        process.terminate()
        stopped, _ = process.communicate(timeout=10)

    assert "access_token" in token
    assert stopped.strip() == (
        "WeChat simulator stopped: 0 sends, 0 messages accepted, "
        "1 token calls, 0 logins"
    )


def test_the_control_interface_is_under_one_prefix():
    for method, path in simulator.ROUTES:
        assert path.startswith(("/cgi-bin/", "/sns/", "/connect/", "/_sim/")) or (
            path in ("/", "/inbox")
        ), (method, path)
