"""The explained opportunity score: pure functions over typed inputs (no database).

A score is 0-100, the weighted share of points each component earns (0 to 1 each):

==================  ======  ==========================================================
component           weight  full points at
==================  ======  ==========================================================
discount_to_value   30      list price 30 % or more below the as-is value
arv_spread          25      ARV - price - rehab at least 35 % of the ARV
rental_cash_flow    15      $400 a month or more after debt service (0 at $0 or less)
section8_fit        10      Section 8 rent at least 1 % of the price a month (0 at 0.5 %)
days_on_market      10      90 days or more on the market (a motivated seller)
price_cuts          10      cut 10 % or more below the original list price
==================  ======  ==========================================================

A component that cannot be computed (no rent for the area, no days on market in the feed)
is left out and the weights of the others are used (``weights_used``); without an as-is value
and an ARV there is no score. Every component keeps its inputs and where they came from.

Two stages use the same components. *Screening* (every listing of a scan) values with the
batch estimates (``domain.market.estimates``) and a simplified rental cash flow. *Underwriting*
(the shortlist) values with the full comps valuation and runs the underwriting service's flip,
rental and BRRRR analyses with the defaults of a property analysis
(``domain.analysis.assumptions``); the opportunity's strategy is the best one that clears the
verdict thresholds (``VerdictThresholds``), else the best one by return, marked as not clearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic_core import to_jsonable_python

from core.money import money_str
from domain.analysis.assumptions import AnalysisAssumptions, VerdictThresholds
from domain.analysis.formatting import dollars
from domain.market.enums import OpportunityStrategy
from domain.underwriting import service as underwriting
from domain.underwriting.models import (
    BrrrrInput,
    BrrrrResult,
    FlipInput,
    FlipResult,
    HoldingCosts,
    MortgageLoan,
    RefinanceTerms,
    RentalInput,
    RentalOperations,
    RentalResult,
    ShortTermLoan,
)

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
TWELVE = Decimal(12)
MAX_STORED_PCT = Decimal("999.99")  # roi_estimate is NUMERIC(5, 2)

WEIGHTS: dict[str, Decimal] = {
    "discount_to_value": Decimal(30),
    "arv_spread": Decimal(25),
    "rental_cash_flow": Decimal(15),
    "section8_fit": Decimal(10),
    "days_on_market": Decimal(10),
    "price_cuts": Decimal(10),
}
FULL_DISCOUNT_PCT = Decimal(30)
FULL_SPREAD_PCT = Decimal(35)
FULL_CASH_FLOW = Decimal(400)
SECTION8_ZERO_PCT = Decimal("0.5")
SECTION8_FULL_PCT = Decimal("1.0")
FULL_DAYS_ON_MARKET = 90
FULL_PRICE_CUT_PCT = Decimal(10)

SCREENING = "screening"
UNDERWRITING = "underwriting"
# A list price of $0 (or less) is "price on request", not a price: nothing is scored from it.
NO_PRICE = "no list price: a listing needs a price above $0 to be scored"


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _whole(value: Decimal) -> Decimal:
    """Whole dollars, rounded half up like ``dollars`` writes them."""
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def _ramp(value: Decimal, full: Decimal, zero: Decimal = Decimal(0)) -> Decimal:
    """Points from 0 (at ``zero`` or below) to 1 (at ``full`` or above), linear between."""
    if value <= zero:
        return Decimal(0)
    if value >= full:
        return Decimal(1)
    return ((value - zero) / (full - zero)).quantize(Decimal("0.0001"))


def clamp_pct(value: Decimal | None) -> Decimal | None:
    """A percentage that fits NUMERIC(5, 2) (larger returns are stored as the cap)."""
    if value is None:
        return None
    return max(-MAX_STORED_PCT, min(MAX_STORED_PCT, _cents(value)))


@dataclass(frozen=True)
class Figure:
    """An amount and where it came from."""

    amount: Decimal
    source: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The figure as JSON (amount as a string keeps it exact)."""
        return {"amount": money_str(self.amount), "source": self.source, "inputs": self.inputs}


