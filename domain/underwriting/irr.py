"""Internal rate of return by bracketing and bisection (floats only inside the solver).

The IRR of cash flows ``c0, c1, …, cN`` (one per period, ``c0`` now) is a rate ``r > −1`` with
``Σ c_t / (1 + r)^t = 0``. We scan a grid of rates from −99.99 % to 1,000,000 % per period for
sign changes of the NPV, refine every bracket by bisection, and return the root closest to zero
(the same choice numpy-financial makes when there are several). Cash flows that never change
sign have no IRR, and we say so instead of returning a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from domain.underwriting.errors import IrrUndefinedError

_TOLERANCE = 1e-13
_MAX_BISECTIONS = 200


def _rate_grid() -> list[float]:
    """Rates to scan for sign changes: dense near zero, geometric out to 10,000 per period."""
    grid = [-0.9999, -0.999, -0.995]
    grid += [i / 200 for i in range(-197, 400)]  # −98.5 % … 199.5 % in 0.5 % steps
    rate = 2.0
    while rate <= 10_000.0:
        grid.append(rate)
        rate *= 1.25
    return grid


_GRID = _rate_grid()


def npv(rate: float, cash_flows: Sequence[float]) -> float:
    """Net present value at ``rate`` per period, first flow undiscounted (Horner, no overflow)."""
    discount = 1.0 / (1.0 + rate)
    total = 0.0
    for flow in reversed(cash_flows):
        total = total * discount + flow
    return total


def _bisect(cash_flows: Sequence[float], low: float, high: float) -> float:
    """The root of the NPV between ``low`` and ``high``, where it changes sign."""
    npv_low = npv(low, cash_flows)
    for _ in range(_MAX_BISECTIONS):
        mid = (low + high) / 2.0
        npv_mid = npv(mid, cash_flows)
        if npv_mid == 0.0:
            return mid
        if (npv_mid > 0.0) == (npv_low > 0.0):
            low, npv_low = mid, npv_mid
        else:
            high = mid
        if high - low <= _TOLERANCE * max(1.0, abs(mid)):
            break
    return (low + high) / 2.0


def irr_fraction(cash_flows: Sequence[Decimal | float | int]) -> float:
    """The IRR per period as a fraction (0.12 = 12 %); raises IrrUndefinedError if none exists."""
    flows = [float(c) for c in cash_flows]
    if len(flows) < 2:
        raise IrrUndefinedError("IRR needs at least two cash flows (an outlay and a return)")
    if not all(math.isfinite(f) for f in flows):
        raise IrrUndefinedError("IRR needs finite cash flows")
    if not (any(f > 0 for f in flows) and any(f < 0 for f in flows)):
        raise IrrUndefinedError(
            "IRR is undefined: the cash flows never change sign "
            "(there must be money both put in and taken out)"
        )
    roots: list[float] = []
    previous_rate = _GRID[0]
    previous_npv = npv(previous_rate, flows)
    for rate in _GRID[1:]:
        value = npv(rate, flows)
        if previous_npv == 0.0:
            roots.append(previous_rate)
        elif (
            math.isfinite(value)
            and math.isfinite(previous_npv)
            and (value > 0) != (previous_npv > 0)
            and value != 0.0
        ):
            roots.append(_bisect(flows, previous_rate, rate))
        previous_rate, previous_npv = rate, value
    if previous_npv == 0.0:
        roots.append(previous_rate)
    if not roots:
        raise IrrUndefinedError(
            "IRR is undefined: the net present value does not cross zero "
            "between −99.99 % and 1,000,000 % per period"
        )
    return min(roots, key=abs)
