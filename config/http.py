"""The conventions of the JSON API, shared by every app's endpoints.

Errors always have one shape, `{"error": {"code": ..., "message": ...}}` (plus
`field` when one input field is at fault), whatever went wrong: a refused method,
a missing login, a bad body, an unknown object.
"""

import json
from functools import wraps

from django.http import Http404, JsonResponse
from django.middleware.csrf import get_token
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from config.ratelimit import RateLimited


class ApiError(Exception):
    """Raised by an endpoint to answer an error in the documented shape."""

    def __init__(self, status: int, code: str, message: str, *, field: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(
    status: int, code: str, message: str, *, field: str = ""
) -> JsonResponse:
    error = {"code": code, "message": str(message)}
    if field:
        error["field"] = field
    response = JsonResponse({"error": error}, status=status)
    patch_cache_control(response, private=True, no_store=True)
    return response


def json_endpoint(*methods: str):
    """Decorate a view that answers JSON for the given HTTP methods.

    A refused method answers 405 with an `Allow` header, an `ApiError`, `Http404`
    or `RateLimited` raised by the view answers in the error shape, a GET sets the
    CSRF cookie that the next POST must echo, and no answer is cached by WeChat's
    browser.
    """
    allowed = frozenset(methods)

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                response = error_response(
                    405,
                    "method_not_allowed",
                    _("Method %(method)s is not allowed here.")
                    % {"method": request.method},
                )
                response["Allow"] = ", ".join(sorted(allowed))
                return response

            if request.method == "GET":
                get_token(request)

            try:
                response = view(request, *args, **kwargs)
            except ApiError as error:
                return error_response(
                    error.status, error.code, error.message, field=error.field
                )
            except Http404:
                return error_response(404, "not_found", _("Not found."))
            except RateLimited as limited:
                response = error_response(429, "rate_limited", limited.message)
                response["Retry-After"] = str(limited.retry_after)
                return response

            patch_cache_control(response, private=True, no_store=True)
            return response

        return wrapper

    return decorator


def require_login(request) -> None:
    if not request.user.is_authenticated:
        raise ApiError(401, "not_authenticated", _("Log in first."))


def read_json_object(request) -> dict:
    """The request body as a JSON object, or an `ApiError` saying what is wrong."""
    if request.content_type != "application/json":
        raise ApiError(
            400,
            "unsupported_media_type",
            _("Send the body as application/json."),
        )

    try:
        body = json.loads(request.body.decode("utf-8"), parse_constant=_refuse)
        # "\ud800" is valid JSON but no text: a lone surrogate cannot be stored.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise ApiError(
            400, "invalid_json", _("The body is not valid UTF-8 JSON.")
        ) from None

    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", _("The body must be a JSON object."))
    return body


def field_error(field: str, message) -> ApiError:
    """A 400 about one input field, named in both `field` and the message."""
    return ApiError(400, "invalid_field", f"{field}: {message}", field=field)


def refuse_unknown_fields(body: dict, known) -> None:
    """Refuse a body with a key outside `known`, so a misspelt one is never
    silently dropped."""
    for key in body:
        if key not in known:
            raise ApiError(
                400,
                "unknown_field",
                _("Unknown field %(field)s.") % {"field": key},
                field=key,
            )


def _refuse(constant: str):
    # JSON has no NaN or Infinity; Python's parser accepts them unless told not to.
    raise ValueError(f"{constant} is not JSON")
