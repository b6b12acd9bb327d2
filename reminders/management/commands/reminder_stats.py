"""Print the reminders' success rate and failure reasons over a period."""

import json
from datetime import timedelta

from django.core.management.base import BaseCommand

from config import clock
from reminders.stats import delivery_figures


class Command(BaseCommand):
    help = "Success rate SENT / (SENT + FAILED), receipts, skips and top failures."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7, help="Period (default 7).")
        parser.add_argument("--top", type=int, default=5, help="Failure reasons shown.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, days, top, json: bool, **options):
        until = clock.now()
        figures = delivery_figures(until - timedelta(days=days), until, top=top)

        if json:
            self.stdout.write(_dumps(figures.as_dict()))
            return

        rate = figures.success_rate
        self.stdout.write(
            f"reminders, last {days} days: sent={figures.sent} "
            f"failed={figures.failed} skipped={figures.skipped} "
            f"retrying={figures.retrying} "
            f"success_rate={'n/a' if rate is None else f'{rate:.1%}'}"
        )
        self.stdout.write(
            f"receipts: confirmed={figures.receipts_confirmed} "
            f"failed={figures.receipts_failed}"
        )
        for reason, count in figures.skips_by_reason.items():
            self.stdout.write(f"skipped {reason}: {count}")
        for failure in figures.top_failures:
            self.stdout.write(
                f"failed {failure['error_code']}: {failure['count']} "
                f"({failure['example']})"
            )


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
