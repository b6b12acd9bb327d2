"""Project-level endpoints: health, and the error answers Django produces itself."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views.csrf import csrf_failure as html_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.http import error_response

logger = logging.getLogger(__name__)

# Paths whose clients read JSON, so Django's own errors must answer JSON there too.
JSON_PREFIXES = ("/api/", "/internal/")


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers a query, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.warning("health check failed: database unavailable", exc_info=True)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def csrf_failure(request, reason=""):
    if _wants_json(request):
        return error_response(
            403,
            "csrf_failed",
            _(
                "CSRF check failed: send the csrftoken cookie "
                "back in the X-CSRFToken header."
            ),
        )
    return html_csrf_failure(request, reason)


def bad_request(request, exception):
    if _wants_json(request):
        return error_response(400, "bad_request", _("The request could not be read."))
    return _error_page(request, "400.html", 400)


def permission_denied(request, exception):
    if _wants_json(request):
        return error_response(403, "forbidden", _("Not allowed."))
    return _error_page(request, "403.html", 403)


def page_not_found(request, exception):
    if _wants_json(request):
        return error_response(404, "not_found", _("Not found."))
    return _error_page(request, "404.html", 404)


def server_error(request):
    if _wants_json(request):
        return error_response(500, "server_error", _("Something went wrong."))
    # Without the request: whatever broke may break its context processors too.
    return HttpResponseServerError(loader.render_to_string("500.html"))


def _error_page(request, template_name: str, status: int) -> HttpResponse:
    """An error page in the site's look.

    Django's own error views first run the CSRF check to offer the page a token,
    and that check reads the POST body: a multipart body without a boundary then
    turns a 404 into a 500. These pages post nothing, so they skip it.
    """
    content = loader.render_to_string(template_name, request=request)
    return HttpResponse(content, status=status)


def _wants_json(request) -> bool:
    return request.path.startswith(JSON_PREFIXES)
