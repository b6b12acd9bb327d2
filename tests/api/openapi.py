"""The API's description, docs/openapi.yaml, for the tests that hold it true."""

from pathlib import Path

import yaml

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def load() -> dict:
    return yaml.safe_load(SPEC.read_text())
