import hmac
import logging

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from config.http import error_response, json_endpoint

from . import runner

logger = logging.getLogger(__name__)


@csrf_exempt  # authenticated by its bearer token, not by a browser session
def tick(request):
    """Run one batch for a scheduler that calls in (a container scaled to zero).

    404 to every method while no token is configured, so the endpoint does not
    exist until an operator turns it on; 403 for a missing or wrong token.
    """
    if not settings.JOBS_TICK_TOKEN:
        return error_response(404, "not_found", _("Not found."))
    return _authorised_tick(request, settings.JOBS_TICK_TOKEN)


@json_endpoint("POST")
def _authorised_tick(request, expected: str):
    scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        logger.warning(
            "tick refused: bad token remote=%s", request.META.get("REMOTE_ADDR")
        )
        return error_response(403, "forbidden", "A valid bearer token is required.")

    result = runner.tick(
        max_jobs=settings.JOBS_TICK_MAX_JOBS,
        max_seconds=settings.JOBS_TICK_MAX_SECONDS,
        worker=f"{runner.default_worker_name()}:http",
    )
    logger.info("tick done trigger=http %s", result)
    return JsonResponse(result.as_dict())
