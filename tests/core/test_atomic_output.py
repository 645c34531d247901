"""Atomic output: what a killed process leaves behind is cleaned up by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trustavatar._atomic import atomic_output, atomic_write_bytes

_HOLD = textwrap.dedent("""
    import sys, time
    from trustavatar._atomic import atomic_output
    with atomic_output(sys.argv[1]) as tmp:
        tmp.write_bytes(b"half")
        tmp.with_name(tmp.name + ".raw.mp4").write_bytes(b"half too")  # as generate() does
        print(tmp, flush=True)
        time.sleep(60)
""")


def _killed_mid_write(target: Path) -> Path:
    """Run a process that is writing ``target``, kill it with SIGKILL, return its temporary."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(target)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    tmp = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tmp.exists()
    return tmp


def _age(*paths: Path, seconds: float) -> None:
    import time

    for p in paths:
        os.utime(p, (time.time() - seconds,) * 2)


def test_the_temporaries_of_a_killed_process_are_removed_by_the_next_write(tmp_path) -> None:
    from trustavatar._atomic import STALE_AFTER

    target = tmp_path / "out.mp4"
    left = _killed_mid_write(target)
    raw = left.with_name(left.name + ".raw.mp4")
    assert left.name.startswith(".out.mp4.") and left.name.endswith(".part")
    # written to within the hour: kept (its owner may be a machine of the same name)
    _age(left, seconds=STALE_AFTER + 60)
    atomic_write_bytes(target, b"first")
    assert left.exists() and raw.exists()
    _age(left, raw, seconds=STALE_AFTER + 60)
    atomic_write_bytes(target, b"done")
    assert target.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_a_live_process_or_another_hosts_temporary_is_kept(tmp_path) -> None:
    target = tmp_path / "out.mp4"
    with atomic_output(target) as mine:  # this process is alive: its temporary stays
        mine.write_bytes(b"x")
        other_host = tmp_path / ".out.mp4.0123abcd-99999999.abcdefgh.part"
        other_host.write_bytes(b"y")  # (no such process here, but the host is not ours)
        not_ours = tmp_path / ".out.mp4.notes.part"
        not_ours.write_bytes(b"z")
        _age(mine, other_host, not_ours, seconds=10 * 3600)
        atomic_write_bytes(target, b"first")
        assert mine.exists() and other_host.exists() and not_ours.exists()
    assert target.read_bytes() == b"x"


def test_a_killed_write_of_another_target_is_not_touched(tmp_path) -> None:
    from trustavatar._atomic import STALE_AFTER

    left = _killed_mid_write(tmp_path / "a.mp4")
    _age(left, left.with_name(left.name + ".raw.mp4"), seconds=STALE_AFTER + 60)
    atomic_write_bytes(tmp_path / "b.mp4", b"b")
    assert left.exists()


@pytest.mark.parametrize("name", ["\N{GRINNING FACE}" * 62 + ".mp4", "x" * 250])
def test_a_long_name_gets_a_temporary_name_the_file_system_takes(tmp_path, name) -> None:
    target = tmp_path / name
    with atomic_output(target) as tmp:
        assert len(os.fsencode(tmp.name + ".raw.mp4")) <= 255
        tmp.write_bytes(b"ok")
    assert target.read_bytes() == b"ok"


def test_results_that_cannot_go_where_asked_go_beside_it(tmp_path) -> None:
    """scan --json: a file that appeared during a batch is kept and the results go to
    NAME-2.json; with a name near the 255-byte limit the numbered name is cut to fit."""
    from trustavatar._atomic import write_beside_if_taken

    for name in ("scan.json", "s" * 250 + ".json"):
        taken = tmp_path / name
        taken.write_text("theirs")
        written = write_beside_if_taken(taken, b"ours")
        assert written != taken and written.read_bytes() == b"ours"
        assert written.name.endswith("-2.json") and len(os.fsencode(written.name)) <= 255
        assert taken.read_text() == "theirs"
        assert write_beside_if_taken(taken, b"again").name.endswith("-3.json")


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_0644(tmp_path) -> None:
    """As ``sed -i`` does: an output written over a file the user made read-only (or
    private) stays so; an output its caller gives a mode (a key: 0o600) gets that mode."""
    old = tmp_path / "signed.mp4"
    old.write_bytes(b"old")
    old.chmod(0o444)
    atomic_write_bytes(old, b"new")
    assert old.read_bytes() == b"new" and (old.stat().st_mode & 0o777) == 0o444
    new = tmp_path / "new.mp4"
    atomic_write_bytes(new, b"x")
    assert new.stat().st_mode & 0o777 == 0o644
    key = tmp_path / "key.pem"
    key.write_bytes(b"k")
    key.chmod(0o644)
    atomic_write_bytes(key, b"k2", mode=0o600)
    assert key.stat().st_mode & 0o777 == 0o600
    link = tmp_path / "link.mp4"  # a link is replaced by a file of the default mode
    link.symlink_to(old)
    atomic_write_bytes(link, b"y")
    assert not link.is_symlink() and link.stat().st_mode & 0o777 == 0o644


def test_a_read_only_file_is_replaced_without_root_powers(tmp_path) -> None:
    """The temporary file is synced before it gets the kept read-only mode: the other way
    round, opening it to sync failed (exit 70) for every user but root."""
    import shutil

    target = tmp_path / "signed.mp4"
    target.write_bytes(b"old")
    target.chmod(0o444)
    code = ("import sys; from trustavatar._atomic import atomic_write_bytes; "
            "atomic_write_bytes(sys.argv[1], b'new')")
    cmd = [sys.executable, "-c", code, str(target)]
    if os.geteuid() == 0:  # root may write a read-only file anyway: drop that power
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv, which can drop root's power to "
                        "write read-only files: the test would pass either way")
        drop = "-dac_override,-dac_read_search,-fowner"
        cmd = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o444
