"""Dependencies between the apps run one way (DESIGN §2): jobs knows no other app,
prs uses jobs, reminders builds on both."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = {"jobs", "prs", "reminders"}
ALLOWED = {"jobs": set(), "prs": {"jobs"}, "reminders": {"jobs", "prs"}}


def imported_apps(app: str) -> dict[str, set[str]]:
    """{module path: the other apps it imports}, for every module of `app`."""
    found = {}
    for path in (ROOT / app).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        others = {name.split(".")[0] for name in names} & (APPS - {app})
        if others:
            found[str(path.relative_to(ROOT))] = others
    return found


@pytest.mark.parametrize("app", sorted(APPS))
def test_an_app_imports_only_the_apps_below_it(app):
    offending = {
        module: others - ALLOWED[app]
        for module, others in imported_apps(app).items()
        if others - ALLOWED[app]
    }

    assert offending == {}
