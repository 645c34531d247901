"""Times in signed documents: the format and the supported range."""

from __future__ import annotations

import datetime as dt

import pytest

from trustavatar._time import MAX_YEAR, MIN_YEAR, format_time, later, parse_time, to_second
from trustavatar.errors import InputError


def test_format_is_fixed_width_and_round_trips() -> None:
    t = dt.datetime(1970, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_time(t) == "1970-01-02T01:04:05Z"
    assert parse_time(format_time(t)) == t
    # a parsed document may hold any year: it is shown with four digits, never raised on
    assert format_time(dt.datetime(500, 1, 1, tzinfo=dt.UTC)) == "0500-01-01T00:00:00Z"
    assert format_time(dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5))))


@pytest.mark.parametrize("year", [1, 500, MIN_YEAR - 1, MAX_YEAR + 1, 9999])
def test_times_given_must_be_in_range(year: int) -> None:
    with pytest.raises(InputError, match=f"outside the supported years {MIN_YEAR}-{MAX_YEAR}"):
        to_second(dt.datetime(year, 6, 1, tzinfo=dt.UTC), "not_before")


def test_later_is_an_input_error_past_the_range() -> None:
    start = dt.datetime(MAX_YEAR - 10, 1, 1, tzinfo=dt.UTC)
    assert later(start, dt.timedelta(days=365)) == dt.datetime(MAX_YEAR - 9, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(InputError, match="outside the supported years"):
        later(start, dt.timedelta(days=36500), "not_after")
    with pytest.raises(InputError, match="outside the supported years"):
        later(dt.datetime(9990, 1, 1, tzinfo=dt.UTC), dt.timedelta(days=36500))


def test_the_range_holds_in_utc_whatever_the_offset_given() -> None:
    west = dt.timezone(-dt.timedelta(hours=23, minutes=59))
    last_local = dt.datetime(MAX_YEAR, 12, 31, 23, 59, 59, tzinfo=west)  # 9000 in UTC
    with pytest.raises(InputError, match=r"outside the supported years .* \(UTC\)"):
        to_second(last_local, "not_after")
    east = dt.timezone(dt.timedelta(hours=14))
    first_local = dt.datetime(MIN_YEAR, 1, 1, 5, tzinfo=east)  # 1969 in UTC
    with pytest.raises(InputError, match="outside the supported years"):
        to_second(first_local, "not_before")
    assert to_second(dt.datetime(MAX_YEAR, 12, 31, 0, tzinfo=west), "t").year == MAX_YEAR