@dataclass(frozen=True)
class ListingFacts:
    """What the listing itself says."""

    list_price: Decimal
    original_price: Decimal | None = None
    original_price_source: str | None = None
    days_on_market: int | None = None
    square_feet: int | None = None
    bedrooms: int | None = None


@dataclass(frozen=True)
class ScoreInputs:
    """Everything a score is computed from; a missing figure carries why it is missing."""

    listing: ListingFacts
    as_is: Figure | None = None
    as_is_missing: str | None = None
    arv: Figure | None = None
    arv_missing: str | None = None
    rehab: Figure | None = None
    rehab_missing: str | None = None
    rent: Figure | None = None
    rent_missing: str | None = None
    rent_is_section8: bool = False
    # The area's Section 8 rent for ``section8_fit`` when ``rent`` is another rent (an
    # analysis's): the fit is the area's, whoever supplied the rent for the cash flow.
    section8_rent: Figure | None = None


@dataclass(frozen=True)
class Component:
    """One part of the score: its points (0-1), weight, the figure behind it and its inputs."""

    name: str
    weight: Decimal
    points: Decimal | None
    value: str | None
    explanation: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The component as JSON."""
        return {
            "name": self.name,
            "weight": str(self.weight),
            "points": str(self.points) if self.points is not None else None,
            "contribution": (
                str((self.points * self.weight).quantize(CENT)) if self.points is not None else None
            ),
            "value": self.value,
            "explanation": self.explanation,
            "inputs": self.inputs,
        }


@dataclass
class ScoreResult:
    """The score, its components, and (underwriting stage) the chosen strategy and return."""

    stage: str
    score: Decimal | None
    components: list[Component]
    missing: list[str]
    strategy: OpportunityStrategy | None = None
    roi_pct: Decimal | None = None
    strategy_clears_thresholds: bool | None = None
    underwriting: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """What is stored with the listing and the opportunity (JSON)."""
        used = [c for c in self.components if c.points is not None]
        details = {
            "stage": self.stage,
            "score": str(self.score) if self.score is not None else None,
            "weights_used": str(sum((c.weight for c in used), Decimal(0))),
            "components": [c.to_json() for c in self.components],
            "missing": self.missing,
            "figures": self.figures,
            "strategy": self.strategy.value if self.strategy else None,
            "roi_pct": str(self.roi_pct) if self.roi_pct is not None else None,
            "strategy_clears_thresholds": self.strategy_clears_thresholds,
            "underwriting": self.underwriting,
        }
        # Figures' inputs may hold Decimals and dates from the services: plain JSON here.
        jsonable: dict[str, Any] = to_jsonable_python(details)
        return jsonable


# --- the components ------------------------------------------------------------------------


def _discount(i: ScoreInputs) -> Component:
    weight = WEIGHTS["discount_to_value"]
    if i.as_is is None or i.as_is.amount <= 0:
        return Component("discount_to_value", weight, None, None, i.as_is_missing or "no value")
    value, price = i.as_is.amount, i.listing.list_price
    pct = ((value - price) / value * HUNDRED).quantize(CENT)
    return Component(
        "discount_to_value",
        weight,
        _ramp(pct, FULL_DISCOUNT_PCT),
        f"{pct}%",
        f"list {dollars(price)} vs as-is value {dollars(value)}: {pct}% below (full points at "
        f"{FULL_DISCOUNT_PCT}%)",
        {"list_price": money_str(price), "as_is_value": i.as_is.to_json()},
    )


def _spread(i: ScoreInputs) -> Component:
    weight = WEIGHTS["arv_spread"]
    if i.arv is None or i.arv.amount <= 0:
        return Component("arv_spread", weight, None, None, i.arv_missing or "no ARV")
    rehab = i.rehab.amount if i.rehab is not None else Decimal(0)
    arv, price = i.arv.amount, i.listing.list_price
    spread = _cents(arv - price - rehab)
    pct = (spread / arv * HUNDRED).quantize(CENT)
    note = "" if i.rehab is not None else f" (no rehab estimate: {i.rehab_missing})"
    # The whole-dollar sum of the whole-dollar terms shown, so the sentence adds up.
    shown = dollars(_whole(arv) - _whole(price) - _whole(rehab))
    return Component(
        "arv_spread",
        weight,
        _ramp(pct, FULL_SPREAD_PCT),
        shown,
        f"ARV {dollars(arv)} - price {dollars(price)} - rehab {dollars(rehab)} = {shown}, "
        f"{pct}% of ARV (full points at {FULL_SPREAD_PCT}%){note}",
        {
            "arv": i.arv.to_json(),
            "list_price": money_str(price),
            "rehab": i.rehab.to_json() if i.rehab is not None else None,
            "spread_pct": str(pct),
        },
    )


def screening_cash_flow(
    *, price: Decimal, rent: Decimal, rehab: Decimal, value: Decimal, a: AnalysisAssumptions
) -> tuple[Decimal, list[str]]:
    """A rental's monthly cash flow with the analysis defaults, without the loan schedule."""
    vacancy = rent * a.vacancy_pct / HUNDRED
    collected = rent - vacancy
    management = collected * a.management_pct / HUNDRED
    upkeep = rent * (a.maintenance_pct + a.capex_reserve_pct) / HUNDRED
    tax_insurance = value * (a.property_tax_pct + a.insurance_pct) / HUNDRED / TWELVE
    loan = price * a.mortgage_ltv_pct / HUNDRED
    payment = underwriting.monthly_payment(
        principal=_cents(loan),
        annual_rate_pct=a.mortgage_rate_pct,
        term_months=12 * a.mortgage_term_years,
    )
    cash_flow = _cents(collected - management - upkeep - tax_insurance - payment)
    formulas = [
        f"rent {rent} - vacancy {a.vacancy_pct}% - management {a.management_pct}% of collected "
        f"- maintenance+capex {a.maintenance_pct + a.capex_reserve_pct}% of rent - tax+insurance "
        f"{a.property_tax_pct + a.insurance_pct}%/yr of {_cents(value)} - P&I {payment} on a "
        f"{a.mortgage_ltv_pct}% loan at {a.mortgage_rate_pct}% = {cash_flow}"
    ]
    del rehab  # paid in cash: it changes the cash invested, not the monthly cash flow
    return cash_flow, formulas


