"""The detail page in a real browser: Debian's Chromium driven by Playwright.

Rounds of polls are counted under Playwright's fake page clock, which fires the
page's timers when told to, so no test waits for real seconds except the one that
checks the real one-second interval.
"""

import itertools

import pytest

from prs import services
from reminders import services as reminder_services
from tests.pages.conftest import SCREENSHOTS
from tests.pages.helpers import WECHAT_UA

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_SAFARI_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)

# Starts the page hidden, and lets the test show it: headless Chromium always
# reports "visible" by itself.
HIDDEN_UNTIL_SHOWN = """
window.__hidden = true;
Object.defineProperty(Document.prototype, "visibilityState", {
  get() { return window.__hidden ? "hidden" : "visible"; },
});
Object.defineProperty(Document.prototype, "hidden", {
  get() { return window.__hidden; },
});
"""


# What the browser fires when it shows a page again from its back/forward cache.
RESTORED_FROM_BFCACHE = (
    "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
)


def count_polls(page) -> list[str]:
    polls = []
    page.on("request", lambda request: _record_poll(polls, request))
    return polls


def _record_poll(polls, request):
    if "/live" in request.url:
        polls.append(request.url)


def run_round(page):
    """Advance the fake clock poll by poll until the round has made its 20."""
    for n in range(1, 21):
        with page.expect_response(lambda response: "/live" in response.url):
            page.clock.run_for(1000)
        page.wait_for_selector(f'#pr-live[data-n="{n}"]', state="attached")


def test_a_round_makes_20_polls_and_a_join_starts_another(
    open_page, clock, make_pr, participant
):
    pr = make_pr()
    page = open_page(f"/prs/{pr.pk}", user=participant, fake_clock=True)
    polls = count_polls(page)

    run_round(page)
    page.clock.run_for(60_000)

    assert len(polls) == 20
    assert page.get_attribute("#pr-live", "data-polling") == "off"

    page.click("#join")
    page.wait_for_selector('#pr-live[data-n="0"][data-polling="on"]', state="attached")
    run_round(page)
    page.clock.run_for(60_000)

    assert len(polls) == 40
    assert page.get_attribute("#pr-live", "data-polling") == "off"
    assert page.text_content('[data-figure="mine"]') == "已加入"
    assert page.is_visible("#confirm")


@pytest.mark.parametrize("failure", ["answer 503", "drop the connection"])
def test_a_failed_poll_ends_the_round_and_coming_back_starts_one(
    open_page, clock, make_pr, participant, failure
):
    pr = make_pr()
    services.join(pr.pk, participant)
    page = open_page(f"/prs/{pr.pk}", user=participant, fake_clock=True)
    polls = count_polls(page)

    def fail(route):
        if failure == "answer 503":
            route.fulfill(status=503, body="<html>the proxy is restarting</html>")
        else:
            route.abort("connectionreset")

    page.route("**/live?*", fail)
    page.clock.run_for(1000)
    page.wait_for_selector('#pr-live[data-polling="off"]', state="attached")
    page.clock.run_for(60_000)

    assert len(polls) == 1
    assert page.text_content('[data-figure="mine"]') == "已加入"

    page.unroute("**/live?*")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_selector('#pr-live[data-n="1"][data-polling="on"]', state="attached")


def test_the_headcount_follows_joins_from_elsewhere(
    open_page, clock, make_pr, make_user, outsider
):
    pr = make_pr(capacity=4)
    page = open_page(f"/prs/{pr.pk}", user=outsider, fake_clock=True)

    services.join(pr.pk, make_user())
    with page.expect_response(lambda response: "/live" in response.url):
        page.clock.run_for(1000)

    page.wait_for_selector('[data-figure="joined"]:text-is("1/4")')
    assert page.text_content('[data-figure="left"]') == "3"


def test_a_pr_that_filled_up_after_loading_refuses_the_join_in_chinese(
    open_page, clock, make_pr, make_user, outsider
):
    pr = make_pr(capacity=1)
    page = open_page(f"/prs/{pr.pk}", user=outsider, fake_clock=True)
    services.join(pr.pk, make_user())

    page.click("#join")

    page.wait_for_selector('#pr-actions .message_error:has-text("该活动名额已满。")')
    assert page.locator("#join").count() == 0
    assert not pr.slots.filter(user=outsider).exists()


def test_polling_pauses_while_the_page_is_hidden(chromium, live_server, clock, make_pr):
    pr = make_pr()
    context = chromium.new_context()
    context.add_init_script(HIDDEN_UNTIL_SHOWN)
    page = context.new_page()
    page.clock.install()
    polls = count_polls(page)
    page.goto(f"{live_server.url}/prs/{pr.pk}")

    page.clock.run_for(30_000)
    hidden_polls = len(polls)
    page.evaluate(
        "window.__hidden = false;document.dispatchEvent(new Event('visibilitychange'))"
    )
    run_round(page)

    assert hidden_polls == 0
    assert len(polls) == 20
    context.close()


