"""The JSON API of DESIGN §9 for partner requests."""

from datetime import timedelta

import pytest
from django.test import Client

from prs import services
from prs.forms import MAX_START_AHEAD
from prs.models import PartnerRequest, Slot
from tests.conftest import T0

VALID = {
    "title": "Evening run",
    "description": "5 km, easy pace",
    "location": "Olympic park south gate",
    "startAt": "2026-12-02T19:30:00+08:00",
    "capacity": 6,
}


def assert_error(response, status, code):
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


# create


def test_create_answers_201_and_the_pr(clock, api, organiser):
    response = api(organiser).post("/api/prs", VALID)

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "title": "Evening run",
        "description": "5 km, easy pace",
        "location": "Olympic park south gate",
        "startAt": "2026-12-02T19:30:00+08:00",
        "capacity": 6,
        "status": "OPEN",
        "joinedCount": 0,
        "confirmedCount": 0,
        "mySlot": None,
    }
    pr = PartnerRequest.objects.get(pk=body["id"])
    assert (pr.organiser, pr.created_at) == (organiser, T0)  # the clock's time


def test_create_without_description_is_fine(clock, api, organiser):
    body = {key: value for key, value in VALID.items() if key != "description"}

    response = api(organiser).post("/api/prs", body)

    assert response.status_code == 201
    assert response.json()["description"] == ""


def test_create_needs_a_login(clock, api):
    response = api().post("/api/prs", VALID)

    assert_error(response, 401, "not_authenticated")
    assert not PartnerRequest.objects.exists()


def test_create_without_csrf_token_is_forbidden(clock, api, organiser):
    response = api(organiser).post("/api/prs", VALID, csrf=False)

    assert_error(response, 403, "csrf_failed")
    assert not PartnerRequest.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 61}, "title"),
        ({"title": 42}, "title"),
        ({"location": None}, "location"),
        ({"startAt": "2026-12-02T19:30:00"}, "startAt"),
        ({"startAt": "2026-12-02"}, "startAt"),
        ({"startAt": "next tuesday"}, "startAt"),
        ({"startAt": 1733000000}, "startAt"),
        ({"startAt": "2026-11-30T19:30:00+08:00"}, "startAt"),
        ({"startAt": "9999-12-31T23:59:00-08:00"}, "startAt"),  # past year 9999 in UTC
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"capacity": 101}, "capacity"),
        ({"capacity": "6"}, "capacity"),
        ({"capacity": 6.0}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"capacity": 10**40}, "capacity"),
    ],
)
def test_create_refuses_a_bad_field_naming_it(clock, api, organiser, change, field):
    response = api(organiser).post("/api/prs", VALID | change)

    assert_error(response, 400, "invalid_field")
    assert response.json()["error"]["field"] == field
    assert field in response.json()["error"]["message"]
    assert not PartnerRequest.objects.exists()


@pytest.mark.parametrize("missing", ["title", "location", "startAt", "capacity"])
def test_create_refuses_a_missing_field(clock, api, organiser, missing):
    body = {key: value for key, value in VALID.items() if key != missing}

    response = api(organiser).post("/api/prs", body)

    assert_error(response, 400, "invalid_field")
    assert response.json()["error"]["field"] == missing


def test_create_refuses_an_unknown_field(clock, api, organiser):
    response = api(organiser).post("/api/prs", VALID | {"start_at": "tomorrow"})

    assert_error(response, 400, "unknown_field")
    assert response.json()["error"]["field"] == "start_at"


def test_start_time_just_after_now_is_accepted(clock, api, organiser):
    start = (T0 + timedelta(seconds=1)).isoformat()

    response = api(organiser).post("/api/prs", VALID | {"startAt": start})

    assert response.status_code == 201


def test_start_time_a_year_ahead_is_the_last_accepted(clock, api, organiser):
    last = T0 + MAX_START_AHEAD

    accepted = api(organiser).post("/api/prs", VALID | {"startAt": last.isoformat()})
    later = (last + timedelta(seconds=1)).isoformat()
    refused = api(organiser).post("/api/prs", VALID | {"startAt": later})

    assert accepted.status_code == 201
    assert_error(refused, 400, "invalid_field")


def test_start_time_equal_to_now_is_refused(clock, api, organiser):
    response = api(organiser).post("/api/prs", VALID | {"startAt": T0.isoformat()})

    assert_error(response, 400, "invalid_field")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ('["a", "list"]', "invalid_json"),
        ('"a string"', "invalid_json"),
        ('{"capacity": NaN}', "invalid_json"),
        ("[" * 100_000, "invalid_json"),
        ('{"capacity": 1' + "0" * 5000 + "}", "invalid_json"),
    ],
    ids=["broken", "list", "string", "nan", "deep", "huge-int"],
)
def test_create_refuses_a_body_that_is_not_a_json_object(
    clock, api, organiser, raw, code
):
    response = api(organiser).post("/api/prs", raw=raw)

    assert_error(response, 400, code)


def test_create_refuses_invalid_utf8(clock, api, organiser):
    response = api(organiser).post("/api/prs", raw=b'{"title": "\xff\xfe"}')

    assert_error(response, 400, "invalid_json")


def test_create_refuses_a_form_body(clock, api, organiser):
    response = api(organiser).post(
        "/api/prs", raw="title=x", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 400, "unsupported_media_type")


def test_create_accepts_html_and_emoji_as_plain_text(clock, api, organiser):
    title = "<b>夜跑</b> 🏃"

    response = api(organiser).post("/api/prs", VALID | {"title": title})

    assert response.json()["title"] == title


# detail and list


