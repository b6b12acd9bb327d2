"""Start-up checks of the settings a production deployment must get right.

`manage.py check --deploy` runs the ones tagged `deploy`, and so does gunicorn
before it starts (config/gunicorn.conf.py), so a deployment without a secret key,
a public address, PostgreSQL or its static files refuses to start instead of
failing at the first visitor. The WeChat settings have their own checks in
reminders/checks.py.
"""

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

from .ratelimit import Rate

DEVELOPMENT_SECRET_KEY_PREFIX = "django-insecure-"  # noqa: S105 (a prefix to refuse)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "testserver"})


@register(Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs):
    key = settings.SECRET_KEY
    if key and not key.startswith(DEVELOPMENT_SECRET_KEY_PREFIX):
        return []
    return [
        Error(
            "SECRET_KEY is not set: the development key signs the sessions.",
            hint="Set SECRET_KEY to a long random value kept out of the repository, "
            "e.g. the output of: python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'",
            id="project.E001",
        )
    ]


@register(deploy=True)
def check_site_url(app_configs, **kwargs):
    host = urlsplit(settings.SITE_URL).hostname
    if host and host not in LOCAL_HOSTS:
        return []
    return [
        Error(
            f"SITE_URL is {settings.SITE_URL!r}, an address on this machine.",
            hint="Set SITE_URL to the public https address people open, e.g. "
            "https://partners.example.com: WeChat's login comes back to it and "
            "reminders link to it.",
            id="project.E002",
        )
    ]


@register(deploy=True)
def check_postgresql(app_configs, **kwargs):
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine == "django.db.backends.postgresql":
        return []
    return [
        Error(
            f"The database is {engine.rsplit('.', 1)[-1]}, not PostgreSQL.",
            hint="Set DATABASE_URL=postgres://user:password@host:5432/name. Several "
            "web and job processes share the database, which SQLite cannot serve.",
            id="project.E003",
        )
    ]


@register(deploy=True)
def check_static_files_collected(app_configs, **kwargs):
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.is_file():
        return []
    return [
        Error(
            f"The static files are not collected in {settings.STATIC_ROOT}.",
            hint="Run python manage.py collectstatic --no-input before starting "
            "(make serve does); without it every page fails.",
            id="project.E004",
        )
    ]


@register(Tags.security)
def check_proxy_header(app_configs, **kwargs):
    header = settings.SECURE_PROXY_SSL_HEADER
    if header is None or (
        len(header) == 2 and str(header[0]).startswith("HTTP_") and header[1]
    ):
        return []
    return [
        Error(
            f"SECURE_PROXY_SSL_HEADER is {','.join(header)!r}, not a header and a "
            "value.",
            hint="Name the header your proxy sets as Django spells it, then its "
            "value: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https",
            id="project.E005",
        )
    ]


@register()
def check_rate_limits(app_configs, **kwargs):
    problems = []
    for scope, text in settings.RATE_LIMITS.items():
        if not text:
            continue
        try:
            Rate.parse(text)
        except ValueError:
            problems.append(
                Error(
                    f"The rate limit {scope!r} is {text!r}, not a rate.",
                    hint="Write hits per window, e.g. 30/m, 10/h or 5/10s; "
                    "empty turns the limit off.",
                    id="project.E006",
                )
            )
    return problems
