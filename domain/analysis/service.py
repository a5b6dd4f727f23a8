"""A full property analysis, assembled from the valuation, pricing, Section 8 and underwriting.

From those services: as-is value and ARV with their comps, the rehab budget, rent vs. HUD
FMR, the flip, rental and BRRRR returns, a hold projection, the maximum offer and a verdict.

Nothing is stored and nothing is published: the analysis is what the agent sends to an
investor and what the PDF report prints, so it is safe to run as often as asked. Each part
that cannot be produced says why (``*_missing``) and the rest is still returned. The defaults
it needs are in ``domain.analysis.assumptions``; the verdict's bars in ``VerdictThresholds``.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from PIL import Image as PILImage
from pydantic import ValidationError
from sqlmodel import Session

from core.clock import local_day
from domain.analysis.assumptions import (
    DEFAULT_SCOPES,
    AnalysisAssumptions,
    VerdictThresholds,
    default_scope_name,
)
from domain.analysis.formatting import NOT_AVAILABLE, REHAB_GAP_PREFIX, dollars, percent
from domain.analysis.models import (
    CompLocation,
    HeadlineFigures,
    MaxOffer,
    ObservedConditions,
    PhotoRef,
    PricedFigure,
    PropertyAnalysis,
    RehabSection,
    RentSection,
    Sources,
    SubjectSummary,
    Verdict,
    VerdictCheck,
    VerdictLabel,
)
from domain.audio import service as audio_service
from domain.audio.enums import WalkthroughStatus
from domain.auth.service import Principal
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus, DealStrategy
from domain.deal.models import Deal
from domain.deal.state_machine import OPEN_DEAL_STATUSES
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from domain.pricing import service as pricing_service
from domain.pricing.enums import UnpricedReason
from domain.pricing.models import ComponentInput, RehabEstimate
from domain.property import service as property_service
from domain.property.enums import MarketDataType
from domain.property.models import Property
from domain.section8 import service as section8_service
from domain.underwriting import service as underwriting
from domain.underwriting.models import (
    BrrrrInput,
    BrrrrResult,
    FlipInput,
    FlipResult,
    HoldingCosts,
    MortgageLoan,
    ProjectionInput,
    RefinanceTerms,
    RentalInput,
    RentalOperations,
    RentalResult,
    ShortTermLoan,
)
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from domain.valuation.models import CompAnalysis
from domain.vision import service as vision_service
from store.base import utcnow
from store.outbox import publish

__all__ = [
    "AnalysisError",
    "AnalysisInputError",
    "AnalysisNotFoundError",
    "analyze_property",
    "component_key",
    "cash_on_cash_exact",
    "exact_pct",
    "flip_roi_exact",
    "observed_conditions",
    "pct_text",
    "priced_rehab",
    "project_rehab_budget",
    "relevant_deal",
    "rehab_scope",
    "rent_section",
    "unsure_photo_notes",
    "valuation_notes",
    "valued_from_comps",
]

CENT = Decimal("0.01")
TWELVE = Decimal("12")
HUNDRED = Decimal("100")
PHOTO_TYPES_DRAWN = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PHOTO_CHECK_PIXELS = 1000  # as the report downsamples (reports.property_report.PHOTO_MAX_PIXELS)
CONDITION_FROM = "condition from "
"""How a rehab line's notes start when its condition was observed (walkthrough or photo)."""
CONDITION_ASSUMED = "condition assumed: "
"""How a rehab line's notes start when its condition is the default scope's assumption."""
UNSURE_POOR_NOTE = vision_service.UNSURE_POOR_NOTE
MAX_WALKTHROUGHS = 200

_R = TypeVar("_R")


class AnalysisError(Exception):
    """Base class of the analysis module's errors."""


class AnalysisNotFoundError(AnalysisError, LookupError):
    """The property (or deal) does not exist in the organisation."""


MAX_REHAB_COST = Decimal("10000000")
MAX_PURCHASE_PRICE = Decimal("100000000")
MAX_SQUARE_FEET = valuation_service.MAX_SQUARE_FEET


class AnalysisInputError(AnalysisError, ValueError):
    """The request cannot be analysed as given; the message says why."""


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _attempt(compute: Callable[[], _R]) -> tuple[_R | None, str | None]:
    """Run an underwriting calculation; a refusal becomes the reason it is not available."""
    try:
        return compute(), None
    except ValidationError as exc:
        return None, underwriting.describe_validation_error(exc)
    except underwriting.UnderwritingError as exc:
        return None, str(exc)


# --- the subject -------------------------------------------------------------------------


def address_of(prop: Property) -> str:
    """The property's address as one line (or its source label when it has no street)."""
    street = prop.address_line or (prop.address or {}).get("label") or f"property {prop.id}"
    place = ", ".join(part for part in (prop.city, prop.state) if part)
    if prop.zip_code:
        place = f"{place} {prop.zip_code}".strip()
    return f"{street}, {place}" if place else str(street)


def _subject(prop: Property) -> SubjectSummary:
    return SubjectSummary(
        property_id=prop.id,
        address=address_of(prop),
        city=prop.city,
        state=prop.state,
        zip_code=prop.zip_code,
        bedrooms=prop.bedrooms,
        bathrooms=prop.bathrooms,
        square_feet=prop.square_feet,
        year_built=prop.year_built,
        condition_rating=prop.condition_rating,
        list_price=prop.list_price,
        latitude=prop.latitude,
        longitude=prop.longitude,
    )


def _photo(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> tuple[PhotoRef | None, str | None]:
    """The newest stored photo of the property that a PDF can show."""
    photos = documents_service.list_documents(
        session=session,
        org_id=org_id,
        kind=DocumentKind.photo,
        entity_type="property",
        entity_id=property_id,
        limit=20,
    )
    if not photos:
        return None, "no photo of this property has been stored"
    drawable = [doc for doc in photos if doc.content_type in PHOTO_TYPES_DRAWN]
    if not drawable:
        return (
            None,
            f"the property's photos are {photos[0].content_type}, which the report cannot show",
        )
    unreadable: list[str] = []
    for doc in drawable:  # newest first: the newest photo that decodes
        why = _unreadable_photo(session=session, org_id=org_id, document_id=doc.id)
        if why is None:
            return PhotoRef(
                document_id=doc.id, filename=doc.filename, content_type=doc.content_type
            ), None
        unreadable.append(f"{doc.filename}: {why}")
    shown = "; ".join(unreadable[:3]) + ("; ..." if len(unreadable) > 3 else "")
    return None, f"none of the property's {len(drawable)} stored photo(s) can be read ({shown})"


def _unreadable_photo(*, session: Session, org_id: uuid.UUID, document_id: uuid.UUID) -> str | None:
    """Why the stored photo cannot be drawn (gone, damaged, does not decode); None if it can.

    Decoded as the report draws it (JPEGs at a reduced scale), so a truncated upload whose
    header looks fine is caught here and an older, whole photo goes on the cover instead.
    """
    try:
        data = documents_service.read_document_bytes(
            session=session, org_id=org_id, document_id=document_id
        )
    except documents_service.DocumentNotFound:
        return "no longer stored"
    except documents_service.DocumentCorrupted:
        return "it failed its checksum"
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (PHOTO_CHECK_PIXELS, PHOTO_CHECK_PIXELS))
            opened.convert("RGB")
    except Exception as exc:  # Pillow raises many types for a bad file; any means not drawable
        return f"the image does not decode: {exc}"
    return None


# --- values ------------------------------------------------------------------------------


