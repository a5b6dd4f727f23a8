"""How the analysis writes its figures, so the agent's message and the PDF say the same thing."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

NOT_AVAILABLE = "not available"


def dollars(value: Decimal | None) -> str:
    """Whole dollars with separators: ``$123,456``, ``-$1,250``; None is "not available"."""
    if value is None:
        return NOT_AVAILABLE
    whole = Decimal(value).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    sign = "-" if whole < 0 else ""
    return f"{sign}${abs(whole):,.0f}"


def cents(value: Decimal | None) -> str:
    """Dollars and cents with separators: ``$1,234.50``; None is "not available"."""
    if value is None:
        return NOT_AVAILABLE
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def percent(value: Decimal | float | None, places: int = 1) -> str:
    """A percentage such as ``12.5%``, rounded half up; None is "not available".

    A value that rounds to zero is ``0.0%``, never ``-0.0%`` (-0.04 is no loss worth a sign).
    """
    if value is None:
        return NOT_AVAILABLE
    shown = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if shown.is_zero():
        shown = abs(shown)
    return f"{shown:.{places}f}%"


# How an incomplete rehab budget's explanation starts (the PDF's heading says it already).
REHAB_GAP_PREFIX = "the rehab budget is incomplete: "


def annualised_roi_text(roi_pct: Decimal | None, annualised_pct: Decimal | None) -> str:
    """The annualised ROI, or why there is none (a loss of all the cash has no annual rate)."""
    if annualised_pct is not None:
        return percent(annualised_pct)
    if roi_pct is not None and roi_pct <= -100:
        return "n/a (the loss exceeds the cash invested)"
    return "n/a (no cash invested)" if roi_pct is None else NOT_AVAILABLE