def _rental(i: ScoreInputs, rental: RentalResult | None, a: AnalysisAssumptions) -> Component:
    weight = WEIGHTS["rental_cash_flow"]
    if i.rent is None:
        return Component("rental_cash_flow", weight, None, None, i.rent_missing or "no rent")
    price = i.listing.list_price
    if rental is not None:
        cash_flow = rental.monthly_cash_flow
        how = "underwriting service analyze_rental (analysis defaults)"
        formulas = rental.formulas[:6]
    else:
        basis = i.arv.amount if i.arv is not None else price
        rehab = i.rehab.amount if i.rehab is not None else Decimal(0)
        cash_flow, formulas = screening_cash_flow(
            price=price, rent=i.rent.amount, rehab=rehab, value=basis, a=a
        )
        how = "screening estimate (analysis defaults, no loan schedule)"
    return Component(
        "rental_cash_flow",
        weight,
        _ramp(cash_flow, FULL_CASH_FLOW),
        f"{dollars(cash_flow)}/month",
        f"rent {dollars(i.rent.amount)} a month gives {dollars(cash_flow)} a month after debt "
        f"service ({how}; full points at ${FULL_CASH_FLOW})",
        {"rent": i.rent.to_json(), "monthly_cash_flow": money_str(cash_flow), "formulas": formulas},
    )


