"""Production serving: the documented environment passes `check --deploy`,
gunicorn refuses a wrong one, and HTTPS settings follow SITE_URL."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def documented_production_environment() -> dict[str, str]:
    """The NAME=value lines of the first sh block under README's "Deploying"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploying\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    pairs = (line.split("=", 1) for line in block.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


@pytest.fixture(scope="module")
def production_env(tmp_path_factory):
    """The documented environment, with static files collected once for these tests."""
    home = tmp_path_factory.mktemp("production")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        **documented_production_environment(),
        "STATIC_ROOT": str(home / "static"),
    }
    manage("collectstatic", "--no-input", "-v", "0", env=env, check=True)
    return env


def manage(*args, env, check=False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def production_settings(env, *names) -> dict:
    """Settings as a process started with `env` sees them."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def test_check_deploy_is_clean_under_the_documented_environment(production_env):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_each_missing_production_setting(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "STATIC_ROOT": str(tmp_path)}

    result = manage("check", "--deploy", env=env)

    assert result.returncode == 1
    for problem in ("project.E001", "project.E002", "project.E003", "project.E004"):
        assert problem in result.stderr
    assert "security.W012" in result.stderr  # session cookie not Secure


def test_gunicorn_refuses_to_start_without_a_secret_key_or_wechat_secret(
    production_env,
):
    env = dict(production_env)
    del env["SECRET_KEY"]
    env["WECHAT_APP_SECRET"] = ""

    result = subprocess.run(
        [str(GUNICORN), "-c", "config/gunicorn.conf.py", "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "project.E001" in result.stderr
    assert "reminders.E004" in result.stderr
    assert "WECHAT_APP_SECRET" in result.stderr
    assert "Booting worker" not in result.stderr


def test_an_https_site_url_turns_on_secure_cookies_redirect_and_hsts():
    names = [
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "DEBUG",
    ]

    public = production_settings({"SITE_URL": "https://partners.example.com"}, *names)
    local = production_settings({}, *names)

    assert public == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "ALLOWED_HOSTS": ["127.0.0.1", "[::1]", "localhost", "partners.example.com"],
        "CSRF_TRUSTED_ORIGINS": ["https://partners.example.com"],
        "DEBUG": False,
    }
    assert local["SESSION_COOKIE_SECURE"] is False
    assert local["SECURE_SSL_REDIRECT"] is False
    assert local["SECURE_HSTS_SECONDS"] == 0


def test_the_proxy_header_is_read_as_a_header_and_its_value():
    env = {"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https"}

    configured = production_settings(env, "SECURE_PROXY_SSL_HEADER")

    assert configured == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]
    }


@pytest.fixture
def behind_a_tls_proxy(settings, db):
    settings.ALLOWED_HOSTS = ["partners.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    return Client(headers={"host": "partners.example.com"})


def test_behind_the_proxy_https_requests_are_served_with_hsts(behind_a_tls_proxy):
    response = behind_a_tls_proxy.get("/", headers={"x-forwarded-proto": "https"})

    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_plain_http_is_redirected_to_https(behind_a_tls_proxy):
    response = behind_a_tls_proxy.get("/prs/7")

    assert response.status_code == 301
    assert response["Location"] == "https://partners.example.com/prs/7"


def test_the_health_check_answers_over_plain_http(behind_a_tls_proxy):
    assert behind_a_tls_proxy.get("/healthz").status_code == 200


def test_the_access_log_leaves_out_query_strings():
    config = {}
    exec((ROOT / "config/gunicorn.conf.py").read_text(), config)  # noqa: S102

    assert "%(U)s" in config["access_log_format"]
    for with_query in ("%(r)s", "%(q)s", "{raw_uri}"):
        assert with_query not in config["access_log_format"]


def test_make_serve_collects_static_files_and_starts_gunicorn_with_its_config():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nserve:", 1)[1].split("\n\n", 1)[0]

    assert recipe.index("collectstatic") < recipe.index(
        "gunicorn -c config/gunicorn.conf.py"
    )
