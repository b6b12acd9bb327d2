"""delete_pending and the empty tick with a big `jobs` table (issue 7, item 3).

The table holds 1,000,000 rows: 100,000 PENDING jobs due over the next 30 days
(none within the tick's tolerance) and the rest finished, as a site that keeps
history looks. Each run times `delete_pending` for keys that exist and `tick`
with nothing due, in a Django process, each call from the caller's side (ORM and
round trip included). The EXPLAIN ANALYZE plans of the statements those two calls
really issue go into the JSON, with the indexes they use.
"""

import time

from .harness import Bench, Figure, fresh_database, manage, percentile, probe

TITLE = "delete_pending and the empty tick at scale"
JOB_TYPE = "bench.tasks.noop"


def run(bench: Bench) -> tuple[list[Figure], dict]:
    rows, pending = bench.size((1_000_000, 100_000), (100_000, 10_000))
    calls = bench.size(1_000, 200)
    timings = {"delete_pending": {"p50": [], "p99": []}, "tick": {"p50": [], "p99": []}}

    with fresh_database(bench, "scale") as url:
        manage(bench, url, "migrate", "--no-input")
        probe(bench, url, "bench.scale:fill", rows=rows, pending=pending)
        for run_index in range(bench.runs):
            answer = probe(
                bench, url, "bench.scale:measure", calls=calls, seed=run_index
            )
            for call, summary in answer.items():
                for name, value in summary.items():
                    timings[call][name].append(value)
        plans = probe(bench, url, "bench.scale:explain")

    note = f"{rows:,} rows, {pending:,} pending; {calls} calls a run"
    figures = [
        Figure(
            "scale",
            "delete_pending p50",
            "ms",
            timings["delete_pending"]["p50"],
            note=note,
        ),
        Figure(
            "scale",
            "delete_pending p99",
            "ms",
            timings["delete_pending"]["p99"],
            at_most=5.0,
            note=note,
        ),
        Figure(
            "scale",
            "empty tick p50",
            "ms",
            timings["tick"]["p50"],
            at_most=2.0,
            note=note,
        ),
        Figure("scale", "empty tick p99", "ms", timings["tick"]["p99"], note=note),
    ]
    return figures, {"explain": plans}


# Probes: these run inside a Django process (bench.probe) on the scenario's database.


def fill(rows: int, pending: int) -> dict:
    """Insert the table in one statement: job i < pending waits, the rest finished.

    Keys are per row, as reminders' keys are per slot and type; one finished row
    in twenty failed.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO jobs (job_type, payload, run_at, status, attempts,
                max_attempts, dedupe_key, locked_by, lease_token, last_error,
                created_at, started_at, finished_at)
            SELECT %(job_type)s, '{"args": [], "kwargs": {}}',
                CASE WHEN i <= %(pending)s
                     THEN now() + interval '2 hours' + (i %% 43200) * minute
                     ELSE now() - (i %% 43200) * minute END,
                CASE WHEN i <= %(pending)s THEN 'PENDING'
                     WHEN i %% 20 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END,
                CASE WHEN i <= %(pending)s THEN 0 ELSE 1 END,
                5, 'key:' || i, '', '', '',
                now() - interval '31 days',
                CASE WHEN i <= %(pending)s THEN NULL
                     ELSE now() - (i %% 43200) * minute END,
                CASE WHEN i <= %(pending)s THEN NULL
                     ELSE now() - (i %% 43200) * minute END
            FROM generate_series(1, %(rows)s) AS i,
                (SELECT interval '1 minute' AS minute) AS units
            """,
            {"job_type": JOB_TYPE, "pending": pending, "rows": rows},
        )
        cursor.execute("VACUUM ANALYZE jobs")
    return {"rows": rows}


def measure(calls: int, seed: int) -> dict:
    import random

    from jobs import runner
    from jobs.models import Job

    keys = list(
        Job.objects.filter(status=Job.Status.PENDING)
        .order_by("?")
        .values_list("dedupe_key", flat=True)[:calls]
    )
    random.Random(seed).shuffle(keys)  # noqa: S311 (an order, not a secret)

    deletes = []
    for key in keys:
        started = time.perf_counter()
        runner.delete_pending(JOB_TYPE, key)
        deletes.append((time.perf_counter() - started) * 1000)

    ticks = []
    for _ in range(calls):
        started = time.perf_counter()
        result = runner.tick(max_jobs=100, max_seconds=30)
        ticks.append((time.perf_counter() - started) * 1000)
        if result.claimed:
            raise RuntimeError("a job fell due during the scale run")

    return {
        "delete_pending": {
            "p50": percentile(deletes, 50),
            "p99": percentile(deletes, 99),
        },
        "tick": {"p50": percentile(ticks, 50), "p99": percentile(ticks, 99)},
    }


class _Rollback(Exception):
    pass


def explain() -> dict:
    """EXPLAIN ANALYZE every statement that delete_pending and an empty tick issue.

    The statements are captured from the real calls, inside a transaction that is
    rolled back, then explained the same way, so the plans are the product's.
    """
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from jobs import runner
    from jobs.models import Job

    key = Job.objects.filter(status=Job.Status.PENDING).values_list(
        "dedupe_key", flat=True
    )[0]
    calls = {
        "delete_pending": lambda: runner.delete_pending(JOB_TYPE, key),
        "empty tick": lambda: runner.tick(max_jobs=100, max_seconds=30),
    }
    plans = {}
    for name, call in calls.items():
        with CaptureQueriesContext(connection) as captured:
            try:
                with transaction.atomic():
                    call()
                    raise _Rollback
            except _Rollback:
                pass
        statements = [
            query["sql"]
            for query in captured.captured_queries
            if query["sql"]
            .lstrip()
            .upper()
            .startswith(("SELECT", "UPDATE", "DELETE", "WITH"))
        ]
        plans[name] = [_explain(statement) for statement in statements]
    return plans


def _explain(statement: str) -> dict:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}")
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return {
        "statement": statement,
        "indexes": sorted(_index_names(plan)),
        "execution_ms": plan[0]["Execution Time"],
        "plan": plan,
    }


def _index_names(node) -> set[str]:
    names = set()
    if isinstance(node, dict):
        if "Index Name" in node:
            names.add(node["Index Name"])
        for value in node.values():
            names |= _index_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= _index_names(item)
    return names
