"""The ``trustavatar`` command line. A thin layer: parse arguments, call the public API.

Every trustavatar :class:`~trustavatar.errors.Error` is caught here, printed as one line
(or a JSON object under ``--json``) and turned into its documented exit code.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import click

from trustavatar import _terminate
from trustavatar._cli._common import CliState, error_object
from trustavatar._display import is_utf8, visible
from trustavatar._version import __version__
from trustavatar.errors import Error, ExitCode
from trustavatar.home import ENV_VAR, Home


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is looked up.

    Running ``trustavatar ledger verify`` imports the ledger commands and not the
    consent, scan or generate ones (each pulls in its part of the library: OpenCV, PyAV,
    dlib, the JSON schemas). Listing the commands (``--help``) loads them all, for their
    help lines.
    """

    #: command name -> (module under ``trustavatar._cli``, attribute holding the command)
    lazy: ClassVar[Mapping[str, tuple[str, str]]] = MappingProxyType({
        "keys": ("keys", "command"),
        "config": ("config", "command"),
        "provenance": ("provenance", "command"),
        "consent": ("consent", "command"),
        "generate": ("generate", "command"),
        "ledger": ("ledger", "command"),
        "scan": ("scan", "command"),
        "report": ("report", "command"),
        "audit": ("report", "audit_command"),
        "demo": ("demo", "command"),
    })

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name]
            module = importlib.import_module(f"trustavatar._cli.{module_name}")
            command = getattr(module, attr)
            assert isinstance(command, click.Command) and command.name == cmd_name
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="trustavatar")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help=f"Keystore, trust anchors and registry folder (default: ${ENV_VAR} or the user data dir).",
)
@click.option("--debug", is_flag=True, help="Show a traceback for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """Trustworthy AI avatars: consent, provenance, generation and detection."""
    if home is not None and not home.strip():
        raise click.BadParameter("must not be empty", param_hint="--home")
    ctx.obj = CliState(home=Home.resolve(home), debug=debug)


def _terminated(json_out: bool = False) -> int:
    return _stopped("terminated", 128 + signal.SIGTERM, json_out)


def _stopped(how: str, code: int, json_out: bool) -> int:
    """Ctrl-C (``interrupted``) or SIGTERM (``terminated``): said on stderr, and under
    --json (``json_out``) as the one JSON object on stdout, like any other failure."""
    if json_out:
        with contextlib.suppress(OSError):  # a closed stdout: stderr says it
            click.echo(json.dumps({"ok": False, "error": error_object(
                "Terminated" if how == "terminated" else "Interrupted", how, code)},
                indent=2))
    click.echo(f"trustavatar: {how}", err=True)
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises nothing more."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _not_utf8(args: list[str]) -> str | None:
    """The first command-line argument that is not UTF-8 text (the bytes Python could not
    decode stand in it as surrogates): named, with its bad bytes shown as escapes."""
    for i, arg in enumerate(args, 1):
        if not is_utf8(arg):
            raw = arg.encode("utf-8", "surrogateescape")
            return f"argument {i} ({raw.decode('utf-8', 'backslashreplace')})"
    return None


def _fail(st: CliState | None, code: int, kind: str, message: str,
          json_asked: bool = False, fields: Mapping[str, str] | None = None,
          result: Mapping[str, Any] | None = None) -> int:
    """Report an error (also as JSON on stdout under --json; ``json_asked``: the command
    line asked for it before any state knew, e.g. a bad --home; ``fields``: the error's
    own, see :meth:`trustavatar.errors.Error.fields`; ``result``: keys beside ``error``,
    :attr:`trustavatar.errors.Error.result`). On stderr, outside text in the message
    (a file or signer name) shows its control and format characters as escapes."""
    if (st is not None and st.json) or (st is None and json_asked):
        click.echo(json.dumps({"ok": False, **(result or {}),
                               "error": error_object(kind, message, code, **(fields or {}))},
                              indent=2))
    click.echo(f"trustavatar: error: {visible(message)}", err=True)
    return int(code)


def _json_requested(args: list[str]) -> bool:
    """Whether the command line asks for JSON on stdout: for errors Click finds before any
    command runs (a bad option, a missing argument), when no state says so yet."""
    for i, arg in enumerate(args):
        if arg == "--":
            return False
        if arg == "--json=-":
            return True
        if arg == "--json":
            if "scan" in args[:i]:  # 'scan --json OUT' writes a file; '--json -' is stdout
                return args[i + 1:i + 2] == ["-"]
            return True
    return False


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by :func:`main` and tests)."""
    ctxs: list[click.Context] = []
    args = list(sys.argv[1:] if argv is None else argv)

    def current_state() -> CliState | None:
        obj = ctxs[0].obj if ctxs else None
        return obj if isinstance(obj, CliState) else None

    def json_out() -> bool:
        st = current_state()
        return (st is not None and st.json) or _json_requested(args)

    bad = _not_utf8(args)
    if bad is not None:  # refused now: it failed only at signing or the ledger, after the work
        if _json_requested(args):
            click.echo(json.dumps({"ok": False, "error": error_object(
                "UsageError", f"{bad} is not UTF-8 text", ExitCode.USAGE)}, indent=2))
        click.echo(f"trustavatar: error: {bad} is not UTF-8 text; names, texts and paths "
                   "must be UTF-8 (rename the file)", err=True)
        return int(ExitCode.USAGE)
    try:
        with cli.make_context("trustavatar", list(args)) as ctx:
            ctxs.append(ctx)
            result = cli.invoke(ctx)
        return int(result) if isinstance(result, int) else 0
    except click.exceptions.Exit as e:  # --help, --version
        return int(e.exit_code)
    except click.exceptions.Abort:
        click.echo("trustavatar: aborted", err=True)
        return int(ExitCode.FAILURE)
    except click.ClickException as e:
        st = current_state()
        if (st is not None and st.json) or _json_requested(args):
            click.echo(json.dumps({"ok": False, "error": error_object(
                "UsageError", e.format_message(), ExitCode.USAGE)}, indent=2))
        e.show()
        return int(ExitCode.USAGE)
    except Error as e:
        st = current_state()
        if st is not None and st.debug:
            click.echo(e.diagnostics(), err=True)
        return _fail(st, e.exit_code, type(e).__name__, e.message, _json_requested(args),
                     e.fields(), e.result)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM under main(): cleaned up the same
        if isinstance(e, _terminate.Terminated):
            return _terminated(json_out())
        return _stopped("interrupted", 130, json_out())
    except BrokenPipeError:  # stdout closed early (| head): nothing more can be said there
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except Exception as e:  # a bug: one line, traceback only with --debug
        if _terminate.requested():  # SIGTERM's exception turned into another on its way
            return _terminated(json_out())
        st = current_state()
        if isinstance(e, OSError) and e.errno in _UNUSABLE_PATH:
            # a path no file can have (a name over 255 bytes, a path over 4096, a loop of
            # links), met by whichever check touched it first: the user's input, not a bug
            where = "" if e.filename is None else f" {visible(os.fsdecode(e.filename))}"
            return _fail(st, ExitCode.USAGE, "InputError",
                         f"cannot use the path{where}: {e.strerror}", _json_requested(args))
        if st is not None and st.debug:
            traceback.print_exc()
        return _fail(
            st, ExitCode.INTERNAL, "InternalError",
            f"internal error ({type(e).__name__}: {e}); rerun with --debug and report it",
            _json_requested(args),
        )


#: errors of a path itself, whatever the file system holds
_UNUSABLE_PATH = frozenset({errno.ENAMETOOLONG, errno.ELOOP})


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate.on_sigterm)
    for stream in (sys.stdout, sys.stderr):  # a locale that cannot show "→" or a name
        if (stream.encoding or "").lower().replace("-", "") != "utf8":
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        code = run()
    except BrokenPipeError:  # raised again while an error was being reported
        _quiet_stdout()
        code = 128 + signal.SIGPIPE
    # The command is over and has said so. A signal while Python shuts down (joining
    # threads, unloading modules: 0.1-0.2 s after an audit) exited 130 in silence, or with a
    # traceback, after its outputs and its JSON said it had finished: now it ends the
    # process at once, with the command's own code.
    def finished(signum: int, frame: object) -> None:
        os._exit(code)

    signal.signal(signal.SIGINT, finished)
    signal.signal(signal.SIGTERM, finished)
    with contextlib.suppress(OSError, ValueError):  # (a slow pipe: a signal now exits too)
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)
