"""The server-rendered pages of DESIGN §8, read through Django's test client.

The clock stands at T0, 10:00 on 1 December in Asia/Shanghai; `make_pr` starts a
PR a day later, so joining and confirming close "tomorrow 09:00".
"""

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client

from prs import live, services
from prs.models import PartnerRequest, Slot
from reminders import services as reminder_services
from reminders.models import NotificationDelivery
from tests.pages.helpers import DESKTOP_UA, WECHAT_UA, WECOM_UA, buttons, element

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def detail(client, pr, **kwargs):
    response = client.get(f"/prs/{pr.pk}", **kwargs)
    assert response.status_code == 200
    return response.content.decode()


def live_of(html):
    return element(html, "pr-live")


def put_in(pr, user, status, clock):
    """Give `user` a slot in `pr` that ends in `status`, then set the clock back."""
    now = clock.now()
    services.join(pr.pk, user)
    if status == Slot.Status.EXITED:
        services.exit(pr.pk, user)
    if status in (Slot.Status.CONFIRMED, Slot.Status.ATTENDED):
        services.confirm(pr.pk, user)
    if status == Slot.Status.ATTENDED:
        clock.set_now(pr.start_at - 10 * MINUTE)
        services.check_in(pr.pk, user)
    if status == Slot.Status.RELEASED:
        clock.set_now(pr.join_deadline)
        services.release(Slot.objects.get(pr=pr, user=user).pk)
    clock.set_now(now)


def fill(pr, make_user, clock):
    for _ in range(pr.capacity):
        services.join(pr.pk, make_user())


# the list


def test_list_shows_upcoming_open_prs_soonest_first(client, clock, make_pr):
    later = make_pr(title="Hike", start_in=timedelta(days=3))
    sooner = make_pr(title="Run", start_in=timedelta(hours=5))
    cancelled = make_pr(title="Chess")
    services.cancel(cancelled.pk, cancelled.organiser)
    started = make_pr(title="Swim", start_in=timedelta(hours=2))
    clock.advance(3 * HOUR)

    html = client.get("/").content.decode()

    links = re.findall(r'href="/prs/(\d+)"', html)
    assert links == [str(sooner.pk), str(later.pk)]
    assert str(started.pk) not in links and str(cancelled.pk) not in links
    assert "12月1日 星期二 15:00" in html  # the run, in Asia/Shanghai


def test_list_shows_places_left_and_full_prs(client, clock, make_pr, make_user):
    open_pr = make_pr(title="Run", capacity=3)
    services.join(open_pr.pk, make_user())
    full = make_pr(title="Chess", capacity=1)
    fill(full, make_user, clock)

    html = client.get("/").content.decode()

    assert "已加入 1/3" in html
    assert "剩余 2 个名额" in html
    assert "已满" in html


def test_list_marks_the_prs_the_viewer_is_in(client, clock, make_pr, participant):
    mine = make_pr(title="Run")
    make_pr(title="Chess")
    services.join(mine.pk, participant)
    client.force_login(participant)

    html = client.get("/").content.decode()

    assert html.count("pr-list__mine") == 1


def test_the_footer_links_to_the_list_from_every_page_but_the_list(
    client, clock, make_pr
):
    pr = make_pr()

    from_list = client.get("/").content.decode()
    from_detail = detail(client, pr)

    assert 'class="weui-footer__link" href="/"' not in from_list
    assert 'class="weui-footer__link" href="/"' in from_detail


def test_list_is_never_cached(client, db):
    response = client.get("/")

    assert "no-store" in response["Cache-Control"]


# the form


def test_new_sends_a_visitor_through_the_login_and_back(client, db):
    response = client.get("/prs/new")

    assert response.status_code == 302
    assert response["Location"] == "/auth/wechat/login?next=/prs/new"


