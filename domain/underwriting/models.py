"""Typed inputs and results of the underwriting calculations.

Conventions (they hold for every model here):

- **Money** is ``Decimal`` with at most two decimal places and never negative; results are
  rounded half-up to cents.
- **Rates and shares are percentages**: ``7.5`` means 7.5 %, ``70`` means 70 %. Every field
  holding one ends in ``_pct`` and must lie between 0 and 100 (growth rates between −99 and
  100), so a fraction such as ``0.075`` is read as 0.075 %, never silently as 7.5 %; a rate
  written as ``750`` is refused. Percentages in results are rounded to two decimal places.
- **Periods** are whole months (``_months``) or years (``_years``) within stated bounds.
- Inputs refuse unknown fields, so a misspelt field name is an error rather than a default.
- Every result echoes its validated inputs (``inputs``) and lists the formulas and assumptions
  that produced it, with the figures filled in (``formulas``), so each number can be explained.
- A return on zero or negative cash invested is infinite: the percentage is ``None`` and
  ``infinite_return`` is ``True`` (JSON has no ∞).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from domain.underwriting.amortization import AnnualRow, MonthlyRow, to_cents

ZERO = Decimal("0")


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative (got {value})")
    return value


def _percentage(value: Decimal) -> Decimal:
    if value < 0 or value > 100:
        raise ValueError(f"must be a percentage from 0 to 100, where 7.5 means 7.5 % (got {value})")
    return value


def _growth_percentage(value: Decimal) -> Decimal:
    if value < -99 or value > 100:
        raise ValueError(
            f"must be a yearly percentage change from -99 to 100, where 3 means +3 % a year "
            f"(got {value})"
        )
    return value


Money = Annotated[
    Decimal,
    Field(max_digits=14, decimal_places=2, json_schema_extra={"minimum": 0}),
    AfterValidator(_not_negative),
]
"""Dollars and cents, not negative."""

Percent = Annotated[
    Decimal, Field(json_schema_extra={"minimum": 0, "maximum": 100}), AfterValidator(_percentage)
]
"""A percentage from 0 to 100 (7.5 = 7.5 %)."""

GrowthPercent = Annotated[
    Decimal,
    Field(json_schema_extra={"minimum": -99, "maximum": 100}),
    AfterValidator(_growth_percentage),
]
"""A yearly change in percent from −99 to 100 (3 = +3 % a year)."""

Cents = Annotated[Decimal, AfterValidator(to_cents)]
"""A result amount in dollars, rounded half-up to cents (may be negative)."""


class UnderwritingInput(BaseModel):
    """Base of every input model: frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UnderwritingResult(BaseModel):
    """Base of every result: the formulas and assumptions behind its figures."""

    model_config = ConfigDict(frozen=True)

    formulas: list[str] = Field(description="formulas and assumptions, with the figures used")


class UnderwritingStrategy(StrEnum):
    """Which analysis a deal is underwritten with."""

    flip = "flip"
    rental = "rental"
    brrrr = "brrrr"
    section8 = "section8"
    wholesale = "wholesale"
    projection = "projection"


# --------------------------------------------------------------------------- shared inputs


class HoldingCosts(UnderwritingInput):
    """Monthly carrying costs while the property is held for rehab or resale."""

    property_taxes_monthly: Money = ZERO
    insurance_monthly: Money = ZERO
    utilities_monthly: Money = ZERO
    other_monthly: Money = ZERO
    price_pct_yearly: Percent = Field(
        default=ZERO,
        description="costs that follow the price (property tax, insurance), % of the purchase "
        "price a year: a price solved for (the offer for a target profit) carries its own",
    )

    @property
    def total_monthly(self) -> Decimal:
        """The fixed holding costs for one month (without the share of the price)."""
        return (
            self.property_taxes_monthly
            + self.insurance_monthly
            + self.utilities_monthly
            + self.other_monthly
        )

    def monthly_at(self, price: Decimal) -> Decimal:
        """All holding costs for one month when the purchase price is ``price``."""
        return self.total_monthly + to_cents(price * self.price_pct_yearly / 100 / 12)


