"""Logging in with WeChat (web OAuth, `snsapi_base`) and logging out.

`start` keeps a random `state` in the session and sends the browser to WeChat's
authorize page; WeChat comes back to `callback` with the same `state` and a
single-use `code`. The callback accepts a state once, trades the code for the
person's openid, and logs them in. Whatever goes wrong (consent refused, an old
link, a used code, WeChat down) ends on a page that says so and offers to try
again, never on a 500.
"""

import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from config.ratelimit import RateLimited, client_key, limit
from prs.services import user_for_openid

from .wechat import shorten
from .wechat.client import ErrorKind, WeChatError, get_client

logger = logging.getLogger(__name__)

SESSION_KEY = "wechat_login_states"
# A few logins may be under way at once (two tabs, a double tap); the oldest state
# is forgotten when a sixth starts.
PENDING_LOGINS = 5
HOME = "/"
USED_OR_EXPIRED_CODE = frozenset({40029, 40163, 42003})


@dataclass(frozen=True)
class Failure:
    status: int
    title: str
    explanation: str


FAILURES = {
    "denied": Failure(
        403,
        _("You did not allow the login"),
        _("Logging in needs you to tap “Allow” on WeChat's authorisation page."),
    ),
    "state": Failure(
        400,
        _("This login link has expired"),
        _(
            "The login request was already used or has expired: perhaps an old "
            "link was opened, or the browser went back a page."
        ),
    ),
    "code": Failure(
        400,
        _("WeChat's authorisation has expired"),
        _("The authorisation code from WeChat was already used or has expired."),
    ),
    "snapshot": Failure(
        403,
        _("Please use the full service"),
        _(
            "This is WeChat's snapshot (preview) page, which cannot tell who you "
            "are. Tap “Use the full service” at the bottom of the page, then log "
            "in again."
        ),
    ),
    "unavailable": Failure(
        502,
        _("WeChat cannot be reached right now"),
        _("WeChat's servers did not answer in time."),
    ),
    "not_configured": Failure(
        503,
        _("WeChat login is unavailable for now"),
        _("This site's WeChat login is misconfigured; we will fix it soon."),
    ),
    "inactive": Failure(
        403,
        _("This account is disabled"),
        _("An administrator has disabled your account."),
    ),
    "rate_limited": Failure(
        429,
        _("Too many attempts"),
        _("Too many logins from this network just now; wait a minute and try again."),
    ),
}


@never_cache
@require_GET
def start(request):
    next_path = safe_next(request.GET.get("next"))
    try:
        limit("login", client_key(request))
    except RateLimited as limited:
        return _failed(request, "rate_limited", next_path, limited.retry_after)
    if not settings.WECHAT_APP_ID:
        logger.error("wechat login refused: WECHAT_APP_ID is not set")
        return _failed(request, "not_configured", next_path)

    # Hex only: WeChat allows letters and digits in state, nothing else.
    state = secrets.token_hex(16)
    pending = request.session.get(SESSION_KEY, {})
    pending[state] = next_path
    request.session[SESSION_KEY] = dict(list(pending.items())[-PENDING_LOGINS:])

    authorize_url = get_client().authorize_url(_callback_url(request), state)
    return HttpResponseRedirect(authorize_url)


@never_cache
@require_GET
def callback(request):
    try:
        limit("login", client_key(request))
    except RateLimited as limited:
        return _failed(request, "rate_limited", retry_after=limited.retry_after)
    next_path = _take_pending_login(request, request.GET.get("state", ""))
    if next_path is None:
        return _failed(request, "state")
    code = request.GET.get("code")
    if not code:
        return _failed(request, "denied", next_path)

    try:
        identity = get_client().exchange_oauth_code(code)
    except WeChatError as error:
        return _failed(request, _failure_for(error), next_path)
    if identity.is_snapshot_user:
        logger.info("wechat login refused: snapshot page, virtual openid")
        return _failed(request, "snapshot", next_path)

    user = user_for_openid(identity.openid)
    if not user.is_active:
        return _failed(request, "inactive", next_path)
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")

    logger.info("wechat login user=%s openid=%s", user.pk, shorten(identity.openid))
    return HttpResponseRedirect(next_path)


@require_POST
def logout(request):
    auth_logout(request)
    return HttpResponseRedirect(safe_next(request.POST.get("next")))


def safe_next(candidate: str | None) -> str:
    """`candidate` when it is a path on this site, otherwise the home page.

    Absolute URLs, `//host`, backslashes that browsers read as slashes, and
    whitespace or control characters that browsers drop are all refused.
    """
    if (
        not candidate
        or not candidate.startswith("/")
        or any(ch.isspace() or not ch.isprintable() for ch in candidate)
        or not url_has_allowed_host_and_scheme(candidate, allowed_hosts=None)
    ):
        return HOME
    return candidate


def _callback_url(request) -> str:
    """Where WeChat sends the browser back: the host it is on, whose cookie holds
    the session. On the public host SITE_URL says it, with the scheme that a TLS
    proxy in front of us would hide from the request."""
    path = reverse("reminders:login-callback")
    if request.get_host() == urlsplit(settings.SITE_URL).netloc:
        return settings.SITE_URL + path
    return request.build_absolute_uri(path)


def _take_pending_login(request, state: str) -> str | None:
    """The `next` of the login that `state` belongs to; each state works once."""
    pending = request.session.get(SESSION_KEY) or {}
    if not state or state not in pending:
        return None
    next_path = pending.pop(state)
    request.session[SESSION_KEY] = pending
    return next_path


def _failure_for(error: WeChatError) -> str:
    if error.kind == ErrorKind.TRANSIENT:
        logger.warning("wechat login failed: wechat unavailable error=%s", error)
        return "unavailable"
    if error.errcode in USED_OR_EXPIRED_CODE:
        logger.info("wechat login failed: code used or expired error=%s", error)
        return "code"
    logger.error("wechat login failed: configuration error=%s", error)
    return "not_configured"


def _failed(request, reason: str, next_path: str = HOME, retry_after: int = 0):
    failure = FAILURES[reason]
    retry_url = reverse("reminders:login") + "?" + urlencode({"next": next_path})
    context = {"failure": failure, "reason": reason, "retry_url": retry_url}
    response = render(
        request, "reminders/login_failed.html", context, status=failure.status
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response
