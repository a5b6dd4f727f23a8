"""The company's calendar: what "today" means for dates people give and read.

Timestamps are stored in UTC; a *date* a person means ("paid it today", "P&L last month",
an expense's default date) is the company's local date, in ``DEALDESK_TIMEZONE`` (default
America/Detroit). At 8 pm in Detroit on November 30 it is already December 1 in UTC, so a
UTC date would book that evening's expense into a month nobody has reviewed yet.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.config import get_settings
from store.base import utcnow

DEFAULT_TIMEZONE = "America/Detroit"


def company_zone() -> ZoneInfo:
    """The company's time zone (``DEALDESK_TIMEZONE``; an unknown name falls back to Detroit)."""
    name = get_settings().timezone or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_now(zone: str | None = None) -> dt.datetime:
    """Now in ``zone`` (an IANA name), else in the company's time zone."""
    tz = company_zone()
    if zone:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return utcnow().astimezone(tz)


def local_today(zone: str | None = None) -> dt.date:
    """Today's date in ``zone`` (an IANA name), else in the company's time zone."""
    return local_now(zone).date()


def local_day(moment: dt.datetime) -> dt.date:
    """The company-local date of a stored timestamp (kept in UTC; a naive one is read as UTC).

    A task finished at 8 pm in Detroit was finished that day, not the next.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(company_zone()).date()


def local_minute(moment: dt.datetime) -> str:
    """A stored timestamp as people read it: company-local, to the minute, with its zone.

    "2026-11-28 23:37 EST"; a naive timestamp is read as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return f"{moment.astimezone(company_zone()):%Y-%m-%d %H:%M %Z}"


def local_midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in the company's time zone (an aware datetime)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=company_zone())
