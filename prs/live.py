"""The live part of a PR's page, which every open page asks for once a second.

A poll that loaded the session, the user and the PR with its counts would cost
four round trips to the database (the connection's health check first), and one
popular PR would cost them for each of its watchers every second. Two things take
that away:

- **The viewer pass.** The page gives its poll URL a pass naming the viewer,
  signed with the secret key and bound to the session cookie, so a poll knows
  whose status to show without loading the session or the user. Logging out
  changes the cookie, which voids every pass it had; a pass also expires, and a
  poll without a valid one falls back to the session.
- **The snapshot.** Each process keeps what the live part shows of a PR (its
  status, capacity and each person's latest slot status) for at most half a poll
  interval, so its watchers share one query. A page's next poll comes at least a
  whole interval after the answer it replaces, so it never sees a snapshot older
  than that answer: the headcount never goes back, and an action's own answer is
  never undone by the poll after it. A change made in this process drops the
  PR's snapshot at once; one made elsewhere shows within the half interval.

What is left is the HTML, written here with `format_html`: rendering it with the
template engine took 0.1 to 0.2 ms, about as much as the rest of the view and
the middleware together (timeit and cProfile on the poll). The figures' part of
it, escaped and translated, is kept per process for each set of figures, so a
poll writes only its own attributes around it.

A round of polls makes at most POLLS_PER_ROUND requests. The fragment carries its
round and count in its own poll URL and comes back without its polling attributes
at the last one, so the cap holds whatever the browser does.
"""

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.db import connection
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .models import PartnerRequest, Slot, could_be_an_id
from .signals import pr_cancelled, slot_changed

POLLS_PER_ROUND = 20

# A pass outlives many rounds of polls; a page left open longer than this falls
# back to its session once, and gets a new pass with that answer.
PASS_MAX_AGE_SECONDS = 15 * 60
_SALT = "prs.live.viewer"

# Snapshots of this many PRs at most are kept per process, the least recently
# asked for going first.
SNAPSHOT_LIMIT = 1000


@dataclass(frozen=True)
class Snapshot:
    """What the live part shows of one PR, read in one statement."""

    pr_id: int
    status: str
    capacity: int
    latest: dict[int, str] = field(repr=False)  # user id -> latest slot status

    @property
    def is_open(self) -> bool:
        return self.status == PartnerRequest.Status.OPEN

    @property
    def joined_count(self) -> int:
        # A person's active slot is always their latest: a new join needs none.
        return sum(status in Slot.ACTIVE for status in self.latest.values())

    @property
    def confirmed_count(self) -> int:
        return sum(
            status in Slot.CONFIRMED_OR_ATTENDED for status in self.latest.values()
        )

    @property
    def places_left(self) -> int:
        return max(self.capacity - self.joined_count, 0)

    def status_of(self, user_id: int | None) -> str | None:
        return self.latest.get(user_id) if user_id is not None else None


def read_snapshot(pr_id: int) -> Snapshot | None:
    """The PR's live figures from the database, or None if there is no such PR."""
    if not could_be_an_id(pr_id):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_SNAPSHOT_SQL, {"pr": pr_id})
        rows = cursor.fetchall()
    if not rows:
        return None

    status, capacity = rows[0][:2]
    latest = {user_id: slot for _, _, user_id, slot in rows if user_id is not None}
    return Snapshot(pr_id=pr_id, status=status, capacity=capacity, latest=latest)


# Each person's latest slot, by the highest id: slots are only ever added.
_SNAPSHOT_SQL = """
SELECT partner_requests.status, partner_requests.capacity, slots.user_id, slots.status
FROM partner_requests
LEFT JOIN slots ON slots.id IN (
    SELECT MAX(latest.id) FROM slots AS latest
    WHERE latest.pr_id = %(pr)s
    GROUP BY latest.user_id
)
WHERE partner_requests.id = %(pr)s
"""


