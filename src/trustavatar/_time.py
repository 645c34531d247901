"""Times in signed documents (consent artifacts, revocation lists, ledger rows and
checkpoints): RFC 3339 UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ``."""

from __future__ import annotations

import datetime as dt

from trustavatar.errors import InputError

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Years a time given to trustavatar may fall in: documents start after the Unix epoch, and
#: the end leaves room for a validity of up to 100 years without leaving Python's range.
MIN_YEAR, MAX_YEAR = 1970, 8999


def utc_now() -> dt.datetime:
    """The wall clock, truncated to the second. Only ever a default for ``at=None``."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def format_time(value: dt.datetime) -> str:
    """``value`` as ``YYYY-MM-DDTHH:MM:SSZ`` (the year always four digits)."""
    value = require_aware(value)
    try:
        u = value.astimezone(dt.UTC)
    except OverflowError:  # only at the ends of Python's range, which no check lets in
        return value.isoformat()
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
            f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z")


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
    """``value`` in UTC, truncated to the second (what a document can hold).

    Raises :class:`InputError` for a time outside the years ``MIN_YEAR``..``MAX_YEAR``."""
    return in_range(value, name).astimezone(dt.UTC).replace(microsecond=0)


def in_range(value: dt.datetime, name: str = "time") -> dt.datetime:
    """``value`` itself, if it is timezone-aware and within the years ``MIN_YEAR``..``MAX_YEAR``
    (else :class:`InputError`)."""
    value = require_aware(value, name)
    try:
        utc_year = value.astimezone(dt.UTC).year  # what documents store: UTC
    except OverflowError:
        utc_year = value.year
    if not (MIN_YEAR <= value.year <= MAX_YEAR and MIN_YEAR <= utc_year <= MAX_YEAR):
        raise InputError(f"{name} {value.isoformat()} is outside the supported years "
                         f"{MIN_YEAR}-{MAX_YEAR} (UTC)")
    return value


def later(start: dt.datetime, span: dt.timedelta, name: str = "time") -> dt.datetime:
    """``start + span``, an :class:`InputError` (not an ``OverflowError``) when the sum
    leaves the supported years."""
    try:
        end = start + span
    except OverflowError:
        end = dt.datetime.max.replace(tzinfo=dt.UTC)
    return to_second(end, name)
