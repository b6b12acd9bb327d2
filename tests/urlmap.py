"""The site's URLs as path templates, for tests that must cover every one of them."""

import re

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern


def url_templates():
    """Every URL pattern as an OpenAPI path template: `/api/prs/{prId}`.

    A regex group that lists alternatives (`(?P<action>join|exit)`) stands for
    one path per alternative, as the description lists them.
    """
    for template, _view in url_views():
        yield template


def url_views(patterns=None, prefix=""):
    """(template, view function) for every URL pattern."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + _route(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from url_views(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            for template in _expand(route):
                yield template, entry.callback


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