class ShortTermLoan(UnderwritingInput):
    """Hard-money or bridge financing: size it by amount, LTV of price, or LTC of price+rehab."""

    loan_amount: Money | None = Field(default=None, description="a fixed loan amount")
    ltv_pct: Percent | None = Field(default=None, description="loan-to-value, % of purchase price")
    ltc_pct: Percent | None = Field(
        default=None, description="loan-to-cost, % of purchase price + rehab"
    )
    points_pct: Percent = Field(default=ZERO, description="origination points, % of the loan")
    annual_rate_pct: Percent
    interest_only: bool = True
    amortization_months: int | None = Field(
        default=None, ge=1, le=480, description="amortization period when not interest-only"
    )

    @model_validator(mode="after")
    def _one_sizing(self) -> ShortTermLoan:
        given = [
            name
            for name in ("loan_amount", "ltv_pct", "ltc_pct")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of loan_amount, ltv_pct or ltc_pct to size the loan "
                f"(got {', '.join(given) or 'none'})"
            )
        if not self.interest_only and self.amortization_months is None:
            raise ValueError("amortization_months is required when the loan is not interest-only")
        return self

    def amount_for(self, *, purchase_price: Decimal, rehab_cost: Decimal) -> Decimal:
        """The loan amount for a given price and rehab (unrounded)."""
        if self.loan_amount is not None:
            return self.loan_amount
        if self.ltv_pct is not None:
            return purchase_price * self.ltv_pct / 100
        assert self.ltc_pct is not None
        return (purchase_price + rehab_cost) * self.ltc_pct / 100


class MortgageLoan(UnderwritingInput):
    """A long-term purchase loan, sized by amount or by LTV of the purchase price."""

    loan_amount: Money | None = None
    ltv_pct: Percent | None = Field(default=None, description="% of purchase price")
    annual_rate_pct: Percent
    term_years: int = Field(default=30, ge=1, le=40)
    interest_only: bool = False
    points_pct: Percent = Field(default=ZERO, description="origination points, % of the loan")

    @model_validator(mode="after")
    def _one_sizing(self) -> MortgageLoan:
        if (self.loan_amount is None) == (self.ltv_pct is None):
            raise ValueError("give exactly one of loan_amount or ltv_pct to size the loan")
        return self

    def amount_for(self, *, purchase_price: Decimal) -> Decimal:
        """The loan amount for a given purchase price (unrounded)."""
        if self.loan_amount is not None:
            return self.loan_amount
        assert self.ltv_pct is not None
        return purchase_price * self.ltv_pct / 100


class RentalOperations(UnderwritingInput):
    """Year-one income and operating expenses of a rental.

    Management is a share of collected income (EGI); maintenance and capex reserves are shares
    of gross scheduled rent; the rest are fixed amounts.
    """

    gross_rent_monthly: Money
    other_income_monthly: Money = ZERO
    vacancy_pct: Percent = ZERO
    property_taxes_annual: Money = ZERO
    insurance_annual: Money = ZERO
    management_pct: Percent = Field(default=ZERO, description="% of effective gross income")
    maintenance_pct: Percent = Field(default=ZERO, description="% of gross scheduled rent")
    capex_reserve_pct: Percent = Field(default=ZERO, description="% of gross scheduled rent")
    utilities_monthly: Money = ZERO
    hoa_monthly: Money = ZERO
    other_expenses_monthly: Money = ZERO


# --------------------------------------------------------------------------- flip


class FlipInput(UnderwritingInput):
    """A fix-and-flip: buy, rehab, hold, sell at the after-repair value."""

    arv: Money = Field(description="after-repair value, the expected sale price")
    purchase_price: Money
    rehab_cost: Money
    buy_closing_cost: Money = Field(default=ZERO, description="fixed buy-side closing costs")
    buy_closing_pct: Percent = Field(default=ZERO, description="buy closing costs, % of price")
    holding_costs: HoldingCosts = HoldingCosts()
    hold_months: int = Field(ge=1, le=60, description="months from purchase to sale")
    agent_commission_pct: Percent = Field(default=ZERO, description="% of the sale price")
    sell_closing_pct: Percent = Field(default=ZERO, description="% of the sale price")
    financing: ShortTermLoan | None = None
    mao_rule_pct: Percent = Field(default=Decimal("70"), description="the '70 % rule' percent")
    target_profit: Money | None = Field(
        default=None, description="solve the highest purchase price that still earns this"
    )

    @model_validator(mode="after")
    def _loan_within_cost(self) -> FlipInput:
        loan = self.financing
        if loan is not None and loan.loan_amount is not None:
            cost = self.purchase_price + self.rehab_cost
            if loan.loan_amount > cost:
                raise ValueError(
                    f"financing.loan_amount {loan.loan_amount} exceeds purchase price + rehab "
                    f"{cost}"
                )
        return self


