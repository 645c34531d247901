"""The JSON Schemas of consent artifacts and revocation lists (draft 2020-12).

The authoritative copies are in the repository's top-level ``consent/schemas/``; the
package carries identical copies (a test checks they are byte-identical).
"""

from __future__ import annotations

__all__ = ["ARTIFACT_SCHEMA", "REVOCATION_LIST_SCHEMA", "load_schema", "schema_problem"]

import functools
import importlib.resources
import json
from typing import Any, Final

import jsonschema
from jsonschema.exceptions import best_match

ARTIFACT_SCHEMA: Final = "consent-artifact.v1.schema.json"
REVOCATION_LIST_SCHEMA: Final = "revocation-list.v1.schema.json"
_MAX_MESSAGE: Final = 160


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (one of the constants above) as a dict."""
    resource = importlib.resources.files("trustavatar.consent") / "schemas" / name
    text = resource.read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def schema_problem(name: str, instance: Any) -> str | None:
    """None if ``instance`` is valid under schema ``name``, else one short sentence."""
    error = best_match(_validator(name).iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(document)"
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return f"at {where}: {message}"
