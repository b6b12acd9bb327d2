"""A local WeChat Official Account API, faithful enough to test the real client.

The real API cannot be reached from our machines, so `make run` and every test talk
HTTP to this instead. It keeps to the protocol of shared/WECHAT.md: errors as HTTP
200 JSON whose errmsg ends in a `rid`; stable_token's same-token answer, rotation in
the last five minutes and force refresh; GET cgi-bin/token minting a new token per
call; template sends checked like WeChat checks them (40003, 43004, 40036, 40037,
47003) with `client_msg_id` dedupe; single-use, five-minute OAuth codes; and, after
each accepted message, a signed TEMPLATESENDJOBFINISH pushed to the app's callback
URL from another thread.

One port serves both hosts the app talks to (WECHAT_API_BASE and
WECHAT_OAUTH_BASE), two pages for people (the OAuth consent page and `/inbox`) and
a control interface under `/_sim/` that scripts failures, moves the simulator's
clock and reads what was delivered. `SimulatorHandle` wraps the control interface
for tests. The module uses the standard library only and no Django, so it runs the
same in a test's thread and as `manage.py wechat_simulator`.
"""

import html
import http.client
import json
import logging
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import shorten
from .signature import sign

logger = logging.getLogger(__name__)

# The demo account that `make run` and the tests use. Real app ids are "wx" and 16
# hex digits and never contain a dash, so these cannot be mistaken for real ones.
DEMO_APP_ID = "wx-demo-app-id"
DEMO_APP_SECRET = "demo-app-secret-not-for-production"  # noqa: S105 (public demo)
DEMO_TEMPLATE_ID = "demo-reminder-template"
DEMO_CALLBACK_TOKEN = "demoCallbackToken"  # noqa: S105 (public demo)
DEMO_ORIGINAL_ID = "gh_demo00000000"
# The people of prs/management/commands/load_demo.py, all following the account.
DEMO_FOLLOWERS = (
    "o-demo-alice",
    "o-demo-bob",
    "o-demo-carol",
    "o-demo-dan",
    "o-demo-org",
)
# A category template (类目模板) for activity reminders: the key's prefix is its
# type and decides how WeChat checks the value (WECHAT.md §4.2).
DEMO_TEMPLATE_KEYS = ("thing1", "time2", "thing3", "phrase4")

TOKEN_LIFETIME = 7200
ROTATION_WINDOW = 300  # stable_token hands out a new token in the last 5 minutes
SUPERSEDED_GRACE = 300  # a replaced token keeps working this long
FORCE_REFRESH_GAP = 30
FORCE_REFRESHES_PER_DAY = 20
TOKEN_CALLS_PER_DAY = 2000
DEDUPE_WINDOW = 600  # same openid + client_msg_id within 10 minutes: sent once
CODE_LIFETIME = 300
CALLBACK_TIMEOUT = 5
CALLBACK_ATTEMPTS = 3

ERRMSGS = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40036: "invalid template_id size",
    40037: "invalid template_id",
    40039: "invalid url size",
    40125: "invalid appsecret",
    40163: "code been used",
    40241: "The message is duplicate in 60 seconds",
    40249: "this template msg has been blocked for illegal content",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43002: "require POST method",
    43004: "require subscribe",
    43019: "require remove blacklist",
    43116: "This template_id is banned",
    43117: "Sending messages to this openid too frequently,please try later",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}

# The authorize page's own errors, shown to the person rather than returned.
AUTHORIZE_ERRORS = {
    10005: "此公众号并没有这些 scope 的权限",
    10010: "scope 不能为空",
    10011: "redirect_uri 不能为空",
    10012: "appid 不能为空",
    10016: "不支持此 appid",
    # [assumption] not a WeChat code: the simulator's own "malformed link".
    10099: "参数错误",
}

AUTHORIZE_PARAMETERS = ("appid", "redirect_uri", "response_type", "scope", "state")
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATE = re.compile(r"[A-Za-z0-9]{0,128}")


class SimError(Exception):
    """A WeChat error answer: HTTP 200, `errcode`, and an errmsg ending in a rid."""

    def __init__(self, errcode: int, detail: str = ""):
        self.errcode = errcode
        self.errmsg = f"{ERRMSGS.get(errcode, 'error')}{detail}"
        super().__init__(f"{errcode} {self.errmsg}")

    def body(self) -> dict:
        rid = "-".join(secrets.token_hex(4) for _ in range(3))
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {rid}"}


class AuthorizeError(Exception):
    """An error of the authorize page, which WeChat shows to the person."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        self.text = f"{AUTHORIZE_ERRORS[code]}{detail}"
        super().__init__(f"{code} {self.text}")


class HttpFault(Exception):
    """A scripted failure below WeChat's protocol: a gateway answering 5xx."""

    def __init__(self, status: int):
        self.status = status
        super().__init__(f"HTTP {status}")


# Template values (WECHAT.md §4.2): the type is the key's prefix, "thing1" -> thing.

