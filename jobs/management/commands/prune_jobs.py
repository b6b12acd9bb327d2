"""Delete finished jobs past their retention; failures are kept longer."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from config import clock
from jobs.models import Job

# Deleting in slices keeps each statement short, so a prune of millions of rows
# never holds locks long enough to stall the workers.
SLICE = 5000


class Command(BaseCommand):
    help = "Delete SUCCEEDED and FAILED jobs that finished longer ago than kept."

    def add_arguments(self, parser):
        parser.add_argument(
            "--succeeded-days",
            type=int,
            default=settings.JOBS_KEEP_SUCCEEDED_DAYS,
            help="Keep succeeded jobs this many days (default %(default)s).",
        )
        parser.add_argument(
            "--failed-days",
            type=int,
            default=settings.JOBS_KEEP_FAILED_DAYS,
            help="Keep failed jobs this many days (default %(default)s).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count, delete nothing."
        )

    def handle(self, *args, succeeded_days, failed_days, dry_run, **options):
        now = clock.now()
        counts = {
            status: self.prune(status, now - timedelta(days=days), dry_run)
            for status, days in (
                (Job.Status.SUCCEEDED, succeeded_days),
                (Job.Status.FAILED, failed_days),
            )
        }

        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"prune_jobs: {verb} succeeded={counts['SUCCEEDED']} "
            f"failed={counts['FAILED']} (kept {succeeded_days}d / {failed_days}d)"
        )

    def prune(self, status: str, before, dry_run: bool) -> int:
        old = Job.objects.filter(status=status, finished_at__lt=before)
        if dry_run:
            return old.count()

        total = 0
        while ids := list(old.values_list("pk", flat=True)[:SLICE]):
            deleted, _ = Job.objects.filter(pk__in=ids).delete()
            total += deleted
        return total
