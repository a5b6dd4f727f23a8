"""The Ames demo market: loading it, the HNSW comp query plan, and valuations on real sales.

The 2,930 sales are loaded once for this module, inside a transaction that is rolled back
at the end (each test runs in a savepoint of it), so nothing is committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlmodel import Session, col, select

from domain.auth import service as auth_service
from domain.demo.listings import DEMO_LISTINGS
from domain.demo.service import seed_demo
from domain.property import ames
from domain.property import service as property_service
from domain.valuation import comps as comp_index
from domain.valuation import service
from domain.valuation.models import HNSW_INDEX_NAME, CompFeature


@pytest.fixture(scope="module")
def ames_connection(engine: Engine) -> Iterator[tuple[Connection, uuid.UUID]]:
    """A connection whose outer transaction holds an org with the Ames sales (rolled back)."""
    conn = engine.connect()
    outer = conn.begin()
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        org = auth_service.create_organisation(session=session, name="Ames test market")
        loaded = ames.load_ames(session=session, org_id=org.id)
        assert loaded.inserted == ames.ROWS
        service.reindex_comps(session=session, org_id=org.id)
        org_id = org.id
        session.commit()  # releases the savepoint into the outer (rolled-back) transaction
    try:
        yield conn, org_id
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The test engine (module scope, for the module's Ames connection)."""
    from store.db import get_engine

    return get_engine()


