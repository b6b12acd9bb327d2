"""The operators' figures: reminder_stats, the admin page, prune_deliveries."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command

from reminders.models import NotificationDelivery
from tests.conftest import T0


@pytest.fixture
def deliveries(clock, make_pr, make_user):
    """A week of known outcomes, plus one too old to count."""
    pr, user = make_pr(), make_user("alice")
    rows = [
        ("SENT", "", "success", 1),
        ("SENT", "", "success", 2),
        ("SENT", "", "failed:user block", 3),
        ("SENT", "", "", 3),
        ("FAILED", "43004", "", 4),
        ("FAILED", "43004", "", 5),
        ("FAILED", "47003", "", 5),
        ("SKIPPED", "slot_inactive", "", 6),
        ("", "-1", "", 6),
        ("FAILED", "40003", "", 10),  # outside a 7-day period
    ]
    for job_id, (result, code, receipt, days_ago) in enumerate(rows, start=1):
        NotificationDelivery.objects.create(
            pr=pr,
            user=user,
            reminder_type="T-2h",
            scheduled_at=T0,
            result=result,
            error_code=code,
            error_message=f"message for {code}" if code else "",
            receipt_status=receipt,
            job_id=job_id,
            created_at=T0 - timedelta(days=days_ago),
        )


def test_reminder_stats_prints_the_figures_of_the_period(deliveries, capsys):
    call_command("reminder_stats", "--days", "7", "--top", "2")

    assert capsys.readouterr().out.splitlines() == [
        "reminders, last 7 days: sent=4 failed=3 skipped=1 retrying=1 "
        "success_rate=57.1%",
        "receipts: confirmed=2 failed=1",
        "skipped slot_inactive: 1",
        "failed 43004: 2 (message for 43004)",
        "failed 47003: 1 (message for 47003)",
    ]


def test_reminder_stats_json(deliveries, capsys):
    call_command("reminder_stats", "--json", "--days", "30")

    figures = json.loads(capsys.readouterr().out)
    assert (figures["sent"], figures["failed"]) == (4, 4)
    assert figures["success_rate"] == pytest.approx(0.5)
    assert [f["error_code"] for f in figures["top_failures"]] == [
        "43004",
        "40003",
        "47003",
    ]
    assert figures["skips_by_reason"] == {"slot_inactive": 1}


def test_reminder_stats_with_nothing_sent(clock, db, capsys):
    call_command("reminder_stats")

    assert "success_rate=n/a" in capsys.readouterr().out


def test_the_admin_shows_the_figures_and_the_deliveries(deliveries, client, make_user):
    client.force_login(make_user("operator", is_staff=True, is_superuser=True))

    index = client.get("/admin/")
    figures = client.get("/admin/reminders/reminderfigures/?days=7")
    failures = client.get(
        "/admin/reminders/notificationdelivery/?result__exact=FAILED&error_code=43004"
    )

    assert "/admin/reminders/reminderfigures/" in index.content.decode()
    page = figures.content.decode()
    assert figures.context["figures"].success_rate == pytest.approx(4 / 7)
    assert '<td id="success-rate">57%</td>' in page
    assert "43004" in page
    assert failures.context["cl"].result_count == 2


def test_the_admin_finds_deliveries_by_openid(deliveries, client, make_user):
    client.force_login(make_user("operator", is_staff=True, is_superuser=True))

    found = client.get("/admin/reminders/notificationdelivery/?q=o-alice")
    none = client.get("/admin/reminders/notificationdelivery/?q=o-nobody")

    assert found.context["cl"].result_count == NotificationDelivery.objects.count()
    assert none.context["cl"].result_count == 0


def test_prune_deliveries_keeps_the_recent_ones(deliveries, capsys):
    call_command("prune_deliveries", "--days", "7")

    assert NotificationDelivery.objects.count() == 9
    assert "deleted 1" in capsys.readouterr().out