class FlipResult(UnderwritingResult):
    """Profit and returns of a flip, and the most to offer for it."""

    inputs: FlipInput
    buy_closing_costs: Cents
    holding_costs: Cents
    loan_amount: Cents
    points_cost: Cents
    interest_cost: Cents
    financing_cost: Cents
    selling_costs: Cents
    total_project_cost: Cents
    loan_payoff: Cents
    cash_invested: Cents
    profit: Cents
    roi_pct: Decimal | None = Field(description="profit / cash invested; None when infinite")
    annualized_roi_pct: Decimal | None
    infinite_return: bool
    max_offer_by_rule: Cents
    max_offer_for_target_profit: Cents | None


# --------------------------------------------------------------------------- rental


class RentalInput(UnderwritingInput):
    """A buy-and-hold rental, optionally financed with a mortgage."""

    purchase_price: Money
    buy_closing_cost: Money = ZERO
    buy_closing_pct: Percent = Field(default=ZERO, description="% of purchase price")
    rehab_cost: Money = Field(default=ZERO, description="paid in cash before renting")
    operations: RentalOperations
    loan: MortgageLoan | None = None

    @model_validator(mode="after")
    def _loan_within_price(self) -> RentalInput:
        if self.loan is not None and self.loan.loan_amount is not None:
            if self.loan.loan_amount > self.purchase_price:
                raise ValueError(
                    f"loan.loan_amount {self.loan.loan_amount} exceeds purchase price "
                    f"{self.purchase_price}"
                )
        return self


class OperatingExpenses(BaseModel):
    """Year-one operating expenses, itemised (debt service is not an operating expense)."""

    model_config = ConfigDict(frozen=True)

    property_taxes: Cents
    insurance: Cents
    management: Cents
    maintenance: Cents
    capex_reserve: Cents
    utilities: Cents
    hoa: Cents
    other: Cents
    total: Cents


class RentalResult(UnderwritingResult):
    """Income, NOI, debt service and returns of a rental in its first year."""

    inputs: RentalInput
    gross_scheduled_income_annual: Cents
    vacancy_loss_annual: Cents
    effective_gross_income_annual: Cents
    operating_expenses_annual: OperatingExpenses
    noi_annual: Cents
    cap_rate_pct: Decimal | None
    loan_amount: Cents
    monthly_principal_and_interest: Cents
    annual_debt_service: Cents
    monthly_cash_flow: Cents
    annual_cash_flow: Cents
    cash_invested: Cents
    cash_on_cash_pct: Decimal | None
    infinite_return: bool
    dscr: Decimal | None = Field(description="NOI / annual debt service; None without a loan")
    break_even_occupancy_pct: Decimal | None
    gross_rent_multiplier: Decimal | None
    loan_schedule_annual: list[AnnualRow]


class LoanScheduleInput(UnderwritingInput):
    """A loan to amortize."""

    principal: Money
    annual_rate_pct: Percent
    term_months: int = Field(ge=1, le=480)
    interest_only: bool = False


class AmortizationSchedule(UnderwritingResult):
    """Every monthly payment of a loan, and the same summed by loan year."""

    inputs: LoanScheduleInput
    monthly_payment: Cents
    total_payments: Cents
    total_interest: Cents
    monthly: list[MonthlyRow]
    annual: list[AnnualRow]


# --------------------------------------------------------------------------- BRRRR


class RefinanceTerms(UnderwritingInput):
    """The long-term loan that replaces the short-term one after the rehab."""

    ltv_pct: Percent = Field(description="% of the after-repair value")
    closing_cost: Money = ZERO
    closing_pct: Percent = Field(default=ZERO, description="% of the new loan")
    points_pct: Percent = Field(default=ZERO, description="% of the new loan")
    annual_rate_pct: Percent
    term_years: int = Field(default=30, ge=1, le=40)
    interest_only: bool = False


class BrrrrInput(UnderwritingInput):
    """Buy, rehab (short-term financing), rent, refinance at an LTV of ARV, repeat."""

    purchase_price: Money
    buy_closing_cost: Money = ZERO
    buy_closing_pct: Percent = Field(default=ZERO, description="% of purchase price")
    rehab_cost: Money
    arv: Money = Field(description="after-repair value the refinance appraises at")
    short_term_loan: ShortTermLoan | None = Field(default=None, description="None: all cash")
    holding_costs: HoldingCosts = HoldingCosts()
    refinance_after_months: int = Field(ge=1, le=60)
    refinance: RefinanceTerms
    operations: RentalOperations

    @model_validator(mode="after")
    def _loan_within_cost(self) -> BrrrrInput:
        loan = self.short_term_loan
        if loan is not None and loan.loan_amount is not None:
            cost = self.purchase_price + self.rehab_cost
            if loan.loan_amount > cost:
                raise ValueError(
                    f"short_term_loan.loan_amount {loan.loan_amount} exceeds purchase price + "
                    f"rehab {cost}"
                )
        return self


