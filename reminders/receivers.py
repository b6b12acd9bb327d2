"""How reminders follow what happens to slots and PRs, without `prs` knowing.

The receivers run inside the transaction of the change, so a scheduling or a
deletion commits or rolls back with the join, exit, release or cancel itself.
"""

from django.dispatch import receiver

from prs.signals import pr_cancelled, slot_changed

from . import services


@receiver(slot_changed, dispatch_uid="reminders.slot_changed")
def follow_slot(sender, slot, action, **kwargs):
    if action == "join":
        services.schedule_after_join(slot)
    elif action in ("exit", "release"):
        services.delete_after_leaving(slot, why=action)


@receiver(pr_cancelled, dispatch_uid="reminders.pr_cancelled")
def follow_cancel(sender, pr, **kwargs):
    services.delete_after_cancel(pr)
