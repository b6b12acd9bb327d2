"""The operator's admin pages for users, PRs and slots."""

import pytest

from prs import services


@pytest.fixture
def operator_client(client, make_user):
    client.force_login(make_user("operator", is_staff=True, is_superuser=True))
    return client


def test_user_list_shows_reliability_and_filters_by_band(
    clock, operator_client, make_pr, participant, outsider
):
    pr = make_pr()
    services.join(pr.pk, participant)
    services.confirm(pr.pk, participant)

    high = operator_client.get("/admin/prs/user/?join_to_confirm_ratio=high")
    zero = operator_client.get("/admin/prs/user/?join_to_confirm_ratio=zero")

    assert high.status_code == 200
    assert list(high.context["cl"].queryset) == [participant]
    assert outsider in zero.context["cl"].queryset
    assert participant not in zero.context["cl"].queryset


def test_reliability_figures_are_read_only_on_the_user_page(
    operator_client, participant
):
    response = operator_client.get(f"/admin/prs/user/{participant.pk}/change/")

    assert response.status_code == 200
    form_fields = response.context["adminform"].form.fields
    assert "reliability_join_count" not in form_fields
    assert "release_frequency" not in form_fields


def test_pr_admin_lists_searches_and_shows_slots_inline(
    clock, operator_client, make_pr, participant
):
    pr = make_pr(title="Sunday hike")
    make_pr(title="Board games")
    services.join(pr.pk, participant)

    found = operator_client.get("/admin/prs/partnerrequest/?q=hike&status__exact=OPEN")
    page = operator_client.get(f"/admin/prs/partnerrequest/{pr.pk}/change/")

    assert list(found.context["cl"].queryset) == [pr]
    assert page.status_code == 200
    assert "pat" in page.content.decode()


def test_admin_action_cancels_through_the_service(clock, operator_client, make_pr):
    pr = make_pr()

    operator_client.post(
        "/admin/prs/partnerrequest/",
        {"action": "cancel_selected", "_selected_action": [pr.pk]},
    )

    pr.refresh_from_db()
    assert pr.status == "CANCELLED"


def test_slot_admin_is_read_only(clock, operator_client, make_pr, participant):
    slot = services.join(make_pr().pk, participant)

    listing = operator_client.get("/admin/prs/slot/?status__exact=JOINED")
    change = operator_client.post(f"/admin/prs/slot/{slot.pk}/change/", {})

    assert list(listing.context["cl"].queryset) == [slot]
    assert change.status_code == 403
