"""Shared pieces of the CLI: state, --json, passphrases, output."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from trustavatar._atomic import taken
from trustavatar._display import visible
from trustavatar._time import in_range
from trustavatar.errors import InputError, RegistryError
from trustavatar.home import Home

F = TypeVar("F", bound=Callable[..., Any])

PASSPHRASE_ENV_DEFAULT = "TRUSTAVATAR_PASSPHRASE"  # noqa: S105 - a variable name


class _Console(Console):
    """rich's console, except that text it is given is shown with
    :func:`~trustavatar._display.visible` (a name, transcript or file name holding a control
    character, a bidirectional override or a zero-width space shows it as an escape,
    whichever command prints it; rich ``Text`` is the caller's), and that a closed pipe
    (``| head``) ends the command as every other write to it does (exit 141, SIGPIPE)
    instead of rich's exit 1 ("failed")."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(visible(o) if isinstance(o, str) else o for o in objects), **kwargs)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


@dataclass
class CliState:
    home: Home
    debug: bool = False
    json: bool = False
    # markup off: what is printed holds outside text (file names, manifest fields) in
    # which "[/]" or "[green]TRUSTED[/]" must show as written; colour is given with style=
    console: Console = field(default_factory=lambda: _Console(highlight=False, soft_wrap=True,
                                                              markup=False))
    err: Console = field(default_factory=lambda: _Console(stderr=True, highlight=False,
                                                          markup=False))


def error_object(kind: str, message: str, code: int, **fields: Any) -> dict[str, Any]:
    """The ``error`` object every failed command's ``--json`` output carries: the error's
    type, message and exit code, and its own ``fields`` (a challenge's reason)."""
    return {"type": kind, "message": message, "exit_code": int(code), **fields}


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
        if click.get_current_context().params.get("as_json"):
            state().json = True  # so that an error reading the passphrase is JSON too
        return f(*args, passphrase=read_passphrase(passphrase_env), **kwargs)

    return wrapper  # type: ignore[return-value]


def read_passphrase(var: str | None, option: str = "--passphrase-env") -> bytes | None:
    # the variable's bytes as they are: a passphrase need not be UTF-8 text
    if var is None:
        return os.environb.get(PASSPHRASE_ENV_DEFAULT.encode()) or None
    value = os.environb.get(os.fsencode(var))
    if value is None:
        raise InputError(f"environment variable {var} ({option}) is not set")
    if not value:
        raise InputError(f"environment variable {var} ({option}) is empty")
    return value


def time_option(value: str | None, option: str, *, date_ok: bool = False) -> dt.datetime | None:
    """An ISO 8601 time given on the command line (with a time zone), or with ``date_ok`` a
    bare date (its start, UTC); :class:`InputError` for anything else or a year out of range."""
    if value is None:
        return None
    if date_ok:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return in_range(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC), option)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as e:
        what = "date or time" if date_ok else "time"
        raise InputError(f"{option}: {value!r} is not an ISO 8601 {what}") from e
    if parsed.tzinfo is None:
        raise InputError(f"{option}: {value!r} has no time zone (e.g. 2025-01-31T12:00:00Z)")
    return in_range(parsed, option)


class Kept:
    """Files no output may replace, ``(option, path)`` pairs: ``("--face", path)``, or a
    description starting "the ", e.g. ``("the --json output", path)``. Looked up by place
    (a path not written yet counts) and by identity (a link to it), each in constant time:
    a folder of pages is checked against a batch's inputs once, not page by input."""

    def __init__(self, pairs: Iterable[tuple[str, str | os.PathLike[str] | None]] = ()) -> None:
        self.pairs = [(option, path) for option, path in pairs if path is not None]
        self._by_place: dict[Path, str] = {}
        self._by_id: dict[tuple[int, int], str] = {}
        for option, path in self.pairs:
            self._by_place.setdefault(_placed(Path(path)), option)
            try:
                st = Path(path).stat()
            except OSError:  # not written yet: its place is enough
                continue
            self._by_id.setdefault((st.st_dev, st.st_ino), option)

    def holding(self, target: Path) -> str | None:
        """The option whose file ``target`` is, or None."""
        option = self._by_place.get(_placed(target))
        if option is not None or not self._by_id:
            return option
        try:
            st = target.stat()
        except OSError:
            return None
        return self._by_id.get((st.st_dev, st.st_ino))


