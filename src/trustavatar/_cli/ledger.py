"""``trustavatar ledger``: verify, list and show the generation ledger; sign head checkpoints."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from trustavatar._atomic import atomic_output
from trustavatar._cli._common import (
    CliState,
    emit,
    error_object,
    json_option,
    passphrase_option,
    refuse_overwrite,
    state,
    time_option,
)
from trustavatar._files import read_input
from trustavatar.errors import (
    CheckpointSignatureError,
    ExitCode,
    InputError,
    KeystoreError,
    LedgerBrokenError,
    RegistryDamagedError,
)
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore
from trustavatar.keys.keystore import own_certificates
from trustavatar.registry import (
    LedgerCheckpoint,
    LedgerReport,
    LedgerRow,
    Registry,
    export_head,
    get_generation,
    load_checkpoint,
    verify_ledger,
)
from trustavatar.registry.ledger import read_generations

_MAX_CHECKPOINT_BYTES = 64 << 10


@click.group("ledger")
def command() -> None:
    """The generation ledger: one hash-chained row per generated photo or video."""


def _existing_registry(st: CliState) -> Registry:
    """The home's registry; reading commands do not create one."""
    path = st.home.registry_path
    if not path.is_file():
        raise InputError(f"no registry at {path} (nothing generated in this home; wrong --home?)")
    return Registry.open(path, read_only=True)


def _short(row: LedgerRow) -> str:
    e = row.entry
    return (f"{row.seq:>5}  {row.to_dict()['created_at']}  {e.mode:<5}  {e.operator}  "
            f"consent {e.consent_id}  → {e.output_path}  sha256 {e.output_sha256[:16]}…")


@command.command("verify")
@click.option("--head", "head", default=None, metavar="HASH",
              help="A head hash kept earlier: shows rows removed from the end.")
@click.option("--checkpoint", "checkpoint", default=None, type=click.Path(dir_okay=False),
              help="A signed head checkpoint ('ledger checkpoint'): shows rows removed from "
                   "the end.")
@json_option
def verify_(head: str | None, checkpoint: str | None) -> int:
    """Check the hash chain.

    \b
    Exit codes:
       0  the chain is intact
       3  the chain is broken: rows were edited, deleted, moved or inserted, or removed
          from the end (seen against --head or --checkpoint); the ledger table or the
          registry file is gone or damaged (emptied, cut short, overwritten); or the
          --checkpoint does not verify or is not this home's (signed under another root)
       2  bad input: no registry in this home, an unreadable or malformed --checkpoint or
          --head
       1  the registry cannot be opened (permissions, a full disk, an older schema)
    """
    st = state()
    data = None
    if checkpoint is not None:
        data = read_input(checkpoint, max_bytes=_MAX_CHECKPOINT_BYTES, what="checkpoint")
    trust = TrustStore.from_home(st.home) if data is not None else None
    cp = None
    if data is not None and trust is not None:
        cp = load_checkpoint(data, trust=trust)
        _require_own_checkpoint(st.home, cp)
    try:
        with _existing_registry(st) as registry:
            report = verify_ledger(registry, expected_head=head, checkpoint=cp, trust=trust)
    except RegistryDamagedError as e:  # every row gone at once: the chain is broken
        raise LedgerBrokenError(f"ledger BROKEN: {e.message}") from e
    emit(report.to_dict(), lambda con: _show_report(con, report))
    return ExitCode.OK if report.ok else ExitCode.REJECTED


def _require_own_checkpoint(home: Home, cp: LedgerCheckpoint) -> None:
    """Refuse a checkpoint (already verified against the trust store) that this home did
    not sign: its signer must chain to one of the home's own roots, current or retired, or
    be one of its own signing certificates (an identity imported from a CA), by
    fingerprint. The organisation's name alone does not tell: another home may carry the
    same name, and its root may be trusted here. A home with no identity of its own (an
    auditor's copy) has nothing to compare with: the trust store decides."""
    roots, signers = own_certificates(home)
    if not roots and not signers:
        return
    if cp.anchor_sha256 in roots or cp.envelope.signer_sha256 in signers:
        return
    mine = (Keystore.open(home).identity.organisation if Keystore.exists(home) else None)
    named = (f"this home's organisation is {mine!r}" if mine != cp.issuer_organisation
             else "this home's organisation has the same name")
    raise CheckpointSignatureError(
        f"the checkpoint was signed by {cp.issuer_organisation!r} under the root "
        f"{(cp.anchor_sha256 or '?')[:16]}…, which is not this home's (nor one it retired), "
        f"and {named}: it is another ledger's checkpoint")


