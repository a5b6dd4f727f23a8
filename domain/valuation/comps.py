"""The comparable-sales index (``valuation_service.comp_features``) and its queries.

Candidates come from an HNSW nearest-neighbour scan over the feature vector, filtered to the
organisation's arm's-length sales that closed before the as-of date (pgvector 0.8's
iterative scan keeps returning neighbours until enough pass the filter), and are then
re-ranked exactly by the caller on distance in miles, recency and the market-derived
adjustments. The market model's training sales come from a plain indexed range query.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Float, Integer, and_, cast, delete, extract, func, or_, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from domain.valuation.adjustments import Sale
from domain.valuation.features import (
    TOP_CONDITION,
    HomeFacts,
    facts_from_fields,
    feature_vector,
    is_arms_length,
)
from domain.valuation.models import HNSW_INDEX_NAME, CompFeature

log = logging.getLogger(__name__)

# HNSW search breadth and how many candidates the exact re-ranking sees.
EF_SEARCH = 200
CANDIDATES = 150
# How many index entries an iterative HNSW scan may visit before it gives up (pgvector's own
# default). One index serves every organisation, so a small organisation's sales can lie
# beyond that many entries of other organisations' (or dead) rows: ``candidates`` then falls
# back to an exact search over the organisation's own rows.
HNSW_MAX_SCAN_TUPLES = 20_000
# At most this many sales (the newest) go into one market model.
MARKET_MAX_SALES = 5000
# ARV comps: top condition, or remodelled (or built) within this many years of their sale.
RENOVATED_WITHIN_YEARS = 5


class PropertyLike(Protocol):
    """What the index reads from a property (``domain.property`` returns such objects)."""

    id: uuid.UUID
    org_id: uuid.UUID
    address: dict[str, Any]
    address_line: str | None
    zip_code: str | None
    city: str | None
    square_feet: int | None
    bedrooms: int | None
    bathrooms: Decimal | None
    year_built: int | None
    lot_size: Decimal | None
    latitude: float | None
    longitude: float | None
    features: dict[str, Any]
    neighborhood: str | None
    condition_rating: int | None
    close_price: Decimal | None
    close_date: dt.date | None
    source: str | None
    source_id: str | None
    updated_at: dt.datetime


def property_facts(prop: PropertyLike) -> HomeFacts:
    """The valuation facts of a property."""
    return facts_from_fields(
        square_feet=prop.square_feet,
        lot_size=prop.lot_size,
        bedrooms=prop.bedrooms,
        bathrooms=prop.bathrooms,
        year_built=prop.year_built,
        condition_rating=prop.condition_rating,
        latitude=prop.latitude,
        longitude=prop.longitude,
        neighborhood=prop.neighborhood,
        zip_code=prop.zip_code,
        features=prop.features,
    )


def property_label(prop: PropertyLike) -> str:
    """How a property is named in comps: its street line, else its source label, else its id."""
    if prop.address_line:
        return prop.address_line[:200]
    label = (prop.address or {}).get("label")
    if label:
        return str(label)[:200]
    if prop.source and prop.source_id:
        return f"{prop.source} #{prop.source_id}"[:200]
    return f"property {str(prop.id)[:8]}"


def _values(prop: PropertyLike) -> dict[str, Any]:
    facts = property_facts(prop)
    return {
        "property_id": prop.id,
        "org_id": prop.org_id,
        "embedding": feature_vector(facts, sold_on=prop.close_date),
        "label": property_label(prop),
        "close_price": prop.close_price,
        "close_date": prop.close_date,
        "arms_length": is_arms_length(facts),
        "latitude": prop.latitude,
        "longitude": prop.longitude,
        "neighborhood": prop.neighborhood,
        "zip_code": prop.zip_code,
        "city": prop.city,
        "facts": facts.to_json(),
        "source": prop.source,
        "source_updated_at": prop.updated_at,
    }


def upsert(*, session: Session, properties: Iterable[PropertyLike], batch: int = 1000) -> int:
    """Index (or re-index) properties; return how many rows were written."""
    table = CompFeature.__table__  # type: ignore[attr-defined]
    written = 0
    chunk: list[dict[str, Any]] = []

    def flush_chunk() -> None:
        nonlocal written
        if not chunk:
            return
        statement = insert(table)
        keep = {"property_id", "org_id", "created_at"}
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.property_id],
            set_={
                **{c.name: statement.excluded[c.name] for c in table.columns if c.name not in keep},
                "updated_at": func.now(),
            },
            # A property id belongs to one organisation; never let another org overwrite it.
            where=table.c.org_id == statement.excluded.org_id,
        )
        session.execute(statement, list(chunk))
        written += len(chunk)
        chunk.clear()

    for prop in properties:
        chunk.append(_values(prop))
        if len(chunk) >= batch:
            flush_chunk()
    flush_chunk()
    session.flush()
    return written


def remove(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> None:
    """Drop a property from the index."""
    session.execute(
        delete(CompFeature).where(
            col(CompFeature.org_id) == org_id, col(CompFeature.property_id) == property_id
        )
    )


# Refresh the planner's statistics after writing this many rows at once (bulk loads), so
# it sees how many sales there are and picks the HNSW index for comp queries.
ANALYZE_AFTER_ROWS = 500


def analyze(*, session: Session) -> None:
    """Update PostgreSQL's statistics of the comp index table (after bulk loads)."""
    session.execute(text("ANALYZE valuation_service.comp_features"))