def test_new_creates_the_pr_and_shows_its_page(client, clock, organiser):
    client.force_login(organiser)

    response = client.post(
        "/prs/new",
        {
            "title": "夜跑",
            "description": "5 km",
            "location": "奥森南门",
            "start_at": "2026-12-02T19:30",
            "capacity": "6",
        },
    )

    pr = PartnerRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/prs/{pr.pk}"
    assert pr.organiser == organiser
    assert pr.start_at.isoformat() == "2026-12-02T11:30:00+00:00"  # 19:30 in Shanghai
    assert "发布成功" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"start_at": "2026-12-01T09:59"}, "start_at", "开始时间必须晚于现在。"),
        ({"capacity": "0"}, "capacity", "确保该值大于或等于1。"),
        ({"capacity": "101"}, "capacity", "确保该值小于或等于100。"),
        (
            {"title": "长" * 61},
            "title",
            "确保该变量包含不超过 60 字符 (目前字符数 61)。",
        ),
        ({"title": ""}, "title", "此项为必填项。"),
    ],
)
def test_new_shows_field_errors_in_chinese(
    client, clock, organiser, change, field, message
):
    client.force_login(organiser)
    data = {
        "title": "夜跑",
        "location": "奥森南门",
        "start_at": "2026-12-02T19:30",
        "capacity": "6",
    }

    response = client.post("/prs/new", data | change)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="id_{field}_error">{message}</div>' in html
    assert not PartnerRequest.objects.exists()


# the detail page, per viewer


def test_detail_shows_the_facts_in_chinese_and_shanghai_time(client, clock, make_pr):
    pr = make_pr(capacity=6, title="羽毛球双打", location="朝阳体育中心")

    html = detail(client, pr)

    assert "羽毛球双打" in html and "朝阳体育中心" in html
    assert "12月2日 星期三 10:00" in html
    assert "olivia" in html
    assert "6 人" in html


def test_detail_offers_an_anonymous_visitor_the_login(client, clock, make_pr):
    pr = make_pr()

    html = detail(client, pr)

    assert buttons(html) == ["login"]
    assert element(html, "login")["href"] == (
        f"/auth/wechat/login?next=%2Fprs%2F{pr.pk}"
    )
    assert "<form" not in html


@pytest.mark.parametrize("user_agent", [WECHAT_UA, DESKTOP_UA])
def test_detail_offers_the_same_actions_inside_and_outside_wechat(
    client, clock, make_pr, participant, user_agent
):
    pr = make_pr()
    client.force_login(participant)

    response = client.get(f"/prs/{pr.pk}", headers={"user-agent": user_agent})

    assert buttons(response.content.decode()) == ["join"]


@pytest.mark.parametrize("opted_in", [False, True])
def test_inside_wechat_a_logged_in_viewer_gets_the_reminder_switch(
    client, clock, make_pr, participant, opted_in
):
    reminder_services.set_opt_in(participant, opted_in)
    client.force_login(participant)

    html = client.get(
        f"/prs/{make_pr().pk}", headers={"user-agent": WECHAT_UA}
    ).content.decode()

    switch = element(html, "reminder-switch")
    assert switch is not None
    assert ("checked" in switch) is opted_in
    assert switch["data-url"] == "/api/wechat/reminders/subscription"
    assert element(html, "reminder-hint") is None


OPEN_IN_WECHAT = "请在微信内打开本页并登录，即可开启公众号提醒。"
NOT_IN_WECOM = "这是企业微信，收不到公众号提醒"


@pytest.mark.parametrize(
    ("user_agent", "logged_in", "hint"),
    [
        (DESKTOP_UA, True, OPEN_IN_WECHAT),
        (WECHAT_UA, False, OPEN_IN_WECHAT),
        (DESKTOP_UA, False, OPEN_IN_WECHAT),
        (WECOM_UA, True, NOT_IN_WECOM),
    ],
    ids=["desktop", "wechat anonymous", "desktop anonymous", "wecom"],
)
def test_anywhere_else_the_viewer_reads_how_to_get_reminders(
    client, clock, make_pr, participant, user_agent, logged_in, hint
):
    if logged_in:
        client.force_login(participant)

    html = client.get(
        f"/prs/{make_pr().pk}", headers={"user-agent": user_agent}
    ).content.decode()

    assert element(html, "reminder-switch") is None
    assert element(html, "reminder-hint") is not None
    assert hint in html
    assert ({OPEN_IN_WECHAT, NOT_IN_WECOM} - {hint}).pop() not in html


def test_after_a_reminder_failed_for_not_following_the_page_asks_to_follow(
    client, clock, make_pr, participant
):
    pr = make_pr()
    NotificationDelivery.objects.create(
        pr=pr,
        user=participant,
        reminder_type="T-2h",
        scheduled_at=clock.now(),
        result="FAILED",
        error_code="43004",
        job_id=1,
        created_at=clock.now(),
    )
    client.force_login(participant)

    html = client.get(
        f"/prs/{pr.pk}", headers={"user-agent": WECHAT_UA}
    ).content.decode()

    assert element(html, "reminder-follow-hint") is not None
    assert "关注" in html


