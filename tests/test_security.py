"""Who may do what: CSRF on every state-changing view, the login's state and
`next`, the tick's token, the admin, and what pages and logs never show."""

import hmac
import logging
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs import runner
from prs.models import Slot
from reminders.login import HOME, safe_next
from reminders.wechat import shorten
from reminders.wechat.client import get_client
from tests.jobs import tasks
from tests.urlmap import url_views

# Views that a browser session cannot drive, each with what authenticates it.
CSRF_EXEMPT = {
    "/internal/jobs/tick": "the bearer token JOBS_TICK_TOKEN",
    "/wechat/callback": "WeChat's signature with WECHAT_CALLBACK_TOKEN",
}
PERSON = "o-persona-7f3a9c51e2d84b06"  # an openid that is easy to find in text
DATA = {
    "thing1": {"value": "羽毛球双打"},
    "time2": {"value": "2026-12-02 19:30"},
    "thing3": {"value": "朝阳体育中心"},
    "phrase4": {"value": "即将开始"},
}


# CSRF


def concrete(template: str, pr_id: int) -> str:
    return (
        template.replace("{prId}", str(pr_id))
        .replace("{objectId}", "1")
        .replace("{appLabel}", "prs")
        .replace("{modelName}", "partnerrequest")
        .replace("{url}", "x")
        .replace("{contentTypeId}", "1")
        .replace("{pk}", "1")
    )


def test_only_the_listed_views_are_exempt_from_csrf():
    exempt = {
        template
        for template, view in url_views()
        if getattr(view, "csrf_exempt", False)
    }

    assert exempt == set(CSRF_EXEMPT)


def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(
    clock, settings, make_pr, make_user
):
    settings.JOBS_TICK_TOKEN = "token"
    staff = make_user("operator", is_staff=True, is_superuser=True)
    pr = make_pr(organiser=staff)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    templates = {t for t, _ in url_views() if t not in CSRF_EXEMPT}

    answers = {t: browser.post(concrete(t, pr.pk)).status_code for t in templates}

    assert {t for t, status in answers.items() if status != 403} == set()
    assert len(templates) > 40  # the admin's URLs are in there too
    assert not Slot.objects.exists()


# The login's state


def test_a_login_started_in_one_browser_cannot_end_in_another(db, wechat_sim):
    victim, attacker = Client(), Client()
    authorize = attacker.get("/auth/wechat/login")["Location"]
    back = urlsplit(wechat_sim.consent(authorize, "o-demo-alice"))

    response = victim.get(back.path, parse_qs(back.query))

    assert response.status_code == 400
    assert "_auth_user_id" not in victim.session


# Where `next` may lead