_DATE = (
    r"\d{4}(?:-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2}|\.\d{1,2}\.\d{1,2}"
    r"|年\d{1,2}月\d{1,2}日)"
)
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_TIME = re.compile(rf"(?:{_DATE}\s*)?{_CLOCK}|{_DATE}")
_DATE_ONLY = re.compile(rf"{_DATE}(?:\s*{_CLOCK})?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _is_han(text: str) -> bool:
    return all(_HAN.fullmatch(ch) for ch in text)


def _ranged(pattern: re.Pattern, value: str) -> bool:
    # A range is two values joined by "~", e.g. "2026-12-01 19:00~21:00".
    return all(pattern.fullmatch(part.strip()) for part in value.split("~", 1))


def _name_ok(value: str) -> bool:
    if _HAN.search(value):
        return len(value) <= 10
    return len(value) <= 20 and not any(ch.isdigit() for ch in value)


def _car_number_ok(value: str) -> bool:
    middle = value[1:-1]
    return len(value) <= 8 and middle.isascii() and middle.isalnum()


VALUE_RULES = {
    "thing": lambda v: len(v) <= 20,
    "short_thing": lambda v: len(v) <= 5,
    "number": lambda v: (
        re.fullmatch(r"\d+(?:\.\d+)?", v) is not None
        and sum(ch.isdigit() for ch in v) <= 32
    ),
    "letter": lambda v: re.fullmatch(r"[A-Za-z]{1,32}", v) is not None,
    "symbol": lambda v: len(v) <= 5 and not any(c.isalnum() or c.isspace() for c in v),
    "character_string": lambda v: len(v) <= 32 and v.isascii() and v.isprintable(),
    "time": lambda v: _ranged(_TIME, v),
    "date": lambda v: _ranged(_DATE_ONLY, v),
    "amount": lambda v: (
        re.fullmatch(r"[¥￥$]?\d{1,10}(?:\.\d{1,2})?元?", v) is not None
    ),
    "phone_number": lambda v: re.fullmatch(r"[0-9+\-() ]{1,17}", v) is not None,
    "car_number": _car_number_ok,
    "name": _name_ok,
    "phrase": lambda v: len(v) <= 5 and _is_han(v),
    "const": lambda v: len(v) <= 20,
}


def value_is_valid(key: str, value: str) -> bool:
    kind = re.sub(r"\d+$", "", key)
    rule = VALUE_RULES.get(kind)
    return rule is None or rule(value)


# State


@dataclass
class Token:
    value: str
    expires_at: float
    usable_until: float
    revoked: bool = False


class TokenLine:
    """The tokens of one endpoint: the current one and the one it replaced.

    stable_token and cgi-bin/token keep separate lines: minting on one never
    invalidates the other's tokens.
    """

    def __init__(self):
        self.current: Token | None = None
        self.previous: Token | None = None

    def issue(self, now: float) -> Token:
        if self.current is not None:
            self.current.usable_until = min(
                self.current.usable_until, now + SUPERSEDED_GRACE
            )
        self.previous = self.current
        self.current = Token(
            value=secrets.token_urlsafe(96),
            expires_at=now + TOKEN_LIFETIME,
            usable_until=now + TOKEN_LIFETIME,
        )
        return self.current

    def is_stale(self, now: float) -> bool:
        current = self.current
        return (
            current is None
            or current.revoked
            or now >= current.expires_at - ROTATION_WINDOW
        )

    def check(self, value: str, now: float) -> int | None:
        """0 for a usable token, WeChat's errcode for a refused one, None if unknown."""
        for token in (self.current, self.previous):
            if token is None or token.value != value:
                continue
            superseded = token.usable_until < token.expires_at
            if token.revoked or (superseded and now >= token.usable_until):
                return 40001
            if now >= token.expires_at:
                return 42001
            return 0
        return None

    def revoke(self) -> None:
        for token in (self.current, self.previous):
            if token is not None:
                token.revoked = True


@dataclass
class Person:
    openid: str
    following: bool = True
    # Refuses the account's messages (拒收): the send succeeds, the event says so.
    blocked: bool = False
    # Opens pages in snapshot mode: OAuth gives a virtual openid.
    snapshot: bool = False
    # Forces the status of the TEMPLATESENDJOBFINISH event, e.g. "failed:freq limit".
    receipt: str | None = None


@dataclass
class Fault:
    """A scripted failure for one endpoint, for one openid or for everyone."""

    endpoint: str  # "send", "stable_token", "token" or "oauth"
    openid: str | None = None
    errcode: int | None = None
    http_status: int | None = None
    # Seconds to hold the answer back after the work is done; longer than the
    # client's read timeout, it makes a delivered message look failed.
    delay: float = 0.0
    remaining: int | None = 1  # None: every time


@dataclass
class Message:
    msgid: int
    openid: str
    template_id: str
    url: str
    data: dict
    client_msg_id: str
    sent_at: float
    status: str


@dataclass
class Code:
    value: str
    openid: str
    scope: str
    snapshot: bool
    issued_at: float
    used: bool = False


@dataclass
class CallbackEvent:
    msgid: int
    openid: str
    status: str
    create_time: int
    url: str | None
    attempts: int = 0
    acknowledged: bool = False


@dataclass
class Answer:
    body: dict
    delay: float = 0.0


@dataclass
class SimulatorConfig:
    """What the simulator starts with and returns to on reset."""

    app_id: str = DEMO_APP_ID
    app_secret: str = DEMO_APP_SECRET
    original_id: str = DEMO_ORIGINAL_ID
    callback_url: str | None = None
    callback_token: str = DEMO_CALLBACK_TOKEN
    followers: tuple[str, ...] = DEMO_FOLLOWERS
    templates: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {DEMO_TEMPLATE_ID: DEMO_TEMPLATE_KEYS}
    )


