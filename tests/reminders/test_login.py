"""Logging in with WeChat, end to end: the Django test client on our side, the
simulator's consent page and code exchange on WeChat's side, over real HTTP."""

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from prs.models import User
from prs.services import user_for_openid
from reminders import login
from reminders.wechat import simulator

ALICE = "o-demo-alice"


@pytest.fixture
def browser(db, wechat_sim):
    return Client()


def start_login(browser, next_path="/prs/7"):
    """Open the login link; answer WeChat's authorize URL it redirects to."""
    response = browser.get("/auth/wechat/login", {"next": next_path})
    assert response.status_code == 302
    return response["Location"]


def come_back(browser, location):
    """Follow WeChat's redirect back to our site, as the browser would."""
    url = urlsplit(location)
    assert url.path == "/auth/wechat/callback"
    return browser.get(url.path, parse_qs(url.query))


def log_in(browser, wechat_sim, openid=ALICE, next_path="/prs/7"):
    authorize = start_login(browser, next_path)
    return come_back(browser, wechat_sim.consent(authorize, openid))


def logged_in_user(browser):
    user_id = browser.session.get(SESSION_KEY)
    return User.objects.get(pk=user_id) if user_id else None


def assert_failure_page(response, status, reason):
    assert response.status_code == status
    assert response.templates[0].name == "reminders/login_failed.html"
    assert f'data-reason="{reason}"' in response.text
    assert "重新登录" in response.text
    assert "no-store" in response["Cache-Control"]


# The happy path


def test_login_sends_the_browser_to_wechat_with_the_parameters_in_order(
    browser, wechat_sim
):
    location = start_login(browser)

    state = browser.session[login.SESSION_KEY].popitem()[0]
    assert location == (
        f"{wechat_sim.url}/connect/oauth2/authorize?appid={simulator.DEMO_APP_ID}"
        "&redirect_uri=http%3A%2F%2Ftestserver%2Fauth%2Fwechat%2Fcallback"
        f"&response_type=code&scope=snsapi_base&state={state}#wechat_redirect"
    )
    assert len(state) == 32 and state.isalnum()


def test_on_the_public_host_wechat_comes_back_to_site_url(browser, settings):
    settings.SITE_URL = "https://partners.example.com"
    settings.ALLOWED_HOSTS = ["partners.example.com"]

    # Plain http here, as behind a proxy that terminates TLS.
    response = browser.get(
        "/auth/wechat/login", headers={"host": "partners.example.com"}
    )

    assert (
        "&redirect_uri=https%3A%2F%2Fpartners.example.com%2Fauth%2Fwechat%2Fcallback&"
        in response["Location"]
    )


def test_a_first_login_creates_the_user_and_goes_back_to_next(browser, wechat_sim):
    response = log_in(browser, wechat_sim, next_path="/prs/7?tab=people")

    assert response.status_code == 302
    assert response["Location"] == "/prs/7?tab=people"
    user = logged_in_user(browser)
    assert user.wechat_openid == ALICE
    assert user.username.startswith("wx-")
    assert ALICE not in user.username
    assert not user.has_usable_password()


def test_a_known_person_logs_in_as_their_user(browser, wechat_sim, participant):
    wechat_sim.add_person(participant.wechat_openid)

    log_in(browser, wechat_sim, openid=participant.wechat_openid)

    assert logged_in_user(browser) == participant
    assert User.objects.count() == 1


def test_two_logins_under_way_in_one_session_both_work(browser, wechat_sim):
    first = start_login(browser, "/first")
    second = start_login(browser, "/second")

    back_from_second = come_back(browser, wechat_sim.consent(second, ALICE))
    back_from_first = come_back(browser, wechat_sim.consent(first, ALICE))

    assert back_from_second["Location"] == "/second"
    assert back_from_first["Location"] == "/first"


def test_logout_ends_the_session(browser, wechat_sim):
    log_in(browser, wechat_sim)

    response = browser.post("/auth/logout")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in_user(browser) is None


def test_logout_refuses_get(browser, wechat_sim):
    log_in(browser, wechat_sim)

    response = browser.get("/auth/logout")

    assert response.status_code == 405
    assert logged_in_user(browser) is not None


def test_logout_is_csrf_protected(wechat_sim, participant):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(participant)

    response = browser.post("/auth/logout")

    assert response.status_code == 403
    assert logged_in_user(browser) == participant


# Where next may point


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_next_outside_this_site_goes_home_instead(browser, wechat_sim, next_path):
    response = log_in(browser, wechat_sim, next_path=next_path)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in_user(browser).wechat_openid == ALICE


