from __future__ import annotations

import click
import pytest
from tests.clitools import invoke

from trustavatar import __version__
from trustavatar._cli import cli


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
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


def test_usage_errors_exit_2(capsys) -> None:
    r = invoke(capsys, "no-such-command")
    assert r.code == 2 and "No such command" in r.err
    r = invoke(capsys, "provenance", "sign")
    assert r.code == 2 and "Missing argument" in r.err


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