class Simulator:
    """The WeChat side: tokens, people, templates, messages and OAuth codes.

    Every method takes the one lock, so the server's threads see a consistent
    state. Protocol methods raise `SimError` for WeChat's error answers.
    """

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.lock = threading.RLock()
        self.pusher = CallbackPusher(self.lock, self.now)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.callback_url = self.config.callback_url
            self.callback_token = self.config.callback_token
            self.clock_offset = 0.0
            self.stable = TokenLine()
            self.classic = TokenLine()
            self.force_refreshes: list[float] = []
            self.token_calls: list[float] = []
            self.people = {openid: Person(openid) for openid in self.config.followers}
            self.templates = dict(self.config.templates)
            self.faults: list[Fault] = []
            # Seconds a request to an endpoint spends on its way in, before any
            # of its work is done (the network between the app and WeChat), and
            # the touser of each send on its way in now.
            self.latency: dict[str, float] = {}
            self.in_flight: list[str] = []
            self.messages: list[Message] = []
            self.events: list[CallbackEvent] = []
            self.codes: dict[str, Code] = {}
            self.calls = dict.fromkeys(
                ("token", "stable_token", "send", "oauth_exchange"), 0
            )
            self.next_msgid = 3_700_000_000_000_000_000 + secrets.randbelow(10**6)
            # Answers held back by a fault wake up at once when the state resets.
            previous = getattr(self, "wakeup", None)
            self.wakeup = threading.Event()
        if previous is not None:
            previous.set()

    def now(self) -> float:
        return time.time() + self.clock_offset

    # Access tokens

    def classic_token(self, query: dict) -> Answer:
        with self.lock:
            self.calls["token"] += 1
            self._check_credentials(query, grant_type="client_credential")
            fault = self._take_fault("token", None)
            now = self.now()
            self.token_calls = [t for t in self.token_calls if now - t < 86400]
            if len(self.token_calls) >= TOKEN_CALLS_PER_DAY:
                raise SimError(45009)
            self.token_calls.append(now)

            # Every call mints a token; the one before keeps working 5 minutes.
            token = self.classic.issue(now)
            return Answer(
                {"access_token": token.value, "expires_in": TOKEN_LIFETIME},
                fault.delay if fault else 0.0,
            )

    def stable_token(self, body: dict) -> Answer:
        with self.lock:
            self.calls["stable_token"] += 1
            self._check_credentials(body, grant_type="client_credential")
            fault = self._take_fault("stable_token", None)
            now = self.now()

            if body.get("force_refresh") is True and self._may_force_refresh(now):
                self.stable.issue(now)
            elif self.stable.is_stale(now):
                self.stable.issue(now)

            token = self.stable.current
            expires_in = round(token.expires_at - now)
            return Answer(
                {"access_token": token.value, "expires_in": expires_in},
                fault.delay if fault else 0.0,
            )

    def _may_force_refresh(self, now: float) -> bool:
        # Over 20 a day, or within 30 s of the last one, nothing rotates.
        today = [t for t in self.force_refreshes if now - t < 86400]
        if len(today) >= FORCE_REFRESHES_PER_DAY:
            return False
        if today and now - today[-1] < FORCE_REFRESH_GAP:
            return False
        self.force_refreshes = [*today, now]
        return True

    def _check_credentials(self, params: dict, *, grant_type: str) -> None:
        if not params.get("appid"):
            raise SimError(41002)
        if not params.get("secret"):
            raise SimError(41004)
        if params.get("grant_type") != grant_type:
            raise SimError(40002)
        if params["appid"] != self.config.app_id:
            raise SimError(40013)
        if params["secret"] != self.config.app_secret:
            raise SimError(40125)

    def _check_access_token(self, value: str | None) -> None:
        if not value:
            raise SimError(41001)
        now = self.now()
        for line in (self.stable, self.classic):
            errcode = line.check(value, now)
            if errcode == 0:
                return
            if errcode is not None:
                raise SimError(errcode)
        # Something we never issued: malformed looks invalid, well-formed looks old.
        raise SimError(40014 if len(value) < 64 else 40001)

    # Template messages

    def send_template(self, access_token: str | None, raw_body: bytes) -> Answer:
        with self.lock:
            self.calls["send"] += 1
            self._check_access_token(access_token)
            body = _json_object(raw_body)
            openid = body.get("touser")
            fault = self._take_fault("send", openid)

            person = self.people.get(openid) if isinstance(openid, str) else None
            if person is None:
                raise SimError(40003)
            if not person.following:
                raise SimError(43004)
            template_id = body.get("template_id")
            if not isinstance(template_id, str) or not template_id:
                raise SimError(40036)
            keys = self.templates.get(template_id)
            if keys is None:
                raise SimError(40037)
            data = self._checked_data(keys, body.get("data"))
            url = body.get("url") or ""
            if not isinstance(url, str) or len(url) > 1024:
                raise SimError(40039)

            client_msg_id = str(body.get("client_msg_id") or "")
            duplicate = self._recent_duplicate(openid, client_msg_id)
            if duplicate is not None:
                message = duplicate
            else:
                message = self._deliver(person, template_id, url, data, client_msg_id)

            return Answer(
                {"errcode": 0, "errmsg": "ok", "msgid": message.msgid},
                fault.delay if fault else 0.0,
            )

    def _checked_data(self, keys: tuple[str, ...], data) -> dict:
        # first, remark, colours and unknown keys are dropped without an error,
        # as WeChat has done since May 2023.
        if not isinstance(data, dict):
            raise SimError(47001)
        checked = {}
        for key in keys:
            entry = data.get(key)
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise SimError(47003, f" data.{key}.value is empty")
            if not value_is_valid(key, value):
                raise SimError(47003, f" data.{key}.value invalid")
            checked[key] = value
        return checked

    def _recent_duplicate(self, openid: str, client_msg_id: str) -> Message | None:
        if not client_msg_id:
            return None
        now = self.now()
        for message in reversed(self.messages):
            if now - message.sent_at >= DEDUPE_WINDOW:
                return None
            if message.openid == openid and message.client_msg_id == client_msg_id:
                return message
        return None

    def _deliver(self, person, template_id, url, data, client_msg_id) -> Message:
        self.next_msgid += 1
        status = person.receipt or (
            "failed:user block" if person.blocked else "success"
        )
        message = Message(
            msgid=self.next_msgid,
            openid=person.openid,
            template_id=template_id,
            url=url,
            data=data,
            client_msg_id=client_msg_id,
            sent_at=self.now(),
            status=status,
        )
        self.messages.append(message)
        logger.info(
            "simulator accepted template openid=%s msgid=%s status=%s",
            shorten(person.openid),
            message.msgid,
            status,
        )

        event = CallbackEvent(
            msgid=message.msgid,
            openid=person.openid,
            status=status,
            create_time=int(self.now()),
            url=self.callback_url,
        )
        self.events.append(event)
        if event.url:
            self.pusher.push(event, self.callback_token, self.config.original_id)
        return message

    # Web OAuth

    def check_authorize(self, params: list[tuple[str, str]]) -> dict:
        """The authorize link's parameters, or `AuthorizeError` for its page."""
        names = [name for name, _ in params]
        query = dict(params)
        if not query.get("appid"):
            raise AuthorizeError(10012)
        if query["appid"] != self.config.app_id:
            raise AuthorizeError(10016)
        if not query.get("redirect_uri"):
            raise AuthorizeError(10011)
        if not query.get("scope"):
            raise AuthorizeError(10010)
        if query["scope"] not in ("snsapi_base", "snsapi_userinfo"):
            raise AuthorizeError(10005)
        # [assumption] WeChat matches the link strictly; the simulator insists on
        # the documented order and state's alphabet, to catch a client that drifts.
        if names[: len(AUTHORIZE_PARAMETERS)] != list(AUTHORIZE_PARAMETERS):
            order = ", ".join(AUTHORIZE_PARAMETERS)
            raise AuthorizeError(10099, f"：参数顺序应为 {order}")
        if query["response_type"] != "code":
            raise AuthorizeError(10099, "：response_type 应为 code")
        if not STATE.fullmatch(query["state"]):
            raise AuthorizeError(10099, "：state 只能是最多 128 个字母或数字")
        return query

    def consent(
        self, query: dict, openid: str, *, snapshot: bool, following: bool | None
    ) -> str:
        """A person agreed on the authorize page: the code for the redirect.

        OAuth works for people who do not follow the account, so an openid the
        account has not seen yet becomes a person who does not follow it (unless
        the page said otherwise); messages to them fail with 43004.
        """
        with self.lock:
            person = self.people.setdefault(openid, Person(openid, following=False))
            if following is not None:
                person.following = following
            code = Code(
                value=secrets.token_hex(16),
                openid=openid,
                scope=query["scope"],
                snapshot=snapshot or person.snapshot,
                issued_at=self.now(),
            )
            self.codes[code.value] = code
            return code.value

    def exchange_code(self, query: dict) -> Answer:
        with self.lock:
            self.calls["oauth_exchange"] += 1
            if not query.get("appid"):
                raise SimError(41002)
            if not query.get("secret"):
                raise SimError(41004)
            if not query.get("code"):
                raise SimError(41008)
            if query.get("grant_type") != "authorization_code":
                raise SimError(40002)
            if query["appid"] != self.config.app_id:
                raise SimError(40013)
            if query["secret"] != self.config.app_secret:
                raise SimError(40125)

            code = self.codes.get(query["code"])
            if code is None or self.now() - code.issued_at >= CODE_LIFETIME:
                raise SimError(40029)
            if code.used:
                raise SimError(40163)
            # Used even when a fault answers instead: after a -1, WeChat answers
            # the retry with the same code 40163 [observed].
            code.used = True
            fault = self._take_fault("oauth", code.openid)
            return Answer(self._oauth_answer(code), fault.delay if fault else 0.0)

    def _oauth_answer(self, code: Code) -> dict:
        answer = {
            "access_token": secrets.token_urlsafe(64),
            "expires_in": TOKEN_LIFETIME,
            "refresh_token": secrets.token_urlsafe(64),
            "openid": code.openid,
            "scope": code.scope,
        }
        if code.snapshot:
            # The openid of a snapshot page is virtual: a stranger to the account.
            answer["openid"] = "o-snapshot-" + secrets.token_hex(8)
            answer["is_snapshotuser"] = 1
        return answer

    # Control

    def _take_fault(self, endpoint: str, openid) -> Fault | None:
        for fault in self.faults:
            if fault.endpoint != endpoint or fault.openid not in (None, openid):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
            if fault.http_status is not None:
                raise HttpFault(fault.http_status)
            if fault.errcode is not None:
                raise SimError(fault.errcode)
            return fault
        return None

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def set_latency(self, endpoint: str, seconds: float) -> None:
        with self.lock:
            self.latency[endpoint] = seconds

    def add_person(self, person: Person) -> None:
        with self.lock:
            self.people[person.openid] = person

    def add_template(self, template_id: str, keys: tuple[str, ...]) -> None:
        with self.lock:
            self.templates[template_id] = tuple(keys)

    def invalidate_tokens(self) -> None:
        with self.lock:
            self.stable.revoke()
            self.classic.revoke()

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += seconds

    def set_callback(self, url: str | None, token: str | None) -> None:
        with self.lock:
            self.callback_url = url or None
            if token is not None:
                self.callback_token = token

    def inbox(self, openid: str | None = None) -> list[dict]:
        with self.lock:
            return [
                {**asdict(message), "msgid": str(message.msgid)}
                for message in self.messages
                if openid in (None, message.openid)
            ]

    def event_list(self) -> list[dict]:
        with self.lock:
            return [
                {**asdict(event), "msgid": str(event.msgid)} for event in self.events
            ]


