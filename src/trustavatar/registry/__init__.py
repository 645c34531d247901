"""The registry: a SQLite database in the trustavatar home with numbered migrations.

>>> from trustavatar.registry import Registry
>>> with Registry.open("/tmp/registry.sqlite3") as reg:  # doctest: +SKIP
...     reg.schema_version()
"""

from trustavatar.registry.db import Registry
from trustavatar.registry.migrations import MIGRATIONS, Migration

__all__ = ["MIGRATIONS", "Migration", "Registry"]
