"""The JobRunner: durable delayed jobs in the `jobs` table (DESIGN §5).

Three calls make the contract other apps and operators' scripts use:

- `enqueue(task, args, kwargs, run_at=, dedupe_key=, max_attempts=)` stores a job,
  in the caller's transaction when there is one;
- `delete_pending(task_or_job_type, dedupe_key)` deletes jobs that have not started;
- `tick(max_jobs=, max_seconds=, worker=)` claims due jobs and runs them.

Delivery is at least once: a worker that dies mid-handler leaves its job RUNNING
until the lease expires, and the next tick runs it again. Handlers with outside
effects guard them with their own unique key.

Time. "Due" and "lease expired" are decided by PostgreSQL's clock, so web and
worker machines whose clocks disagree still agree on the queue. SQLite is embedded
and serves one machine, so there the application's clock is the database's clock.
A test that stops `config.clock` stops both.
"""

import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.functions import Now
from django.tasks import Task, TaskContext
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from config import clock

from .models import Job

logger = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """Raised by a handler for a failure that no retry can fix: the job fails now."""


# The shortest wait of a deferred job, so that a handler asking for a moment that
# has passed cannot make a tick claim its job again and again.
MIN_DEFER = timedelta(seconds=1)


class RunLater(Exception):
    """Raised by a handler that was started too early: run it again at `at`.

    `at` is read on the application's clock, the one the handler judged by. The
    job goes back to PENDING without spending an attempt, to wait as long as that
    clock needs to reach `at` (at least `MIN_DEFER`), measured on the queue's clock.
    A handler whose machine runs behind the database therefore waits out the
    difference instead of being claimed again at once, over and over. The
    scheduling tolerance no longer applies to the deferred job.
    """

    def __init__(self, at: datetime):
        super().__init__(f"run again at {at.isoformat()}")
        self.at = at


@dataclass
class TickResult:
    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    lost: int = 0  # outcomes refused because another worker took the job over

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self):
        return " ".join(f"{name}={value}" for name, value in self.as_dict().items())


# Enqueue and delete


