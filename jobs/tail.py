"""Request-tail compensation: a small batch of jobs after a response was sent.

With no cron and no scheduler (a container that scales to zero between visits),
the requests themselves keep the queue moving. Django sends `request_finished`
when the server closes the response, after its bytes went out, so the visitor
does not wait. A lock and an interval keep it to one batch per process at a time
and per interval, and nothing it raises reaches the request.
"""

import logging
import threading
import time

from django.conf import settings

from . import runner

logger = logging.getLogger(__name__)


class RequestTail:
    def __init__(self, monotonic=time.monotonic):
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last_run: float | None = None

    def __call__(self, **signal_kwargs) -> None:
        if not settings.JOBS_REQUEST_TAIL or not self._due():
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread of this process is running the tail

        try:
            if self._due():
                self._last_run = self._monotonic()
                self._run_batch()
        finally:
            self._lock.release()

    def _due(self) -> bool:
        if self._last_run is None:
            return True
        return self._monotonic() - self._last_run >= settings.JOBS_REQUEST_TAIL_INTERVAL

    def _run_batch(self) -> None:
        try:
            result = runner.tick(
                max_jobs=settings.JOBS_REQUEST_TAIL_MAX_JOBS,
                max_seconds=settings.JOBS_REQUEST_TAIL_MAX_SECONDS,
                worker=f"{runner.default_worker_name()}:tail",
            )
        except Exception:
            logger.exception("request tail batch failed")
        else:
            if result.claimed:
                logger.info("tick done trigger=request-tail %s", result)


request_tail = RequestTail()
