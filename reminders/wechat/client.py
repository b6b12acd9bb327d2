"""The one way out to the WeChat API: access token, template messages, OAuth.

Every call goes through `WeChatClient._request`, which has explicit connect and read
timeouts and turns every failure into one exception, `WeChatError`, whose `kind`
tells the caller what to do (shared/WECHAT.md §1.3, §2.3, §6.3):

- `token`: the access token was refused. The client has already dropped it,
  fetched a new one and retried once; seeing this kind means the retry failed too.
- `transient`: try again later with the same `client_msg_id` (WeChat busy, quota,
  network errors, timeouts, HTTP 5xx).
- `permanent`: retrying will not help (the user does not follow the account, bad
  openid, template or data rejected, wrong configuration).
- `duplicate`: WeChat saw the same message within a minute; treat it as sent.

The access token is shared through Django's cache, so every process that shares the
cache shares one token. No secret and no full token is ever logged.
"""

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache

from config import clock

from . import shorten

logger = logging.getLogger(__name__)

# WeChat's stable token is handed out again until five minutes before it expires,
# then replaced; refreshing in that window always picks up the replacement.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)


class ErrorKind(StrEnum):
    TOKEN = "token"  # noqa: S105 (the kind of error, not a credential)
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    DUPLICATE = "duplicate"


TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
TRANSIENT_ERRCODES = frozenset({-1, 45009, 45011, 43117})
DUPLICATE_ERRCODES = frozenset({40241})

# WeChat appends a request id (" rid: ...") or, in older answers, a hint to every
# errmsg; it differs on every call and means nothing to a reader of our logs.
_ERRMSG_SUFFIX = re.compile(r"[\s,;]*\b(?:rid|hint):.*\Z", re.DOTALL)


class WeChatError(Exception):
    """A WeChat call that did not succeed.

    `errcode` is WeChat's code, or None when no answer came back (network error,
    timeout, HTTP error). `message` is WeChat's errmsg without its `rid` suffix.
    """

    def __init__(self, kind: ErrorKind, message: str, errcode: int | None = None):
        self.kind = kind
        self.message = message
        self.errcode = errcode
        super().__init__(f"{kind} errcode={errcode}: {message}")


def classify(errcode: int, *, with_access_token: bool) -> ErrorKind:
    """The kind of a non-zero errcode.

    Only calls that carry an access token can fail because of it: from the token
    endpoint itself, 40001 means a wrong secret, which no refresh can fix.
    """
    if errcode in TRANSIENT_ERRCODES:
        return ErrorKind.TRANSIENT
    if with_access_token and errcode in TOKEN_ERRCODES:
        return ErrorKind.TOKEN
    if with_access_token and errcode in DUPLICATE_ERRCODES:
        return ErrorKind.DUPLICATE
    return ErrorKind.PERMANENT


def strip_rid(errmsg: str) -> str:
    return _ERRMSG_SUFFIX.sub("", errmsg).strip()


def fingerprint(token: str) -> str:
    """A short, stable name for a token in log lines, which never carry the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class WeChatConfig:
    app_id: str
    app_secret: str
    api_base: str
    oauth_base: str
    connect_timeout: float
    read_timeout: float

    @classmethod
    def from_settings(cls) -> "WeChatConfig":
        return cls(
            app_id=settings.WECHAT_APP_ID,
            app_secret=settings.WECHAT_APP_SECRET,
            api_base=settings.WECHAT_API_BASE.rstrip("/"),
            oauth_base=settings.WECHAT_OAUTH_BASE.rstrip("/"),
            connect_timeout=settings.WECHAT_CONNECT_TIMEOUT,
            read_timeout=settings.WECHAT_READ_TIMEOUT,
        )


@dataclass(frozen=True)
class OAuthIdentity:
    """Who came back from WeChat's OAuth page."""

    openid: str
    scope: str
    # A snapshot page (快照页) gives a virtual openid that must never be bound to
    # an account (WECHAT.md §6.3).
    is_snapshot_user: bool


