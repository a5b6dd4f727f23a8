"""Bad underwriting input is refused with a message that says what is wrong."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from domain.underwriting import service
from domain.underwriting.models import (
    FlipInput,
    LoanScheduleInput,
    OfferSolveInput,
    RentalInput,
    Section8Input,
    UnderwritingStrategy,
    WholesaleInput,
)

D = Decimal

RENTAL: dict[str, Any] = {
    "purchase_price": "150000",
    "operations": {"gross_rent_monthly": "1500", "vacancy_pct": "5"},
    "loan": {"ltv_pct": "75", "annual_rate_pct": "7"},
}
FLIP: dict[str, Any] = {
    "arv": "200000",
    "purchase_price": "100000",
    "rehab_cost": "40000",
    "hold_months": 6,
}


def _problem(model: type[BaseModel], payload: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    return service.describe_validation_error(caught.value)


def test_negative_price_is_refused() -> None:
    message = _problem(RentalInput, RENTAL | {"purchase_price": "-1"})
    assert message == "purchase_price: must not be negative (got -1)"


def test_negative_rent_is_refused() -> None:
    payload = RENTAL | {"operations": {"gross_rent_monthly": "-1500"}}
    assert _problem(RentalInput, payload) == (
        "operations.gross_rent_monthly: must not be negative (got -1500)"
    )


def test_rate_over_100_percent_is_refused() -> None:
    payload = RENTAL | {"loan": {"ltv_pct": "75", "annual_rate_pct": "750"}}
    message = _problem(RentalInput, payload)
    assert message.startswith("loan.annual_rate_pct: must be a percentage from 0 to 100")
    assert "got 750" in message


def test_negative_rate_is_refused() -> None:
    payload = FLIP | {"financing": {"ltc_pct": "80", "annual_rate_pct": "-3"}}
    assert "financing.annual_rate_pct: must be a percentage" in _problem(FlipInput, payload)


@pytest.mark.parametrize(("months", "bound"), [(0, "greater than or equal to 1"), (61, "60")])
def test_hold_months_within_bounds(months: int, bound: str) -> None:
    message = _problem(FlipInput, FLIP | {"hold_months": months})
    assert message.startswith("hold_months: ")
    assert bound in message


def test_loan_term_within_bounds() -> None:
    payload = RENTAL | {"loan": {"ltv_pct": "75", "annual_rate_pct": "7", "term_years": 50}}
    assert _problem(RentalInput, payload).startswith("loan.term_years: ")
    assert _problem(
        LoanScheduleInput, {"principal": "1000", "annual_rate_pct": "5", "term_months": 481}
    ).startswith("term_months: ")


def test_more_than_two_decimal_places_of_money_is_refused() -> None:
    assert "decimal places" in _problem(RentalInput, RENTAL | {"purchase_price": "1.005"})


def test_a_loan_needs_exactly_one_size() -> None:
    both = FLIP | {"financing": {"ltv_pct": "80", "ltc_pct": "80", "annual_rate_pct": "12"}}
    assert "exactly one of loan_amount, ltv_pct or ltc_pct" in _problem(FlipInput, both)
    assert "got ltv_pct, ltc_pct" in _problem(FlipInput, both)
    neither = FLIP | {"financing": {"annual_rate_pct": "12"}}
    assert "got none" in _problem(FlipInput, neither)


def test_amortizing_short_term_loan_needs_its_period() -> None:
    payload = FLIP | {
        "financing": {"ltv_pct": "80", "annual_rate_pct": "12", "interest_only": False}
    }
    assert "amortization_months is required" in _problem(FlipInput, payload)


def test_loan_larger_than_the_price_is_refused() -> None:
    payload = RENTAL | {"loan": {"loan_amount": "200000", "annual_rate_pct": "7"}}
    assert "loan.loan_amount 200000 exceeds purchase price 150000" in _problem(RentalInput, payload)


def test_unknown_fields_are_refused_not_ignored() -> None:
    """A misspelt field must not silently fall back to a default."""
    message = _problem(RentalInput, RENTAL | {"purchase_prize": "1"})
    assert message.startswith("purchase_prize: ")
    assert "not permitted" in message


def test_section8_allowance_must_be_below_the_standard() -> None:
    message = _problem(
        Section8Input,
        {
            "rental": RENTAL,
            "bedrooms": 3,
            "payment_standard_monthly": "100",
            "utility_allowance_monthly": "150",
        },
    )
    assert "utility_allowance_monthly 150 must be less than payment_standard_monthly 100" in message


def test_wholesale_end_buyer_target_needs_their_flip() -> None:
    payload = {
        "arv": "200000",
        "rehab_cost": "40000",
        "assignment_fee": "10000",
        "end_buyer_target_profit": "25000",
    }
    assert "give end_buyer_flip and end_buyer_target_profit together" in _problem(
        WholesaleInput, payload
    )


def test_offer_target_needs_the_matching_deal() -> None:
    message = _problem(
        OfferSolveInput, {"target": "flip_profit", "target_value": "30000", "rental": RENTAL}
    )
    assert "target flip_profit needs the flip inputs in 'flip'" in message


def test_analyze_by_strategy_validates_and_runs() -> None:
    """The dispatcher the deal service uses: a JSON-ish payload in, a typed result out."""
    result = service.analyze(strategy=UnderwritingStrategy.flip, payload=FLIP)
    assert result.model_dump()["max_offer_by_rule"] == D("100000.00")
    assert service.input_model_for(UnderwritingStrategy.section8) is Section8Input
    with pytest.raises(ValidationError):
        service.analyze(strategy=UnderwritingStrategy.rental, payload=FLIP)


def test_results_serialise_to_json_with_their_inputs() -> None:
    """What the API returns: money as strings with cents, the inputs echoed, formulas listed."""
    result = service.analyze(strategy=UnderwritingStrategy.rental, payload=RENTAL)
    body = json.loads(result.model_dump_json())
    assert body["inputs"]["purchase_price"] == "150000"
    assert body["noi_annual"] == "17100.00"  # no expenses given: NOI = EGI
    assert body["loan_schedule_annual"][0]["year"] == 1
    assert all(isinstance(line, str) for line in body["formulas"])
