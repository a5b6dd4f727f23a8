"""Valuation: comparable sales, as-is value, after-repair value (ARV) and market analysis.

The functions the API and the agent's tools call:

- ``find_comps``: the best prior sales for a subject, each with its adjustment grid, and the
  reconciled value (an analysis; nothing is stored).
- ``value_property`` / ``after_repair_value``: the same analysis stored as a ``Valuation``
  (as-is, or with the subject renovated and only top-condition / recently renovated comps),
  publishing ``valuation.completed``.
- ``market_analysis``: an area's medians, volume and monthly trend.

Comps come from the organisation's sales only, closed strictly before the as-of date, never
the subject's own sale. How the figures are made is in ``domain.valuation.adjustments``.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import threading
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import false, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.clock import local_today
from core.metrics import business_counter
from core.money import money_str
from core.paging import count_rows
from domain.auth.enums import Role
from domain.auth.service import Principal, record_audit
from domain.property import service as property_service
from domain.valuation import comps as comp_index
from domain.valuation.adjustments import (
    METHOD,
    METHOD_VERSION,
    CompGrid,
    MarketModel,
    NotEnoughSalesError,
    Sale,
    adjustment_grid,
    fit_market_model,
    model_inputs,
    month_number,
    reconcile,
    screen_candidates,
    similarity_score,
    stale_sales_warning,
)
from domain.valuation.enums import ValuationKind
from domain.valuation.features import HomeFacts, facts_from_fields, feature_vector, haversine_miles
from domain.valuation.models import (
    HNSW_INDEX_NAME,
    AdjustmentLineRead,
    CompAnalysis,
    ComparableRead,
    MarketAnalysis,
    MarketMonth,
    SubjectAttributes,
    SubjectRead,
    Valuation,
    ValuationRead,
)
from store.outbox import publish

__all__ = [
    "NotEnoughSalesError",
    "ValuationError",
    "ValuationInputError",
    "ValuationNotFoundError",
    "ValueDateAfterTodayError",
    "after_repair_value",
    "check_as_of",
    "find_comps",
    "market_analysis",
    "value_property",
]

log = logging.getLogger(__name__)

MIN_COMPS = 3
DEFAULT_MAX_COMPS = 10
# The largest living area a request may give for a subject (the analysis takes the same).
MAX_SQUARE_FEET = 100_000
# Subjects without a neighbourhood or ZIP take the majority neighbourhood of this many
# nearest sales.
LOCATION_VOTERS = 5

VALUATIONS_COMPLETED = business_counter(
    "valuations_completed_total", "Valuations stored (as-is and ARV)", ["kind"]
)
MARKET_MODEL_FITS = business_counter(
    "valuation_market_model_fits_total",
    "Market models fitted (cache misses; as-is and ARV of one subject share one fit)",
)


class ValuationError(Exception):
    """Base class of the valuation module's errors."""


class ValuationNotFoundError(ValuationError, LookupError):
    """The property does not exist in the organisation."""


class ValuationInputError(ValuationError, ValueError):
    """The request cannot be valued as given; the message says why."""


class ValuationPermissionError(ValuationError, PermissionError):
    """The caller may not store a valuation of this property (HTTP 403)."""


def today() -> dt.date:
    """Today's date in the company's time zone: the default as-of date.

    The same day an explicit ``as_of`` is checked against, never tomorrow in UTC.
    """
    return local_today()


class ValueDateAfterTodayError(ValuationInputError):
    """An ``as_of`` after the company's today (HTTP 422): the value date it would give."""

    def __init__(self, as_of: dt.date, today: dt.date) -> None:
        """Keep both dates for the caller; the message is the one every route answers."""
        self.as_of = as_of
        self.today = today
        super().__init__(
            f"as_of {as_of.isoformat()} is after today ({today.isoformat()}): a valuation "
            "is as of today or an earlier date"
        )


def check_as_of(as_of: dt.date | None) -> dt.date | None:
    """``as_of`` as given when it is None, today (company-local) or earlier.

    The one check of a value date a caller gives: the valuation request body, the comps and
    market-analysis query parameters and the analysis body validate with it (a 422 in
    FastAPI's validation shape), and ``find_comps``, ``market_analysis`` and the property
    analysis run it again for callers that skip the API (the agent's tools, jobs). A value
    date after today would stay the "latest" valuation for good. Raises
    ``ValueDateAfterTodayError`` (a ``ValueError``, so a Pydantic validator may call it).
    """
    now = today()
    if as_of is not None and as_of > now:
        raise ValueDateAfterTodayError(as_of, now)
    return as_of