def _section8(i: ScoreInputs) -> Component:
    weight = WEIGHTS["section8_fit"]
    rent = i.section8_rent or (i.rent if i.rent_is_section8 else None)
    if rent is None:
        why = i.rent_missing or "no Section 8 rent for the area"
        return Component("section8_fit", weight, None, None, why)
    price = i.listing.list_price
    if price <= 0:
        return Component("section8_fit", weight, None, None, NO_PRICE)
    ratio = (rent.amount / price * HUNDRED).quantize(Decimal("0.001"))
    return Component(
        "section8_fit",
        weight,
        _ramp(ratio, SECTION8_FULL_PCT, SECTION8_ZERO_PCT),
        f"{ratio}%",
        f"Section 8 maximum contract rent {dollars(rent.amount)} is {ratio}% of the price a "
        f"month (0 points at {SECTION8_ZERO_PCT}%, full at {SECTION8_FULL_PCT}%)",
        {"rent": rent.to_json(), "list_price": money_str(price)},
    )


def _days(i: ScoreInputs) -> Component:
    weight = WEIGHTS["days_on_market"]
    dom = i.listing.days_on_market
    if dom is None:
        return Component("days_on_market", weight, None, None, "the feed gives no DaysOnMarket")
    return Component(
        "days_on_market",
        weight,
        _ramp(Decimal(dom), Decimal(FULL_DAYS_ON_MARKET)),
        f"{dom} days",
        f"{dom} days on the market (full points at {FULL_DAYS_ON_MARKET}: the longer, the more "
        "room to negotiate)",
        {"days_on_market": dom},
    )


def _cuts(i: ScoreInputs) -> Component:
    weight = WEIGHTS["price_cuts"]
    original, price = i.listing.original_price, i.listing.list_price
    if price <= 0:
        return Component("price_cuts", weight, None, None, NO_PRICE)
    if original is None or original <= 0 or original <= price:
        return Component(
            "price_cuts",
            weight,
            Decimal(0),
            "0%",
            "no price cut" + (f" from {dollars(original)}" if original else ""),
            {
                "original_price": money_str(original) if original else None,
                "list_price": money_str(price),
            },
        )
    pct = ((original - price) / original * HUNDRED).quantize(CENT)
    return Component(
        "price_cuts",
        weight,
        _ramp(pct, FULL_PRICE_CUT_PCT),
        f"{pct}%",
        f"cut from {dollars(original)} ({i.listing.original_price_source}) to {dollars(price)}: "
        f"{pct}% (full points at {FULL_PRICE_CUT_PCT}%)",
        {
            "original_price": money_str(original),
            "list_price": money_str(price),
            "cut_pct": str(pct),
        },
    )


# --- underwriting --------------------------------------------------------------------------


def _holding(price: Decimal, a: AnalysisAssumptions) -> HoldingCosts:
    return HoldingCosts(
        property_taxes_monthly=_cents(price * a.property_tax_pct / HUNDRED / TWELVE),
        insurance_monthly=_cents(price * a.insurance_pct / HUNDRED / TWELVE),
        utilities_monthly=a.utilities_while_holding_monthly,
    )


def _operations(rent: Decimal, value: Decimal, a: AnalysisAssumptions) -> RentalOperations:
    return RentalOperations(
        gross_rent_monthly=_cents(rent),
        vacancy_pct=a.vacancy_pct,
        property_taxes_annual=_cents(value * a.property_tax_pct / HUNDRED),
        insurance_annual=_cents(value * a.insurance_pct / HUNDRED),
        management_pct=a.management_pct,
        maintenance_pct=a.maintenance_pct,
        capex_reserve_pct=a.capex_reserve_pct,
    )


def _short_loan(a: AnalysisAssumptions) -> ShortTermLoan:
    return ShortTermLoan(
        ltc_pct=a.short_term_ltc_pct,
        annual_rate_pct=a.short_term_rate_pct,
        points_pct=a.short_term_points_pct,
    )


