"""Property tests: any single tampering with a written ledger is seen, and verification
never raises on a broken chain, whatever was done to the rows."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledger.ledgertools import T0, Attacker, h, hash_row, make_entry

from trustavatar.registry import Registry, append_generation, verify_ledger

N = 6
COLUMNS = ("created_at", "operator", "consent_id", "consent_artifact_sha256", "mode", "inputs",
           "output_path", "output_sha256", "manifest_label", "watermark_payload", "qa",
           "prev_hash", "row_hash")

seqs = st.integers(1, N)
edit = st.tuples(st.just("edit"), seqs, st.sampled_from(COLUMNS), st.booleans())
delete = st.tuples(st.just("delete"), st.integers(1, N - 1), st.integers(1, 3), st.booleans())
swap = st.tuples(st.just("swap"), seqs, seqs).filter(lambda t: t[1] != t[2])
insert = st.tuples(st.just("insert"), st.integers(0, N - 1), st.booleans())
one_tampering = st.one_of(edit, delete, swap, insert)


def _ledger(tmp: str) -> tuple[Registry, Attacker, str]:
    reg = Registry.open(Path(tmp) / "r.sqlite3")
    rows = [append_generation(reg, make_entry(i), at=T0 + dt.timedelta(minutes=i))
            for i in range(1, N + 1)]
    return reg, Attacker(reg.path), rows[-1].row_hash


def _apply(a: Attacker, op: tuple) -> None:
    kind = op[0]
    if kind == "edit":
        _, seq, column, rehash = op
        row = a.row(seq)
        row[column] = {"created_at": "2024-01-01T00:00:00Z",
                       "mode": "photo" if row["mode"] == "video" else "video",
                       }.get(column, h(f"x {row[column]}"))
        if rehash and column != "row_hash":
            row["row_hash"] = hash_row(row)
        sets = ", ".join(f"{c} = ?" for c in row if c != "seq")
        a.run(f"UPDATE generation_ledger SET {sets} WHERE seq = ?",
              [v for c, v in row.items() if c != "seq"] + [seq])
    elif kind == "delete":  # rows [first, first + count) but never the tail alone
        _, first, count, renumber = op
        last = min(first + count, N)  # exclusive; at least one row is left after the gap
        a.run("DELETE FROM generation_ledger WHERE seq >= ? AND seq < ?", (first, last))
        if renumber:
            for s in range(last, N + 1):
                a.move(s, first + s - last)
    elif kind == "swap":
        _, x, y = op
        a.move(x, 1000)
        a.move(y, x)
        a.move(1000, y)
    elif kind == "insert":  # a forged row after row ``after`` (0: first), never last
        _, after, rehash = op
        for s in range(N, after, -1):
            a.move(s, s + 1)
        forged = a.row(after + 2)
        forged.update(seq=after + 1, output_sha256=h("forged"),
                      prev_hash=a.row(after)["row_hash"] if after else forged["prev_hash"])
        forged["row_hash"] = hash_row(forged) if rehash else h("junk")
        a.insert(forged)


@settings(max_examples=120, deadline=None)
@given(op=one_tampering)
def test_any_single_tampering_is_detected(op) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        reg, attacker, head = _ledger(tmp)
        with reg:
            _apply(attacker, op)
            report = verify_ledger(reg)
            if report.ok:
                # Only the last row rewritten with its hash recomputed: nothing after it
                # records the old hash, so only a kept head shows it (documented).
                assert op[:2] == ("edit", N) and op[3] and op[2] not in ("prev_hash",
                                                                         "row_hash"), op
                report = verify_ledger(reg, expected_head=head)
            assert not report.ok, op
            assert report.problems and all(p.detail for p in report.problems)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.one_of(one_tampering, st.just(("drop-tail",))), min_size=1, max_size=4))
def test_with_a_kept_head_only_the_original_ledger_verifies(ops) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        reg, attacker, head = _ledger(tmp)
        with reg:
            original = _table(attacker)
            for op in ops:
                if op[0] == "drop-tail":
                    attacker.run("DELETE FROM generation_ledger WHERE seq = "
                                 "(SELECT MAX(seq) FROM generation_ledger)")
                else:
                    try:
                        _apply(attacker, op)
                    except (IndexError, sqlite3.Error):  # an op that no longer fits
                        continue
            report = verify_ledger(reg, expected_head=head)  # never raises
            assert report.ok == (_table(attacker) == original), (ops, report.problems)


def _table(a: Attacker) -> list[dict]:
    return [dict(r) for r in a.run("SELECT * FROM generation_ledger ORDER BY seq")]
