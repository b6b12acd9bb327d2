"""docs/openapi.yaml describes the machine-facing URLs exactly: every one of them,
with the methods it takes and the error codes it can answer."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from prs.services import REFUSALS
from tests.api import openapi

# URLs whose clients are programs rather than people reading pages.
MACHINE_PREFIXES = ("api/", "internal/", "healthz", "wechat/")
METHODS = ("get", "post", "put", "patch", "delete")
# Refusals that only the job runner meets, never an HTTP client.
INTERNAL_REFUSALS = {"release_too_early"}


def url_templates(patterns=None, prefix=""):
    """Every URL pattern as an OpenAPI path template: `/api/prs/{prId}`.

    A regex group that lists alternatives (`(?P<action>join|exit)`) stands for
    one path per alternative, as the description lists them.
    """
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + _route(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from url_templates(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield from _expand(route)


def _route(pattern) -> str:
    if isinstance(pattern, RegexPattern):
        return str(pattern).lstrip("^").rstrip("$")
    return re.sub(
        r"<(?:\w+:)?(\w+)>", lambda m: "{" + _camel(m.group(1)) + "}", str(pattern)
    )


def _expand(route: str):
    choice = re.search(r"\(\?P<(\w+)>([\w|-]+)\)", route)
    if choice and "|" in choice.group(2):
        for option in choice.group(2).split("|"):
            yield from _expand(route[: choice.start()] + option + route[choice.end() :])
        return
    route = re.sub(
        r"\(\?P<(\w+)>[^)]*\)", lambda m: "{" + _camel(m.group(1)) + "}", route
    )
    yield "/" + route


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


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