def run_underwriting(
    i: ScoreInputs, a: AnalysisAssumptions, t: VerdictThresholds
) -> tuple[FlipResult | None, RentalResult | None, BrrrrResult | None, dict[str, Any]]:
    """Flip, rental and BRRRR from the underwriting service (each only with its inputs)."""
    price = i.listing.list_price
    rehab = i.rehab.amount if i.rehab is not None else Decimal(0)
    arv = i.arv.amount if i.arv is not None else None
    rent = i.rent.amount if i.rent is not None else None
    flip = rental = brrrr = None
    notes: dict[str, Any] = {}
    if arv is not None:
        flip = underwriting.analyze_flip(
            inputs=FlipInput(
                arv=_cents(arv),
                purchase_price=price,
                rehab_cost=_cents(rehab),
                buy_closing_pct=a.buy_closing_pct,
                holding_costs=_holding(price, a),
                hold_months=a.flip_hold_months,
                agent_commission_pct=a.agent_commission_pct,
                sell_closing_pct=a.sell_closing_pct,
                financing=_short_loan(a),
                mao_rule_pct=a.mao_rule_pct,
                target_profit=t.flip_min_profit,
            )
        )
    else:
        notes["flip"] = f"no flip: {i.arv_missing or 'no ARV'}"
    if rent is not None:
        basis = arv if arv is not None else price
        rental = underwriting.analyze_rental(
            inputs=RentalInput(
                purchase_price=price,
                buy_closing_pct=a.buy_closing_pct,
                rehab_cost=_cents(rehab),
                operations=_operations(rent, basis, a),
                loan=MortgageLoan(
                    ltv_pct=a.mortgage_ltv_pct,
                    annual_rate_pct=a.mortgage_rate_pct,
                    term_years=a.mortgage_term_years,
                ),
            )
        )
        if arv is not None:
            brrrr = underwriting.analyze_brrrr(
                inputs=BrrrrInput(
                    purchase_price=price,
                    buy_closing_pct=a.buy_closing_pct,
                    rehab_cost=_cents(rehab),
                    arv=_cents(arv),
                    short_term_loan=_short_loan(a),
                    holding_costs=_holding(price, a),
                    refinance_after_months=a.refinance_after_months,
                    refinance=RefinanceTerms(
                        ltv_pct=a.refinance_ltv_pct,
                        closing_pct=a.refinance_closing_pct,
                        annual_rate_pct=a.refinance_rate_pct,
                        term_years=a.mortgage_term_years,
                    ),
                    operations=_operations(rent, arv, a),
                )
            )
    else:
        notes["rental"] = f"no rental or BRRRR: {i.rent_missing or 'no rent'}"
    return flip, rental, brrrr, notes


def _infinite_or(value: Decimal | None, infinite: bool) -> Decimal | None:
    return MAX_STORED_PCT if infinite else value


def choose_strategy(
    flip: FlipResult | None,
    rental: RentalResult | None,
    brrrr: BrrrrResult | None,
    t: VerdictThresholds,
) -> tuple[OpportunityStrategy | None, Decimal | None, bool | None, dict[str, Any]]:
    """The best strategy that clears its thresholds (else the best by return), its return %."""
    options: list[tuple[OpportunityStrategy, Decimal, bool, dict[str, Any]]] = []
    if flip is not None:
        roi = _infinite_or(flip.roi_pct, flip.infinite_return) or Decimal(0)
        ok = flip.profit >= t.flip_min_profit and roi >= t.flip_min_roi_pct
        options.append(
            (
                OpportunityStrategy.flip,
                roi,
                ok,
                {
                    "profit": money_str(flip.profit),
                    "roi_pct": str(roi),
                    "cash_invested": money_str(flip.cash_invested),
                },
            )
        )
    if rental is not None:
        coc = _infinite_or(rental.cash_on_cash_pct, rental.infinite_return) or Decimal(0)
        ok = (
            rental.monthly_cash_flow >= t.rental_min_cash_flow_monthly
            and coc >= t.rental_min_cash_on_cash_pct
            and (rental.dscr or Decimal(0)) >= t.rental_min_dscr
        )
        options.append(
            (
                OpportunityStrategy.rental,
                coc,
                ok,
                {
                    "monthly_cash_flow": money_str(rental.monthly_cash_flow),
                    "cash_on_cash_pct": str(coc),
                    "dscr": str(rental.dscr) if rental.dscr is not None else None,
                },
            )
        )
    if brrrr is not None:
        coc = _infinite_or(brrrr.cash_on_cash_pct, brrrr.infinite_return) or Decimal(0)
        left_pct = (
            brrrr.cash_left_in_deal / brrrr.total_cash_in * HUNDRED
            if brrrr.total_cash_in > 0
            else Decimal(0)
        )
        ok = (
            left_pct <= t.brrrr_max_cash_left_pct
            and brrrr.monthly_cash_flow >= t.brrrr_min_cash_flow_monthly
            and (brrrr.dscr or Decimal(0)) >= t.brrrr_min_dscr
        )
        options.append(
            (
                OpportunityStrategy.brrrr,
                coc,
                ok,
                {
                    "cash_left_in_deal": money_str(brrrr.cash_left_in_deal),
                    "cash_left_pct": str(_cents(left_pct)),
                    "monthly_cash_flow": money_str(brrrr.monthly_cash_flow),
                    "cash_on_cash_pct": str(coc),
                },
            )
        )
    summary = {s.value: {**figures, "clears_thresholds": ok} for s, _, ok, figures in options}
    if not options:
        return None, None, None, summary
    passing = [o for o in options if o[2]]
    best = max(passing or options, key=lambda o: o[1])
    return best[0], clamp_pct(best[1]), best[2], summary


