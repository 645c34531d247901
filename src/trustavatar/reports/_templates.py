"""The reports' jinja2 environment: templates packaged in ``trustavatar/reports/templates``,
HTML autoescaping on. Missing members render empty (results from older versions lack
newer figures); the tests check that every panel shows its content."""

from __future__ import annotations

__all__ = ["environment", "script_json", "static_script"]

import base64
import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
import markupsafe

from trustavatar._display import visible
from trustavatar._numbers import finite_number


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    root = resources.files("trustavatar.reports") / "templates"
    templates = {p.name: p.read_text(encoding="utf-8") for p in root.iterdir()
                 if p.name.endswith((".j2", ".css"))}
    env = jinja2.Environment(
        loader=jinja2.DictLoader(templates),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.ChainableUndefined,  # older results lack newer figures
        trim_blocks=True, lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters["f2"] = lambda v: _fixed(v, 2)
    env.filters["f1"] = lambda v: _fixed(v, 1)
    return env


def _shown(value: Any) -> Any:
    """Every text a page shows (not the markup it was built with: charts, embedded JSON,
    the JSON panel's ``{{ json | e }}``, whose JSON escapes every character beyond ASCII)
    with control, format and bidirectional characters and lone surrogates as escapes, so
    a file or signer name cannot turn the text after it around, hide an invisible
    character or stop the page from being written as UTF-8 (see
    :func:`trustavatar._display.visible`)."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return visible(value)
    return value


def _fixed(value: Any, digits: int) -> str:
    """A figure with ``digits`` decimals; "n/a" for anything that is not a finite number
    (None, a figure a failed or older analyzer did not give)."""
    x = finite_number(value)
    return "n/a" if x is None else f"{x:.{digits}f}"


def script_json(data: Mapping[str, Any]) -> str:
    """``data`` as indented JSON safe inside ``<script type="application/json">``: "</"
    would end the element, so every "<" is written as the equal JSON escape ``\\u003c``.
    Plain ASCII: every other character is a JSON escape (``\\u202e``, ``\\udcff``), so a
    page can show the text as it is (``{{ json | e }}``) and write it as UTF-8.
    Raises ValueError for NaN or infinity (not JSON)."""
    text = json.dumps(data, indent=1, ensure_ascii=True, allow_nan=False, default=str)
    return text.replace("<", "\\u003c")


@lru_cache(maxsize=4)
def static_script(name: str) -> tuple[str, str]:
    """A packaged script (``templates/NAME``) and its CSP source ``'sha256-…'``, so a page's
    policy allows exactly that script and no other inline one."""
    text = (resources.files("trustavatar.reports") / "templates" / name).read_text(
        encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"sha256-{digest}"
