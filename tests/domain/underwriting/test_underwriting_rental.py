"""Rental, BRRRR, Section 8 and wholesale underwriting on worked examples."""

from __future__ import annotations

from decimal import Decimal

import numpy_financial as npf

from domain.underwriting import service
from domain.underwriting.models import (
    BrrrrInput,
    FlipInput,
    HoldingCosts,
    MortgageLoan,
    RefinanceTerms,
    RentalInput,
    RentalOperations,
    Section8Input,
    ShortTermLoan,
    WholesaleInput,
)

D = Decimal

OPERATIONS = RentalOperations(
    gross_rent_monthly=D("1500"),
    vacancy_pct=D("5"),
    property_taxes_annual=D("2400"),
    insurance_annual=D("1200"),
    management_pct=D("8"),
    maintenance_pct=D("5"),
    capex_reserve_pct=D("5"),
)


def _rental(**changes: object) -> RentalInput:
    """Price 150,000 + 4,500 closing; 75 % LTV at 7 % over 30 years; OPERATIONS above."""
    fields: dict[str, object] = {
        "purchase_price": D("150000"),
        "buy_closing_cost": D("4500"),
        "operations": OPERATIONS,
        "loan": MortgageLoan(ltv_pct=D("75"), annual_rate_pct=D("7"), term_years=30),
    }
    fields.update(changes)
    return RentalInput.model_validate(fields)


def test_rental_worked_example() -> None:
    """By hand:

    GSI 1,500 × 12 = 18,000; vacancy 5 % = 900; EGI 17,100;
    expenses: taxes 2,400 + insurance 1,200 + management 8 % × 17,100 = 1,368
      + maintenance 5 % × 18,000 = 900 + capex 5 % × 18,000 = 900 → 6,768;
    NOI 17,100 − 6,768 = 10,332; cap rate 10,332 / 150,000 = 6.89 %;
    loan 112,500; P&I at 7 %/30 yr = 748.47 (numpy pmt 748.4653); debt service 8,981.64;
    cash flow 10,332 − 8,981.64 = 1,350.36 a year, 861.00 − 748.47 = 112.53 a month;
    cash invested 37,500 + 4,500 = 42,000; cash-on-cash 1,350.36 / 42,000 = 3.22 %;
    DSCR 10,332 / 8,981.64 = 1.15;
    break-even occupancy (6,768 − 1,368 + 8,981.64) / (18,000 × 0.92) = 86.85 %;
    GRM 150,000 / 18,000 = 8.33.
    """
    result = service.analyze_rental(inputs=_rental())
    assert result.gross_scheduled_income_annual == D("18000.00")
    assert result.vacancy_loss_annual == D("900.00")
    assert result.effective_gross_income_annual == D("17100.00")
    expenses = result.operating_expenses_annual
    assert (expenses.management, expenses.maintenance, expenses.capex_reserve) == (
        D("1368.00"),
        D("900.00"),
        D("900.00"),
    )
    assert expenses.total == D("6768.00")
    assert result.noi_annual == D("10332.00")
    assert result.cap_rate_pct == D("6.89")
    assert result.loan_amount == D("112500.00")
    assert result.monthly_principal_and_interest == D("748.47")
    assert (
        abs(float(result.monthly_principal_and_interest) + npf.pmt(0.07 / 12, 360, 112500)) < 0.005
    )
    assert result.annual_debt_service == D("8981.64")
    assert result.annual_cash_flow == D("1350.36")
    assert result.monthly_cash_flow == D("112.53")
    assert result.cash_invested == D("42000.00")
    assert result.cash_on_cash_pct == D("3.22")
    assert result.dscr == D("1.15")
    assert result.break_even_occupancy_pct == D("86.85")
    assert result.gross_rent_multiplier == D("8.33")
    assert len(result.loan_schedule_annual) == 30
    assert result.loan_schedule_annual[-1].ending_balance == 0
    assert result.inputs == _rental()


def test_break_even_occupancy_really_breaks_even() -> None:
    """At the reported break-even occupancy (vacancy = 100 − it), the cash flow is ~0."""
    base = service.analyze_rental(inputs=_rental())
    assert base.break_even_occupancy_pct is not None
    at_break_even = service.analyze_rental(
        inputs=_rental(
            operations=OPERATIONS.model_copy(
                update={"vacancy_pct": D("100") - base.break_even_occupancy_pct}
            )
        )
    )
    # Occupancy is rounded to 0.01 %, worth at most 0.005 % × 18,000 × 0.92 = 0.83 a year.
    assert abs(at_break_even.annual_cash_flow) <= D("0.83")