class BrrrrResult(UnderwritingResult):
    """Cash in, refinance, cash out, cash left in the deal and the returns after the refi."""

    inputs: BrrrrInput
    buy_closing_costs: Cents
    short_term_loan_amount: Cents
    short_term_points_cost: Cents
    short_term_interest_cost: Cents
    holding_costs: Cents
    total_cash_in: Cents
    refinance_loan_amount: Cents
    short_term_payoff: Cents
    refinance_closing_costs: Cents
    cash_out: Cents = Field(description="refi loan − payoff − refi costs; negative: bring cash")
    cash_left_in_deal: Cents = Field(description="total cash in − cash out; ≤ 0: infinite")
    equity_after_refinance: Cents
    noi_annual: Cents
    monthly_principal_and_interest: Cents
    monthly_cash_flow: Cents
    annual_cash_flow: Cents
    dscr: Decimal | None
    cash_on_cash_pct: Decimal | None
    infinite_return: bool


# --------------------------------------------------------------------------- Section 8


class Section8Input(UnderwritingInput):
    """A rental at market rent compared with the Section 8 payment standard."""

    rental: RentalInput = Field(description="the rental at market rent")
    bedrooms: int = Field(ge=0, le=20, description="0-20, as the Section 8 FMR lookup takes")
    payment_standard_monthly: Money = Field(
        description="the housing authority's payment standard (or HUD FMR) for the bedrooms"
    )
    utility_allowance_monthly: Money = Field(
        default=ZERO, description="allowance for tenant-paid utilities, deducted from the rent"
    )
    section8_vacancy_pct: Percent | None = Field(
        default=None, description="vacancy under Section 8; default: the market vacancy"
    )
    payment_standard_source: str | None = Field(
        default=None, max_length=300, description="where the figure came from (FMR year, area)"
    )

    @model_validator(mode="after")
    def _allowance_below_standard(self) -> Section8Input:
        if self.utility_allowance_monthly >= self.payment_standard_monthly:
            raise ValueError(
                f"utility_allowance_monthly {self.utility_allowance_monthly} must be less than "
                f"payment_standard_monthly {self.payment_standard_monthly}"
            )
        return self


class Section8Result(UnderwritingResult):
    """The rental analysed at market rent and at the Section 8 rent, and the difference."""

    inputs: Section8Input
    market_rent_monthly: Cents
    section8_rent_monthly: Cents
    market: RentalResult
    section8: RentalResult
    rent_difference_monthly: Cents = Field(description="Section 8 rent − market rent")
    noi_difference_annual: Cents
    cash_flow_difference_monthly: Cents
    better: Literal["section8", "market", "equal"]


# --------------------------------------------------------------------------- wholesale


class WholesaleInput(UnderwritingInput):
    """A contract assigned to an end buyer for a fee."""

    arv: Money
    rehab_cost: Money = Field(description="the end buyer's rehab estimate")
    assignment_fee: Money = Field(description="the fee we want for the assignment")
    end_buyer_rule_pct: Percent = Field(
        default=Decimal("70"), description="the end buyer's rule (ARV × % − rehab)"
    )
    end_buyer_flip: FlipInput | None = Field(
        default=None,
        description="the end buyer's flip assumptions, to solve their offer for a target profit",
    )
    end_buyer_target_profit: Money | None = None
    contract_price: Money | None = Field(
        default=None, description="our price with the seller, if already known"
    )
    wholesale_costs: Money = Field(default=ZERO, description="our marketing and closing costs")

    @model_validator(mode="after")
    def _consistent_end_buyer(self) -> WholesaleInput:
        if (self.end_buyer_flip is None) != (self.end_buyer_target_profit is None):
            raise ValueError(
                "give end_buyer_flip and end_buyer_target_profit together (or neither, to use "
                "the end buyer's rule)"
            )
        flip = self.end_buyer_flip
        if flip is not None and (flip.arv != self.arv or flip.rehab_cost != self.rehab_cost):
            raise ValueError(
                f"end_buyer_flip has arv {flip.arv} and rehab_cost {flip.rehab_cost}, but the "
                f"wholesale deal has arv {self.arv} and rehab_cost {self.rehab_cost}"
            )
        return self


