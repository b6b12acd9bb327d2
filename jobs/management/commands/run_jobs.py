"""Run due jobs: one batch for cron, or `--loop` as a worker process."""

import argparse
import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from jobs import runner

logger = logging.getLogger(__name__)


def positive(kind):
    """An argparse type: a number of `kind` above zero (a worker looping with no
    wait, or on no jobs, would spin against the database)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above zero: {text!r}")
        return value

    return parse


class Command(BaseCommand):
    help = (
        "Run the jobs that are due, then exit (for cron, every minute). With --loop, "
        "keep running batches as a worker; SIGTERM or Ctrl-C finishes the current "
        "job and exits, a second one exits at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Run until stopped.")
        parser.add_argument(
            "--interval",
            type=positive(float),
            default=5.0,
            help="Seconds to wait after a batch that found less than a full load.",
        )
        parser.add_argument(
            "--max-jobs", type=positive(int), default=100, help="Jobs per batch."
        )
        parser.add_argument(
            "--max-seconds",
            type=positive(float),
            default=60.0,
            help="No job of a batch starts after this many seconds.",
        )
        parser.add_argument("--worker", default="", help="Name in jobs.locked_by.")

    def handle(self, *args, loop, interval, max_jobs, max_seconds, worker, **options):
        self.stopping = threading.Event()
        self.batch = dict(max_jobs=max_jobs, max_seconds=max_seconds)
        self.worker = worker or runner.default_worker_name()

        if not loop:
            result = self.run_batch()
            self.stdout.write(f"run_jobs: {result}")
            return

        self.install_signal_handlers()
        totals = runner.TickResult()
        started = time.monotonic()
        logger.info("worker started worker=%s interval=%ss", self.worker, interval)
        while not self.stopping.is_set():
            result = self.run_batch_resiliently()
            for name, value in result.as_dict().items():
                setattr(totals, name, getattr(totals, name) + value)
            if result.claimed < max_jobs:
                self.stopping.wait(interval)

        elapsed = time.monotonic() - started
        self.stdout.write(f"run_jobs: {totals} worker={self.worker} in {elapsed:.1f}s")

    def run_batch(self) -> runner.TickResult:
        """One tick; an unreachable database is a failed command."""
        try:
            return self.tick()
        except DatabaseError as error:
            raise CommandError(f"database unavailable: {error}") from error

    def run_batch_resiliently(self) -> runner.TickResult:
        """One tick of the loop; a database outage is waited out, not fatal."""
        # A long-lived worker drops a connection that a database restart broke
        # (the next query reopens it) or that outlived CONN_MAX_AGE.
        close_old_connections()
        try:
            return self.tick()
        except DatabaseError:
            logger.exception(
                "batch failed, database unavailable worker=%s", self.worker
            )
            return runner.TickResult()

    def tick(self) -> runner.TickResult:
        result = runner.tick(worker=self.worker, stop=self.stopping, **self.batch)
        if result.claimed:
            logger.info("batch done worker=%s %s", self.worker, result)
        return result

    def install_signal_handlers(self):
        def stop(signum, frame):
            if self.stopping.is_set():
                raise SystemExit(1)
            logger.info("worker stopping after the current job worker=%s", self.worker)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
