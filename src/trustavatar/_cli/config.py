"""``trustavatar config``: settings in ``$TRUSTAVATAR_HOME/config.toml``."""

from __future__ import annotations

import click
from rich.console import Console

from trustavatar._cli._common import emit, json_option, state
from trustavatar.errors import ExitCode
from trustavatar.home import Config


@click.group("config")
def command() -> None:
    """Show or change settings (tsa_url: an RFC 3161 timestamp authority)."""


@command.command("show")
@json_option
def show() -> int:
    """Show the settings."""
    cfg = state().home.load_config()
    values = {k: getattr(cfg, k) for k in Config.KEYS}
    def human(con: Console) -> None:
        for k, v in values.items():
            con.print(f"{k} = {v if v is not None else '(unset)'}")

    emit({"ok": True, "config": values}, human)
    return ExitCode.OK


@command.command("set")
@click.argument("key")
@click.argument("value")
@json_option
def set_(key: str, value: str) -> int:
    """Set KEY to VALUE (e.g. tsa_url http://timestamp.example/tsa)."""
    home = state().home
    cfg = home.load_config(replacing=key).with_value(key, value)
    home.save_config(cfg)
    emit({"ok": True, "key": key, "value": value}, lambda con: con.print(f"{key} = {value}"))
    return ExitCode.OK


@command.command("unset")
@click.argument("key")
@json_option
def unset(key: str) -> int:
    """Remove KEY from the settings."""
    home = state().home
    home.save_config(home.load_config(replacing=key).with_value(key, None))
    emit({"ok": True, "key": key, "value": None}, lambda con: con.print(f"{key} unset"))
    return ExitCode.OK