class WholesaleResult(UnderwritingResult):
    """What we can contract at, and what the assignment leaves for us and the end buyer."""

    inputs: WholesaleInput
    end_buyer_max_offer: Cents
    max_contract_price: Cents = Field(description="end buyer's max offer − assignment fee")
    contract_price: Cents
    spread: Cents = Field(description="end buyer's max offer − contract price")
    assignment_fee: Cents
    net_fee: Cents = Field(description="assignment fee − our wholesale costs")
    end_buyer_headroom: Cents = Field(description="spread − fee; negative: the buyer walks")
    deal_works: bool


# --------------------------------------------------------------------------- projection


class ProjectionInput(UnderwritingInput):
    """A rental held for several years and sold at the end."""

    purchase_price: Money
    buy_closing_cost: Money = ZERO
    buy_closing_pct: Percent = Field(default=ZERO, description="% of purchase price")
    rehab_cost: Money = ZERO
    starting_value: Money | None = Field(
        default=None, description="value at the start (e.g. ARV); default the purchase price"
    )
    operations: RentalOperations
    loan: MortgageLoan | None = None
    rent_growth_pct: GrowthPercent = ZERO
    expense_growth_pct: GrowthPercent = ZERO
    appreciation_pct: GrowthPercent = ZERO
    hold_years: int = Field(ge=1, le=50)
    agent_commission_pct: Percent = Field(default=ZERO, description="% of the sale price")
    sell_closing_pct: Percent = Field(default=ZERO, description="% of the sale price")

    @model_validator(mode="after")
    def _loan_within_price(self) -> ProjectionInput:
        if self.loan is not None and self.loan.loan_amount is not None:
            if self.loan.loan_amount > self.purchase_price:
                raise ValueError(
                    f"loan.loan_amount {self.loan.loan_amount} exceeds purchase price "
                    f"{self.purchase_price}"
                )
        return self


class ProjectionYear(BaseModel):
    """One year of a hold: income, expenses, debt, cash flow and equity at its end."""

    model_config = ConfigDict(frozen=True)

    year: int
    gross_scheduled_income: Cents
    vacancy_loss: Cents
    effective_gross_income: Cents
    operating_expenses: Cents
    noi: Cents
    debt_service: Cents
    cash_flow: Cents
    loan_balance: Cents
    property_value: Cents
    equity: Cents


class ProjectionResult(UnderwritingResult):
    """Yearly cash flows of a hold, the sale at the end, IRR and equity multiple."""

    inputs: ProjectionInput
    cash_invested: Cents
    years: list[ProjectionYear]
    sale_price: Cents
    selling_costs: Cents
    loan_payoff: Cents
    net_sale_proceeds: Cents
    total_cash_flow: Cents
    total_profit: Cents = Field(description="cash flows + net sale proceeds − cash invested")
    equity_multiple: Decimal | None
    irr_pct: Decimal | None = Field(description="yearly IRR; None when undefined (see formulas)")
    cash_flows: list[Cents] = Field(description="year 0 (−cash invested) … year N with sale")


# --------------------------------------------------------------------------- offer solving


class OfferTarget(StrEnum):
    """What an offer price is solved to achieve."""

    monthly_cash_flow = "monthly_cash_flow"
    cash_on_cash = "cash_on_cash"
    flip_profit = "flip_profit"


class OfferSolveInput(UnderwritingInput):
    """Find the highest purchase price that still meets a target.

    The purchase price inside ``rental`` or ``flip`` is ignored: it is what is solved for.
    """

    target: OfferTarget
    target_value: Decimal = Field(
        description="dollars a month (cash flow), percent (cash-on-cash) or dollars (profit)"
    )
    rental: RentalInput | None = None
    flip: FlipInput | None = None
    max_price: Money | None = Field(
        default=None, description="search ceiling; default ARV (flip) or 100 × annual income"
    )

    @model_validator(mode="after")
    def _matching_deal(self) -> OfferSolveInput:
        if self.target is OfferTarget.flip_profit:
            if self.flip is None:
                raise ValueError("target flip_profit needs the flip inputs in 'flip'")
        elif self.rental is None:
            raise ValueError(f"target {self.target.value} needs the rental inputs in 'rental'")
        return self


class OfferSolution(UnderwritingResult):
    """The highest offer that meets the target, and the analysis at that price."""

    inputs: OfferSolveInput
    offer_price: Cents
    achieved_value: Decimal | None = Field(description="the target metric at the offer price")
    analysis: FlipResult | RentalResult
