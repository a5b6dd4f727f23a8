"""Internal rate of return, checked against numpy-financial's polynomial-root IRR."""

from __future__ import annotations

from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.underwriting import service
from domain.underwriting.errors import IrrUndefinedError
from domain.underwriting.irr import irr_fraction, npv

D = Decimal


@pytest.mark.parametrize(
    "flows",
    [
        # numpy-financial's documented examples (28.095 %, −9.550 %, −8.330 %, 6.206 %, 8.860 %).
        [-100, 39, 59, 55, 20],
        [-100, 0, 0, 74],
        [-100, 100, 0, -7],
        [-100, 100, 0, 7],
        [-5, 10.5, 1, -8, 1],
        # A 10-year rental hold: 42,000 in, growing cash flows, a sale in year 10.
        [-42000, 1350, 1696, 2053, 2422, 2802, 3195, 3600, 4018, 4449, 97848],
        # A six-month flip seen monthly: 41,660 in, 76,000 back in month 6.
        [-41660, 0, 0, 0, 0, 0, 76000],
    ],
)
def test_irr_matches_numpy_financial(flows: list[float]) -> None:
    ours = irr_fraction(flows)
    assert ours == pytest.approx(npf.irr(flows), abs=1e-9)


def test_irr_in_percent_of_a_documented_example() -> None:
    """numpy-financial's first example, −100 then 39, 59, 55, 20: 28.09 %."""
    assert service.internal_rate_of_return(cash_flows=[D(-100), D(39), D(59), D(55), D(20)]) == D(
        "28.09"
    )


@settings(max_examples=300, deadline=None)
@given(
    outlay=st.integers(min_value=1_000, max_value=2_000_000),
    returns=st.lists(st.integers(min_value=0, max_value=400_000), min_size=1, max_size=30),
)
def test_irr_of_conventional_flows_matches_numpy(outlay: int, returns: list[int]) -> None:
    """An outlay followed by returns that bring back at least 20 % of it has exactly one IRR."""
    assume(sum(returns) >= outlay * 0.2)
    flows = [-outlay, *returns]
    ours = irr_fraction(flows)
    reference = float(npf.irr(flows))
    assert ours == pytest.approx(reference, rel=1e-6, abs=1e-7)
    # And it is a root: the NPV at our rate is zero to within rounding of the flows' size.
    assert abs(npv(ours, flows)) <= 1e-6 * sum(abs(f) for f in flows)


@pytest.mark.parametrize(
    "flows",
    [
        [100, 50, 20],  # money only ever comes in
        [-100, -50, 0],  # money only ever goes out
        [0, 0, 0],
        [-100],
    ],
)
def test_irr_without_a_sign_change_is_an_error(flows: list[int]) -> None:
    with pytest.raises(IrrUndefinedError) as caught:
        service.internal_rate_of_return(cash_flows=[D(f) for f in flows])
    assert "IRR" in str(caught.value)


def test_irr_with_a_sign_change_but_no_real_root_is_an_error() -> None:
    """−100, +300, −300 has NPV < 0 at every rate above −100 %: no IRR, and we say so."""
    with pytest.raises(IrrUndefinedError, match="does not cross zero"):
        irr_fraction([-100, 300, -300])
