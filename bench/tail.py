"""Request-tail overhead (issue 7, item 4): what the tail costs a page request.

The detail page of a PR, as its logged-in participant loads it, under two
concurrent visitors (wrk, 2 connections, each sending its next request when the
answer is in), with nothing due and with 1,000 jobs due. Each configuration gets
a fresh copy of the same database and its own gunicorn server:

- tail off (JOBS_REQUEST_TAIL=false);
- tail on with the product's defaults: a batch at most every 30 s per process.
  Each server is warmed up first, and every worker runs its first batch then,
  so this measures the steady state, where a request only checks the interval;
- tail on after every request (JOBS_REQUEST_TAIL_INTERVAL=0): the worst case,
  a tick after each response (with 1,000 due, a batch of up to 5 jobs each
  time until the queue is empty).

The overhead is p50 with the tail minus p50 without it, paired run by run.
"""

from .harness import (
    Bench,
    Figure,
    fresh_database,
    gunicorn,
    manage,
    percentile,
    probe,
    wrk,
)

TITLE = "Request-tail overhead (detail page, 2 visitors)"
CONNECTIONS = 2
WARM_UP_CONNECTIONS = 10
DUE = (0, 1_000)
CONFIGURATIONS = {
    "off": {"JOBS_REQUEST_TAIL": "false"},
    "on": {"JOBS_REQUEST_TAIL": "true"},
    "every request": {"JOBS_REQUEST_TAIL": "true", "JOBS_REQUEST_TAIL_INTERVAL": "0"},
}


def run(bench: Bench) -> tuple[list[Figure], dict]:
    seconds = bench.size(3, 2)
    samples = {}

    with fresh_database(bench, "tail_template") as template:
        manage(bench, template, "migrate", "--no-input")
        seeded = probe(
            bench, template, "bench.poll:seed", env=CONFIGURATIONS["off"], members=6
        )
        page = f"/prs/{seeded['pr']}"
        headers = {"Cookie": seeded["cookie"]}

        for _ in range(bench.runs):
            for due in DUE:
                for name, env in CONFIGURATIONS.items():
                    load = _measure(bench, template, due, env, page, headers, seconds)
                    samples.setdefault((due, name), []).append(load)
        handler_figures = _handler_figures(bench, template)

    figures = []
    for due in DUE:
        figures += _figures_at(due, samples)
    figures += handler_figures
    errors = {
        f"{due}/{name}": sum(load.errors for load in loads)
        for (due, name), loads in samples.items()
    }
    return figures, {"connections": CONNECTIONS, "errors": errors}


def _measure(bench, template, due, env, page, headers, seconds):
    with fresh_database(bench, "tail", template=template) as url:
        if due:
            probe(bench, url, "bench.throughput:fill_directly", count=due)
        with gunicorn(bench, url, "tail-gunicorn", **env) as base:
            # Every worker loads its templates and catalogues at its first
            # requests; with the tail on, each also runs its first batch then.
            wrk(
                f"{base}{page}",
                connections=WARM_UP_CONNECTIONS,
                seconds=1,
                headers=headers,
            )
            return wrk(
                f"{base}{page}",
                connections=CONNECTIONS,
                seconds=seconds,
                headers=headers,
            )


def _figures_at(due: int, samples: dict) -> list[Figure]:
    def values(name, attribute):
        return [getattr(load, attribute) for load in samples[due, name]]

    scenario = "tail"
    what = "nothing due" if not due else f"{due:,} due"
    figures = []
    for name in CONFIGURATIONS:
        figures += [
            Figure(scenario, f"{what}, tail {name}, p50", "ms", values(name, "p50_ms")),
            Figure(scenario, f"{what}, tail {name}, p99", "ms", values(name, "p99_ms")),
        ]
    for name in ("on", "every request"):
        overheads = [
            with_tail - without
            for with_tail, without in zip(
                values(name, "p50_ms"), values("off", "p50_ms"), strict=True
            )
        ]
        figures.append(
            Figure(
                scenario,
                f"{what}, overhead p50, tail {name}",
                "ms",
                overheads,
                at_most=1.0 if not due and name == "on" else None,
            )
        )
    return figures


def _handler_figures(bench: Bench, template: str) -> list[Figure]:
    """The tail's own cost, timed around the request_finished handler in a Django
    process: the part of the page figures above that is not the machine's noise."""
    calls = bench.size(1_000, 200)
    timings = {"on": {"p50": [], "p99": []}, "every request": {"p50": [], "p99": []}}
    with fresh_database(bench, "tail_handler", template=template) as url:
        for _ in range(bench.runs):
            for name, env in CONFIGURATIONS.items():
                if name == "off":
                    continue
                answer = probe(
                    bench, url, "bench.tail:time_handler", env=env, calls=calls
                )
                timings[name]["p50"].append(answer["p50"])
                timings[name]["p99"].append(answer["p99"])

    note = f"{calls} calls a run, nothing due"
    return [
        Figure(
            "tail",
            f"tail handler, tail {name}, {stat}",
            "ms",
            values,
            at_most=1.0 if (name, stat) == ("on", "p50") else None,
            note=note,
        )
        for name, stats in timings.items()
        for stat, values in stats.items()
    ]


# Probes: these run inside a Django process (bench.probe) on the scenario's database.


def time_handler(calls: int) -> dict:
    """Time the request_finished handler as a server calls it after each response."""
    import time

    from jobs.tail import request_tail

    request_tail()  # the process's first batch, as a warmed-up server has had
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        request_tail()
        durations.append((time.perf_counter() - started) * 1000)
    return {"p50": percentile(durations, 50), "p99": percentile(durations, 99)}