@pytest.fixture
def ames_db(ames_connection: tuple[Connection, uuid.UUID]) -> Iterator[tuple[Session, uuid.UUID]]:
    """A session on the Ames transaction; what a test changes is rolled back after it."""
    conn, org_id = ames_connection
    savepoint = conn.begin_nested()
    with Session(
        bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session, org_id
    savepoint.rollback()


def by_row(session: Session, org_id: uuid.UUID, row_name: int):
    prop = property_service.get_by_source(
        session=session, org_id=org_id, source="ames", source_id=str(row_name)
    )
    assert prop is not None
    return prop


def test_ames_rows_become_sold_properties_without_invented_addresses(
    ames_db: tuple[Session, uuid.UUID],
) -> None:
    session, org_id = ames_db
    # Row 1 of modeldata::ames: North_Ames, 1,656 sqft, 3 bedrooms, 1 full bath, built 1960,
    # Overall_Cond "Average", sold 5/2010 for $215,000, Condition_1 Norm.
    prop = by_row(session, org_id, 1)
    assert prop.address_line is None
    assert prop.address["label"] == "Ames sale #1"
    assert "no street addresses" in prop.address["note"]
    assert (prop.city, prop.state, prop.neighborhood) == ("Ames", "IA", "North Ames")
    assert prop.status == "sold" and prop.property_type == "single_family"
    assert prop.close_price == Decimal("215000") and prop.close_date == dt.date(2010, 5, 15)
    assert (prop.square_feet, prop.bedrooms, prop.bathrooms) == (1656, 3, Decimal("1.0"))
    assert prop.condition_rating == 5 and prop.quality_rating is None
    assert prop.features["overall_condition"] == "Average"
    assert prop.features["year_remodeled"] == 1960
    assert prop.features["finished_basement_sqft"] == 1080 - 441
    assert prop.features["sale_condition"] == "Normal"
    assert ames.count_loaded(session=session, org_id=org_id) == 2930
    again = ames.load_ames(session=session, org_id=org_id)
    assert (again.inserted, again.already_loaded) == (0, 2930)


def test_the_comp_query_scans_the_hnsw_index(ames_db: tuple[Session, uuid.UUID]) -> None:
    session, org_id = ames_db
    subject = session.get(CompFeature, by_row(session, org_id, 1).id)
    assert subject is not None
    plan = comp_index.explain_candidates(
        session=session,
        org_id=org_id,
        vector=list(subject.embedding),
        as_of=dt.date(2010, 5, 15),
    )
    assert HNSW_INDEX_NAME in plan, plan
    rows = comp_index.candidates(
        session=session,
        org_id=org_id,
        vector=list(subject.embedding),
        as_of=dt.date(2010, 5, 15),
        exclude_id=subject.property_id,
    )
    assert len(rows) == comp_index.CANDIDATES
    assert all(r.close_date and r.close_date < dt.date(2010, 5, 15) for r in rows)
    assert all(r.arms_length for r in rows)


def test_a_2010_sale_is_valued_from_earlier_sales_only(ames_db: tuple[Session, uuid.UUID]) -> None:
    session, org_id = ames_db
    prop = by_row(session, org_id, 1)
    analysis = service.find_comps(
        session=session, org_id=org_id, property_id=prop.id, as_of=prop.close_date
    )
    assert len(analysis.comps) == 10
    assert all(c.sale_date < dt.date(2010, 5, 15) for c in analysis.comps)
    assert prop.id not in {c.property_id for c in analysis.comps}
    assert all(c.label.startswith("Ames sale #") for c in analysis.comps)
    for comp in analysis.comps:
        assert comp.sale_price + sum(line.amount for line in comp.lines) == comp.adjusted_price
        assert comp.distance_miles is not None and comp.distance_miles < 3
    assert abs(float(analysis.value) / 215_000 - 1) < 0.25
    # The rates came from the market's sales before May 2010, and say so.
    model = analysis.inputs["market_model"]
    assert model["last_sale"] < "2010-05-15" and model["sales"] > 2000
    size = next(r for r in analysis.inputs["adjustment_rates"] if r["name"] == "log_living_area")
    assert 0.2 < size["coefficient"] < 1.0 and size["dollars_per_sqft_at_median"] > 0


def test_arv_is_at_least_the_as_is_value_for_a_poor_condition_house(
    ames_db: tuple[Session, uuid.UUID],
) -> None:
    session, org_id = ames_db
    poor = session.exec(
        select(CompFeature)
        .where(CompFeature.org_id == org_id, col(CompFeature.close_date) >= dt.date(2010, 1, 1))
        .order_by(CompFeature.label)
    ).all()
    subject = next(r for r in poor if (r.facts.get("condition") or 5) <= 3)
    as_of = subject.close_date
    assert as_of is not None
    as_is = service.value_property(
        session=session, org_id=org_id, property_id=subject.property_id, as_of=as_of
    )
    arv = service.after_repair_value(
        session=session, org_id=org_id, property_id=subject.property_id, as_of=as_of
    )
    assert arv.value >= as_is.value
    assert "renovation_assumed" in arv.inputs
    assert all((c["lines"] and c["sale_date"] < as_of.isoformat()) for c in arv.comps)


def test_market_analysis_of_an_ames_neighbourhood(ames_db: tuple[Session, uuid.UUID]) -> None:
    session, org_id = ames_db
    result = service.market_analysis(
        session=session, org_id=org_id, neighborhood="North_Ames", months=12
    )
    assert result.neighborhood == "North Ames"
    assert result.period_end == dt.date(2010, 7, 16)  # the neighbourhood's last sale + 1 day
    rows = session.exec(
        select(CompFeature).where(
            CompFeature.org_id == org_id,
            CompFeature.neighborhood == "North Ames",
            col(CompFeature.arms_length).is_(True),
            col(CompFeature.close_date) >= dt.date(2009, 7, 16),
        )
    ).all()
    assert result.sales == len(rows) > 50


def test_seeding_the_demo_loads_ames_once(
    ames_db: tuple[Session, uuid.UUID], tmp_path: Path
) -> None:
    session, _ = ames_db
    first = seed_demo(session=session, data_dir=tmp_path)
    assert "2930 Ames, Iowa home sales (2006-2010) for comps" in first.created
    second = seed_demo(session=session, data_dir=tmp_path)
    assert second.created == []
    demo = auth_service.get_organisation_by_slug(session=session, slug="demo")
    assert demo is not None
    indexed, _ = comp_index.stamp(session=session, org_id=demo.id)
    assert indexed == 2930 + len(DEMO_LISTINGS)  # the sales and the demo listings
