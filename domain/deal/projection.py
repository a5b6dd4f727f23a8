"""Turn a deal plus a few assumptions into underwriting inputs, and name where each came from.

``GET /projections/{dealId}`` and ``service.deal_projection`` use this: the deal supplies its
purchase price and repairs, the property its target rent and bedrooms, the Section 8 table the
payment standard, and ``ProjectionAssumptions`` everything else, each with a documented
default. The figures themselves come from ``domain.underwriting.service``, unchanged: the
result carries the exact input models the underwriting functions were called with, so anyone
can rerun them.

Defaults (all overridable): the property analysis's, read from
``domain.analysis.assumptions.AnalysisAssumptions`` (one place), so a deal's projection and
its analysis (``POST /properties/{id}/analysis`` with the deal, the chat reply, the PDF) give
the same figures for the same inputs:

- every strategy: buy closing costs 2 % of the price; price = the deal's purchase price, else
  the property's list price (``sources`` says which); rehab = the deal's rehab project's
  budget once it has one (the rehab budget of record), else the deal's estimated repairs,
  else the analysis's priced scope (latest walkthrough or photo conditions, else the default
  scope for the condition rating) (``deal_figures``).
- flip, BRRRR, wholesale: ARV = the property's latest stored ARV valuation when ``arv`` is not
  given (``service._arv_source``; ``DealProjection.arv_source`` says which and if stale).
- rental and Section 8: ARV = ``arv`` when given, else the latest stored ARV valuation, else the
  ARV the analysis values from today's comps (``comps_arv``); none when there are no comps, and
  the rental then runs on the price, as the analysis does.
- rent (rental, Section 8's market rent, BRRRR): ``rent_monthly`` when given, else the
  property's target rent, else the analysis's rent (``analysis_rent``: the latest market-rent
  estimate, else the Section 8 maximum contract rent for the bedroom count).
- flip (and BRRRR's rehab period): hold 6 months; property tax 1.5 % and insurance 0.5 % of
  the price a year, utilities $150 a month while held; selling costs 5 % commission + 1 %
  closing; a hard-money loan of 85 % of price + rehab (``short_term_ltc_pct``; 0 for cash, or
  ``short_term_ltv_pct`` to size it on the price alone) at 11 % interest-only, 2 points;
  maximum offer by the 70 % rule and the price for a $25,000 profit.
- rental (and Section 8, BRRRR after the refinance): vacancy 8 %, management 10 %,
  maintenance 8 %, capital reserves 5 %; tax and insurance as above, of the ARV when known
  (else the price); a 30-year loan of 75 % of the price at 7.5 % (``loan_ltv_pct=0`` for
  cash); the multi-year projection holds 5 years at 3 % rent, expense and value growth,
  selling at 5 % + 1 % (a Section 8 deal at the Section 8 rent).
- BRRRR: refinance after 6 months at 75 % of ARV, 7.5 %, 30 years, 2 % closing costs.
- Section 8: the payment standard and utility allowance for the property's bedrooms from the
  FMR table of the property's city and state (``fmr_area`` names another; Detroit's area when
  the property has no city); no utility allowance when the table has none (``sources`` says
  none is on file and $0 is used) or the payment standard is given. FMRs are per unit: a
  two-family building (``Duplex``/``TwoFmCon`` with two kitchens) gets its two units'
  payment standards and allowances added up, its bedrooms split as evenly as possible
  (``voucher_terms``). The market case is compared with the Section 8 rent only when there is
  a market rent (given, the target rent or a market-rent estimate); when the rent is the
  voucher's own maximum the formulas say there is nothing to compare
  (``without_market_comparison``).
- a figure given as a query parameter is "as given" in ``sources``.
- wholesale: a $10,000 assignment fee against the end buyer's 70 % rule; our contract price
  is the deal's purchase price.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
)
from sqlmodel import Session

from core.money import MoneyOut, format_result_inputs
from domain.analysis.assumptions import AnalysisAssumptions, VerdictThresholds
from domain.deal.enums import DealStrategy
from domain.deal.models import Deal
from domain.property.models import Property
from domain.underwriting.models import (
    BrrrrResult,
    FlipResult,
    ProjectionResult,
    RentalResult,
    Section8Result,
    UnderwritingStrategy,
    WholesaleResult,
)

HUNDRED = Decimal("100")
TWELVE = Decimal("12")
AS_GIVEN = "as given"
"""``sources`` of a figure the caller gave as a query parameter (the README's word)."""

# Which underwriting analysis each deal strategy is run with.
STRATEGY_ANALYSIS: dict[DealStrategy, UnderwritingStrategy] = {
    DealStrategy.flip: UnderwritingStrategy.flip,
    DealStrategy.rental: UnderwritingStrategy.rental,
    DealStrategy.brrrr: UnderwritingStrategy.brrrr,
    DealStrategy.wholesale: UnderwritingStrategy.wholesale,
    DealStrategy.section8_rental: UnderwritingStrategy.section8,
}
# Strategies that keep the property and so also get a multi-year hold projection.
HELD_STRATEGIES = frozenset({DealStrategy.rental, DealStrategy.section8_rental})

Pct = Annotated[Decimal, Field(ge=0, le=100)]
"""A percentage from 0 to 100 (7.5 = 7.5 %)."""

# The analysis's defaults: the one place both the analysis and the projection read them from.
_A = AnalysisAssumptions()
_T = VerdictThresholds()


class ProjectionAssumptions(BaseModel):
    """What the projection assumes beyond the deal's own figures (query parameters)."""

    model_config = ConfigDict(extra="forbid")

    strategy: DealStrategy | None = Field(
        default=None, description="analyse as this strategy instead of the deal's own"
    )
    purchase_price: MoneyOut | None = Field(
        default=None, ge=0, description="default: the deal's purchase price"
    )
    rehab_cost: MoneyOut | None = Field(
        default=None, ge=0, description="default: the deal's estimated repairs (else 0)"
    )
    arv: MoneyOut | None = Field(
        default=None, ge=0, description="after-repair value; needed for flip, BRRRR, wholesale"
    )
    buy_closing_pct: Pct = Field(default=_A.buy_closing_pct, description="% of price")
    property_tax_rate_pct: Pct = Field(
        default=_A.property_tax_pct,
        description="yearly property tax, % of price (rented: of the ARV when known)",
    )
    insurance_rate_pct: Pct = Field(
        default=_A.insurance_pct,
        description="yearly insurance, % of price (rented: of the ARV when known)",
    )
    # flip
    hold_months: int = Field(
        default=_A.flip_hold_months, ge=1, le=60, description="flip/rehab months"
    )
    utilities_monthly_while_held: MoneyOut = Field(default=_A.utilities_while_holding_monthly, ge=0)
    agent_commission_pct: Pct = Field(default=_A.agent_commission_pct)
    sell_closing_pct: Pct = Field(default=_A.sell_closing_pct)
    short_term_ltc_pct: Pct = Field(
        default=_A.short_term_ltc_pct,
        description="hard-money loan, % of price + rehab (as the analysis); 0: cash",
    )
    short_term_ltv_pct: Pct | None = Field(
        default=None,
        description="hard-money loan sized on the price alone, % of price; replaces "
        "short_term_ltc_pct when given (0: cash)",
    )
    short_term_rate_pct: Pct = Field(default=_A.short_term_rate_pct)
    short_term_points_pct: Pct = Field(default=_A.short_term_points_pct)
    mao_rule_pct: Pct = Field(default=_A.mao_rule_pct)
    target_profit: MoneyOut | None = Field(
        default=_T.flip_min_profit, ge=0, description="the profit the offer price is solved for"
    )
    # rental
    rent_monthly: MoneyOut | None = Field(
        default=None, ge=0, description="market rent; default: the property's target rent"
    )
    vacancy_pct: Pct = Field(default=_A.vacancy_pct)
    management_pct: Pct = Field(default=_A.management_pct)
    maintenance_pct: Pct = Field(default=_A.maintenance_pct)
    capex_reserve_pct: Pct = Field(default=_A.capex_reserve_pct)
    utilities_monthly: MoneyOut = Field(default=Decimal("0"), ge=0, description="owner-paid")
    loan_ltv_pct: Pct = Field(default=_A.mortgage_ltv_pct, description="0: cash")
    loan_rate_pct: Pct = Field(default=_A.mortgage_rate_pct)
    loan_term_years: int = Field(default=_A.mortgage_term_years, ge=1, le=40)
    hold_years: int = Field(default=_A.projection_years, ge=1, le=50)
    rent_growth_pct: Decimal = Field(default=_A.rent_growth_pct, ge=-99, le=100)
    expense_growth_pct: Decimal = Field(default=_A.expense_growth_pct, ge=-99, le=100)
    appreciation_pct: Decimal = Field(default=_A.appreciation_pct, ge=-99, le=100)
    # BRRRR
    refinance_after_months: int = Field(default=_A.refinance_after_months, ge=1, le=60)
    refinance_ltv_pct: Pct = Field(default=_A.refinance_ltv_pct)
    refinance_rate_pct: Pct = Field(default=_A.refinance_rate_pct)
    refinance_closing_pct: Pct = Field(default=_A.refinance_closing_pct)
    # Section 8
    payment_standard_monthly: MoneyOut | None = Field(
        default=None, ge=0, description="default: the FMR table's for the property's bedrooms"
    )
    utility_allowance_monthly: MoneyOut | None = Field(
        default=None,
        ge=0,
        description="tenant-paid utilities; default: the FMR table's allowance (else 0)",
    )
    fmr_area: str | None = Field(default=None, max_length=200)
    # wholesale
    assignment_fee: MoneyOut = Field(default=Decimal("10000"), ge=0)
    end_buyer_rule_pct: Pct = Field(default=_A.mao_rule_pct)
    wholesale_costs: MoneyOut = Field(default=Decimal("0"), ge=0)


class MissingFigureError(ValueError):
    """A figure the analysis needs is neither on the deal nor among the assumptions."""


def _cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to cents."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _share(amount: Decimal, pct: Decimal) -> Decimal:
    """``pct`` percent of ``amount``, in cents."""
    return _cents(amount * pct / HUNDRED)


def _need(value: Decimal | None, name: str, strategy: DealStrategy, hint: str) -> Decimal:
    """``value``, or a clear error saying the analysis needs it and how to give it."""
    if value is None:
        raise MissingFigureError(f"a {strategy.value} projection needs {name}: {hint}")
    return value


def _holding(a: ProjectionAssumptions) -> dict[str, Decimal]:
    """Monthly carrying costs while held for rehab or resale.

    Tax and insurance follow the price, as in the analysis, so the price solved for a target
    profit carries its own.
    """
    return {
        "price_pct_yearly": a.property_tax_rate_pct + a.insurance_rate_pct,
        "utilities_monthly": a.utilities_monthly_while_held,
    }


def _operations(a: ProjectionAssumptions, price: Decimal, rent: Decimal) -> dict[str, Any]:
    """A year of renting the property.

    Tax and insurance are of the renovated house (the ARV) when known, else of the price, as
    in the analysis.
    """
    value = a.arv if a.arv is not None else price
    return {
        "gross_rent_monthly": rent,
        "vacancy_pct": a.vacancy_pct,
        "property_taxes_annual": _share(value, a.property_tax_rate_pct),
        "insurance_annual": _share(value, a.insurance_rate_pct),
        "management_pct": a.management_pct,
        "maintenance_pct": a.maintenance_pct,
        "capex_reserve_pct": a.capex_reserve_pct,
        "utilities_monthly": a.utilities_monthly,
    }


def _loan(a: ProjectionAssumptions) -> dict[str, Any] | None:
    """The long-term purchase loan, or None for cash."""
    if a.loan_ltv_pct == 0:
        return None
    return {
        "ltv_pct": a.loan_ltv_pct,
        "annual_rate_pct": a.loan_rate_pct,
        "term_years": a.loan_term_years,
    }


def _short_term(a: ProjectionAssumptions) -> dict[str, Any] | None:
    """Hard-money financing for a flip or a BRRRR's rehab, or None for cash.

    Sized like the analysis's loan (``short_term_ltc_pct`` of price + rehab) unless
    ``short_term_ltv_pct`` is given (% of the price); either at 0 is cash.
    """
    sizing = (
        {"ltv_pct": a.short_term_ltv_pct}
        if a.short_term_ltv_pct is not None
        else {"ltc_pct": a.short_term_ltc_pct}
    )
    if next(iter(sizing.values())) == 0:
        return None
    return {
        **sizing,
        "annual_rate_pct": a.short_term_rate_pct,
        "points_pct": a.short_term_points_pct,
        "interest_only": True,
    }


@dataclass(frozen=True)
class DealFigures:
    """A deal's price and rehab for a projection, and where each came from (``sources``)."""

    price: Decimal | None
    rehab: Decimal
    sources: dict[str, str]


def deal_figures(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal: Deal,
    prop: Property,
    assumptions: ProjectionAssumptions,
) -> DealFigures:
    """The price and rehab a deal is projected with, chosen as its analysis chooses them.

    Price: ``purchase_price`` given, else the deal's, else the property's list price. Rehab:
    ``rehab_cost`` given, else the deal's rehab project's budget once it has one (the rehab
    budget of record), else the deal's estimated repairs, else the analysis's priced scope
    (``analysis_service.priced_rehab``); a scope with unpriced lines raises
    ``MissingFigureError`` saying what to give, as the analysis withholds its figures then.
    """
    sources: dict[str, str] = {}
    price: Decimal | None
    if assumptions.purchase_price is not None:
        price, sources["purchase_price"] = assumptions.purchase_price, AS_GIVEN
    elif deal.purchase_price is not None:
        price, sources["purchase_price"] = deal.purchase_price, "deal.purchase_price"
    elif prop.list_price:
        price = prop.list_price
        sources["purchase_price"] = "property.list_price (no price on the deal)"
    else:
        price, sources["purchase_price"] = None, "deal.purchase_price"
    # Late import: construction imports the analysis service, which imports the deal service.
    from domain.construction import service as construction_service

    project = construction_service.rehab_budget_of_record(
        session=session, org_id=org_id, deal_id=deal.id
    )
    if assumptions.rehab_cost is not None:
        rehab, sources["rehab_cost"] = assumptions.rehab_cost, AS_GIVEN
    elif project is not None and project.budget is not None:
        # Once the deal's project has a budget, it is the rehab budget of record.
        rehab = Decimal(project.budget)
        sources["rehab_cost"] = (
            f"project.budget (the rehab project's budget, project {project.id}: the rehab"
            " budget of record"
            + (
                f"; the deal's estimated repairs ${Decimal(deal.estimated_repairs):,.2f}"
                if deal.estimated_repairs is not None and Decimal(deal.estimated_repairs) != rehab
                else ""
            )
            + ")"
        )
    elif deal.estimated_repairs is not None:
        rehab, sources["rehab_cost"] = deal.estimated_repairs, "deal.estimated_repairs"
    else:
        # Late import: the analysis service imports the deal service, which imports this.
        from domain.analysis import service as analysis_service

        section = analysis_service.priced_rehab(session=session, org_id=org_id, prop=prop)
        gap = analysis_service.rehab_gap(section.estimate)
        if gap is not None:
            raise MissingFigureError(
                f"no estimated repairs on the deal and {gap[0]}: set the deal's estimated "
                "repairs or pass rehab_cost"
            )
        rehab = section.estimate.total
        sources["rehab_cost"] = f"priced scope: {section.scope_source}"
    return DealFigures(price=price, rehab=rehab, sources=sources)


def analysis_rent(
    *, session: Session, org_id: uuid.UUID, prop: Property
) -> tuple[Decimal | None, str]:
    """The monthly rent the property's analysis runs on, and where it came from.

    The analysis's own rule (``analysis_service.rent_section``, not a copy): the property's
    target rent, else the latest market-rent estimate, else the Section 8 maximum contract
    rent for its bedroom count (the analysis's default bedrooms when none are on file) from
    its FMR area's table. None, with the analysis's reason, when none exists.
    """
    # Late import: the analysis service imports the deal service, which imports this.
    from domain.analysis import service as analysis_service

    section = analysis_service.rent_section(
        session=session, org_id=org_id, prop=prop, assumptions=_A, notes=[]
    )
    return section.rent_monthly, f"the analysis's rent: {section.rent_source}"


VOUCHER_RENT_SOURCE = "the analysis's rent: Section 8 maximum contract rent"
"""How ``analysis_rent``'s source starts when the rent is the voucher's maximum itself."""


@dataclass(frozen=True)
class VoucherTerms:
    """A property's Section 8 payment standard and utility allowance, and where each came from."""

    payment_standard: Decimal
    utility_allowance: Decimal
    payment_source: str
    allowance_source: str


def voucher_terms(
    *, session: Session, org_id: uuid.UUID, prop: Property, bedrooms: int, area: str | None
) -> VoucherTerms:
    """The payment standard and utility allowance a Section 8 projection runs on.

    From the FMR table of ``area``, else of the property's city and state (Detroit's only for
    a property without a city). FMRs are per unit: a two-family building's two units are
    added up (``section8_service.building_units``). With no allowance on file the allowance is
    $0 and its source says so (it is not the table's). Raises the Section 8 service's
    ``LookupError``/``ValueError`` subclasses when there is no table to use.
    """
    from domain.section8 import service as section8_service

    if area is None and prop.city:
        area = section8_service.area_for_place(
            session=session, org_id=org_id, city=prop.city, state=prop.state
        )
    units, units_note = section8_service.building_units(prop, bedrooms)
    found = section8_service.units_rent_analysis(
        session=session, org_id=org_id, units=units, units_note=units_note, area=area
    )
    split = (
        f"{bedrooms} bedrooms"
        if len(units) == 1
        else f"{len(units)} units of {' + '.join(str(u) for u in units)} bedrooms (HUD FMRs "
        "are per unit)"
    )
    source = f"FMR table: {found.area}, {found.year}, {split}"
    allowance_source = (
        source
        if found.utility_allowance_on_file
        else f"none on file in the FMR table ({found.area}, {found.year}): $0 used, so the "
        "Section 8 rent is an upper bound; pass utility_allowance_monthly from the housing "
        "authority"
    )
    # An FMR year older than HUD's current fiscal year: the warning goes with the figure (short
    # when the whole would not fit Section8Input's 300-character payment_standard_source).
    payment_source = "; ".join([source, *found.warnings])
    if len(payment_source) > 300:
        payment_source = (
            f"{source}; FMR FY{found.year} is out of date: import the current table with "
            "`dealdesk import fmr`"
        )
    return VoucherTerms(
        payment_standard=found.payment_standard,
        utility_allowance=found.utility_allowance,
        payment_source=payment_source,
        allowance_source=allowance_source,
    )


def without_market_comparison(result: Section8Result) -> Section8Result:
    """A Section 8 result whose "market rent" is the voucher's maximum itself: no comparison.

    With no market-rent estimate, target rent or ``rent_monthly`` the analysis's rent is the
    Section 8 maximum, so "Section 8 vs market" would compare the voucher with itself: the
    formulas say there is no market rent instead (the figures are left as computed).
    """
    market_lines = ("market rent = ", "monthly cash flow: Section 8 ", "the Section 8 rent is ")
    formulas = [f for f in result.formulas if not f.startswith(market_lines)]
    formulas.append(
        "no market rent on file (no market-rent estimate, target rent or rent_monthly): the "
        f"rent {result.market_rent_monthly:,.2f} is the voucher's own maximum, so the Section 8 "
        "rent is not compared with a market rent; pass rent_monthly or record a rent estimate"
    )
    return result.model_copy(update={"formulas": formulas})


def comps_arv(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> ArvSource | None:
    """The ARV the property's analysis values from today's comps; None when it cannot value one.

    The analysis's own valuation (``analysis_service.valued_from_comps``: ARV comps as of
    today, the analysis's comp count), so a rental projected without a stored ARV taxes and
    values the house as its analysis does.
    """
    from domain.analysis import service as analysis_service
    from domain.valuation import service as valuation_service
    from domain.valuation.enums import ValuationKind

    today = valuation_service.today()
    arv, _ = analysis_service.valued_from_comps(
        session=session,
        org_id=org_id,
        property_id=property_id,
        as_of=today,
        max_comps=_A.max_comps,
        kind=ValuationKind.arv,
    )
    if arv is None:
        return None
    return ArvSource(
        source="comps today", value=_cents(arv.value), valuation_date=today, age_days=0
    )


def build_inputs(
    *,
    strategy: DealStrategy,
    assumptions: ProjectionAssumptions,
    price: Decimal | None,
    rehab: Decimal,
    rent: Decimal | None,
    bedrooms: int | None = None,
    payment_standard: Decimal | None = None,
    payment_standard_source: str | None = None,
    utility_allowance: Decimal | None = None,
) -> dict[str, Any]:
    """The underwriting input payload for ``strategy`` (validated by the underwriting models)."""
    a = assumptions
    price = _need(
        price,
        "a purchase price",
        strategy,
        "set it on the deal, pass purchase_price or set the property's list price",
    )
    closing = {"buy_closing_pct": a.buy_closing_pct}
    if strategy == DealStrategy.flip:
        return {
            "arv": _need(a.arv, "an ARV", strategy, "pass arv"),
            "purchase_price": price,
            "rehab_cost": rehab,
            **closing,
            "holding_costs": _holding(a),
            "hold_months": a.hold_months,
            "agent_commission_pct": a.agent_commission_pct,
            "sell_closing_pct": a.sell_closing_pct,
            "financing": _short_term(a),
            "mao_rule_pct": a.mao_rule_pct,
            "target_profit": a.target_profit,
        }
    hint = (
        "set the property's target rent, record a market-rent estimate or pass rent_monthly "
        "(the analysis's Section 8 rent needs the property's FMR area and bedrooms on file)"
    )
    if strategy == DealStrategy.rental:
        rent = _need(rent, "a monthly rent", strategy, hint)
        return {
            "purchase_price": price,
            "rehab_cost": rehab,
            **closing,
            "operations": _operations(a, price, rent),
            "loan": _loan(a),
        }
    if strategy == DealStrategy.section8_rental:
        rent = _need(rent, "a monthly market rent", strategy, hint)
        if bedrooms is None:
            raise MissingFigureError(
                "a section8_rental projection needs the property's bedroom count"
            )
        return {
            "rental": {
                "purchase_price": price,
                "rehab_cost": rehab,
                **closing,
                "operations": _operations(a, price, rent),
                "loan": _loan(a),
            },
            "bedrooms": bedrooms,
            "payment_standard_monthly": _need(
                payment_standard, "a payment standard", strategy, "pass payment_standard_monthly"
            ),
            "utility_allowance_monthly": (
                a.utility_allowance_monthly
                if a.utility_allowance_monthly is not None
                else utility_allowance or Decimal("0")
            ),
            "payment_standard_source": payment_standard_source,
        }
    if strategy == DealStrategy.brrrr:
        rent = _need(rent, "a monthly rent", strategy, hint)
        return {
            "purchase_price": price,
            "rehab_cost": rehab,
            **closing,
            "arv": _need(a.arv, "an ARV", strategy, "pass arv"),
            "short_term_loan": _short_term(a),
            "holding_costs": _holding(a),
            "refinance_after_months": a.refinance_after_months,
            "refinance": {
                "ltv_pct": a.refinance_ltv_pct,
                "annual_rate_pct": a.refinance_rate_pct,
                "term_years": a.loan_term_years,
                "closing_pct": a.refinance_closing_pct,
            },
            "operations": _operations(a, price, rent),
        }
    # wholesale
    return {
        "arv": _need(a.arv, "an ARV", strategy, "pass arv"),
        "rehab_cost": rehab,
        "assignment_fee": a.assignment_fee,
        "end_buyer_rule_pct": a.end_buyer_rule_pct,
        "contract_price": price,
        "wholesale_costs": a.wholesale_costs,
    }


def build_hold_projection(
    *, assumptions: ProjectionAssumptions, rental_inputs: dict[str, Any]
) -> dict[str, Any]:
    """The multi-year hold of a rental (``ProjectionInput`` payload) from its rental inputs."""
    a = assumptions
    return {
        "purchase_price": rental_inputs["purchase_price"],
        "buy_closing_pct": rental_inputs["buy_closing_pct"],
        "rehab_cost": rental_inputs["rehab_cost"],
        "starting_value": a.arv,
        "operations": rental_inputs["operations"],
        "loan": rental_inputs["loan"],
        "rent_growth_pct": a.rent_growth_pct,
        "expense_growth_pct": a.expense_growth_pct,
        "appreciation_pct": a.appreciation_pct,
        "hold_years": a.hold_years,
        "agent_commission_pct": a.agent_commission_pct,
        "sell_closing_pct": a.sell_closing_pct,
    }


class ArvSource(BaseModel):
    """Where a projection's after-repair value came from, and whether it may be out of date."""

    source: Literal["as given", "stored valuation", "comps today"] = Field(
        description="'as given': the caller's ``arv``; 'stored valuation': the property's "
        "latest ARV valuation (``POST /valuations/arv``), used because no ``arv`` was given; "
        "'comps today' (rental and Section 8 only): no ARV stored, so the ARV the property "
        "analysis values from today's comps"
    )
    value: MoneyOut = Field(description="the ARV the projection ran on")
    valuation_id: uuid.UUID | None = Field(
        default=None, description="the stored valuation's id (``GET /valuations/{propertyId}``)"
    )
    valuation_date: dt.date | None = Field(
        default=None,
        description="the stored valuation's value date (its ``as_of``; for 'comps today', today)",
    )
    valued_at: dt.datetime | None = Field(
        default=None, description="when the stored valuation was made"
    )
    age_days: int | None = Field(default=None, description="days from the valuation date to today")
    stale: bool = Field(
        default=False,
        description="true when the stored valuation is older than the staleness limit or was "
        "flagged as due for re-valuation; the projection still uses it",
    )
    stale_reason: str | None = Field(
        default=None, description="why it is stale and how to refresh it"
    )


class DealProjection(BaseModel):
    """A deal underwritten for its strategy, with the inputs and where each figure came from."""

    deal_id: uuid.UUID
    strategy: DealStrategy
    analysis_strategy: UnderwritingStrategy
    assumptions: ProjectionAssumptions = Field(description="the assumptions used")
    sources: dict[str, str] = Field(description="where the deal-specific figures came from")
    analysis: FlipResult | RentalResult | BrrrrResult | Section8Result | WholesaleResult = Field(
        description="the underwriting result; its ``inputs`` are exactly what was analysed"
    )
    projection: ProjectionResult | None = Field(
        default=None,
        description="multi-year hold of rental and Section 8 deals (Section 8 at its own rent)",
    )
    arv_source: ArvSource | None = Field(
        default=None,
        description="where the ARV came from: as given, or the property's latest stored ARV "
        "valuation (id, date, staleness); null when the projection used no ARV",
    )

    @field_serializer("analysis", "projection", mode="wrap", when_used="json")
    def _inputs_money(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        """The underwriting inputs echoed in the result, money with two places."""
        return format_result_inputs(handler(value))