class SnapshotCache:
    """Snapshots of PRs, each reused for `max_age()` seconds after it was read.

    Threads of one process share it. Two threads that miss at once both read the
    database and the later answer stays; either is a correct snapshot.
    """

    def __init__(
        self,
        max_age: Callable[[], float],
        *,
        read: Callable[[int], Snapshot | None] = read_snapshot,
        clock: Callable[[], float] = time.monotonic,
        limit: int = SNAPSHOT_LIMIT,
    ):
        self._max_age = max_age
        self._read = read
        self._clock = clock
        self._limit = limit
        self._entries: OrderedDict[int, tuple[float, Snapshot | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pr_id: int) -> Snapshot | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(pr_id)
            if entry is not None and now - entry[0] < self._max_age():
                self._entries.move_to_end(pr_id)
                return entry[1]

        snapshot = self._read(pr_id)
        with self._lock:
            self._entries[pr_id] = (now, snapshot)
            self._entries.move_to_end(pr_id)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)
        return snapshot

    def forget(self, pr_id: int) -> None:
        with self._lock:
            self._entries.pop(pr_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def snapshot_max_age() -> float:
    """Half the poll interval, in seconds: see the module's docstring for why."""
    return settings.PR_POLL_INTERVAL_MS / 2000


snapshots = SnapshotCache(snapshot_max_age)


def _forget_slot_pr(sender, slot, **kwargs):
    snapshots.forget(slot.pr_id)


def _forget_pr(sender, pr, **kwargs):
    snapshots.forget(pr.pk)


# Weak references would let the receivers go with this module's namespace; they
# live as long as the process anyway.
slot_changed.connect(_forget_slot_pr, weak=False, dispatch_uid="prs.live.slot")
pr_cancelled.connect(_forget_pr, weak=False, dispatch_uid="prs.live.pr")


# The viewer pass


def issue_pass(request, pr_id: int) -> str:
    """A pass for the logged-in viewer of this request to poll PR `pr_id` with, or
    "" for an anonymous one. Loads the session and the user if nothing did yet."""
    if not request.user.is_authenticated or not request.session.session_key:
        return ""
    signer = signing.TimestampSigner(
        salt=_pass_salt(pr_id, request.session.session_key)
    )
    return signer.sign(str(request.user.pk))


def read_pass(request, pr_id: int, token: str) -> int | None:
    """The user id a valid pass names, or None if the pass is missing, forged,
    expired, made for another PR or for another session cookie."""
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not token or not session_key:
        return None
    signer = signing.TimestampSigner(salt=_pass_salt(pr_id, session_key))
    try:
        value = signer.unsign(token, max_age=PASS_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    return int(value) if value.isascii() and value.isdecimal() else None


def _pass_salt(pr_id: int, session_key: str) -> str:
    return f"{_SALT}:{pr_id}:{session_key}"


# The fragment


def render(
    figures,
    status: str | None,
    *,
    path: str,
    viewer_pass: str,
    round_id: str,
    polls: int,
    oob: bool = False,
) -> SafeString:
    """The live part: the element the page shows and each poll answer replaces.

    `figures` is a Snapshot or a PR annotated with its counts (the same names);
    `path` is the poll's URL path, `polls` how many polls the round has made.
    """
    # Passes, rounds and counts are made of characters a query may hold as they
    # are (letters, digits, "-", "_" and ":"), so nothing needs quoting; the URLs
    # are escaped as HTML for their "&" (and the path for safety).
    viewer = f"v={viewer_pass}" if viewer_pass else ""
    restart_url = f"{path}?{viewer}" if viewer else path
    polling = polls < POLLS_PER_ROUND and figures.is_open
    attributes = (
        f' data-n="{polls}" data-polling="{"on" if polling else "off"}"'
        f' data-restart-url="{escape(restart_url)}"'
    )
    if oob:
        attributes += ' hx-swap-oob="true"'
    if polling:
        poll_url = f"{path}?round={round_id}&n={polls}" + (
            f"&{viewer}" if viewer else ""
        )
        attributes += _POLLING.format(
            url=escape(poll_url), interval=settings.PR_POLL_INTERVAL_MS
        )

    body = _figures_html(
        figures.joined_count,
        figures.capacity,
        figures.confirmed_count,
        figures.places_left,
        figures.is_open,
        status,
        get_language(),
    )
    # Every value in `attributes` was escaped or is one of our constants.
    return mark_safe(_SECTION.format(attributes=attributes, body=body))  # noqa: S308


@functools.lru_cache(maxsize=4096)
def _figures_html(
    joined: int,
    capacity: int,
    confirmed: int,
    places_left: int,
    is_open: bool,
    status: str | None,
    language: str | None,
) -> SafeString:
    """The part of the fragment that only its figures and language decide.

    The watchers of a PR are shown a handful of different bodies, so each is
    escaped and translated once per process. `language` is the active one, passed
    only to key the cache.
    """
    cancelled = "" if is_open else format_html(_CANCELLED, _("Cancelled"))
    mine = (
        format_html(_MINE, _("My status"), Slot.Status(status).label) if status else ""
    )
    return format_html(
        _FIGURES,
        cancelled,
        f"{joined}/{capacity}",
        _("joined"),
        confirmed,
        _("confirmed"),
        places_left,
        _("places left"),
        mine,
    )


# Filled in with str.format from values escaped beforehand.
_POLLING = (
    ' hx-get="{url}" hx-trigger="every {interval}ms'
    " [document.visibilityState === 'visible']\""
    ' hx-swap="outerHTML" hx-sync="#pr-card:abort"'
)
_SECTION = (
    '<section id="pr-live" class="weui-cells pr-live"{attributes}>{body}</section>'
)
_FIGURES = """{}
<div class="pr-live__figures">
  <div class="pr-live__figure">
    <strong class="pr-live__value" data-figure="joined">{}</strong>
    <span class="pr-live__label">{}</span>
  </div>
  <div class="pr-live__figure">
    <strong class="pr-live__value" data-figure="confirmed">{}</strong>
    <span class="pr-live__label">{}</span>
  </div>
  <div class="pr-live__figure">
    <strong class="pr-live__value" data-figure="left">{}</strong>
    <span class="pr-live__label">{}</span>
  </div>
</div>{}
"""
_CANCELLED = """
<div class="weui-cell"><div class="weui-cell__bd pr-live__cancelled">{}</div></div>"""
_MINE = """
<div class="weui-cell">
  <div class="weui-cell__bd">{}</div>
  <div class="weui-cell__ft" data-figure="mine">{}</div>
</div>"""