def test_logout_next_outside_this_site_goes_home_instead(browser, wechat_sim):
    log_in(browser, wechat_sim)

    response = browser.post("/auth/logout", {"next": "//evil.example/"})

    assert response["Location"] == "/"


# Everything that can go wrong, each with its page


def test_a_state_that_was_never_issued_is_refused(browser, wechat_sim):
    start_login(browser)

    response = browser.get("/auth/wechat/callback", {"code": "x", "state": "forged"})

    assert_failure_page(response, 400, "state")
    assert logged_in_user(browser) is None


def test_a_callback_without_a_login_under_way_is_refused(browser, wechat_sim):
    response = browser.get("/auth/wechat/callback", {"code": "x", "state": "abc"})

    assert_failure_page(response, 400, "state")


def test_a_state_works_once(browser, wechat_sim):
    authorize = start_login(browser)
    location = wechat_sim.consent(authorize, ALICE)
    come_back(browser, location)

    # Replayed in the same session, which keeps its other pending logins: were the
    # state not spent, the replay would get as far as the used code instead.
    replayed = come_back(browser, location)

    assert_failure_page(replayed, 400, "state")


def test_a_used_code_is_refused(browser, wechat_sim, wechat_client):
    location = wechat_sim.consent(start_login(browser), ALICE)
    wechat_client.exchange_oauth_code(parse_qs(urlsplit(location).query)["code"][0])

    response = come_back(browser, location)

    assert_failure_page(response, 400, "code")
    assert logged_in_user(browser) is None


def test_refused_consent_says_so(browser, wechat_sim):
    location = wechat_sim.consent(start_login(browser), deny=True)

    response = come_back(browser, location)

    assert_failure_page(response, 403, "denied")
    assert "/auth/wechat/login?next=%2Fprs%2F7" in response.text


def test_a_snapshot_page_openid_is_never_bound_to_a_user(browser, wechat_sim):
    location = wechat_sim.consent(start_login(browser), ALICE, snapshot=True)

    response = come_back(browser, location)

    assert_failure_page(response, 403, "snapshot")
    assert not User.objects.exists()


def test_wechat_down_gives_a_page_to_try_again(browser, wechat_sim, settings):
    location = wechat_sim.consent(start_login(browser), ALICE)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.WECHAT_API_BASE = f"http://127.0.0.1:{sock.getsockname()[1]}"

    response = come_back(browser, location)

    assert_failure_page(response, 502, "unavailable")
    assert logged_in_user(browser) is None


def test_wechat_busy_gives_a_page_to_try_again(browser, wechat_sim):
    wechat_sim.fail("oauth", errcode=-1)
    location = wechat_sim.consent(start_login(browser), ALICE)

    response = come_back(browser, location)

    assert_failure_page(response, 502, "unavailable")


def test_a_wrong_app_secret_is_a_configuration_error(browser, wechat_sim, settings):
    location = wechat_sim.consent(start_login(browser), ALICE)
    settings.WECHAT_APP_SECRET = "wrong"

    response = come_back(browser, location)

    assert_failure_page(response, 503, "not_configured")


def test_login_without_an_app_id_says_it_is_unavailable(browser, wechat_sim, settings):
    settings.WECHAT_APP_ID = ""

    response = browser.get("/auth/wechat/login")

    assert_failure_page(response, 503, "not_configured")


def test_a_deactivated_user_cannot_log_in(browser, wechat_sim, make_user):
    make_user("gone", wechat_openid=ALICE, is_active=False)

    response = log_in(browser, wechat_sim)

    assert_failure_page(response, 403, "inactive")
    assert logged_in_user(browser) is None


def test_the_failure_page_is_chinese_and_extends_the_base(browser, wechat_sim):
    response = browser.get("/auth/wechat/callback", {"state": "nope"})

    assert "<title>这个登录链接已失效</title>" in response.text
    assert '<meta name="viewport"' in response.text
    assert '<html lang="zh-hans">' in response.text


# user_for_openid


def test_user_for_openid_creates_a_user_once(db):
    first = user_for_openid("oia2TjuEGTNoeX76QEjQNrcURxG8")
    again = user_for_openid("oia2TjuEGTNoeX76QEjQNrcURxG8")

    assert again == first
    assert first.wechat_openid == "oia2TjuEGTNoeX76QEjQNrcURxG8"
    assert User.objects.count() == 1


def test_user_for_openid_gives_different_people_different_usernames(db):
    names = {user_for_openid(f"o-person-{n}").username for n in range(20)}

    assert len(names) == 20
