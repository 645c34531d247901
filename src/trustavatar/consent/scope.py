"""What a consent's scope covers, as the consent gate decides it (the audit uses the same
rule)."""

from __future__ import annotations

__all__ = ["language_in_scope"]

from collections.abc import Sequence


def language_in_scope(language: str, languages: Sequence[str]) -> bool:
    """Whether a consent's ``languages`` cover ``language``: ``"*"``, the same tag, or a
    tag it refines (``en`` covers ``en-gb``)."""
    wanted = language.lower()
    return any(
        tag == "*" or wanted == tag or wanted.startswith(tag + "-") for tag in languages
    )
