"""Loan payments and amortization schedules, checked against numpy-financial."""

from __future__ import annotations

from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.underwriting import service
from domain.underwriting.models import LoanScheduleInput

D = Decimal


def _accumulation_factor(monthly_rate: float, months: int) -> float:
    """s(k) = ((1 + r)^k − 1) / r: how much a 1-dollar-a-month error grows to after k months."""
    if monthly_rate == 0:
        return float(months)
    return float(((1 + monthly_rate) ** months - 1) / monthly_rate)


@pytest.mark.parametrize(
    ("principal", "rate_pct", "months", "expected"),
    [
        # Textbook figures: 100,000 at 6 % over 30 years is 599.55 a month.
        (D("100000"), D("6"), 360, D("599.55")),
        # 112,500 at 7 % over 30 years (the rental example): 748.47.
        (D("112500"), D("7"), 360, D("748.47")),
        # 200,000 at 4.5 % over 15 years: 1,529.99.
        (D("200000"), D("4.5"), 180, D("1529.99")),
        # No interest: 12,000 over 12 months is 1,000.00.
        (D("12000"), D("0"), 12, D("1000.00")),
    ],
)
def test_monthly_payment_worked_examples(
    principal: Decimal, rate_pct: Decimal, months: int, expected: Decimal
) -> None:
    payment = service.monthly_payment(
        principal=principal, annual_rate_pct=rate_pct, term_months=months
    )
    assert payment == expected
    reference = -npf.pmt(float(rate_pct) / 1200, months, float(principal))
    assert abs(float(payment) - reference) <= 0.005


def test_interest_only_payment_is_the_monthly_interest() -> None:
    """120,000 at 12 % interest-only: 120,000 × 1 % = 1,200.00 a month."""
    payment = service.monthly_payment(
        principal=D("120000"), annual_rate_pct=D("12"), term_months=12, interest_only=True
    )
    assert payment == D("1200.00")


@settings(max_examples=300, deadline=None)
@given(
    principal_cents=st.integers(min_value=100_000, max_value=300_000_000),
    rate_bp=st.integers(min_value=0, max_value=2_000),
    months=st.integers(min_value=1, max_value=480),
)
def test_payment_matches_numpy_financial(principal_cents: int, rate_bp: int, months: int) -> None:
    principal = D(principal_cents) / 100
    rate_pct = D(rate_bp) / 100
    payment = service.monthly_payment(
        principal=principal, annual_rate_pct=rate_pct, term_months=months
    )
    reference = -npf.pmt(rate_bp / 120_000, months, principal_cents / 100)
    assert abs(float(payment) - reference) <= 0.005 + 1e-9 * reference


def test_schedule_first_year_matches_ipmt_and_ppmt() -> None:
    """112,500 at 7 % over 30 years: row k's interest and principal equal numpy's to the cent.

    Rounding the payment and each month's interest moves the balance by at most a cent a month,
    which after 12 months is worth far less than a cent of interest.
    """
    schedule = service.amortization_schedule(
        inputs=LoanScheduleInput(principal=D("112500"), annual_rate_pct=D("7"), term_months=360)
    )
    rate = 0.07 / 12
    assert schedule.monthly[0].interest == D("656.25")  # 112,500 × 7 % / 12
    assert schedule.monthly[0].principal == D("92.22")  # 748.47 − 656.25
    for row in schedule.monthly[:12]:
        interest = -npf.ipmt(rate, row.month, 360, 112_500)
        principal = -npf.ppmt(rate, row.month, 360, 112_500)
        assert abs(float(row.interest) - interest) <= 0.01
        assert abs(float(row.principal) - principal) <= 0.015
    assert schedule.annual[0].ending_balance == schedule.monthly[11].balance


@settings(max_examples=150, deadline=None)
@given(
    principal_cents=st.integers(min_value=1_000_000, max_value=200_000_000),
    rate_bp=st.integers(min_value=0, max_value=1_500),
    years=st.integers(min_value=1, max_value=40),
)
def test_schedule_ends_at_zero_and_tracks_numpy(
    principal_cents: int, rate_bp: int, years: int
) -> None:
    principal = D(principal_cents) / 100
    months = years * 12
    schedule = service.amortization_schedule(
        inputs=LoanScheduleInput(
            principal=principal, annual_rate_pct=D(rate_bp) / 100, term_months=months
        )
    )
    rows = schedule.monthly
    assert len(rows) == months
    assert rows[-1].balance == 0
    assert sum(r.principal for r in rows) == principal
    assert all(r.balance >= 0 and r.payment > 0 for r in rows)
    assert schedule.total_interest == sum(r.interest for r in rows)
    assert [y.year for y in schedule.annual] == list(range(1, years + 1))
    assert sum(y.principal for y in schedule.annual) == principal
    # Each year-end balance is numpy's balance for the same (rounded) payment, give or take the
    # interest rounding: at most half a cent a month, grown by s(k).
    rate = rate_bp / 120_000
    payment = float(schedule.monthly_payment)
    for year in schedule.annual:
        k = year.year * 12
        if k == months:
            continue
        if rate == 0:
            reference = principal_cents / 100 - payment * k
        else:
            reference = float(npf.fv(rate, k, payment, -principal_cents / 100))
        tolerance = 0.005 * _accumulation_factor(rate, k) + 0.01
        assert abs(float(year.ending_balance) - reference) <= tolerance


def test_interest_only_schedule_repays_principal_in_the_last_row() -> None:
    """50,000 at 9 % interest-only for 12 months: 375.00 a month, then 50,375.00."""
    schedule = service.amortization_schedule(
        inputs=LoanScheduleInput(
            principal=D("50000"), annual_rate_pct=D("9"), term_months=12, interest_only=True
        )
    )
    assert {r.payment for r in schedule.monthly[:11]} == {D("375.00")}
    assert schedule.monthly[-1].payment == D("50375.00")
    assert schedule.monthly[-1].balance == 0
    assert schedule.total_interest == D("4500.00")
