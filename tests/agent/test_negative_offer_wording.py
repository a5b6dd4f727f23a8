"""A deal where no price works reads "no offer works (...)", not "Max offer no offer works"."""

from __future__ import annotations

from agent.planner import _address_reply


def _result(max_offer: str) -> dict[str, str]:
    return {
        "address": "1 Test St, Ames, IA",
        "headline": "pass",
        "as_is_value": "$100,000",
        "arv": "$110,000",
        "rehab_total": "$90,000",
        "max_offer": max_offer,
        "rent": "$1,000",
        "fmr": "$1,000",
        "payment_standard": "$1,000",
        "rental_cash_flow_monthly": "-$50",
        "flip_profit": "-$20,000",
    }


def test_a_negative_offer_says_no_offer_works() -> None:
    text = "no offer works (ARV $110,000 x 70% - rehab $90,000 = -$13,000)"
    reply = _address_reply(_result(text))
    assert f"Rehab $90,000 · {text}" in reply and "Max offer no offer" not in reply
    assert "Rehab $90,000 · Max offer $40,000" in _address_reply(_result("$40,000"))