def test_cash_rental_has_no_debt_figures() -> None:
    """All cash: cash flow = NOI = 10,332; cash invested 154,500; CoC 6.69 %; no DSCR."""
    result = service.analyze_rental(inputs=_rental(loan=None))
    assert result.annual_debt_service == 0
    assert result.annual_cash_flow == D("10332.00")
    assert result.cash_invested == D("154500.00")
    assert result.cash_on_cash_pct == D("6.69")
    assert result.dscr is None
    assert result.loan_schedule_annual == []
    assert any("no loan" in line for line in result.formulas)


def test_brrrr_worked_example() -> None:
    """By hand:

    price 80,000 + closing 2,000 + rehab 40,000; hard money 90 % LTC = 108,000, 2 points =
    2,160, 12 % interest-only 1,080 × 6 = 6,480; holding 300 × 6 = 1,800;
    total cash in = 80,000 + 2,000 + 40,000 + 1,800 + 2,160 + 6,480 − 108,000 = 24,440;
    refinance 75 % × ARV 180,000 = 135,000; costs 3,000; cash out 135,000 − 108,000 − 3,000
    = 24,000; cash left 24,440 − 24,000 = 440;
    NOI 10,332 (the rental above); P&I on 135,000 at 7 % = 898.16; cash flow 10,332 −
    10,777.92 = −445.92 a year; cash-on-cash −445.92 / 440 = −101.35 %.
    """
    result = service.analyze_brrrr(
        inputs=BrrrrInput(
            purchase_price=D("80000"),
            buy_closing_cost=D("2000"),
            rehab_cost=D("40000"),
            arv=D("180000"),
            short_term_loan=ShortTermLoan(
                ltc_pct=D("90"), points_pct=D("2"), annual_rate_pct=D("12")
            ),
            holding_costs=HoldingCosts(property_taxes_monthly=D("200"), insurance_monthly=D("100")),
            refinance_after_months=6,
            refinance=RefinanceTerms(
                ltv_pct=D("75"), closing_cost=D("3000"), annual_rate_pct=D("7")
            ),
            operations=OPERATIONS,
        )
    )
    assert result.short_term_loan_amount == D("108000.00")
    assert result.short_term_points_cost == D("2160.00")
    assert result.short_term_interest_cost == D("6480.00")
    assert result.holding_costs == D("1800.00")
    assert result.total_cash_in == D("24440.00")
    assert result.refinance_loan_amount == D("135000.00")
    assert result.short_term_payoff == D("108000.00")
    assert result.cash_out == D("24000.00")
    assert result.cash_left_in_deal == D("440.00")
    assert result.equity_after_refinance == D("45000.00")
    assert result.monthly_principal_and_interest == D("898.16")
    assert result.annual_cash_flow == D("-445.92")
    assert result.cash_on_cash_pct == D("-101.35")
    assert result.dscr == D("0.96")
    assert result.infinite_return is False


def test_brrrr_pulling_out_more_than_went_in_is_an_infinite_return() -> None:
    """All cash: 70,000 + 2,000 closing + 30,000 rehab = 102,000 in. Refinance at 75 % of ARV
    160,000 = 120,000, less 3,000 costs, pays out 117,000: 15,000 more than went in, so the cash
    left in the deal is −15,000 and the cash-on-cash return is infinite.
    Post-refi P&I on 120,000 at 7 % = 798.36; cash flow 10,332 − 9,580.32 = 751.68 a year."""
    result = service.analyze_brrrr(
        inputs=BrrrrInput(
            purchase_price=D("70000"),
            buy_closing_cost=D("2000"),
            rehab_cost=D("30000"),
            arv=D("160000"),
            refinance_after_months=6,
            refinance=RefinanceTerms(
                ltv_pct=D("75"), closing_cost=D("3000"), annual_rate_pct=D("7")
            ),
            operations=OPERATIONS,
        )
    )
    assert result.total_cash_in == D("102000.00")
    assert result.cash_out == D("117000.00")
    assert result.cash_left_in_deal == D("-15000.00")
    assert result.monthly_principal_and_interest == D("798.36")
    assert result.annual_cash_flow == D("751.68")
    assert result.cash_on_cash_pct is None
    assert result.infinite_return is True
    assert any("infinite" in line for line in result.formulas)
    assert '"cash_on_cash_pct":null' in result.model_dump_json()


