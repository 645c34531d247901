"""The SQLite registry: migrations, WAL, permissions, and the consent tables."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from trustavatar import consent
from trustavatar._time import format_time
from trustavatar.consent.store import artifact_bytes, get_consent, record_consent
from trustavatar.errors import ConsentNotFoundError, InputError, RegistryError
from trustavatar.registry import MIGRATIONS, Migration, Registry


def test_open_creates_migrates_and_uses_wal(tmp_path) -> None:
    path = tmp_path / "registry.sqlite3"
    with Registry.open(path) as reg:
        assert reg.journal_mode() == "wal"
        assert reg.schema_version() == len(MIGRATIONS) >= 1
        tables = {r[0] for r in reg.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_migrations", "consents", "consent_revocations"} <= tables
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # holds biometric data


def test_migrations_are_idempotent(tmp_path) -> None:
    path = tmp_path / "registry.sqlite3"
    for _ in range(3):
        with Registry.open(path) as reg:
            rows = reg.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r[0], r[1]) for r in rows] == [(m.number, m.name) for m in MIGRATIONS]


def test_later_migration_applies_once_and_failures_roll_back(tmp_path) -> None:
    path = tmp_path / "registry.sqlite3"
    Registry.open(path).close()
    extra = Migration(len(MIGRATIONS) + 1, "challenges",
                      ("CREATE TABLE challenges (id TEXT PRIMARY KEY)",))
    for _ in range(2):
        with Registry.open(path, migrations=(*MIGRATIONS, extra)) as reg:
            assert reg.schema_version() == extra.number
    broken = Migration(extra.number + 1, "broken",
                       ("CREATE TABLE ledger (id TEXT)", "THIS IS NOT SQL"))
    with pytest.raises(RegistryError, match="syntax error"):
        Registry.open(path, migrations=(*MIGRATIONS, extra, broken))
    with Registry.open(path, migrations=(*MIGRATIONS, extra)) as reg:
        assert reg.schema_version() == extra.number
        assert not reg.query("SELECT name FROM sqlite_master WHERE name = 'ledger'")


def test_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "registry.sqlite3"
    extra = Migration(len(MIGRATIONS) + 1, "future", ("CREATE TABLE future (x TEXT)",))
    Registry.open(path, migrations=(*MIGRATIONS, extra)).close()
    with pytest.raises(RegistryError, match="newer than this trustavatar knows"):
        Registry.open(path)


def test_misnumbered_migrations_are_refused(tmp_path) -> None:
    gap = Migration(len(MIGRATIONS) + 2, "gap", ("SELECT 1",))
    with pytest.raises(RegistryError, match="numbered 1, 2, 3"):
        Registry.open(tmp_path / "r.sqlite3", migrations=(*MIGRATIONS, gap))


def test_not_a_database(tmp_path) -> None:
    path = tmp_path / "registry.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RegistryError, match="not a usable SQLite database"):
        Registry.open(path)
    with pytest.raises(RegistryError, match="does not exist"):
        Registry.open(tmp_path / "missing-dir" / "r.sqlite3")


_OPEN_WITH_A_SIZE_LIMIT = """
import resource, signal, sys
from trustavatar.errors import RegistryError
from trustavatar.registry import Registry
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))
try:
    Registry.open(sys.argv[1]).close()
except RegistryError as e:
    print(e)
