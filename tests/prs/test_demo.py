import pytest
from django.core.management import CommandError, call_command

from prs.models import PartnerRequest, Slot, User


def test_load_demo_twice_replaces_the_demo_and_keeps_the_operator(db, settings, clock):
    settings.DEBUG = True

    call_command("load_demo")
    first_ids = set(PartnerRequest.objects.values_list("pk", flat=True))
    call_command("load_demo")

    assert PartnerRequest.objects.count() == 4
    assert first_ids.isdisjoint(PartnerRequest.objects.values_list("pk", flat=True))
    assert User.objects.filter(username="admin", is_staff=True).count() == 1
    starts = sorted(pr.start_at - clock.now() for pr in PartnerRequest.objects.all())
    assert [round(delta.total_seconds() / 60) for delta in starts] == [
        25,
        65,
        125,
        3 * 24 * 60,
    ]
    assert Slot.objects.filter(status="JOINED").exists()


def test_load_demo_refuses_without_debug(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError):
        call_command("load_demo")

    assert not PartnerRequest.objects.exists()
