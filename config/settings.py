"""Settings for the whole project, read from the environment (and `.env`).

Every value has a default that lets `make run` work on a fresh machine; production
sets the secrets and `DATABASE_URL` (see the README's "Deploying" section). This is
the only module that reads the environment: everything else asks
`django.conf.settings`.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")


# Core

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-local-development-key-do-not-deploy"
)
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
_SITE = urlsplit(SITE_URL)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=sorted({"localhost", "127.0.0.1", "[::1]", _SITE.hostname or "localhost"}),
)

INSTALLED_APPS = [
    "config.apps.ProjectConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "jobs",
    "prs",
    "reminders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "prs.User"
LOGIN_URL = "/auth/wechat/login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reminders.context_processors.wechat",
            ],
        },
    },
]

# The API answers a failed CSRF check in its JSON error shape.
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
# A POST's Origin must be this site; SITE_URL's is trusted even when a proxy in
# front rewrites the Host header.
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=[f"{_SITE.scheme}://{_SITE.netloc}"]
)
# No body the site accepts comes near this (a PR is a few kilobytes); a larger one
# is refused with 400 before anything reads it.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=262_144)
# Multipart bodies too (Django would stream their files, whatever their size).
FILE_UPLOAD_HANDLERS = ["config.uploads.NoFiles"]


# HTTPS (README "Deploying"). A SITE_URL on https switches on everything HTTPS
# allows; each setting can still be set on its own. Behind a proxy that ends TLS,
# SECURE_PROXY_SSL_HEADER names the header it sets, e.g.
# `HTTP_X_FORWARDED_PROTO,https`, or every request looks like plain http and is
# redirected forever.

_HTTPS = _SITE.scheme == "https"
SECURE_PROXY_SSL_HEADER = env.tuple("SECURE_PROXY_SSL_HEADER", default=None)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
# A container's health check asks over plain http, from inside, without the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS)
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=31_536_000 if _HTTPS else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Joining the browsers' preload list is a separate, lasting decision about the
# whole domain, so check --deploy does not ask for it here.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=["security.W021"])
# The client's address, for the rate limits: REMOTE_ADDR when nothing is in
# front, else the address this many proxies back in X-Forwarded-For.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)


# Database

_SQLITE_DEFAULT = BASE_DIR / "var" / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{_SQLITE_DEFAULT}")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _SQLITE_DEFAULT.parent.mkdir(exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes SQLite's single write lock at BEGIN, so two transactions
        # never both read and then deadlock upgrading to write.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
else:
    # Persistent connections: measured at about 8x the requests/s of a new
    # connection per request. Health checks drop a connection that a database
    # restart broke, instead of failing the next request on it.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


# Cache (the WeChat access token is shared through it)

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}


# Jobs: the database JobRunner (jobs.runner) is the task backend.

TASKS = {"default": {"BACKEND": "jobs.backend.DatabaseBackend"}}

# A tick runs what falls due up to this many seconds ahead: the next tick is
# likely to come later than that.
JOBS_TOLERANCE_SECONDS = env.int("JOBS_TOLERANCE_SECONDS", default=60)
# A claimed job is reclaimed this long after its worker stopped renewing it.
JOBS_LEASE_SECONDS = env.int("JOBS_LEASE_SECONDS", default=30)
JOBS_MAX_ATTEMPTS = env.int("JOBS_MAX_ATTEMPTS", default=5)
JOBS_RETRY_BASE_SECONDS = env.float("JOBS_RETRY_BASE_SECONDS", default=10)
JOBS_RETRY_MAX_SECONDS = env.float("JOBS_RETRY_MAX_SECONDS", default=600)
JOBS_CLAIM_BATCH = env.int("JOBS_CLAIM_BATCH", default=10)
# POST /internal/jobs/tick needs this bearer token; empty disables the endpoint.
JOBS_TICK_TOKEN = env.str("JOBS_TICK_TOKEN", default="")
JOBS_TICK_MAX_JOBS = env.int("JOBS_TICK_MAX_JOBS", default=100)
JOBS_TICK_MAX_SECONDS = env.float("JOBS_TICK_MAX_SECONDS", default=20)
# After a response is sent, a small batch runs at most once per interval.
JOBS_REQUEST_TAIL = env.bool("JOBS_REQUEST_TAIL", default=True)
JOBS_REQUEST_TAIL_INTERVAL = env.float("JOBS_REQUEST_TAIL_INTERVAL", default=30)
JOBS_REQUEST_TAIL_MAX_JOBS = env.int("JOBS_REQUEST_TAIL_MAX_JOBS", default=5)
JOBS_REQUEST_TAIL_MAX_SECONDS = env.float("JOBS_REQUEST_TAIL_MAX_SECONDS", default=2)
# prune_jobs keeps finished jobs this long; failures longer, for investigation.
JOBS_KEEP_SUCCEEDED_DAYS = env.int("JOBS_KEEP_SUCCEEDED_DAYS", default=7)
JOBS_KEEP_FAILED_DAYS = env.int("JOBS_KEEP_FAILED_DAYS", default=30)


# Rate limits (config/ratelimit.py): hits per window per key, e.g. 20/m, 10/h or
# 5/10s; empty turns one off.
RATE_LIMITS = {
    # /auth/wechat/login and its callback, per client address.
    "login": env.str("RATE_LIMIT_LOGIN", default="60/m"),
    # New PRs (API and page), per user.
    "create": env.str("RATE_LIMIT_CREATE", default="10/h"),
    # Join, confirm, check-in, exit and cancel (API and page), per user.
    "action": env.str("RATE_LIMIT_ACTIONS", default="30/m"),
}


# Internationalisation: the pages speak Simplified Chinese; times are shown in
# Asia/Shanghai and stored in UTC.

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True


# Static files

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Hashed names let WeChat's browser cache a static file for good and never serve a
# stale one after a deploy; `collectstatic` writes them and WhiteNoise serves them.
# With DEBUG on (make run) the original names are served straight from static/.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


# Pages

# The detail page polls its live headcount this often, 20 times a round.
PR_POLL_INTERVAL_MS = env.int("PR_POLL_INTERVAL_MS", default=1000)


# Logging: one line per event on standard error, module loggers underneath.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs every request's URL at DEBUG, and WeChat's URLs carry the
        # app secret or the access token in their query.
        "urllib3": {"level": "INFO"},
    },
}


# WeChat (DESIGN §7, README "WeChat"). The app always talks HTTP to these two bases:
# the real hosts in production, the local simulator in `make run` and the tests.
# The credentials have no defaults: `make run` and the tests use the simulator's
# demo account, and reminders/checks.py refuses demo values against the real API.

WECHAT_APP_ID = env.str("WECHAT_APP_ID", default="")
WECHAT_APP_SECRET = env.str("WECHAT_APP_SECRET", default="")
WECHAT_REMINDER_TEMPLATE_ID = env.str("WECHAT_REMINDER_TEMPLATE_ID", default="")
# Which key of the template carries which part of a reminder. A key's type is its
# prefix (thing, time, phrase, ...) and decides how the value is written. The
# default matches the simulator's demo template.
WECHAT_REMINDER_TEMPLATE_KEYS = env.dict(
    "WECHAT_REMINDER_TEMPLATE_KEYS",
    default={
        "title": "thing1",
        "start": "time2",
        "place": "thing3",
        "status": "phrase4",
    },
)
WECHAT_CALLBACK_TOKEN = env.str("WECHAT_CALLBACK_TOKEN", default="")
WECHAT_API_BASE = env.str("WECHAT_API_BASE", default="https://api.weixin.qq.com")
WECHAT_OAUTH_BASE = env.str("WECHAT_OAUTH_BASE", default="https://open.weixin.qq.com")
# Seconds. A send that times out may still have been delivered; the retry reuses
# its client_msg_id, so WeChat does not deliver it twice.
WECHAT_CONNECT_TIMEOUT = env.float("WECHAT_CONNECT_TIMEOUT", default=3.05)
WECHAT_READ_TIMEOUT = env.float("WECHAT_READ_TIMEOUT", default=10.0)
# Treat every browser as WeChat's, so `make run` shows the in-WeChat pages on a
# desktop. Refused while DEBUG is off.
WECHAT_ASSUME_IN_WECHAT = env.bool("WECHAT_ASSUME_IN_WECHAT", default=False)