"""


def test_a_full_disk_is_not_called_a_broken_database(tmp_path) -> None:
    """Opening a registry writes (WAL mode's shared memory file, migrations): a full disk or
    quota failed it as "not a usable SQLite database: disk I/O error", which sends a user
    to restore a database that is fine. A file size limit fails the writes as a full disk
    does."""
    import subprocess
    import sys

    path = tmp_path / "registry.sqlite3"
    Registry.open(path).close()
    said = subprocess.run([sys.executable, "-c", _OPEN_WITH_A_SIZE_LIMIT, str(path)],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert said.startswith(f"cannot use the registry {path}: disk I/O error (a full disk"), said
    assert "not a usable" not in said
    with Registry.open(path) as registry:  # untouched
        assert registry.schema_version() == len(MIGRATIONS)


def test_record_list_revoke(artifact, make_artifact, t0, tmp_path) -> None:
    with Registry.open(tmp_path / "r.sqlite3") as reg:
        assert consent.list_consents(reg) == []
        record = record_consent(reg, artifact, at=t0)
        assert record.consent_id == artifact.consent_id and record.revocation is None
        assert artifact_bytes(reg, artifact.consent_id) == artifact.raw
        with pytest.raises(RegistryError, match="already in the registry"):
            record_consent(reg, artifact)
        second = make_artifact(not_after=t0 + dt.timedelta(days=1))
        record_consent(reg, second)
        statuses = {r.consent_id: r.status(t0 + dt.timedelta(days=2))
                    for r in consent.list_consents(reg)}
        assert statuses == {artifact.consent_id: "valid", second.consent_id: "expired"}

        first = consent.revoke(reg, artifact.consent_id, reason="  withdrawn  ", at=t0)
        assert first.reason == "withdrawn" and first.revoked_at == t0
        again = consent.revoke(reg, artifact.consent_id, reason="other", at=t0 + dt.timedelta(1))
        assert again == first  # revoking twice keeps the first revocation
        record = get_consent(reg, artifact.consent_id)
        assert record is not None and record.status(t0) == "revoked"
        assert record.to_dict(at=t0)["status"] == "revoked"


def test_revoke_unknown_id(tmp_path) -> None:
    with Registry.open(tmp_path / "r.sqlite3") as reg:
        with pytest.raises(ConsentNotFoundError, match="no consent 'nope' in the registry"):
            consent.revoke(reg, "nope", reason="x")
        with pytest.raises(ConsentNotFoundError):
            artifact_bytes(reg, "nope")
        with pytest.raises(InputError, match="needs a reason"):
            consent.revoke(reg, "nope", reason="   ")


def test_concurrent_reader_sees_committed_revocation(artifact, t0, tmp_path) -> None:
    path = tmp_path / "r.sqlite3"
    with Registry.open(path) as writer, Registry.open(path) as reader:
        record_consent(writer, artifact)
        consent.revoke(writer, artifact.consent_id, reason="withdrawn", at=t0)
        record = get_consent(reader, artifact.consent_id)
        assert record is not None and record.revocation is not None


def test_foreign_keys_are_enforced(tmp_path) -> None:
    with Registry.open(tmp_path / "r.sqlite3") as reg:
        with pytest.raises(RegistryError, match="FOREIGN KEY constraint failed"), \
                reg.transaction() as conn:
            conn.execute("INSERT INTO consent_revocations VALUES ('x', 'y', 'z')")
        assert reg.query("SELECT COUNT(*) FROM consent_revocations")[0][0] == 0


@pytest.mark.parametrize(("edit", "says"), [
    ("UPDATE consents SET purposes = '{\"a\": 1}'", "columns differ from its stored artifact"),
    ("UPDATE consents SET not_after = '2999-01-01T00:00:00Z'",
     "columns differ from its stored artifact"),
    ("UPDATE consents SET artifact = x'00'", "artifact does not match its SHA-256"),
])
def test_a_row_edited_in_the_database_is_damaged_not_listed_as_valid(
        artifact, t0, tmp_path, edit: str, says: str) -> None:
    with Registry.open(tmp_path / "r.sqlite3") as reg:
        record_consent(reg, artifact, at=t0)
        with reg.transaction() as conn:
            conn.execute(edit)
        with pytest.raises(RegistryError, match=f"consent {artifact.consent_id} is damaged: "
                                                f"its .*{says}"):
            consent.list_consents(reg)
        with pytest.raises(RegistryError, match="is damaged"):
            get_consent(reg, artifact.consent_id)


def test_of_revocations_made_at_once_exactly_one_says_it_revoked(artifact, tmp_path) -> None:
    """``consent revoke`` run several times at once: one reports "revoked", the others
    "already revoked" (the check and the insert are one write transaction)."""
    import threading

    path = tmp_path / "r.sqlite3"
    with Registry.open(path) as reg:
        record_consent(reg, artifact)
    start = threading.Barrier(6)
    made: list[bool] = []

    def revoke_one(i: int) -> None:
        with Registry.open(path) as reg:
            start.wait()
            revocation, new = consent.revoke_once(reg, artifact.consent_id, reason=f"run {i}")
            assert revocation.consent_id == artifact.consent_id
            made.append(new)

    threads = [threading.Thread(target=revoke_one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == [False] * 5 + [True]
    with Registry.open(path) as reg:
        assert consent.revoke_once(reg, artifact.consent_id, reason="again")[1] is False


def test_the_registry_status_ends_with_the_signing_certificate(tmp_path, monkeypatch) -> None:
    """An artifact issued before validity was capped at the signing chain's end says a
    later not_after; verify() refuses it after the chain's end, and the registry's status
    (consent list, the audit, provenance verify) must say expired then too."""
    from trustavatar import _envelope
    from trustavatar.errors import ConsentExpiredError
    from trustavatar.face import sample_portrait_path
    from trustavatar.home import Home
    from trustavatar.keys import Keystore

    home = Home.resolve(tmp_path / "h")
    ks = Keystore.create(home, organisation="Org", leaf_days=2)
    monkeypatch.setattr(_envelope, "_within_signer_validity", lambda p, c: p)  # no cap
    release = tmp_path / "r.txt"
    release.write_text("release")
    with Registry.for_home(home) as reg:
        artifact = consent.issue(ks.signing_key(), portrait=sample_portrait_path(),
                                 display_name="S", registry=reg,
                                 evidence=consent.Evidence.operator_attestation(release))
    monkeypatch.undo()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    with Registry.for_home(home) as reg:
        record = get_consent(reg, artifact.consent_id)
        assert record.not_after > later  # what the artifact says
        assert record.ends_at < later and record.status(later) == "expired"
        assert record.to_dict(at=later)["valid_until"] == format_time(record.ends_at)
        with pytest.raises(ConsentExpiredError):
            consent.verify(artifact.raw, registry=reg, trust=ks.trust_store(), at=later)
