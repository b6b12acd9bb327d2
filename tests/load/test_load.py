"""200 people on one PR for a minute, through gunicorn as production runs it
(make load; make test leaves it out).

Each client is a logged-in person behind the TLS proxy: it polls the live part
and the API, joins, confirms and exits, as fast as the server answers plus a
moment's thought. Meanwhile a sampler counts the PR's active slots straight from
PostgreSQL. Afterwards: the PR never held more people than places, every user's
counters equal what their slots say happened, nothing answered 5xx, PostgreSQL
saw no deadlock and the server's log has no error.
"""

import json
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.db.models import Count, Q

from prs.models import Slot, User
from tests.conftest import wait_for

pytestmark = [pytest.mark.load, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "var" / "load"
CLIENTS = 200
SECONDS = 60
CAPACITY = 30
HOST = "load.example.test"
SECRET_KEY = secrets.token_urlsafe(50)
# Between two requests a client thinks for up to this long (seconds).
THINK = 0.2


@pytest.fixture
def people(settings, make_user, make_pr):
    """The PR and one session per person, signed with the server's key."""
    if connection.vendor != "postgresql":
        pytest.fail("the load test needs PostgreSQL: set DATABASE_URL=postgres://...")
    settings.SECRET_KEY = SECRET_KEY
    pr = make_pr(start_in=timedelta(days=2), capacity=CAPACITY)
    users = [make_user() for _ in range(CLIENTS)]
    return pr, [(user, session_for(user)) for user in users]


def session_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


@pytest.fixture
def server(people, tmp_path):
    """gunicorn with config/gunicorn.conf.py and a production environment."""
    REPORT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    database = connection.settings_dict
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SECRET_KEY": SECRET_KEY,
        "SITE_URL": f"https://{HOST}",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "NUM_PROXIES": "1",
        "STATIC_ROOT": str(tmp_path / "static"),
        "WECHAT_APP_ID": "wx-load-test",
        "WECHAT_APP_SECRET": "load-test-secret",
        "WECHAT_REMINDER_TEMPLATE_ID": "load-test-template",
        "WECHAT_CALLBACK_TOKEN": "loadTestToken",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    log_path = REPORT / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "config/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_for(running.healthy, timeout=60, what="gunicorn to answer")
        yield running
    finally:
        running.stop()


class Server:
    def __init__(self, url, process, log_path):
        self.url, self.process, self.log_path = url, process, log_path

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(
                f"gunicorn exited with {self.process.returncode}; see var/load/"
            )
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> str:
        """Stop gunicorn (its workers close their connections) and answer its log."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        return self.log_path.read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Person(threading.Thread):
    """One phone: a session, a CSRF token, and what it last saw of its slot."""

    def __init__(self, number, url, pr, session_key, deadline, tally):
        super().__init__(daemon=True)
        self.random = random.Random(number)  # noqa: S311 (a workload, not a secret)
        self.url, self.pr, self.deadline, self.tally = url, pr, deadline, tally
        token = secrets.token_hex(16)
        self.http = requests.Session()
        self.http.headers.update(
            {
                "Host": HOST,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": f"198.51.100.{number % 250}",
                "Origin": f"https://{HOST}",
                "Cookie": f"sessionid={session_key}; csrftoken={token}",
                "X-CSRFToken": token,
            }
        )
        self.slot = None

    def run(self):
        pause = threading.Event()
        while time.monotonic() < self.deadline:
            self.step()
            pause.wait(self.random.uniform(0, THINK))
        self.http.close()

    def step(self):
        roll = self.random.random()
        if roll < 0.3:
            self.send("GET", f"/prs/{self.pr.pk}/live", "poll")
        elif roll < 0.5:
            self.send("GET", f"/api/prs/{self.pr.pk}", "api-get")
        elif roll < 0.6:
            self.send(
                "POST",
                f"/prs/{self.pr.pk}/{self.next_action()}",
                "page-action",
                headers={"HX-Request": "true"},
            )
        else:
            self.send("POST", f"/api/prs/{self.pr.pk}/{self.next_action()}", "action")

    def next_action(self) -> str:
        if self.slot == "JOINED":
            return self.random.choice(["confirm", "exit"])
        if self.slot == "CONFIRMED":
            return "exit"
        return "join"

    def send(self, method, path, kind, headers=None):
        try:
            response = self.http.request(
                method, self.url + path, headers=headers, timeout=30
            )
        except requests.RequestException as error:
            self.tally.add(kind, type(error).__name__)
            return
        self.tally.add(kind, response.status_code)
        if response.headers.get("Content-Type") == "application/json":
            self.read(response.json())

    def read(self, body):
        if "joinedCount" in body:
            self.tally.saw_joined(body["joinedCount"])
            self.slot = (body["mySlot"] or {}).get("status")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.answers = Counter()
        self.most_joined_seen = 0

    def add(self, kind, outcome):
        with self.lock:
            self.answers[(kind, outcome)] += 1

    def saw_joined(self, joined):
        with self.lock:
            self.most_joined_seen = max(self.most_joined_seen, joined)


class Sampler(threading.Thread):
    """Counts the PR's active slots in PostgreSQL, over and over, on its own
    connection."""

    def __init__(self, pr, stop):
        super().__init__(daemon=True)
        self.pr, self.stop = pr, stop
        self.samples = []

    def run(self):
        try:
            while not self.stop.is_set():
                active = Slot.objects.filter(pr=self.pr, status__in=Slot.ACTIVE)
                self.samples.append(active.count())
                self.stop.wait(0.02)
        finally:
            connection.close()


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        return cursor.fetchone()[0]


def counters_against_history():
    """Users whose counters differ from what their slots say happened."""
    implied = User.objects.annotate(
        joins=Count("slots"),
        confirms=Count("slots", filter=Q(slots__confirmed_at__isnull=False)),
        attends=Count("slots", filter=Q(slots__attended_at__isnull=False)),
        releases=Count("slots", filter=Q(slots__status__in=["EXITED", "RELEASED"])),
    )
    return [
        user.username
        for user in implied
        if (
            user.reliability_join_count,
            user.reliability_confirm_count,
            user.reliability_attend_count,
            user.reliability_release_count,
        )
        != (user.joins, user.confirms, user.attends, user.releases)
    ]


def test_two_hundred_people_on_one_pr_for_a_minute(people, server):
    pr, sessions = people
    deadlocks_before = deadlocks()
    tally, stop = Tally(), threading.Event()
    sampler = Sampler(pr, stop)
    started = time.monotonic()
    deadline = started + SECONDS
    clients = [
        Person(number, server.url, pr, session_key, deadline, tally)
        for number, (_user, session_key) in enumerate(sessions)
    ]

    sampler.start()
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=SECONDS + 60)
    stop.set()
    sampler.join()
    elapsed = time.monotonic() - started
    log = server.stop()

    answers = tally.answers
    failures = {key: n for key, n in answers.items() if not isinstance(key[1], int)}
    server_errors = {key: n for key, n in answers.items() if str(key[1])[0] == "5"}
    report = {
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "capacity": CAPACITY,
        "requests": sum(answers.values()),
        "requests_per_second": round(sum(answers.values()) / elapsed),
        "answers": {
            f"{kind} {outcome}": n
            for (kind, outcome), n in sorted(answers.items(), key=str)
        },
        "samples": len(sampler.samples),
        "most_active_sampled": max(sampler.samples),
        "most_joined_answered": tally.most_joined_seen,
        "slots": Slot.objects.filter(pr=pr).count(),
        "deadlocks": deadlocks() - deadlocks_before,
    }
    (REPORT / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nload:", json.dumps(report, indent=2))

    assert failures == {}
    assert server_errors == {}
    assert report["most_active_sampled"] <= CAPACITY
    assert report["most_joined_answered"] <= CAPACITY
    assert counters_against_history() == []
    assert report["deadlocks"] == 0
    for sign in ("deadlock", "Traceback", " ERROR ", '" 500 '):
        assert sign not in log, f"{sign!r} in var/load/gunicorn.log"
    # The run did what it is for: people got in, confirmed and left, many times.
    assert answers[("action", 200)] + answers[("page-action", 200)] > 4 * CAPACITY
