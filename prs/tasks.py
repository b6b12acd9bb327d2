"""Timed work on PRs, run by the JobRunner."""

import logging

from django.tasks import task

from config import clock
from jobs.runner import RunLater

from . import services
from .models import Slot

logger = logging.getLogger(__name__)


@task
def release_unconfirmed_slot(slot_id: int) -> None:
    """At T-1h, release the slot if its user has not confirmed (DESIGN §3).

    A tick may start this job up to the scheduling tolerance early; until T-1h the
    user may still confirm, so it asks to run again at the deadline instead.
    """
    slot = Slot.objects.select_related("pr").filter(pk=slot_id).first()
    if slot is None:
        logger.info("release skipped: slot gone slot=%s", slot_id)
        return

    deadline = slot.pr.join_deadline
    if clock.now() < deadline:
        raise RunLater(deadline)

    services.release(slot_id)


def release_key(slot_id: int) -> str:
    return f"slot:{slot_id}"
