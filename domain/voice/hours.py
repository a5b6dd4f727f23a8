"""When a contractor may be called: their preferred hours in their own time zone.

Pure functions over aware datetimes. A contractor without preferred hours gets the default
window (``VOICE_CALL_WINDOW_START``-``VOICE_CALL_WINDOW_END``, 08:00-20:00); a window whose end
is before its start runs past midnight. Local times are built with ``zoneinfo``, so a window
keeps its wall-clock hours across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "America/Detroit"
DEFAULT_START = dt.time(8, 0)
DEFAULT_END = dt.time(20, 0)


@dataclass(frozen=True)
class CallWindow:
    """A contractor's daily calling window: local start and end, and the time zone."""

    start: dt.time
    end: dt.time
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        """The window's time zone."""
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        """``08:00-20:00 America/Detroit``."""
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.timezone}"


def window_for(
    *,
    timezone: str | None,
    start: dt.time | None,
    end: dt.time | None,
    default_start: dt.time = DEFAULT_START,
    default_end: dt.time = DEFAULT_END,
) -> CallWindow:
    """The window from a contractor's settings; unknown zones and missing hours get defaults."""
    zone = timezone or DEFAULT_TIMEZONE
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = DEFAULT_TIMEZONE
    if start is None or end is None or start == end:
        start, end = default_start, default_end
    return CallWindow(start=start.replace(tzinfo=None), end=end.replace(tzinfo=None), timezone=zone)


def _require_aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a moment to check against call hours must be timezone-aware")


def is_allowed(moment: dt.datetime, window: CallWindow) -> bool:
    """True when ``moment`` falls inside the window (start inclusive, end exclusive)."""
    _require_aware(moment)
    local = moment.astimezone(window.zone).time().replace(tzinfo=None)
    if window.start < window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end  # past midnight


def _local_at(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The aware moment of a wall-clock time on a local day (a time skipped by DST moves on)."""
    candidate = dt.datetime.combine(day, clock, tzinfo=zone)
    # Round-trip through UTC: a non-existent local time (spring forward) lands after the gap.
    return candidate.astimezone(dt.UTC).astimezone(zone)


def next_allowed(moment: dt.datetime, window: CallWindow) -> dt.datetime:
    """``moment`` if it is allowed, else the start of the next window (in UTC)."""
    _require_aware(moment)
    if is_allowed(moment, window):
        return moment.astimezone(dt.UTC)
    zone = window.zone
    local_day = moment.astimezone(zone).date()
    for offset in range(0, 3):
        start = _local_at(local_day + dt.timedelta(days=offset), window.start, zone)
        if start > moment:
            return start.astimezone(dt.UTC)
    raise AssertionError("a daily window always opens within two days")  # pragma: no cover


def local_time(moment: dt.datetime, window: CallWindow) -> dt.datetime:
    """``moment`` on the contractor's wall clock."""
    _require_aware(moment)
    return moment.astimezone(window.zone)


def refusal_reason(moment: dt.datetime, window: CallWindow) -> str:
    """Why a call at ``moment`` is not allowed, in words a person reads."""
    local = local_time(moment, window)
    return (
        f"it is {local:%H:%M} on {local:%a %b} {local.day} for the contractor "
        f"({window.timezone}); calls are allowed {window.start:%H:%M}-{window.end:%H:%M} local"
    )
