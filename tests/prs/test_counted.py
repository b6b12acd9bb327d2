"""PartnerRequest.objects.counted, the poll's fixed statement, answers what
with_counts answers: the same fields, headcount and viewer status, in every state
a PR and a viewer's slots can be in."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from prs import services
from prs.models import PartnerRequest

FIELDS = ("joined_count", "confirmed_count", "my_slot_status")


def both(pr_id, viewer):
    """counted's answer and with_counts' answer, as comparable tuples."""
    fast = PartnerRequest.objects.counted(pr_id, viewer)
    slow = PartnerRequest.objects.with_counts(viewer).get(pk=pr_id)
    return describe(fast), describe(slow)


def describe(pr):
    columns = {f.attname: getattr(pr, f.attname) for f in pr._meta.concrete_fields}
    return columns, tuple(getattr(pr, name) for name in FIELDS)


@pytest.fixture
def crowd(clock, make_pr, make_user):
    """A PR with one slot of every status, and a viewer who exited, then came back."""
    pr = make_pr(start_in=timedelta(hours=3), capacity=8)
    viewer = make_user("vera")
    joined, confirmed, attended, exited, released = (make_user() for _ in range(5))

    for user in (viewer, joined, confirmed, attended, exited, released):
        services.join(pr.pk, user)
    services.confirm(pr.pk, confirmed)
    services.confirm(pr.pk, attended)
    services.exit(pr.pk, exited)
    services.exit(pr.pk, viewer)
    services.join(pr.pk, viewer)  # the latest slot is the one that counts
    services.confirm(pr.pk, viewer)

    clock.set_now(pr.start_at - timedelta(minutes=59))
    services.release(pr.slots.get(user=released, status="JOINED").pk)
    clock.set_now(pr.start_at - timedelta(minutes=10))
    services.check_in(pr.pk, attended)
    return pr, viewer


def test_counted_matches_with_counts_for_a_participant(crowd):
    pr, viewer = crowd

    fast, slow = both(pr.pk, viewer)

    assert fast == slow
    # joined, confirmed (viewer), attended are active; exited and released are not
    assert fast[1] == (4, 3, "CONFIRMED")


def test_counted_matches_with_counts_for_anonymous_and_strangers(crowd, make_user):
    pr, _ = crowd

    for viewer in (None, AnonymousUser(), make_user("stranger")):
        fast, slow = both(pr.pk, viewer)
        assert fast == slow
        assert fast[1] == (4, 3, None)


def test_counted_matches_with_counts_for_a_viewer_who_left(clock, make_pr, participant):
    pr = make_pr()
    services.join(pr.pk, participant)
    services.exit(pr.pk, participant)

    fast, slow = both(pr.pk, participant)

    assert fast == slow
    assert fast[1] == (0, 0, "EXITED")


def test_counted_matches_with_counts_on_a_cancelled_empty_pr(clock, make_pr, organiser):
    pr = make_pr()
    services.cancel(pr.pk, organiser)

    fast, slow = both(pr.pk, organiser)

    assert fast == slow
    assert fast[0]["status"] == "CANCELLED"
    assert fast[1] == (0, 0, None)


@pytest.mark.parametrize("pr_id", [999_999, 0, -1, 2**63, 10**400])
def test_counted_answers_none_for_a_missing_pr(db, participant, pr_id):
    assert PartnerRequest.objects.counted(pr_id, participant) is None


def test_counted_is_one_query_and_loads_every_column(crowd):
    pr, viewer = crowd

    with CaptureQueriesContext(connection) as queries:
        found = PartnerRequest.objects.counted(pr.pk, viewer)
        # deferred columns would each cost a query here
        [getattr(found, f.attname) for f in found._meta.concrete_fields]

    assert len(queries) == 1
