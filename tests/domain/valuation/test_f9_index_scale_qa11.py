"""QA 11 (F9): the comp index at scale.

- A comps request closes a small gap in the index (properties missing or changed since
  they were indexed) by an anti-join, in a transaction of its own, so the work is done once;
  it never re-indexes the whole organisation, and leaves a huge gap to the background.
- ``reindex_comps`` is incremental: it writes only rows missing or changed, pages by keyset
  (no OFFSET) and drops rows of deleted properties.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, event, func
from sqlalchemy.engine import Engine as EngineClass
from sqlmodel import Session, col, select

from domain.auth.models import Organisation
from domain.property import service as property_service
from domain.property.models import PropertyCreate
from domain.valuation import comps as comp_index
from domain.valuation import service
from domain.valuation.models import CompFeature
from domain.valuation.subscribers import revalue_after_market_update
from store.events import Event
from tests.factories import ANALYSIS_MARKET_CENTRE, make_org, make_sold_market

COMP_WRITE = "INSERT INTO valuation_service.comp_features"


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine or connection runs inside the block."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(EngineClass, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(EngineClass, "before_cursor_execute", record)


def _indexed(session: Session, org: Organisation) -> set[uuid.UUID]:
    return set(
        session.exec(select(CompFeature.property_id).where(CompFeature.org_id == org.id)).all()
    )


def _sale(session: Session, org: Organisation, i: int) -> uuid.UUID:
    prop = property_service.create(
        session=session,
        org_id=org.id,
        property_in=PropertyCreate(
            address_line=f"{300 + 2 * i} Gap St",
            city="Detroit",
            state="MI",
            zip_code="48201",
            latitude=ANALYSIS_MARKET_CENTRE[0] + 0.0004 * (i % 5),
            longitude=ANALYSIS_MARKET_CENTRE[1] + 0.0015 * i,
            square_feet=1500,
            bedrooms=3,
            bathrooms=Decimal("1.5"),
            year_built=1950,
            condition_rating=5,
            close_price=Decimal(90_000 + 500 * i),
            close_date=dt.date(2024, 1 + i % 12, 10),
            source="gap",
            source_id=f"gap-{i}",
        ),
        publish_event=False,
    )
    return prop.id


def test_a_comps_request_indexes_a_small_gap_once_in_its_own_committed_transaction(
    committed_db: Session, engine: Engine
) -> None:
    org = make_org(committed_db)
    sold = make_sold_market(committed_db, org, sales=20)
    service.reindex_comps(session=committed_db, org_id=org.id)
    committed_db.commit()
    # A bulk load that published no events (3 new sales) and a row lost from the index.
    new = {_sale(committed_db, org, i) for i in range(3)}
    committed_db.execute(delete(CompFeature).where(col(CompFeature.property_id) == sold[0]))
    committed_db.commit()

    with statements() as first:
        # A GET request: its session reads and is never committed.
        with Session(engine) as request:
            result = service.find_comps(session=request, org_id=org.id, property_id=sold[5])
            request.rollback()
    assert result.comps
    written = [s for s in first if s.startswith(COMP_WRITE)]
    assert len(written) == 1  # one upsert of the gap, not a page per 500 properties
    # Committed: another session sees the four rows, and the old rows were not rewritten.
    with Session(engine) as other:
        assert _indexed(other, org) == set(sold) | new
    with statements() as second, Session(engine) as request:
        service.find_comps(session=request, org_id=org.id, property_id=sold[5])
        request.rollback()
    assert not [s for s in second if s.startswith(COMP_WRITE)]


def test_a_request_never_rewrites_the_whole_index(db: Session) -> None:
    org = make_org(db)
    sold = make_sold_market(db, org, sales=30)
    service.reindex_comps(session=db, org_id=org.id)
    extra = _sale(db, org, 1)
    captured: list[int] = []
    original = comp_index.upsert

    def counting(**kwargs: object) -> int:
        rows = list(kwargs.pop("properties"))  # type: ignore[call-overload]
        captured.append(len(rows))
        return original(properties=rows, **kwargs)  # type: ignore[arg-type]

    comp_index.upsert = counting  # type: ignore[assignment]
    try:
        service.find_comps(session=db, org_id=org.id, property_id=sold[3])
    finally:
        comp_index.upsert = original  # type: ignore[assignment]
    assert captured == [1]
    assert extra in _indexed(db, org)


def test_a_huge_gap_is_left_to_the_background_with_a_log_line(
    db: Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    org = make_org(db)
    sold = make_sold_market(db, org, sales=12)
    service.reindex_comps(session=db, org_id=org.id)
    for i in range(4):
        _sale(db, org, i)
    monkeypatch.setattr(service, "REQUEST_INDEX_MAX_ROWS", 3)
    with caplog.at_level(logging.WARNING, logger="domain.valuation.service"):
        result = service.find_comps(session=db, org_id=org.id, property_id=sold[2])
    assert result.comps  # what is indexed still serves
    assert _indexed(db, org) == set(sold)
    assert "left to the background" in caplog.text


def test_reindex_writes_only_missing_and_changed_rows_and_drops_deleted(db: Session) -> None:
    org = make_org(db)
    sold = make_sold_market(db, org, sales=8)
    assert service.reindex_comps(session=db, org_id=org.id) == 8
    assert service.reindex_comps(session=db, org_id=org.id) == 0  # nothing changed

    changed = property_service.require(session=db, org_id=org.id, property_id=sold[1])
    property_service.apply_changes(
        session=db, org_id=org.id, prop=changed, changes={"close_price": Decimal("123456")}
    )
    added = _sale(db, org, 7)
    property_service.delete(session=db, org_id=org.id, property_id=sold[2])
    db.flush()

    assert service.reindex_comps(session=db, org_id=org.id) == 2
    assert _indexed(db, org) == (set(sold) - {sold[2]}) | {added}
    row = comp_index.get(session=db, org_id=org.id, property_id=sold[1])
    assert row is not None and row.close_price == Decimal("123456")
    assert row.source_updated_at == changed.updated_at


def test_reindex_pages_by_keyset_not_offset(db: Session) -> None:
    org = make_org(db)
    ids = make_sold_market(db, org, sales=7)
    with statements() as seen:
        written = service.reindex_comps(session=db, org_id=org.id, page_size=2)
    assert written == 7
    assert _indexed(db, org) == set(ids)
    assert not [s for s in seen if " OFFSET " in s.upper()]
    assert len([s for s in seen if s.startswith(COMP_WRITE)]) == 4  # 2 + 2 + 2 + 1


def test_full_reindex_rewrites_every_row(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org, sales=5)
    service.reindex_comps(session=db, org_id=org.id)
    assert service.reindex_comps(session=db, org_id=org.id, full=True) == 5


def test_market_update_after_an_import_reindexes_nothing_when_the_index_is_current(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org, sales=10)
    service.reindex_comps(session=db, org_id=org.id)
    event_ = Event(
        uuid.uuid4(), org.id, "market.data.updated", {"origin": "import", "zip_codes": ["48201"]}
    )
    with statements() as seen:
        revalue_after_market_update(db, event_)
    assert not [s for s in seen if s.startswith(COMP_WRITE)]
    count = db.exec(
        select(func.count()).select_from(CompFeature).where(CompFeature.org_id == org.id)
    ).one()
    assert count == 10