# --- the score -----------------------------------------------------------------------------


def score_listing(
    inputs: ScoreInputs,
    *,
    underwrite: bool,
    assumptions: AnalysisAssumptions | None = None,
    thresholds: VerdictThresholds | None = None,
) -> ScoreResult:
    """Score a listing: screening (``underwrite=False``) or with the full underwriting."""
    a = assumptions or AnalysisAssumptions()
    t = thresholds or VerdictThresholds()
    if inputs.listing.list_price <= 0:
        # Every ratio below divides by the price or compares with it: no score, no strategy.
        return ScoreResult(
            stage=UNDERWRITING if underwrite else SCREENING,
            score=None,
            components=[],
            missing=[f"no score: {NO_PRICE}"],
            figures={"list_price": money_str(inputs.listing.list_price)},
        )
    flip = rental = brrrr = None
    notes: dict[str, Any] = {}
    if underwrite:
        flip, rental, brrrr, notes = run_underwriting(inputs, a, t)
    components = [
        _discount(inputs),
        _spread(inputs),
        _rental(inputs, rental, a),
        _section8(inputs),
        _days(inputs),
        _cuts(inputs),
    ]
    missing = [f"{c.name}: {c.explanation}" for c in components if c.points is None]
    used = [c for c in components if c.points is not None]
    valued = any(c.points is not None for c in components[:2])
    score: Decimal | None = None
    if valued and used:
        total_weight = sum((c.weight for c in used), Decimal(0))
        earned = sum((c.weight * (c.points or Decimal(0)) for c in used), Decimal(0))
        score = (earned / total_weight * HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    elif not valued:
        missing.insert(0, "no score: neither an as-is value nor an ARV could be estimated")
    result = ScoreResult(
        stage=UNDERWRITING if underwrite else SCREENING,
        score=score,
        components=components,
        missing=missing,
        figures={
            "list_price": money_str(inputs.listing.list_price),
            "as_is_value": inputs.as_is.to_json() if inputs.as_is else None,
            "arv": inputs.arv.to_json() if inputs.arv else None,
            "rehab": inputs.rehab.to_json() if inputs.rehab else None,
            "rent": inputs.rent.to_json() if inputs.rent else None,
        },
    )
    if underwrite:
        strategy, roi, ok, summary = choose_strategy(flip, rental, brrrr, t)
        result.strategy, result.roi_pct, result.strategy_clears_thresholds = strategy, roi, ok
        result.underwriting = {
            "strategies": summary,
            "notes": notes,
            "assumptions": a.model_dump(mode="json"),
            "thresholds": t.model_dump(mode="json"),
        }
    return result