def _show_report(con: Console, report: LedgerReport) -> None:
    def line(text: str) -> None:
        con.print(text)

    if report.ok:
        line(f"ledger intact: {report.rows} row(s), head row {report.head_seq} "
             f"hash {report.head_hash}")
    else:
        line(f"ledger BROKEN: {len(report.problems)} problem(s) in {report.rows} row(s)")
        for p in report.problems:
            line(f"  ✗ {p.detail}")
    if report.expected_head is not None:
        line(f"  checked against the head hash kept: {report.expected_head[:16]}…")
    if report.checkpoint is not None:
        cp = report.checkpoint
        line(f"  checked against the checkpoint of row {cp.seq} signed by "
             f"{cp.issuer_organisation} at {cp.to_dict()['signed_at']}")
    if not report.tail_checked:
        line("  - rows removed from the end cannot be seen from the chain alone: "
             "give --head HASH or --checkpoint FILE")


@command.command("list")
@click.option("--since", default=None, metavar="DATE",
              help="Only rows created at or after this ISO 8601 date or time (a date is UTC).")
@json_option
def list_(since: str | None) -> int:
    """List the ledger's rows, oldest first."""
    st = state()
    when = time_option(since, "--since", date_ok=True)
    rows: list[LedgerRow] = []
    damaged: list[str] = []
    if st.home.registry_path.exists():
        with Registry.open(st.home.registry_path, read_only=True) as registry:
            rows, damaged = read_generations(registry, since=when)

    def human(con: Console) -> None:
        if not rows and not damaged:
            con.print("no generations recorded" + (f" since {since}" if since else ""))
        for row in rows:
            con.print(_short(row))

    # the rows that read are listed; a damaged one fails the command as a broken chain does
    message = (f"{len(damaged)} ledger row(s) damaged, not listed: "
               f"{', '.join(damaged[:20])}{' …' if len(damaged) > 20 else ''} (run "
               "'trustavatar ledger verify')")
    result: dict[str, Any] = {"ok": not damaged, "rows": [r.to_dict() for r in rows],
                              "damaged_rows": damaged}
    if damaged:  # the error object every failure has
        result["error"] = error_object("LedgerBrokenError", message, ExitCode.REJECTED)
    emit(result, human)
    if damaged:
        click.echo(f"trustavatar: error: {message}", err=True)
        return ExitCode.REJECTED
    return ExitCode.OK


@command.command("show")
@click.argument("seq", type=click.IntRange(min=1, max=2 ** 63 - 1))  # SQLite INTEGER
@json_option
def show(seq: int) -> int:
    """Show row SEQ in full (as stored: run 'ledger verify' to check it)."""
    st = state()
    with _existing_registry(st) as registry:
        row = get_generation(registry, seq)
    if row is None:
        raise InputError(f"no row {seq} in the ledger")
    data = row.to_dict()

    def human(con: Console) -> None:
        for key, value in data.items():
            if isinstance(value, dict):
                con.print(f"{key}:")
                for k, v in value.items():
                    con.print(f"  {k}: {v if isinstance(v, str) else json.dumps(v)}")
            else:
                con.print(f"{key}: {value if value is not None else '-'}")

    emit({"ok": True, "row": data}, human)
    return ExitCode.OK


@command.command("checkpoint")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the signed checkpoint (JSON). Keep it off this machine.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@passphrase_option
@json_option
def checkpoint_(out: str, force: bool, passphrase: bytes | None) -> int:
    """Sign the ledger's head (row count and last hash) for later 'ledger verify --checkpoint'."""
    st = state()
    refuse_overwrite(out, force)
    key = Keystore.open(st.home).signing_key(passphrase)
    with _existing_registry(st) as registry:
        data = export_head(registry, key)
    # read back as 'ledger verify --checkpoint' will: under this home's trust store (a CA's
    # root accepted for the organisation); a checkpoint it would refuse is not written
    try:
        cp = load_checkpoint(data, trust=TrustStore.from_home(st.home))
    except CheckpointSignatureError as e:  # the setup's fault, not a forgery: exit 1
        raise KeystoreError(
            f"{e.message}; not written: this home could not verify it later (trust the root "
            "that issued the signing certificate: 'trustavatar keys trust add ROOT.pem "
            "--organisation ORG')") from e
    with atomic_output(out, replace=force) as tmp:
        tmp.write_bytes(data)
    emit({"ok": True, "out": str(out), "checkpoint": cp.to_dict()},
         lambda con: con.print(f"signed the ledger head (row {cp.seq}, hash {cp.head_hash}) "
                               f"as {cp.issuer_organisation} → {out}"))
    return ExitCode.OK
