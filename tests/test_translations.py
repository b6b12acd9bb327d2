"""The Simplified Chinese catalogue: complete, up to date with the code, and
compiled from its current text."""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import translation

from prs.services import REFUSALS

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locale/zh_Hans/LC_MESSAGES"


def msgfmt(*args):
    program = shutil.which("msgfmt")
    if program is None:
        pytest.fail("msgfmt is missing: apt-get install gettext")
    return subprocess.run(  # noqa: S603 - our own files as arguments
        [program, *args], capture_output=True, text=True, check=True
    )


def test_the_committed_mo_is_compiled_from_the_po(tmp_path):
    fresh = tmp_path / "django.mo"

    msgfmt("--check", "-o", str(fresh), str(CATALOGUE / "django.po"))

    with fresh.open("rb") as new, (CATALOGUE / "django.mo").open("rb") as committed:
        expected = gettext.GNUTranslations(new)._catalog
        actual = gettext.GNUTranslations(committed)._catalog

    assert actual == expected, "django.mo is stale: run make messages"


def test_every_message_is_translated(tmp_path):
    result = msgfmt(
        "--statistics", "-o", str(tmp_path / "x.mo"), str(CATALOGUE / "django.po")
    )

    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr


def test_every_message_in_the_code_is_in_the_catalogue(tmp_path):
    # What `make messages` would extract, on a copy of the sources: a message
    # written in the code but never extracted would show in English.
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".*", "tests", "bench", "var", "staticfiles", "node_modules", "*.pyc"
        ),
    )
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "-v", "0"],
        cwd=copy,
        check=True,
        capture_output=True,
    )

    extracted = copy / "locale/zh_Hans/LC_MESSAGES/django.po"
    result = msgfmt("--statistics", "-o", str(tmp_path / "x.mo"), str(extracted))
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, (
        f"messages missing from the catalogue: run make messages ({result.stderr})"
    )


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_refusals_read_in_chinese(code):
    with translation.override("zh-hans"):
        message = str(REFUSALS[code])

    assert any("\u4e00" <= char <= "\u9fff" for char in message)


def chinese(text) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in str(text))


@pytest.mark.parametrize("app", ["prs", "reminders", "jobs"])
def test_the_admin_names_every_model_and_field_in_chinese(app):
    config = apps.get_app_config(app)
    with translation.override("zh-hans"):
        names = {config.label: config.verbose_name}
        for model in config.get_models():
            meta = model._meta
            names[model.__name__] = meta.verbose_name
            names[f"{model.__name__} (plural)"] = meta.verbose_name_plural
            for field in meta.concrete_fields:
                if not field.primary_key:
                    names[f"{model.__name__}.{field.name}"] = field.verbose_name

        untranslated = [where for where, name in names.items() if not chinese(name)]

    assert untranslated == []