def valued_from_comps(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    as_of: dt.date,
    max_comps: int,
    kind: ValuationKind,
    square_feet: int | None = None,
) -> tuple[CompAnalysis | None, str | None]:
    """The value from comps (as-is or ARV), or None and the reason it cannot be worked out."""
    try:
        return valuation_service.find_comps(
            session=session,
            org_id=org_id,
            property_id=property_id,
            as_of=as_of,
            max_comps=max_comps,
            kind=kind,
            square_feet=square_feet,
        ), None
    except (valuation_service.NotEnoughSalesError, valuation_service.ValuationInputError) as exc:
        return None, str(exc)


STALE_COMP_DAYS = 365
"""A valuation whose newest comp sold longer than this before the value date is flagged.

Appraisal practice looks for comparable sales from the 12 months before the value date. The
valuation's confidence (how closely the adjusted comps agree) does not look at their age, so
the analysis shows it as "low" (the PDF) and says why in its notes; the valuation itself, its
value and its stored confidence are unchanged.
"""


def newest_comp_sale(part: CompAnalysis) -> dt.date | None:
    """The sale date of the valuation's most recent comp (None when it has none)."""
    return max((comp.sale_date for comp in part.comps), default=None)


def comps_out_of_date(part: CompAnalysis) -> dt.date | None:
    """The newest comp's sale date when it is over ``STALE_COMP_DAYS`` before the value date."""
    newest = newest_comp_sale(part)
    if newest is None or (part.as_of - newest).days <= STALE_COMP_DAYS:
        return None
    return newest


def valuation_notes(parts: Sequence[tuple[str, CompAnalysis | None]]) -> list[str]:
    """The valuations' own warnings (stale market data) and the comp-age flag, as notes.

    ``parts``: ("as-is value", as-is), ("ARV", arv). A warning both valuations carry is said
    once, for both. Every channel that shows the analysis's notes (the API, the PDF) shows them.
    """
    said: dict[str, list[str]] = {}
    for name, part in parts:
        warning = part.inputs.get("warning") if part is not None else None
        if isinstance(warning, str) and warning:
            said.setdefault(warning, []).append(name)
    notes = [f"{_and(names)}: {warning}" for warning, names in said.items()]
    aged = [
        (name, part, newest)
        for name, part in parts
        if part is not None and (newest := comps_out_of_date(part)) is not None
    ]
    if aged:
        newest = max(day for _, _, day in aged)
        as_of = aged[0][1].as_of
        confidences = ", ".join(
            f"{name} {percent(part.confidence * 100, 0)}" for name, part, _ in aged
        )
        which = _and([name for name, _, _ in aged])  # "ARV" when only its comps are old
        notes.append(
            f"confidence shown as low ({confidences} from the valuation): it measures how "
            f"closely the comps agree, not their age, and the newest {which} comp sold on "
            f"{newest.isoformat()}, {(as_of - newest).days / 365.25:.1f} years before "
            f"{as_of.isoformat()}; treat {'it' if len(aged) == 1 else 'them'} as uncertain"
        )
    return notes


def _comp_locations(
    *, session: Session, org_id: uuid.UUID, parts: Sequence[CompAnalysis | None]
) -> list[CompLocation]:
    """The coordinates of every comp used (once each), from the property service."""
    seen: dict[uuid.UUID, CompLocation] = {}
    for part in parts:
        for comp in part.comps if part else []:
            if comp.property_id in seen:
                continue
            prop = property_service.get(
                session=session, org_id=org_id, property_id=comp.property_id
            )
            if prop is not None and prop.latitude is not None and prop.longitude is not None:
                seen[comp.property_id] = CompLocation(
                    property_id=prop.id, latitude=prop.latitude, longitude=prop.longitude
                )
    return list(seen.values())


# --- rehab -------------------------------------------------------------------------------


def component_key(name: str) -> str:
    """The cost book's key for a component name ("roof" and "roof shingles": roof_shingles).

    Observations and the default scope name components differently (a photo says "roof", a
    walkthrough "the roof", the default scope "roof_shingles"): this is how they are matched.
    """
    match = pricing_service.match_component(name)
    return match.key if match is not None else " ".join(name.lower().replace("_", " ").split())


def _walkthrough_observations(
    *, session: Session, org_id: uuid.UUID, prop: Property | None, property_id: uuid.UUID
) -> list[ObservedConditions]:
    """Every completed walkthrough's graded conditions (one observation each), newest first.

    Each priced as the walkthrough's own estimate prices it
    (``audio_service.walkthrough_observation``, as the newest one is for the audio module).
    """
    found: list[ObservedConditions] = []
    walkthroughs = audio_service.list_walkthroughs(
        session=session, org_id=org_id, property_id=property_id, limit=MAX_WALKTHROUGHS
    )
    for walkthrough in walkthroughs:
        if walkthrough.status != WalkthroughStatus.completed:
            continue
        observed = audio_service.walkthrough_observation(
            session=session,
            org_id=org_id,
            walkthrough=walkthrough,
            living_area=prop.square_feet if prop is not None else None,
        )
        if observed is not None:
            found.append(observed)
    return found


def _with_note(item: ComponentInput, lead: str) -> ComponentInput:
    notes = f"{lead}; {item.notes}" if item.notes else lead
    return item.model_copy(update={"notes": notes[:1000]})


