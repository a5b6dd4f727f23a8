"""Every default a property analysis uses when the property, deal or caller does not say.

One place, so the figures an investor receives can be traced to a stated assumption: the
analysis returns the ``AnalysisAssumptions`` it used (``PropertyAnalysis.assumptions``) and the
report prints them. A caller may override any field (``analyze_property(assumptions=...)``).

Where the figures come from (planning numbers for Midwest single-family rentals; adjust per
market):

- **Purchase price**: the deal's contract price when the analysis is for a deal, else the
  list price, else the as-is value (the house bought at what it is worth today).
- **Rehab**: the deal's estimated repairs when the analysis is for a deal that has them, else
  the priced scope below (a rehab budget the caller gives replaces either).
- **Comps**: ``DEFAULT_MAX_COMPS`` (``domain.valuation.service``) per value, as everywhere.
- **Closing and selling costs**: 2 % of the price to buy; 5 % agent commission plus 1 %
  seller closing costs to sell.
- **Short-term (hard-money) loan** for the flip and the BRRRR rehab: 85 % of price + rehab,
  11 % interest-only, 2 points.
- **Rental mortgage**: 75 % LTV, 7.5 %, 30 years. **BRRRR refinance**: 75 % of ARV, 7.5 %,
  30 years, 2 % closing costs, after 6 months.
- **Operations**: vacancy 8 % of scheduled rent, management 10 % of collected rent,
  maintenance 8 % and capital-expenditure reserve 5 % of scheduled rent.
- **Property tax** 1.5 % and **insurance** 0.5 % of value a year: of the purchase price while
  holding for the rehab, of the ARV (the renovated house) once rented (of the purchase price
  when there is no ARV, which is then also the hold projection's starting value).
- **Rent**: the latest market-rent estimate on the property (``rent_estimate`` market data
  with ``rent_monthly``), else the Section 8 maximum contract rent for the bedroom count
  (payment standard − utility allowance; equal to the payment standard when no allowance is
  on file).
- **Rehab scope**: components given by the caller, else the property's latest walkthrough or
  photo conditions, else a default scope by ``condition_rating`` (``DEFAULT_SCOPES``).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from domain.pricing.enums import Condition
from domain.valuation.service import DEFAULT_MAX_COMPS


class AnalysisAssumptions(BaseModel):
    """The defaults of a property analysis; each is printed in the report's assumptions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buy_closing_pct: Decimal = Field(default=Decimal("2"), description="% of purchase price")
    agent_commission_pct: Decimal = Field(default=Decimal("5"), description="% of sale price")
    sell_closing_pct: Decimal = Field(default=Decimal("1"), description="% of sale price")
    flip_hold_months: int = Field(default=6, ge=1, le=60, description="purchase to sale")
    short_term_ltc_pct: Decimal = Field(
        default=Decimal("85"), description="hard-money loan, % of price + rehab"
    )
    short_term_rate_pct: Decimal = Field(default=Decimal("11"), description="yearly, interest-only")
    short_term_points_pct: Decimal = Field(default=Decimal("2"), description="% of the loan")
    utilities_while_holding_monthly: Decimal = Field(
        default=Decimal("150"), description="dollars a month during the rehab"
    )
    property_tax_pct: Decimal = Field(default=Decimal("1.5"), description="% of value a year")
    insurance_pct: Decimal = Field(default=Decimal("0.5"), description="% of value a year")
    mortgage_ltv_pct: Decimal = Field(default=Decimal("75"), description="rental purchase loan")
    mortgage_rate_pct: Decimal = Field(default=Decimal("7.5"), description="yearly")
    mortgage_term_years: int = Field(default=30, ge=1, le=40)
    vacancy_pct: Decimal = Field(default=Decimal("8"), description="% of scheduled rent")
    management_pct: Decimal = Field(default=Decimal("10"), description="% of collected rent")
    maintenance_pct: Decimal = Field(default=Decimal("8"), description="% of scheduled rent")
    capex_reserve_pct: Decimal = Field(default=Decimal("5"), description="% of scheduled rent")
    refinance_after_months: int = Field(default=6, ge=1, le=60)
    refinance_ltv_pct: Decimal = Field(default=Decimal("75"), description="% of ARV")
    refinance_rate_pct: Decimal = Field(default=Decimal("7.5"), description="yearly")
    refinance_closing_pct: Decimal = Field(default=Decimal("2"), description="% of the new loan")
    projection_years: int = Field(default=5, ge=1, le=30)
    rent_growth_pct: Decimal = Field(default=Decimal("3"), description="yearly")
    expense_growth_pct: Decimal = Field(default=Decimal("3"), description="yearly")
    appreciation_pct: Decimal = Field(default=Decimal("3"), description="yearly")
    mao_rule_pct: Decimal = Field(
        default=Decimal("70"), description="maximum offer = ARV x this % - rehab"
    )
    rehab_contingency_pct: Decimal = Field(default=Decimal("10"), description="% of the subtotal")
    default_bedrooms: int = Field(
        default=3, ge=0, le=20, description="for the Section 8 rent when the property has none"
    )
    # The comp count the AVM benchmark measured (``dealdesk bench avm``): the same one the
    # comps tool, GET /properties/{id}/comps and POST /valuations/arv reconcile, so a value
    # never changes between an analysis and a comps answer because of the count.
    max_comps: int = Field(
        default=DEFAULT_MAX_COMPS, ge=3, le=25, description="comps reconciled per value"
    )

    def describe(self, *, arv_known: bool | None = None) -> list[str]:
        """The assumptions as sentences, for the report and the agent.

        ``arv_known``: whether the analysis described had an ARV. Without one the rental's
        tax and insurance and the projection's starting value are the purchase price, and the
        sentences say so; None (not said) names both.
        """
        if arv_known is None:
            value_basis = "the after-repair value (the purchase price when there is no ARV)"
            start = "the ARV (the purchase price when there is no ARV)"
        elif arv_known:
            value_basis, start = "the after-repair value", "the ARV"
        else:
            value_basis = "the purchase price (no ARV)"
            start = "the purchase price (no ARV)"
        return [
            f"Buy closing costs {self.buy_closing_pct}% of the purchase price; selling costs "
            f"{self.agent_commission_pct}% agent commission + {self.sell_closing_pct}% closing.",
            f"Flip and BRRRR rehab financed by a hard-money loan of {self.short_term_ltc_pct}% "
            f"of price + rehab at {self.short_term_rate_pct}% interest-only, "
            f"{self.short_term_points_pct} points; flip sold after {self.flip_hold_months} "
            "months.",
            f"Holding costs while rehabbing: property tax {self.property_tax_pct}% and "
            f"insurance {self.insurance_pct}% of the purchase price a year, utilities "
            f"${self.utilities_while_holding_monthly:,.0f} a month.",
            f"Rental mortgage {self.mortgage_ltv_pct}% LTV at {self.mortgage_rate_pct}% over "
            f"{self.mortgage_term_years} years; rehab paid in cash.",
            f"Operations: vacancy {self.vacancy_pct}%, management {self.management_pct}% of "
            f"collected rent, maintenance {self.maintenance_pct}% and capex reserve "
            f"{self.capex_reserve_pct}% of scheduled rent; property tax {self.property_tax_pct}% "
            f"and insurance {self.insurance_pct}% of {value_basis} a year.",
            f"BRRRR refinance after {self.refinance_after_months} months at "
            f"{self.refinance_ltv_pct}% of ARV, {self.refinance_rate_pct}% over "
            f"{self.mortgage_term_years} years, closing costs {self.refinance_closing_pct}% of "
            "the new loan.",
            f"{self.projection_years}-year projection: rent and expenses +"
            f"{self.rent_growth_pct}%/{self.expense_growth_pct}% a year, value "
            f"+{self.appreciation_pct}% a year from {start}, sold at the end.",
            f"Maximum offer = ARV x {self.mao_rule_pct}% - rehab (the {self.mao_rule_pct}% "
            f"rule); rehab contingency {self.rehab_contingency_pct}% of the subtotal.",
            "Purchase price: the deal's contract price, else the list price, else the as-is "
            "value. Rehab: the deal's estimated repairs, else the priced scope. Comps: "
            f"{self.max_comps} per value. Rent: the property's target rent, else the latest "
            "market-rent estimate, else the Section 8 maximum contract rent for the bedroom "
            "count (on a Section 8 deal never above that maximum).",
        ]


