"""The server-rendered pages of DESIGN §8: the list, the form, the detail page with
its live part, and the action posts behind the detail page's buttons.

Each view parses the request, calls a service and renders. An action answers htmx
with the parts of the page it changed and everyone else with a redirect back to the
page, so a slow or broken script never locks a user out.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from config import clock
from config.ratelimit import RateLimited, limit, user_key

from . import live, services
from .forms import PartnerRequestForm
from .models import PartnerRequest, Slot

logger = logging.getLogger(__name__)

ROUND_ID = re.compile(r"[0-9a-f]{8}")

UPCOMING_LIMIT = 100

# action in the URL -> (service, what the user is told when it worked)
ACTIONS = {
    "join": (services.join, gettext_lazy("You joined. Confirm to keep your place.")),
    "confirm": (services.confirm, gettext_lazy("Confirmed. See you there!")),
    "check-in": (services.check_in, gettext_lazy("Checked in. Have fun!")),
    "exit": (services.exit, gettext_lazy("You left this activity.")),
    "cancel": (services.cancel, gettext_lazy("The activity is cancelled.")),
}

# Refusals that are about who asks rather than the PR's state (as in the API).
FORBIDDEN_REFUSALS = {"not_organiser"}


@dataclass(frozen=True)
class Offer:
    """A button on the detail page: an action open to this viewer right now."""

    action: str  # the action in the URL, or "login" for a link to the login
    label: str
    hint: str = ""  # the deadline the action depends on, in words
    style: str = "primary"  # WeUI's button style: primary, default or warn
    confirm: str = ""  # a question htmx asks before posting
    url: str = ""  # set for a plain link instead of a form


@never_cache
@require_GET
def pr_list(request):
    upcoming = (
        PartnerRequest.objects.with_counts(request.user)
        .filter(status=PartnerRequest.Status.OPEN, start_at__gt=clock.now())
        .order_by("start_at")[:UPCOMING_LIMIT]
    )
    context = {"prs": upcoming, "active_statuses": Slot.ACTIVE}
    return render(request, "prs/pr_list.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def pr_create(request):
    form = PartnerRequestForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            limit("create", user_key(request))
        except RateLimited as limited:
            form.add_error(None, limited.message)
            response = render(request, "prs/pr_form.html", {"form": form}, status=429)
            response["Retry-After"] = str(limited.retry_after)
            return response
    if not form.is_valid():
        return render(request, "prs/pr_form.html", {"form": form})

    pr = services.create_pr(request.user, **form.cleaned_data)
    messages.success(request, _("Posted. Share this page to invite people."))
    return redirect("prs:detail", pr_id=pr.pk)


@never_cache
@require_GET
def pr_detail(request, pr_id):
    pr = _load(pr_id, request.user, with_organiser=True)
    context = _detail_context(request, pr) | {"live_html": _live_part(request, pr)}
    return render(request, "prs/pr_detail.html", context)


@require_GET
def pr_live(request, pr_id):
    """One poll of the live part: the fragment again, with its count moved on.

    Without a round a new one starts: the script's restart after the page comes
    back asks that way. A poll with a valid viewer pass costs no query while its
    PR's snapshot is fresh; one without reads the session and gets a pass
    (prs/live.py).
    """
    round_id = request.GET.get("round")
    if round_id is None:
        round_id, polls = _new_round(), 0
    else:
        polls = _parse_polls(request.GET.get("n", ""))
        if not ROUND_ID.fullmatch(round_id) or polls is None:
            return _not_stored(HttpResponseBadRequest("round and n are malformed"))

    viewer_pass = request.GET.get("v", "")
    viewer_id = live.read_pass(request, pr_id, viewer_pass)
    if viewer_id is None:
        viewer_pass = live.issue_pass(request, pr_id)
        viewer_id = request.user.pk if viewer_pass else None

    snapshot = live.snapshots.get(pr_id)
    if snapshot is None:
        raise Http404
    html = live.render(
        snapshot,
        snapshot.status_of(viewer_id),
        path=request.path,
        viewer_pass=viewer_pass,
        round_id=round_id,
        polls=polls + 1,
    )
    return _not_stored(HttpResponse(html))


# What never_cache writes, as constants: merging them into the response's headers
# was the largest single cost left in a poll (cProfile).
_NOT_STORED = "max-age=0, no-cache, no-store, must-revalidate, private"


def _not_stored(response):
    response.headers["Cache-Control"] = _NOT_STORED
    response.headers["Expires"] = http_date()
    return response


@never_cache
@require_POST
def pr_action(request, pr_id, action):
    if not request.user.is_authenticated:
        return _login_first(request, pr_id)

    try:
        limit("action", user_key(request))
    except RateLimited as limited:
        messages.error(request, limited.message)
        response = _answer_action(request, pr_id, status=429, restart=False)
        response["Retry-After"] = str(limited.retry_after)
        return response

    service, success = ACTIONS[action]
    try:
        service(pr_id, request.user)
    except PartnerRequest.DoesNotExist:
        raise Http404 from None
    except services.ActionRefused as refusal:
        logger.info(
            "page action refused pr=%s user=%s action=%s code=%s",
            pr_id,
            request.user.pk,
            action,
            refusal.code,
        )
        messages.error(request, refusal.message)
        status = 403 if refusal.code in FORBIDDEN_REFUSALS else 409
        return _answer_action(request, pr_id, status=status, restart=False)

    messages.success(request, success)
    return _answer_action(request, pr_id, status=200, restart=True)


def _answer_action(request, pr_id, *, status, restart):
    """htmx gets the actions (with the message) and, after a change, a fresh round
    of the live part; a plain form post is sent back to the page."""
    if not request.htmx:
        return redirect("prs:detail", pr_id=pr_id)

    pr = _load(pr_id, request.user)
    context = _detail_context(request, pr)
    if restart:
        context["live_html"] = _live_part(request, pr, oob=True)
    return render(request, "prs/pr_detail.html#action_result", context, status=status)


def _login_first(request, pr_id):
    url = _login_url(reverse("prs:detail", args=[pr_id]))
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _login_url(next_path: str) -> str:
    """The login (WeChat's, in the end) that brings the visitor back to next_path."""
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_path})}"


