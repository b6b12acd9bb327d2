"""The reminder's template data, each value fitted to its key's type.

A category template names its keys `<type><n>` (`thing1`, `time2`, `phrase4`) and
WeChat refuses a value that breaks its type's rules with 47003 (WECHAT.md §4.2).
`WECHAT_REMINDER_TEMPLATE_KEYS` says which key carries which part of the reminder:
the PR's title, its start time, its place and a status line.
"""

import re

from django.conf import settings
from django.utils import timezone

from prs.models import Slot

ROLES = ("title", "start", "place", "status")

# Longest value per key type; phrase and the name-like types are handled apart.
MAX_LENGTH = {"thing": 20, "const": 20, "short_thing": 5, "character_string": 32}

# phrase allows at most five Chinese characters and nothing else.
PHRASE_STATUS = {Slot.Status.JOINED: "待确认", Slot.Status.CONFIRMED: "已确认"}

# The key types `fit` can write each part in; reminders.checks refuses the others.
KEY_TYPES = {
    "title": tuple(MAX_LENGTH),
    "place": tuple(MAX_LENGTH),
    "start": ("time", "date"),
    "status": ("phrase", "thing", "const"),
}


def template_data(slot: Slot) -> dict:
    """{key: {"value": ...}} for the PR and the state of this slot."""
    pr = slot.pr
    start = timezone.localtime(pr.start_at)
    deadline = timezone.localtime(pr.join_deadline)
    parts = {
        "title": pr.title,
        "start": start,
        "place": pr.location,
        "status": (slot.status, deadline),
    }
    keys = settings.WECHAT_REMINDER_TEMPLATE_KEYS
    return {keys[role]: {"value": fit(keys[role], parts[role])} for role in ROLES}


def key_type(key: str) -> str:
    return re.sub(r"\d+$", "", key)


def fit(key: str, part) -> str:
    """The text for one key: the part written in the form the key's type accepts."""
    kind = key_type(key)
    if isinstance(part, tuple):
        return _status(kind, *part)
    if hasattr(part, "strftime"):
        return _time(kind, part)
    return _shorten(kind, str(part))


def _time(kind: str, instant) -> str:
    if kind == "date":
        return f"{instant.year}年{instant.month}月{instant.day}日"
    # `time` takes a 24-hour clock with an optional date, e.g. 2026年12月24日 19:30.
    return f"{instant.year}年{instant.month}月{instant.day}日 {instant:%H:%M}"


def _status(kind: str, status: str, deadline) -> str:
    if kind == "phrase":
        return PHRASE_STATUS.get(status, "即将开始")
    if status == Slot.Status.JOINED:
        text = f"请在{deadline:%H:%M}前确认参加"
    else:
        text = "已确认，期待你的到来"
    return _shorten(kind, text)


# Since 2023 WeChat shows emoji as a box: leave them out. Astral characters,
# variation selectors and the zero-width joiner that builds emoji sequences.
_EMOJI = re.compile("[\U00010000-\U0010ffff\ufe0e\ufe0f\u200d\u2600-\u27bf]")

# WeChat refuses an empty value; a title made only of emoji must still say something.
PLACEHOLDER = "活动"


def _shorten(kind: str, text: str) -> str:
    text = " ".join(_EMOJI.sub("", text).split()) or PLACEHOLDER
    if kind == "character_string":
        ascii_only = "".join(ch for ch in text if ch.isascii() and ch.isprintable())
        text = " ".join(ascii_only.split()) or "-"
    limit = MAX_LENGTH.get(kind)
    if limit is None or len(text) <= limit:
        return text
    # The last character gives way to an ellipsis, so the reader sees it was cut.
    return text[: limit - 1] + "…"
