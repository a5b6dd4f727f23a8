"""Flip underwriting: costs, profit, ROI, and the most to offer, on worked examples."""

from __future__ import annotations

from decimal import Decimal

import numpy_financial as npf

from domain.underwriting import service
from domain.underwriting.models import FlipInput, HoldingCosts, ShortTermLoan

D = Decimal


def _financed_flip(**changes: object) -> FlipInput:
    """ARV 200,000; price 100,000; rehab 40,000; 2 % buy closing; 450 a month for 6 months;
    6 % selling; a hard-money loan of 80 % of cost at 12 % interest-only with 2 points."""
    fields: dict[str, object] = {
        "arv": D("200000"),
        "purchase_price": D("100000"),
        "rehab_cost": D("40000"),
        "buy_closing_pct": D("2"),
        "holding_costs": HoldingCosts(
            property_taxes_monthly=D("200"), insurance_monthly=D("100"), utilities_monthly=D("150")
        ),
        "hold_months": 6,
        "agent_commission_pct": D("5"),
        "sell_closing_pct": D("1"),
        "financing": ShortTermLoan(ltc_pct=D("80"), points_pct=D("2"), annual_rate_pct=D("12")),
    }
    fields.update(changes)
    return FlipInput.model_validate(fields)


def test_seventy_percent_rule() -> None:
    """ARV 200,000 × 70 % − rehab 40,000 = 100,000."""
    assert service.max_allowable_offer(arv=D("200000"), rehab_cost=D("40000")) == D("100000.00")
    # The rule percent is configurable: 65 % → 130,000 − 40,000 = 90,000.
    assert service.max_allowable_offer(
        arv=D("200000"), rehab_cost=D("40000"), rule_pct=D("65")
    ) == D("90000.00")


def test_financed_flip_worked_example() -> None:
    """By hand:

    buy closing 2 % × 100,000 = 2,000; holding 450 × 6 = 2,700;
    loan 80 % × (100,000 + 40,000) = 112,000; points 2 % = 2,240;
    interest 112,000 × 12 % / 12 = 1,120 a month × 6 = 6,720;
    selling (5 % + 1 %) × 200,000 = 12,000;
    total project cost 100,000 + 2,000 + 40,000 + 2,700 + 2,240 + 6,720 + 12,000 = 165,660;
    profit 200,000 − 165,660 = 34,340;
    cash invested 100,000 + 2,000 + 40,000 + 2,700 + 2,240 + 6,720 − 112,000 = 41,660;
    ROI 34,340 / 41,660 = 82.43 %; annualised (1.82429)^(12/6) − 1 = 232.80 %.
    """
    result = service.analyze_flip(inputs=_financed_flip())
    assert result.buy_closing_costs == D("2000.00")
    assert result.holding_costs == D("2700.00")
    assert result.loan_amount == D("112000.00")
    assert result.points_cost == D("2240.00")
    assert result.interest_cost == D("6720.00")
    assert result.financing_cost == D("8960.00")
    assert result.selling_costs == D("12000.00")
    assert result.total_project_cost == D("165660.00")
    assert result.profit == D("34340.00")
    assert result.cash_invested == D("41660.00")
    assert result.loan_payoff == D("112000.00")
    assert result.roi_pct == D("82.43")
    assert result.annualized_roi_pct == D("232.80")
    assert result.infinite_return is False
    assert result.max_offer_by_rule == D("100000.00")
    assert result.inputs == _financed_flip()
    assert any(
        "profit = ARV 200,000.00" in line and "34,340.00" in line for line in result.formulas
    )


def test_cash_flip_profit_equals_cash_gain() -> None:
    """All cash, no holding or selling costs: ARV 150,000 − 90,000 − 30,000 = 30,000 profit on
    120,000 of cash, 25 % over 12 months, so the annualised ROI is also 25 %."""
    result = service.analyze_flip(
        inputs=FlipInput(
            arv=D("150000"), purchase_price=D("90000"), rehab_cost=D("30000"), hold_months=12
        )
    )
    assert result.profit == D("30000.00")
    assert result.cash_invested == D("120000.00")
    assert result.roi_pct == D("25.00")
    assert result.annualized_roi_pct == D("25.00")
    assert result.loan_amount == 0


