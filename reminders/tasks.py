"""The reminder job, run by the JobRunner at T-24h and T-2h."""

from django.tasks import task

from . import services


@task(takes_context=True)
def send_reminder(context, slot_id: int, reminder_type: str) -> None:
    """Send one reminder; `services.deliver_reminder` says what it guarantees."""
    services.deliver_reminder(
        job_id=int(context.task_result.id),
        attempt=context.attempt,
        slot_id=slot_id,
        reminder_type=reminder_type,
    )
