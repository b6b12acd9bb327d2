"""Generated input against every operation of docs/openapi.yaml (schemathesis).

For each operation schemathesis draws requests that fit the description and
requests that break it (wrong types, missing fields, strings where numbers go),
sends them through the whole Django stack, and checks each answer against the
description: never a 500, only documented statuses, every body in its documented
shape (errors in `Error`), and input that breaks the description refused with a
4xx. Runs are derandomised, so a run repeats exactly.

A new endpoint needs no code here: describing it in docs/openapi.yaml (which
tests/api/test_openapi.py insists on) puts it under the fuzzer.
"""

from datetime import timedelta

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from prs import services
from tests.api.openapi import SPEC

schema = schemathesis.openapi.from_path(str(SPEC))
schema.app = WSGIHandler()
# The test sends the credentials of its persona itself (the session, the CSRF
# token, the tick's bearer token); the security tests cover requests without them.
schema.config.generation.update(with_security_parameters=False)

# A description cannot say "in the future" or "not full", so input that fits it
# may still be refused by a rule; every other check runs.
EXCLUDED_CHECKS = [positive_data_acceptance]
TICK_TOKEN = "fuzz-tick-token"
# Small path ids stand for the PRs of `world`; larger ones reach no PR.
KNOWN_IDS = range(1, 9)


@pytest.fixture(autouse=True)
def one_connection_for_the_whole_test():
    """Keep the test's connection open across requests, as Django's test client
    does: the test runs in one transaction on it, and the end of a request would
    otherwise close it (its autocommit is off inside that transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(clock, settings, make_pr, make_user, organiser, participant):
    """PRs in every state an action cares about, and the participant in some."""
    settings.JOBS_TICK_TOKEN = TICK_TOKEN
    settings.RATE_LIMITS = {}  # tests/test_rate_limits.py covers the limits

    open_pr = make_pr(capacity=3)
    mine = make_pr(organiser=participant)
    joined = make_pr()
    services.join(joined.pk, participant)
    starting = make_pr(start_in=timedelta(hours=2))
    services.join(starting.pk, participant)
    services.confirm(starting.pk, participant)
    full = make_pr(capacity=1)
    services.join(full.pk, make_user())
    cancelled = make_pr()
    services.cancel(cancelled.pk, organiser)
    confirmed = make_pr(start_in=timedelta(hours=3))
    services.join(confirmed.pk, participant)
    services.confirm(confirmed.pk, participant)
    clock.advance(timedelta(minutes=100))  # check-in opens at `starting`
    return [open_pr, mine, joined, starting, full, cancelled, confirmed, open_pr]


def credentials(user=None) -> tuple[dict, dict]:
    """Cookies and headers of a browser with a CSRF token, logged in as `user`."""
    secret = get_random_string(32)
    cookies = {"csrftoken": secret}
    if user is not None:
        browser = Client()
        browser.force_login(user)
        cookies["sessionid"] = browser.cookies["sessionid"].value
    headers = {"X-CSRFToken": secret, "Authorization": f"Bearer {TICK_TOKEN}"}
    return cookies, headers


@pytest.fixture
def logged_in(participant):
    return credentials(participant)


@pytest.fixture
def anonymous(db):
    return credentials()


def point_at_world(case, world) -> None:
    pr_id = (case.path_parameters or {}).get("prId")
    if isinstance(pr_id, int) and pr_id in KNOWN_IDS:
        case.path_parameters["prId"] = world[pr_id - 1].pk


FUZZING = settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def send_and_check(case, world, credentials) -> None:
    point_at_world(case, world)
    cookies, headers = credentials
    case.call_and_validate(
        cookies=cookies, headers=headers, excluded_checks=EXCLUDED_CHECKS
    )


@schema.parametrize()
@FUZZING
def test_no_request_of_a_logged_in_user_breaks_an_operation(case, world, logged_in):
    send_and_check(case, world, logged_in)


@schema.parametrize()
@settings(FUZZING, max_examples=5)
def test_no_anonymous_request_breaks_an_operation(case, world, anonymous):
    """An anonymous request stops at the login check, so a few examples cover it."""
    send_and_check(case, world, anonymous)