@pytest.mark.parametrize(
    "next_path",
    [
        "/%2F%2Fevil.example",
        "///evil.example",
        "/\\/evil.example",
        "https:evil.example",
        "https:/evil.example",
        "//evil.example@partners.example.com",
        "/\nLocation: https://evil.example",
        "/\x00//evil.example",
        "\u2028//evil.example",
        "／／evil.example",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_next_never_leads_off_the_site(next_path):
    assert_stays_on_site(safe_next(next_path))


@settings(max_examples=300, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from("/\\:@.%?#&=ae \t\n\x00\u3000"), max_size=24))
def test_no_next_leads_off_the_site(candidate):
    assert_stays_on_site(safe_next(candidate))


def assert_stays_on_site(target: str):
    site = "https://partners.example.com/prs/7"
    resolved = urlsplit(urljoin(site, target))

    assert target == HOME or target.startswith("/")
    assert (resolved.scheme, resolved.netloc) == ("https", "partners.example.com")


# The tick's token


def test_the_tick_token_is_compared_in_constant_time(db, clock, settings, monkeypatch):
    settings.JOBS_TICK_TOKEN = "s3cret"
    compared = []
    compare_digest = hmac.compare_digest

    def spy(given, expected):
        compared.append((given, expected))
        return compare_digest(given, expected)

    monkeypatch.setattr("jobs.views.hmac.compare_digest", spy)

    refused = Client().post(
        "/internal/jobs/tick", headers={"Authorization": "Bearer no"}
    )
    accepted = Client().post(
        "/internal/jobs/tick", headers={"Authorization": "Bearer s3cret"}
    )

    assert (refused.status_code, accepted.status_code) == (403, 200)
    assert compared == [(b"no", b"s3cret"), (b"s3cret", b"s3cret")]


# The admin


def admin_pages():
    yield "/admin/"
    for model in admin.site._registry:
        meta = model._meta
        yield f"/admin/{meta.app_label}/{meta.model_name}/"


@pytest.mark.parametrize("who", ["anonymous", "participant"])
def test_the_admin_lets_no_one_but_staff_in(who, participant):
    browser = Client()
    if who == "participant":
        browser.force_login(participant)

    for page in admin_pages():
        response = browser.get(page)

        assert response.status_code == 302, page
        assert response["Location"].startswith("/admin/login/"), page


def test_staff_without_permissions_sees_no_model(make_user):
    browser = Client()
    browser.force_login(make_user("helper", is_staff=True))

    answers = {page: browser.get(page).status_code for page in admin_pages()}

    assert answers.pop("/admin/") == 200
    assert set(answers.values()) == {403}


# What pages never show


def test_no_page_shows_the_viewers_openid(clock, settings, make_pr, make_user):
    settings.WECHAT_ASSUME_IN_WECHAT = True  # the in-WeChat parts of the pages too
    settings.DEBUG = True
    person = make_user("pat", wechat_openid=PERSON)
    pr = make_pr(organiser=person)
    browser = Client()
    browser.force_login(person)

    answers = [
        browser.get("/"),
        browser.get("/prs/new"),
        browser.get(f"/prs/{pr.pk}"),
        browser.get(f"/prs/{pr.pk}/live"),
        browser.post(f"/prs/{pr.pk}/join", headers={"HX-Request": "true"}),
        browser.get(f"/api/prs/{pr.pk}"),
        browser.get("/api/prs"),
    ]

    for response in answers:
        assert response.status_code == 200
        assert PERSON not in response.text
        assert PERSON[2:12] not in response.text


# What logs never carry


def test_no_log_line_carries_a_secret_or_a_whole_openid(
    caplog, clock, settings, wechat_sim, make_pr, make_user
):
    settings.JOBS_TICK_TOKEN = "tick-7c1d9e0f2b4a6c8e"
    settings.SECRET_KEY = "secret-key-3f9b1c7d5e2a4f6b8c0d1e3f5a7b9c1d3e5f7a9b"
    wechat_sim.add_person(PERSON)
    caplog.set_level(logging.DEBUG)

    browser = Client()
    authorize = browser.get("/auth/wechat/login", {"next": "/"})["Location"]
    back = urlsplit(wechat_sim.consent(authorize, PERSON))
    sent_back = parse_qs(back.query)
    browser.get(back.path, sent_back)
    browser.get(back.path, sent_back)  # a replayed callback is refused and logged

    pr = make_pr()
    csrf_checking = Client(enforce_csrf_checks=True)
    csrf_checking.cookies = browser.cookies
    csrf_checking.post(f"/prs/{pr.pk}/join")  # no token: refused and logged
    browser.post(f"/prs/{pr.pk}/join")

    runner.enqueue(tasks.record, ["a"])
    Client().post("/internal/jobs/tick", headers={"Authorization": "Bearer wrong"})
    Client().post(
        "/internal/jobs/tick",
        headers={"Authorization": f"Bearer {settings.JOBS_TICK_TOKEN}"},
    )

    client = get_client()
    client.send_template(
        PERSON, settings.WECHAT_REMINDER_TEMPLATE_ID, "https://x.example/", DATA, "m-1"
    )
    access_token = cache.get(f"wechat:access-token:{settings.WECHAT_APP_ID}")["token"]

    secrets = {
        "the openid": PERSON,
        "SECRET_KEY": settings.SECRET_KEY,
        "JOBS_TICK_TOKEN": settings.JOBS_TICK_TOKEN,
        "WECHAT_APP_SECRET": settings.WECHAT_APP_SECRET,
        "WECHAT_CALLBACK_TOKEN": settings.WECHAT_CALLBACK_TOKEN,
        "the access token": access_token,
        "the OAuth code": sent_back["code"][0],
        "the OAuth state": sent_back["state"][0],
        "the session key": browser.cookies["sessionid"].value,
        "the CSRF token": browser.cookies["csrftoken"].value,
    }
    lines = [
        record.getMessage() + (caplog.text if record.exc_info else "")
        for record in caplog.records
    ]
    assert len(lines) > 10
    assert any(shorten(PERSON) in line for line in lines)
    for name, secret in secrets.items():
        leaks = [line for line in lines if secret in line]
        assert leaks == [], f"{name} is in the log"