def test_detail_offers_the_join_with_its_deadline(client, clock, make_pr, outsider):
    pr = make_pr()
    client.force_login(outsider)

    html = detail(client, pr)

    assert buttons(html) == ["join"]
    assert "加入截止时间：明天 09:00。" in html


def test_detail_names_a_later_deadline_by_its_date(client, clock, make_pr, outsider):
    pr = make_pr(start_in=timedelta(days=3))
    client.force_login(outsider)

    html = detail(client, pr)

    assert "加入截止时间：12月4日 09:00。" in html


def test_detail_offers_a_joined_participant_confirm_and_exit(
    client, clock, make_pr, participant
):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.JOINED, clock)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == ["confirm", "exit"]
    assert "请在 明天 09:00 前确认，否则名额将被释放。" in html
    assert "活动开始（明天 10:00）前可以退出。" in html
    assert 'data-figure="mine">已加入<' in html


def test_detail_tells_a_confirmed_participant_when_check_in_opens(
    client, clock, make_pr, participant
):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.CONFIRMED, clock)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == ["exit"]
    assert "签到将于 明天 09:30 开放。" in html
    assert 'data-figure="mine">已确认<' in html


def test_detail_offers_the_check_in_during_its_window(
    client, clock, make_pr, participant
):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.CONFIRMED, clock)
    clock.set_now(pr.start_at - 30 * MINUTE)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == ["check-in", "exit"]
    assert "签到开放至 11:00。" in html


def test_detail_after_the_check_in_offers_nothing(client, clock, make_pr, participant):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.ATTENDED, clock)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == []
    assert "你已签到。" in html
    assert 'data-figure="mine">已签到<' in html


def test_detail_offers_a_participant_who_left_to_join_again(
    client, clock, make_pr, participant
):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.EXITED, clock)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == ["join"]
    assert 'data-figure="mine">已退出<' in html


def test_detail_tells_a_released_participant_why(client, clock, make_pr, participant):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.RELEASED, clock)
    clock.set_now(pr.join_deadline)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == []
    assert "由于未按时确认，你的名额已被释放。" in html
    assert "加入已于 09:00 截止。" in html
    assert 'data-figure="mine">已释放<' in html


def test_detail_tells_a_joined_participant_that_confirming_closed(
    client, clock, make_pr, participant
):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.JOINED, clock)
    clock.set_now(pr.join_deadline)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == ["exit"]
    assert "确认已于开始前一小时截止。" in html


def test_detail_tells_an_outsider_the_pr_is_full(
    client, clock, make_pr, make_user, outsider
):
    pr = make_pr(capacity=2)
    fill(pr, make_user, clock)
    client.force_login(outsider)

    html = detail(client, pr)

    assert buttons(html) == []
    assert "该活动名额已满。" in html
    assert 'data-figure="left">0<' in html


def test_detail_offers_the_organiser_the_cancel(client, clock, make_pr, organiser):
    pr = make_pr()
    client.force_login(organiser)

    html = detail(client, pr)

    assert buttons(html) == ["join", "cancel"]
    assert element(html, "cancel")["class"] == "weui-btn weui-btn_warn"


def test_detail_of_a_cancelled_pr_offers_nothing_and_stops_polling(
    client, clock, make_pr, participant
):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.JOINED, clock)
    services.cancel(pr.pk, pr.organiser)
    client.force_login(participant)

    html = detail(client, pr)

    assert buttons(html) == []
    assert "该活动已取消。" in html
    assert live_of(html)["data-polling"] == "off"
    assert "hx-get" not in live_of(html)


def test_detail_of_an_unknown_pr_is_not_found(client, db):
    assert client.get("/prs/999").status_code == 404


def test_detail_is_never_cached(client, clock, make_pr):
    response = client.get(f"/prs/{make_pr().pk}")

    assert "no-store" in response["Cache-Control"]


# the live part


def test_the_page_starts_a_round_of_polls(client, clock, make_pr):
    pr = make_pr()

    live = live_of(detail(client, pr))

    assert live["data-n"] == "0"
    assert live["data-polling"] == "on"
    assert re.fullmatch(rf"/prs/{pr.pk}/live\?round=[0-9a-f]{{8}}&n=0", live["hx-get"])
    assert live["hx-trigger"] == "every 1000ms [document.visibilityState === 'visible']"
    assert live["hx-swap"] == "outerHTML"
    assert live["hx-sync"] == "#pr-card:abort"


