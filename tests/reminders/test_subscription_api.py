"""GET and POST /api/wechat/reminders/subscription."""

from datetime import timedelta

import pytest

from tests.reminders.conftest import reminder_jobs

URL = "/api/wechat/reminders/subscription"


@pytest.fixture
def bob(make_user):
    return make_user("bob", wechat_openid="o-demo-bob")


def test_get_answers_the_current_preference(clock, api, bob):
    response = api(bob).get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "wechatReminderOptIn": False,
        "wechatReminderOptInAt": None,
    }
    assert "csrftoken" in response.cookies


def test_post_true_switches_on_and_answers_the_saved_state(clock, api, bob):
    response = api(bob).post(URL, {"wechatReminderOptIn": True})

    assert response.status_code == 200
    assert response.json() == {
        "wechatReminderOptIn": True,
        "wechatReminderOptInAt": "2026-12-01T02:00:00+00:00",
    }
    bob.refresh_from_db()
    assert bob.wechat_reminder_opt_in is True


def test_post_false_switches_off_and_clears_the_time(clock, api, bob):
    client = api(bob)
    client.post(URL, {"wechatReminderOptIn": True})

    response = client.post(URL, {"wechatReminderOptIn": False})

    assert response.json() == {
        "wechatReminderOptIn": False,
        "wechatReminderOptInAt": None,
    }


def test_switching_on_schedules_the_reminders_of_held_slots(clock, api, bob, make_pr):
    from prs import services as prs_services

    prs_services.join(make_pr(start_in=timedelta(days=3)).pk, bob)

    api(bob).post(URL, {"wechatReminderOptIn": True})

    assert reminder_jobs().count() == 2


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_get_401(db, api, method):
    response = getattr(api(), method)(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_staff_account_without_wechat_login_gets_401(db, api, make_user):
    operator = make_user("operator", wechat_openid=None, is_staff=True)

    assert api(operator).get(URL).status_code == 401


def test_post_without_the_csrf_token_is_403(clock, api, bob):
    response = api(bob).post(URL, {"wechatReminderOptIn": True}, csrf=False)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    bob.refresh_from_db()
    assert bob.wechat_reminder_opt_in is False


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "invalid_field", "wechatReminderOptIn"),
        ({"wechatReminderOptIn": "true"}, "invalid_field", "wechatReminderOptIn"),
        ({"wechatReminderOptIn": 1}, "invalid_field", "wechatReminderOptIn"),
        ({"wechatReminderOptIn": None}, "invalid_field", "wechatReminderOptIn"),
        (
            {"wechatReminderOptIn": True, "wechat_reminder_opt_in": True},
            "unknown_field",
            "wechat_reminder_opt_in",
        ),
    ],
    ids=["missing", "string", "number", "null", "unknown key"],
)
def test_a_bad_body_gets_400_naming_the_problem(clock, api, bob, body, code, field):
    response = api(bob).post(URL, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert field in error["message"]
    bob.refresh_from_db()
    assert bob.wechat_reminder_opt_in is False


@pytest.mark.parametrize(
    ("raw", "content_type", "code"),
    [
        ("{not json", "application/json", "invalid_json"),
        ("[true]", "application/json", "invalid_json"),
        (
            "wechatReminderOptIn=true",
            "application/x-www-form-urlencoded",
            "unsupported_media_type",
        ),
    ],
    ids=["malformed", "not an object", "form body"],
)
def test_a_body_that_is_not_a_json_object_gets_400(
    clock, api, bob, raw, content_type, code
):
    response = api(bob).post(URL, raw=raw, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_other_methods_get_405(client, bob):
    client.force_login(bob)

    response = client.put(URL)

    assert response.status_code == 405
