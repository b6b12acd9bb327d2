"""Events that other apps react to without `prs` importing them.

Both are sent inside the transaction of the change they announce, so a receiver's
writes (scheduling or deleting reminder jobs) commit or roll back with it, and a
receiver that raises undoes the action.
"""

from django.dispatch import Signal

# sender=Slot; slot=the slot after the change;
# action="join" | "confirm" | "check_in" | "exit" | "release".
slot_changed = Signal()

# sender=PartnerRequest; pr=the PR, already CANCELLED.
pr_cancelled = Signal()