def test_a_poll_answers_the_fragment_with_its_count_moved_on(
    client, clock, make_pr, make_user
):
    pr = make_pr(capacity=6)
    services.join(pr.pk, make_user())

    response = client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=3")

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="pr-live"')
    assert live_of(html)["data-n"] == "4"
    assert live_of(html)["hx-get"] == f"/prs/{pr.pk}/live?round=0a1b2c3d&n=4"
    assert 'data-figure="joined">1/6<' in html
    assert 'data-figure="left">5<' in html


def test_the_twentieth_poll_stops_the_round(client, clock, make_pr):
    pr = make_pr()

    html = client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=19").content.decode()

    live = live_of(html)
    assert live["data-n"] == "20"
    assert live["data-polling"] == "off"
    assert "hx-get" not in live and "hx-trigger" not in live


def test_a_poll_past_the_cap_stays_stopped(client, clock, make_pr):
    pr = make_pr()

    html = client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=500").content.decode()

    assert live_of(html)["data-polling"] == "off"


def test_a_poll_without_a_round_starts_a_new_one(client, clock, make_pr):
    pr = make_pr()

    html = client.get(f"/prs/{pr.pk}/live").content.decode()

    live = live_of(html)
    assert live["data-n"] == "1"
    assert re.fullmatch(rf"/prs/{pr.pk}/live\?round=[0-9a-f]{{8}}&n=1", live["hx-get"])


@pytest.mark.parametrize(
    "query",
    [
        "round=0a1b2c3d",
        "round=0a1b2c3d&n=x",
        "round=nope&n=1",
        "round=&n=1",
        "round=0a1b2c3d&n=%C2%B2",  # "²", a digit to isdigit() but not to int()
        "round=0a1b2c3d&n=%D9%A1",  # an Arabic-Indic one
    ],
)
def test_a_malformed_poll_is_refused(client, clock, make_pr, query):
    pr = make_pr()

    assert client.get(f"/prs/{pr.pk}/live?{query}").status_code == 400


def test_a_poll_of_an_unknown_pr_is_not_found(client, db):
    assert client.get("/prs/999/live?round=0a1b2c3d&n=1").status_code == 404


def test_poll_answers_are_never_stored(client, clock, make_pr):
    pr = make_pr()

    response = client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=1")

    assert "no-store" in response["Cache-Control"]


def poll_url_of(html):
    return live_of(html)["hx-get"]


def test_the_page_hands_a_logged_in_viewer_a_pass_to_poll_with(
    client, clock, make_pr, participant
):
    pr = make_pr()
    client.force_login(participant)

    live = live_of(detail(client, pr))

    assert re.fullmatch(
        rf"/prs/{pr.pk}/live\?round=[0-9a-f]{{8}}&n=0&v={participant.pk}:[\w:-]+",
        live["hx-get"],
    )
    assert live["data-restart-url"].startswith(f"/prs/{pr.pk}/live?v={participant.pk}:")


def test_a_poll_with_its_pass_costs_one_query_then_none_while_fresh(
    client, clock, make_pr, participant, django_assert_num_queries
):
    pr = make_pr()
    services.join(pr.pk, participant)
    client.force_login(participant)
    url = poll_url_of(detail(client, pr))

    with django_assert_num_queries(1):  # the PR's snapshot
        first = client.get(url).content.decode()
    with django_assert_num_queries(0):
        again = client.get(poll_url_of(first)).content.decode()

    assert 'data-figure="mine">已加入<' in again
    assert poll_url_of(again).endswith(url[url.index("&v=") :])


def test_a_poll_without_a_pass_reads_the_session_and_hands_one_out(
    client, clock, make_pr, participant, django_assert_num_queries
):
    pr = make_pr()
    services.join(pr.pk, participant)
    client.force_login(participant)

    with django_assert_num_queries(3):  # the session, the user, the snapshot
        response = client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=1")

    html = response.content.decode()
    assert 'data-figure="mine">已加入<' in html
    assert f"&v={participant.pk}:" in poll_url_of(html)