def test_a_page_restored_from_the_back_forward_cache_starts_a_round(
    open_page, clock, make_pr
):
    pr = make_pr()
    page = open_page(f"/prs/{pr.pk}", fake_clock=True)
    polls = count_polls(page)
    run_round(page)

    with page.expect_response(lambda response: "/live" in response.url):
        page.evaluate(RESTORED_FROM_BFCACHE)
    page.wait_for_selector('#pr-live[data-n="1"][data-polling="on"]', state="attached")
    for n in range(2, 21):
        with page.expect_response(lambda response: "/live" in response.url):
            page.clock.run_for(1000)
        page.wait_for_selector(f'#pr-live[data-n="{n}"]', state="attached")
    page.clock.run_for(60_000)

    assert len(polls) == 40
    assert page.get_attribute("#pr-live", "data-polling") == "off"


def test_the_default_interval_is_one_second(open_page, clock, make_pr):
    pr = make_pr()
    page = open_page(f"/prs/{pr.pk}")
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))

    page.wait_for_selector('#pr-live[data-n="3"]', state="attached", timeout=10_000)

    # The browser's own start times, in milliseconds.
    started = [r.timing["startTime"] for r in finished if "/live" in r.url]
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert len(gaps) >= 2
    # Each poll is armed once the previous answer is swapped in: never sooner than
    # the interval, and not much later on an idle machine.
    assert all(990 <= gap < 2500 for gap in gaps), gaps


def badminton(make_pr):
    return make_pr(
        title="羽毛球双打",
        description="自带球拍，场地费 AA。",
        location="朝阳体育中心 3 号馆",
        capacity=6,
    )


def test_screenshot_inside_wechat_logged_in_joined_with_reminders_on(
    open_page, clock, make_pr, make_user, participant
):
    pr = badminton(make_pr)
    for _ in range(2):
        services.join(pr.pk, make_user())
    services.join(pr.pk, participant)
    reminder_services.set_opt_in(participant, True)

    page = open_page(f"/prs/{pr.pk}", user=participant, user_agent=WECHAT_UA)

    assert "MicroMessenger" in page.evaluate("navigator.userAgent")
    assert page.text_content('[data-figure="mine"]') == "已加入"
    assert page.is_checked("#reminder-switch")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "pr-detail-wechat.png")


def test_screenshot_outside_wechat(open_page, clock, make_pr, make_user):
    pr = badminton(make_pr)
    for _ in range(3):
        services.join(pr.pk, make_user())

    page = open_page(f"/prs/{pr.pk}", user_agent=PHONE_SAFARI_UA)

    assert page.is_visible("#login")
    assert page.is_visible("#reminder-hint")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "pr-detail-browser.png")


def test_inside_wechat_the_reminder_switch_saves_and_survives_a_reload(
    open_page, clock, make_pr, participant
):
    pr = make_pr()
    page = open_page(f"/prs/{pr.pk}", user=participant, user_agent=WECHAT_UA)
    assert not page.is_checked("#reminder-switch")

    with page.expect_response(lambda r: "/reminders/subscription" in r.url) as answer:
        page.click("label[for=reminder-switch]")
    page.wait_for_selector("#reminder-status:has-text('提醒已开启')")

    assert answer.value.status == 200
    page.reload()
    assert page.is_checked("#reminder-switch")
    participant.refresh_from_db()
    assert participant.wechat_reminder_opt_in is True


@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        ("a proxy's error page", "保存失败，请重试。"),
        ("no network", "保存失败，请重试。"),
        ("the API refusing", "操作太频繁，请稍后再试。"),
    ],
)
def test_a_switch_that_could_not_save_says_so_in_chinese_and_goes_back(
    open_page, clock, make_pr, participant, failure, shown
):
    page = open_page(f"/prs/{make_pr().pk}", user=participant, user_agent=WECHAT_UA)

    def fail(route):
        if failure == "a proxy's error page":
            route.fulfill(status=502, body="<html>502 Bad Gateway</html>")
        elif failure == "no network":
            route.abort("internetdisconnected")
        else:
            route.fulfill(
                status=429,
                json={"error": {"code": "rate_limited", "message": shown}},
            )

    page.route("**/api/wechat/reminders/subscription", fail)
    page.click("label[for=reminder-switch]")

    page.wait_for_selector(f"#reminder-status:text-is('{shown}')")
    assert not page.is_checked("#reminder-switch")
    participant.refresh_from_db()
    assert participant.wechat_reminder_opt_in is False


def test_outside_wechat_there_is_no_switch_only_the_hint(
    open_page, clock, make_pr, participant
):
    page = open_page(
        f"/prs/{make_pr().pk}", user=participant, user_agent=PHONE_SAFARI_UA
    )

    assert page.locator("#reminder-switch").count() == 0
    assert "请在微信内打开本页并登录" in page.text_content("#reminder-hint")
