"""JobRunner throughput against its peers (issue 7, item 2).

Each run, for each system on its own fresh database: enqueue N no-op jobs one at
a time through the system's ordinary API (enqueue/s), then start 2 worker
processes and wait until all N succeeded. processed/s is N over the drain window
the database itself recorded, from the first job's start to the last job's
finish, so the workers' start-up (importing Django) is not counted against anyone.

The bare-SQL ceiling drains the same queue with the runner's own claim statement
and its finish statement in a loop, with no handler, no logging and no ORM: what
our runner could reach if its Python cost nothing.
"""

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass

from .harness import (
    Bench,
    Figure,
    background,
    django_env,
    fresh_database,
    manage,
    probe,
    query,
)

logger = logging.getLogger(__name__)

TITLE = "JobRunner throughput (2 worker processes)"
SETTINGS = "bench.settings_peers"
WORKERS = 2
SEGMENTS = 5
# Seconds a drain may take before it is stopped and measured on what finished.
DRAIN_LIMIT = 420


@dataclass(frozen=True)
class System:
    key: str
    label: str
    enqueue: str  # the probe that fills the queue
    worker: tuple[str, ...]  # the worker's command after the interpreter
    done_sql: str
    first_start_sql: str  # when the first job started, by the database's records
    finishes_sql: str  # when each job finished, in order


OURS = System(
    key="ours",
    label="our runner (run_jobs --loop)",
    enqueue="bench.throughput:enqueue_ours",
    worker=("manage.py", "run_jobs", "--loop"),
    done_sql="SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'",
    first_start_sql="SELECT min(started_at) FROM jobs",
    finishes_sql="SELECT finished_at FROM jobs ORDER BY finished_at",
)
PROCRASTINATE = System(
    key="procrastinate",
    label="Procrastinate (manage.py procrastinate worker)",
    enqueue="bench.throughput:enqueue_procrastinate",
    worker=("manage.py", "procrastinate", "worker"),
    done_sql="SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'",
    first_start_sql="SELECT min(at) FROM procrastinate_events WHERE type = 'started'",
    finishes_sql="SELECT at FROM procrastinate_events WHERE type = 'succeeded' "
    "ORDER BY at",
)
TASKS_DB = System(
    key="tasks_db",
    label="django-tasks-db (manage.py db_worker)",
    enqueue="bench.throughput:enqueue_tasks_db",
    worker=("manage.py", "db_worker", "--backend", "tasks_db"),
    done_sql="SELECT count(*) FROM django_tasks_database_dbtaskresult "
    "WHERE status = 'SUCCESSFUL'",
    first_start_sql="SELECT min(started_at) FROM django_tasks_database_dbtaskresult",
    finishes_sql="SELECT finished_at FROM django_tasks_database_dbtaskresult "
    "ORDER BY finished_at",
)
CEILING = System(
    key="ceiling",
    label="bare-SQL ceiling (our claim and finish SQL)",
    enqueue="bench.throughput:fill_directly",
    worker=("-m", "bench.probe", "bench.throughput:drain_with_bare_sql", "{}"),
    done_sql=OURS.done_sql,
    first_start_sql=OURS.first_start_sql,
    finishes_sql=OURS.finishes_sql,
)
# Diagnostic: the ceiling again without waiting for each commit's WAL flush. Its
# distance from the ceiling is what the per-job commit costs on this disk.
CEILING_ASYNC_COMMIT = System(
    key="ceiling_async_commit",
    label="bare-SQL ceiling, synchronous_commit off (diagnostic)",
    enqueue=CEILING.enqueue,
    worker=(
        "-m",
        "bench.probe",
        "bench.throughput:drain_with_bare_sql",
        '{"synchronous_commit": false}',
    ),
    done_sql=OURS.done_sql,
    first_start_sql=OURS.first_start_sql,
    finishes_sql=OURS.finishes_sql,
)
SYSTEMS = (OURS, PROCRASTINATE, TASKS_DB, CEILING, CEILING_ASYNC_COMMIT)