def test_an_anonymous_poll_costs_one_query_then_none_while_fresh(
    client, clock, make_pr, django_assert_num_queries
):
    pr = make_pr()

    with django_assert_num_queries(1):
        client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=1")
    with django_assert_num_queries(0):
        response = client.get(f"/prs/{pr.pk}/live?round=0a1b2c3d&n=2")

    assert "&v=" not in poll_url_of(response.content.decode())


def test_after_logging_out_a_pass_shows_nothing_of_its_viewer(
    client, clock, make_pr, participant
):
    pr = make_pr()
    services.join(pr.pk, participant)
    client.force_login(participant)
    url = poll_url_of(detail(client, pr))

    client.logout()
    html = client.get(url).content.decode()

    assert 'data-figure="mine"' not in html
    assert "&v=" not in poll_url_of(html)


def test_a_pass_copied_to_another_browser_shows_nothing_of_its_viewer(
    client, clock, make_pr, participant, outsider
):
    pr = make_pr()
    services.join(pr.pk, participant)
    client.force_login(participant)
    url = poll_url_of(detail(client, pr))
    elsewhere = Client()
    elsewhere.force_login(outsider)

    html = elsewhere.get(url).content.decode()

    assert 'data-figure="mine"' not in html
    assert f"&v={outsider.pk}:" in poll_url_of(html)


def test_a_poll_shows_a_change_made_elsewhere_once_the_snapshot_is_old(
    client, clock, make_pr, make_user, monkeypatch
):
    seconds = [100.0]
    snapshots = live.SnapshotCache(live.snapshot_max_age, clock=lambda: seconds[0])
    monkeypatch.setattr(live, "snapshots", snapshots)
    pr = make_pr(capacity=6)
    url = f"/prs/{pr.pk}/live?round=0a1b2c3d&n=1"
    client.get(url)
    # Another process joins: this one hears nothing of it.
    with transaction.atomic():
        Slot.objects.create(pr=pr, user=make_user(), joined_at=clock.now())

    seconds[0] += 0.49
    stale = client.get(url).content.decode()
    seconds[0] += 0.01  # half the poll interval since the snapshot was read
    fresh = client.get(url).content.decode()

    assert 'data-figure="joined">0/6<' in stale
    assert 'data-figure="joined">1/6<' in fresh


def test_the_poll_interval_follows_the_setting(client, clock, make_pr, settings):
    settings.PR_POLL_INTERVAL_MS = 250
    pr = make_pr()

    live = live_of(detail(client, pr))

    assert live["hx-trigger"].startswith("every 250ms ")


# actions


def post_htmx(client, pr, action):
    return client.post(f"/prs/{pr.pk}/{action}", headers={"HX-Request": "true"})


def test_a_join_answers_the_buttons_and_a_fresh_round(
    client, clock, make_pr, participant
):
    pr = make_pr()
    client.force_login(participant)
    old_round = live_of(detail(client, pr))["hx-get"]

    response = post_htmx(client, pr, "join")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="pr-actions"')
    assert "已加入。请记得确认，以保留你的名额。" in html
    assert buttons(html) == ["confirm", "exit"]
    live = live_of(html)
    assert live["hx-swap-oob"] == "true"
    assert live["data-n"] == "0" and live["data-polling"] == "on"
    assert live["hx-get"] != old_round
    assert 'data-figure="mine">已加入<' in html
    assert Slot.objects.get(pr=pr, user=participant).status == Slot.Status.JOINED


@pytest.mark.parametrize(
    ("before", "action", "after"),
    [
        (Slot.Status.JOINED, "confirm", Slot.Status.CONFIRMED),
        (Slot.Status.JOINED, "exit", Slot.Status.EXITED),
        (Slot.Status.CONFIRMED, "exit", Slot.Status.EXITED),
        (Slot.Status.CONFIRMED, "check-in", Slot.Status.ATTENDED),
    ],
)
def test_each_action_starts_a_fresh_round(
    client, clock, make_pr, participant, before, action, after
):
    pr = make_pr()
    put_in(pr, participant, before, clock)
    if action == "check-in":
        clock.set_now(pr.start_at)
    client.force_login(participant)

    response = post_htmx(client, pr, action)

    assert response.status_code == 200
    assert live_of(response.content.decode())["data-n"] == "0"
    assert Slot.objects.filter(pr=pr, user=participant).latest("pk").status == after


