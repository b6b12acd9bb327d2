"""`make bench`: run every scenario, print one table, write bench/results/<date>.json.

    python -m bench.run [--quick] [--runs N] [--only poll,scale]

Each scenario is a module of this package with a TITLE and a `run(bench)` that
answers (figures, details); SCENARIOS lists them in the order they run. Figures
are medians of `--runs` runs with their min and max; ratios pair the runs of one
scenario, so both sides of a ratio were measured minutes apart on this machine.
"""

import argparse
import importlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import psycopg

from .harness import ROOT, Bench

logger = logging.getLogger("bench")

# One module per scenario; a new scenario is one more module and one more line.
SCENARIOS = [
    "bench.poll",
    "bench.throughput",
    "bench.scale",
    "bench.tail",
    "bench.timeliness",
]

RESULTS = ROOT / "bench" / "results"
# The logs of this many runs are kept (a full run writes about 10 MB).
KEEP_LOGS = 5
PG_URL = "postgres://postgres@127.0.0.1:5432"


def main(argv=None) -> int:
    options = _parse(argv)
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    started_at = datetime.now(UTC)
    log_dir = RESULTS / "logs" / started_at.strftime("%Y-%m-%dT%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    _prune_logs(keep=KEEP_LOGS)
    bench = Bench(
        quick=options.quick,
        runs=options.runs or (2 if options.quick else 3),
        pg_url=options.pg_url,
        log_dir=log_dir,
    )

    machine = describe_machine(bench)
    logger.info(
        "bench started quick=%s runs=%s cpus=%s load=%s logs=%s",
        bench.quick,
        bench.runs,
        machine["cpus"],
        machine["load_average_start"],
        log_dir.relative_to(ROOT),
    )
    _collect_static(bench)

    scenarios = {}
    for name in _selected(options.only):
        module = importlib.import_module(name)
        began = time.monotonic()
        logger.info("scenario started name=%s", name)
        figures, details = module.run(bench)
        elapsed = time.monotonic() - began
        logger.info("scenario done name=%s seconds=%.0f", name, elapsed)
        scenarios[name.removeprefix("bench.")] = {
            "title": module.TITLE,
            "seconds": round(elapsed, 1),
            "figures": [figure.as_dict() for figure in figures],
            "details": details,
        }

    machine["load_average_end"] = os.getloadavg()
    report = {
        "started_at": started_at.isoformat(),
        "seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "quick": bench.quick,
        "runs": bench.runs,
        "machine": machine,
        "scenarios": scenarios,
    }
    path = _write(report, started_at)
    print(render_table(report))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes, 2 runs.")
    parser.add_argument("--runs", type=int, default=0, help="Runs per figure.")
    parser.add_argument(
        "--only", default="", help="Comma-separated scenarios, e.g. poll,scale."
    )
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL, no database.")
    return parser.parse_args(argv)


def _selected(only: str) -> list[str]:
    if not only:
        return SCENARIOS
    wanted = [f"bench.{name.strip()}" for name in only.split(",")]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return wanted


def _prune_logs(keep: int) -> None:
    runs = sorted(path for path in (RESULTS / "logs").iterdir() if path.is_dir())
    for old in runs[:-keep]:
        shutil.rmtree(old)


def _collect_static(bench: Bench) -> None:
    """Pages with DEBUG off link hashed static files: collect them once."""
    subprocess.run(  # noqa: S603
        [bench.python, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        check=True,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings"},
    )


def describe_machine(bench: Bench) -> dict:
    try:
        with psycopg.connect(f"{bench.pg_url}/postgres", connect_timeout=5) as conn:
            postgresql = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.OperationalError as error:
        raise SystemExit(
            f"make bench needs PostgreSQL at {bench.pg_url} (user postgres, trust "
            f"authentication), as make test does: {error}"
        ) from error
    wrk_version = subprocess.run(
        ["wrk", "--version"],  # noqa: S607 (Debian's, found on PATH as make bench does)
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(_memory_bytes() / 2**30, 1),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": version("django"),
        "postgresql": postgresql,
        "gunicorn": version("gunicorn"),
        "procrastinate": version("procrastinate"),
        "django_tasks_db": version("django-tasks-db"),
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("[")[0].strip(),
        "load_average_start": os.getloadavg(),
    }


def _memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _write(report: dict, started_at: datetime) -> Path:
    suffix = "-quick" if report["quick"] else ""
    path = RESULTS / f"{started_at.date().isoformat()}{suffix}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def render_table(report: dict) -> str:
    """The figures as one Markdown table (the README's Performance section)."""
    machine = report["machine"]
    lines = [
        f"{report['started_at'][:10]}, {machine['cpus']} CPUs "
        f"({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, Django {machine['django']}, "
        f"PostgreSQL {machine['postgresql']}; {report['runs']} runs per figure"
        f"{', quick sizes' if report['quick'] else ''}; load average "
        f"{_load(machine['load_average_start'])} at start, "
        f"{_load(machine['load_average_end'])} at end.",
        "",
        "| scenario | figure | median | min | max | unit | target | |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for name, scenario in report["scenarios"].items():
        for figure in scenario["figures"]:
            verdict = {True: "met", False: "missed", None: ""}[figure["met"]]
            lines.append(
                f"| {name} | {figure['name']} | {_number(figure['median'])} | "
                f"{_number(figure['min'])} | {_number(figure['max'])} | "
                f"{figure['unit']} | {figure['target']} | {verdict} |"
            )
    return "\n".join(lines)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _load(averages) -> str:
    return "/".join(f"{value:.1f}" for value in averages)


if __name__ == "__main__":
    sys.exit(main())
