"""The manifest definition trustavatar signs: what it declares and why."""

from __future__ import annotations

__all__ = ["TRAINING_MINING_ENTRIES", "build_manifest"]

from collections.abc import Sequence
from typing import Any

from trustavatar._arguments import instance
from trustavatar._display import has_control_characters
from trustavatar._version import __version__
from trustavatar.errors import InputError
from trustavatar.provenance.model import (
    ConsentBinding,
    GenerationBinding,
    Ingredient,
    SourceType,
)

#: CAWG training-and-data-mining entries; all set to notAllowed.
TRAINING_MINING_ENTRIES = (
    "cawg.ai_generative_training",
    "cawg.ai_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)

SOFTWARE_AGENT = {"name": "trustavatar", "version": __version__}


def build_manifest(
    *,
    title: str,
    source_type: SourceType | str,
    consent: ConsentBinding | None = None,
    generation: GenerationBinding | None = None,
    ingredients: Sequence[Ingredient] = (),
) -> dict[str, Any]:
    """A c2pa-python manifest definition.

    - ``c2pa.actions.v2``: ``c2pa.created`` with the IPTC digital source type (AI-generated),
      plus ``c2pa.edited`` for composites over real footage;
    - ``cawg.training-mining``: every use ``notAllowed``;
    - ``org.trustavatar.consent``: the consent binding (ids and hashes only, no personal data);
    - ``org.trustavatar.generation``: the ledger's generation id and the frames' watermark;
    - ingredients by hash (no copies or thumbnails of faces are embedded).
    """
    source_type = SourceType.of(source_type)
    if not isinstance(title, str) or has_control_characters(title):
        raise InputError(f"title must be text without control characters, got {title!r:.60}")
    if consent is not None:
        instance(consent, ConsentBinding, "consent", " (ConsentBinding(consent_id, sha256))")
    if generation is not None:
        instance(generation, GenerationBinding, "generation")
    if isinstance(ingredients, str | bytes) or not isinstance(ingredients, Sequence):
        raise InputError(f"ingredients must be a sequence of Ingredient, got "
                         f"{type(ingredients).__name__}")
    for i in ingredients:
        instance(i, Ingredient, "an ingredient", " (Ingredient.from_file(path))")
    actions: list[dict[str, Any]] = [
        {
            "action": "c2pa.created",
            "digitalSourceType": source_type.uri,
            "softwareAgent": SOFTWARE_AGENT,
        }
    ]
    if source_type is SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA:
        actions.append(
            {
                "action": "c2pa.edited",
                "digitalSourceType": source_type.uri,
                "softwareAgent": SOFTWARE_AGENT,
                "description": "mouth region re-rendered to new audio (lip-sync)",
            }
        )
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions.v2", "data": {"actions": actions}},
        {
            "label": "cawg.training-mining",
            "data": {"entries": {e: {"use": "notAllowed"} for e in TRAINING_MINING_ENTRIES}},
        },
    ]
    if consent is not None:
        assertions.append(consent.assertion())
    if generation is not None:
        assertions.append(generation.assertion())
    return {
        "claim_generator_info": [SOFTWARE_AGENT],
        "title": title,
        "assertions": assertions,
        "ingredients": [i.definition() for i in ingredients],
    }
