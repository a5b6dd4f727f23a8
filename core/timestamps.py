"""Timestamps in API responses: UTC with ``Z``, as every response model writes them.

Response models serialise ``datetime`` fields with Pydantic, which writes a moment read from
the database (UTC) as ``2026-12-04T16:00:00Z``. A datetime kept with the offset a caller gave
(``-06:00``), or put into a JSON column with ``isoformat()`` (``+00:00``), reads differently:
``utc`` and ``utc_text`` put such a moment in the same form through the same serialiser
(``pydantic_core.to_jsonable_python``), and ``utc_strings`` does it to the ISO datetimes
inside free-form JSON (timeline details, status histories) when they are read.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic_core import to_jsonable_python

# An ISO 8601 date and time with a UTC offset (or Z); dates and naive times are left alone.
_AWARE_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC (a naive one is taken to be UTC already, as the database stores it)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def utc_text(moment: dt.datetime) -> str:
    """``moment`` as a response writes it: ``2026-12-04T16:00:00Z``."""
    text: str = to_jsonable_python(utc(moment))
    return text


def utc_strings(data: Any) -> Any:
    """A copy of JSON-like ``data`` with every aware ISO datetime string in UTC with ``Z``.

    ``"2026-12-04T10:00:00-06:00"`` and ``"2026-12-04T16:00:00+00:00"`` both become
    ``"2026-12-04T16:00:00Z"``; other values (dates, naive times, text) are kept as they are.
    """
    if isinstance(data, dict):
        return {key: utc_strings(value) for key, value in data.items()}
    if isinstance(data, list):
        return [utc_strings(value) for value in data]
    if isinstance(data, str) and _AWARE_ISO.fullmatch(data):
        try:
            return utc_text(dt.datetime.fromisoformat(data))
        except ValueError:
            return data
    return data