def _load(pr_id, viewer, *, with_organiser=False) -> PartnerRequest:
    """The PR with its headcount and the viewer's slot status, in one query."""
    if with_organiser:
        queryset = PartnerRequest.objects.with_counts(viewer).filter(pk=pr_id)
        pr = queryset.select_related("organiser").first()
    else:
        pr = PartnerRequest.objects.counted(pr_id, viewer)
    if pr is None:
        raise Http404
    return pr


def _new_round() -> str:
    return secrets.token_hex(4)


def _parse_polls(value: str) -> int | None:
    """The polls a round has made so far, from the fragment's own URL."""
    # isdigit() alone lets "²" through, which int() refuses.
    if not (value.isascii() and value.isdecimal()) or len(value) > 3:
        return None
    return min(int(value), live.POLLS_PER_ROUND)


def _live_part(request, pr: PartnerRequest, *, oob=False):
    """The live part of a page drawn from the database, starting a fresh round."""
    return live.render(
        pr,
        pr.my_slot_status,
        path=reverse("prs:live", args=[pr.pk]),
        viewer_pass=live.issue_pass(request, pr.pk),
        round_id=_new_round(),
        polls=0,
        oob=oob,
    )


def _detail_context(request, pr: PartnerRequest) -> dict:
    now = clock.now()
    return {
        "pr": pr,
        "offers": offers_for(request, pr, now),
        "notes": notes_for(pr, now),
    }


def offers_for(request, pr: PartnerRequest, now: datetime) -> list[Offer]:
    """The actions this viewer may take now, each with the deadline it depends on.

    The services still decide: a PR that filled up since the page was drawn
    refuses the join with its own message.
    """
    if not pr.is_open:
        return []

    status = pr.my_slot_status
    member = status in Slot.ACTIVE
    offers = []

    if not member and now < pr.join_deadline and pr.places_left > 0:
        hint = _("Joining closes %(when)s.") % {"when": when(pr.join_deadline, now)}
        if request.user.is_authenticated:
            offers.append(Offer("join", _("Join"), hint))
        else:
            url = _login_url(reverse("prs:detail", args=[pr.pk]))
            offers.append(Offer("login", _("Log in to join"), hint, url=url))

    if status == Slot.Status.JOINED and now < pr.join_deadline:
        hint = _("Confirm before %(when)s, or your place is released.") % {
            "when": when(pr.join_deadline, now)
        }
        offers.append(Offer("confirm", _("Confirm I'll come"), hint))

    if (
        status == Slot.Status.CONFIRMED
        and pr.check_in_opens_at <= now <= pr.check_in_closes_at
    ):
        hint = _("Check-in is open until %(when)s.") % {
            "when": when(pr.check_in_closes_at, now)
        }
        offers.append(Offer("check-in", _("Check in"), hint))

    if status in (Slot.Status.JOINED, Slot.Status.CONFIRMED) and now < pr.start_at:
        hint = _("You can leave until the start, %(when)s.") % {
            "when": when(pr.start_at, now)
        }
        offers.append(Offer("exit", _("Leave"), hint, style="default"))

    organiser = request.user.pk == pr.organiser_id or request.user.is_staff
    if organiser and now < pr.start_at:
        offers.append(
            Offer(
                "cancel",
                _("Cancel the activity"),
                style="warn",
                confirm=_("Cancel this activity for everyone?"),
            )
        )
    return offers


def notes_for(pr: PartnerRequest, now: datetime) -> list[str]:
    """Why an action the viewer might expect is not offered, or what comes next."""
    if not pr.is_open:
        return [_("This activity has been cancelled.")]

    status = pr.my_slot_status
    notes = []
    if status not in Slot.ACTIVE:
        if status == Slot.Status.RELEASED:
            notes.append(_("Your place was released because you did not confirm."))
        if now >= pr.join_deadline:
            notes.append(
                _("Joining closed %(when)s.") % {"when": when(pr.join_deadline, now)}
            )
        elif pr.places_left <= 0:
            notes.append(_("This activity is full."))
    elif status == Slot.Status.JOINED and now >= pr.join_deadline:
        notes.append(_("Confirming closed one hour before the start."))
    elif status == Slot.Status.CONFIRMED and now < pr.check_in_opens_at:
        notes.append(
            _("Check-in opens %(when)s.") % {"when": when(pr.check_in_opens_at, now)}
        )
    elif status == Slot.Status.CONFIRMED and now > pr.check_in_closes_at:
        notes.append(_("Check-in has closed."))
    elif status == Slot.Status.ATTENDED:
        notes.append(_("You checked in."))
    return notes


def when(instant: datetime, now: datetime) -> str:
    """A moment as people say it: "18:00" today, "tomorrow 18:00", else the date."""
    moment, today = timezone.localtime(instant), timezone.localtime(now).date()
    time = formats.date_format(moment, "H:i")
    if moment.date() == today:
        return time
    if moment.date() == today + timedelta(days=1):
        return _("tomorrow %(time)s") % {"time": time}
    # Translators: a date and time in Django's date format, e.g. "n月j日 H:i".
    return formats.date_format(moment, _("M j, H:i"))