def run(bench: Bench) -> tuple[list[Figure], dict]:
    """Full size: one run of 20,000 jobs per system, each figure taken over five
    consecutive segments of 4,000 (enqueue and drain alike); quick: smaller runs,
    two segments each. Either way every figure has several measurements."""
    jobs, runs, segments = bench.size((20_000, 1, SEGMENTS), (1_000, bench.runs, 2))
    enqueued = {system.key: [] for system in SYSTEMS}
    processed = {system.key: [] for system in SYSTEMS}

    with fresh_database(bench, "throughput_template") as template:
        manage(bench, template, "migrate", "--no-input", settings=SETTINGS)
        for run_index in range(runs):
            # Rotate the order, so a machine that grows busier hurts all alike.
            shift = run_index % len(SYSTEMS)
            for system in SYSTEMS[shift:] + SYSTEMS[:shift]:
                with fresh_database(bench, system.key, template=template) as url:
                    rates = probe(
                        bench,
                        url,
                        system.enqueue,
                        settings=SETTINGS,
                        count=jobs,
                        segments=segments,
                    )
                    enqueued[system.key] += rates
                    processed[system.key] += drain(bench, url, system, jobs, segments)
                logger.info(
                    "throughput run=%s system=%s enqueue/s=%s processed/s=%s",
                    run_index,
                    system.key,
                    _rates(enqueued[system.key][-segments:] if rates else []),
                    _rates(processed[system.key][-segments:]),
                )

    details = {
        "jobs": jobs,
        "runs": runs,
        "segments_per_run": segments,
        "workers": WORKERS,
        "systems": {
            system.key: {"label": system.label, "worker": " ".join(system.worker)}
            for system in SYSTEMS
        },
    }
    return _figures(jobs, runs, segments, enqueued, processed), details


def _rates(values) -> str:
    return ",".join(f"{value:.0f}" for value in values) or "-"


def drain(bench: Bench, url: str, system: System, jobs: int, segments: int):
    """Start the workers, wait until every job succeeded; answer processed/s for
    each segment of jobs/segments jobs, in the order they finished.

    A system that has not finished after DRAIN_LIMIT seconds is stopped there and
    measured on the segments it completed (the log says so), so one slow system
    cannot take the whole benchmark past its budget or down with it.
    """
    with ExitStack() as workers:
        for index in range(WORKERS):
            argv = [bench.python, *system.worker]
            name = f"{system.key}-worker-{index}"
            workers.enter_context(
                background(bench, name, argv, django_env(url, SETTINGS))
            )
        done = _wait_until_done(url, system, jobs, DRAIN_LIMIT)
    if done < jobs:
        logger.warning(
            "throughput drain stopped system=%s done=%s of=%s after=%ss",
            system.key,
            done,
            jobs,
            DRAIN_LIMIT,
        )

    first_start = query(url, system.first_start_sql)[0][0]
    finished = [row[0] for row in query(url, system.finishes_sql) if row[0]]
    finishes = [first_start, *finished]
    size = jobs // segments
    complete = (len(finishes) - 1) // size
    if not complete:  # not even one segment: the rate of what did finish
        return [len(finished) / (finishes[-1] - first_start).total_seconds()]
    return [
        size / (finishes[(i + 1) * size] - finishes[i * size]).total_seconds()
        for i in range(min(complete, segments))
    ]


def _wait_until_done(url: str, system: System, jobs: int, limit: float) -> int:
    deadline = time.monotonic() + limit
    while (done := query(url, system.done_sql)[0][0]) < jobs:
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    return done


