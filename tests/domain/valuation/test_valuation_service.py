"""Comps, valuations, history, market analysis and events on small hand-made markets."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.property import service as property_service
from domain.property.models import PropertyCreate
from domain.valuation import service
from domain.valuation.enums import ValuationKind
from domain.valuation.features import HomeFacts, feature_vector
from domain.valuation.models import HNSW_INDEX_NAME, CompFeature, SubjectAttributes, Valuation
from domain.valuation.subscribers import (
    index_new_property,
    revalue_after_market_update,
    revalue_after_walkthrough,
)
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_org, make_user, principal_for

CENTRE = (42.33, -83.05)  # a made-up market around Detroit's coordinates


def add_sale(
    db: Session,
    org: Organisation,
    *,
    i: int,
    sold: dt.date | None,
    sqft: int = 1500,
    condition: int = 5,
    price: int | None = None,
    zip_code: str = "48201",
    year_built: int = 1950,
) -> uuid.UUID:
    """A sold house ~i x 0.1 miles east of the centre; price 100 $/sqft x 1.05^(condition-5)."""
    if price is None and sold is not None:
        price = round(100 * sqft * 1.05 ** (condition - 5))
    prop = property_service.create(
        session=db,
        org_id=org.id,
        property_in=PropertyCreate(
            latitude=CENTRE[0] + 0.0005 * (i % 7),
            longitude=CENTRE[1] + 0.002 * i,
            zip_code=zip_code,
            square_feet=sqft,
            bedrooms=3,
            bathrooms=Decimal("1.5"),
            year_built=year_built,
            condition_rating=condition,
            close_price=Decimal(price) if price is not None else None,
            close_date=sold,
            source="test",
            source_id=uuid.uuid4().hex,
        ),
    )
    return prop.id


def small_market(db: Session, org: Organisation, *, months: int = 12) -> dict[int, uuid.UUID]:
    """Two sales a month through 2009 (sizes 1,200-2,100 sqft, conditions 4-7)."""
    ids: dict[int, uuid.UUID] = {}
    for i in range(2 * months):
        ids[i] = add_sale(
            db,
            org,
            i=i,
            sold=dt.date(2009, i // 2 + 1, 15),
            sqft=1200 + 100 * (i % 10),
            condition=4 + i % 4,
        )
    return ids


def test_comps_never_include_the_subject_or_later_sales(db: Session) -> None:
    org = make_org(db)
    ids = small_market(db, org)
    later = [add_sale(db, org, i=100 + k, sold=dt.date(2010, 3, 15)) for k in range(3)]
    subject_id = ids[19]  # sold 2009-10-15
    analysis = service.find_comps(
        session=db, org_id=org.id, property_id=subject_id, as_of=dt.date(2009, 10, 15)
    )
    comp_ids = {c.property_id for c in analysis.comps}
    assert subject_id not in comp_ids
    assert not comp_ids & set(later)
    assert all(c.sale_date < dt.date(2009, 10, 15) for c in analysis.comps)
    assert 3 <= len(analysis.comps) <= 10
    # Valued after its own sale, the subject's sale is still never its own comp.
    later_analysis = service.find_comps(
        session=db, org_id=org.id, property_id=subject_id, as_of=dt.date(2010, 1, 1)
    )
    assert subject_id not in {c.property_id for c in later_analysis.comps}
    # Every comp is explained: its lines add up to its adjusted price, weights sum to 1.
    for comp in analysis.comps:
        assert comp.sale_price + sum(line.amount for line in comp.lines) == comp.adjusted_price
    assert sum(c.weight for c in analysis.comps) == pytest.approx(1.0, abs=0.001)
    assert analysis.low <= analysis.value <= analysis.high
    assert analysis.inputs["search"]["index"] == "ix_comp_features_embedding_hnsw"
    assert any(rate["name"] == "log_living_area" for rate in analysis.inputs["adjustment_rates"])


def test_a_price_that_follows_size_and_condition_is_valued_close_to_it(db: Session) -> None:
    # Every sale is priced 100 $/sqft x 1.05^(condition - 5), flat over time: a 1,600 sqft
    # house in condition 6 should come out near 100 x 1,600 x 1.05 = $168,000.
    org = make_org(db)
    small_market(db, org)
    analysis = service.find_comps(
        session=db,
        org_id=org.id,
        subject=SubjectAttributes(
            square_feet=1600,
            condition_rating=6,
            bedrooms=3,
            bathrooms=Decimal("1.5"),
            year_built=1950,
            latitude=CENTRE[0],
            longitude=CENTRE[1] + 0.01,
            zip_code="48201",
        ),
        as_of=dt.date(2010, 1, 15),
    )
    assert abs(float(analysis.value) / 168_000 - 1) < 0.03
    assert analysis.subject.property_id is None


def test_another_organisations_sales_are_never_comps(db: Session) -> None:
    org_a, org_b = make_org(db, "A"), make_org(db, "B")
    ids_a = small_market(db, org_a)
    ids_b = {add_sale(db, org_b, i=k, sold=dt.date(2009, 6, 15), price=50_000) for k in range(6)}
    subject = SubjectAttributes(
        square_feet=1500, latitude=CENTRE[0], longitude=CENTRE[1], zip_code="48201"
    )
    analysis = service.find_comps(
        session=db, org_id=org_b.id, subject=subject, as_of=dt.date(2010, 1, 1), max_comps=5
    )
    assert {c.property_id for c in analysis.comps} <= ids_b
    # Org B cannot value (or even name) org A's property.
    with pytest.raises(service.ValuationNotFoundError):
        service.find_comps(session=db, org_id=org_b.id, property_id=ids_a[0])


def test_arv_uses_top_condition_comps_and_beats_as_is_for_a_poor_house(db: Session) -> None:
    org = make_org(db)
    small_market(db, org)
    poor = add_sale(db, org, i=50, sold=None, sqft=1500, condition=3)
    as_is = service.value_property(
        session=db, org_id=org.id, property_id=poor, as_of=dt.date(2010, 1, 1)
    )
    arv = service.after_repair_value(
        session=db, org_id=org.id, property_id=poor, as_of=dt.date(2010, 1, 1)
    )
    assert arv.kind == ValuationKind.arv
    assert arv.value > as_is.value
    for comp in arv.comps:
        condition_line = next(line for line in comp["lines"] if line["line"] == "condition")
        assert condition_line["comp"]["condition"] >= 7
        assert condition_line["subject"]["condition"] == 7  # renovated to Good


def test_valuations_are_stored_explained_and_announced(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    ids = small_market(db, org)
    first = service.value_property(
        session=db, org_id=org.id, property_id=ids[5], principal=principal_for(user)
    )
    second = service.after_repair_value(session=db, org_id=org.id, property_id=ids[5])
    history = service.list_valuations(session=db, org_id=org.id, property_id=ids[5])
    assert [v.id for v in history] == [second.id, first.id]
    assert first.created_by == user.id and second.created_by is None
    assert first.inputs["market_model"]["sales"] == 23  # the other 23 sales of 2009
    assert first.comps and all("lines" in comp for comp in first.comps)
    events = db.exec(select(OutboxEvent).where(OutboxEvent.name == "valuation.completed")).all()
    payloads = [e.payload for e in events if e.org_id == org.id]
    assert {p["valuation_id"] for p in payloads} == {str(first.id), str(second.id)}
    assert payloads[0]["property_id"] == str(ids[5])


def test_market_analysis_matches_a_direct_computation(db: Session) -> None:
    org = make_org(db)
    rows = []
    for i in range(10):
        sold = dt.date(2009, 1 + i, 10)
        sqft, price = 1000 + 150 * i, 90_000 + 7_000 * i
        add_sale(db, org, i=i, sold=sold, sqft=sqft, price=price, zip_code="48207")
        rows.append((sold, sqft, price))
    add_sale(db, org, i=20, sold=dt.date(2009, 5, 10), price=999_999, zip_code="48201")
    service.reindex_comps(session=db, org_id=org.id)
    result = service.market_analysis(session=db, org_id=org.id, zip_code="48207", months=12)
    assert result.sales == 10
    assert result.period_end == dt.date(2009, 10, 11)  # the day after the last sale
    assert result.period_start == dt.date(2008, 10, 11)  # 12 months before
    assert result.median_price == Decimal(str(statistics.median(p for _, _, p in rows)))
    expected_ppsf = statistics.median(p / s for _, s, p in rows)
    assert result.median_price_per_sqft == Decimal(str(round(expected_ppsf, 2)))
    assert result.total_volume == Decimal(sum(p for _, _, p in rows))
    assert [m.month for m in result.trend] == [f"2009-{m:02d}" for m in range(1, 11)]
    assert result.trend[3].median_price == Decimal("111000.00")  # April: 90,000 + 3 x 7,000
    # $/sqft of the last 6 months (Apr 11 - Oct 10: May-Oct) vs the 6 before (Jan-Apr).
    recent = statistics.median(p / s for d, s, p in rows if d >= dt.date(2009, 4, 11))
    older = statistics.median(p / s for d, s, p in rows if d < dt.date(2009, 4, 11))
    assert result.price_per_sqft_change_pct == pytest.approx(100 * (recent / older - 1), abs=0.01)


def test_subscribers_index_new_properties_and_flag_revaluations(db: Session) -> None:
    org = make_org(db)
    ids = small_market(db, org, months=6)
    new_id = add_sale(db, org, i=6, sold=dt.date(2009, 5, 1), sqft=1800)  # 100 $/sqft
    event = Event(uuid.uuid4(), org.id, "property.created", {"property_id": str(new_id)})
    index_new_property(db, event)
    index_new_property(db, event)  # a second delivery changes nothing
    row = db.get(CompFeature, new_id)
    assert row is not None and row.facts["square_feet"] == 1800 and row.close_price == 180_000
    valuation = service.value_property(session=db, org_id=org.id, property_id=ids[3])
    walk = Event(uuid.uuid4(), org.id, "walkthrough.completed", {"property_id": str(ids[3])})
    revalue_after_walkthrough(db, walk)
    revalue_after_walkthrough(db, walk)
    db.refresh(valuation)
    assert valuation.stale_reason is not None and str(walk.id) in valuation.stale_reason
    update = Event(uuid.uuid4(), org.id, "market.data.updated", {"zip_code": "48201"})
    revalue_after_market_update(db, update)
    insights = [
        e
        for e in db.exec(
            select(OutboxEvent).where(OutboxEvent.name == "market.insight.generated")
        ).all()
        if e.org_id == org.id
    ]
    assert len(insights) == 1
    assert insights[0].payload["sales"] == 13  # 12 sales of Jan-Jun 2009 + the new one


# --- the API -----------------------------------------------------------------------------


def test_api_values_a_property_and_serves_its_history(client: TestClient, db: Session) -> None:
    org = make_org(db)
    ids = small_market(db, org)
    headers = auth_headers(db, make_user(db, org, Role.investor))
    comps = client.get(f"/api/v1/properties/{ids[7]}/comps", headers=headers)
    assert comps.status_code == 200, comps.text
    assert comps.json()["comps"][0]["lines"]
    created = client.post(
        "/api/v1/valuations/calculate", json={"property_id": str(ids[7])}, headers=headers
    )
    assert created.status_code == 201, created.text
    arv = client.post("/api/v1/valuations/arv", json={"property_id": str(ids[7])}, headers=headers)
    assert arv.status_code == 201, arv.text
    history = client.get(f"/api/v1/properties/{ids[7]}/valuation", headers=headers)
    assert [v["id"] for v in history.json()] == [arv.json()["id"], created.json()["id"]]
    assert history.headers["X-Total-Count"] == "2"
    second = client.get(
        f"/api/v1/properties/{ids[7]}/valuation", params={"limit": 1, "offset": 1}, headers=headers
    )
    assert [v["id"] for v in second.json()] == [created.json()["id"]]
    assert second.headers["X-Total-Count"] == "2"
    latest = client.get(f"/api/v1/valuations/{ids[7]}", headers=headers).json()
    assert latest["latest_as_is"]["id"] == created.json()["id"]
    assert latest["latest_arv"]["id"] == arv.json()["id"]
    market = client.get("/api/v1/market/analysis", params={"zip": "48201"}, headers=headers)
    assert market.status_code == 200 and market.json()["sales"] == 24


def test_api_refuses_bad_input_unknown_ids_and_contractors(client: TestClient, db: Session) -> None:
    org = make_org(db)
    small_market(db, org, months=3)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    unknown = uuid.uuid4()
    assert client.get(f"/api/v1/properties/{unknown}/comps", headers=headers).status_code == 404
    assert client.get(f"/api/v1/valuations/{unknown}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/properties/{unknown}/valuation", headers=headers).status_code == 404
    missing = client.post(
        "/api/v1/valuations/calculate", json={"property_id": str(unknown)}, headers=headers
    )
    assert missing.status_code == 404
    neither = client.post("/api/v1/comparables/analyze", json={}, headers=headers)
    assert neither.status_code == 422 and "property_id or subject" in neither.json()["detail"]
    too_many = client.post(
        "/api/v1/comparables/analyze",
        json={"subject": {"bedrooms": 50, "latitude": 42.3, "longitude": -83.0}},
        headers=headers,
    )
    assert too_many.status_code == 422 and "bedrooms" in too_many.text
    nowhere = client.post(
        "/api/v1/comparables/analyze", json={"subject": {"square_feet": 1200}}, headers=headers
    )
    assert nowhere.status_code == 422 and "location" in nowhere.json()["detail"]
    no_area = client.get("/api/v1/market/analysis", headers=headers)
    assert no_area.status_code == 422
    assert "zip (ZIP code) or a neighborhood" in no_area.json()["detail"]
    contractor = auth_headers(db, make_user(db, org, Role.contractor))
    assert client.get("/api/v1/market/analysis?zip=48201", headers=contractor).status_code == 403
    assert db.exec(select(Valuation).where(Valuation.org_id == org.id)).all() == []


def test_prior_sales_in_box_and_the_renovated_rule_match_the_comp_query(db: Session) -> None:
    """The market monitor's batch read: only this org's earlier sales inside the box, and the
    Python ARV rule picks exactly the sales the SQL (HNSW) ARV candidates allow."""
    org = make_org(db)
    small_market(db, org)
    for i, remodeled in ((30, 2006), (31, 2003), (32, None)):
        prop = property_service.create(
            session=db,
            org_id=org.id,
            property_in=PropertyCreate(
                latitude=CENTRE[0],
                longitude=CENTRE[1] + 0.002 * i,
                square_feet=1500,
                bedrooms=3,
                year_built=1950,
                condition_rating=5,
                close_price=Decimal(150_000),
                close_date=dt.date(2009, 6, 15),
                features={"year_remodeled": remodeled} if remodeled else {},
                source="test",
                source_id=uuid.uuid4().hex,
            ),
        )
        assert prop.id
    far = make_org(db)
    add_sale(db, far, i=1, sold=dt.date(2009, 3, 15))
    as_of = dt.date(2009, 10, 1)
    box = {"south": CENTRE[0] - 0.01, "north": CENTRE[0] + 0.01}
    market = service.prior_sales_in_box(
        session=db,
        org_id=org.id,
        as_of=as_of,
        west=CENTRE[1] - 0.001,
        east=CENTRE[1] + 0.02 * 2 + 0.001,  # the first ~20 sales and none of the remodels
        max_sales=1000,
        **box,
    )
    assert market.sales, "the box holds sales"
    assert all(s.close_date < as_of for s in market.sales)
    dates = [s.close_date for s in market.sales]
    assert dates == sorted(dates, reverse=True)
    assert all(
        CENTRE[1] - 0.001 <= lon <= CENTRE[1] + 0.041 for _, lon in market.coordinates if lon
    )
    wide = service.prior_sales_in_box(
        session=db, org_id=org.id, as_of=as_of, west=-84, east=-82, max_sales=1000, **box
    )
    ids = {s.property_id for s in wide.sales}
    assert len(ids) == 18 + 3  # 2 a month Jan-Sep 2009, and the three June sales; no other org
    python_rule = {
        s.property_id for s in wide.sales if service.is_renovated_sale(s.facts, s.close_date)
    }
    sql_rule = {
        c.property_id
        for c in service.comp_index.candidates(
            session=db,
            org_id=org.id,
            vector=feature_vector(HomeFacts()),
            as_of=as_of,
            exclude_id=None,
            limit=1000,
            renovated_only=True,
        )
    }
    assert python_rule == sql_rule
    # condition 7 sales and the 2006 remodel count; the 2003 remodel and no remodel do not
    assert len(python_rule) == 4 + 1


def test_a_small_org_still_gets_its_comps_when_other_orgs_fill_the_hnsw_scan(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One HNSW index serves every organisation; an iterative scan gives up after
    ``hnsw.max_scan_tuples`` entries. When a big neighbour's rows use that up, the search
    falls back to an exact scan of the organisation's own rows instead of finding nothing."""
    from domain.valuation import comps as comp_index

    small, big = make_org(db), make_org(db, "Big Portfolio LLC")
    for i in range(8):
        add_sale(db, small, i=i, sold=dt.date(2009, 1 + i, 15), sqft=2400, condition=7)
    for i in range(120):
        add_sale(db, big, i=i % 10, sold=dt.date(2009, 1 + i % 12, 15), sqft=1200)
    for org in (small, big):
        service.reindex_comps(session=db, org_id=org.id)
    monkeypatch.setattr(comp_index, "HNSW_MAX_SCAN_TUPLES", 30)
    like_the_big_orgs = feature_vector(
        HomeFacts(
            square_feet=1200,
            bedrooms=3,
            bathrooms=1.5,
            year_built=1950,
            condition=5,
            latitude=CENTRE[0],
            longitude=CENTRE[1],
        ),
        sold_on=dt.date(2010, 1, 15),
    )
    search = {
        "org_id": small.id,
        "vector": like_the_big_orgs,
        "as_of": dt.date(2010, 1, 15),
        "exclude_id": None,
        "limit": 20,
        "renovated_only": False,
    }
    # A table this small would be read through the organisation's B-tree index and sorted;
    # make the planner take the HNSW index for the ordering, as it does on a large table.
    db.execute(text("SET LOCAL enable_sort = off"))
    plan = comp_index.explain_candidates(
        session=db, org_id=small.id, vector=like_the_big_orgs, as_of=dt.date(2010, 1, 15)
    )
    assert HNSW_INDEX_NAME in plan
    comp_index._tune_hnsw(db, 20)
    hnsw_only = db.exec(comp_index.candidate_query(**search)).all()  # type: ignore[arg-type]
    assert len(hnsw_only) < 8, "the HNSW scan alone should run out before the small org's rows"
    found = comp_index.candidates(session=db, ef_search=20, **search)  # type: ignore[arg-type]
    assert len(found) == 8
    assert {row.org_id for row in found} == {small.id}
