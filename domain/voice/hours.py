"""When a contractor or a seller lead may be called: set hours in their own time zone.

Pure functions over aware datetimes. A contractor without preferred hours gets the default
window (``VOICE_CALL_WINDOW_START``-``VOICE_CALL_WINDOW_END``, 08:00-20:00, every day); a
window whose end is before its start runs past midnight. A seller lead (a consumer) is called
09:00-20:00, Monday to Saturday only (``lead_window``), in the time zone that came with the
lead, else in every zone their phone number's area code covers, else on both mainland coasts
(``lead_windows``: a call must fit them all). Local times are built with ``zoneinfo``, so a
window keeps its wall-clock hours across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clock import DEFAULT_TIMEZONE  # the company's default zone (one constant)

DEFAULT_START = dt.time(8, 0)
DEFAULT_END = dt.time(20, 0)
EVERY_DAY = frozenset(range(7))
# Consumers (seller leads): 09:00-20:00 local, Monday (0) to Saturday (5); never on Sunday.
LEAD_START = dt.time(9, 0)
LEAD_END = dt.time(20, 0)
LEAD_DAYS = frozenset(range(6))
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class CallWindow:
    """A daily calling window: local start and end, the time zone, and the weekdays it opens.

    ``days`` holds ``date.weekday()`` numbers (Monday 0); a window past midnight belongs to
    the day it opens on.
    """

    start: dt.time
    end: dt.time
    timezone: str
    days: frozenset[int] = EVERY_DAY

    @property
    def zone(self) -> ZoneInfo:
        """The window's time zone."""
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        """``08:00-20:00 America/Detroit`` (``09:00-20:00 Mon-Sat America/Detroit``)."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}{self.days_text()} {self.timezone}"

    def to_json(self) -> dict[str, Any]:
        """The window as JSON values (the call graph's context)."""
        return {
            "start": f"{self.start:%H:%M}",
            "end": f"{self.end:%H:%M}",
            "timezone": self.timezone,
            "days": sorted(self.days),
        }

    @classmethod
    def from_json(cls, data: Any) -> CallWindow | None:
        """``to_json`` read back; None for anything that is not a valid window."""
        if not isinstance(data, dict) or valid_timezone(data.get("timezone")) is None:
            return None
        try:
            days = frozenset(int(d) for d in data.get("days") or () if 0 <= int(d) <= 6)
            return cls(
                start=dt.time.fromisoformat(str(data["start"])),
                end=dt.time.fromisoformat(str(data["end"])),
                timezone=str(data["timezone"]),
                days=days or EVERY_DAY,
            )
        except (KeyError, TypeError, ValueError):
            return None

    def days_text(self) -> str:
        """`` Mon-Sat`` for a window closed some days; empty when it opens every day."""
        if self.days == EVERY_DAY:
            return ""
        ordered = sorted(self.days)
        if ordered == list(range(ordered[0], ordered[-1] + 1)):
            return f" {_DAY_NAMES[ordered[0]]}-{_DAY_NAMES[ordered[-1]]}"
        return " " + ",".join(_DAY_NAMES[d] for d in ordered)


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


def valid_timezone(name: str | None) -> str | None:
    """``name`` when it is an IANA time zone this machine knows, else None."""
    if not name or not isinstance(name, str) or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def lead_window(timezone: str | None) -> CallWindow:
    """A seller lead's calling hours: 09:00-20:00 Monday-Saturday, in their zone or the default."""
    return CallWindow(
        start=LEAD_START,
        end=LEAD_END,
        timezone=valid_timezone(timezone) or DEFAULT_TIMEZONE,
        days=LEAD_DAYS,
    )


# A lead whose time zone is unknown could be anywhere in the mainland US: call only when it is
# within hours on both coasts (12:00-20:00 Eastern).
MAINLAND_EXTREMES = ("America/New_York", "America/Los_Angeles")
# More zones than this for one number (toll-free, non-geographic) say nothing about where.
MAX_NUMBER_ZONES = 4


def number_timezones(phone: str | None) -> tuple[str, ...]:
    """The time zones a phone number's area code covers (``phonenumbers``), or ()."""
    if not phone:
        return ()
    try:
        import phonenumbers
        from phonenumbers import timezone as number_zones
    except ImportError:  # pragma: no cover - a declared dependency
        return ()
    try:
        parsed = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(
        sorted({z for z in number_zones.time_zones_for_number(parsed) if valid_timezone(z)})
    )
    return zones if 0 < len(zones) <= MAX_NUMBER_ZONES else ()


def lead_windows(timezone: str | None, phone: str | None) -> tuple[CallWindow, ...]:
    """A seller lead's calling hours in every zone they may be in; a call must fit them all.

    The lead's own ``timezone`` when one came with them; else the zones of their phone
    number's area code (a Pacific number is not called at 09:00 Detroit time, 06:00 theirs);
    else both mainland coasts (``MAINLAND_EXTREMES``).
    """
    given = valid_timezone(timezone)
    zones = (given,) if given else (number_timezones(phone) or MAINLAND_EXTREMES)
    return tuple(lead_window(zone) for zone in zones)


def allowed_in_all(moment: dt.datetime, windows: tuple[CallWindow, ...]) -> bool:
    """True when ``moment`` is inside every window."""
    return all(is_allowed(moment, window) for window in windows)


def next_allowed_in_all(moment: dt.datetime, windows: tuple[CallWindow, ...]) -> dt.datetime:
    """The first moment from ``moment`` inside every window (in UTC)."""
    candidate = moment
    for _ in range(64):
        closed = [w for w in windows if not is_allowed(candidate, w)]
        if not closed:
            return candidate.astimezone(dt.UTC)
        candidate = max(next_allowed(candidate, w) for w in closed)
    raise ValueError(f"the calling windows never overlap: {describe_all(windows)}")


def describe_all(windows: tuple[CallWindow, ...]) -> str:
    """``09:00-20:00 Mon-Sat America/Chicago`` (``... in America/New_York and ...``)."""
    if len(windows) == 1:
        return windows[0].describe()
    first = windows[0]
    zones = " and ".join(w.timezone for w in windows)
    return f"{first.start:%H:%M}-{first.end:%H:%M}{first.days_text()} in each of {zones}"


def refusal_reason_all(
    moment: dt.datetime, windows: tuple[CallWindow, ...], who: str = "the lead"
) -> str:
    """Why a call at ``moment`` is not allowed in every window, in words a person reads."""
    closed = next((w for w in windows if not is_allowed(moment, w)), windows[0])
    return refusal_reason(moment, closed, who)


def _require_aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a moment to check against call hours must be timezone-aware")


def is_allowed(moment: dt.datetime, window: CallWindow) -> bool:
    """True when ``moment`` falls inside the window (start inclusive, end exclusive)."""
    _require_aware(moment)
    local_moment = moment.astimezone(window.zone)
    local = local_moment.time().replace(tzinfo=None)
    weekday = local_moment.weekday()
    if window.start < window.end:
        return window.start <= local < window.end and weekday in window.days
    if local >= window.start:
        return weekday in window.days
    # Past midnight: the early hours belong to the window opened the evening before.
    return local < window.end and (weekday - 1) % 7 in window.days


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
    for offset in range(0, 9):
        day = local_day + dt.timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        start = _local_at(day, window.start, zone)
        if start > moment:
            return start.astimezone(dt.UTC)
    raise AssertionError("a window opens at least once a week")  # pragma: no cover


def local_time(moment: dt.datetime, window: CallWindow) -> dt.datetime:
    """``moment`` on the contractor's wall clock."""
    _require_aware(moment)
    return moment.astimezone(window.zone)


def refusal_reason(moment: dt.datetime, window: CallWindow, who: str = "the contractor") -> str:
    """Why a call at ``moment`` is not allowed, in words a person reads."""
    local = local_time(moment, window)
    return (
        f"it is {local:%H:%M} on {local:%a %b} {local.day} for {who} "
        f"({window.timezone}); calls are allowed {window.start:%H:%M}-{window.end:%H:%M}"
        f"{window.days_text()} local"
    )


# A callback asked for sooner than this is placed this long after the call (time to hang up
# and for the team to see the call); one asked for with no time is placed a day later.
CALLBACK_MIN_DELAY = dt.timedelta(minutes=5)
CALLBACK_DEFAULT_DELAY = dt.timedelta(days=1)
# "Call me back today" (or "tonight" without a clock): this long after it was said.
LATER_TODAY = dt.timedelta(hours=2)


def requested_moment(
    *,
    day: dt.date | None,
    clock: dt.time | None,
    in_minutes: int | None,
    said_at: dt.datetime,
    zone: ZoneInfo,
) -> dt.datetime | None:
    """The moment a callback was asked for (in UTC), or None when no time was said.

    A delay ("in an hour") counts from ``said_at``; a day and a clock are on the callee's wall
    clock in ``zone``; a day alone is that day from midnight (the calling window then opens
    it), or ``LATER_TODAY`` from now when it is today; a clock alone is today's, or
    tomorrow's once it has passed.
    """
    _require_aware(said_at)
    if in_minutes is not None:
        return (said_at + dt.timedelta(minutes=in_minutes)).astimezone(dt.UTC)
    if day is None and clock is None:
        return None
    today = said_at.astimezone(zone).date()
    if day == today and clock is None:
        return (said_at + LATER_TODAY).astimezone(dt.UTC)  # "call me back today": later on
    local_day = day or today
    moment = _local_at(local_day, clock or dt.time(0, 0), zone)
    if day is None and moment <= said_at:
        moment = _local_at(local_day + dt.timedelta(days=1), clock or dt.time(0, 0), zone)
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class CallbackSlot:
    """When a callback is placed, the moment asked for (if any) and the words for the team."""

    when: dt.datetime
    asked: dt.datetime | None
    text: str


def callback_slot(
    asked: dt.datetime | None, *, now: dt.datetime, windows: tuple[CallWindow, ...]
) -> CallbackSlot:
    """The first allowed moment at or after the asked-for one (a day from ``now`` if none).

    A moment already past, or less than ``CALLBACK_MIN_DELAY`` away, moves to ``now`` plus
    that delay; then to the next opening of every window. ``text`` says when, on the
    callee's clock, and why it is not the moment asked for when it is not.
    """
    _require_aware(now)
    earliest = now + CALLBACK_MIN_DELAY
    base = now + CALLBACK_DEFAULT_DELAY if asked is None else max(asked, earliest)
    when = next_allowed_in_all(base, windows)
    window = windows[0]
    local = local_time(when, window)
    text = f"{local:%a %b} {local.day} at {local:%H:%M} ({window.timezone})"
    if asked is not None:
        asked_local = local_time(asked, window)
        asked_text = f"{asked_local:%a %b} {asked_local.day} {asked_local:%H:%M}"
        if asked < earliest:
            text += f"; they asked for {asked_text}, which had passed"
        elif when > asked + dt.timedelta(minutes=1):
            hours_text = describe_all(windows)
            text += f"; they asked for {asked_text}, outside the calling hours ({hours_text})"
    return CallbackSlot(when=when, asked=asked, text=text)
