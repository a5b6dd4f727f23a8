"""Multi-year hold projections and offer prices solved backwards from a target."""

from __future__ import annotations

from decimal import Decimal

import numpy_financial as npf
import pytest

from domain.underwriting import service
from domain.underwriting.errors import TargetUnreachableError, UnderwritingError
from domain.underwriting.models import (
    FlipInput,
    HoldingCosts,
    MortgageLoan,
    OfferSolveInput,
    OfferTarget,
    ProjectionInput,
    RentalInput,
    RentalOperations,
    ShortTermLoan,
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
RENTAL = RentalInput(
    purchase_price=D("150000"),
    buy_closing_cost=D("4500"),
    operations=OPERATIONS,
    loan=MortgageLoan(ltv_pct=D("75"), annual_rate_pct=D("7"), term_years=30),
)


def test_two_year_cash_hold_worked_example() -> None:
    """By hand: price 100,000 cash; rent 1,000 a month growing 10 % a year; taxes 1,200 flat;
    value +5 % a year; sold after 2 years with 6 % selling costs.

    year 1: income 12,000, NOI 10,800, value 105,000; year 2: income 13,200, NOI 12,000,
    value 110,250; sale 110,250 − 6,615 = 103,635 net.
    cash flows −100,000, 10,800, 115,635; profit 10,800 + 12,000 + 103,635 − 100,000 = 26,435;
    equity multiple 126,435 / 100,000 = 1.26; IRR: 100,000 x² − 10,800 x − 115,635 = 0 with
    x = 1 + r gives r = 13.07 %.
    """
    result = service.project_hold(
        inputs=ProjectionInput(
            purchase_price=D("100000"),
            operations=RentalOperations(
                gross_rent_monthly=D("1000"), property_taxes_annual=D("1200")
            ),
            rent_growth_pct=D("10"),
            appreciation_pct=D("5"),
            hold_years=2,
            agent_commission_pct=D("5"),
            sell_closing_pct=D("1"),
        )
    )
    year1, year2 = result.years
    assert (year1.gross_scheduled_income, year1.noi, year1.property_value) == (
        D("12000.00"),
        D("10800.00"),
        D("105000.00"),
    )
    assert (year2.gross_scheduled_income, year2.noi, year2.property_value) == (
        D("13200.00"),
        D("12000.00"),
        D("110250.00"),
    )
    assert year2.equity == D("110250.00")
    assert result.selling_costs == D("6615.00")
    assert result.net_sale_proceeds == D("103635.00")
    assert result.cash_flows == [D("-100000.00"), D("10800.00"), D("115635.00")]
    assert result.total_profit == D("26435.00")
    assert result.equity_multiple == D("1.26")
    assert result.irr_pct == D("13.07")


def test_leveraged_projection_matches_the_loan_and_numpy_irr() -> None:
    """Ten years of the rental with 3 % rent, 2 % expense and 3 % value growth: each year's debt
    service is twelve 748.47 payments, the balances follow the loan's schedule, and the IRR of
    the reported cash flows is numpy's."""
    result = service.project_hold(
        inputs=ProjectionInput(
            purchase_price=D("150000"),
            buy_closing_cost=D("4500"),
            operations=OPERATIONS,
            loan=MortgageLoan(ltv_pct=D("75"), annual_rate_pct=D("7")),
            rent_growth_pct=D("3"),
            expense_growth_pct=D("2"),
            appreciation_pct=D("3"),
            hold_years=10,
            agent_commission_pct=D("5"),
            sell_closing_pct=D("1"),
        )
    )
    assert result.cash_invested == D("42000.00")
    assert result.years[0].noi == D("10332.00")  # year one is the rental analysis
    assert {y.debt_service for y in result.years} == {D("8981.64")}
    for year in result.years:
        reference = npf.fv(0.07 / 12, 12 * year.year, 748.47, -112500)
        # Interest is rounded to the cent monthly: ≤ 0.005 a month grown over ≤ 120 months at 7 %
        # is under 0.87.
        assert abs(float(year.loan_balance) - reference) <= 0.87
        assert year.equity == year.property_value - year.loan_balance
        assert year.cash_flow == year.noi - year.debt_service
    # Year 2 income is 3 % more: 18,000 × 1.03 = 18,540.
    assert result.years[1].gross_scheduled_income == D("18540.00")
    assert result.sale_price == D("201587.46")  # 150,000 × 1.03^10
    assert result.loan_payoff == result.years[-1].loan_balance
    assert result.irr_pct is not None
    reference_irr = npf.irr([float(c) for c in result.cash_flows]) * 100
    assert float(result.irr_pct) == pytest.approx(reference_irr, abs=0.005)
    assert result.total_profit == (sum(result.cash_flows[1:], D("0")) + result.cash_flows[0])


def test_projection_without_cash_invested_has_no_irr() -> None:
    """A loan of the full price and nothing else paid: nothing invested, so no IRR or multiple."""
    result = service.project_hold(
        inputs=ProjectionInput(
            purchase_price=D("100000"),
            operations=RentalOperations(gross_rent_monthly=D("1000")),
            loan=MortgageLoan(loan_amount=D("100000"), annual_rate_pct=D("6")),
            hold_years=3,
        )
    )
    assert result.cash_invested == D("0.00")
    assert result.irr_pct is None
    assert result.equity_multiple is None
    assert any("cash invested ≤ 0" in line for line in result.formulas)


def test_solve_offer_for_monthly_cash_flow_round_trip() -> None:
    """Cash flow(P) = 861.00 (NOI / 12) − P&I on 75 % of P: 200 a month needs P&I ≤ 661.00.
    The solved price, analysed again, gives 200.00 a month, and one cent more gives less."""
    solution = service.solve_offer_price(
        inputs=OfferSolveInput(
            target=OfferTarget.monthly_cash_flow, target_value=D("200"), rental=RENTAL
        )
    )
    assert solution.offer_price == D("132472.07")
    recomputed = service.analyze_rental(
        inputs=RENTAL.model_copy(update={"purchase_price": solution.offer_price})
    )
    assert abs(recomputed.monthly_cash_flow - D("200")) <= D("0.01")
    assert recomputed.monthly_principal_and_interest == D("661.00")
    assert solution.achieved_value == recomputed.monthly_cash_flow
    one_cent_more = service.analyze_rental(
        inputs=RENTAL.model_copy(update={"purchase_price": solution.offer_price + D("0.01")})
    )
    assert one_cent_more.monthly_cash_flow < D("200")
    assert isinstance(solution.analysis, type(recomputed))
    assert solution.analysis.inputs.purchase_price == solution.offer_price


def test_solve_offer_for_cash_on_cash_round_trip() -> None:
    """A 10 % cash-on-cash target: at the solved price annual cash flow / cash invested is at
    least 10 %, and one cent more drops it below (checked on the reported cent amounts)."""
    solution = service.solve_offer_price(
        inputs=OfferSolveInput(target=OfferTarget.cash_on_cash, target_value=D("10"), rental=RENTAL)
    )

    def exact_cash_on_cash(price: Decimal) -> Decimal:
        result = service.analyze_rental(inputs=RENTAL.model_copy(update={"purchase_price": price}))
        return result.annual_cash_flow / result.cash_invested

    assert exact_cash_on_cash(solution.offer_price) >= D("0.10")
    assert exact_cash_on_cash(solution.offer_price + D("0.01")) < D("0.10")
    assert solution.achieved_value == D("10.00")
    # A lower price than the 150,000 asking (3.22 %) is needed to reach 10 %.
    assert solution.offer_price < D("150000")


def test_solve_offer_for_flip_profit_round_trip() -> None:
    """The flip of the flip tests: 30,000 profit → 104,003.69, profit 30,000.00 at that price."""
    flip = FlipInput(
        arv=D("200000"),
        purchase_price=D("100000"),
        rehab_cost=D("40000"),
        buy_closing_pct=D("2"),
        holding_costs=HoldingCosts(
            property_taxes_monthly=D("200"), insurance_monthly=D("100"), utilities_monthly=D("150")
        ),
        hold_months=6,
        agent_commission_pct=D("5"),
        sell_closing_pct=D("1"),
        financing=ShortTermLoan(ltc_pct=D("80"), points_pct=D("2"), annual_rate_pct=D("12")),
    )
    solution = service.solve_offer_price(
        inputs=OfferSolveInput(target=OfferTarget.flip_profit, target_value=D("30000"), flip=flip)
    )
    assert solution.offer_price == D("104003.69")
    assert solution.achieved_value == D("30000.00")


def test_unreachable_cash_flow_target_says_why() -> None:
    """NOI is 861 a month: no price gives 900 a month, not even 0.00."""
    with pytest.raises(TargetUnreachableError, match="even at a purchase price of 0.00") as caught:
        service.solve_offer_price(
            inputs=OfferSolveInput(
                target=OfferTarget.monthly_cash_flow, target_value=D("900"), rental=RENTAL
            )
        )
    assert "861.00" in str(caught.value)


def test_target_met_at_the_ceiling_asks_for_a_higher_one() -> None:
    """A −1,000 a month 'target' is met at every price up to a 150,000 ceiling."""
    with pytest.raises(UnderwritingError, match="give a higher max_price"):
        service.solve_offer_price(
            inputs=OfferSolveInput(
                target=OfferTarget.monthly_cash_flow,
                target_value=D("-1000"),
                rental=RENTAL,
                max_price=D("150000"),
            )
        )


def test_cash_on_cash_target_on_a_losing_rental_is_unreachable() -> None:
    """Expenses of 20,000 a year against 18,000 of rent: NOI is negative at every price, so no
    price earns 8 % cash-on-cash, and the error says what the return is at 0.00."""
    losing = RENTAL.model_copy(
        update={
            "operations": OPERATIONS.model_copy(update={"property_taxes_annual": D("20000")}),
            "buy_closing_cost": D("0"),
        }
    )
    with pytest.raises(TargetUnreachableError, match="even at a purchase price of 0.00") as caught:
        service.solve_offer_price(
            inputs=OfferSolveInput(
                target=OfferTarget.cash_on_cash, target_value=D("8"), rental=losing
            )
        )
    assert "−∞" in str(caught.value)
