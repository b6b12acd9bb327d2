"""The live part's parts (prs/live.py): the snapshot of a PR, the per-process cache
that shares it between watchers, and the viewer pass that spares a poll the
session."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.test import RequestFactory
from django.utils import translation

from prs import live, services
from prs.models import PartnerRequest

# Snapshot


@pytest.fixture
def crowd(clock, make_pr, make_user):
    """A PR with a slot in every state, and people who left and came back."""
    pr = make_pr(start_in=timedelta(hours=3), capacity=8)
    people = {name: make_user(name) for name in ("jo", "cy", "al", "ex", "re", "back")}

    for user in people.values():
        services.join(pr.pk, user)
    services.confirm(pr.pk, people["cy"])
    services.confirm(pr.pk, people["al"])
    services.exit(pr.pk, people["ex"])
    services.exit(pr.pk, people["back"])
    services.join(pr.pk, people["back"])  # the latest slot is the one that counts

    clock.set_now(pr.start_at - timedelta(minutes=59))
    services.release(pr.slots.get(user=people["re"], status="JOINED").pk)
    clock.set_now(pr.start_at - timedelta(minutes=10))
    services.check_in(pr.pk, people["al"])
    return pr, people


def test_a_snapshot_counts_as_the_pr_page_counts(crowd, make_user):
    pr, people = crowd

    snapshot = live.read_snapshot(pr.pk)

    for viewer in [*people.values(), make_user("stranger")]:
        counted = PartnerRequest.objects.with_counts(viewer).get(pk=pr.pk)
        assert snapshot.joined_count == counted.joined_count
        assert snapshot.confirmed_count == counted.confirmed_count
        assert snapshot.places_left == counted.places_left
        assert snapshot.status_of(viewer.pk) == counted.my_slot_status
    # jo and back joined, cy confirmed, al attended; ex exited, re was released
    assert (snapshot.joined_count, snapshot.confirmed_count) == (4, 2)
    assert snapshot.status_of(people["back"].pk) == "JOINED"
    assert snapshot.status_of(people["re"].pk) == "RELEASED"
    assert snapshot.status_of(None) is None


def test_a_snapshot_of_a_cancelled_pr_says_so(clock, make_pr, organiser):
    pr = make_pr(capacity=3)
    services.cancel(pr.pk, organiser)

    snapshot = live.read_snapshot(pr.pk)

    assert not snapshot.is_open
    assert (snapshot.joined_count, snapshot.places_left) == (0, 3)


@pytest.mark.parametrize("pr_id", [999_999, 0, -1, 2**63, 10**400])
def test_there_is_no_snapshot_of_a_pr_that_cannot_exist(db, pr_id):
    assert live.read_snapshot(pr_id) is None


# The cache


class Ticking:
    """A monotonic clock that moves only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def reads():
    """A snapshot reader that records what it was asked and answers a fresh one."""
    asked = []

    def read(pr_id):
        asked.append(pr_id)
        return live.Snapshot(pr_id, "OPEN", capacity=5, latest={len(asked): "JOINED"})

    read.asked = asked
    return read


def test_a_snapshot_is_shared_until_it_is_half_an_interval_old(reads):
    ticking = Ticking()
    cache = live.SnapshotCache(lambda: 0.5, read=reads, clock=ticking)

    first = cache.get(7)
    ticking.now += 0.49
    again = cache.get(7)
    ticking.now += 0.01
    later = cache.get(7)

    assert again is first
    assert later is not first
    assert reads.asked == [7, 7]


def test_the_snapshot_age_is_half_the_poll_interval(settings):
    settings.PR_POLL_INTERVAL_MS = 1000
    assert live.snapshot_max_age() == 0.5

    settings.PR_POLL_INTERVAL_MS = 250
    assert live.snapshot_max_age() == 0.125


def test_a_forgotten_snapshot_is_read_again_at_once(reads):
    cache = live.SnapshotCache(lambda: 0.5, read=reads, clock=Ticking())

    cache.get(7)
    cache.forget(7)
    cache.get(7)

    assert reads.asked == [7, 7]


def test_the_cache_keeps_the_most_recently_asked_prs(reads):
    cache = live.SnapshotCache(lambda: 0.5, read=reads, clock=Ticking(), limit=2)

    for pr_id in (1, 2, 1, 3, 1, 2):
        cache.get(pr_id)

    # 2 went when 3 came (1 had been asked since), so only 2 is read twice
    assert reads.asked == [1, 2, 3, 2]