# --- the comp index ----------------------------------------------------------------------


def index_property(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> bool:
    """(Re)index one property for comp search; False when it no longer exists (then dropped)."""
    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    if prop is None:
        comp_index.remove(session=session, org_id=org_id, property_id=property_id)
        return False
    comp_index.upsert(session=session, properties=[prop])
    return True


def remove_from_index(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> None:
    """Drop a deleted property from the comp index."""
    comp_index.remove(session=session, org_id=org_id, property_id=property_id)


def reindex_comps(
    *,
    session: Session,
    org_id: uuid.UUID,
    page_size: int = 500,
    full: bool = False,
) -> int:
    """Bring the organisation's comp index up to date; return how many rows were written.

    Incremental: only the properties missing from the index, or whose ``updated_at`` differs
    from the one their row was written from (``source_updated_at``), are read, a keyset page
    (id order) at a time, and upserted; rows of deleted properties are dropped. An index that
    is current costs one anti-join. ``full`` rewrites every row (after a change to how the
    feature vector is computed). Run after bulk loads that publish no ``property.created``
    (the Ames seed, sales imports); ``find_comps`` closes small gaps itself
    (``_ensure_index_current``).
    """
    known = comp_index.versions(org_id)
    if full:
        known = known.where(false())
    written = 0
    after: uuid.UUID | None = None
    while True:
        page = property_service.changed_since(
            session=session, org_id=org_id, known=known, after=after, limit=page_size
        )
        if not page:
            break
        written += comp_index.upsert(session=session, properties=page)
        after = page[-1].id
        if len(page) < page_size:
            break
    comp_index.remove_missing(
        session=session, org_id=org_id, existing=property_service.ids_query(org_id=org_id)
    )
    if written >= comp_index.ANALYZE_AFTER_ROWS:
        comp_index.analyze(session=session)
    return written


# A request closes a gap of at most this many properties missing from (or changed since)
# the comp index itself; a larger one (a bulk load whose re-index has not run yet) is left
# to the background (the import's re-index, the ``market.data.updated`` subscriber) and the
# request uses what is indexed.
REQUEST_INDEX_MAX_ROWS = 2000
# How long a request's re-index waits for a row lock (another transaction writing the same
# rows, possibly the caller's own) before it gives up and leaves the gap.
_REQUEST_LOCK_TIMEOUT_MS = 2000


def _ensure_index_current(*, session: Session, org_id: uuid.UUID) -> None:
    """Index the properties missing from (or changed since) the comp index, when a few are.

    The check is one aggregate query on each side (count and newest ``updated_at``). When
    they differ, the gap is found by an anti-join and, when it is at most
    ``REQUEST_INDEX_MAX_ROWS`` rows, indexed and committed in a transaction of its own, so
    the work is done once and not repeated by every request of an uncommitted read; a
    larger gap is only logged. Another request already indexing the organisation (an
    advisory lock) or a row lock held elsewhere also leaves the gap to later.
    """
    if property_service.version_stamp(session=session, org_id=org_id) == comp_index.version_stamp(
        session=session, org_id=org_id
    ):
        return
    bind = session.get_bind()
    # A session of its own: on an engine, a new connection whose commit is real; on a
    # connection (a test's outer transaction), a savepoint of it.
    with Session(bind=bind, join_transaction_mode="create_savepoint") as own:
        try:
            _index_gap(own, org_id)
            own.commit()
        except DBAPIError as exc:
            own.rollback()
            log.warning(
                "comp index not brought up to date in this request: %s",
                str(exc.orig).splitlines()[0] if exc.orig else exc,
                extra={"org_id": str(org_id)},
            )


def _index_gap(session: Session, org_id: uuid.UUID) -> None:
    """``_ensure_index_current``'s work, in its own session."""
    locked = session.execute(
        sa_select(func.pg_try_advisory_xact_lock(func.hashtext(f"comp-index:{org_id}")))
    ).scalar_one()
    if not locked:
        return
    previous = session.execute(sa_select(func.current_setting("lock_timeout"))).scalar_one()
    session.execute(
        sa_select(func.set_config("lock_timeout", f"{_REQUEST_LOCK_TIMEOUT_MS}ms", True))
    )
    gap = property_service.changed_since(
        session=session,
        org_id=org_id,
        known=comp_index.versions(org_id),
        limit=REQUEST_INDEX_MAX_ROWS + 1,
    )
    if len(gap) > REQUEST_INDEX_MAX_ROWS:
        log.warning(
            "comp index is more than %d properties behind: left to the background re-index "
            "(the import's, or the market.data.updated subscriber's); comps use the rows "
            "already indexed",
            REQUEST_INDEX_MAX_ROWS,
            extra={"org_id": str(org_id)},
        )
    elif gap:
        comp_index.upsert(session=session, properties=gap)
        log.info(
            "comp index: %d properties indexed on request",
            len(gap),
            extra={"org_id": str(org_id)},
        )
    comp_index.remove_missing(
        session=session, org_id=org_id, existing=property_service.ids_query(org_id=org_id)
    )
    # Transaction-local, but a test's "transaction" is the outer one: put it back.
    session.execute(sa_select(func.set_config("lock_timeout", previous, True)))


def prior_sales_in_box(
    *,
    session: Session,
    org_id: uuid.UUID,
    as_of: dt.date,
    south: float,
    north: float,
    west: float,
    east: float,
    max_sales: int,
) -> comp_index.MarketSales:
    """The organisation's arm's-length sales before ``as_of`` inside a latitude/longitude box.

    Newest first, at most ``max_sales``: the same sales the market models are fitted on, for
    callers that screen many homes at once (the market monitor) instead of valuing one.
    The comp index is brought up to date first, as ``find_comps`` does.
    """
    _ensure_index_current(session=session, org_id=org_id)
    area = comp_index.MarketArea(south=south, north=north, west=west, east=east)
    return comp_index.market_sales(
        session=session, org_id=org_id, as_of=as_of, area=area, max_sales=max_sales
    )


def is_renovated_sale(facts: HomeFacts, sold_on: dt.date) -> bool:
    """Whether a sale counts as a renovated (ARV) comp: top condition or a recent remodel."""
    return comp_index.is_renovated_sale(facts, sold_on)


# --- subjects ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    property_id: uuid.UUID | None
    label: str
    facts: HomeFacts
    # Where the living area valued came from, recorded in the inputs (None: not a property).
    living_area: dict[str, Any] | None = None


def _living_area(
    facts: HomeFacts, on_file: int | None, square_feet: int | None
) -> tuple[HomeFacts, dict[str, Any]]:
    """The subject's facts with a living area given for this request, and where it came from.

    The given area replaces the one on file in the facts valued only: the property row is
    never written, so the next valuation without it values the home as stored.
    """
    known = on_file if on_file is not None and on_file > 0 else None
    if square_feet is None:
        if known is None:
            return facts, {"square_feet": None, "source": "none on file: not size-adjusted"}
        return facts, {"square_feet": known, "source": "on file"}
    if isinstance(square_feet, bool) or not 0 < square_feet <= MAX_SQUARE_FEET:
        raise ValuationInputError(
            f"the living area must be between 1 and {MAX_SQUARE_FEET:,} sqft, not {square_feet}"
        )
    return replace(facts, square_feet=float(square_feet)), {
        "square_feet": square_feet,
        "source": "as given",
        "from": "given with the request; not stored on the property",
        "on_file": known,
    }


def _subject_from_attributes(subject: SubjectAttributes) -> _Subject:
    facts = facts_from_fields(
        square_feet=subject.square_feet,
        lot_size=subject.lot_size,
        bedrooms=subject.bedrooms,
        bathrooms=subject.bathrooms,
        year_built=subject.year_built,
        condition_rating=subject.condition_rating,
        latitude=subject.latitude,
        longitude=subject.longitude,
        neighborhood=subject.neighborhood,
        zip_code=subject.zip_code,
        features=subject.features,
    )
    if (subject.latitude is None) != (subject.longitude is None):
        raise ValuationInputError("give both latitude and longitude, or neither")
    return _Subject(None, subject.label or "subject (by attributes)", facts)


def _resolve_subject(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID | None,
    subject: SubjectAttributes | None,
    square_feet: int | None = None,
) -> _Subject:
    if (property_id is None) == (subject is None):
        raise ValuationInputError("give either property_id or subject attributes (one of them)")
    if subject is not None:
        if square_feet is not None:
            raise ValuationInputError(
                "square_feet overrides a stored property's living area: give it in the "
                "subject attributes instead"
            )
        return _subject_from_attributes(subject)
    assert property_id is not None
    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    if prop is None:
        raise ValuationNotFoundError(f"property {property_id} not found")
    facts, living_area = _living_area(
        comp_index.property_facts(prop), prop.square_feet, square_feet
    )
    return _Subject(prop.id, comp_index.property_label(prop), facts, living_area)


def _locate(
    *, session: Session, org_id: uuid.UUID, facts: HomeFacts, inferred: dict[str, Any]
) -> HomeFacts:
    """Give a subject without coordinates its area's centroid (or refuse)."""
    if facts.latitude is not None and facts.longitude is not None:
        return facts
    centre = comp_index.area_centroid(
        session=session, org_id=org_id, neighborhood=facts.neighborhood, zip_code=facts.zip_code
    )
    if centre is None:
        raise ValuationInputError(
            "the subject needs a location: latitude and longitude, or a neighborhood or "
            "zip_code where the organisation has sales"
        )
    inferred["coordinates"] = {
        "latitude": round(centre[0], 6),
        "longitude": round(centre[1], 6),
        "from": "centroid of the organisation's homes in the subject's neighbourhood/ZIP",
    }
    return replace(facts, latitude=centre[0], longitude=centre[1])


def _infer_location(
    facts: HomeFacts, market: comp_index.MarketSales, inferred: dict[str, Any]
) -> HomeFacts:
    """Give a subject without neighbourhood or ZIP the majority one of its nearest sales."""
    if facts.location_key is not None or facts.latitude is None or facts.longitude is None:
        return facts
    lat, lon = facts.latitude, facts.longitude
    # By distance alone: sales at one distance (a building's units) keep their order, as
    # sales themselves cannot be compared.
    near = sorted(
        (
            (haversine_miles(lat, lon, clat, clon), sale)
            for sale, (clat, clon) in zip(market.sales, market.coordinates, strict=True)
            if clat is not None and clon is not None and sale.facts.location_key is not None
        ),
        key=lambda pair: pair[0],
    )[:LOCATION_VOTERS]
    if not near:
        return facts
    votes = Counter(sale.facts.neighborhood or "" for _, sale in near)
    neighborhood, count = votes.most_common(1)[0]
    if neighborhood:
        inferred["neighborhood"] = {
            "value": neighborhood,
            "from": f"{count} of the {len(near)} nearest sales",
        }
        return replace(facts, neighborhood=neighborhood)
    zips = Counter(sale.facts.zip_code or "" for _, sale in near)
    zip_code, count = zips.most_common(1)[0]
    if zip_code:
        inferred["zip_code"] = {"value": zip_code, "from": f"{count} of the nearest sales"}
        return replace(facts, zip_code=zip_code)
    return facts


# --- market models (cached per market, as-of date, index version and subject inputs) ---

_MODEL_CACHE: OrderedDict[tuple[Any, ...], MarketModel] = OrderedDict()
_SALES_CACHE: OrderedDict[tuple[Any, ...], comp_index.MarketSales] = OrderedDict()
_CACHE_SIZE = 32
_cache_lock = threading.Lock()


def _cached(cache: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...]) -> Any:
    with _cache_lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    return None


def _remember(cache: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    with _cache_lock:
        cache[key] = value
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _market(
    *, session: Session, org_id: uuid.UUID, facts: HomeFacts, as_of: dt.date, version: Any
) -> tuple[comp_index.MarketSales, tuple[Any, ...]]:
    """The market's prior sales around the subject (cached), and the cache key."""
    assert facts.latitude is not None and facts.longitude is not None
    area = comp_index.market_area(facts.latitude, facts.longitude)
    key = (org_id, as_of, area, version)
    market = _cached(_SALES_CACHE, key)
    if market is None:
        market = comp_index.market_sales(session=session, org_id=org_id, as_of=as_of, area=area)
        _remember(_SALES_CACHE, key, market)
    return market, key


def _model(
    *,
    market: comp_index.MarketSales,
    market_key: tuple[Any, ...],
    facts: HomeFacts,
    as_of: dt.date,
    exclude_id: uuid.UUID | None,
) -> MarketModel:
    sales: list[Sale] = market.sales
    if exclude_id is not None and any(s.property_id == exclude_id for s in sales):
        sales = [s for s in sales if s.property_id != exclude_id]
    else:
        exclude_id = None
    # The model depends on the subject only through the facts it knows (model_inputs), so
    # an analysis's as-is and ARV subjects (same home, renovated) share one fit.
    key = (*market_key, model_inputs(facts, as_of), exclude_id)
    model = _cached(_MODEL_CACHE, key)
    if model is None:
        model = fit_market_model(sales=sales, subject=facts, as_of=as_of)
        MARKET_MODEL_FITS.inc()
        _remember(_MODEL_CACHE, key, model)
    return model


# --- analysis ----------------------------------------------------------------------------


def _comparable(grid: CompGrid) -> ComparableRead:
    return ComparableRead(
        property_id=grid.property_id,
        label=grid.label,
        sale_price=grid.sale_price,
        sale_date=grid.sale_date,
        distance_miles=round(grid.distance_miles, 3) if grid.distance_miles is not None else None,
        years_since_sale=round(grid.years_since_sale, 2),
        lines=[
            AdjustmentLineRead(
                line=line.line,
                subject=line.subject,
                comp=line.comp,
                log_adjustment=round(line.log_adjustment, 5),
                amount=line.amount,
            )
            for line in grid.lines
        ],
        adjusted_price=grid.adjusted_price,
        net_adjustment=grid.net_adjustment,
        gross_adjustment=grid.gross_adjustment,
        net_adjustment_pct=round(grid.net_adjustment_pct, 2),
        gross_adjustment_pct=round(grid.gross_adjustment_pct, 2),
        similarity_score=round(grid.score, 4),
        weight=round(grid.weight, 4),
    )


def _analyse(
    *,
    session: Session,
    org_id: uuid.UUID,
    subject: _Subject,
    as_of: dt.date,
    max_comps: int,
    kind: ValuationKind,
) -> CompAnalysis:
    if not MIN_COMPS <= max_comps <= 25:
        raise ValuationInputError(f"max_comps must be between {MIN_COMPS} and 25")
    _ensure_index_current(session=session, org_id=org_id)
    inferred: dict[str, Any] = {}
    facts = _locate(session=session, org_id=org_id, facts=subject.facts, inferred=inferred)
    version = comp_index.stamp(session=session, org_id=org_id)
    market, market_key = _market(
        session=session, org_id=org_id, facts=facts, as_of=as_of, version=version
    )
    facts = _infer_location(facts, market, inferred)
    valued = facts.renovated(year=as_of.year) if kind == ValuationKind.arv else facts
    assert facts.latitude is not None and facts.longitude is not None
    model = _model(
        market=market,
        market_key=market_key,
        facts=valued,
        as_of=as_of,
        exclude_id=subject.property_id,
    )
    subject_row = model.row(valued, None)
    rows = comp_index.candidates(
        session=session,
        org_id=org_id,
        vector=feature_vector(valued, sold_on=as_of),
        as_of=as_of,
        exclude_id=subject.property_id,
        renovated_only=kind == ValuationKind.arv,
    )
    sales = [comp_index.to_sale(row) for row in rows]
    distances = [
        haversine_miles(facts.latitude, facts.longitude, row.latitude, row.longitude)
        if row.latitude is not None and row.longitude is not None
        else None
        for row in rows
    ]
    comp_rows = np.array([model.row(sale.facts, sale.close_date) for sale in sales])
    years = [max(0.0, (as_of - sale.close_date).days / 365.25) for sale in sales]
    scores = screen_candidates(
        model=model,
        subject_row=subject_row,
        comp_rows=comp_rows,
        distances_miles=distances,
        years=years,
    )
    order = sorted(range(len(sales)), key=lambda i: (scores[i], str(sales[i].property_id)))
    grids: list[CompGrid] = []
    for i in order[:max_comps]:
        grid = adjustment_grid(
            model=model,
            subject=valued,
            subject_row=subject_row,
            comp=sales[i],
            comp_row=comp_rows[i],
            as_of=as_of,
            distance_miles=distances[i],
        )
        grid.score = similarity_score(
            distance_miles=distances[i], net_log=grid.net_log, years=grid.years_since_sale
        )
        grids.append(grid)
    chosen = grids
    if len(chosen) < MIN_COMPS:
        which = "top-condition or recently renovated " if kind == ValuationKind.arv else ""
        raise NotEnoughSalesError(
            f"only {len(chosen)} {which}comparable sales before {as_of.isoformat()}; "
            f"at least {MIN_COMPS} are needed"
        )
    result = reconcile(chosen)
    inputs: dict[str, Any] = {
        "subject_valued_as": valued.to_json(),
        "market_model": _market_model_summary(model.summary()),
        "adjustment_rates": model.rates(),
        "market_index_by_month": model.month_index(),
        "search": {
            "index": HNSW_INDEX_NAME,
            "candidates_examined": len(rows),
            "ef_search": comp_index.EF_SEARCH,
            "filters": "same organisation, arm's-length sales, closed before the as-of date, "
            "not the subject"
            + (
                "; condition >= 7 (Good) or remodelled/built within "
                f"{comp_index.RENOVATED_WITHIN_YEARS} years of the sale"
                if kind == ValuationKind.arv
                else ""
            ),
            "re_ranking": "miles/0.5 + |net log adjustment|/0.10 + years since sale/1.0",
            "market_area": market.area.to_json(),
        },
        "reconciliation": result.to_json(),
    }
    if subject.living_area is not None:
        inputs["subject_living_area"] = subject.living_area
    stale_sales = stale_sales_warning(model, as_of)
    if stale_sales is not None:
        inputs["warning"] = stale_sales
    if kind == ValuationKind.arv:
        inputs["renovation_assumed"] = (
            "condition raised to at least 7 (Good), remodelled in the as-of year, heating "
            "Excellent, exterior at least Good, no functional deduction (where known)"
        )
    return CompAnalysis(
        kind=kind,
        as_of=as_of,
        subject=SubjectRead(
            property_id=subject.property_id,
            label=subject.label,
            facts=subject.facts.to_json(),
            inferred=inferred,
        ),
        value=result.value,
        low=result.low,
        high=result.high,
        confidence=result.confidence,
        method=METHOD,
        version=METHOD_VERSION,
        comps=[_comparable(grid) for grid in chosen],
        inputs=inputs,
    )


def find_comps(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID | None = None,
    subject: SubjectAttributes | None = None,
    as_of: dt.date | None = None,
    max_comps: int = DEFAULT_MAX_COMPS,
    kind: ValuationKind = ValuationKind.as_is,
    square_feet: int | None = None,
) -> CompAnalysis:
    """The subject's best prior comparable sales, their grids and the reconciled value.

    ``square_feet``: a living area given with the request for a stored property (1 to
    100,000): the subject is valued (and its comps adjusted for size) on it instead of the
    area on file, which is never changed; ``inputs["subject_living_area"]`` says which area
    was used and where it came from. Raises ``ValuationNotFoundError`` (unknown property),
    ``ValuationInputError`` (no subject, no location, a bad living area, an ``as_of`` after
    today: ``ValueDateAfterTodayError``) and
    ``NotEnoughSalesError`` (too few prior sales).
    """
    check_as_of(as_of)
    resolved = _resolve_subject(
        session=session,
        org_id=org_id,
        property_id=property_id,
        subject=subject,
        square_feet=square_feet,
    )
    return _analyse(
        session=session,
        org_id=org_id,
        subject=resolved,
        as_of=as_of or today(),
        max_comps=max_comps,
        kind=kind,
    )


def _market_model_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The market model's summary with its median sale price as money (``"165000.00"``)."""
    median = summary.get("median_price")
    if isinstance(median, int | float | Decimal) and not isinstance(median, bool):
        return summary | {"median_price": money_str(median)}
    return summary


def _store(
    *,
    session: Session,
    org_id: uuid.UUID,
    analysis: CompAnalysis,
    principal: Principal | None,
) -> Valuation:
    valuation = Valuation(
        org_id=org_id,
        property_id=analysis.subject.property_id,
        kind=analysis.kind,
        value=analysis.value,
        low=analysis.low,
        high=analysis.high,
        confidence=analysis.confidence,
        as_of=analysis.as_of,
        method=analysis.method,
        version=analysis.version,
        inputs={"subject": analysis.subject.model_dump(mode="json"), **analysis.inputs},
        comps=[comp.model_dump(mode="json") for comp in analysis.comps],
        created_by=principal.user_id if principal else None,
    )
    session.add(valuation)
    session.flush()
    publish(
        session,
        org_id=org_id,
        name="valuation.completed",
        payload={
            "valuation_id": valuation.id,
            "property_id": valuation.property_id,
            "kind": valuation.kind,
            "value": money_str(valuation.value),
            "low": money_str(valuation.low),
            "high": money_str(valuation.high),
            "confidence": valuation.confidence,
            "as_of": valuation.as_of,
            "method": f"{valuation.method} v{valuation.version}",
            "comp_ids": [comp.property_id for comp in analysis.comps],
        },
    )
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="create",
            entity="valuation",
            entity_id=valuation.id,
            changes={
                "property_id": valuation.property_id,
                "kind": valuation.kind,
                "value": valuation.value,
                "as_of": valuation.as_of,
            },
        )
    VALUATIONS_COMPLETED.labels(kind=str(valuation.kind)).inc()
    return valuation


def value_property(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID | None = None,
    subject: SubjectAttributes | None = None,
    as_of: dt.date | None = None,
    max_comps: int = DEFAULT_MAX_COMPS,
    principal: Principal | None = None,
    square_feet: int | None = None,
) -> Valuation:
    """The subject's as-is value from its comps, stored and announced (``valuation.completed``).

    ``square_feet``: a living area given for this valuation only (see ``find_comps``).
    """
    analysis = find_comps(
        session=session,
        org_id=org_id,
        property_id=property_id,
        subject=subject,
        as_of=as_of,
        max_comps=max_comps,
        square_feet=square_feet,
    )
    return _store(session=session, org_id=org_id, analysis=analysis, principal=principal)


def after_repair_value(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID | None = None,
    subject: SubjectAttributes | None = None,
    as_of: dt.date | None = None,
    max_comps: int = DEFAULT_MAX_COMPS,
    principal: Principal | None = None,
    square_feet: int | None = None,
) -> Valuation:
    """The subject's value after a full renovation (ARV), from top-condition comps; stored.

    ``square_feet``: a living area given for this valuation only (see ``find_comps``).
    """
    analysis = find_comps(
        session=session,
        org_id=org_id,
        property_id=property_id,
        subject=subject,
        as_of=as_of,
        max_comps=max_comps,
        kind=ValuationKind.arv,
        square_feet=square_feet,
    )
    return _store(session=session, org_id=org_id, analysis=analysis, principal=principal)


# --- history -----------------------------------------------------------------------------


def _require_property(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> None:
    if property_service.get(session=session, org_id=org_id, property_id=property_id) is None:
        raise ValuationNotFoundError(f"property {property_id} not found")


def _valuations_query(*, org_id: uuid.UUID, property_id: uuid.UUID) -> SelectOfScalar[Valuation]:
    """A property's valuations (no order, no paging)."""
    return select(Valuation).where(Valuation.org_id == org_id, Valuation.property_id == property_id)


def list_valuations(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    limit: int = 100,
    offset: int = 0,
) -> list[Valuation]:
    """A property's valuations, newest first (``ValuationNotFoundError`` if no such property)."""
    _require_property(session=session, org_id=org_id, property_id=property_id)
    statement = (
        _valuations_query(org_id=org_id, property_id=property_id)
        .order_by(col(Valuation.created_at).desc(), col(Valuation.id).desc())
        .limit(max(1, min(limit, 500)))
        .offset(max(offset, 0))
    )
    return list(session.exec(statement).all())


def count_valuations(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> int:
    """How many valuations ``list_valuations`` lists over all pages."""
    return count_rows(session, _valuations_query(org_id=org_id, property_id=property_id))


def latest_valuation(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, kind: ValuationKind
) -> Valuation | None:
    """The property's newest stored valuation of ``kind`` in the organisation, or None.

    "Newest" is the latest value date (``as_of``), then the latest created (then the highest
    id), as ``GET /valuations/{propertyId}`` reads it: a valuation run today "as of 2008" is
    history, never the current value a projection uses. Never another organisation's row,
    even for the same property id.
    """
    statement = (
        _valuations_query(org_id=org_id, property_id=property_id)
        .where(Valuation.kind == kind)
        .order_by(
            col(Valuation.as_of).desc(),
            col(Valuation.created_at).desc(),
            col(Valuation.id).desc(),
        )
        .limit(1)
    )
    return session.exec(statement).first()


def check_may_store(
    *, session: Session, org_id: uuid.UUID, principal: Principal, property_id: uuid.UUID | None
) -> None:
    """Refuse (``ValuationPermissionError``) an investor storing a valuation of another's deal.

    Investors read and analyse: they may store a valuation of a property that is on no deal
    (an address they are looking at) or on a deal they own or are named on, never of a
    property on someone else's deal, whose projection would then run on it. Admins and
    analysts store any; a valuation of attributes (no property) changes no deal.
    """
    if property_id is None or principal.role != Role.investor:
        return
    from domain.deal import service as deal_service
    from domain.deal.models import Deal

    deals = session.exec(
        select(Deal).where(Deal.org_id == org_id, Deal.property_id == property_id)
    ).all()
    if any(not deal_service.can_see(deal, principal) for deal in deals):
        raise ValuationPermissionError(
            f"property {property_id} is on a deal you are not on: only that deal's owner and "
            "team, admins and analysts store its valuations (GET /properties/{id}/comps and "
            "POST /comparables/analyze value it without storing)"
        )


def to_read(valuation: Valuation) -> ValuationRead:
    """A stored valuation as its read model."""
    return ValuationRead.model_validate(valuation, from_attributes=True)


def mark_revaluation_due(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, reason: str
) -> int:
    """Flag a property's current valuations as due for re-valuation; return how many changed."""
    result = session.execute(
        update(Valuation)
        .where(
            col(Valuation.org_id) == org_id,
            col(Valuation.property_id) == property_id,
            col(Valuation.stale_reason).is_(None),
        )
        .values(stale_reason=reason[:1000])
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


# --- market analysis ---------------------------------------------------------------------


def _median(values: list[float]) -> Decimal | None:
    return Decimal(str(round(statistics.median(values), 2))) if values else None


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` months later (or earlier), clipped to the 28th."""
    number = month_number(day) + months
    return dt.date(number // 12, number % 12 + 1, min(day.day, 28))


def market_analysis(
    *,
    session: Session,
    org_id: uuid.UUID,
    zip_code: str | None = None,
    neighborhood: str | None = None,
    months: int = 24,
    as_of: dt.date | None = None,
) -> MarketAnalysis:
    """An area's arm's-length sales in the ``months`` before ``as_of``: medians, volume, trend.

    Without ``as_of`` the period ends with the area's latest sale (so an area whose data
    stops in the past still shows its last ``months`` months; the inputs say so). A given
    ``as_of`` after today (company-local) is a ``ValueDateAfterTodayError``.
    """
    zip_code = (zip_code or "").strip() or None
    neighborhood = (neighborhood or "").strip().replace("_", " ") or None
    if zip_code is None and neighborhood is None:
        raise ValuationInputError("give a zip_code or a neighborhood")
    if not 1 <= months <= 120:
        raise ValuationInputError("months must be between 1 and 120")
    check_as_of(as_of)
    end_rule = "the as-of date given"
    if as_of is None:
        latest = comp_index.latest_area_sale(
            session=session, org_id=org_id, neighborhood=neighborhood, zip_code=zip_code
        )
        as_of = (latest + dt.timedelta(days=1)) if latest else today()
        end_rule = "the day after the area's latest sale" if latest else "today (no sales)"
    start = _add_months(as_of, -months)
    rows = comp_index.area_sales(
        session=session,
        org_id=org_id,
        neighborhood=neighborhood,
        zip_code=zip_code,
        start=start,
        end=as_of,
    )
    prices = [float(r.close_price or 0) for r in rows]
    per_sqft = [
        float(r.close_price or 0) / float(r.facts["square_feet"])
        for r in rows
        if r.facts.get("square_feet")
    ]
    by_month: dict[str, list[Any]] = {}
    for row in rows:
        assert row.close_date is not None
        by_month.setdefault(row.close_date.strftime("%Y-%m"), []).append(row)
    trend = [
        MarketMonth(
            month=month,
            sales=len(items),
            dollar_volume=sum((Decimal(str(r.close_price or 0)) for r in items), Decimal("0")),
            median_price=_median([float(r.close_price or 0) for r in items]),
            median_price_per_sqft=_median(
                [
                    float(r.close_price or 0) / float(r.facts["square_feet"])
                    for r in items
                    if r.facts.get("square_feet")
                ]
            ),
        )
        for month, items in sorted(by_month.items())
    ]
    recent_cut = _add_months(as_of, -6)
    older_cut = _add_months(as_of, -12)

    def ppsf(lo: dt.date, hi: dt.date) -> list[float]:
        return [
            float(r.close_price or 0) / float(r.facts["square_feet"])
            for r in rows
            if r.facts.get("square_feet") and r.close_date and lo <= r.close_date < hi
        ]

    recent, older = ppsf(recent_cut, as_of), ppsf(older_cut, recent_cut)
    change = (
        round(100 * (statistics.median(recent) / statistics.median(older) - 1), 2)
        if recent and older
        else None
    )
    return MarketAnalysis(
        zip_code=zip_code,
        neighborhood=neighborhood,
        period_start=start,
        period_end=as_of,
        sales=len(rows),
        total_volume=Decimal(str(round(sum(prices), 2))),
        median_price=_median(prices),
        median_price_per_sqft=_median(per_sqft),
        price_per_sqft_change_pct=change,
        trend=trend,
        inputs={
            "source": "the organisation's sold properties (comp index), arm's-length only",
            "filters": {"zip_code": zip_code, "neighborhood": neighborhood},
            "period": f"[{start.isoformat()}, {as_of.isoformat()}): {months} months to {end_rule}",
            "price_per_sqft": "sale price / living area, sales with a known living area",
            "sale_ids": [str(r.property_id) for r in rows][:500],
        },
    )
