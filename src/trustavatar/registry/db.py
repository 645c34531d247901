"""The registry: one SQLite database per trustavatar home (``home.registry_path``).

Opened in WAL mode with foreign keys on, migrated to the newest schema on open. The file
holds consent artifacts (which contain face embeddings, i.e. biometric data) and is
created with mode 0600, schema and all in one step. A file there without the schema is
refused, by writing commands as by reading ones: it is a lost registry, not a new one.
"""

from __future__ import annotations

__all__ = ["Registry"]

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from trustavatar._atomic import atomic_output, taken
from trustavatar._time import format_time, utc_now
from trustavatar.errors import InputError, RegistryDamagedError, RegistryError
from trustavatar.home import Home
from trustavatar.registry.migrations import MIGRATIONS, Migration

_BUSY_TIMEOUT_MS = 10_000
#: SQLite's words for a file whose content is damaged or not a database at all
_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _error_name(e: sqlite3.Error) -> str:
    """SQLite's name of the error (``SQLITE_IOERR_SHMSIZE``, …), ``""`` where not given."""
    return getattr(e, "sqlite_errorname", "") or ""


def _unusable(path: Path, e: sqlite3.Error) -> RegistryError:
    """The error for a registry SQLite could not open or set up: the file's fault, or the
    disk's (a full disk once read as "not a usable SQLite database: disk I/O error")."""
    name = _error_name(e)
    if name.startswith(_DAMAGED):
        return RegistryDamagedError(f"{path} is not a usable SQLite database: {e}")
    if name.startswith(("SQLITE_IOERR", "SQLITE_FULL")):
        return RegistryError(f"cannot use the registry {path}: {e} (a full disk, a quota or "
                             "a failing file system)")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_BUSY",
                        "SQLITE_LOCKED")):
        return RegistryError(f"cannot use the registry {path}: {e}")
    return RegistryError(f"{path} is not a usable SQLite database: {e}")


