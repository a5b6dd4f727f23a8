"""Times the team reads are company-local (America/Detroit by default), with their zone."""

from __future__ import annotations

import datetime as dt

from core.clock import local_midnight, local_minute


def test_a_stored_utc_time_reads_in_the_company_s_zone() -> None:
    # 04:37 UTC on November 29 is 23:37 on November 28 in Detroit (EST, UTC-5).
    moment = dt.datetime(2026, 11, 29, 4, 37, tzinfo=dt.UTC)
    assert local_minute(moment) == "2026-11-28 23:37 EST"
    assert local_minute(moment.replace(tzinfo=None)) == "2026-11-28 23:37 EST"  # naive is UTC
    assert local_minute(dt.datetime(2026, 7, 1, 16, 0, tzinfo=dt.UTC)) == "2026-07-01 12:00 EDT"


def test_a_company_day_starts_at_local_midnight() -> None:
    start = local_midnight(dt.date(2026, 11, 28))
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 11, 28, 5, 0, tzinfo=dt.UTC)