def _figures(jobs, runs, segments, enqueued: dict, processed: dict) -> list[Figure]:
    scenario = "throughput"
    note = f"{runs} x {jobs:,} no-op jobs, {segments} segments each"
    figures = []
    for system in SYSTEMS:
        if enqueued[system.key]:
            figures.append(
                Figure(
                    scenario,
                    f"enqueue/s, {system.label}",
                    "jobs/s",
                    enqueued[system.key],
                    note=note,
                )
            )
    for system in SYSTEMS:
        figures.append(
            Figure(
                scenario,
                f"processed/s, {system.label}",
                "jobs/s",
                processed[system.key],
                note=note,
            )
        )

    # Ratios pair the same segment of the same run: measured minutes apart.
    targets = {"procrastinate": 2.0, "tasks_db": 10.0, "ceiling": 0.5}
    for system in (PROCRASTINATE, TASKS_DB, CEILING):
        figures.append(
            Figure(
                scenario,
                f"processed/s ratio, ours / {system.key}",
                "x",
                _ratios(processed["ours"], processed[system.key]),
                at_least=targets[system.key],
            )
        )
    for system in (PROCRASTINATE, TASKS_DB):
        figures.append(
            Figure(
                scenario,
                f"enqueue/s ratio, ours / {system.key}",
                "x",
                _ratios(enqueued["ours"], enqueued[system.key]),
            )
        )
    return figures


def _ratios(ours, theirs) -> list[float]:
    # A drain stopped at DRAIN_LIMIT has fewer segments: pair what both have.
    return [a / b for a, b in zip(ours, theirs, strict=False)]


# Probes: these run inside a Django process (bench.probe) on the run's database.


def enqueue_ours(count: int, segments: int) -> list[float]:
    from bench.tasks import noop

    return _time_enqueue(noop.enqueue, count, segments)


def enqueue_procrastinate(count: int, segments: int) -> list[float]:
    from bench.peer_tasks import procrastinate_noop

    return _time_enqueue(procrastinate_noop.defer, count, segments)


def enqueue_tasks_db(count: int, segments: int) -> list[float]:
    from bench.peer_tasks import tasks_db_noop

    return _time_enqueue(tasks_db_noop.enqueue, count, segments)


def _time_enqueue(enqueue, count: int, segments: int) -> list[float]:
    """One job per call, each in its own transaction, as a web request would;
    enqueue/s for each segment of count/segments calls."""
    size = count // segments
    rates = []
    for _ in range(segments):
        started = time.perf_counter()
        for _ in range(size):
            enqueue()
        rates.append(size / (time.perf_counter() - started))
    return rates


def fill_directly(count: int, segments: int = 1) -> list[float]:
    """The ceiling's queue: the same rows as enqueue_ours, in one statement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO jobs (job_type, payload, run_at, status, attempts,
                max_attempts, locked_by, lease_token, last_error, created_at)
            SELECT 'bench.tasks.noop', '{"args": [], "kwargs": {}}', now(),
                'PENDING', 0, 5, '', '', '', now()
            FROM generate_series(1, %s)
            """,
            [count],
        )
    return []


def drain_with_bare_sql(synchronous_commit: bool = True) -> dict:
    """Claim a batch with the runner's claim SQL, then mark it succeeded with the
    runner's success statement, until none is left. The statements are the
    runner's; only the Python around them is gone."""
    import uuid

    from django.conf import settings
    from django.db import connection

    from jobs import runner

    params = {
        "limit": settings.JOBS_CLAIM_BATCH,
        "worker": runner.default_worker_name(),
        "tolerance": settings.JOBS_TOLERANCE_SECONDS,
        "lease": settings.JOBS_LEASE_SECONDS,
        "now": None,
    }
    finished = 0
    with connection.cursor() as cursor:
        if not synchronous_commit:
            cursor.execute("SET synchronous_commit = off")
        while True:
            params["token"] = uuid.uuid4().hex
            cursor.execute(runner._CLAIM_POSTGRESQL, params)
            batch = cursor.fetchall()
            if not batch:
                break
            sql, marks = runner.succeed_statement(
                [(row[0], params["token"]) for row in batch]
            )
            cursor.execute(sql, marks)
            finished += len(batch)
    return {"finished": finished}