class VerdictThresholds(BaseModel):
    """The bars a strategy must clear for the verdict to recommend it (all must hold)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flip_min_profit: Decimal = Field(default=Decimal("25000"), description="net profit, dollars")
    flip_min_roi_pct: Decimal = Field(default=Decimal("20"), description="profit / cash invested")
    rental_min_cash_flow_monthly: Decimal = Field(
        default=Decimal("200"), description="after debt service, dollars a month"
    )
    rental_min_cash_on_cash_pct: Decimal = Field(default=Decimal("8"))
    rental_min_dscr: Decimal = Field(default=Decimal("1.20"), description="NOI / debt service")
    brrrr_max_cash_left_pct: Decimal = Field(
        default=Decimal("25"), description="cash left in the deal, % of the cash put in"
    )
    brrrr_min_cash_flow_monthly: Decimal = Field(default=Decimal("100"))
    brrrr_min_dscr: Decimal = Field(default=Decimal("1.20"))

    def describe(self) -> list[str]:
        """The thresholds as sentences, for the report and the agent."""
        return [
            f"Strong flip: profit at least ${self.flip_min_profit:,.0f}, ROI at least "
            f"{self.flip_min_roi_pct}%, and the purchase price at most the maximum offer.",
            f"Rental: cash flow at least ${self.rental_min_cash_flow_monthly:,.0f} a month, "
            f"cash-on-cash at least {self.rental_min_cash_on_cash_pct}%, DSCR at least "
            f"{self.rental_min_dscr}; it fits Section 8 when the rent is also at most the "
            "voucher's maximum contract rent.",
            f"Strong BRRRR: cash left in the deal at most {self.brrrr_max_cash_left_pct}% of "
            f"the cash put in, cash flow after the refinance at least "
            f"${self.brrrr_min_cash_flow_monthly:,.0f} a month, DSCR at least "
            f"{self.brrrr_min_dscr}.",
            "Otherwise: pass. Without an ARV and a rent nothing can be judged: insufficient data.",
        ]


# Rehab scope when no walkthrough or photo conditions exist, by the property's overall
# condition rating (1-10, as in the Ames data: 1 very poor ... 5 average ... 10 excellent).
DEFAULT_SCOPES: dict[str, tuple[tuple[str, Condition], ...]] = {
    "poor (rating 1-4): full rehab, components replaced": (
        ("roof_shingles", Condition.poor),
        ("furnace", Condition.poor),
        ("water_heater", Condition.poor),
        ("electrical_panel", Condition.poor),
        ("kitchen_cabinets", Condition.poor),
        ("countertops", Condition.poor),
        ("kitchen_appliances", Condition.poor),
        ("bath_full_remodel", Condition.poor),
        ("windows", Condition.poor),
        ("flooring_lvp", Condition.poor),
        ("interior_paint", Condition.poor),
        ("drywall_repair", Condition.poor),
        ("dumpster", Condition.poor),
        ("permits", Condition.poor),
    ),
    "average (rating 5-6): cosmetic rehab, systems repaired": (
        ("furnace", Condition.fair),
        ("water_heater", Condition.fair),
        ("kitchen_cabinets", Condition.fair),
        ("bath_tile", Condition.fair),
        ("flooring_lvp", Condition.poor),
        ("interior_paint", Condition.poor),
        ("dumpster", Condition.poor),
    ),
    "good (rating 7-10): make-ready": (
        ("interior_paint", Condition.fair),
        ("landscaping_cleanup", Condition.poor),
    ),
}


def default_scope_name(condition_rating: int | None) -> str:
    """The ``DEFAULT_SCOPES`` key for a condition rating (no rating: the average scope)."""
    names = list(DEFAULT_SCOPES)
    if condition_rating is None:
        return names[1]
    if condition_rating <= 4:
        return names[0]
    if condition_rating <= 6:
        return names[1]
    return names[2]