def test_a_refused_join_answers_409_and_leaves_the_round_alone(
    client, clock, make_pr, make_user, outsider
):
    pr = make_pr(capacity=1)
    client.force_login(outsider)
    detail(client, pr)
    fill(pr, make_user, clock)

    response = post_htmx(client, pr, "join")

    html = response.content.decode()
    assert response.status_code == 409
    assert "该活动名额已满。" in html
    assert live_of(html) is None
    assert not Slot.objects.filter(user=outsider).exists()


def test_a_refused_check_in_names_its_window(client, clock, make_pr, participant):
    pr = make_pr()
    put_in(pr, participant, Slot.Status.CONFIRMED, clock)
    client.force_login(participant)

    response = post_htmx(client, pr, "check-in")

    assert response.status_code == 409
    assert "签到时间为开始前 30 分钟至开始后 1 小时。" in response.content.decode()


def test_without_javascript_an_action_redirects_back_to_the_page(
    client, clock, make_pr, participant
):
    pr = make_pr()
    client.force_login(participant)

    response = client.post(f"/prs/{pr.pk}/join")

    assert response.status_code == 302
    assert response["Location"] == f"/prs/{pr.pk}"
    html = detail(client, pr)
    assert "已加入。请记得确认，以保留你的名额。" in html
    assert buttons(html) == ["confirm", "exit"]


def test_without_javascript_a_refusal_shows_on_the_page(
    client, clock, make_pr, make_user, outsider
):
    pr = make_pr(capacity=1)
    fill(pr, make_user, clock)
    client.force_login(outsider)

    response = client.post(f"/prs/{pr.pk}/join", follow=True)

    assert response.redirect_chain == [(f"/prs/{pr.pk}", 302)]
    assert "该活动名额已满。" in response.content.decode()


def test_the_organiser_cancels(client, clock, make_pr, organiser):
    pr = make_pr()
    client.force_login(organiser)

    response = post_htmx(client, pr, "cancel")

    html = response.content.decode()
    assert response.status_code == 200
    assert "活动已取消。" in html
    assert buttons(html) == []
    assert live_of(html)["data-polling"] == "off"
    pr.refresh_from_db()
    assert pr.status == PartnerRequest.Status.CANCELLED


def test_someone_else_cannot_cancel(client, clock, make_pr, outsider):
    pr = make_pr()
    client.force_login(outsider)

    response = post_htmx(client, pr, "cancel")

    assert response.status_code == 403
    assert "只有发起人才能取消该活动。" in response.content.decode()
    pr.refresh_from_db()
    assert pr.status == PartnerRequest.Status.OPEN


def test_an_anonymous_action_goes_through_the_login(client, clock, make_pr):
    pr = make_pr()

    response = client.post(f"/prs/{pr.pk}/join")

    assert response.status_code == 302
    assert response["Location"] == f"/auth/wechat/login?next=%2Fprs%2F{pr.pk}"
    assert not Slot.objects.exists()


def test_an_anonymous_htmx_action_redirects_the_whole_page(client, clock, make_pr):
    pr = make_pr()

    response = post_htmx(client, pr, "join")

    assert response["HX-Redirect"] == f"/auth/wechat/login?next=%2Fprs%2F{pr.pk}"


def test_an_action_needs_the_csrf_token_of_its_form(clock, make_pr, participant):
    pr = make_pr()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(participant)
    html = detail(browser, pr)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    refused = browser.post(f"/prs/{pr.pk}/join")
    accepted = browser.post(f"/prs/{pr.pk}/join", {"csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert Slot.objects.filter(user=participant).count() == 1


def test_an_htmx_action_sends_the_token_from_the_page_body(clock, make_pr, participant):
    pr = make_pr()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(participant)
    html = detail(browser, pr)
    headers = re.search(r"<body hx-headers='([^']+)'", html).group(1)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', headers).group(1)

    response = browser.post(
        f"/prs/{pr.pk}/join", headers={"HX-Request": "true", "X-CSRFToken": token}
    )

    assert response.status_code == 200


def test_an_action_by_get_is_not_allowed(client, clock, make_pr, participant):
    pr = make_pr()
    client.force_login(participant)

    assert client.get(f"/prs/{pr.pk}/join").status_code == 405


def test_an_action_on_an_unknown_pr_is_not_found(client, participant):
    client.force_login(participant)

    assert client.post("/prs/999/join").status_code == 404