def _observations(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> list[ObservedConditions]:
    """Every walkthrough and every day of photos of the property, newest first.

    A tie goes to the walkthrough (listed first; the sort is stable).
    """
    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    observations = _walkthrough_observations(
        session=session, org_id=org_id, prop=prop, property_id=property_id
    ) + vision_service.photo_observations(session=session, org_id=org_id, property_id=property_id)
    observations.sort(key=lambda obs: obs.observed_at, reverse=True)
    return observations


def _is_walkthrough(observed: ObservedConditions) -> bool:
    return observed.source.startswith("walkthrough ")


def _combined(observations: Sequence[ObservedConditions]) -> ObservedConditions | None:
    """Per component (``component_key``) the newest observation's lines, with their origin."""
    claimed: dict[str, int] = {}
    components: list[ComponentInput] = []
    used: list[ObservedConditions] = []
    for index, observed in enumerate(observations):
        day = local_day(observed.observed_at).isoformat()
        origin = f"{CONDITION_FROM}{observed.source} ({day})"
        took = False
        for item in observed.components:
            if claimed.setdefault(component_key(item.component), index) != index:
                continue  # a newer observation said how this component is
            components.append(_with_note(item, origin))
            took = True
        if took:
            used.append(observed)
    if not components:
        return None
    parts = [obs.source for obs in used if _is_walkthrough(obs)]
    photos = [obs for obs in used if not _is_walkthrough(obs)]
    if photos:
        parts.append(f"photo analysis of {len(photos)} component(s)")
    return ObservedConditions(
        source=", ".join(parts),
        observed_at=max(obs.observed_at for obs in used),
        components=components,
    )


def observed_conditions(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> ObservedConditions | None:
    """Every walkthrough's and photo's conditions of the property combined; None when none.

    Per component (matched by ``component_key``), the newest observation wins: a later
    walkthrough or day of photos replaces what an earlier one said of the components it
    mentions (a newer "good" replaces an older "poor"), and components it does not mention
    keep their earlier condition. A day's photos give each component their most confident
    verdict (``vision_service.photo_observations``). Each line's notes start with where its
    condition came from ("condition from walkthrough <id> (2025-03-02)").
    """
    return _combined(_observations(session=session, org_id=org_id, property_id=property_id))


def rehab_scope(
    *,
    session: Session,
    org_id: uuid.UUID,
    prop: Property,
    components: Sequence[ComponentInput] | None = None,
) -> tuple[list[ComponentInput], str]:
    """The components to price and whose scope they are.

    The components given; else the walkthrough and photo conditions combined
    (``observed_conditions``: per component, the newest observation); else the default scope
    for the property's condition rating. The default scope stands in for a walkthrough: once
    the house has been walked, the walkthroughs say what work it needs and nothing is
    assumed. Photos alone replace only the default lines of the components they show (one
    photo of a good water heater drops the water-heater line, not the kitchen the default
    assumes); those lines' notes say they are assumed. A rehab project started from a deal
    uses the same scope, so its line items are the ones the investor saw in the analysis.
    """
    if components:
        return list(components), "components given with the request"
    name = default_scope_name(prop.condition_rating)
    rating = (
        f"condition rating {prop.condition_rating}"
        if prop.condition_rating is not None
        else "no condition rating on file"
    )
    default = [
        ComponentInput(component=key, condition=condition)
        for key, condition in DEFAULT_SCOPES[name]
    ]
    observations = _observations(session=session, org_id=org_id, property_id=prop.id)
    observed = _combined(observations)
    if observed is None:
        return default, f"default scope, {name} ({rating}; no walkthrough or photo conditions)"
    source = f"{observed.source} ({local_day(observed.observed_at).isoformat()})"
    if any(_is_walkthrough(obs) for obs in observations):
        return list(observed.components), source
    seen = {component_key(item.component) for item in observed.components}
    assumed = [
        _with_note(item, f"{CONDITION_ASSUMED}default scope, {name} ({rating}; not walked)")
        for item in default
        if component_key(item.component) not in seen
    ]
    if not assumed:
        return list(observed.components), source
    return (
        list(observed.components) + assumed,
        f"{source}; the other components assumed from the default scope, {name} ({rating}; "
        "no walkthrough)",
    )


def unsure_photo_notes(scope: Sequence[ComponentInput]) -> list[str]:
    """One sentence per line priced as a repair because the photo model was unsure it is poor."""
    said = []
    for item in scope:
        if item.notes and UNSURE_POOR_NOTE in item.notes:
            origin = item.notes.split("; ", 1)[0].removeprefix(CONDITION_FROM)
            said.append(
                f"{' '.join(item.component.replace('_', ' ').split())}: the photo ({origin}) "
                "looks poor but the model is unsure, so it is priced as a repair, not a "
                "replacement: have a person check"
            )
    return said


def _rehab(
    *,
    session: Session,
    org_id: uuid.UUID,
    prop: Property,
    components: Sequence[ComponentInput] | None,
    assumptions: AnalysisAssumptions,
    square_feet: int | None = None,
) -> RehabSection:
    scope, source = rehab_scope(session=session, org_id=org_id, prop=prop, components=components)
    stories = (prop.features or {}).get("stories")
    if square_feet is None and prop.square_feet and prop.square_feet > 0:
        square_feet = prop.square_feet
    estimate = pricing_service.estimate_rehab(
        session=session,
        org_id=org_id,
        items=scope,
        square_feet=square_feet,
        stories=stories if isinstance(stories, int) and 1 <= stories <= 5 else None,
        contingency_pct=assumptions.rehab_contingency_pct,
    )
    used = {line.catalogue_id for line in estimate.line_items}
    dates = [
        local_day(row.last_updated)  # the company's day of the change, not UTC's
        for row in pricing_service.list_costs(session=session, org_id=org_id)
        if row.id in used
    ]
    return RehabSection(
        scope_source=source,
        scope=scope,
        estimate=estimate,
        catalogue_updated=max(dates) if dates else None,
        missing_components=[u.component for u in estimate.unpriced],
    )


def priced_rehab(
    *,
    session: Session,
    org_id: uuid.UUID,
    prop: Property,
    assumptions: AnalysisAssumptions | None = None,
) -> RehabSection:
    """The rehab an analysis prices for the property when no budget is given or on a deal.

    The walkthrough and photo conditions combined per component (``rehab_scope``), else the
    default scope for the condition rating, priced with the contingency of ``assumptions``;
    a deal projection without the deal's estimated repairs uses it too, so both price the
    same scope.
    """
    return _rehab(
        session=session,
        org_id=org_id,
        prop=prop,
        components=None,
        assumptions=assumptions or AnalysisAssumptions(),
    )


@dataclass(frozen=True)
class Comparison:
    """Several houses' analyses side by side, and which leads on each strategy."""

    analyses: list[PropertyAnalysis]
    best_flip: PropertyAnalysis | None
    """the highest flip profit (None when no house has a flip figure)."""
    best_rental: PropertyAnalysis | None
    """the highest rental cash flow a month (None when no house has one)."""


def compare_analyses(analyses: Sequence[PropertyAnalysis]) -> Comparison:
    """Rank analyses of different houses by flip profit and by rental cash flow (ties: first)."""
    flips = [a for a in analyses if a.flip is not None]
    rentals = [a for a in analyses if a.rental is not None]
    return Comparison(
        analyses=list(analyses),
        best_flip=max(flips, key=lambda a: a.flip.profit) if flips else None,  # type: ignore[union-attr]
        best_rental=max(rentals, key=lambda a: a.rental.monthly_cash_flow)  # type: ignore[union-attr]
        if rentals
        else None,
    )


# ``rehab_total_source`` (and the projection's ``sources``) when the project's budget is used.
PROJECT_BUDGET_SOURCE = "the rehab project's budget"


def project_rehab_budget(
    *, session: Session, org_id: uuid.UUID, deal: Deal | None
) -> Decimal | None:
    """The budget of the deal's rehab project when it is the rehab budget of record, else None.

    Once a deal's project has a budget, the analysis and the deal projection use it for the
    rehab (a given ``rehab_cost`` still wins); the deal's finance rehab line follows it too.
    """
    if deal is None:
        return None
    from domain.construction import service as construction_service  # late: it imports us

    project = construction_service.rehab_budget_of_record(
        session=session, org_id=org_id, deal_id=deal.id
    )
    if project is None or project.budget is None:
        return None
    return _cents(Decimal(project.budget))


def relevant_deal(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    principal: Principal | None,
) -> Deal | None:
    """The deal on the property an analysis for ``principal`` is run against; None if none.

    Among the deals the caller may see (an investor: their own; the team: any): the most
    recently changed open deal, else the most recently changed closed one (the price paid).
    Dead and passed deals never count; a contractor sees no deal.
    """
    try:
        deals = deal_service.list_deals(
            session=session,
            org_id=org_id,
            principal=principal,
            property_id=property_id,
            limit=deal_service.MAX_LIST_LIMIT,
        )
    except deal_service.DealPermissionError:
        return None
    for statuses in (OPEN_DEAL_STATUSES, frozenset({DealStatus.closed})):
        for deal in deals:  # most recently changed first
            if deal.status in statuses:
                return deal
    return None


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def rehab_gap(estimate: RehabEstimate) -> tuple[str, str] | None:
    """What an estimate with unpriced lines leaves out, and how to complete it; None if complete.

    Returns ``(gap, fix)``: "the rehab budget is incomplete: roof shingles and windows not
    priced (no square footage on file to size them)" and "send the square footage or your
    rehab budget". Every unpriced line costs something, so the estimate's total is a floor.
    """
    if not estimate.unpriced:
        return None
    no_area = estimate.square_feet is None
    why = {
        UnpricedReason.quantity_needed: "no square footage on file to size them"
        if no_area
        else "no quantity to size them",
        UnpricedReason.unknown_component: "not in the cost catalogue",
        UnpricedReason.unit_mismatch: "given in a unit the cost book cannot convert",
    }
    groups: dict[UnpricedReason, list[str]] = {}
    for unpriced in estimate.unpriced:
        name = " ".join(unpriced.component.replace("_", " ").split())
        groups.setdefault(unpriced.reason, []).append(name)
    parts = [f"{_and(names)} not priced ({why[reason]})" for reason, names in groups.items()]
    gap = REHAB_GAP_PREFIX + "; ".join(parts)
    sized = UnpricedReason.quantity_needed in groups
    if sized and no_area:
        fix = "send the square footage or your rehab budget"
    elif sized:
        fix = "send the missing quantities or your rehab budget"
    else:
        fix = "send your rehab budget"
    return gap, fix


# --- rent --------------------------------------------------------------------------------


def _market_rent(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> PricedFigure | None:
    """The newest ``rent_estimate`` market data with a positive ``rent_monthly``."""
    rows = property_service.list_market_data(
        session=session,
        org_id=org_id,
        property_id=property_id,
        data_type=MarketDataType.rent_estimate,
        limit=20,
    )
    for row in rows:
        raw = (row.value or {}).get("rent_monthly")
        try:
            amount = Decimal(str(raw))
        except (ArithmeticError, ValueError):
            continue
        if amount.is_finite() and amount > 0:
            when = row.recorded_at.date().isoformat() if row.recorded_at else "undated"
            return PricedFigure(
                amount=_cents(amount),
                source=f"rent estimate {row.id} from {row.source or 'unknown source'} ({when})",
            )
    return None


def rent_section(
    *,
    session: Session,
    org_id: uuid.UUID,
    prop: Property,
    assumptions: AnalysisAssumptions,
    notes: list[str],
    section8_deal: bool = False,
) -> RentSection:
    """The rent the analysis runs on, with its Section 8 figures.

    The target rent, else the market estimate, else the Section 8 maximum contract rent; on
    a Section 8 deal (``section8_deal``) never above that maximum, since the voucher pays no
    more (the deal projection takes the same rent).
    """
    market = _market_rent(session=session, org_id=org_id, property_id=prop.id)
    bedrooms = prop.bedrooms
    if bedrooms is None:
        bedrooms = assumptions.default_bedrooms
        notes.append(f"no bedroom count on file: {bedrooms} bedrooms assumed for Section 8")
    area: str | None = None
    section8 = None
    missing: str | None = None
    try:
        # The property's city in its state; with no city, its ZIP's city on file, else the
        # default area, but never another state's (a house in Ohio never gets Detroit's FMR).
        area, inferred = section8_service.property_area(session=session, org_id=org_id, prop=prop)
        if inferred:
            notes.append(inferred)
    except section8_service.FmrNotFoundError as exc:
        place = ", ".join(p for p in (prop.city, prop.state) if p)
        missing = (
            f"no HUD FMR area on file matches {place}: the team needs to import that "
            "area's HUD FMR table"
            if prop.city
            else str(exc)
        )
    except section8_service.RentAnalysisInputError as exc:
        missing = str(exc)
    # A target rent of 0 (stored before it was refused) is no rent: none on file.
    target = prop.target_rent if prop.target_rent is not None and prop.target_rent > 0 else None
    # FMRs are per unit: a two-family building is rented as its two units.
    units, units_note = section8_service.building_units(prop, bedrooms)
    if units_note and len(units) == 1:
        notes.append(units_note)  # a two-family building type rented as one unit: why
    if missing is None:
        try:
            section8 = section8_service.units_rent_analysis(
                session=session,
                org_id=org_id,
                units=units,
                units_note=units_note,
                area=area,
                target_rent=target,
                market_rent=market.amount if market else None,
            )
        except section8_service.Section8Error as exc:
            missing = str(exc)
    if section8 is not None:
        # An FMR year older than HUD's current fiscal year: say so with the figures.
        notes.extend(w for w in section8.warnings if w not in notes)
    if target is not None:
        # The team's own asking rent for the house wins, as the deal projection takes it.
        rent, source = _cents(target), "the property's target rent"
    elif market is not None:
        rent, source = market.amount, f"market rent: {market.source}"
    elif section8 is not None:
        rent = section8.max_contract_rent
        source = (
            f"Section 8 maximum contract rent, {units_text(units)}"
            f"{' (assumed: none on file)' if prop.bedrooms is None else ''}, "
            f"{section8.area} FY{section8.year} (no market-rent estimate on file)"
        )
        notes.append(assumed_at_voucher_maximum(section8))
    else:
        rent, source = None, "no market-rent estimate and no Section 8 FMR for the area"
    if section8_deal and section8 is not None and rent is not None:
        if rent > section8.max_contract_rent:
            source = (
                f"Section 8 maximum contract rent, {units_text(units)}, {section8.area} "
                f"FY{section8.year}: a Section 8 deal's voucher pays at most this ({source} "
                f"{dollars(rent)} is above it)"
            )
            rent = section8.max_contract_rent
    return RentSection(
        rent_monthly=rent,
        rent_source=source,
        market_rent=market,
        section8=section8,
        section8_missing=missing,
    )


def units_text(units: Sequence[int]) -> str:
    """The bedrooms rented: "3 bedrooms", or "2 units of 3 + 3 bedrooms" for a two-family."""
    if len(units) == 1:
        return f"{units[0]} bedrooms"
    return f"{len(units)} units of {' + '.join(str(u) for u in units)} bedrooms"


def _units_shown(prop: Property, bedrooms: int) -> str:
    """The FMR's qualifier for a two-family building ("2 units of 3 + 3 bedrooms"); else none."""
    units, _ = section8_service.building_units(prop, bedrooms)
    return f" ({units_text(units)})" if len(units) > 1 else ""


def assumed_at_voucher_maximum(section8: section8_service.RentAnalysis) -> str:
    """The note for a rent that is the voucher's maximum only because nothing else is on file.

    The "fits Section 8" check then compares the rent with itself and cannot fail; with no
    utility allowance on file the maximum is the payment standard less an assumed $0.
    """
    if section8.utility_allowance_on_file or section8.utilities_included:
        basis = (
            f"the voucher's maximum contract rent {dollars(section8.max_contract_rent)} "
            f"(payment standard {dollars(section8.payment_standard)} less the utility "
            f"allowance {dollars(section8.utility_allowance)})"
        )
        unknown = ""
    else:
        basis = f"the payment standard {dollars(section8.payment_standard)}"
        unknown = (
            " and no utility allowance is on file, so $0 is assumed (unknown, not a fact: the "
            "housing authority's allowance lowers the rent the voucher pays)"
        )
    return (
        f"Section 8: no market-rent estimate or target rent on file, so the rent is assumed at "
        f"{basis}{unknown}; the 'fits Section 8' check cannot fail on it and is not evidence: "
        "record a market-rent estimate"
        + (" and the housing authority's utility allowance" if unknown else "")
    )


# --- underwriting ------------------------------------------------------------------------


def _purchase_price(
    *, prop: Property, deal: Any, as_is: CompAnalysis | None, given: Decimal | None = None
) -> tuple[PricedFigure | None, str | None]:
    if given is not None:
        return PricedFigure(amount=_cents(given), source="price as given"), None
    if deal is not None and deal.purchase_price:
        return PricedFigure(amount=deal.purchase_price, source=f"deal {deal.id} price"), None
    if prop.list_price:
        return PricedFigure(amount=prop.list_price, source="list price"), None
    if as_is is not None:
        return PricedFigure(amount=_cents(as_is.value), source="as-is value (no list price)"), None
    return None, "no list price and no as-is value to buy at"


def _short_term_loan(a: AnalysisAssumptions) -> ShortTermLoan:
    return ShortTermLoan(
        ltc_pct=a.short_term_ltc_pct,
        annual_rate_pct=a.short_term_rate_pct,
        points_pct=a.short_term_points_pct,
    )


def _holding(a: AnalysisAssumptions) -> HoldingCosts:
    return HoldingCosts(
        # Taxes and insurance follow the price, so the offer for a target profit carries its own.
        price_pct_yearly=a.property_tax_pct + a.insurance_pct,
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


def _mortgage(a: AnalysisAssumptions) -> MortgageLoan:
    return MortgageLoan(
        ltv_pct=a.mortgage_ltv_pct,
        annual_rate_pct=a.mortgage_rate_pct,
        term_years=a.mortgage_term_years,
    )


# --- verdict -----------------------------------------------------------------------------


def _check(
    strategy: str,
    metric: str,
    value: Decimal | None,
    threshold: Decimal,
    *,
    at_least: bool,
    shown: Callable[[Decimal], str],
    exact: Decimal | None = None,
) -> VerdictCheck:
    op = ">=" if at_least else "<="
    if value is None:
        return VerdictCheck(
            strategy=strategy,
            metric=metric,
            value=None,
            threshold=threshold,
            passed=False,
            text=f"{metric} not available (needs {op} {shown(threshold)})",
        )
    passed = value >= threshold if at_least else value <= threshold
    sign = op if passed else ("<" if at_least else ">")
    return VerdictCheck(
        strategy=strategy,
        metric=metric,
        value=value,
        threshold=threshold,
        passed=passed,
        # The text shows the unrounded value rounded once (``exact``, when there is one).
        text=f"{metric} {shown(value if exact is None else exact)} {sign} {shown(threshold)}",
    )


def pct_text(value: Decimal, exact: Decimal | None = None) -> str:
    """A percentage to one decimal place, rounded half up: -52.854 is "-52.9%".

    ``exact``: the unrounded percentage when the caller has it. Stored percentages are already
    rounded to two places, and rounding again loses the digit that decides (-52.854 is stored
    -52.85, which rounds to -52.8 or -52.9 depending on the mode, not the ratio), so the
    verdict, chat and PDF texts round the exact ratio once; without it, the stored value is
    rounded half up.
    """
    return percent(exact if exact is not None else value)


def exact_pct(gain: Decimal, base: Decimal) -> Decimal | None:
    """``gain / base`` as an unrounded percentage (None when ``base`` is not positive)."""
    return gain / base * HUNDRED if base > 0 else None


def flip_roi_exact(flip: FlipResult) -> Decimal | None:
    """The flip's ROI before rounding: profit / cash invested."""
    return exact_pct(flip.profit, flip.cash_invested)


def cash_on_cash_exact(rental: RentalResult) -> Decimal | None:
    """The rental's cash-on-cash before rounding: annual cash flow / cash invested."""
    return exact_pct(rental.annual_cash_flow, rental.cash_invested)


def _ratio_text(value: Decimal) -> str:
    return f"{value:.2f}"


def decide(
    *,
    flip: FlipResult | None,
    rental: RentalResult | None,
    brrrr: BrrrrResult | None,
    max_offer: MaxOffer | None,
    price: PricedFigure | None,
    rent: RentSection,
    missing: Sequence[str],
    thresholds: VerdictThresholds,
    rehab_incomplete: str | None = None,
) -> Verdict:
    """The verdict from the computed parts and the thresholds (pure; see VerdictThresholds).

    The first of strong flip, rental fits Section 8, strong BRRRR and good rental whose every
    check passes is the label; none passing is "pass"; nothing computable is "insufficient
    data" with the reasons each part is missing. An incomplete rehab budget
    (``rehab_incomplete``, what it lacks) is "insufficient data" too: no strategy is
    recommended on a budget that leaves lines out.
    """
    t = thresholds
    checks: list[VerdictCheck] = []
    qualifying: list[VerdictLabel] = []
    fit_assumed = ""  # the headline's qualifier when the Section 8 fit is of an assumed rent

    if flip is not None:
        flip_checks = [
            _check(
                "flip", "flip profit", flip.profit, t.flip_min_profit, at_least=True, shown=dollars
            ),
            _check(
                "flip",
                "flip ROI",
                flip.roi_pct,
                t.flip_min_roi_pct,
                at_least=True,
                shown=pct_text,
                exact=flip_roi_exact(flip),
            ),
        ]
        if max_offer is not None and price is not None:
            price_check = _check(
                "flip",
                "purchase price",
                price.amount,
                max_offer.amount,
                at_least=False,
                shown=dollars,
            )
            if max_offer.amount < 0:
                # "$124,900 > -$104,138" reads as a price to cut: no price works at all.
                price_check = price_check.model_copy(
                    update={
                        "text": f"purchase price {dollars(price.amount)}: no price works "
                        f"(max offer is below zero, {dollars(max_offer.amount)})"
                    }
                )
            flip_checks.append(price_check)
        checks += flip_checks
        if all(c.passed for c in flip_checks):
            qualifying.append(VerdictLabel.strong_flip)

    if rental is not None:
        rental_checks = [
            _check(
                "rental",
                "rental cash flow a month",
                rental.monthly_cash_flow,
                t.rental_min_cash_flow_monthly,
                at_least=True,
                shown=dollars,
            ),
            _check(
                "rental",
                "cash-on-cash",
                rental.cash_on_cash_pct,
                t.rental_min_cash_on_cash_pct,
                at_least=True,
                shown=pct_text,
                exact=cash_on_cash_exact(rental),
            ),
            _check(
                "rental", "DSCR", rental.dscr, t.rental_min_dscr, at_least=True, shown=_ratio_text
            ),
        ]
        checks += rental_checks
        rental_ok = all(c.passed for c in rental_checks)
        section8 = rent.section8
        if section8 is not None and rent.rent_monthly is not None:
            fit = _check(
                "section8",
                "rent",
                rent.rent_monthly,
                section8.max_contract_rent,
                at_least=False,
                shown=dollars,
            )
            shown_as = " (Section 8 maximum contract rent)"
            if "voucher pays at most this" in rent.rent_source:
                shown_as = (
                    " (Section 8 maximum contract rent; on a Section 8 deal the rent is held to "
                    "that maximum)"
                )
            elif rent.rent_source.startswith("Section 8 maximum contract rent"):
                # The rent *is* that maximum: the check fits by construction, so say so.
                unknown = (
                    ""
                    if section8.utility_allowance_on_file or section8.utilities_included
                    else "; no utility allowance on file: $0 assumed, unknown, not a fact"
                )
                shown_as = (
                    " (Section 8 maximum contract rent; no market-rent estimate on file, "
                    f"so the rent is assumed at that maximum{unknown}: not evidence)"
                )
                # Short enough for one line on the PDF's cover; the check's text says the rest.
                fit_assumed = " (rent assumed: not evidence)"
            fit = fit.model_copy(update={"text": fit.text + shown_as})
            checks.append(fit)
            if rental_ok and fit.passed:
                qualifying.append(VerdictLabel.section8_rental)
        if rental_ok:
            qualifying.append(VerdictLabel.good_rental)

    if brrrr is not None:
        cash_in = brrrr.total_cash_in
        left_exact = exact_pct(brrrr.cash_left_in_deal, cash_in)
        left_pct = (
            left_exact.quantize(CENT, rounding=ROUND_HALF_UP) if left_exact is not None else None
        )
        brrrr_checks = [
            _check(
                "brrrr",
                "cash left in the deal",
                left_pct,
                t.brrrr_max_cash_left_pct,
                at_least=False,
                shown=pct_text,
                exact=left_exact,
            ),
            _check(
                "brrrr",
                "BRRRR cash flow a month",
                brrrr.monthly_cash_flow,
                t.brrrr_min_cash_flow_monthly,
                at_least=True,
                shown=dollars,
            ),
            _check(
                "brrrr",
                "BRRRR DSCR",
                brrrr.dscr,
                t.brrrr_min_dscr,
                at_least=True,
                shown=_ratio_text,
            ),
        ]
        checks += brrrr_checks
        if all(c.passed for c in brrrr_checks):
            qualifying.append(VerdictLabel.strong_brrrr)

    order = [
        VerdictLabel.strong_flip,
        VerdictLabel.section8_rental,
        VerdictLabel.strong_brrrr,
        VerdictLabel.good_rental,
    ]
    qualifying = [label for label in order if label in qualifying]
    if rehab_incomplete is not None:
        label = VerdictLabel.insufficient_data
        qualifying = []
        reasons = [rehab_incomplete, *missing]
        headline = (
            "Insufficient data: the rehab budget is incomplete, so no strategy is recommended"
        )
    elif qualifying:
        label = qualifying[0]
        strategy = {
            VerdictLabel.strong_flip: "flip",
            VerdictLabel.section8_rental: "rental",
            VerdictLabel.strong_brrrr: "brrrr",
            VerdictLabel.good_rental: "rental",
        }[label]
        reasons = [
            c.text
            for c in checks
            if c.strategy == strategy
            or (label is VerdictLabel.section8_rental and c.strategy == "section8")
        ]
        # A rental that fits Section 8 is a good rental too: say it once.
        redundant = {VerdictLabel.good_rental} if label is VerdictLabel.section8_rental else set()
        also = [q.value for q in qualifying[1:] if q not in redundant]
        headline = label.value[0].upper() + label.value[1:]
        if label is VerdictLabel.section8_rental:
            headline += fit_assumed
        if also:
            headline += f" (also: {', '.join(also)})"
    elif flip is None and rental is None and brrrr is None:
        label = VerdictLabel.insufficient_data
        reasons = list(missing)
        headline = "Insufficient data: no strategy could be analysed"
    else:
        label = VerdictLabel.pass_
        reasons = [c.text for c in checks if not c.passed]
        headline = "Pass: no strategy clears its thresholds"
    return Verdict(
        label=label, headline=headline, qualifying=qualifying, reasons=reasons, checks=checks
    )


# --- the analysis ------------------------------------------------------------------------


def analyze_property(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    deal_id: uuid.UUID | None = None,
    as_of: dt.date | None = None,
    components: Sequence[ComponentInput] | None = None,
    assumptions: AnalysisAssumptions | None = None,
    thresholds: VerdictThresholds | None = None,
    rehab_cost: Decimal | None = None,
    square_feet: int | None = None,
    purchase_price: Decimal | None = None,
) -> PropertyAnalysis:
    """Analyse a property end to end (values, rehab, rent, returns, maximum offer, verdict).

    ``purchase_price``: the price the investor asks about ("what if I pay 150k?"): it
    replaces the deal's price or the list price in the flip, rental, BRRRR, projection and
    verdict (the rule's maximum offer does not depend on it; the price for the target profit
    does, a little, through holding costs), and a note names the price it replaced.

    ``deal_id``: the deal the analysis is for: its price is the purchase price and its rehab
    project's budget (once the project has one: the rehab budget of record), else its
    estimated repairs (when set), the rehab total, as in its projection (a given price or
    rehab budget still replaces them); ``relevant_deal`` picks the one a caller may see.

    ``rehab_cost``: the investor's own rehab budget ("if rehab is 40k"): it replaces the
    estimate's total in every figure (the estimate's lines are still listed, and a note says
    both totals). ``square_feet``: the living area the investor gave ("it's 1,100 sqft").
    It sizes the rehab; when the property has no living area on file it sizes the as-is value
    and ARV too (their comps get a size line; it is never written to the property). When one
    is on file, the file's area still sizes the values and the given one only the rehab: the
    values then agree with the property's stored valuations, comps and report, while the
    investor's figure is a scope decision for their own budget; a note says which area sized
    what. Without ``rehab_cost`` or an area, an estimate with unpriced lines is incomplete
    (``rehab_complete`` false): the flip, maximum offer, rental, BRRRR and projection are
    withheld with the bound the priced lines allow, and the verdict recommends nothing.
    Raises ``AnalysisNotFoundError`` for an unknown property or deal and
    ``AnalysisInputError`` when the deal is for another property, the rehab budget is
    negative or over $10,000,000, the purchase price is not over $0 and at most
    $100,000,000, the square footage is not 1 to 100,000, or ``as_of`` is after today
    (company-local; ``valuation_service.check_as_of``). Missing data
    never raises: the part says why it is not available.
    """
    if rehab_cost is not None and not (Decimal(0) <= rehab_cost <= MAX_REHAB_COST):
        raise AnalysisInputError(
            f"a rehab budget must be between $0 and {dollars(MAX_REHAB_COST)}, not {rehab_cost}"
        )
    if purchase_price is not None and not (Decimal(0) < purchase_price <= MAX_PURCHASE_PRICE):
        raise AnalysisInputError(
            f"a purchase price must be more than $0 and at most "
            f"{dollars(MAX_PURCHASE_PRICE)}, not {purchase_price}"
        )
    if square_feet is not None and not (0 < square_feet <= MAX_SQUARE_FEET):
        raise AnalysisInputError(
            f"the square footage must be between 1 and {MAX_SQUARE_FEET:,}, not {square_feet}"
        )
    try:  # not left to the values: they would only be "missing" with this reason
        valuation_service.check_as_of(as_of)
    except valuation_service.ValueDateAfterTodayError as exc:
        raise AnalysisInputError(str(exc)) from exc
    a = assumptions or AnalysisAssumptions()
    t = thresholds or VerdictThresholds()
    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    if prop is None:
        raise AnalysisNotFoundError(f"property {property_id} not found")
    deal = None
    if deal_id is not None:
        try:
            deal = deal_service.get_deal(session=session, org_id=org_id, deal_id=deal_id)
        except deal_service.DealNotFoundError as exc:
            raise AnalysisNotFoundError(f"deal {deal_id} not found") from exc
        if deal.property_id != property_id:
            raise AnalysisInputError(f"deal {deal_id} is for another property")
    as_of = as_of or valuation_service.today()
    notes: list[str] = []

    photo, photo_missing = _photo(session=session, org_id=org_id, property_id=prop.id)
    on_file = prop.square_feet if prop.square_feet and prop.square_feet > 0 else None
    # The file's living area sizes the values; a given one only when none is on file.
    values_area = on_file if on_file is not None else square_feet
    as_is, as_is_missing = valued_from_comps(
        session=session,
        org_id=org_id,
        property_id=prop.id,
        as_of=as_of,
        max_comps=a.max_comps,
        kind=ValuationKind.as_is,
        square_feet=square_feet if on_file is None else None,
    )
    arv, arv_missing = valued_from_comps(
        session=session,
        org_id=org_id,
        property_id=prop.id,
        as_of=as_of,
        max_comps=a.max_comps,
        kind=ValuationKind.arv,
        square_feet=square_feet if on_file is None else None,
    )
    valued = (as_is or arv) is not None
    # The valuations' warnings (no recent sales) and comp age belong with the figures.
    notes.extend(valuation_notes((("as-is value", as_is), ("ARV", arv))))
    # Without a living area the comps get no size adjustment: say so by the values.
    unsized = "" if values_area is not None else " (not size-adjusted)"
    if valued and unsized:
        notes.append("no living area on file: the as-is value and ARV are not adjusted for size")
    rehab = _rehab(
        session=session,
        org_id=org_id,
        prop=prop,
        components=components,
        assumptions=a,
        square_feet=square_feet,
    )
    rehab_total = rehab.estimate.total
    gap = rehab_gap(rehab.estimate)
    notes.extend(unsure_photo_notes(rehab.scope))
    if square_feet is not None:
        if valued and on_file is None:
            notes.append(f"values and rehab sized on {square_feet:,} sqft as given")
        elif valued and on_file != square_feet:
            notes.append(
                f"rehab sized on {square_feet:,} sqft as given; the as-is value and ARV use "
                f"the {on_file:,} sqft on file"
            )
        else:
            notes.append(f"rehab sized on {square_feet:,} sqft as given")
    if rehab.estimate.unpriced:
        notes.append("not priced: " + "; ".join(u.message for u in rehab.estimate.unpriced))
    rehab_total_source = "estimate"
    estimated = dollars(rehab_total) if gap is None else f"at least {dollars(rehab_total)}"
    # Once the deal's project has a budget, that budget is the rehab budget of record.
    project_budget = project_rehab_budget(session=session, org_id=org_id, deal=deal)
    if rehab_cost is not None:
        given = _cents(rehab_cost)
        # Name the budget the given figure replaced: the project's budget or the deal's
        # repairs when the analysis would otherwise have used them, else the estimate.
        if project_budget is not None:
            replaced = (
                f"{PROJECT_BUDGET_SOURCE} {dollars(project_budget)} (the estimate: {estimated})"
            )
        elif deal is not None and deal.estimated_repairs is not None:
            replaced = (
                f"deal {deal.id}'s estimated repairs {dollars(_cents(deal.estimated_repairs))} "
                f"(the estimate: {estimated})"
            )
        else:
            replaced = f"the estimate's {estimated}"
        notes.append(f"rehab {dollars(given)} as given, instead of {replaced}")
        rehab_total = given
        rehab_total_source = "as given"
        gap = None
    elif deal is not None and project_budget is not None:
        rehab_total_source = PROJECT_BUDGET_SOURCE
        others: list[str] = []
        if gap is not None or _cents(rehab_total) != project_budget:
            others.append(f"the estimate's {estimated}")
        if deal.estimated_repairs is not None and _cents(deal.estimated_repairs) != project_budget:
            others.append(
                f"deal {deal.id}'s estimated repairs {dollars(_cents(deal.estimated_repairs))}"
            )
        notes.append(
            f"rehab {dollars(project_budget)} from {PROJECT_BUDGET_SOURCE} (the rehab budget of"
            " record)" + (f", instead of {' and '.join(others)}" if others else "")
        )
        rehab_total = project_budget
        gap = None
    elif deal is not None and deal.estimated_repairs is not None:
        # The deal's own repair budget, as the deal projection uses it (one set of numbers).
        repairs = _cents(deal.estimated_repairs)
        rehab_total_source = f"deal {deal.id} estimated repairs"
        notes.append(
            f"rehab {dollars(repairs)} from deal {deal.id}'s estimated repairs, instead of "
            f"the estimate's {estimated}"
        )
        rehab_total = repairs
        gap = None
    rehab_missing = f"{gap[0]}; {gap[1]}" if gap is not None else None
    rent = rent_section(
        session=session,
        org_id=org_id,
        prop=prop,
        assumptions=a,
        notes=notes,
        section8_deal=deal is not None and deal.strategy == DealStrategy.section8_rental,
    )
    price, price_missing = _purchase_price(prop=prop, deal=deal, as_is=as_is, given=purchase_price)
    if purchase_price is not None:
        usual, _ = _purchase_price(prop=prop, deal=deal, as_is=as_is)
        instead = f", instead of the {usual.source} {dollars(usual.amount)}" if usual else ""
        if usual is not None and usual.amount == _cents(purchase_price):
            instead = f", the same as the {usual.source}"  # not "instead of" the same figure
        notes.append(f"price {dollars(_cents(purchase_price))} as given{instead}")

    arv_value = _cents(arv.value) if arv is not None else None
    if as_is is not None and arv is not None and arv.value < as_is.value:
        # Two comp sets value one house: renovated sales (condition 7+ or recently remodelled)
        # for the ARV, all sales for the as-is. The rehab adds little to a house already in
        # that shape, and comp selection alone can put the ARV a little lower: say so.
        notes.append(
            f"ARV {dollars(arv.value)} is below the as-is value {dollars(as_is.value)}: the "
            "renovated sales the ARV is valued from put this house lower than its as-is comps "
            f"do (ARV range {dollars(arv.low)}-{dollars(arv.high)}, as-is "
            f"{dollars(as_is.low)}-{dollars(as_is.high)}), so the rehab adds no value here; "
            "the flip, maximum offer and BRRRR use the lower ARV"
        )
    no_arv = f"no ARV: {arv_missing}"
    no_price = f"no purchase price: {price_missing}"
    no_rent = f"no rent: {rent.rent_source}"

    flip = brrrr = rental = projection = None
    flip_missing = brrrr_missing = rental_missing = projection_missing = None
    max_offer: MaxOffer | None = None
    max_offer_missing: str | None = None

    if arv_value is None:
        flip_missing, max_offer_missing = no_arv, no_arv
    elif price is None:
        flip_missing = no_price
    else:
        flip_price = price.amount
        flip, flip_missing = _attempt(
            lambda: underwriting.analyze_flip(
                inputs=FlipInput(
                    arv=arv_value,
                    purchase_price=flip_price,
                    rehab_cost=rehab_total,
                    buy_closing_pct=a.buy_closing_pct,
                    holding_costs=_holding(a),
                    hold_months=a.flip_hold_months,
                    agent_commission_pct=a.agent_commission_pct,
                    sell_closing_pct=a.sell_closing_pct,
                    financing=_short_term_loan(a),
                    mao_rule_pct=a.mao_rule_pct,
                    target_profit=t.flip_min_profit,
                )
            )
        )
    if arv_value is not None:
        rule_offer = underwriting.max_allowable_offer(
            arv=arv_value, rehab_cost=rehab_total, rule_pct=a.mao_rule_pct
        )
        max_offer = MaxOffer(
            amount=rule_offer,
            rule_pct=a.mao_rule_pct,
            arv=arv_value,
            rehab_total=rehab_total,
            formula=(
                f"ARV {dollars(arv_value)} x {a.mao_rule_pct}% - rehab {dollars(rehab_total)} "
                f"= {dollars(rule_offer)}"
            ),
            for_target_profit=flip.max_offer_for_target_profit if flip is not None else None,
        )

    rent_monthly = rent.rent_monthly
    value_basis = arv_value if arv_value is not None else (price.amount if price else None)
    if value_basis is not None and arv_value is None:
        notes.append("no ARV: rental taxes and insurance taken on the purchase price")
    if price is None:
        rental_missing = projection_missing = no_price
    elif rent_monthly is None:
        rental_missing = projection_missing = no_rent
    else:
        assert value_basis is not None
        ops = _operations(rent_monthly, value_basis, a)
        rental_price = price.amount
        rental, rental_missing = _attempt(
            lambda: underwriting.analyze_rental(
                inputs=RentalInput(
                    purchase_price=rental_price,
                    buy_closing_pct=a.buy_closing_pct,
                    rehab_cost=rehab_total,
                    operations=ops,
                    loan=_mortgage(a),
                )
            )
        )
        projection, projection_missing = _attempt(
            lambda: underwriting.project_hold(
                inputs=ProjectionInput(
                    purchase_price=rental_price,
                    buy_closing_pct=a.buy_closing_pct,
                    rehab_cost=rehab_total,
                    starting_value=arv_value,
                    operations=ops,
                    loan=_mortgage(a),
                    rent_growth_pct=a.rent_growth_pct,
                    expense_growth_pct=a.expense_growth_pct,
                    appreciation_pct=a.appreciation_pct,
                    hold_years=a.projection_years,
                    agent_commission_pct=a.agent_commission_pct,
                    sell_closing_pct=a.sell_closing_pct,
                )
            )
        )
    if arv_value is None:
        brrrr_missing = no_arv
    elif price is None:
        brrrr_missing = no_price
    elif rent_monthly is None:
        brrrr_missing = no_rent
    else:
        brrrr_price = price.amount
        brrrr_ops = _operations(rent_monthly, arv_value, a)
        brrrr, brrrr_missing = _attempt(
            lambda: underwriting.analyze_brrrr(
                inputs=BrrrrInput(
                    purchase_price=brrrr_price,
                    buy_closing_pct=a.buy_closing_pct,
                    rehab_cost=rehab_total,
                    arv=arv_value,
                    short_term_loan=_short_term_loan(a),
                    holding_costs=_holding(a),
                    refinance_after_months=a.refinance_after_months,
                    refinance=RefinanceTerms(
                        ltv_pct=a.refinance_ltv_pct,
                        closing_pct=a.refinance_closing_pct,
                        annual_rate_pct=a.refinance_rate_pct,
                        term_years=a.mortgage_term_years,
                    ),
                    operations=brrrr_ops,
                )
            )
        )

    missing = [
        f"{part}: {why}"
        for part, why in (("flip", flip_missing), ("rental", rental_missing))
        if why
    ]
    rehab_text = dollars(rehab_total)
    max_offer_text = dollars(max_offer.amount) if max_offer else NOT_AVAILABLE
    if max_offer is not None and max_offer.amount < 0:
        # The rule leaves nothing to pay: no price works, which "-$5,000" does not say.
        max_offer_text = f"no offer works ({max_offer.formula})"
    flip_profit_text = dollars(flip.profit) if flip else NOT_AVAILABLE
    # The rental's monthly cash flow does not depend on the rehab (its cash invested does).
    rental_cash_flow_text = dollars(rental.monthly_cash_flow) if rental else NOT_AVAILABLE
    if gap is not None:
        # Every unpriced line costs something: what the priced lines give is only a bound, so
        # the parts built on the rehab are withheld and their reasons carry the bound.
        incomplete, fix = gap
        rehab_text = f"at least {dollars(rehab_total)} (incomplete)"
        priced = f"the {dollars(rehab_total)} priced so far"
        if max_offer is not None:
            max_offer_text = f"at most {dollars(max_offer.amount)} (rehab incomplete)"
            max_offer_missing = (
                f"{incomplete}, so the maximum offer is at most {dollars(max_offer.amount)} "
                f"(ARV {dollars(max_offer.arv)} x {max_offer.rule_pct}% - {priced}); {fix}"
            )
            max_offer = None
        if flip is not None:
            flip_profit_text = f"at most {dollars(flip.profit)} (rehab incomplete)"
            flip_missing = (
                f"{incomplete}, so the flip profit is at most {dollars(flip.profit)} "
                f"(on {priced}); {fix}"
            )
            flip = None
        if rental is not None:
            roi = rental.cash_on_cash_pct
            rental_missing = (
                f"{incomplete}, so the cash invested is at least {dollars(rental.cash_invested)}"
                + (
                    f" and cash-on-cash at most {pct_text(roi, cash_on_cash_exact(rental))}"
                    if roi is not None
                    else ""
                )
                + f" (the cash flow, {dollars(rental.monthly_cash_flow)} a month, does not "
                f"depend on the rehab); {fix}"
            )
            rental = None
        if brrrr is not None:
            brrrr_missing = (
                f"{incomplete}, so the cash left in the deal is at least "
                f"{dollars(brrrr.cash_left_in_deal)} (on {priced}); {fix}"
            )
            brrrr = None
        if projection is not None:
            projection_missing = f"{incomplete}; {fix}"
            projection = None

    verdict = decide(
        flip=flip,
        rental=rental,
        brrrr=brrrr,
        max_offer=max_offer,
        price=price,
        rent=rent,
        missing=missing,
        thresholds=t,
        rehab_incomplete=rehab_missing,
    )
    section8 = rent.section8
    sources = Sources(
        as_is_comp_ids=[c.property_id for c in as_is.comps] if as_is else [],
        arv_comp_ids=[c.property_id for c in arv.comps] if arv else [],
        valuation_method=f"{(as_is or arv).method} v{(as_is or arv).version}"  # type: ignore[union-attr]
        if (as_is or arv)
        else None,
        fmr_row_id=section8.fmr_row.id if section8 else None,
        fmr_area=section8.area if section8 else None,
        fmr_year=section8.year if section8 else None,
        cost_basis=rehab.estimate.basis,
        cost_catalogue_date=rehab.catalogue_updated,
        market_rent_source=rent.market_rent.source if rent.market_rent else None,
        photo_document_id=photo.document_id if photo else None,
        condition_source=rehab.scope_source,
    )
    subject = _subject(prop)
    figures = HeadlineFigures(
        address=subject.address,
        verdict=verdict.headline,
        purchase_price=dollars(price.amount) if price else NOT_AVAILABLE,
        as_is_value=dollars(as_is.value) + unsized if as_is else NOT_AVAILABLE,
        arv=dollars(arv_value) + unsized if arv_value is not None else NOT_AVAILABLE,
        rehab_total=rehab_text,
        max_offer=max_offer_text,
        fmr=(
            dollars(section8.fmr)
            + (f" ({section8.bedrooms} bedrooms assumed)" if prop.bedrooms is None else "")
            + _units_shown(prop, section8.bedrooms)
        )
        if section8
        else NOT_AVAILABLE,
        payment_standard=dollars(section8.payment_standard) if section8 else NOT_AVAILABLE,
        rent=dollars(rent_monthly),
        flip_profit=flip_profit_text,
        rental_cash_flow=rental_cash_flow_text,
    )
    return PropertyAnalysis(
        property_id=prop.id,
        org_id=org_id,
        deal_id=deal.id if deal is not None else None,
        deal_status=str(deal.status) if deal is not None else None,
        as_of=as_of,
        generated_at=utcnow(),
        subject=subject,
        photo=photo,
        photo_missing=photo_missing,
        purchase_price=price,
        purchase_price_missing=price_missing,
        as_is=as_is,
        as_is_missing=as_is_missing,
        arv=arv,
        arv_missing=arv_missing,
        comp_locations=_comp_locations(session=session, org_id=org_id, parts=(as_is, arv)),
        rehab=rehab,
        rehab_complete=rehab_missing is None,
        rehab_missing=rehab_missing,
        rehab_total_source=rehab_total_source,
        rent=rent,
        flip=flip,
        flip_missing=flip_missing,
        rental=rental,
        rental_missing=rental_missing,
        brrrr=brrrr,
        brrrr_missing=brrrr_missing,
        projection=projection,
        projection_missing=projection_missing,
        max_offer=max_offer,
        max_offer_missing=max_offer_missing,
        values_square_feet=values_area if valued else None,
        values_square_feet_source=(
            None if not valued or values_area is None else "on file" if on_file else "as given"
        ),
        verdict=verdict,
        assumptions=a,
        thresholds=t,
        notes=notes,
        sources=sources,
        figures=figures,
    )


def publish_completed(
    *,
    session: Session,
    analysis: PropertyAnalysis,
    requested_by: uuid.UUID | None = None,
    channel: str | None = None,
) -> uuid.UUID:
    """Announce a finished analysis (``analysis.completed``) with its headline figures.

    The market monitor re-scores the property when it is a tracked listing; WhatsApp sends a
    report only when the payload names one (an analysis answered in a chat carries none).
    Each figure is the analysis's own, with the as-of date it was computed for.
    """

    def text(value: Decimal | None) -> str | None:
        return str(value) if value is not None else None

    return publish(
        session,
        org_id=analysis.org_id,
        name="analysis.completed",
        payload={
            "property_id": str(analysis.property_id),
            "deal_id": str(analysis.deal_id) if analysis.deal_id else None,
            "as_of": analysis.as_of.isoformat(),
            "as_is_value": text(analysis.as_is.value if analysis.as_is else None),
            "arv": text(analysis.arv.value if analysis.arv else None),
            # An incomplete estimate is only a floor: no figure rather than an understated one.
            "rehab_total": None
            if analysis.rehab.missing_components
            else text(analysis.rehab.estimate.total),
            "rehab_complete": analysis.rehab_complete,
            "rent_monthly": text(analysis.rent.rent_monthly),
            "verdict": str(analysis.verdict.label),
            "requested_by": str(requested_by) if requested_by else None,
            "channel": channel,
        },
    )