def enqueue(
    task: Task,
    args=(),
    kwargs=None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Store a job that runs `task(*args, **kwargs)` at `run_at` (default: now).

    With a `dedupe_key` that an unfinished job of the same task holds, nothing is
    inserted and that job is returned. The partial unique index on
    (job_type, dedupe_key) makes this hold for concurrent callers too: the loser of
    a race gets an IntegrityError inside its savepoint and returns the winner's job.
    """
    job = Job(
        job_type=task.module_path,
        payload={
            "args": normalize_json(list(args)),
            "kwargs": normalize_json(dict(kwargs or {})),
        },
        run_at=run_at if run_at is not None else _db_now(),
        dedupe_key=dedupe_key,
        max_attempts=max_attempts or settings.JOBS_MAX_ATTEMPTS,
        created_at=_db_now(),
    )
    if dedupe_key is None:
        job.save(force_insert=True)
        return _enqueued(job)

    # Three rounds cover the one real race: the holder finished between our
    # failed insert and our look-up, so the key became free again.
    for _ in range(3):
        existing = _unfinished(job.job_type, dedupe_key)
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                job.save(force_insert=True)
        except IntegrityError:
            job.pk = None
            continue
        return _enqueued(job)
    raise RuntimeError(f"could not enqueue {job.job_type} key={dedupe_key}")


def delete_pending(task_or_job_type: Task | str, dedupe_key: str) -> int:
    """Delete the jobs of this type and key that have not started; return how many.

    Only PENDING and RETRY rows go. A RUNNING job is never touched: its handler
    checks again before acting. Finished jobs stay as history.
    """
    job_type = (
        task_or_job_type.module_path
        if isinstance(task_or_job_type, Task)
        else task_or_job_type
    )
    deleted, _ = Job.objects.filter(
        job_type=job_type, dedupe_key=dedupe_key, status__in=Job.WAITING
    ).delete()
    if deleted:
        logger.info(
            "jobs deleted type=%s key=%s count=%s", job_type, dedupe_key, deleted
        )
    return deleted


# Operators' actions (admin)


def run_now(job_ids) -> int:
    """Make waiting jobs due now and give failed ones a fresh set of attempts.

    Running and succeeded jobs are left alone, and so is a failed job whose dedupe
    key an unfinished job of its type holds again (its restart would be a second
    one). Returns how many jobs were changed.
    """
    jobs = Job.objects.filter(pk__in=list(job_ids))
    made_due = jobs.filter(status__in=Job.WAITING).update(
        run_at=_db_now(), not_before=None
    )
    restarted = held = 0
    for job_id in jobs.filter(status=Job.Status.FAILED).values_list("pk", flat=True):
        try:
            with transaction.atomic():
                restarted += Job.objects.filter(
                    pk=job_id, status=Job.Status.FAILED
                ).update(
                    status=Job.Status.RETRY,
                    run_at=_db_now(),
                    not_before=None,
                    attempts=0,
                    finished_at=None,
                )
        except IntegrityError:
            held += 1
    logger.info(
        "jobs run now made_due=%s restarted=%s key_held=%s", made_due, restarted, held
    )
    return made_due + restarted


def delete_waiting(job_ids) -> int:
    """Delete the given jobs that have not started; return how many went."""
    deleted, _ = Job.objects.filter(
        pk__in=list(job_ids), status__in=Job.WAITING
    ).delete()
    logger.info("jobs deleted by operator count=%s", deleted)
    return deleted


def _unfinished(job_type: str, dedupe_key: str) -> Job | None:
    return Job.objects.filter(
        job_type=job_type, dedupe_key=dedupe_key, status__in=Job.UNFINISHED
    ).first()


def _enqueued(job: Job) -> Job:
    # Expressions such as Now() were evaluated by the database; read back values.
    if not isinstance(job.run_at, datetime) or not isinstance(job.created_at, datetime):
        job.refresh_from_db(fields=["run_at", "created_at"])
    logger.debug(
        "job enqueued job=%s type=%s run_at=%s", job.pk, job.job_type, job.run_at
    )
    return job


# Tick


def tick(
    *,
    max_jobs: int = 100,
    max_seconds: float = 30.0,
    worker: str | None = None,
    stop: threading.Event | None = None,
) -> TickResult:
    """Run due jobs: at most `max_jobs`, starting none after `max_seconds` or once
    `stop` is set.

    Expired leases are reaped first, so a job whose worker died runs again. Jobs are
    claimed in small batches, each claim one committed statement; handlers run
    outside it while a background thread keeps the batch's lease alive. The
    successes of quick handlers are written together (see `Successes`). Claimed
    jobs that the tick has no time left to start are handed back unspent.
    """
    worker = worker or default_worker_name()
    stop = stop or threading.Event()
    deadline = time.monotonic() + max_seconds
    result = TickResult()

    def out_of_time() -> bool:
        return stop.is_set() or time.monotonic() >= deadline

    _reap_expired_leases()

    with LeaseKeeper() as keeper:
        while result.claimed < max_jobs and not out_of_time():
            batch_size = min(settings.JOBS_CLAIM_BATCH, max_jobs - result.claimed)
            batch = _claim(batch_size, worker)
            if not batch:
                break
            result.claimed += len(batch)
            keeper.watch(batch)

            successes = Successes(result, keeper)
            try:
                for job in batch:
                    if out_of_time():
                        _give_back(job)
                        result.claimed -= 1
                        keeper.forget(job)
                    elif _run(job, result, successes):
                        keeper.forget(job)
            finally:
                successes.write()

    return result


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(limit: int, worker: str) -> list[Job]:
    """Mark up to `limit` due jobs RUNNING for `worker`, in one statement.

    On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets any number of workers claim at
    once: each row goes to exactly one of them, and nobody waits on another's rows.
    The MATERIALIZED CTE fences the LIMIT, so the UPDATE cannot touch more rows
    than were picked. SQLite has a single writer, so the same shape without row
    locks is already exclusive.
    """
    token = uuid.uuid4().hex
    params = {
        "limit": limit,
        "worker": worker,
        "token": token,
        "tolerance": settings.JOBS_TOLERANCE_SECONDS,
        "lease": settings.JOBS_LEASE_SECONDS,
    }
    if connection.vendor == "postgresql":
        sql = _CLAIM_POSTGRESQL
        params["now"] = clock.frozen_at()
    else:
        now = clock.now()
        sql = _CLAIM_SQLITE
        adapt = connection.ops.adapt_datetimefield_value
        params |= {
            "now": adapt(now),
            "due_before": adapt(now + timedelta(seconds=params["tolerance"])),
            "lease_until": adapt(now + timedelta(seconds=params["lease"])),
        }
    return sorted(Job.objects.raw(sql, params), key=lambda job: (job.run_at, job.pk))


# The database's clock, unless a test stopped the application's clock.
_PG_NOW = "COALESCE(%(now)s::timestamptz, STATEMENT_TIMESTAMP())"

# Only the constant _PG_NOW is interpolated: the values go in as parameters.
_CLAIM_POSTGRESQL = f"""
WITH picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE status IN ('PENDING', 'RETRY')
      AND run_at <= {_PG_NOW} + make_interval(secs => %(tolerance)s)
      AND (not_before IS NULL OR not_before <= {_PG_NOW})
    ORDER BY run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET status = 'RUNNING', attempts = jobs.attempts + 1, locked_by = %(worker)s,
    lease_token = %(token)s, started_at = {_PG_NOW},
    lease_expires_at = {_PG_NOW} + make_interval(secs => %(lease)s)
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.*
"""  # noqa: S608

_CLAIM_SQLITE = """
UPDATE jobs
SET status = 'RUNNING', attempts = attempts + 1, locked_by = %(worker)s,
    lease_token = %(token)s, started_at = %(now)s, lease_expires_at = %(lease_until)s
WHERE id IN (
    SELECT id FROM jobs
    WHERE status IN ('PENDING', 'RETRY')
      AND run_at <= %(due_before)s
      AND (not_before IS NULL OR not_before <= %(now)s)
    ORDER BY run_at, id
    LIMIT %(limit)s
)
RETURNING *
"""


def _run(job: Job, result: TickResult, successes: "Successes | None" = None) -> bool:
    """Run one claimed job and record its outcome; answer whether it is recorded.

    A success goes to `successes`, to be written later with others, and the answer
    is False; without `successes` it is written at once.
    """
    started = time.monotonic()
    try:
        task = load_task(job.job_type)
    except (ImportError, AttributeError, TypeError) as error:
        outcome = _fail(job, f"unknown job type: {error}", permanent=True)
    else:
        try:
            _call(task, job)
        except RunLater as request:
            outcome = _defer(job, request.at)
        except PermanentFailure as error:
            outcome = _fail(job, _describe(error), permanent=True)
        except Exception as error:
            outcome = _fail(job, _describe(error), permanent=False)
        else:
            if successes is not None:
                successes.add(job, time.monotonic() - started)
                return False
            outcome = _succeed([job])[job.pk]

    _record(result, job, outcome, time.monotonic() - started)
    return True


def _record(result: TickResult, job: Job, outcome: str, duration: float) -> None:
    setattr(result, outcome, getattr(result, outcome) + 1)
    level = logging.ERROR if outcome == "failed" else logging.INFO
    logger.log(
        level,
        "job %s job=%s type=%s attempt=%s/%s duration=%.3fs",
        outcome,
        job.pk,
        job.job_type,
        job.attempts,
        job.max_attempts,
        duration,
    )


def _call(task: Task, job: Job):
    if not task.takes_context:
        return task.call(*job.args, **job.kwargs)

    # The context tells a handler which job runs it and which attempt this is,
    # e.g. to derive an idempotency key from the job id.
    from .backend import task_result

    context = TaskContext(task_result=task_result(job, task))
    return task.call(context, *job.args, **job.kwargs)


def load_task(job_type: str) -> Task:
    task = import_string(job_type)
    if not isinstance(task, Task):
        raise TypeError(f"{job_type} is not a Django task")
    return task


# How long a success may wait to share its commit with others (see Successes).
SUCCESS_WRITE_AFTER = timedelta(milliseconds=20)


class Successes:
    """Successes of one batch waiting to be written, so quick jobs share a commit.

    On an ordinary disk the commit of a success mark costs more than a quick
    handler, so the marks of a batch are written in one statement: at the end of
    the batch, or as soon as a handler ran `SUCCESS_WRITE_AFTER` or longer, or the
    oldest waiting mark has waited that long (slow jobs gain nothing from waiting).
    Until its mark is written a job stays RUNNING under its renewed lease; a worker
    that dies first leaves it to run again, as at-least-once delivery allows.
    """

    def __init__(self, result: TickResult, keeper: "LeaseKeeper"):
        self._result = result
        self._keeper = keeper
        self._waiting: list[tuple[Job, float]] = []
        self._since = 0.0

    def add(self, job: Job, duration: float) -> None:
        now = time.monotonic()
        if not self._waiting:
            self._since = now
        self._waiting.append((job, duration))
        limit = SUCCESS_WRITE_AFTER.total_seconds()
        if duration >= limit or now - self._since >= limit:
            self.write()

    def write(self) -> None:
        if not self._waiting:
            return

        waiting, self._waiting = self._waiting, []
        outcomes = _succeed([job for job, _duration in waiting])
        for job, duration in waiting:
            _record(self._result, job, outcomes[job.pk], duration)
            self._keeper.forget(job)


def _succeed(jobs: list[Job]) -> dict[int, str]:
    """Mark jobs SUCCEEDED in one statement; answer each job's outcome.

    Each row is the same compare-and-set on the job id and its claim's lease token
    as `_finish`; a job whose claim no longer holds is "lost". The SQL is written
    out because success is nearly every job's outcome, and building the equivalent
    ORM update cost about as much as the database's own work for it (make bench's
    throughput scenario).
    """
    sql, params = succeed_statement([(job.pk, job.lease_token) for job in jobs])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        held = {row[0] for row in cursor.fetchall()}

    return {
        job.pk: "succeeded" if job.pk in held else _refused(job, "succeeded")
        for job in jobs
    }


def succeed_statement(claims: list[tuple[int, str]]) -> tuple[str, dict]:
    """The success mark of (job id, lease token) pairs, as SQL and its parameters."""
    if connection.vendor == "postgresql":
        now_sql, now = _PG_NOW, clock.frozen_at()
    else:
        now_sql = "%(now)s"
        now = connection.ops.adapt_datetimefield_value(clock.now())
    params = {"now": now}
    rows = []
    for n, (job_id, token) in enumerate(claims):
        params |= {f"id{n}": job_id, f"token{n}": token}
        rows.append(f"(%(id{n})s, %(token{n})s)")
    return _SUCCEED.format(now=now_sql, rows=", ".join(rows)), params


# succeed_statement formats in only its own fixed fragments; values are parameters.
_SUCCEED = """
UPDATE jobs
SET status = 'SUCCEEDED', finished_at = {now}, lease_token = '',
    lease_expires_at = NULL
