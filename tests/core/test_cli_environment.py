"""The command line in odd environments: bytes that are not UTF-8, a locale that cannot
show every character, a closed stdout, a SIGTERM whose exception got lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trustavatar import _terminate
from trustavatar._atomic import atomic_output

CLI = [sys.executable, "-m", "trustavatar"]


def _run(args: list[str | bytes], *, env: dict | None = None, stdout=subprocess.PIPE):
    full = {**os.environ, "PYTHONUTF8": "0", **(env or {})}
    return subprocess.run([*CLI, *args], stdout=stdout, stderr=subprocess.PIPE,
                          env=full, timeout=120, check=False)


def test_an_argument_that_is_not_utf8_is_refused_before_any_work(tmp_path) -> None:
    """It failed only at the ledger or at signing, after the whole render (exit 70)."""
    home = str(tmp_path / "home")
    r = _run(["--home", home, "keys", "init", "--org", b"Studio \xff"])
    assert r.returncode == 2, r.stderr
    assert b"argument 6 (Studio \\xff) is not UTF-8 text" in r.stderr
    assert not (tmp_path / "home").exists()
    r = _run(["--home", home, "consent", "challenge", "--subject", b"\xfe", "--json"])
    assert r.returncode == 2 and b'"type": "UsageError"' in r.stdout


def test_a_passphrase_is_taken_as_bytes(tmp_path, media) -> None:
    home = str(tmp_path / "home")
    env = {b"STUDIO_PASS": b"\xff\xfe not text"}
    assert _run(["--home", home, "keys", "init", "--org", "S", "--passphrase-env",
                 "STUDIO_PASS"], env=env).returncode == 0
    r = _run(["--home", home, "provenance", "sign", str(media["jpeg"]), "--out",
              str(tmp_path / "signed.jpg"), "--passphrase-env", "STUDIO_PASS"], env=env)
    assert r.returncode == 0, r.stderr
    r = _run(["--home", home, "provenance", "sign", str(media["jpeg"]), "--out",
              str(tmp_path / "again.jpg"), "--passphrase-env", "STUDIO_PASS"],
             env={b"STUDIO_PASS": b"\xff\xfd"})
    assert r.returncode != 0 and b"internal error" not in r.stderr


def test_a_closed_stdout_or_an_ascii_locale_is_no_internal_error(tmp_path) -> None:
    home = str(tmp_path / "home")
    assert _run(["--home", home, "keys", "init", "--org", "Zoë Studio"]).returncode == 0
    read, write = os.pipe()
    os.close(read)  # whatever is written now fails with EPIPE
    try:
        r = _run(["--home", home, "keys", "show", "--json"], stdout=write)
        # the same through rich's console, which would exit 1 ("failed") by itself
        shown = _run(["--home", home, "keys", "show"], stdout=write)
    finally:
        os.close(write)
    assert r.returncode == 141 and b"Traceback" not in r.stderr, r.stderr
    assert shown.returncode == 141 and b"Traceback" not in shown.stderr, shown.stderr
    r = _run(["--home", home, "keys", "show"], env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0, r.stderr
    assert b"Zo\\xeb Studio" in r.stdout


def test_a_lost_sigterm_still_stops_the_output_from_being_moved_in(tmp_path,
                                                                    monkeypatch) -> None:
    """SIGTERM during mediapipe's import became an ImportError, or was swallowed: a run
    went on to write and ledger its output (exit 0). The request is remembered."""
    monkeypatch.setattr(_terminate, "_requested", True)
    target = tmp_path / "out.txt"
    with pytest.raises(_terminate.Terminated), atomic_output(target) as tmp:
        tmp.write_text("done")
    assert list(tmp_path.iterdir()) == []


def test_the_ledger_operator_is_never_undecodable(monkeypatch) -> None:
    from trustavatar.generator.pipeline import _login_name

    monkeypatch.setenv("USER", "ada")
    assert _login_name() == "ada"
    monkeypatch.setenv("USER", "x\udcffy")  # the bytes b"x\xffy" of a non-UTF-8 login
    assert _login_name() == "unknown"


def test_a_bad_home_is_reported_as_json_when_json_is_asked(tmp_path) -> None:
    """A home Click had accepted but trustavatar refused left stdout empty under --json;
    '~nouser/x' was an internal error (exit 70)."""
    import json

    r = _run(["--home", "~nouser-trustavatar/x", "keys", "show", "--json"])
    assert r.returncode == 2 and b"internal error" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["error"]["type"] == "InputError"
    r = _run(["ledger", "verify", "--json"], env={"TRUSTAVATAR_HOME": " "})
    assert r.returncode == 2 and "$TRUSTAVATAR_HOME must be a folder path or a Home" in json.loads(
        r.stdout)["error"]["message"]
    # a file named by $TRUSTAVATAR_HOME said "no signing identity in …/p.jpg" (a review)
    a_file = tmp_path / "p.jpg"
    a_file.write_bytes(b"not a home")
    r = _run(["keys", "show", "--json"], env={"TRUSTAVATAR_HOME": str(a_file)})
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["message"] == (
        f"$TRUSTAVATAR_HOME {str(a_file)!r} is a file, not a folder")


def test_every_command_shows_outside_text_with_escapes() -> None:
    # the consoles every command prints with: a name, transcript or file name from outside
    # cannot turn the line around, hide a character or send the terminal a command
    import io

    from trustavatar._cli._common import CliState
    from trustavatar.home import Home

    st = CliState(home=Home.resolve("/nonexistent-home"))
    st.console.file = io.StringIO()
    st.console.print("subject: Eve\u202eil\u200b \x1b[31m✓ → fine")
    assert st.console.file.getvalue() == "subject: Eve\\u202eil\\u200b \\x1b[31m✓ → fine\n"


def test_joiners_stay_inside_words_of_scripts_that_write_with_them() -> None:
    from trustavatar._display import visible

    assert visible("\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627") == \
        "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627"  # Persian: kept
    assert visible("\u0915\u094d\u200d\u0937") == "\u0915\u094d\u200d\u0937"  # Devanagari
    assert visible("Eil\u200deen") == "Eil\\u200deen"  # hidden in a Latin name: shown
    assert visible("\u200c\u0645") == "\\u200c\u0645"  # not between two letters


def test_joiners_hide_in_latin_greek_and_cyrillic_words() -> None:
    from trustavatar._display import visible

    for text in ("\u1ec5\u200c\u1ea1", "\uff30\uff41\u200d\uff59", "\u0418\u0432\u200d\u0430"):
        assert "\\u200" in visible(text), text


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_after_the_command_finished_keeps_its_exit_code(signame) -> None:
    """A Ctrl-C while Python shut down (0.1-0.2 s after an audit had written its files and
    printed its JSON) exited 130 in silence, or left a traceback: the code is the
    command's. Here the command 'returns 3' and a thread that Python waits for at exit
    sends the signal."""
    script = (
        "import os, signal, threading, time\n"
        "import trustavatar._cli as cli\n"
        "cli.run = lambda argv=None: 3\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        f"    os.kill(os.getpid(), signal.{signame})\n"
        "    time.sleep(1)\n"
        "threading.Thread(target=late).start()\n"
        "cli.main()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 3 and done.stderr == b"", done.stderr
