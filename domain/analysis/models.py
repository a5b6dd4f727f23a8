"""The typed result of a property analysis: every figure with its inputs and sources.

Parts that cannot be produced (no comparable sales, no FMR row for the area, no purchase
price) are ``None`` with a ``*_missing`` sentence saying why, never an invented figure.
A rehab budget with unpriced lines is incomplete (``rehab_complete`` false): the parts built
on it (flip, maximum offer, rental, BRRRR, projection) are withheld the same way, their
``*_missing`` giving the bound the priced lines allow ("at most $46,083"), and the verdict
recommends nothing until the square footage or the investor's own rehab budget completes it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, field_serializer

from core.money import MoneyOut, format_money_keys, format_result_inputs
from domain.analysis.assumptions import AnalysisAssumptions, VerdictThresholds
from domain.pricing.models import ComponentInput, RehabEstimate
from domain.section8.service import RentAnalysis
from domain.underwriting.models import BrrrrResult, FlipResult, ProjectionResult, RentalResult
from domain.valuation.models import CompAnalysis


class ObservedConditions(BaseModel):
    """Component conditions seen on a property (a walkthrough or photo analysis).

    The audio and vision services return this from ``latest_component_conditions`` so the
    analysis can price the rehab from what was actually observed.
    """

    source: str = Field(description='what observed them, e.g. "walkthrough <id>"')
    observed_at: dt.datetime
    components: list[ComponentInput]


class SubjectSummary(BaseModel):
    """The property analysed, as the report's cover shows it."""

    property_id: uuid.UUID
    address: str
    city: str | None
    state: str | None
    zip_code: str | None
    bedrooms: int | None
    bathrooms: Decimal | None
    square_feet: int | None
    year_built: int | None
    condition_rating: int | None
    list_price: MoneyOut | None
    latitude: float | None
    longitude: float | None


class PhotoRef(BaseModel):
    """The stored image document shown on the cover."""

    document_id: uuid.UUID
    filename: str
    content_type: str


class PricedFigure(BaseModel):
    """An amount and where it came from."""

    amount: MoneyOut
    source: str


class CompLocation(BaseModel):
    """Where a comparable sale is (for the report's map)."""

    property_id: uuid.UUID
    latitude: float
    longitude: float


class RehabSection(BaseModel):
    """The rehab budget and the scope it priced (and whose scope it was)."""

    scope_source: str = Field(description="given, a walkthrough/photo analysis, or a default")
    scope: list[ComponentInput]
    estimate: RehabEstimate
    catalogue_updated: dt.date | None = Field(description="newest price change of rows used")
    missing_components: list[str] = Field(
        default_factory=list,
        description="components the estimate could not price (its total leaves them out)",
    )


class RentSection(BaseModel):
    """The rent the rental figures use, the market rent and the Section 8 analysis."""

    rent_monthly: MoneyOut | None
    rent_source: str
    market_rent: PricedFigure | None
    section8: RentAnalysis | None
    section8_missing: str | None = None


class MaxOffer(BaseModel):
    """The most to pay: ARV x rule % - rehab, and the price that still earns the target profit."""

    amount: MoneyOut = Field(description="negative: no price makes the rule work")
    rule_pct: Decimal
    arv: MoneyOut
    rehab_total: MoneyOut
    formula: str
    for_target_profit: MoneyOut | None = Field(
        description="highest price with a flip profit of at least the verdict's minimum"
    )


class VerdictLabel(StrEnum):
    """The verdict's headline."""

    strong_flip = "strong flip"
    section8_rental = "rental fits Section 8"
    strong_brrrr = "strong BRRRR"
    good_rental = "good rental"
    pass_ = "pass"
    insufficient_data = "insufficient data"


class VerdictCheck(BaseModel):
    """One threshold test behind the verdict."""

    strategy: str = Field(description="flip, rental, section8 or brrrr")
    metric: str
    value: Decimal | None
    threshold: Decimal | None
    passed: bool
    text: str = Field(description="the test with its figures, e.g. 'profit $31,200 >= $25,000'")


class Verdict(BaseModel):
    """What to do with the property, and the reasons, from ``VerdictThresholds``."""

    label: VerdictLabel
    headline: str
    qualifying: list[VerdictLabel] = Field(description="every strategy that clears its bars")
    reasons: list[str] = Field(description="the decisive reasons, in plain words")
    checks: list[VerdictCheck]


