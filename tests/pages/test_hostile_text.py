"""Text that people type arrives as text: HTML stays inert on every page that shows
it, emoji come through whole, and the longest allowed values fit a phone."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prs import services
from prs.models import PartnerRequest

HOSTILE_TITLE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>🏸🏃‍♀️'
HOSTILE_PLACE = "</title><svg onload=alert(3)>"
ESCAPED_TITLE = (
    "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
)


@pytest.fixture
def hostile_pr(clock, make_pr, participant):
    pr = make_pr(title=HOSTILE_TITLE, location=HOSTILE_PLACE, description=HOSTILE_TITLE)
    services.join(pr.pk, participant)
    return pr


def pages_showing(pr, browser) -> dict[str, str]:
    return {
        "list": browser.get("/").text,
        "detail": browser.get(f"/prs/{pr.pk}").text,
        "live": browser.get(f"/prs/{pr.pk}/live").text,
        "action": browser.post(
            f"/prs/{pr.pk}/confirm", headers={"HX-Request": "true"}
        ).text,
    }


def test_html_in_a_pr_is_shown_as_text_on_every_page(hostile_pr, participant):
    browser = Client()
    browser.force_login(participant)

    for name, html in pages_showing(hostile_pr, browser).items():
        assert "<script>alert" not in html, name
        assert "<img src=x" not in html, name
        assert "<svg onload" not in html, name
    detail = browser.get(f"/prs/{hostile_pr.pk}").text
    assert f"<title>{ESCAPED_TITLE}🏸🏃‍♀️</title>" in detail
    assert "&lt;/title&gt;&lt;svg onload=alert(3)&gt;" in detail


def test_emoji_survive_the_database_and_the_api(hostile_pr, api):
    body = api().get(f"/api/prs/{hostile_pr.pk}").json()

    assert body["title"] == HOSTILE_TITLE
    assert PartnerRequest.objects.get(pk=hostile_pr.pk).title.endswith("🏸🏃‍♀️")


def test_html_typed_into_the_form_is_stored_as_typed(clock, client, organiser):
    client.force_login(organiser)
    form = {
        "title": HOSTILE_TITLE,
        "location": HOSTILE_PLACE,
        "start_at": "2026-12-02T19:30",
        "capacity": "6",
    }

    response = client.post("/prs/new", form, follow=True)

    assert PartnerRequest.objects.get().title == HOSTILE_TITLE
    assert "<script>alert" not in response.text


# The pages' own inputs, fuzzed: whatever comes in, no 500


PAGE_FUZZ = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PAGE_FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["title", "description", "location", "start_at", "capacity"]),
        st.text(max_size=300),
    )
)
def test_no_create_form_breaks_the_page(clock, client, organiser, settings, form):
    settings.RATE_LIMITS = {}
    client.force_login(organiser)

    response = client.post("/prs/new", form)

    assert response.status_code in {200, 302}


@PAGE_FUZZ
@given(
    query=st.dictionaries(st.sampled_from(["round", "n", "x"]), st.text(max_size=40))
)
def test_no_poll_query_breaks_the_live_part(clock, client, make_pr, query):
    pr = PartnerRequest.objects.first() or make_pr()

    response = client.get(f"/prs/{pr.pk}/live", query)

    assert response.status_code in {200, 400}


# On a phone, in a real browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("screen", [360, 390])  # the narrowest common phones, an iPhone
def test_the_longest_unbroken_values_fit_a_phone_screen(
    open_page, clock, make_pr, screen
):
    pr = make_pr(
        title="W" * 60,
        location="L" * 100,
        description="🏸" * 500 + "D" * 1500,
    )

    for path in ("/", f"/prs/{pr.pk}"):
        page = open_page(path)
        page.set_viewport_size({"width": screen, "height": 780})
        width = page.evaluate("document.documentElement.scrollWidth")

        assert width <= screen, path
