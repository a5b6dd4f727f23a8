"""The default value date is the company's today (it was UTC's: tomorrow in the Detroit
evening, so a default-dated valuation out-ranked one dated today explicitly, and an explicit
'today' was checked against a different day)."""

from __future__ import annotations

import datetime as dt

import pytest

import core.clock
from domain.valuation import service as valuation_service


def test_the_default_as_of_is_the_company_s_date_in_the_evening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 9 pm on November 30 in Detroit is 02:00 on December 1 in UTC.
    monkeypatch.setattr(core.clock, "utcnow", lambda: dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))
    assert valuation_service.today() == dt.date(2026, 11, 30)
