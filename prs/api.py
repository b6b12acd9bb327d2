"""The JSON API for partner requests (DESIGN §9).

Bodies are camelCase at this boundary. A create request must carry exactly the
documented fields: an unknown field is refused, so a misspelt one cannot be
silently dropped.
"""

from datetime import datetime

from django.http import Http404, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from config import clock
from config.http import (
    ApiError,
    field_error,
    json_endpoint,
    read_json_object,
    refuse_unknown_fields,
    require_login,
)
from config.ratelimit import limit, user_key

from . import services
from .forms import PartnerRequestForm
from .models import PartnerRequest

# camelCase body key -> model field, in the order errors are reported.
CREATE_FIELDS = {
    "title": "title",
    "description": "description",
    "location": "location",
    "startAt": "start_at",
    "capacity": "capacity",
}
OPTIONAL_FIELDS = {"description"}

# Refusals that are about who asks rather than the PR's state.
FORBIDDEN_REFUSALS = {"not_organiser"}

ACTIONS = {
    "join": services.join,
    "confirm": services.confirm,
    "check-in": services.check_in,
    "exit": services.exit,
    "cancel": services.cancel,
}

UPCOMING_LIMIT = 100


def pr_json(pr: PartnerRequest) -> dict:
    """A PR annotated by `with_counts`, in the API's shape."""
    return {
        "id": pr.pk,
        "title": pr.title,
        "description": pr.description,
        "location": pr.location,
        "startAt": timezone.localtime(pr.start_at).isoformat(),
        "capacity": pr.capacity,
        "status": pr.status,
        "joinedCount": pr.joined_count,
        "confirmedCount": pr.confirmed_count,
        "mySlot": {"status": pr.my_slot_status} if pr.my_slot_status else None,
    }


@json_endpoint("GET", "POST")
def pr_collection(request):
    if request.method == "POST":
        return _create(request)

    upcoming = (
        PartnerRequest.objects.with_counts(request.user)
        .filter(status=PartnerRequest.Status.OPEN, start_at__gt=clock.now())
        .order_by("start_at")[:UPCOMING_LIMIT]
    )
    return JsonResponse({"prs": [pr_json(pr) for pr in upcoming]})


@json_endpoint("GET")
def pr_detail(request, pr_id):
    return JsonResponse(_load(pr_id, request.user))


@json_endpoint("POST")
def pr_action(request, pr_id, action):
    require_login(request)
    limit("action", user_key(request))

    try:
        ACTIONS[action](pr_id, request.user)
    except PartnerRequest.DoesNotExist:
        raise Http404 from None
    except services.ActionRefused as refusal:
        status = 403 if refusal.code in FORBIDDEN_REFUSALS else 409
        raise ApiError(status, refusal.code, refusal.message) from None

    return JsonResponse(_load(pr_id, request.user))


def _create(request):
    require_login(request)
    limit("create", user_key(request))
    body = read_json_object(request)

    form = PartnerRequestForm(data=_form_data(body))
    if not form.is_valid():
        key, message = _first_error(form)
        raise field_error(key, message)

    pr = services.create_pr(request.user, **form.cleaned_data)
    return JsonResponse(_load(pr.pk, request.user), status=201)


def _load(pr_id, viewer) -> dict:
    pr = PartnerRequest.objects.counted(pr_id, viewer)
    if pr is None:
        raise Http404
    return pr_json(pr)


def _form_data(body: dict) -> dict:
    """Check the JSON types strictly, then hand the values to the shared form.

    The form alone would accept "5" for a number or a date without an offset;
    a JSON client deserves to hear that its types are wrong.
    """
    refuse_unknown_fields(body, CREATE_FIELDS)

    data = {}
    for key, field in CREATE_FIELDS.items():
        if key not in body:
            if key in OPTIONAL_FIELDS:
                continue
            raise field_error(key, _("This field is required."))
        data[field] = _parse(key, body[key])
    return data


def _parse(key: str, value):
    if key == "capacity":
        # bool is a subclass of int in Python; true is not a number of places.
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(key, _("Expected a whole number."))
        return value

    if not isinstance(value, str):
        raise field_error(key, _("Expected a string."))

    if key == "startAt":
        return _parse_datetime(key, value)
    return value


def _parse_datetime(key: str, value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise field_error(
            key,
            _("Expected an ISO 8601 date and time, e.g. 2026-12-24T19:30:00+08:00."),
        ) from None
    if timezone.is_naive(instant):
        raise field_error(key, _("Add a UTC offset, e.g. 2026-12-24T19:30:00+08:00."))
    return instant


def _first_error(form) -> tuple[str, str]:
    for key, field in CREATE_FIELDS.items():
        if field in form.errors:
            return key, form.errors[field][0]
    field, errors = next(iter(form.errors.items()))
    return field, errors[0]
