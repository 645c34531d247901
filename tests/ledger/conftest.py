"""Ledger fixtures: a registry, a way to fill it, and an attacker with file access."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.ledger.ledgertools import T0, Attacker, make_entry

from trustavatar.registry import LedgerRow, Registry, append_generation


@pytest.fixture
def registry(tmp_path: Path):
    with Registry.open(tmp_path / "registry.sqlite3") as reg:
        yield reg


@pytest.fixture
def fill(registry: Registry) -> Callable[[int], list[LedgerRow]]:
    def fill(n: int) -> list[LedgerRow]:
        return [append_generation(registry, make_entry(i), at=T0 + dt.timedelta(minutes=i))
                for i in range(1, n + 1)]

    return fill


@pytest.fixture
def attacker(registry: Registry) -> Attacker:
    return Attacker(registry.path)