class Sources(BaseModel):
    """Where each part's figures came from."""

    as_is_comp_ids: list[uuid.UUID]
    arv_comp_ids: list[uuid.UUID]
    valuation_method: str | None
    fmr_row_id: uuid.UUID | None
    fmr_area: str | None
    fmr_year: int | None
    cost_basis: str
    cost_catalogue_date: dt.date | None
    market_rent_source: str | None
    photo_document_id: uuid.UUID | None
    condition_source: str


class HeadlineFigures(BaseModel):
    """The headline figures as written for people (the PDF and the agent use these strings)."""

    address: str
    verdict: str
    purchase_price: str
    as_is_value: str
    arv: str
    rehab_total: str
    max_offer: str
    fmr: str
    payment_standard: str
    rent: str
    flip_profit: str
    rental_cash_flow: str


# Dollar amounts among ``AnalysisAssumptions`` and ``VerdictThresholds`` (the rest are %).
ASSUMPTION_MONEY_KEYS = (
    "utilities_while_holding_monthly",
    "flip_min_profit",
    "rental_min_cash_flow_monthly",
    "brrrr_min_cash_flow_monthly",
)


class PropertyAnalysis(BaseModel):
    """A full property analysis: values, rehab, rent, flip/rental/BRRRR, projection, verdict."""

    property_id: uuid.UUID
    org_id: uuid.UUID
    deal_id: uuid.UUID | None
    deal_status: str | None = Field(
        default=None, description="the status of the deal analysed against (deal_id), if any"
    )
    as_of: dt.date
    generated_at: dt.datetime
    subject: SubjectSummary
    photo: PhotoRef | None
    photo_missing: str | None
    purchase_price: PricedFigure | None
    purchase_price_missing: str | None
    as_is: CompAnalysis | None
    as_is_missing: str | None
    arv: CompAnalysis | None
    arv_missing: str | None
    comp_locations: list[CompLocation] = Field(description="coordinates of the comps, if known")
    rehab: RehabSection
    rehab_complete: bool = Field(
        default=True,
        description="false: lines are unpriced and no rehab budget was given, so the figures "
        "that depend on the rehab are withheld (their *_missing says the bound)",
    )
    rehab_missing: str | None = Field(
        default=None, description="what the rehab budget lacks and how to complete it"
    )
    rehab_total_source: str = Field(
        default="estimate",
        description="where the rehab total in the figures came from: 'as given', the deal's "
        "estimated repairs ('deal <id> estimated repairs') or 'estimate' (the priced scope)",
    )
    rent: RentSection
    flip: FlipResult | None
    flip_missing: str | None
    rental: RentalResult | None
    rental_missing: str | None
    brrrr: BrrrrResult | None
    brrrr_missing: str | None
    projection: ProjectionResult | None
    projection_missing: str | None
    max_offer: MaxOffer | None
    max_offer_missing: str | None
    values_square_feet: int | None = Field(
        default=None,
        description="the living area the as-is value and ARV are sized on (None: not "
        "size-adjusted, or no values)",
    )
    values_square_feet_source: str | None = Field(
        default=None, description='where that area came from: "on file" or "as given"'
    )
    verdict: Verdict
    assumptions: AnalysisAssumptions
    thresholds: VerdictThresholds
    notes: list[str] = Field(description="assumptions applied to this property in particular")
    sources: Sources
    figures: HeadlineFigures

    @field_serializer("flip", "rental", "brrrr", "projection", mode="wrap", when_used="json")
    def _inputs_money(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        """The underwriting inputs echoed in each result, money with two places."""
        return format_result_inputs(handler(value))

    @field_serializer("assumptions", "thresholds", mode="wrap", when_used="json")
    def _assumptions_money(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        """The dollar assumptions and bars with two places (percentages as they are)."""
        return format_money_keys(handler(value), ASSUMPTION_MONEY_KEYS)


@dataclass(frozen=True)
class WhatIf:
    """The investor's own figures an analysis (and its report) is run with."""

    rehab_cost: Decimal | None = None
    square_feet: int | None = None
    purchase_price: Decimal | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> WhatIf:
        """The what-ifs among a tool call's arguments (unreadable ones are left out)."""

        def amount(key: str) -> Decimal | None:
            try:
                return Decimal(str(args[key])) if args.get(key) not in (None, "") else None
            except (InvalidOperation, ValueError):
                return None

        size = str(args.get("square_feet") or "")
        return cls(
            rehab_cost=amount("rehab_cost"),
            square_feet=int(size) if size.isdigit() else None,
            purchase_price=amount("purchase_price"),
        )

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.rehab_cost, self.square_feet, self.purchase_price))
