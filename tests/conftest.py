import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from config import clock as app_clock
from prs import live, services
from prs.models import User

pytest_plugins = ["tests.wechat_fixtures"]

# A fixed instant that every time-dependent test starts from.
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


# Suites that run apart, each through its own make target and option: the load
# test (make load, --load) and the fault suite (make faults, --faults), which kill
# processes and restart servers. make test leaves them out.
SEPARATE_SUITES = ("load", "faults")


def pytest_addoption(parser):
    for suite in SEPARATE_SUITES:
        parser.addoption(
            f"--{suite}",
            action="store_true",
            help=f"run only the {suite} suite (make {suite}); make test leaves it out",
        )


def pytest_collection_modifyitems(config, items):
    wanted = next((s for s in SEPARATE_SUITES if config.getoption(f"--{s}")), None)
    chosen = [item for item in items if _suite_of(item) == wanted]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_request_tail(settings):
    """Off unless a test turns it on: a tail batch would run jobs mid-test."""
    settings.JOBS_REQUEST_TAIL = False


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: rate-limit counters, WeChat tokens."""
    cache.clear()


@pytest.fixture(autouse=True)
def no_live_snapshots():
    """Each test starts without the live part's snapshots of an earlier test's PRs
    (ids come back after a rolled-back test on SQLite)."""
    live.snapshots.clear()


@pytest.fixture
def clock():
    """The application clock, stopped at T0; move it with set_now() or advance()."""
    app_clock.set_now(T0)
    yield app_clock
    app_clock.set_now(None)


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 1_000_000))

    def make(username=None, **fields):
        username = username or f"user{next(counter)}"
        fields.setdefault("wechat_openid", f"o-{username}")
        return User.objects.create_user(username=username, **fields)

    return make


@pytest.fixture
def organiser(make_user):
    return make_user("olivia")


@pytest.fixture
def participant(make_user):
    return make_user("pat")


@pytest.fixture
def outsider(make_user):
    return make_user("oscar")


@pytest.fixture
def make_pr(db, organiser):
    """Create an open PR starting `start_in` after the current (stopped) time."""

    def make(start_in=timedelta(days=1), capacity=5, **fields):
        fields.setdefault("title", "Badminton doubles")
        fields.setdefault("description", "Bring your own racket")
        fields.setdefault("location", "Chaoyang sports centre")
        return services.create_pr(
            fields.pop("organiser", organiser),
            start_at=app_clock.now() + start_in,
            capacity=capacity,
            **fields,
        )

    return make


class ApiClient:
    """Talks to the JSON API the way a browser page does, CSRF included.

    A GET under /api/ sets the csrftoken cookie; every POST sends it back in the
    X-CSRFToken header (unless a test asks it not to).
    """

    def __init__(self, user=None):
        self.client = Client(enforce_csrf_checks=True)
        if user is not None:
            self.client.force_login(user)

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(
        self, path, body=None, *, csrf=True, content_type="application/json", raw=None
    ):
        headers = {}
        if csrf:
            self.client.get("/api/prs")
            headers["X-CSRFToken"] = self.client.cookies["csrftoken"].value
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type=content_type, headers=headers)


@pytest.fixture
def api(db):
    def make(user=None):
        return ApiClient(user)

    return make


def wait_for(condition, timeout=30.0, what="the condition"):
    """Wait until another thread or process makes `condition()` true.

    This waits for an event, not for time to pass: it returns as soon as the
    condition holds, and fails the test if it never does.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.02)


@pytest.fixture(autouse=True)
def static_files_by_their_own_names(settings):
    """Tests never run collectstatic, so pages link static files by their plain
    names; production's hashed names are tested on their own (tests/pages)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


def _suite_of(item) -> str | None:
    return next((suite for suite in SEPARATE_SUITES if suite in item.keywords), None)
