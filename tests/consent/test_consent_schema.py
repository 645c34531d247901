"""The JSON Schemas: the package copies equal the authoritative top-level ones."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from trustavatar.consent.schema import ARTIFACT_SCHEMA, REVOCATION_LIST_SCHEMA

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [ARTIFACT_SCHEMA, REVOCATION_LIST_SCHEMA])
def test_package_copy_is_byte_identical(name: str) -> None:
    top_level = (REPO / "consent" / "schemas" / name).read_bytes()
    packaged = (files("trustavatar.consent") / "schemas" / name).read_bytes()
    assert packaged == top_level


@pytest.mark.parametrize("name", [ARTIFACT_SCHEMA, REVOCATION_LIST_SCHEMA])
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((REPO / "consent" / "schemas" / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_issued_artifact_validates_against_the_top_level_schema(artifact) -> None:
    schema = json.loads((REPO / "consent" / "schemas" / ARTIFACT_SCHEMA).read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(artifact.raw))
