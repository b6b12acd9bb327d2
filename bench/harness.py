"""What every scenario shares: fresh databases, Django processes, a gunicorn server,
the load generator, and figures summarised as median, min and max.

The orchestrator (bench.run) never configures Django itself: each database is new,
and Django reads DATABASE_URL once at start-up. Everything that needs Django runs
in a child process pointed at the scenario's database, either a management command
or a function of a scenario module run through bench.probe.
"""

import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent

# Production shape for every Django process the benchmark starts.
SECRET_KEY = secrets.token_urlsafe(50)


@dataclass
class Bench:
    """One run of the benchmark: its size, where PostgreSQL is, where logs go."""

    quick: bool
    runs: int
    pg_url: str
    log_dir: Path
    python: str = sys.executable

    def size(self, full, quick):
        return quick if self.quick else full

    def tool(self, name: str) -> str:
        """A console script installed beside this interpreter (gunicorn)."""
        return str(Path(self.python).parent / name)


@dataclass
class Figure:
    """One figure of the table: a value per run, summarised by their median.

    `at_least` / `at_most` hold the issue's target, checked against the median.
    """

    scenario: str
    name: str
    unit: str
    runs: list[float]
    at_least: float | None = None
    at_most: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def target(self) -> str:
        if self.at_least is not None:
            return f">= {self.at_least:g}"
        if self.at_most is not None:
            return f"< {self.at_most:g}"
        return ""

    @property
    def met(self) -> bool | None:
        if self.at_least is not None:
            return self.median >= self.at_least
        if self.at_most is not None:
            return self.median < self.at_most
        return None

    def as_dict(self) -> dict:
        return asdict(self) | {
            "median": self.median,
            "min": min(self.runs),
            "max": max(self.runs),
            "target": self.target,
            "met": self.met,
        }


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between ranks."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# PostgreSQL


def admin_sql(bench: Bench, sql: str) -> None:
    """A statement on the maintenance database (CREATE/DROP DATABASE)."""
    with psycopg.connect(f"{bench.pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def query(database_url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


@contextmanager
def fresh_database(bench: Bench, label: str, template: str = "") -> Iterator[str]:
    """A new database named bench_<label>_..., dropped afterwards; yields its URL.

    With `template` (the URL of another bench database) it starts as a copy of
    that one, which saves running the migrations again for every run.
    """
    name = f"bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    source = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    admin_sql(bench, f'CREATE DATABASE "{name}"{source}')
    try:
        yield f"{bench.pg_url}/{name}"
    finally:
        admin_sql(bench, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Django processes


def django_env(database_url: str, settings: str = "config.settings", **extra) -> dict:
    """The environment of a Django process as production would set it."""
    env = os.environ.copy()
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE=settings,
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        LOG_LEVEL="INFO",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update({name: str(value) for name, value in extra.items()})
    return env


def manage(bench: Bench, database_url: str, *args, settings="config.settings", **env):
    """Run a management command to completion; its output goes to the log."""
    argv = [bench.python, "manage.py", *args]
    _run_logged(bench, args[0], argv, django_env(database_url, settings, **env))


def probe(
    bench: Bench,
    database_url: str,
    function: str,
    *,
    settings="config.settings",
    env=None,
    **arguments,
):
    """Call `module:function(**arguments)` in a Django process; return its answer."""
    argv = [bench.python, "-m", "bench.probe", function, json.dumps(arguments)]
    stdout = _run_logged(
        bench, function, argv, django_env(database_url, settings, **(env or {}))
    )
    return json.loads(stdout.strip().splitlines()[-1])


def _run_logged(bench: Bench, name: str, argv: list[str], env: dict) -> str:
    log_path = bench.log_dir / f"{_file_name(name)}.log"
    with open(log_path, "ab") as log:
        done = subprocess.run(  # noqa: S603
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, check=False
        )
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} exited {done.returncode}; {log_path}:\n{tail}")
    return done.stdout.decode()


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


@contextmanager
def background(bench: Bench, name: str, argv: list[str], env: dict):
    """A process that runs until the block ends: SIGTERM, then SIGKILL after 15 s."""
    log = open(bench.log_dir / f"{_file_name(name)}.log", "ab")
    process = subprocess.Popen(  # noqa: S603
        argv,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    # Its own session: the signal reaches gunicorn's workers too, and nothing else.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


# The web server


def gunicorn_workers() -> int:
    """gunicorn's own recommendation: two workers per core, plus one."""
    return 2 * (os.cpu_count() or 1) + 1


@contextmanager
def gunicorn(
    bench: Bench,
    database_url: str,
    name: str,
    *,
    settings="bench.settings",
    workers: int | None = None,
    **env,
) -> Iterator[str]:
    """The product behind gunicorn's sync workers on loopback; yields its base URL.

    Sync workers are what the README deploys (behind a proxy that buffers slow
    clients). Each worker keeps its database connection (CONN_MAX_AGE).
    """
    port = free_port()
    argv = [
        bench.tool("gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers or gunicorn_workers()}",
        "--worker-class=sync",
        "--backlog=2048",
        "--log-level=warning",
    ]
    base = f"http://127.0.0.1:{port}"
    with background(bench, name, argv, django_env(database_url, settings, **env)):
        wait_for_http(f"{base}/healthz")
        yield base


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.1)


# Load generators, each a separate process


@dataclass
class Load:
    """What a load generator measured in one run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk(
    url: str, *, connections: int, seconds: float, headers: dict | None = None
) -> Load:
    """Load `url` from wrk over `connections` connections, each sending its next
    request as soon as the answer is in: what the server can do."""
    threads = min(connections, os.cpu_count() or 1)
    argv = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        argv += ["--header", f"{name}: {value}"]
    argv.append(url)

    done = subprocess.run(argv, capture_output=True, text=True, check=True)  # noqa: S603
    return parse_wrk(done.stdout)


def pollers(
    bench: Bench, url: str, *, pollers: int, seconds: float, headers: dict | None = None
) -> Load:
    """`pollers` clients each asking for `url` about once a second (bench.pollers),
    so `pollers=10` is a steady 10 requests/s."""
    argv = [
        bench.python,
        "-m",
        "bench.pollers",
        url,
        f"--pollers={pollers}",
        f"--seconds={seconds}",
    ]
    for name, value in (headers or {}).items():
        argv.append(f"--header={name}: {value}")
    done = subprocess.run(  # noqa: S603
        argv, cwd=ROOT, capture_output=True, text=True, check=True
    )
    answer = json.loads(done.stdout)
    return Load(
        requests_per_second=answer["requests_per_second"],
        p50_ms=answer["p50_ms"],
        p99_ms=answer["p99_ms"],
        requests=answer["requests"],
        errors=answer["errors"],
    )


def parse_wrk(output: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    latencies = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", output, re.M))
    errors = sum(
        int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    if not (rate and count and "50" in latencies and "99" in latencies):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return Load(
        requests_per_second=float(rate.group(1)),
        p50_ms=_milliseconds(latencies["50"]),
        p99_ms=_milliseconds(latencies["99"]),
        requests=int(count.group(1)),
        errors=errors,
    )


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
