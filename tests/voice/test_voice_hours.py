"""Calling hours in the contractor's own time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from domain.voice.hours import is_allowed, next_allowed, refusal_reason, window_for

DETROIT = ZoneInfo("America/Detroit")


def _at(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=DETROIT)


def test_default_window_is_eight_to_eight_local() -> None:
    window = window_for(timezone="America/Detroit", start=None, end=None)
    assert is_allowed(_at(2026, 12, 1, 8, 0), window)
    assert is_allowed(_at(2026, 12, 1, 19, 59), window)
    assert not is_allowed(_at(2026, 12, 1, 20, 0), window)
    assert not is_allowed(_at(2026, 12, 1, 7, 59), window)


def test_next_allowed_is_the_next_window_start() -> None:
    window = window_for(timezone="America/Detroit", start=None, end=None)
    late = _at(2026, 12, 1, 21, 30)
    assert next_allowed(late, window) == _at(2026, 12, 2, 8, 0).astimezone(dt.UTC)
    early = _at(2026, 12, 1, 6, 15)
    assert next_allowed(early, window) == _at(2026, 12, 1, 8, 0).astimezone(dt.UTC)
    inside = _at(2026, 12, 1, 12, 0)
    assert next_allowed(inside, window) == inside
    assert "21:30" in refusal_reason(late, window)


def test_the_contractors_own_hours_and_zone_count() -> None:
    window = window_for(timezone="America/Los_Angeles", start=dt.time(9), end=dt.time(17))
    # 11:30 in Detroit is 08:30 in Los Angeles: too early there.
    moment = _at(2026, 12, 1, 11, 30)
    assert not is_allowed(moment, window)
    assert next_allowed(moment, window) == dt.datetime(
        2026, 12, 1, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles")
    )


def test_the_window_keeps_wall_clock_hours_across_daylight_saving() -> None:
    window = window_for(timezone="America/Detroit", start=None, end=None)
    # Clocks go back on Sunday 1 November 2026: 08:00 local is 13:00 UTC after, 12:00 before.
    before = next_allowed(_at(2026, 10, 31, 21, 0), window)
    after = next_allowed(_at(2026, 11, 1, 21, 0), window)
    assert (before.hour, after.hour) == (13, 13)
    assert next_allowed(_at(2026, 10, 30, 21, 0), window).hour == 12


def test_a_window_past_midnight_and_an_unknown_zone() -> None:
    night = window_for(timezone="America/Detroit", start=dt.time(22), end=dt.time(2))
    assert is_allowed(_at(2026, 12, 1, 23, 0), night)
    assert is_allowed(_at(2026, 12, 2, 1, 0), night)
    assert not is_allowed(_at(2026, 12, 2, 12, 0), night)
    assert window_for(timezone="Mars/Olympus", start=None, end=None).timezone == "America/Detroit"
    with pytest.raises(ValueError, match="timezone-aware"):
        is_allowed(dt.datetime(2026, 12, 1, 12), night)
