from __future__ import annotations

import click
import pytest
from tests.clitools import invoke

from trustavatar import __version__
from trustavatar._cli import cli


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _leaf_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_command_has_json() -> None:
    leaves = list(_leaf_commands(cli))
    assert len(leaves) >= 8
    missing = [" ".join(path) for path, cmd in leaves
               if "--json" not in {o for p in cmd.params for o in p.opts}]
    assert missing == []


def test_help_and_version(capsys) -> None:
    r = invoke(capsys, "--help")
    assert r.code == 0 and "provenance" in r.out and "keys" in r.out
    r = invoke(capsys, "--version")
    assert r.code == 0 and __version__ in r.out
    for path, _ in _leaf_commands(cli):
        assert invoke(capsys, *path, "--help").code == 0, path


def test_the_help_lists_every_command_and_each_loads_under_its_name(capsys) -> None:
    r = invoke(capsys, "--help")
    listed = {line.split()[0] for line in r.out.split("Commands:")[1].splitlines() if line.strip()}
    ctx = click.Context(cli)
    assert listed == set(cli.list_commands(ctx))
    assert {"keys", "config", "provenance", "consent", "generate", "ledger", "scan", "report",
            "audit", "demo"} <= listed
    for name in listed:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_a_command_imports_only_its_own_module() -> None:
    # the others pull in their parts of the library (OpenCV, PyAV, dlib, schemas): 0.4 s
    from tests.fresh_python import fresh_python_json

    loaded = set(fresh_python_json(
        "from trustavatar._cli import run\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert run(['ledger', '--help']) == 0\n"
        "print(json.dumps(sorted(sys.modules)))"))
    assert "trustavatar._cli.ledger" in loaded
    others = {f"trustavatar._cli.{m}" for m in ("consent", "scan", "generate", "demo", "report",
                                                "provenance", "keys", "config")}
    assert not (others | {"cv2", "av", "dlib"}) & loaded
    # the consent commands read artifacts: OpenCV and PyAV only where a clip is checked
    loaded = set(fresh_python_json(
        "from trustavatar._cli import run\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert run(['consent', 'verify', '--help']) == 0\n"
        "print(json.dumps(sorted(sys.modules)))"))
    assert "trustavatar._cli.consent" in loaded and not {"cv2", "av", "dlib"} & loaded


def test_usage_errors_exit_2(capsys) -> None:
    r = invoke(capsys, "no-such-command")
    assert r.code == 2 and "No such command" in r.err
    r = invoke(capsys, "provenance", "sign")
    assert r.code == 2 and "Missing argument" in r.err
    for args in (["scan", "--max-seconds", "nan", "x.mp4"], ["generate", "--fps", "nan"]):
        r = invoke(capsys, *args)  # no bound of a FloatRange catches nan
        assert r.code == 2 and "is not a finite number" in r.err, args


def test_usage_errors_are_json_under_json(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    home = ["--home", str(tmp_path / "home")]
    for args in (["keys", "show", "--bogus", "--json"],
                 ["consent", "verify", "--json"],  # missing argument
                 ["consent", "issue", "--valid-days", "0", "--json"],
                 ["scan", "--json", "-", "--workers", "0", str(tmp_path)],
                 # a passphrase variable is read before the command runs
                 ["keys", "init", "--passphrase-env", "NOT_SET_ANYWHERE", "--json"]):
        r = invoke(capsys, *home, *args)
        assert r.code == 2, (args, r.err)
        error = r.json()["error"]
        assert error["exit_code"] == 2 and error["message"], args
    r = invoke(capsys, *home, "keys", "show", "--bogus")
    assert r.code == 2 and r.out == ""
    # 'scan --json OUT' names a file: a usage error then prints no JSON on stdout
    r = invoke(capsys, *home, "scan", "--json", str(tmp_path / "o.json"), "--workers", "0", "x")
    assert r.code == 2 and r.out == ""
    r = invoke(capsys, "--home", "", "keys", "show")
    assert r.code == 2 and "--home" in r.err and "must not be empty" in r.err


def test_module_entry_point() -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "trustavatar", "--version"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0 and __version__ in p.stdout


@pytest.mark.parametrize("bad_home", ["/proc/definitely/not/writable"])
def test_unwritable_home_is_a_clear_error(capsys, bad_home) -> None:
    r = invoke(capsys, "--home", bad_home, "keys", "init")
    assert r.code == 1 and r.err.startswith("trustavatar: error: cannot create")