def test_section8_compares_payment_standard_with_market_rent() -> None:
    """Payment standard 1,650 − utility allowance 50 = 1,600 vs market 1,500: +100 a month.

    NOI at 1,600: GSI 19,200, vacancy 960, EGI 18,240, management 1,459.20, maintenance and
    capex 960 each, taxes + insurance 3,600 → expenses 6,979.20, NOI 11,260.80, 928.80 more
    than at market; monthly cash flow 938.40 − 748.47 = 189.93 vs 112.53: +77.40.
    """
    result = service.analyze_section8(
        inputs=Section8Input(
            rental=_rental(),
            bedrooms=3,
            payment_standard_monthly=D("1650"),
            utility_allowance_monthly=D("50"),
            payment_standard_source="HUD FY2025 FMR, Wayne County MI",
        )
    )
    assert result.section8_rent_monthly == D("1600.00")
    assert result.rent_difference_monthly == D("100.00")
    assert result.market.noi_annual == D("10332.00")
    assert result.section8.noi_annual == D("11260.80")
    assert result.noi_difference_annual == D("928.80")
    assert result.section8.monthly_cash_flow == D("189.93")
    assert result.cash_flow_difference_monthly == D("77.40")
    assert result.better == "section8"
    assert "HUD FY2025 FMR" in result.formulas[0]
    # Above market: the reader is told the housing authority may approve less.
    assert result.formulas[-1].startswith("the Section 8 rent is 100.00 a month above market rent")
    assert "rent reasonableness" in result.formulas[-1]


def test_section8_below_market_and_own_vacancy() -> None:
    """A 1,400 standard with 2 % vacancy vs 1,500 at 5 %: market still wins."""
    result = service.analyze_section8(
        inputs=Section8Input(
            rental=_rental(),
            bedrooms=2,
            payment_standard_monthly=D("1400"),
            section8_vacancy_pct=D("2"),
        )
    )
    assert result.section8.inputs.operations.vacancy_pct == D("2")
    assert result.section8.vacancy_loss_annual == D("336.00")  # 2 % × 16,800
    assert result.better == "market"
    assert result.cash_flow_difference_monthly < 0
    assert not any("rent reasonableness" in line for line in result.formulas)


def test_wholesale_by_the_end_buyers_rule() -> None:
    """End buyer's MAO 200,000 × 70 % − 40,000 = 100,000; a 10,000 fee allows a contract at up to
    90,000; at 85,000 the spread is 15,000, the buyer keeps 5,000 of headroom; net fee 8,500."""
    base = WholesaleInput(
        arv=D("200000"), rehab_cost=D("40000"), assignment_fee=D("10000"), wholesale_costs=D("1500")
    )
    at_max = service.analyze_wholesale(inputs=base)
    assert at_max.end_buyer_max_offer == D("100000.00")
    assert at_max.max_contract_price == D("90000.00")
    assert at_max.spread == D("10000.00")
    assert at_max.end_buyer_headroom == D("0.00")
    assert at_max.deal_works is True

    contracted = service.analyze_wholesale(
        inputs=base.model_copy(update={"contract_price": D("85000")})
    )
    assert contracted.spread == D("15000.00")
    assert contracted.end_buyer_headroom == D("5000.00")
    assert contracted.net_fee == D("8500.00")
    assert contracted.deal_works is True

    too_dear = service.analyze_wholesale(
        inputs=base.model_copy(update={"contract_price": D("95000")})
    )
    assert too_dear.end_buyer_headroom == D("-5000.00")
    assert too_dear.deal_works is False


def test_wholesale_by_the_end_buyers_target_profit() -> None:
    """The end buyer flips all cash with 6 % selling costs over 4 months and wants 25,000:
    profit = 200,000 − P − 40,000 − 12,000 → P = 123,000; our contract max = 113,000."""
    end_buyer = FlipInput(
        arv=D("200000"),
        purchase_price=D("1"),
        rehab_cost=D("40000"),
        hold_months=4,
        agent_commission_pct=D("5"),
        sell_closing_pct=D("1"),
    )
    result = service.analyze_wholesale(
        inputs=WholesaleInput(
            arv=D("200000"),
            rehab_cost=D("40000"),
            assignment_fee=D("10000"),
            end_buyer_flip=end_buyer,
            end_buyer_target_profit=D("25000"),
        )
    )
    assert result.end_buyer_max_offer == D("123000.00")
    assert result.max_contract_price == D("113000.00")


def test_all_cash_out_with_a_loss_is_undefined_in_the_formula_not_infinite() -> None:
    """Was: "cash-on-cash = annual cash flow / cash left in the deal = ∞" beside "the return
    is undefined" when all the cash came out at the refinance but the rent does not cover
    the new loan."""
    result = service.analyze_brrrr(
        inputs=BrrrrInput(
            purchase_price=D("70000"),
            buy_closing_cost=D("2000"),
            rehab_cost=D("30000"),
            arv=D("160000"),
            refinance_after_months=6,
            refinance=RefinanceTerms(
                ltv_pct=D("75"), closing_cost=D("3000"), annual_rate_pct=D("14")
            ),
            operations=OPERATIONS,
        )
    )
    assert result.cash_left_in_deal < 0 and result.annual_cash_flow < 0
    assert result.cash_on_cash_pct is None and result.infinite_return is False
    line = next(f for f in result.formulas if f.startswith("cash-on-cash"))
    assert line.endswith("= undefined"), line
