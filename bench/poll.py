"""The poll path (issue 7, item 1): the fragment the PR page polls every second.

One gunicorn server on loopback serves both the fragment (`prs:live`, as a
logged-in participant of a PR with a few members polls it) and a bare Django view
returning a constant. Separate processes load them in turn, each run in both
orders alternately:

- capacity (wrk): N connections, each sending its next request as soon as the
  answer is in. requests/s is what the server can do; latency there is mostly
  queueing.
- pollers (bench.pollers): N clients, each asking about once a second, as N open
  pages do. Its latency is what a visitor's poll feels.
"""

import html
import re
from datetime import timedelta

from .harness import (
    Bench,
    Figure,
    fresh_database,
    gunicorn,
    gunicorn_workers,
    manage,
    pollers,
    probe,
    wrk,
)

TITLE = "Poll path (gunicorn, wrk)"
CONCURRENCY = (50, 200)
MEMBERS = 6


def run(bench: Bench) -> tuple[list[Figure], dict]:
    capacity_seconds = bench.size(4, 2)
    poller_seconds = bench.size(6, 3)
    samples = {}

    with fresh_database(bench, "poll") as url:
        manage(bench, url, "migrate", "--no-input")
        # No request tail while counting: its tick would add its own queries.
        seeded = probe(
            bench,
            url,
            "bench.poll:seed",
            env={"JOBS_REQUEST_TAIL": "false"},
            members=MEMBERS,
        )
        with gunicorn(bench, url, "poll-gunicorn") as base:
            views = {
                "fragment": f"{base}{seeded['live_path']}",
                "constant": f"{base}/bench/constant",
            }
            headers = {"Cookie": seeded["cookie"]}
            for target in views.values():  # warm the workers and their connections
                wrk(target, connections=10, seconds=1, headers=headers)

            for run_index in range(bench.runs):
                order = list(views.items())
                if run_index % 2:
                    order.reverse()
                for concurrency in CONCURRENCY:
                    for view, target in order:
                        capacity = wrk(
                            target,
                            connections=concurrency,
                            seconds=capacity_seconds,
                            headers=headers,
                        )
                        polled = pollers(
                            bench,
                            target,
                            pollers=concurrency,
                            seconds=poller_seconds,
                            headers=headers,
                        )
                        samples.setdefault((concurrency, view, "capacity"), []).append(
                            capacity
                        )
                        samples.setdefault((concurrency, view, "pollers"), []).append(
                            polled
                        )

    figures = [
        Figure("poll", f"SQL queries per poll ({state})", "queries", [count])
        for state, count in seeded["queries"].items()
    ]
    for concurrency in CONCURRENCY:
        figures += _figures_at(concurrency, samples)
    details = {
        "gunicorn_workers": gunicorn_workers(),
        "worker_class": "sync",
        "errors": {
            f"{c}/{view}/{mode}": sum(load.errors for load in loads)
            for (c, view, mode), loads in samples.items()
        },
    }
    return figures, details


def _figures_at(concurrency: int, samples: dict) -> list[Figure]:
    def values(view, mode, attribute):
        return [getattr(load, attribute) for load in samples[concurrency, view, mode]]

    prefix = f"{concurrency} "
    figures = []
    for view in ("fragment", "constant"):
        figures += [
            Figure(
                "poll",
                f"{prefix}conn capacity, {view}",
                "req/s",
                values(view, "capacity", "requests_per_second"),
            ),
            Figure(
                "poll",
                f"{prefix}pollers p50, {view}",
                "ms",
                values(view, "pollers", "p50_ms"),
            ),
            Figure(
                "poll",
                f"{prefix}pollers p99, {view}",
                "ms",
                values(view, "pollers", "p99_ms"),
                at_most=50.0 if view == "fragment" and concurrency == 50 else None,
            ),
        ]
    ratios = [
        fragment / constant
        for fragment, constant in zip(
            values("fragment", "capacity", "requests_per_second"),
            values("constant", "capacity", "requests_per_second"),
            strict=True,
        )
    ]
    figures.append(
        Figure(
            "poll",
            f"{prefix}conn capacity ratio, fragment / constant",
            "x",
            ratios,
            at_least=0.6,
        )
    )
    return figures


# Probes: these run inside a Django process (bench.probe) on the scenario's database.


def seed(members: int) -> dict:
    """A PR tomorrow with `members` joined, one of them logged in to poll it.

    Answers the fragment's path, the poller's session cookie, and how many SQL
    queries one poll costs, logged in and anonymous.
    """
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from config import clock
    from prs import live, services
    from prs.models import User

    organiser = User.objects.create_user("bench-organiser", wechat_openid="o-org")
    pr = services.create_pr(
        organiser,
        title="Badminton doubles",
        description="Bring your own racket",
        location="Chaoyang sports centre",
        start_at=clock.now() + timedelta(days=1),
        capacity=10,
    )
    users = [
        User.objects.create_user(f"bench-member-{n}", wechat_openid=f"o-member-{n}")
        for n in range(members)
    ]
    for user in users:
        services.join(pr.pk, user)

    poller = Client(HTTP_HOST="127.0.0.1")
    poller.force_login(users[0])
    # The poll URL as the page hands it to htmx, with the viewer's pass.
    page = poller.get(f"/prs/{pr.pk}").content.decode()
    live_path = html.unescape(re.search(r'hx-get="([^"]+)"', page).group(1))

    # Each viewer polls twice: first with no snapshot of the PR in the process,
    # then again at once, within the snapshot's half interval.
    counts = {}
    for viewer, client in (("logged in", poller), ("anonymous", None)):
        client = client or Client(HTTP_HOST="127.0.0.1")
        live.snapshots.clear()
        for state in ("snapshot read", "snapshot fresh"):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(live_path)
            if response.status_code != 200:
                raise RuntimeError(f"the poll answered {response.status_code}")
            counts[f"{viewer}, {state}"] = len(captured)

    cookie = poller.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "pr": pr.pk,
        "live_path": live_path,
        "cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}",
        "queries": counts,
    }