def versions(org_id: uuid.UUID) -> Any:
    """The organisation's index rows as (``id``, ``updated_at``) pairs, for an anti-join.

    Each property id and the ``updated_at`` of the property the row was written from.
    """
    return select(
        col(CompFeature.property_id).label("id"),
        col(CompFeature.source_updated_at).label("updated_at"),
    ).where(col(CompFeature.org_id) == org_id)


def version_stamp(*, session: Session, org_id: uuid.UUID) -> tuple[int, dt.datetime | None]:
    """How many rows the organisation's index has, and the newest property change they hold."""
    count, newest = session.execute(
        sa_select(func.count(), func.max(CompFeature.source_updated_at)).where(
            col(CompFeature.org_id) == org_id
        )
    ).one()
    return int(count), newest


def remove_missing(*, session: Session, org_id: uuid.UUID, existing: Any) -> int:
    """Drop the organisation's rows whose property id is not in ``existing`` (a select of ids)."""
    result = session.execute(
        delete(CompFeature).where(
            col(CompFeature.org_id) == org_id, col(CompFeature.property_id).not_in(existing)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> CompFeature | None:
    """The index row of a property, or None."""
    row = session.get(CompFeature, property_id)
    return row if row is not None and row.org_id == org_id else None


def stamp(*, session: Session, org_id: uuid.UUID) -> tuple[int, str]:
    """A version of the organisation's index (row count, newest change): cache keys use it."""
    count, newest = session.execute(
        select(func.count(), func.max(CompFeature.updated_at)).where(
            col(CompFeature.org_id) == org_id
        )
    ).one()
    return int(count), str(newest)


def to_sale(row: CompFeature) -> Sale:
    """A sold index row as the method's ``Sale``."""
    return Sale(
        property_id=row.property_id,
        label=row.label,
        price=float(row.close_price or 0),
        close_date=row.close_date or dt.date.min,
        facts=HomeFacts.from_json(row.facts),
    )


def _sold_before(org_id: uuid.UUID, as_of: dt.date, exclude_id: uuid.UUID | None) -> list[Any]:
    conditions: list[Any] = [
        col(CompFeature.org_id) == org_id,
        col(CompFeature.close_date) < as_of,
        col(CompFeature.close_price) > 0,
        col(CompFeature.arms_length).is_(True),
    ]
    if exclude_id is not None:
        conditions.append(col(CompFeature.property_id) != exclude_id)
    return conditions


def is_renovated_sale(facts: HomeFacts, sold_on: dt.date) -> bool:
    """The ARV comp rule in Python (``_renovated_condition`` is the same rule in SQL).

    A sale counts as renovated when the home was in top condition (7+) or remodelled within
    ``RENOVATED_WITHIN_YEARS`` years before the sale.
    """
    if facts.condition is not None and facts.condition >= TOP_CONDITION:
        return True
    remodeled = facts.year_remodeled
    return remodeled is not None and remodeled >= sold_on.year - RENOVATED_WITHIN_YEARS


def _renovated_condition() -> Any:
    condition = cast(CompFeature.facts["condition"].astext, Float)  # type: ignore[index]
    remodeled = cast(CompFeature.facts["year_remodeled"].astext, Integer)  # type: ignore[index]
    sale_year = extract("year", col(CompFeature.close_date))
    return or_(condition >= TOP_CONDITION, remodeled >= sale_year - RENOVATED_WITHIN_YEARS)


def candidate_query(
    *,
    org_id: uuid.UUID,
    vector: Sequence[float],
    as_of: dt.date,
    exclude_id: uuid.UUID | None,
    limit: int,
    renovated_only: bool,
    exact: bool = False,
) -> Any:
    """The nearest-neighbour query (ORDER BY embedding <-> vector LIMIT n, filtered).

    ``exact``: the same ranking computed over the filtered rows (``+ 0`` keeps the planner
    off the HNSW index, so the organisation's B-tree index finds the rows and they are sorted).
    """
    conditions = _sold_before(org_id, as_of, exclude_id)
    if renovated_only:
        conditions.append(_renovated_condition())
    distance = CompFeature.embedding.l2_distance(list(vector))  # type: ignore[attr-defined]
    return (
        select(CompFeature)
        .where(and_(*conditions))
        .order_by(distance + 0.0 if exact else distance)
        .limit(limit)
    )


def _tune_hnsw(session: Session, ef_search: int) -> None:
    # Iterative scans (pgvector >= 0.8) keep walking the graph until LIMIT rows pass the
    # filter; relaxed order is fine because the caller re-ranks exactly.
    session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
    session.execute(text(f"SET LOCAL hnsw.max_scan_tuples = {int(HNSW_MAX_SCAN_TUPLES)}"))


def candidates(
    *,
    session: Session,
    org_id: uuid.UUID,
    vector: Sequence[float],
    as_of: dt.date,
    exclude_id: uuid.UUID | None,
    limit: int = CANDIDATES,
    renovated_only: bool = False,
    ef_search: int = EF_SEARCH,
) -> list[CompFeature]:
    """Up to ``limit`` prior arm's-length sales nearest to ``vector`` (HNSW, then filtered).

    When the HNSW scan returns fewer than ``limit`` (it stops after ``HNSW_MAX_SCAN_TUPLES``
    index entries, which other organisations' rows can use up), the exact search over the
    organisation's own rows is run too and used when it finds more.
    """
    _tune_hnsw(session, max(ef_search, limit))

    def query(exact: bool) -> Any:
        return candidate_query(
            org_id=org_id,
            vector=vector,
            as_of=as_of,
            exclude_id=exclude_id,
            limit=limit,
            renovated_only=renovated_only,
            exact=exact,
        )

    rows = list(session.exec(query(exact=False)).all())
    if len(rows) < limit:
        exact = list(session.exec(query(exact=True)).all())
        if len(exact) > len(rows):
            log.info(
                "comp search fell back to an exact scan",
                extra={"org_id": str(org_id), "hnsw_rows": len(rows), "exact_rows": len(exact)},
            )
            rows = exact
    return rows


def explain_candidates(
    *,
    session: Session,
    org_id: uuid.UUID,
    vector: Sequence[float],
    as_of: dt.date,
    limit: int = CANDIDATES,
    analyze: bool = False,
) -> str:
    """PostgreSQL's plan for the candidate query (it should scan ``HNSW_INDEX_NAME``)."""
    _tune_hnsw(session, max(EF_SEARCH, limit))
    statement = candidate_query(
        org_id=org_id,
        vector=vector,
        as_of=as_of,
        exclude_id=None,
        limit=limit,
        renovated_only=False,
    )
    compiled = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    verb = "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN"
    rows = session.execute(text(f"{verb} {compiled}")).all()
    return "\n".join(str(row[0]) for row in rows)


def uses_hnsw(plan: str) -> bool:
    """True when a query plan scans the comp index's HNSW index."""
    return HNSW_INDEX_NAME in plan


# The market model's sales come from the 3 x 3 block of 0.25-degree cells around the
# subject's cell (at least one cell, ~13-17 miles, each way), so every subject in a cell
# shares one market and one fitted model.
MARKET_CELL_DEGREES = 0.25


@dataclass(frozen=True)
class MarketArea:
    """A latitude/longitude box of the market the rates are derived in."""

    south: float
    north: float
    west: float
    east: float

    def to_json(self) -> dict[str, float]:
        """The box as JSON."""
        return {"south": self.south, "north": self.north, "west": self.west, "east": self.east}


def market_area(latitude: float, longitude: float) -> MarketArea:
    """The market box around a point: its 0.25-degree cell and the eight cells around it."""
    size = MARKET_CELL_DEGREES
    lat_cell, lon_cell = math.floor(latitude / size), math.floor(longitude / size)
    return MarketArea(
        south=(lat_cell - 1) * size,
        north=(lat_cell + 2) * size,
        west=(lon_cell - 1) * size,
        east=(lon_cell + 2) * size,
    )


@dataclass(frozen=True)
class MarketSales:
    """The prior sales a market model is fitted on, and where they came from."""

    sales: list[Sale]
    coordinates: list[tuple[float | None, float | None]]
    area: MarketArea
    max_sales: int


def market_sales(
    *,
    session: Session,
    org_id: uuid.UUID,
    as_of: dt.date,
    area: MarketArea,
    max_sales: int = MARKET_MAX_SALES,
) -> MarketSales:
    """Prior arm's-length sales in the market box, newest first (at most ``max_sales``)."""
    columns: list[Any] = [
        col(CompFeature.property_id),
        col(CompFeature.label),
        col(CompFeature.close_price),
        col(CompFeature.close_date),
        col(CompFeature.facts),
        col(CompFeature.latitude),
        col(CompFeature.longitude),
    ]
    statement = (
        sa_select(*columns)
        .where(
            and_(*_sold_before(org_id, as_of, None)),
            col(CompFeature.latitude).between(area.south, area.north),
            col(CompFeature.longitude).between(area.west, area.east),
        )
        .order_by(col(CompFeature.close_date).desc(), col(CompFeature.property_id))
        .limit(max_sales)
    )
    sales: list[Sale] = []
    coordinates: list[tuple[float | None, float | None]] = []
    for pid, label, price, close_date, facts, lat, lon in session.execute(statement).all():
        sales.append(
            Sale(
                property_id=pid,
                label=label,
                price=float(price),
                close_date=close_date,
                facts=HomeFacts.from_json(facts),
            )
        )
        coordinates.append((lat, lon))
    return MarketSales(sales, coordinates, area, max_sales)


def area_centroid(
    *,
    session: Session,
    org_id: uuid.UUID,
    neighborhood: str | None,
    zip_code: str | None,
) -> tuple[float, float] | None:
    """Mean coordinates of the organisation's indexed homes in a neighbourhood or ZIP."""
    conditions: list[Any] = []
    if neighborhood:
        conditions.append(func.lower(CompFeature.neighborhood) == neighborhood.lower())
    if zip_code:
        conditions.append(col(CompFeature.zip_code) == zip_code)
    if not conditions:
        return None
    lat, lon = session.execute(
        select(func.avg(CompFeature.latitude), func.avg(CompFeature.longitude)).where(
            col(CompFeature.org_id) == org_id,
            col(CompFeature.latitude).is_not(None),
            or_(*conditions),
        )
    ).one()
    return (float(lat), float(lon)) if lat is not None and lon is not None else None


def area_sales(
    *,
    session: Session,
    org_id: uuid.UUID,
    neighborhood: str | None,
    zip_code: str | None,
    start: dt.date | None,
    end: dt.date | None,
) -> list[CompFeature]:
    """Arm's-length sales in a neighbourhood and/or ZIP, closed in [start, end)."""
    conditions: list[Any] = [
        col(CompFeature.org_id) == org_id,
        col(CompFeature.close_price) > 0,
        col(CompFeature.close_date).is_not(None),
        col(CompFeature.arms_length).is_(True),
    ]
    if neighborhood:
        conditions.append(func.lower(CompFeature.neighborhood) == neighborhood.lower())
    if zip_code:
        conditions.append(col(CompFeature.zip_code) == zip_code)
    if start is not None:
        conditions.append(col(CompFeature.close_date) >= start)
    if end is not None:
        conditions.append(col(CompFeature.close_date) < end)
    statement = (
        select(CompFeature)
        .where(and_(*conditions))
        .order_by(col(CompFeature.close_date), col(CompFeature.property_id))
    )
    return list(session.exec(statement).all())


def latest_area_sale(
    *, session: Session, org_id: uuid.UUID, neighborhood: str | None, zip_code: str | None
) -> dt.date | None:
    """The close date of the newest arm's-length sale in the area."""
    conditions: list[Any] = [
        col(CompFeature.org_id) == org_id,
        col(CompFeature.close_price) > 0,
        col(CompFeature.arms_length).is_(True),
    ]
    if neighborhood:
        conditions.append(func.lower(CompFeature.neighborhood) == neighborhood.lower())
    if zip_code:
        conditions.append(col(CompFeature.zip_code) == zip_code)
    newest: dt.date | None = session.execute(
        select(func.max(CompFeature.close_date)).where(and_(*conditions))
    ).scalar_one()
    return newest
