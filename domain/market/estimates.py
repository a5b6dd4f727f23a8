"""The figures a listing's score needs, from the valuation, pricing and Section 8 services.

Two valuation paths, because a scan may bring 10,000 listings and the full comps valuation
(``valuation_service.find_comps``: HNSW candidate search, a fitted market model and an
adjustment grid per comp) takes tens of milliseconds per subject:

- **Screening (every listing)**: the organisation's arm's-length sales around the scan's
  listings are read once (``valuation_service.prior_sales_in_box``, the same sales the
  market models are fitted on) and each listing is valued at the median price per square
  foot of its 12 nearest sales (within 1 mile; up to 3 miles when fewer than 5 are that
  close), times its living area. The ARV uses the same rule over renovated sales only
  (``valuation_service.is_renovated_sale``: condition 7+ or remodelled within 5 years
  before the sale, the valuation's own ARV comp rule). These are
  unadjusted medians: the inputs say so, and name the sales' date range and count.
- **Underwriting (the shortlist)**: the top listings by screening score are valued with
  ``valuation_service.find_comps`` (as-is and ARV) exactly as a property analysis is.

Rehab comes from the pricing service's cost book (``price_rehab`` with the analysis's default
scope for the listing's condition rating, average when the feed gives none), and rent from the
Section 8 service (the maximum contract rent for the bedroom count in the FMR area of the
listing's city). Each is cached per scan: per (scope, living area) and per (city, bedrooms).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlmodel import Session

from domain.analysis.assumptions import DEFAULT_SCOPES, AnalysisAssumptions, default_scope_name
from domain.market.scoring import Figure
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentCost, ComponentInput
from domain.section8 import service as section8_service
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from domain.valuation.models import SubjectAttributes

NEAREST = 12
MIN_NEAR = 5
NEAR_MILES = 1.0
FAR_MILES = 3.0
MILES_PER_DEGREE = 69.0
MARGIN_DEGREES = 0.1
MAX_SALES = 50_000
CHUNK = 512
DOLLAR = Decimal("1")


def _dollars(value: float) -> Decimal:
    return Decimal(str(value)).quantize(DOLLAR, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ListingPoint:
    """What a batch estimate needs about one listing."""

    latitude: float | None
    longitude: float | None
    square_feet: int | None
    zip_code: str | None


@dataclass
class SalesSnapshot:
    """The organisation's arm's-length sales around the scan's listings, as arrays."""

    ids: list[uuid.UUID]
    latitude: np.ndarray
    longitude: np.ndarray
    price_per_sqft: np.ndarray
    renovated: np.ndarray
    zip_codes: list[str | None]
    first_sale: dt.date | None
    last_sale: dt.date | None

    @property
    def size(self) -> int:
        """How many sales the snapshot holds."""
        return len(self.ids)

    @classmethod
    def empty(cls) -> SalesSnapshot:
        """A snapshot with no sales."""
        nothing = np.zeros(0)
        return cls([], nothing, nothing, nothing, np.zeros(0, dtype=bool), [], None, None)

    @classmethod
    def load(
        cls, *, session: Session, org_id: uuid.UUID, points: list[ListingPoint], as_of: dt.date
    ) -> SalesSnapshot:
        """Read the sales in the box around ``points`` (with a margin) once, for the whole scan."""
        located = [p for p in points if p.latitude is not None and p.longitude is not None]
        if not located:
            return cls.empty()
        lats = [p.latitude for p in located if p.latitude is not None]
        lons = [p.longitude for p in located if p.longitude is not None]
        market = valuation_service.prior_sales_in_box(
            session=session,
            org_id=org_id,
            as_of=as_of,
            south=min(lats) - MARGIN_DEGREES,
            north=max(lats) + MARGIN_DEGREES,
            west=min(lons) - MARGIN_DEGREES,
            east=max(lons) + MARGIN_DEGREES,
            max_sales=MAX_SALES,
        )
        ids: list[uuid.UUID] = []
        lat: list[float] = []
        lon: list[float] = []
        ppsf: list[float] = []
        renovated: list[bool] = []
        zips: list[str | None] = []
        dates: list[dt.date] = []
        for sale, (slat, slon) in zip(market.sales, market.coordinates, strict=True):
            sqft = sale.facts.square_feet
            if slat is None or slon is None or not sqft or sale.price <= 0:
                continue
            ids.append(sale.property_id)
            lat.append(slat)
            lon.append(slon)
            ppsf.append(sale.price / sqft)
            renovated.append(valuation_service.is_renovated_sale(sale.facts, sale.close_date))
            zips.append(sale.facts.zip_code)
            dates.append(sale.close_date)
        return cls(
            ids,
            np.array(lat),
            np.array(lon),
            np.array(ppsf),
            np.array(renovated, dtype=bool),
            zips,
            min(dates) if dates else None,
            max(dates) if dates else None,
        )


