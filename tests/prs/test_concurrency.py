"""Concurrent joins from separate database connections (PostgreSQL row locks)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum

from prs import services
from prs.models import Slot, User

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def join_together(pr, users):
    """Every user joins at once, each from its own thread and connection."""
    start = threading.Barrier(len(users))

    def join(user):
        try:
            start.wait()
            services.join(pr.pk, user)
            return "joined"
        except services.ActionRefused as refusal:
            return refusal.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        return list(pool.map(join, users))


def test_thirty_concurrent_joins_fill_five_places_exactly(clock, make_pr, make_user):
    pr = make_pr(start_in=timedelta(days=1), capacity=5)
    users = [make_user() for _ in range(30)]

    outcomes = join_together(pr, users)

    assert outcomes.count("joined") == 5
    assert outcomes.count("pr_full") == 25
    assert Slot.objects.filter(pr=pr, status__in=Slot.ACTIVE).count() == 5
    joins = User.objects.aggregate(total=Sum("reliability_join_count"))["total"]
    assert joins == 5


def test_one_user_joining_twice_at_once_gets_one_slot(clock, make_pr, participant):
    pr = make_pr()

    outcomes = join_together(pr, [participant] * 8)

    assert sorted(set(outcomes)) == ["already_joined", "joined"]
    assert outcomes.count("joined") == 1
    assert Slot.objects.filter(pr=pr).count() == 1
