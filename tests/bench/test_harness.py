"""The benchmark harness's own arithmetic: how it reads wrk and summarises runs.

The benchmarks themselves run with `make bench`, never in the suite.
"""

import pytest

from bench.harness import Figure, parse_wrk, percentile

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:18555/bench/constant
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.07ms    3.10ms  41.71ms   81.53%
    Req/Sec     2.08k   190.17     2.45k    73.00%
  Latency Distribution
     50%  750.00us
     75%   13.37ms
     90%   15.52ms
     99%    1.02s
  41432 requests in 10.01s, 9.05MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   4139.12
Transfer/sec:      0.90MB
"""


def test_wrk_output_gives_rate_latencies_in_milliseconds_and_errors():
    load = parse_wrk(WRK_OUTPUT)

    assert load.requests_per_second == 4139.12
    assert load.p50_ms == 0.75
    assert load.p99_ms == 1020.0
    assert load.requests == 41432
    assert load.errors == 3 + 2 + 4


def test_unexpected_wrk_output_is_an_error_not_a_zero():
    with pytest.raises(RuntimeError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_percentiles_interpolate_between_ranks():
    samples = [4.0, 1.0, 3.0, 2.0, 5.0]

    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 99) == pytest.approx(4.96)
    assert percentile([7.0], 99) == 7.0


def test_a_figure_is_its_median_checked_against_its_target():
    fast_enough = Figure("scale", "empty tick p50", "ms", [1.9, 2.5, 1.2], at_most=2)
    too_slow = Figure("poll", "ratio", "x", [0.5, 0.7, 0.4], at_least=0.6)
    no_target = Figure("poll", "capacity", "req/s", [800.0])

    summary = fast_enough.as_dict()

    assert (summary["median"], summary["min"], summary["max"]) == (1.9, 1.2, 2.5)
    assert (summary["target"], summary["met"]) == ("< 2", True)
    assert (too_slow.target, too_slow.met) == (">= 0.6", False)
    assert (no_target.target, no_target.met) == ("", None)
