"""Delete reminder deliveries older than the retention period."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from config import clock
from reminders.models import NotificationDelivery

# Slices keep each DELETE short on a large table.
SLICE = 5000


class Command(BaseCommand):
    help = "Delete notification deliveries created more than --days ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=90, help="Keep this many days (default 90)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count, delete nothing."
        )

    def handle(self, *args, days, dry_run, **options):
        old = NotificationDelivery.objects.filter(
            created_at__lt=clock.now() - timedelta(days=days)
        )
        if dry_run:
            self.stdout.write(f"prune_deliveries: would delete {old.count()}")
            return

        deleted = 0
        while ids := list(old.values_list("pk", flat=True)[:SLICE]):
            deleted += NotificationDelivery.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(f"prune_deliveries: deleted {deleted} (kept {days} days)")