@dataclass(frozen=True)
class BatchEstimate:
    """A screening value for one listing (None with the reason when there is none)."""

    as_is: Figure | None
    as_is_missing: str | None
    arv: Figure | None
    arv_missing: str | None


def _nearest(
    snapshot: SalesSnapshot, mask: np.ndarray, lat: float, lon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances (miles) of the nearest sales under ``mask`` within FAR_MILES."""
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        return candidates, np.zeros(0)
    dlat = (snapshot.latitude[candidates] - lat) * MILES_PER_DEGREE
    dlon = (snapshot.longitude[candidates] - lon) * MILES_PER_DEGREE * math.cos(math.radians(lat))
    dist = np.hypot(dlat, dlon)
    within = dist <= FAR_MILES
    candidates, dist = candidates[within], dist[within]
    if candidates.size > NEAREST:
        keep = np.argpartition(dist, NEAREST)[:NEAREST]
        candidates, dist = candidates[keep], dist[keep]
    order = np.argsort(dist, kind="stable")
    candidates, dist = candidates[order], dist[order]
    near = dist <= NEAR_MILES
    if int(near.sum()) >= MIN_NEAR:
        return candidates[near], dist[near]
    return candidates, dist


def _figure(
    snapshot: SalesSnapshot,
    idx: np.ndarray,
    dist: np.ndarray,
    sqft: int,
    what: str,
) -> Figure:
    ppsf = float(np.median(snapshot.price_per_sqft[idx]))
    amount = _dollars(ppsf * sqft)
    return Figure(
        amount=amount,
        source=(
            f"screening estimate: median $/sqft of the {idx.size} nearest {what} sales "
            f"(within {float(dist.max()):.2f} miles) x {sqft} sqft; unadjusted"
        ),
        inputs={
            "price_per_sqft": round(ppsf, 2),
            "square_feet": sqft,
            "sale_ids": [str(snapshot.ids[i]) for i in idx],
            "farthest_miles": round(float(dist.max()), 3),
            "sales_period": [
                snapshot.first_sale.isoformat() if snapshot.first_sale else None,
                snapshot.last_sale.isoformat() if snapshot.last_sale else None,
            ],
        },
    )


def batch_estimate(snapshot: SalesSnapshot, point: ListingPoint) -> BatchEstimate:
    """A listing's screening as-is value and ARV from the snapshot (no database access)."""
    if not point.square_feet:
        why = "no living area (LivingArea) in the feed: nothing to price per square foot"
        return BatchEstimate(None, why, None, why)
    if snapshot.size == 0:
        why = "the organisation has no sales near this listing to value it from"
        return BatchEstimate(None, why, None, why)
    if point.latitude is None or point.longitude is None:
        # No coordinates: the median of the sales in its ZIP, when there are enough.
        if point.zip_code:
            idx = np.array([i for i, z in enumerate(snapshot.zip_codes) if z == point.zip_code])
            if idx.size >= MIN_NEAR:
                ppsf = statistics.median(float(v) for v in snapshot.price_per_sqft[idx])
                figure = Figure(
                    amount=_dollars(ppsf * point.square_feet),
                    source=(
                        f"screening estimate: median $/sqft of {idx.size} sales in ZIP "
                        f"{point.zip_code} x {point.square_feet} sqft; unadjusted"
                    ),
                    inputs={"price_per_sqft": round(ppsf, 2), "zip_code": point.zip_code},
                )
                return BatchEstimate(figure, None, None, "no coordinates: no ARV estimate")
        why = "no coordinates (Latitude/Longitude) and too few sales in its ZIP"
        return BatchEstimate(None, why, None, why)
    every = np.ones(snapshot.size, dtype=bool)
    idx, dist = _nearest(snapshot, every, point.latitude, point.longitude)
    as_is = arv = None
    as_is_missing = arv_missing = None
    if idx.size >= MIN_NEAR:
        as_is = _figure(snapshot, idx, dist, point.square_feet, "arm's-length")
    else:
        as_is_missing = f"fewer than {MIN_NEAR} sales within {FAR_MILES} miles"
    ridx, rdist = _nearest(snapshot, snapshot.renovated, point.latitude, point.longitude)
    if ridx.size >= MIN_NEAR:
        arv = _figure(snapshot, ridx, rdist, point.square_feet, "renovated")
    else:
        arv_missing = f"fewer than {MIN_NEAR} renovated sales within {FAR_MILES} miles"
    return BatchEstimate(as_is, as_is_missing, arv, arv_missing)


# --- comps valuation for the shortlist ------------------------------------------------------


def comps_value(
    *,
    session: Session,
    org_id: uuid.UUID,
    subject: SubjectAttributes,
    kind: ValuationKind,
    as_of: dt.date,
) -> tuple[Figure | None, str | None]:
    """The full comps valuation of a subject (as-is or ARV), or why there is none."""
    try:
        analysis = valuation_service.find_comps(
            session=session, org_id=org_id, subject=subject, as_of=as_of, kind=kind
        )
    except (valuation_service.ValuationError, valuation_service.NotEnoughSalesError) as exc:
        return None, f"comps valuation not possible: {exc}"
    label = "ARV" if kind == ValuationKind.arv else "as-is value"
    return (
        Figure(
            amount=analysis.value.quantize(DOLLAR, rounding=ROUND_HALF_UP),
            source=(
                f"comps {label}: {analysis.method} v{analysis.version}, {len(analysis.comps)} "
                f"comps as of {analysis.as_of.isoformat()}"
            ),
            inputs={
                "low": str(analysis.low),
                "high": str(analysis.high),
                "confidence": analysis.confidence,
                "comp_ids": [str(c.property_id) for c in analysis.comps],
                "warning": analysis.inputs.get("warning"),
            },
        ),
        None,
    )


# --- rehab and rent, cached per scan ---------------------------------------------------------


@dataclass
class ScanLookups:
    """Per-scan caches of the pricing and Section 8 lookups (one organisation)."""

    session: Session
    org_id: uuid.UUID
    assumptions: AnalysisAssumptions = field(default_factory=AnalysisAssumptions)
    _catalogue: list[ComponentCost] | None = None
    _rehab: dict[tuple[str, int | None], Figure] = field(default_factory=dict)
    _rent: dict[tuple[str, int], tuple[Figure | None, str | None]] = field(default_factory=dict)

    def rehab(
        self, *, square_feet: int | None, condition_rating: int | None
    ) -> tuple[Figure | None, str | None]:
        """The rehab estimate for the default scope of the condition rating (cost book)."""
        scope = default_scope_name(condition_rating)
        key = (scope, square_feet)
        if key not in self._rehab:
            if self._catalogue is None:
                self._catalogue = pricing_service.ensure_catalogue(
                    session=self.session, org_id=self.org_id
                )
            items = [ComponentInput(component=k, condition=c) for k, c in DEFAULT_SCOPES[scope]]
            estimate = pricing_service.price_rehab(
                items,
                self._catalogue,
                square_feet=square_feet,
                contingency_pct=self.assumptions.rehab_contingency_pct,
            )
            rating = (
                f"condition rating {condition_rating}"
                if condition_rating is not None
                else "no condition in the feed"
            )
            self._rehab[key] = Figure(
                amount=estimate.total,
                source=f"pricing cost book, default scope {scope} ({rating})",
                inputs={
                    "basis": estimate.basis,
                    "lines": len(estimate.line_items),
                    "unpriced": [u.message for u in estimate.unpriced],
                    "square_feet": square_feet,
                },
            )
        return self._rehab[key], None

    def rent(self, *, city: str | None, bedrooms: int | None) -> tuple[Figure | None, str | None]:
        """The Section 8 maximum contract rent for the city's FMR area and the bedroom count."""
        if not city:
            return None, "no city in the feed: no FMR area to look up"
        beds = bedrooms if bedrooms is not None else self.assumptions.default_bedrooms
        key = (city.upper(), beds)
        if key not in self._rent:
            try:
                area = section8_service.resolve_area(
                    session=self.session, org_id=self.org_id, area=city
                )
                analysis = section8_service.rent_analysis(
                    session=self.session, org_id=self.org_id, bedrooms=beds, area=area
                )
            except section8_service.Section8Error as exc:
                self._rent[key] = (None, f"no Section 8 rent for {city}: {exc}")
            else:
                assumed = "" if bedrooms is not None else f" ({beds} bedrooms assumed)"
                self._rent[key] = (
                    Figure(
                        amount=analysis.max_contract_rent,
                        source=(
                            f"Section 8 maximum contract rent, {beds} bedrooms, {analysis.area} "
                            f"FY{analysis.year}{assumed}"
                        ),
                        inputs={
                            "fmr": str(analysis.fmr),
                            "payment_standard": str(analysis.payment_standard),
                            "utility_allowance": str(analysis.utility_allowance),
                            "fmr_row_id": str(analysis.fmr_row.id),
                        },
                    ),
                    None,
                )
        return self._rent[key]


def subject_for(
    *,
    label: str,
    facts: dict[str, Any],
    latitude: float | None,
    longitude: float | None,
    zip_code: str | None,
) -> SubjectAttributes:
    """The valuation subject for a listing's facts."""
    bathrooms = facts.get("bathrooms")
    return SubjectAttributes(
        label=label[:200],
        square_feet=facts.get("square_feet"),
        bedrooms=facts.get("bedrooms"),
        bathrooms=Decimal(str(bathrooms)) if bathrooms is not None else None,
        year_built=facts.get("year_built"),
        condition_rating=facts.get("condition_rating"),
        latitude=latitude,
        longitude=longitude,
        zip_code=zip_code,
        lot_size=Decimal(str(facts["lot_size"])) if facts.get("lot_size") is not None else None,
    )
