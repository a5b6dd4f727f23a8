"""Loan payments and amortization schedules, in Decimal, rounded to cents the way lenders do.

Rates are annual percentages (``7.5`` means 7.5 % a year), compounded monthly. Each month's
interest is the balance times the monthly rate, rounded half-up to the cent; the principal is
the payment less that interest; the last payment is whatever clears the balance, so every
schedule ends at exactly 0.00.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")
ONE = Decimal("1")
HUNDRED = Decimal("100")
TWELVE = Decimal("12")


def to_cents(value: Decimal) -> Decimal:
    """Round an amount half-up to whole cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def monthly_rate(annual_rate_pct: Decimal) -> Decimal:
    """The monthly rate (a fraction) of an annual percentage rate compounded monthly."""
    return annual_rate_pct / HUNDRED / TWELVE


def monthly_payment_exact(
    principal: Decimal, annual_rate_pct: Decimal, term_months: int
) -> Decimal:
    """The level monthly payment that repays ``principal`` over ``term_months``, unrounded."""
    if term_months < 1:
        raise ValueError(f"term_months must be at least 1 (got {term_months})")
    rate = monthly_rate(annual_rate_pct)
    if rate == 0:
        return principal / Decimal(term_months)
    growth = (ONE + rate) ** term_months
    return principal * rate * growth / (growth - ONE)


def monthly_payment(
    principal: Decimal, annual_rate_pct: Decimal, term_months: int, *, interest_only: bool = False
) -> Decimal:
    """The monthly payment in cents: level P&I, or interest alone for an interest-only loan."""
    if interest_only:
        return to_cents(principal * monthly_rate(annual_rate_pct))
    return to_cents(monthly_payment_exact(principal, annual_rate_pct, term_months))


@dataclass(frozen=True)
class MonthlyRow:
    """One month of a schedule: what was paid, how it split, and what is still owed."""

    month: int
    payment: Decimal
    interest: Decimal
    principal: Decimal
    balance: Decimal


@dataclass(frozen=True)
class AnnualRow:
    """One loan year (months 12·(y−1)+1 … 12·y) summed, with the balance at its end."""

    year: int
    payments: Decimal
    interest: Decimal
    principal: Decimal
    ending_balance: Decimal


def schedule_rows(
    principal: Decimal, annual_rate_pct: Decimal, term_months: int, *, interest_only: bool = False
) -> list[MonthlyRow]:
    """Every month of the loan; an interest-only loan repays its principal with the last payment."""
    payment = monthly_payment(principal, annual_rate_pct, term_months, interest_only=interest_only)
    rate = monthly_rate(annual_rate_pct)
    balance = to_cents(principal)
    rows: list[MonthlyRow] = []
    for month in range(1, term_months + 1):
        interest = to_cents(balance * rate)
        if month == term_months:
            principal_part = balance
        elif interest_only:
            principal_part = ZERO
        else:
            # A payment rounded up can overpay in the final months; never repay more than is owed.
            principal_part = min(payment - interest, balance)
        balance -= principal_part
        rows.append(
            MonthlyRow(
                month=month,
                payment=interest + principal_part,
                interest=interest,
                principal=principal_part,
                balance=balance,
            )
        )
    return rows


def annual_summary(rows: list[MonthlyRow]) -> list[AnnualRow]:
    """Sum monthly rows into loan years (the last year may be partial)."""
    years: list[AnnualRow] = []
    for start in range(0, len(rows), 12):
        chunk = rows[start : start + 12]
        years.append(
            AnnualRow(
                year=start // 12 + 1,
                payments=sum((r.payment for r in chunk), ZERO),
                interest=sum((r.interest for r in chunk), ZERO),
                principal=sum((r.principal for r in chunk), ZERO),
                ending_balance=chunk[-1].balance,
            )
        )
    return years


@dataclass(frozen=True)
class HeldLoan:
    """What a loan costs while held for some months, and what is owed when it is paid off."""

    payments: Decimal
    interest_paid: Decimal
    principal_paid: Decimal
    payoff: Decimal


def hold_loan(
    principal: Decimal,
    annual_rate_pct: Decimal,
    months_held: int,
    *,
    interest_only: bool,
    amortization_months: int | None,
) -> HeldLoan:
    """Payments over the first ``months_held`` months, and the balance then paid off."""
    if principal == 0 or months_held == 0:
        return HeldLoan(payments=ZERO, interest_paid=ZERO, principal_paid=ZERO, payoff=principal)
    if interest_only:
        interest = monthly_payment(principal, annual_rate_pct, 1, interest_only=True) * months_held
        return HeldLoan(
            payments=interest, interest_paid=interest, principal_paid=ZERO, payoff=principal
        )
    term = amortization_months or months_held
    # Past the term the loan is repaid; only the months up to the payoff date count.
    rows = schedule_rows(principal, annual_rate_pct, term)[:months_held]
    interest = sum((r.interest for r in rows), ZERO)
    repaid = sum((r.principal for r in rows), ZERO)
    return HeldLoan(
        payments=interest + repaid,
        interest_paid=interest,
        principal_paid=repaid,
        payoff=rows[-1].balance,
    )