# The push of TEMPLATESENDJOBFINISH to the app


def event_xml(original_id: str, event: CallbackEvent) -> bytes:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{original_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{event.openid}]]></FromUserName>"
        f"<CreateTime>{event.create_time}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{event.msgid}</MsgID>"
        f"<Status><![CDATA[{event.status}]]></Status>"
        "</xml>"
    ).encode()


class CallbackPusher:
    """Pushes delivery events to the app from one background thread, in order.

    Like WeChat, it waits up to 5 s for `success` or an empty body and tries three
    times in all. `wait_idle` lets a test wait for the pushes instead of sleeping.
    """

    def __init__(self, lock, now):
        self.lock = lock
        self.now = now
        self.queue: queue.Queue = queue.Queue()
        self.pending = 0
        self.idle = threading.Condition()
        self.thread = threading.Thread(
            target=self._run, name="wechat-sim-callbacks", daemon=True
        )
        self.thread.start()

    def push(self, event: CallbackEvent, token: str, original_id: str) -> None:
        with self.idle:
            self.pending += 1
        self.queue.put((event, token, original_id))

    def wait_idle(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.pending == 0, timeout)

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=CALLBACK_TIMEOUT)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                self._deliver(*item)
            except Exception:
                logger.exception("simulator callback push crashed")
            finally:
                with self.idle:
                    self.pending -= 1
                    self.idle.notify_all()

    def _deliver(self, event: CallbackEvent, token: str, original_id: str) -> None:
        body = event_xml(original_id, event)
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            timestamp = str(int(self.now()))
            nonce = str(secrets.randbelow(10**10))
            query = urlencode(
                {
                    "signature": sign(token, timestamp, nonce),
                    "timestamp": timestamp,
                    "nonce": nonce,
                    "openid": event.openid,
                }
            )
            acknowledged = _post_event(f"{event.url}?{query}", body)
            with self.lock:
                event.attempts = attempt
                event.acknowledged = acknowledged
            if acknowledged:
                return
        logger.warning(
            "simulator callback not acknowledged msgid=%s url=%s attempts=%s",
            event.msgid,
            event.url,
            CALLBACK_ATTEMPTS,
        )


