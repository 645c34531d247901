"""Opening the registry for writing: a new one is made in one step, and an existing file
without trustavatar's schema (emptied, another program's) is refused as reading refuses it,
never given a fresh schema that would report its lost history as intact."""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.clitools import invoke

from trustavatar.errors import RegistryDamagedError, RegistryError
from trustavatar.home import Home
from trustavatar.registry import MIGRATIONS, Migration, Registry


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_an_emptied_registry_is_refused_for_writing_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(RegistryDamagedError, match=r"registry .* is empty \(0 bytes\): .*"
                                                   "restore it from a backup"):
        Registry.open(path)
    assert path.read_bytes() == b""
    assert _names(tmp_path) == {"registry.sqlite3"}


@pytest.mark.parametrize("schema", [
    ("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)",
     "INSERT INTO photos (name) VALUES ('holiday')"),
    # another program's migrations table of the same name (golang-migrate's)
    ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, dirty BOOLEAN)",
     "INSERT INTO schema_migrations VALUES (20240101, 0)"),
])
def test_another_programs_database_is_refused_for_writing_and_untouched(
        tmp_path: Path, schema: tuple[str, ...]) -> None:
    path = tmp_path / "registry.sqlite3"
    with sqlite3.connect(path) as conn:
        for statement in schema:
            conn.execute(statement)
    conn.close()
    before = path.read_bytes()
    with pytest.raises(RegistryDamagedError, match="has no trustavatar tables"):
        Registry.open(path)
    with pytest.raises(RegistryDamagedError, match="has no trustavatar tables"):
        Registry.open(path, read_only=True)
    assert path.read_bytes() == before
    assert _names(tmp_path) == {"registry.sqlite3"}


def test_a_new_home_gets_a_registry_and_nothing_else(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home")
    with Registry.for_home(home) as reg:
        assert reg.schema_version() == len(MIGRATIONS)
        assert reg.journal_mode() == "wal"
    assert stat.S_IMODE(home.registry_path.stat().st_mode) == 0o600
    assert {n for n in _names(home.root) if "registry" in n} == {"registry.sqlite3"}


def test_a_failed_creation_leaves_no_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    broken = Migration(len(MIGRATIONS) + 1, "broken", ("THIS IS NOT SQL",))
    with pytest.raises(RegistryError, match=f"registry {path}: .*syntax error"):
        Registry.open(path, migrations=(*MIGRATIONS, broken))
    assert _names(tmp_path) == set()  # no half-made registry, no temporary file
    with Registry.open(path) as reg:  # the next writer starts a new one
        assert reg.schema_version() == len(MIGRATIONS)


# A migration that runs until the process is killed: a crash while the schema is written.
_KILLED_WHILE_CREATING = """
import sys
from trustavatar.registry import MIGRATIONS, Migration, Registry
slow = Migration(len(MIGRATIONS) + 1, "slow", (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT COUNT(*) FROM c",))
Registry.open(sys.argv[1], migrations=(*MIGRATIONS, slow))
"""


def test_a_creation_killed_halfway_leaves_no_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WHILE_CREATING, str(path)])
    try:
        deadline = time.monotonic() + 60
        while not any(n.endswith("-wal") for n in _names(tmp_path)):  # migrating
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not path.exists()
    with Registry.open(path) as reg:
        assert reg.schema_version() == len(MIGRATIONS)


def test_writers_that_create_a_registry_at_once_all_use_one(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    start = threading.Barrier(6)
    failed: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            with Registry.open(path) as reg:
                assert reg.schema_version() == len(MIGRATIONS)
        except BaseException as e:
            failed.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == []
    assert _names(tmp_path) == {"registry.sqlite3"}


def test_a_write_ahead_log_left_without_its_registry_is_not_replayed_into_a_new_one(
        tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    wal = tmp_path / "registry.sqlite3-wal"
    with Registry.open(path) as reg:
        with reg.transaction() as conn:
            conn.execute("PRAGMA user_version = 7")
        log = wal.read_bytes()  # committed, not yet checkpointed
    assert log
    path.unlink()  # the registry deleted, its log left behind
    wal.write_bytes(log)
    with pytest.raises(RegistryDamagedError, match=r"registry\.sqlite3 is missing but "
                                                   r"registry\.sqlite3-wal beside it"):
        Registry.open(path)
    assert not path.exists() and wal.read_bytes() == log


@pytest.fixture
def home_args(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    args = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *args, "keys", "init", "--org", "Registry Org").code == 0
    return args


def test_writing_commands_refuse_an_emptied_registry(
        home_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reviewer's case: 'consent challenge' gave an emptied registry a new schema, and
    'ledger verify' then called the lost ledger intact."""
    r = invoke(capsys, *home_args, "consent", "challenge", "--subject", "Ada")
    assert r.code == 0, r.err  # a new home's first write creates the registry
    registry = tmp_path / "home" / "registry.sqlite3"
    for side in ("-wal", "-shm"):
        Path(f"{registry}{side}").unlink(missing_ok=True)
    registry.write_bytes(b"")
    r = invoke(capsys, *home_args, "consent", "challenge", "--subject", "Ada")
    lines = r.err.strip().splitlines()
    assert r.code == 1 and len(lines) == 1, r.err
    assert lines[0].startswith("trustavatar: error: ") and "is empty (0 bytes)" in lines[0]
    assert registry.read_bytes() == b""
    r = invoke(capsys, *home_args, "ledger", "verify")
    assert r.code == 3 and "is empty (0 bytes)" in r.err
