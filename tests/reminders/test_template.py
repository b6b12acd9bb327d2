"""Each template value fits its key type's rules (WECHAT.md §4.2)."""

from datetime import timedelta

import pytest

from prs import services as prs_services
from reminders.template import template_data
from reminders.wechat.simulator import value_is_valid


@pytest.fixture
def slot(clock, make_pr, participant):
    def make(title="Evening run", location="Olympic park", **keys):
        pr = make_pr(start_in=timedelta(hours=3), title=title, location=location)
        return prs_services.join(pr.pk, participant)

    return make


@pytest.mark.parametrize(
    "title",
    ["短标题", "一" * 20, "一" * 21, "🏸 Badminton 🏸", "🏸🏸🏸", "<b>bold</b> & co"],
)
def test_every_value_passes_the_simulator_s_rules(slot, title):
    data = template_data(slot(title=title))

    assert all(value_is_valid(key, item["value"]) for key, item in data.items())


def test_a_long_title_is_cut_with_an_ellipsis_to_twenty_characters(slot):
    value = template_data(slot(title="一二三四五六七八九十" * 3))["thing1"]["value"]

    assert value == "一二三四五六七八九十一二三四五六七八九…"
    assert len(value) == 20


def test_emoji_are_left_out_and_an_emoji_only_title_still_says_something(slot):
    assert template_data(slot(title="🏸 羽毛球 🏸"))["thing1"]["value"] == "羽毛球"
    assert template_data(slot(title="🏸🏸"))["thing1"]["value"] == "活动"


def test_keys_of_other_types_get_values_of_their_type(slot, settings):
    settings.WECHAT_REMINDER_TEMPLATE_KEYS = {
        "title": "character_string1",
        "start": "date2",
        "place": "thing3",
        "status": "thing4",
    }

    data = template_data(slot(title="夜跑 Night run"))

    assert data == {
        "character_string1": {"value": "Night run"},
        "date2": {"value": "2026年12月1日"},
        "thing3": {"value": "Olympic park"},
        "thing4": {"value": "请在12:00前确认参加"},
    }
    assert all(value_is_valid(key, item["value"]) for key, item in data.items())
