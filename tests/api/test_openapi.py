"""docs/openapi.yaml describes the machine-facing URLs exactly: every one of them,
with the methods it takes and the error codes it can answer."""

import re

import pytest
from django.test import Client

from prs.services import REFUSALS
from tests.api import openapi
from tests.urlmap import url_templates

# URLs whose clients are programs rather than people reading pages.
MACHINE_PREFIXES = ("api/", "internal/", "healthz", "wechat/")
METHODS = ("get", "post", "put", "patch", "delete")
# Refusals that only the job runner meets, never an HTTP client.
INTERNAL_REFUSALS = {"release_too_early"}


def machine_urls() -> set[str]:
    return {
        template
        for template in url_templates()
        if template.lstrip("/").startswith(MACHINE_PREFIXES)
    }


def test_every_machine_url_is_described_and_nothing_else():
    described = set(openapi.load()["paths"])

    assert described == machine_urls()


@pytest.mark.parametrize("path", sorted(openapi.load()["paths"]))
def test_each_path_takes_exactly_the_described_methods(
    path, clock, settings, make_pr, participant
):
    settings.JOBS_TICK_TOKEN = "token"
    settings.RATE_LIMITS = {}
    described = {m for m in openapi.load()["paths"][path] if m in METHODS}
    url = path.replace("{prId}", str(make_pr().pk))
    browser = Client()
    browser.force_login(participant)

    taken = {
        method for method in METHODS if getattr(browser, method)(url).status_code != 405
    }

    assert taken == described


def documented_error_codes() -> set[str]:
    schema = openapi.load()["components"]["schemas"]["Error"]
    return set(schema["properties"]["error"]["properties"]["code"]["enum"])


def test_every_refusal_of_a_rule_is_a_described_error_code():
    assert set(REFUSALS) - INTERNAL_REFUSALS <= documented_error_codes()


def test_the_readme_lists_the_same_error_codes_as_the_description():
    readme = (openapi.SPEC.parents[1] / "README.md").read_text()
    table = readme.split("\n| status | codes |\n", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([a-z_]+)`", table))

    assert listed == documented_error_codes()
