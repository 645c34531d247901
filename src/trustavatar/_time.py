"""Times in signed documents (consent artifacts, revocation lists, ledger rows and
checkpoints): RFC 3339 UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ``."""

from __future__ import annotations

import datetime as dt

from trustavatar.errors import InputError

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> dt.datetime:
    """The wall clock, truncated to the second. Only ever a default for ``at=None``."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def format_time(value: dt.datetime) -> str:
    return require_aware(value).astimezone(dt.UTC).strftime(_FORMAT)


def parse_time(text: str) -> dt.datetime:
    """Parse a document time; raises ``ValueError`` if it is not exactly the format."""
    return dt.datetime.strptime(text, _FORMAT).replace(tzinfo=dt.UTC)


def require_aware(value: dt.datetime, name: str = "time") -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got {value}")
    return value


def to_second(value: dt.datetime, name: str = "time") -> dt.datetime:
    """``value`` in UTC, truncated to the second (what a document can hold)."""
    return require_aware(value, name).astimezone(dt.UTC).replace(microsecond=0)
