"""Ledger test helpers: entries, an independent row hash, and what an attacker with file
access would do."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rfc8785

from trustavatar.registry import LedgerEntry

T0 = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
TRIGGERS = ("generation_ledger_append_only", "generation_ledger_no_update",
            "generation_ledger_no_delete")


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_entry(n: int = 1, **kw: Any) -> LedgerEntry:
    args: dict[str, Any] = {
        "operator": "ops@example.org",
        "consent_id": "c-0001",
        "consent_artifact_sha256": h("consent"),
        "mode": "video",
        "inputs": {"face": h(f"face {n}"), "audio": h(f"audio {n}"), "script": h(f"script {n}")},
        "output_path": f"/srv/out/clip-{n}.mp4",
        "output_sha256": h(f"output {n}"),
        "manifest_label": f"urn:c2pa:0000000{n}-test",
        "watermark_payload": f"{n:016x}",
        "qa": {"identity_distance": 0.31, "sync_offset_ms": 20 * n, "passed": True},
    }
    args.update(kw)
    return LedgerEntry(**args)


def hash_row(columns: dict[str, Any]) -> str:
    """The row hash computed independently of trustavatar: SHA-256 of JCS(all but row_hash)."""
    doc = {k: v for k, v in columns.items() if k != "row_hash"}
    return hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


class Attacker:
    """Raw SQL on the registry file, triggers dropped first (anyone with write access can)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            for t in TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {t}")
            return conn.execute(sql, tuple(params)).fetchall()
        finally:
            conn.close()

    def row(self, seq: int) -> dict[str, Any]:
        return dict(self.run("SELECT * FROM generation_ledger WHERE seq = ?", (seq,))[0])

    def insert(self, columns: dict[str, Any]) -> None:
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        self.run(f"INSERT INTO generation_ledger ({names}) VALUES ({marks})",
                 list(columns.values()))

    def move(self, seq: int, to: int) -> None:
        self.run("UPDATE generation_ledger SET seq = ? WHERE seq = ?", (to, seq))
