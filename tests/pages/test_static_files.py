"""Production's static files: hashed names the pages link, served for good."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

HASHED = {
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
}


@pytest.fixture
def collected(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": HASHED}
    call_command("collectstatic", interactive=False, verbosity=0)
    return tmp_path


def test_pages_link_hashed_names_that_whitenoise_serves_for_good(
    collected, clock, make_pr
):
    pr = make_pr()
    browser = Client()  # a new client loads WhiteNoise over the collected files

    html = browser.get(f"/prs/{pr.pk}").content.decode()
    script = re.search(
        r'src="(/static/vendor/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js)"', html
    )
    response = browser.get(script.group(1))

    assert re.search(
        r'href="/static/vendor/weui-2\.6\.26\.min\.[0-9a-f]{12}\.css"', html
    )
    assert re.search(r'src="/static/js/pr-live\.[0-9a-f]{12}\.js"', html)
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