def refuse_overwrite(out: str, force: bool,
                     inputs: Kept | Iterable[tuple[str, str | os.PathLike[str] | None]] = ()
                     ) -> None:
    """Outputs that would replace a file need ``--force``; an output is never one of the
    command's ``inputs`` (:class:`Kept`, or its pairs) nor a file of the trustavatar home
    (its registry, its configuration, anything in its keys and trust folders), ``--force``
    or not."""
    if not str(out).strip():
        raise InputError("the output path is empty")
    target = Path(out)
    if target.is_dir():
        raise InputError(f"the output {out} is a directory, not a file name")
    _refuse_home_file(out, target)
    option = (inputs if isinstance(inputs, Kept) else Kept(inputs)).holding(target)
    if option is not None:
        what = option if option.startswith("the ") else f"the input {option}"
        raise InputError(f"the output {out} is also {what}: write the output elsewhere")
    if taken(target) and not force:  # a dangling link counts
        raise InputError(f"{out} exists already (use --force to replace it)")


def require_registry(st: CliState, hint: str) -> Path:
    """The home's registry file, which the command needs to exist: a mistyped ``--home``
    must get an error, not a new empty home (``hint``: why there might be none)."""
    path = st.home.registry_path
    if path.exists() and not path.is_file():  # (SQLite would say "disk I/O error")
        raise RegistryError(f"the registry {path} is not a file (a folder?): move it away")
    if not path.exists():
        raise InputError(f"no registry at {path} ({hint}; wrong --home?)")
    return path


def _refuse_home_file(out: str, target: Path) -> None:
    ctx = click.get_current_context(silent=True)
    st = ctx.find_root().obj if ctx is not None else None
    if not isinstance(st, CliState):
        return
    home = st.home
    where = _placed(target)
    for folder, what in ((home.keys_dir, "signing key and certificates"),
                         (home.trust_dir, "trust anchors")):  # made yet or not
        if where.is_relative_to(_resolved(folder)):
            raise InputError(f"the output {out} is in the trustavatar home's {folder.name} "
                             f"folder (its {what}): write the output elsewhere")
    registry = home.registry_path
    # the home's files, also those not made yet (a registry's journal files come and go)
    for path, what in ((registry, "registry"), (home.config_path, "settings"),
                       *((registry.with_name(registry.name + end), "registry's journal")
                         for end in ("-wal", "-shm", "-journal"))):
        if where == _placed(path) or (target.exists() and path.exists()
                                      and target.samefile(path)):
            raise InputError(f"the output {out} is the trustavatar home's {what} "
                             f"({path.name}): write the output elsewhere")


def _resolved(path: Path) -> Path:
    """``path`` with every link resolved as far as it exists (a folder may be a link)."""
    try:
        return path.resolve()
    except RuntimeError as e:  # pathlib's word for a loop of symbolic links
        raise InputError(f"cannot use the path {path}: a loop of symbolic links") from e


def _placed(path: Path) -> Path:
    """``path`` with its folder's links resolved (the file itself need not exist)."""
    try:
        return path.parent.resolve() / path.name
    except RuntimeError as e:  # pathlib's word for a loop of symbolic links
        raise InputError(f"cannot use the path {path}: a loop of symbolic links") from e


def emit(result: dict[str, Any], human: Callable[[Console], None]) -> None:
    """Print ``result`` as JSON under ``--json``, else call ``human`` with a console."""
    st = state()
    if st.json:
        click.echo(json.dumps(result, indent=2, sort_keys=False, default=str))
    else:
        human(st.console)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` (which no bound catches) and
    infinities."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