def test_detail_shows_counts_and_the_viewers_slot(clock, api, make_pr, make_user):
    pr = make_pr(capacity=4)
    viewer, confirmed, attended_later = make_user(), make_user(), make_user()
    services.join(pr.pk, viewer)
    for user in (confirmed, attended_later):
        services.join(pr.pk, user)
        services.confirm(pr.pk, user)

    body = api(viewer).get(f"/api/prs/{pr.pk}").json()

    assert body["joinedCount"] == 3
    assert body["confirmedCount"] == 2
    assert body["mySlot"] == {"status": "JOINED"}


def test_detail_shows_the_viewers_latest_slot_after_exit(
    clock, api, make_pr, participant
):
    pr = make_pr()
    services.join(pr.pk, participant)
    services.exit(pr.pk, participant)

    body = api(participant).get(f"/api/prs/{pr.pk}").json()

    assert body["mySlot"] == {"status": "EXITED"}
    assert body["joinedCount"] == 0


def test_detail_for_an_anonymous_viewer(clock, api, make_pr):
    pr = make_pr()

    response = api().get(f"/api/prs/{pr.pk}")

    assert response.status_code == 200
    assert response.json()["mySlot"] is None
    assert response.json()["startAt"] == "2026-12-02T10:00:00+08:00"


def test_every_get_sets_the_csrf_cookie_and_is_not_cached(clock, api, make_pr):
    response = api().get(f"/api/prs/{make_pr().pk}")

    assert "csrftoken" in response.cookies
    assert "no-store" in response["Cache-Control"]


def test_detail_of_an_unknown_pr_is_404(db, api):
    assert_error(api().get("/api/prs/999999"), 404, "not_found")


def test_an_unknown_api_path_answers_json_404(db, api):
    assert_error(api().get("/api/nothing-here"), 404, "not_found")


def test_list_shows_upcoming_open_prs_in_start_order(clock, api, make_pr, organiser):
    later = make_pr(start_in=timedelta(days=2), title="later")
    sooner = make_pr(start_in=timedelta(hours=2), title="sooner")
    cancelled = make_pr(title="cancelled")
    services.cancel(cancelled.pk, organiser)
    started = make_pr(start_in=timedelta(minutes=5), title="started")
    clock.advance(timedelta(minutes=10))

    body = api().get("/api/prs").json()

    assert [pr["id"] for pr in body["prs"]] == [sooner.pk, later.pk]
    assert started.pk not in [pr["id"] for pr in body["prs"]]


# actions


@pytest.mark.parametrize(
    ("action", "status", "joined", "confirmed"),
    [
        ("join", "JOINED", 1, 0),
        ("confirm", "CONFIRMED", 1, 1),
        ("check-in", "ATTENDED", 1, 1),
        ("exit", "EXITED", 0, 0),
    ],
)
def test_each_action_answers_200_and_the_updated_pr(
    clock, api, make_pr, participant, action, status, joined, confirmed
):
    pr = make_pr(start_in=timedelta(hours=2))
    prepare = {
        "join": [],
        "confirm": ["join"],
        "check-in": ["join", "confirm"],
        "exit": ["join"],
    }[action]
    for step in prepare:
        getattr(services, step)(pr.pk, participant)
    if action == "check-in":
        clock.set_now(pr.start_at)

    response = api(participant).post(f"/api/prs/{pr.pk}/{action}")

    assert response.status_code == 200
    body = response.json()
    assert body["mySlot"] == {"status": status}
    assert (body["joinedCount"], body["confirmedCount"]) == (joined, confirmed)


def test_a_refused_action_answers_409_with_its_code(clock, api, make_pr, participant):
    pr = make_pr(start_in=timedelta(minutes=59))

    response = api(participant).post(f"/api/prs/{pr.pk}/join")

    assert_error(response, 409, "join_closed")
    assert not Slot.objects.exists()


def test_a_full_pr_answers_409_pr_full(clock, api, make_pr, participant, outsider):
    pr = make_pr(capacity=1)
    services.join(pr.pk, outsider)

    assert_error(api(participant).post(f"/api/prs/{pr.pk}/join"), 409, "pr_full")


def test_actions_need_a_login(clock, api, make_pr):
    pr = make_pr()

    assert_error(api().post(f"/api/prs/{pr.pk}/join"), 401, "not_authenticated")
    assert not Slot.objects.exists()


def test_actions_need_the_csrf_token(clock, api, make_pr, participant):
    pr = make_pr()

    response = api(participant).post(f"/api/prs/{pr.pk}/join", csrf=False)

    assert_error(response, 403, "csrf_failed")
    assert not Slot.objects.exists()


def test_an_action_on_an_unknown_pr_is_404(db, api, participant):
    assert_error(api(participant).post("/api/prs/999999/join"), 404, "not_found")


def test_cancel_by_the_organiser(clock, api, make_pr, organiser):
    pr = make_pr()

    response = api(organiser).post(f"/api/prs/{pr.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"


def test_cancel_by_anyone_else_is_403(clock, api, make_pr, outsider):
    pr = make_pr()

    assert_error(api(outsider).post(f"/api/prs/{pr.pk}/cancel"), 403, "not_organiser")
    assert PartnerRequest.objects.get(pk=pr.pk).status == "OPEN"


# methods


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("delete", "/api/prs", "GET, POST"),
        ("put", "/api/prs/{id}", "GET"),
        ("post", "/api/prs/{id}", "GET"),
        ("get", "/api/prs/{id}/join", "POST"),
    ],
)
def test_a_wrong_method_answers_405_with_allow(clock, make_pr, method, path, allow):
    pr = make_pr()

    response = getattr(Client(), method)(path.format(id=pr.pk))

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == allow
