"""Rate limits on logging in, posting PRs and the actions, for scripts that
would hammer them. Windows follow the application clock, so tests move it."""

from datetime import timedelta

import pytest
from django.test import Client, RequestFactory

from config import ratelimit
from config.ratelimit import Rate, RateLimited
from prs.models import PartnerRequest, Slot


@pytest.fixture
def tight_limits(settings):
    settings.RATE_LIMITS = {"login": "3/m", "create": "2/h", "action": "4/m"}


def assert_rate_limited(response):
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("text", "rate"),
    [("30/m", Rate(30, 60)), ("10/h", Rate(10, 3600)), ("5/10s", Rate(5, 10))],
)
def test_a_rate_reads_hits_per_window(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["30", "30/", "m/30", "30/w", "-1/m"])
def test_a_malformed_rate_is_refused(text):
    with pytest.raises(ValueError, match="not a rate"):
        Rate.parse(text)


def test_a_malformed_rate_setting_stops_the_start(settings):
    from config.checks import check_rate_limits

    settings.RATE_LIMITS = {"action": "lots"}

    assert [problem.id for problem in check_rate_limits(None)] == ["project.E006"]


def test_a_script_hammering_join_and_exit_is_slowed_down(
    clock, tight_limits, api, make_pr, participant
):
    pr = make_pr()
    client = api(participant)
    answers = [
        client.post(f"/api/prs/{pr.pk}/{action}").status_code
        for action in ["join", "exit", "join", "exit", "join"]
    ]

    assert answers == [200, 200, 200, 200, 429]
    assert_rate_limited(client.post(f"/api/prs/{pr.pk}/join"))
    assert Slot.objects.filter(user=participant).count() == 2


def test_the_limit_lifts_when_the_window_ends(
    clock, tight_limits, api, make_pr, participant
):
    pr = make_pr()
    client = api(participant)
    for _ in range(4):
        client.post(f"/api/prs/{pr.pk}/confirm")

    limited = client.post(f"/api/prs/{pr.pk}/join")
    clock.advance(timedelta(seconds=int(limited["Retry-After"])))
    allowed = client.post(f"/api/prs/{pr.pk}/join")

    assert limited.status_code == 429
    assert allowed.status_code == 200


def test_each_user_has_their_own_limit(
    clock, tight_limits, api, make_pr, participant, outsider
):
    pr = make_pr()
    for _ in range(5):
        api(participant).post(f"/api/prs/{pr.pk}/confirm")

    assert api(outsider).post(f"/api/prs/{pr.pk}/join").status_code == 200


def test_posting_prs_is_limited_per_hour(clock, tight_limits, api, organiser):
    body = {
        "title": "Evening run",
        "location": "Olympic park",
        "startAt": "2026-12-02T19:30:00+08:00",
        "capacity": 6,
    }
    client = api(organiser)

    answers = [client.post("/api/prs", body).status_code for _ in range(3)]

    assert answers == [201, 201, 429]
    assert PartnerRequest.objects.count() == 2


def test_page_actions_share_the_users_limit(
    clock, tight_limits, client, make_pr, participant
):
    pr = make_pr()
    client.force_login(participant)
    for _ in range(4):
        client.post(f"/prs/{pr.pk}/confirm")

    plain = client.post(f"/prs/{pr.pk}/join")
    htmx = client.post(f"/prs/{pr.pk}/join", headers={"HX-Request": "true"})

    assert plain.status_code == 302  # back to the page, which shows the message
    assert htmx.status_code == 429
    assert "操作太频繁" in htmx.text
    assert not Slot.objects.filter(user=participant).exists()


def test_the_create_page_is_limited_too(clock, tight_limits, client, organiser):
    client.force_login(organiser)
    form = {
        "title": "Evening run",
        "location": "Olympic park",
        "start_at": "2026-12-02T19:30",
        "capacity": "6",
    }

    answers = [client.post("/prs/new", form).status_code for _ in range(3)]

    assert answers == [302, 302, 429]
    assert PartnerRequest.objects.count() == 2


def test_login_is_limited_per_client_address(clock, tight_limits, db, wechat_sim):
    browsers = [Client(REMOTE_ADDR="203.0.113.9") for _ in range(4)]
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")

    answers = [browser.get("/auth/wechat/login").status_code for browser in browsers]
    other = elsewhere.get("/auth/wechat/login")

    assert answers == [302, 302, 302, 429]
    assert "操作太频繁" in browsers[-1].get("/auth/wechat/login").text
    assert other.status_code == 302


def test_the_login_callback_counts_against_the_same_limit(
    clock, tight_limits, db, wechat_sim
):
    browser = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        browser.get("/auth/wechat/login")

    response = browser.get("/auth/wechat/callback", {"code": "x", "state": "y"})

    assert response.status_code == 429


def test_an_empty_rate_turns_a_limit_off(clock, settings, api, make_pr, participant):
    settings.RATE_LIMITS = {"action": ""}
    pr = make_pr()

    answers = {
        api(participant).post(f"/api/prs/{pr.pk}/confirm").status_code
        for _ in range(50)
    }

    assert answers == {409}


# Whose address counts


def address(settings, proxies, **meta):
    settings.NUM_PROXIES = proxies
    return ratelimit.client_address(RequestFactory().get("/", **meta))


def test_without_a_proxy_the_peer_address_counts(settings):
    assert (
        address(settings, 0, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
        == "203.0.113.9"
    )


def test_behind_one_proxy_the_address_it_saw_counts(settings):
    forged_and_real = "1.2.3.4, 203.0.113.9"

    assert (
        address(
            settings, 1, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forged_and_real
        )
        == "203.0.113.9"
    )


def test_behind_a_proxy_a_missing_header_falls_back_to_the_peer(settings):
    assert address(settings, 1, REMOTE_ADDR="10.0.0.2") == "10.0.0.2"


def test_the_limit_raises_with_the_seconds_left_in_the_window(clock, settings):
    settings.RATE_LIMITS = {"action": "1/m"}
    clock.set_now(clock.now().replace(second=45))

    ratelimit.limit("action", "user:1")
    with pytest.raises(RateLimited) as refused:
        ratelimit.limit("action", "user:1")

    assert refused.value.retry_after == 15
