"""Shared pieces of the CLI: state, --json, passphrases, output."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from trustavatar.errors import InputError
from trustavatar.home import Home

F = TypeVar("F", bound=Callable[..., Any])

PASSPHRASE_ENV_DEFAULT = "TRUSTAVATAR_PASSPHRASE"  # noqa: S105 - a variable name


@dataclass
class CliState:
    home: Home
    debug: bool = False
    json: bool = False
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))


def state() -> CliState:
    obj = click.get_current_context().find_root().obj
    assert isinstance(obj, CliState)
    return obj


def json_option(f: F) -> F:
    """Add ``--json``: machine-readable output on stdout (errors too)."""

    @click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
    @functools.wraps(f)
    def wrapper(*args: Any, as_json: bool, **kwargs: Any) -> Any:
        state().json = as_json
        return f(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def passphrase_option(f: F) -> F:
    """Add ``--passphrase-env VAR``; passes ``passphrase: bytes | None``."""

    @click.option(
        "--passphrase-env",
        metavar="VAR",
        default=None,
        help=f"Environment variable holding the key passphrase (default: {PASSPHRASE_ENV_DEFAULT}"
        " if set).",
    )
    @functools.wraps(f)
    def wrapper(*args: Any, passphrase_env: str | None, **kwargs: Any) -> Any:
        return f(*args, passphrase=read_passphrase(passphrase_env), **kwargs)

    return wrapper  # type: ignore[return-value]


def read_passphrase(var: str | None) -> bytes | None:
    if var is None:
        value = os.environ.get(PASSPHRASE_ENV_DEFAULT)
        return value.encode() if value else None
    value = os.environ.get(var)
    if value is None:
        raise InputError(f"environment variable {var} (--passphrase-env) is not set")
    if not value:
        raise InputError(f"environment variable {var} (--passphrase-env) is empty")
    return value.encode()


def refuse_overwrite(out: str, force: bool) -> None:
    """Outputs that would replace a file need ``--force``."""
    if Path(out).exists() and not force:
        raise InputError(f"{out} exists already (use --force to replace it)")


def emit(result: dict[str, Any], human: Callable[[Console], None]) -> None:
    """Print ``result`` as JSON under ``--json``, else call ``human`` with a console."""
    st = state()
    if st.json:
        click.echo(json.dumps(result, indent=2, sort_keys=False, default=str))
    else:
        human(st.console)