def _post_event(url: str, body: bytes) -> bool:
    """Whether the app acknowledged the event: HTTP 200 with `success` or nothing."""
    request = urllib.request.Request(  # noqa: S310 (an http URL from our own config)
        url, data=body, method="POST", headers={"Content-Type": "text/xml"}
    )
    try:
        with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT) as response:  # noqa: S310
            return response.read().strip() in (b"", b"success")
    except (OSError, http.client.HTTPException):
        # HTTPError (any status but 2xx) and timeouts are OSErrors too.
        return False


# HTTP


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Simulator):
        super().__init__(address, _Handler)
        self.simulator = simulator

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    server_version = "WeChatSimulator/1.0"

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def log_request(self, code="-", size="-"):
        # The path only: the query carries the app secret or the access token.
        logger.debug(
            "simulator request %s %s %s", self.command, urlsplit(self.path).path, code
        )

    def log_message(self, format, *args):
        logger.debug("simulator %s", format % args)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        route = ROUTES.get((method, url.path))
        self.sim = self.server.simulator
        self.params = parse_qsl(url.query, keep_blank_values=True)
        self.query = dict(self.params)
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        try:
            if route is None:
                self._unrouted(method, url.path)
            else:
                route(self)
        except SimError as error:
            # WeChat answers its errors with HTTP 200.
            self._json(error.body())
        except AuthorizeError as error:
            self._html(_error_page(error), status=400)
        except HttpFault as fault:
            page = f"<html>{fault.status} from the gateway</html>".encode()
            self._send(fault.status, page, "text/html")
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (a scripted delay); the work is done.
            pass
        except Exception:
            logger.exception("simulator failed on %s %s", method, url.path)
            self._send(500, b"simulator error", "text/plain")

    def _unrouted(self, method: str, path: str) -> None:
        if ("POST", path) in ROUTES:
            raise SimError(43002)
        self._send(404, b"not found", "text/plain")

    # Answers

    def _send(self, status: int, body: bytes, content_type: str, headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8")

    def _html(self, page: str, status: int = 200) -> None:
        self._send(status, page.encode("utf-8"), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", headers=[("Location", location)])

    def _arrive(self, endpoint: str) -> None:
        # Outside the lock: requests on their way in do not hold each other up.
        seconds = self.sim.latency.get(endpoint, 0.0)
        if not seconds:
            return
        try:
            openid = str(_json_object(self.raw_body).get("touser"))
        except SimError:
            openid = ""
        with self.sim.lock:
            self.sim.in_flight.append(openid)
        try:
            self.sim.wakeup.wait(seconds)
        finally:
            with self.sim.lock:
                if openid in self.sim.in_flight:
                    self.sim.in_flight.remove(openid)

    def _answer(self, answer: Answer) -> None:
        if answer.delay:
            self.sim.wakeup.wait(answer.delay)
        self._json(answer.body)

    def _body(self) -> dict:
        return _json_object(self.raw_body)

    # The API

    def token(self):
        self._answer(self.sim.classic_token(self.query))

    def stable_token(self):
        self._answer(self.sim.stable_token(self._body()))

    def send_template(self):
        self._arrive("send")
        token = self.query.get("access_token")
        self._answer(self.sim.send_template(token, self.raw_body))

    def exchange_code(self):
        self._answer(self.sim.exchange_code(self.query))

    def authorize_page(self):
        query = self.sim.check_authorize(self.params)
        with self.sim.lock:
            people = sorted(self.sim.people.values(), key=lambda p: p.openid)
        self._html(_consent_page(query, people))

    def authorize_decision(self):
        form = parse_qsl(self.raw_body.decode("utf-8"), keep_blank_values=True)
        decision = dict(form)
        query = self.sim.check_authorize(
            [(name, value) for name, value in form if name in AUTHORIZE_PARAMETERS]
        )

        if decision.get("decision") == "deny":
            # Refused consent: WeChat comes back with the state and no code.
            self._redirect(_with_query(query["redirect_uri"], state=query["state"]))
            return

        openid = decision.get("openid", "").strip()
        if not OPENID.fullmatch(openid):
            raise AuthorizeError(10099, "：openid 只能包含字母、数字、- 和 _")
        # The typed-openid form says whether that person follows the account.
        following = ("following" in decision) if "typed" in decision else None
        code = self.sim.consent(
            query, openid, snapshot="snapshot" in decision, following=following
        )
        self._redirect(
            _with_query(query["redirect_uri"], code=code, state=query["state"])
        )

    def inbox_page(self):
        openid = self.query.get("openid") or None
        self._html(_inbox_page(self.sim.inbox(openid), openid))

    def home(self):
        self._redirect("/inbox")

    # Control

    def control_reset(self):
        self.sim.reset()
        self._json({"ok": True})

    def control_fault(self):
        body = self._body()
        times = body.get("times", 1)
        self.sim.add_fault(
            Fault(
                endpoint=body.get("endpoint", "send"),
                openid=body.get("openid"),
                errcode=body.get("errcode"),
                http_status=body.get("http_status"),
                delay=float(body.get("delay", 0.0)),
                remaining=None if times is None else int(times),
            )
        )
        self._json({"ok": True})

    def control_latency(self):
        body = self._body()
        seconds = body.get("seconds")
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if body.get("endpoint") != "send" or not (number and 0 <= seconds <= 60):
            self._json({"error": "endpoint: send; seconds: 0 to 60"}, 400)
            return
        self.sim.set_latency("send", float(seconds))
        self._json({"ok": True})

    def control_person(self):
        body = self._body()
        openid = body.get("openid", "")
        if not OPENID.fullmatch(openid):
            self._json({"error": "openid: letters, digits, - and _ only"}, 400)
            return
        self.sim.add_person(
            Person(
                openid=openid,
                following=bool(body.get("following", True)),
                blocked=bool(body.get("blocked", False)),
                snapshot=bool(body.get("snapshot", False)),
                receipt=body.get("receipt"),
            )
        )
        self._json({"ok": True})

    def control_template(self):
        body = self._body()
        self.sim.add_template(body["template_id"], tuple(body["keys"]))
        self._json({"ok": True})

    def control_invalidate_tokens(self):
        self.sim.invalidate_tokens()
        self._json({"ok": True})

    def control_clock(self):
        self.sim.advance(float(self._body().get("advance", 0)))
        self._json({"now": self.sim.now()})

    def control_callback(self):
        body = self._body()
        self.sim.set_callback(body.get("url"), body.get("token"))
        self._json({"ok": True})

    def control_flush(self):
        timeout = float(self._body().get("timeout", 10))
        idle = self.sim.pusher.wait_idle(timeout)
        self._json({"idle": idle, "events": self.sim.event_list()})

    def control_in_flight(self):
        with self.sim.lock:
            self._json({"openids": list(self.sim.in_flight)})

    def control_inbox(self):
        self._json({"messages": self.sim.inbox(self.query.get("openid") or None)})

    def control_events(self):
        self._json({"events": self.sim.event_list()})

    def control_calls(self):
        with self.sim.lock:
            self._json({"calls": dict(self.sim.calls)})


ROUTES = {
    ("GET", "/cgi-bin/token"): _Handler.token,
    ("POST", "/cgi-bin/stable_token"): _Handler.stable_token,
    ("POST", "/cgi-bin/message/template/send"): _Handler.send_template,
    ("GET", "/sns/oauth2/access_token"): _Handler.exchange_code,
    ("GET", "/connect/oauth2/authorize"): _Handler.authorize_page,
    ("POST", "/connect/oauth2/authorize"): _Handler.authorize_decision,
    ("GET", "/"): _Handler.home,
    ("GET", "/inbox"): _Handler.inbox_page,
    ("POST", "/_sim/reset"): _Handler.control_reset,
    ("POST", "/_sim/faults"): _Handler.control_fault,
    ("POST", "/_sim/latency"): _Handler.control_latency,
    ("POST", "/_sim/people"): _Handler.control_person,
    ("POST", "/_sim/templates"): _Handler.control_template,
    ("POST", "/_sim/tokens/invalidate"): _Handler.control_invalidate_tokens,
    ("POST", "/_sim/clock"): _Handler.control_clock,
    ("POST", "/_sim/callback"): _Handler.control_callback,
    ("POST", "/_sim/callback/flush"): _Handler.control_flush,
    ("GET", "/_sim/inbox"): _Handler.control_inbox,
    ("GET", "/_sim/in-flight"): _Handler.control_in_flight,
    ("GET", "/_sim/events"): _Handler.control_events,
    ("GET", "/_sim/calls"): _Handler.control_calls,
}


def _with_query(url: str, **params) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{urlencode(params)}"


def _json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        raise SimError(47001) from None
    if not isinstance(body, dict):
        raise SimError(47001)
    return body


# Pages for people

_STYLE = """
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;background:#ededed;color:#191919}
main{max-width:480px;margin:0 auto;padding:16px}
h1{font-size:18px}.card{background:#fff;border-radius:8px;padding:16px;margin:12px 0}
button{font-size:16px;padding:10px;border:0;border-radius:6px;background:#07c160;
color:#fff;width:100%;margin:6px 0}button.deny{background:#f2f2f2;color:#191919}
input[type=text]{font-size:16px;padding:8px;width:100%;box-sizing:border-box}
.muted{color:#888;font-size:13px}dl{margin:8px 0}dt{color:#888;font-size:13px}
dd{margin:0 0 6px}
"""


def _page(title: str, body: str, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


def _hidden(query: dict) -> str:
    return "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query[name])}">'
        for name in AUTHORIZE_PARAMETERS
    )


def _consent_page(query: dict, people: list[Person]) -> str:
    hidden = _hidden(query)
    buttons = "".join(
        f'<button name="openid" value="{html.escape(p.openid)}">{html.escape(p.openid)}'
        f"{'' if p.following else '（未关注）'}</button>"
        for p in people
    )
    body = f"""
<p class="muted">模拟器：微信网页授权（{html.escape(query["scope"])}）。
选择以哪位微信用户的身份登录。</p>
<form method="post" class="card">{hidden}{buttons}
<label><input type="checkbox" name="snapshot"> 以快照页模式打开（虚拟 openid）</label>
</form>
<form method="post" class="card">{hidden}
<input type="hidden" name="typed" value="1">
<label>其他 openid
<input type="text" name="openid" required pattern="[A-Za-z0-9_-]{{1,64}}"></label>
<label><input type="checkbox" name="following" checked> 已关注公众号</label>
<button>以此 openid 登录</button>
</form>
<form method="post">{hidden}
<button class="deny" name="decision" value="deny">拒绝</button>
</form>
"""
    return _page("微信授权登录", body)


def _error_page(error: AuthorizeError) -> str:
    text = html.escape(error.text)
    return _page(
        "授权出错", f'<div class="card"><p>错误码 {error.code}：{text}</p></div>'
    )


def _inbox_page(messages: list[dict], openid: str | None) -> str:
    cards = []
    for message in reversed(messages):
        fields = "".join(
            f"<dt>{html.escape(key)}</dt><dd>{html.escape(value)}</dd>"
            for key, value in message["data"].items()
        )
        sent = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(message["sent_at"]))
        link = (
            f'<a href="{html.escape(message["url"])}">详情</a>'
            if message["url"]
            else ""
        )
        cards.append(
            f'<div class="card"><div class="muted">{html.escape(message["openid"])}'
            f" · {sent} · {html.escape(message['status'])}</div>"
            f"<dl>{fields}</dl>{link}</div>"
        )
    scope = f"（{html.escape(openid)}）" if openid else ""
    body = "".join(cards) or '<p class="muted">还没有消息。</p>'
    return _page(f"模拟器收件箱{scope}", body, refresh=True)


# Running it


class RunningSimulator:
    """A simulator serving from a background thread of this process (tests)."""

    def __init__(self, config: SimulatorConfig | None = None, host="127.0.0.1", port=0):
        self.simulator = Simulator(config)
        self.server = SimulatorServer((host, port), self.simulator)
        self.url = self.server.url
        self.handle = SimulatorHandle(self.url)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so that stop() returns at once
            name="wechat-simulator",
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        self.simulator.wakeup.set()
        self.server.shutdown()
        self.server.server_close()
        self.simulator.pusher.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class SimulatorHandle:
    """The control interface of a running simulator, over HTTP, for tests.

    Faults are scripted per endpoint ("send", "stable_token", "token", "oauth") and
    optionally per openid: an errcode or an HTTP status instead of the answer, or a
    delay after the work is done, `times` times (None: always).
    """

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._opener = urllib.request.build_opener(_NoRedirect)

    def reset(self) -> None:
        self._call("POST", "/_sim/reset")

    def fail(
        self,
        endpoint: str = "send",
        *,
        openid: str | None = None,
        errcode: int | None = None,
        http_status: int | None = None,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> None:
        self._call(
            "POST",
            "/_sim/faults",
            {
                "endpoint": endpoint,
                "openid": openid,
                "errcode": errcode,
                "http_status": http_status,
                "delay": delay,
                "times": times,
            },
        )

    def set_latency(self, endpoint: str, seconds: float) -> None:
        """Hold every request to `endpoint` ("send") `seconds` before its work."""
        self._call("POST", "/_sim/latency", {"endpoint": endpoint, "seconds": seconds})

    def in_flight(self) -> list[str]:
        """The openids of the sends held by latency now, on their way in."""
        return self._call("GET", "/_sim/in-flight")["openids"]

    def add_person(
        self,
        openid: str,
        *,
        following: bool = True,
        blocked: bool = False,
        snapshot: bool = False,
        receipt: str | None = None,
    ) -> None:
        self._call(
            "POST",
            "/_sim/people",
            {
                "openid": openid,
                "following": following,
                "blocked": blocked,
                "snapshot": snapshot,
                "receipt": receipt,
            },
        )

    def add_template(self, template_id: str, keys) -> None:
        self._call(
            "POST", "/_sim/templates", {"template_id": template_id, "keys": keys}
        )

    def invalidate_tokens(self) -> None:
        self._call("POST", "/_sim/tokens/invalidate")

    def advance(self, seconds: float) -> None:
        self._call("POST", "/_sim/clock", {"advance": seconds})

    def set_callback(self, url: str | None, token: str | None = None) -> None:
        self._call("POST", "/_sim/callback", {"url": url, "token": token})

    def flush_callbacks(self, timeout: float = 10.0) -> list[dict]:
        """Wait until every push has been answered (or given up); the events."""
        answer = self._call("POST", "/_sim/callback/flush", {"timeout": timeout})
        if not answer["idle"]:
            raise TimeoutError("the simulator's callback pushes did not finish")
        return answer["events"]

    def inbox(self, openid: str | None = None) -> list[dict]:
        path = "/_sim/inbox" + (f"?{urlencode({'openid': openid})}" if openid else "")
        return self._call("GET", path)["messages"]

    def events(self) -> list[dict]:
        return self._call("GET", "/_sim/events")["events"]

    def calls(self) -> dict:
        """How often each endpoint was called since the last reset."""
        return self._call("GET", "/_sim/calls")["calls"]

    def consent(
        self,
        authorize_url: str,
        openid: str = "",
        *,
        deny: bool = False,
        snapshot: bool = False,
    ) -> str:
        """Answer the consent page the way a person would; the redirect's Location.

        The link's fragment never reaches a server, as in a browser.
        """
        url = urlsplit(authorize_url)
        form = parse_qsl(url.query, keep_blank_values=True)
        if deny:
            form.append(("decision", "deny"))
        else:
            form.append(("openid", openid))
        if snapshot:
            form.append(("snapshot", "on"))

        request = urllib.request.Request(  # noqa: S310 (the simulator's own http URL)
            f"{self.url}{url.path}", data=urlencode(form).encode(), method="POST"
        )
        try:
            response = self._opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            if error.code == 302:
                return error.headers["Location"]
            raise
        raise AssertionError(
            f"the consent page answered {response.status}, no redirect"
        )

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the simulator's own http URL)
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with self._opener.open(request, timeout=10) as response:
            return json.loads(response.read())