def test_a_change_in_this_process_drops_the_prs_snapshot(clock, make_pr, participant):
    pr = make_pr()
    before = live.snapshots.get(pr.pk)

    services.join(pr.pk, participant)
    after = live.snapshots.get(pr.pk)

    assert (before.joined_count, after.joined_count) == (0, 1)


def test_a_cancel_in_this_process_drops_the_prs_snapshot(clock, make_pr, organiser):
    pr = make_pr()
    live.snapshots.get(pr.pk)

    services.cancel(pr.pk, organiser)

    assert not live.snapshots.get(pr.pk).is_open


# The viewer pass


def request_with(user, session_key):
    request = RequestFactory().get("/")
    request.user = user
    request.session = type("Session", (), {"session_key": session_key})()
    if session_key:
        request.COOKIES["sessionid"] = session_key
    return request


def test_a_pass_names_its_viewer_for_its_pr_and_session(participant):
    asking = request_with(participant, "session-a")

    token = live.issue_pass(asking, 7)

    assert live.read_pass(asking, 7, token) == participant.pk


def test_an_anonymous_viewer_gets_no_pass(db):
    assert live.issue_pass(request_with(AnonymousUser(), "session-a"), 7) == ""
    assert live.issue_pass(request_with(AnonymousUser(), None), 7) == ""


def test_a_pass_is_void_with_another_session_cookie(participant):
    token = live.issue_pass(request_with(participant, "session-a"), 7)

    assert live.read_pass(request_with(participant, "session-b"), 7, token) is None
    assert live.read_pass(request_with(participant, None), 7, token) is None


def test_a_pass_is_void_for_another_pr(participant):
    asking = request_with(participant, "session-a")

    token = live.issue_pass(asking, 7)

    assert live.read_pass(asking, 8, token) is None


@pytest.mark.parametrize(
    "token", ["", "2", "2:abc", "2:1xZLQq:forged", "x" * 500, "2:1xZLQq:" + "A" * 43]
)
def test_a_forged_pass_names_nobody(participant, token):
    assert live.read_pass(request_with(participant, "session-a"), 7, token) is None


def test_a_pass_expires(participant):
    asking = request_with(participant, "session-a")
    signer = signing.TimestampSigner(salt=live._pass_salt(7, "session-a"))
    issued = int(time.time()) - live.PASS_MAX_AGE_SECONDS - 1
    # A pass as issue_pass would have made it when the clock read `issued`.
    old = signing.Signer.sign(signer, f"{participant.pk}:{signing.b62_encode(issued)}")
    fresh = signing.Signer.sign(
        signer, f"{participant.pk}:{signing.b62_encode(issued + 2)}"
    )

    assert live.read_pass(asking, 7, old) is None
    assert live.read_pass(asking, 7, fresh) == participant.pk


# The fragment


def fragment(snapshot, status=None, path="/prs/7/live"):
    return live.render(
        snapshot, status, path=path, viewer_pass="", round_id="r1", polls=3
    )


def open_snapshot(latest=None):
    return live.Snapshot(pr_id=7, status="OPEN", capacity=4, latest=latest or {})


def test_the_fragment_shows_each_set_of_figures_it_is_given():
    # The figures' HTML is kept per set of figures: a new set is not an old one.
    one = fragment(open_snapshot({1: "JOINED"}))
    two = fragment(open_snapshot({1: "JOINED", 2: "CONFIRMED"}))

    assert 'data-figure="joined">1/4<' in one
    assert 'data-figure="joined">2/4<' in two
    assert 'data-figure="confirmed">1<' in two
    assert 'data-figure="left">2<' in two


def test_the_fragment_speaks_the_language_active_for_each_request():
    snapshot = open_snapshot()
    with translation.override("zh-hans"):
        chinese = fragment(snapshot, "JOINED")
    with translation.override("en"):
        english = fragment(snapshot, "JOINED")

    assert "剩余名额" in chinese and "places left" not in chinese
    assert "places left" in english and "剩余名额" not in english


def test_the_fragment_escapes_the_urls_it_writes():
    html = fragment(open_snapshot(), path='/prs/7/live"><script>')

    assert "<script>" not in html
    assert 'hx-get="/prs/7/live&quot;&gt;&lt;script&gt;?round=r1&amp;n=3"' in html