def test_max_offer_for_target_profit_includes_price_dependent_costs() -> None:
    """Profit falls by 1.084 per dollar of price: 1 + 2 % closing + 80 % LTC × (2 points + 6 %
    interest). Profit(P) = 200,000 − 40,000 − 2,700 − 12,000 − 0.064 × 40,000 − 1.084 P
    = 142,740 − 1.084 P, so a 30,000 profit allows P = 112,740 / 1.084 = 104,003.69."""
    result = service.analyze_flip(inputs=_financed_flip(target_profit=D("30000")))
    assert result.max_offer_for_target_profit == D("104003.69")
    at_offer = service.analyze_flip(inputs=_financed_flip(purchase_price=D("104003.69")))
    assert at_offer.profit == D("30000.00")
    one_cent_more = service.analyze_flip(inputs=_financed_flip(purchase_price=D("104003.70")))
    assert one_cent_more.profit < D("30000")


def test_unreachable_target_profit_is_reported_not_invented() -> None:
    """Even bought for nothing, the flip above makes 142,740: a 150,000 target has no offer."""
    result = service.analyze_flip(inputs=_financed_flip(target_profit=D("150000")))
    assert result.max_offer_for_target_profit is None
    assert any("unreachable" in line for line in result.formulas)


def test_amortizing_short_term_loan_counts_only_interest_as_cost() -> None:
    """A 100,000 loan at 12 % amortized over 12 months, held 6: the six principal payments are
    the investor's cash (returned at the sale through a smaller payoff), not a cost. numpy's
    ipmt/ppmt for months 1-6 give the interest and principal independently."""
    flip = FlipInput(
        arv=D("200000"),
        purchase_price=D("100000"),
        rehab_cost=D("20000"),
        hold_months=6,
        financing=ShortTermLoan(
            loan_amount=D("100000"),
            annual_rate_pct=D("12"),
            interest_only=False,
            amortization_months=12,
        ),
    )
    result = service.analyze_flip(inputs=flip)
    interest = -sum(npf.ipmt(0.01, month, 12, 100_000) for month in range(1, 7))
    principal = -sum(npf.ppmt(0.01, month, 12, 100_000) for month in range(1, 7))
    assert abs(float(result.interest_cost) - interest) <= 0.05
    assert abs(float(result.loan_payoff) - (100_000 - principal)) <= 0.05
    assert result.profit == D("200000") - D("120000") - result.interest_cost
    # Cash in = price + rehab + all six payments − loan; the principal part comes back at sale.
    principal_paid = D("100000") - result.loan_payoff
    assert result.cash_invested == (
        D("120000") + result.interest_cost + principal_paid - D("100000")
    )


def test_full_financing_with_no_other_costs_is_an_infinite_return() -> None:
    """A 100 % LTC loan at 0 % with no other costs leaves no cash in: the ROI is infinite."""
    result = service.analyze_flip(
        inputs=FlipInput(
            arv=D("150000"),
            purchase_price=D("90000"),
            rehab_cost=D("30000"),
            hold_months=4,
            financing=ShortTermLoan(ltc_pct=D("100"), annual_rate_pct=D("0")),
        )
    )
    assert result.cash_invested == D("0.00")
    assert result.profit == D("30000.00")
    assert result.roi_pct is None
    assert result.annualized_roi_pct is None
    assert result.infinite_return is True
    assert '"roi_pct":null' in result.model_dump_json()


def test_a_loss_on_no_cash_invested_is_undefined_not_infinite() -> None:
    """The same 100 % financing, but the house sells for 110,000 against 120,000 of cost: a
    10,000 loss on no cash is not an infinite return; the ROI is null and flagged finite."""
    result = service.analyze_flip(
        inputs=FlipInput(
            arv=D("110000"),
            purchase_price=D("90000"),
            rehab_cost=D("30000"),
            hold_months=4,
            financing=ShortTermLoan(ltc_pct=D("100"), annual_rate_pct=D("0")),
        )
    )
    assert result.profit == D("-10000.00")
    assert result.roi_pct is None
    assert result.infinite_return is False
    assert any("undefined" in line for line in result.formulas)
