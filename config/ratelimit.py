"""Rate limits on what a script could hammer: logging in, posting PRs, actions.

Each limit is a number of hits per window (`"20/m"`), counted per key (a user, a
client address) in fixed windows of the application clock. The counter lives in
Django's cache: `add` starts it and `incr` moves it, both atomic on Redis,
Memcached and the per-process default cache. With the default cache every web
process counts for itself, so N processes allow up to N times the limit; a
shared cache (`CACHE_URL=redis://...`) makes the limit exact (README "Deploying").
"""

import logging
import math
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from config import clock

logger = logging.getLogger(__name__)

_RATE = re.compile(r"(\d+)/(\d*)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    hits: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        """`"20/m"`: 20 a minute; `"10/5m"`: 10 in five minutes."""
        match = _RATE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a rate: {text!r} (expected e.g. 20/m or 10/5m)")
        hits, multiple, unit = match.groups()
        return cls(int(hits), int(multiple or 1) * _UNIT_SECONDS[unit])


class RateLimited(Exception):
    """Raised when a key has spent its hits; `retry_after` is whole seconds."""

    def __init__(self, scope: str, retry_after: int):
        self.scope = scope
        self.retry_after = retry_after
        self.message = _("Too many requests. Try again in %(seconds)d seconds.") % {
            "seconds": retry_after
        }
        super().__init__(f"{scope}: retry after {retry_after}s")


def limit(scope: str, key: str) -> None:
    """Count a hit on `key` under `scope`; raise `RateLimited` past the limit.

    `scope` names a rate in `settings.RATE_LIMITS`; an empty rate means no limit.
    """
    text = settings.RATE_LIMITS.get(scope, "")
    if not text:
        return
    rate = Rate.parse(text)

    now = clock.now().timestamp()
    window = int(now // rate.seconds)
    counter = f"ratelimit:{scope}:{window}:{key}"
    # The window's number is in the key, so an old counter is never read again;
    # the timeout only frees the memory.
    cache.add(counter, 0, timeout=rate.seconds + 1)
    try:
        hits = cache.incr(counter)
    except ValueError:  # evicted between add and incr
        cache.set(counter, 1, timeout=rate.seconds + 1)
        hits = 1

    if hits > rate.hits:
        retry_after = max(math.ceil((window + 1) * rate.seconds - now), 1)
        if hits == rate.hits + 1:
            logger.warning("rate limit reached scope=%s key=%s", scope, key)
        raise RateLimited(scope, retry_after)


def user_key(request) -> str:
    return f"user:{request.user.pk}"


def client_key(request) -> str:
    return f"ip:{client_address(request)}"


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind `NUM_PROXIES` proxies the
    address the outermost of them saw, read from the right of X-Forwarded-For.

    Entries further left were written by the client itself and prove nothing.
    """
    proxies = settings.NUM_PROXIES
    if proxies > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")