# Threads of one process refresh the token one at a time; the others wait and then
# find the new token in the cache.
_token_refresh_lock = threading.Lock()


class WeChatClient:
    def __init__(self, config: WeChatConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()

    # Access token

    def access_token(self) -> str:
        """The account's access token, from the shared cache or freshly fetched.

        Processes that share the cache share the token. Two processes that find the
        cache empty at the same moment both fetch, which is harmless: stable_token
        in normal mode answers every caller with the same token.
        """
        token = self._cached_token()
        if token is not None:
            return token

        with _token_refresh_lock:
            token = self._cached_token()
            if token is None:
                token = self._fetch_token()
        return token

    def _token_cache_key(self) -> str:
        return f"wechat:access-token:{self.config.app_id}"

    def _cached_token(self) -> str | None:
        entry = cache.get(self._token_cache_key())
        if not entry or clock.now().timestamp() >= entry["refresh_at"]:
            return None
        return entry["token"]

    def _fetch_token(self) -> str:
        # Normal mode only: force_refresh would invalidate the token that every
        # other process is using.
        body = {
            "grant_type": "client_credential",
            "appid": self.config.app_id,
            "secret": self.config.app_secret,
        }
        result = self._request(
            "POST", self.config.api_base, "/cgi-bin/stable_token", json_body=body
        )
        token = result.get("access_token")
        expires_in = result.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatError(ErrorKind.TRANSIENT, "stable_token answered no token")

        # Refresh five minutes early, when WeChat has the replacement ready. A token
        # that comes with less time than that is kept for half of it, so that no
        # answer can make every call fetch again. `refresh_at` follows the
        # application clock, so tests move past it without waiting.
        lifetime = timedelta(seconds=expires_in)
        keep_for = max(lifetime - TOKEN_REFRESH_MARGIN, lifetime / 2)
        refresh_at = clock.now() + keep_for
        cache.set(
            self._token_cache_key(),
            {"token": token, "refresh_at": refresh_at.timestamp()},
            timeout=max(expires_in, 1),
        )
        logger.info(
            "wechat access token fetched appid=%s token=%s expires_in=%s",
            self.config.app_id,
            fingerprint(token),
            expires_in,
        )
        return token

    def _forget_token(self, token: str) -> None:
        # Compare before deleting: another process may already have stored a newer
        # token, and dropping that one would cost everybody another fetch.
        key = self._token_cache_key()
        entry = cache.get(key)
        if entry and entry["token"] == token:
            cache.delete(key)

    def _call_with_token(self, method: str, path: str, *, json_body=None) -> dict:
        def call(token: str) -> dict:
            return self._request(
                method,
                self.config.api_base,
                path,
                params={"access_token": token},
                json_body=json_body,
            )

        token = self.access_token()
        try:
            return call(token)
        except WeChatError as error:
            if error.kind != ErrorKind.TOKEN:
                raise
            logger.warning(
                "wechat access token refused path=%s errcode=%s token=%s; "
                "fetching a new one",
                path,
                error.errcode,
                fingerprint(token),
            )
            self._forget_token(token)

        # Retry once only: a fresh token refused again is not a stale token, and
        # looping would hammer the token endpoint.
        return call(self.access_token())

    # Template messages

    def send_template(
        self, openid: str, template_id: str, url: str, data: dict, client_msg_id: str
    ) -> str:
        """Send a template message; answer WeChat's msgid as a string.

        Success means WeChat *accepted* the message: whether it reached the person
        arrives later as a TEMPLATESENDJOBFINISH event carrying the same msgid.
        Resend after a `transient` error with the same `client_msg_id`, so that a
        message that did go out before the error is not delivered twice.
        """
        body = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id

        result = self._call_with_token(
            "POST", "/cgi-bin/message/template/send", json_body=body
        )

        # msgids exceed 2**53, so they stay strings from here on. A message held for
        # review is accepted without one.
        msgid = result.get("msgid")
        logger.debug(
            "wechat template accepted openid=%s msgid=%s client_msg_id=%s",
            shorten(openid),
            msgid,
            client_msg_id,
        )
        return "" if msgid is None else str(msgid)

    # Web OAuth (snsapi_base)

    def authorize_url(
        self, redirect_uri: str, state: str, scope: str = "snsapi_base"
    ) -> str:
        # WeChat matches this link strictly: the parameters in this order and the
        # #wechat_redirect fragment, or the page breaks inside WeChat.
        return (
            f"{self.config.oauth_base}/connect/oauth2/authorize"
            f"?appid={quote(self.config.app_id, safe='')}"
            f"&redirect_uri={quote(redirect_uri, safe='')}"
            f"&response_type=code&scope={scope}&state={state}#wechat_redirect"
        )

    def exchange_oauth_code(self, code: str) -> OAuthIdentity:
        """Trade the single-use code from the OAuth redirect for the person's openid.

        A code works once and for five minutes: 40029 and 40163 are `permanent`,
        and the way forward is a new trip through the authorize page.
        """
        params = {
            "appid": self.config.app_id,
            "secret": self.config.app_secret,
            "code": code,
            "grant_type": "authorization_code",
        }
        result = self._request(
            "GET", self.config.api_base, "/sns/oauth2/access_token", params=params
        )
        openid = result.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatError(ErrorKind.PERMANENT, "the code exchange gave no openid")
        return OAuthIdentity(
            openid=openid,
            scope=str(result.get("scope", "")),
            is_snapshot_user=str(result.get("is_snapshotuser", "")) == "1",
        )

    # HTTP

    def _request(
        self, method: str, base: str, path: str, *, params=None, json_body=None
    ) -> dict:
        data = None
        headers = {}
        if json_body is not None:
            # Chinese goes out as UTF-8 rather than \u escapes, the way WeChat's
            # own examples send it.
            data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"

        try:
            response = self.session.request(
                method,
                base + path,
                params=params,
                data=data,
                headers=headers,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.RequestException as error:
            # Keep the type only: the exception's text holds the URL, whose query
            # carries the app secret or the access token.
            raise WeChatError(
                ErrorKind.TRANSIENT, f"{type(error).__name__} calling {path}"
            ) from None

        with_access_token = params is not None and "access_token" in params
        return self._read_answer(path, response, with_access_token=with_access_token)

    def _read_answer(self, path: str, response, *, with_access_token: bool) -> dict:
        status = response.status_code
        if status >= 500 or status == 429:
            raise WeChatError(ErrorKind.TRANSIENT, f"HTTP {status} from {path}")
        if status != 200:
            raise WeChatError(ErrorKind.PERMANENT, f"HTTP {status} from {path}")

        # WeChat's Content-Type is not reliable; the body is JSON in UTF-8.
        try:
            result = json.loads(response.content.decode("utf-8"), strict=False)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise WeChatError(ErrorKind.TRANSIENT, f"unreadable answer from {path}")

        # WeChat answers errors with HTTP 200 and a non-zero errcode.
        errcode = _as_int(result.get("errcode", 0))
        if errcode != 0:
            raise WeChatError(
                classify(errcode, with_access_token=with_access_token),
                strip_rid(str(result.get("errmsg", ""))),
                errcode,
            )
        return result


def _as_int(value) -> int:
    # An errcode that is not a number is treated like WeChat's -1, "system error".
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


_shared_client: WeChatClient | None = None
_shared_client_lock = threading.Lock()


def get_client() -> WeChatClient:
    """The process's client for the current settings, reusing its connections.

    A change of settings (tests point the client at a simulator on a new port)
    gives a new client.
    """
    global _shared_client
    config = WeChatConfig.from_settings()
    with _shared_client_lock:
        if _shared_client is None or _shared_client.config != config:
            if _shared_client is not None:
                _shared_client.session.close()
            _shared_client = WeChatClient(config)
        return _shared_client