WHERE (id, lease_token) IN (VALUES {rows}) AND status = 'RUNNING'
RETURNING id
"""


def _fail(job: Job, error: str, *, permanent: bool) -> str:
    if permanent or job.attempts >= job.max_attempts:
        return _finish(
            job,
            "failed",
            status=Job.Status.FAILED,
            finished_at=_db_now(),
            last_error=error,
        )

    delay = retry_delay(job.attempts)
    logger.warning(
        "job will retry job=%s type=%s attempt=%s/%s in=%.0fs error=%s",
        job.pk,
        job.job_type,
        job.attempts,
        job.max_attempts,
        delay.total_seconds(),
        error.splitlines()[0],
    )
    # not_before keeps the backoff whole: the scheduling tolerance would otherwise
    # let the same tick claim the job again at once.
    retry_at = _db_now(delay)
    return _finish(
        job,
        "retried",
        status=Job.Status.RETRY,
        run_at=retry_at,
        not_before=retry_at,
        last_error=error,
    )


def _defer(job: Job, at: datetime) -> str:
    wait = max(at - clock.now(), MIN_DEFER)
    later = _db_now(wait)
    return _finish(
        job,
        "deferred",
        status=Job.Status.PENDING if job.attempts == 1 else Job.Status.RETRY,
        attempts=F("attempts") - 1,
        run_at=later,
        not_before=later,
    )


def _give_back(job: Job) -> None:
    """Return a claimed job that the tick has no time left to start."""
    _finish(
        job,
        "given back",
        status=Job.Status.PENDING if job.attempts == 1 else Job.Status.RETRY,
        attempts=F("attempts") - 1,
    )


def _finish(job: Job, outcome: str, **changes) -> str:
    """Write a claimed job's outcome, if the claim still holds; answer the outcome.

    The write is a compare-and-set on the job id and this claim's lease token. A
    worker whose lease expired and whose job was reaped or claimed again finds no
    row to update, so its late outcome cannot overwrite the newer attempt.
    """
    updated = Job.objects.filter(
        pk=job.pk, lease_token=job.lease_token, status=Job.Status.RUNNING
    ).update(lease_token="", lease_expires_at=None, **changes)
    return outcome if updated else _refused(job, outcome)


def _refused(job: Job, outcome: str) -> str:
    logger.warning(
        "job outcome refused, lease lost job=%s type=%s attempt=%s outcome=%s",
        job.pk,
        job.job_type,
        job.attempts,
        outcome,
    )
    return "lost"


def _reap_expired_leases() -> int:
    """Put back RUNNING jobs whose lease expired: their worker is gone or stuck.

    A job with attempts left becomes RETRY and due at once; one without fails,
    logged at error level like any job that fails for good (the tick's counts are
    of its own claims, so they leave it out). Each write is a compare-and-set on
    the lease token, so a worker that renews or finishes at the same moment wins
    or loses cleanly, and only the winner logs.
    """
    reaped = 0
    for job in _expired_leases():
        error = (
            f"lease expired: worker {job.locked_by} did not finish "
            f"attempt {job.attempts}"
        )
        failed = job.attempts >= job.max_attempts
        if failed:
            changes = {"status": Job.Status.FAILED, "finished_at": _db_now()}
        else:
            changes = {"status": Job.Status.RETRY, "run_at": _db_now()}
        updated = Job.objects.filter(
            pk=job.pk, lease_token=job.lease_token, status=Job.Status.RUNNING
        ).update(lease_token="", lease_expires_at=None, last_error=error, **changes)
        if not updated:
            continue
        reaped += updated
        logger.log(
            logging.ERROR if failed else logging.WARNING,
            "job lease expired job=%s type=%s attempt=%s/%s worker=%s now=%s",
            job.pk,
            job.job_type,
            job.attempts,
            job.max_attempts,
            job.locked_by,
            changes["status"],
        )
    return reaped


def _expired_leases() -> list[Job]:
    """The RUNNING jobs whose lease expired, with the fields reaping needs.

    Every tick asks, and the answer is nearly always "none". On PostgreSQL the
    question is a fixed SQL string: at 1,000,000 rows the ORM took about 0.7 ms to
    build the equivalent queryset for a query the database answers in 0.03 ms,
    a third of an empty tick (bench/scale.py).
    """
    if connection.vendor != "postgresql":
        return list(
            Job.objects.filter(
                status=Job.Status.RUNNING, lease_expires_at__lte=_db_now()
            ).only(*_REAP_FIELDS)
        )

    with connection.cursor() as cursor:
        cursor.execute(_EXPIRED_POSTGRESQL, {"now": clock.frozen_at()})
        rows = cursor.fetchall()
    return [Job(**dict(zip(_REAP_FIELDS, row, strict=True))) for row in rows]


_REAP_FIELDS = (
    "id",
    "job_type",
    "attempts",
    "max_attempts",
    "locked_by",
    "lease_token",
)

_EXPIRED_POSTGRESQL = f"""
SELECT {", ".join(_REAP_FIELDS)} FROM jobs
WHERE status = 'RUNNING' AND lease_expires_at <= {_PG_NOW}
"""  # noqa: S608


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random
    point in its upper half, so retries of many jobs do not arrive in step."""
    ceiling = min(
        settings.JOBS_RETRY_MAX_SECONDS,
        settings.JOBS_RETRY_BASE_SECONDS * 2 ** (attempt - 1),
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


def _describe(error: BaseException) -> str:
    """`module.Class: message` on the first line, the traceback after it."""
    kind = type(error)
    first_line = f"{kind.__module__}.{kind.__qualname__}: {error}"
    return f"{first_line}\n\n{''.join(traceback.format_exception(error))}"


def queue_now() -> datetime:
    """The current time as the queue sees it: what "due" and "expired" mean."""
    if _on_database_clock():
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement_timestamp()")
            return cursor.fetchone()[0]
    return clock.now()


def _db_now(plus: timedelta | None = None):
    """An expression for the current time as the queue sees it (see the module doc)."""
    if _on_database_clock():
        if plus is None:
            return Now()
        later = Now() + Value(plus, output_field=DurationField())
        return ExpressionWrapper(later, output_field=DateTimeField())
    instant = clock.now() + (plus or timedelta(0))
    return Value(instant, output_field=DateTimeField())


def _on_database_clock() -> bool:
    """PostgreSQL keeps the queue's time, unless a test stopped the clock."""
    return clock.frozen_at() is None and connection.vendor == "postgresql"


class LeaseKeeper:
    """Renews the lease of claimed jobs while their handlers run.

    A background thread with its own database connection extends every watched
    job's lease each third of the lease period, so a lease can be short (a dead
    worker's jobs come back quickly) without a long handler losing its job.
    """

    def __init__(self):
        self._jobs: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def watch(self, jobs) -> None:
        with self._lock:
            self._jobs.update((job.pk, job.lease_token) for job in jobs)
        # Started on the first claim, so a tick with nothing due costs no thread.
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="lease-keeper", daemon=True
            )
            self._thread.start()

    def forget(self, job) -> None:
        with self._lock:
            self._jobs.pop(job.pk, None)

    def renew(self) -> int:
        with self._lock:
            watched = dict(self._jobs)
        renewed = 0
        for job_id, token in watched.items():
            renewed += Job.objects.filter(
                pk=job_id, lease_token=token, status=Job.Status.RUNNING
            ).update(
                lease_expires_at=_db_now(timedelta(seconds=settings.JOBS_LEASE_SECONDS))
            )
        return renewed

    def _loop(self) -> None:
        interval = settings.JOBS_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                try:
                    self.renew()
                except Exception:
                    logger.exception("lease renewal failed; retrying next period")
        finally:
            connection.close()
