"""N pollers asking for one URL about once a second each, as N open pages do.

    python -m bench.pollers URL --pollers 50 --seconds 10 [--header "Cookie: ..."]

prints one line of JSON: requests, errors, requests/s, p50 and p99 latency in ms.

Each poller waits a random 0.5 to 1.5 s, then opens a connection, sends its
request and reads the answer to its last byte (by Content-Length), so a poll's
latency includes the connection, as through a proxy in front of gunicorn. wrk
cannot do this: its connections wait for their next request while connected, and
a silent connection holds one of gunicorn's sync workers for the whole pause,
which no proxy lets happen.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from urllib.parse import urlsplit

from .harness import percentile

TIMEOUT = 10.0


def main() -> None:
    options = _parse()
    result = asyncio.run(
        run(options.url, options.pollers, options.seconds, options.header)
    )
    sys.stdout.write(json.dumps(result) + "\n")


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--pollers", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--header", action="append", default=[])
    return parser.parse_args()


async def run(url: str, pollers: int, seconds: float, headers: list[str]) -> dict:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = "".join(
        [
            f"GET {path} HTTP/1.1\r\n",
            f"Host: {parts.netloc}\r\n",
            "Connection: close\r\n",
            *(f"{header}\r\n" for header in headers),
            "\r\n",
        ]
    ).encode()
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list[str] = []

    async def poller(seed: int) -> None:
        pause = random.Random(seed)  # noqa: S311 (a schedule, not a secret)
        while True:
            await asyncio.sleep(pause.uniform(0.5, 1.5))
            if time.monotonic() >= deadline:
                return
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(
                    _fetch(parts.hostname, parts.port, request), TIMEOUT
                )
            except (OSError, TimeoutError, ValueError, EOFError) as error:
                errors.append(type(error).__name__)
                continue
            if status != 200:
                errors.append(f"HTTP {status}")
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.monotonic()
    await asyncio.gather(*(poller(seed) for seed in range(pollers)))
    elapsed = time.monotonic() - began
    if not latencies:
        raise RuntimeError(f"no poll succeeded: {errors[:5]}")
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_second": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


async def _fetch(host: str, port: int, request: bytes) -> int:
    """One request on a new connection; the answer's status once its body is in."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return status
    finally:
        writer.close()


if __name__ == "__main__":
    main()
