"""The registry: a SQLite database in the trustavatar home with numbered migrations.

It holds the consent tables and the generation ledger (:mod:`trustavatar.registry.ledger`).

>>> from trustavatar.registry import Registry
>>> with Registry.open("/tmp/registry.sqlite3") as reg:  # doctest: +SKIP
...     reg.schema_version()
"""

from trustavatar.registry.db import Registry
from trustavatar.registry.ledger import (
    GENESIS_HASH,
    LEDGER_CHECKPOINT_TYPE,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerProblem,
    LedgerProblemKind,
    LedgerReport,
    LedgerRow,
    append_generation,
    export_head,
    find_by_manifest,
    find_by_output,
    find_by_watermark,
    find_by_watermark_in,
    get_generation,
    list_generations,
    load_checkpoint,
    verify_ledger,
)
from trustavatar.registry.migrations import MIGRATIONS, Migration

__all__ = [
    "GENESIS_HASH",
    "LEDGER_CHECKPOINT_TYPE",
    "MIGRATIONS",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerProblem",
    "LedgerProblemKind",
    "LedgerReport",
    "LedgerRow",
    "Migration",
    "Registry",
    "append_generation",
    "export_head",
    "find_by_manifest",
    "find_by_output",
    "find_by_watermark",
    "find_by_watermark_in",
    "get_generation",
    "list_generations",
    "load_checkpoint",
    "verify_ledger",
]