class Registry:
    """An open registry connection. Use :meth:`open` or :meth:`for_home`; close it (or use
    ``with``) when done. Not shared between threads."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._conn = connection
        self.path = path

    # Construction -------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, migrations: Sequence[Migration] = MIGRATIONS,
        read_only: bool = False,
    ) -> Registry:
        """Open the database at ``path`` and apply pending migrations. Where there is no
        file at ``path`` a new registry is created, in one step (see :meth:`_create`); an
        existing file without trustavatar's schema (emptied to 0 bytes, or another
        program's database) is refused with
        :class:`~trustavatar.errors.RegistryDamagedError`, never given a fresh schema.

        ``read_only``: for commands that only read. The database must exist and is not
        changed in any way: no schema is created, no migration applied, the journal mode
        is left as it is (SQLite's ``mode=ro``), so it must already be at the newest schema
        (an older one is refused: open it once for writing). SQLite may still create the
        ``-wal`` and ``-shm`` files beside a WAL database, as any reader does, and reads
        what the ``-wal`` holds. When the file or its folder cannot be written (an archived
        copy, a read-only mount) the database is opened immutable, which WAL mode otherwise
        forbids.
        """
        if not isinstance(path, str | os.PathLike):
            raise RegistryError(f"the registry is a file path, got {type(path).__name__}")
        path = Path(path)
        if not path.parent.is_dir():
            raise RegistryError(f"registry directory {path.parent} does not exist")
        if read_only and not path.exists():  # reading never creates one
            raise RegistryError(f"no registry at {path}")
        if path.exists() and not path.is_file():  # (SQLite says "disk I/O error")
            raise RegistryError(f"the registry {path} is not a file (a folder?): move it "
                                "away")
        if read_only and path.is_file() and not (
                os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)):
            return cls._open_immutable(path, migrations)
        if read_only:
            return cls._open_read_only(path, migrations)
        if not path.exists():
            cls._create(path, migrations)
        try:  # mode=rw: never creates a file; only _create makes a registry
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True,
                                   isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as e:
            raise RegistryError(f"cannot open the registry {path}: {e}") from e
        conn.row_factory = sqlite3.Row
        registry = cls(conn, path)
        try:
            # An existing file without the schema was emptied or is not trustavatar's:
            # writing a fresh schema into it would report its lost history as intact.
            registry._refuse_without_schema()
            registry._configure()
            registry._migrate(migrations)
        except BaseException:
            conn.close()
            raise
        return registry

    @classmethod
    def _create(cls, path: Path, migrations: Sequence[Migration]) -> None:
        """Make a new registry at ``path`` in one step: the schema is written into a
        temporary file beside it, moved into place only if nothing is there by then
        (:func:`~trustavatar._atomic.atomic_output`). A crash leaves no registry, never an
        empty or half-made one, so a file at ``path`` without the schema is a lost
        registry. When another process creates it first, that one is used."""
        for side in ("-wal", "-journal"):  # SQLite would replay it into the new file
            stale = path.with_name(path.name + side)
            if stale.is_file() and stale.stat().st_size > 0:
                raise RegistryDamagedError(
                    f"the registry {path} is missing but {stale.name} beside it holds part "
                    f"of one (restore the registry from a backup, or move {stale.name} "
                    "away to start a new one)")
        try:
            with atomic_output(path, mode=0o600, replace=False) as tmp:
                cls._write_schema(tmp, path, migrations)
        except InputError as e:
            if not taken(path):  # else another process created it first
                raise RegistryError(f"cannot create the registry {path}: {e}") from e

    @classmethod
    def _write_schema(cls, tmp: Path, path: Path, migrations: Sequence[Migration]) -> None:
        """The newest schema into the new file ``tmp``, all of it in ``tmp`` itself (no
        ``-wal`` beside it); messages name the registry ``path`` it will become."""
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
        except sqlite3.Error as e:
            raise RegistryError(f"cannot create the registry {path}: {e}") from e
        try:
            new = cls(conn, path)
            new._configure()
            new._migrate(migrations)
            if new.query("PRAGMA wal_checkpoint(TRUNCATE)")[0][0]:
                raise RegistryError(f"cannot create the registry {path}: its schema could "
                                    "not be written into the file")
        finally:
            conn.close()
            for side in ("-wal", "-shm", "-journal"):
                Path(f"{tmp}{side}").unlink(missing_ok=True)

    def _refuse_without_schema(self) -> None:
        """Never create the schema in an existing file: a registry file that has none was
        emptied or is not trustavatar's (another program's ``schema_migrations`` lacks
        our columns), and using it as an empty ledger would report a lost history as
        intact."""
        try:
            columns = {row[0] for row in self._conn.execute(
                "SELECT name FROM pragma_table_info('schema_migrations')")}
        except sqlite3.Error as e:
            raise _unusable(self.path, e) from e
        if not {"version", "name", "applied_at"} <= columns:
            size = self.path.stat().st_size
            what = "is empty (0 bytes)" if size == 0 else "has no trustavatar tables"
            raise RegistryDamagedError(
                f"the registry {self.path} {what}: its ledger and consents are not there "
                "(restore it from a backup, or move it away to start a new one)")

    @classmethod
    def _open_read_only(cls, path: Path, migrations: Sequence[Migration]) -> Registry:
        """Open ``path`` for reading only (``mode=ro``): nothing in it is changed."""
        try:
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                                   isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as e:
            raise _unusable(path, e) from e
        conn.row_factory = sqlite3.Row
        registry = cls(conn, path)
        try:
            registry._refuse_without_schema()
            registry._require_schema(migrations, "a reading command does not upgrade it; "
                                     "the next command that writes to it (consent issue, "
                                     "challenge, revoke, generate) will")
        except BaseException:
            conn.close()
            raise
        return registry

    def _require_schema(self, migrations: Sequence[Migration], how: str) -> None:
        """Refuse a registry opened without migrating that is not at the newest schema."""
        try:
            version = self.schema_version()
        except RegistryDamagedError:
            raise
        except RegistryError as e:
            if getattr(e.__cause__, "sqlite_errorname", None) != "SQLITE_ERROR":
                raise  # busy, locked, I/O: not the file's content
            raise RegistryDamagedError(f"{self.path} is not a usable trustavatar registry: "
                                       f"{e.__cause__}") from e
        if version > len(migrations):
            raise RegistryError(
                f"the registry {self.path} has schema version {version}, newer than this "
                f"trustavatar knows ({len(migrations)}): upgrade trustavatar")
        if version != len(migrations):
            raise RegistryError(
                f"the registry {self.path} has schema version {version}, this trustavatar "
                f"reads version {len(migrations)}: {how}")

    @classmethod
    def _open_immutable(cls, path: Path, migrations: Sequence[Migration]) -> Registry:
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:  # immutable readers ignore the WAL
            raise RegistryError(
                f"the registry {path} has changes in {wal.name} that only a process allowed to "
                "write its folder can read: copy the folder somewhere writable")
        try:
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True,
                                   isolation_level=None)
        except sqlite3.Error as e:
            raise RegistryError(f"cannot open the registry {path}: {e}") from e
        conn.row_factory = sqlite3.Row
        registry = cls(conn, path)
        try:
            registry._refuse_without_schema()
            registry._require_schema(migrations, "it cannot be written here: open it once "
                                     "where it can be written")
        except BaseException:
            conn.close()
            raise
        return registry

    @classmethod
    def for_home(cls, home: Home | str | os.PathLike[str]) -> Registry:
        """The registry of ``home`` (a Home or its folder; created if missing)."""
        home = Home.resolve(home)
        home.ensure()
        return cls.open(home.registry_path)

    def _configure(self) -> None:
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        except sqlite3.Error as e:
            raise _unusable(self.path, e) from e
        if str(mode).lower() != "wal":
            raise RegistryError(f"cannot switch {self.path} to WAL mode (got {mode!r})")

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        numbers = [m.number for m in migrations]
        if numbers != list(range(1, len(numbers) + 1)):
            raise RegistryError(f"migrations must be numbered 1, 2, 3, … in order; got {numbers}")
        try:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        except sqlite3.Error as e:
            raise RegistryError(f"cannot migrate the registry {self.path}: {e}") from e
        newest = self.schema_version()
        if newest > len(migrations):
            raise RegistryError(
                f"the registry {self.path} has schema version {newest}, newer than this "
                f"trustavatar knows ({len(migrations)}): upgrade trustavatar"
            )
        for migration in migrations[newest:]:
            with self.transaction() as conn:
                # Another process may have applied it since we looked.
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.number,)
                ).fetchone()
                if done:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.number, migration.name,
                     format_time(utc_now())),
                )

    # Use ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back.

        ``sqlite3.Error`` inside becomes :class:`~trustavatar.errors.RegistryError`.
        """
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise RegistryError(f"cannot write to the registry {self.path}: {e}") from e
        try:
            yield conn
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise RegistryError(f"registry {self.path}: {e}") from e
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise RegistryError(f"cannot commit to the registry {self.path}: {e}") from e

    def check_writable(self) -> None:
        """Raise :class:`~trustavatar.errors.RegistryError` now if a write would fail (a
        read-only file, folder or mount), for work whose result is recorded only at its
        end: a generation rendered in full was discarded at its ledger row. Writes the
        header's ``user_version`` unchanged, and rolls back."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")
        except sqlite3.Error as e:
            raise RegistryError(f"cannot write to the registry {self.path}: {e}") from e
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only statement and return all rows."""
        try:
            return self._conn.execute(sql, tuple(parameters)).fetchall()
        except sqlite3.Error as e:
            kind = (RegistryDamagedError if _error_name(e).startswith(_DAMAGED)
                    else RegistryError)
            raise kind(f"cannot read the registry {self.path}: {e}") from e

    def schema_version(self) -> int:
        """The highest applied migration number (0 for an empty registry)."""
        row = self.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0][0])

    def journal_mode(self) -> str:
        return str(self.query("PRAGMA journal_mode")[0][0]).lower()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"
