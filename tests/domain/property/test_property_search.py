"""Search: each filter is tested on data that would give a different answer without it."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.property import service
from domain.property.errors import PropertyValidationError
from domain.property.models import PropertySearch, SortKey
from tests.factories import auth_headers, make_org, make_property, make_user

# Downtown Detroit (Campus Martius), and points measured from it.
A_LAT, A_LON = 42.3314, -83.0458
# 0.0145 degrees due north is 3958.7613 mi * 0.0145 * pi/180 = 1.00185 miles.
B_LAT = A_LAT + 0.0145
B_MILES = 3958.7613 * math.radians(0.0145)
# 3 miles north.
C_LAT = A_LAT + math.degrees(3 / 3958.7613)
# 0.99 miles due east: at this latitude a degree of longitude is only ~51 miles, so a
# bounding box that used the latitude span for longitude too would wrongly drop this point.
D_LON = A_LON + math.degrees(0.99 / (3958.7613 * math.cos(math.radians(A_LAT))))


@pytest.fixture
def homes(db: Session) -> tuple[Organisation, dict[str, Any]]:
    org = make_org(db, "Search Org")
    other = make_org(db, "Someone Else")
    # Another organisation's identical house must never show up.
    make_property(db, other, address_line="100 Kercheval Ave", latitude=A_LAT, longitude=A_LON)
    rows = {
        "p1": make_property(
            db, org, address_line="100 Kercheval Ave", city="Detroit", zip_code="48215",
            property_type="single_family", status="sold", list_price=Decimal(120000),
            close_price=Decimal(100000), square_feet=1000, bedrooms=2, bathrooms=Decimal(1),
            year_built=1920, latitude=A_LAT, longitude=A_LON, features={"basement": True},
        ),
        "p2": make_property(
            db, org, address_line="200 Woodward Ave", city="Detroit", zip_code="48201",
            property_type="condo", status="active", list_price=Decimal(200000),
            square_feet=1500, bedrooms=3, bathrooms=Decimal(2), year_built=1960,
            section8_approved=True, latitude=B_LAT, longitude=A_LON,
        ),
        "p3": make_property(
            db, org, address_line="300 Gratiot Ave", city="Detroit", zip_code="48207",
            property_type="multi_family", status="active", list_price=Decimal(300000),
            square_feet=2500, bedrooms=5, bathrooms=Decimal(3), year_built=2005,
            section8_approved=True, latitude=C_LAT, longitude=A_LON,
        ),
        "p4": make_property(
            db, org, address_line="400 E Jefferson Ave", city="Detroit", zip_code="48207",
            property_type="townhouse", status="pending", list_price=Decimal(150000),
            square_feet=1200, bedrooms=3, bathrooms=Decimal("1.5"), year_built=1985,
            latitude=A_LAT, longitude=D_LON,
        ),
        "p5": make_property(
            db, org, address_line="500 Mack Ave", city="Detroit", zip_code="48214",
            property_type="single_family", status="off_market",
        ),
    }  # fmt: skip
    return org, rows


def _names(org: Organisation, homes: dict[str, Any], db: Session, **filters: Any) -> set[str]:
    """The fixture names of the properties a search returns."""
    by_id = {prop.id: name for name, prop in homes.items()}
    result = service.search(session=db, org_id=org.id, query=PropertySearch.model_validate(filters))
    assert result.total == len(result.hits)
    return {by_id[hit.property.id] for hit in result.hits}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"p1", "p2", "p3", "p4", "p5"}),
        # Price is the close price once sold: p1 listed at 120k but sold at 100k.
        ({"min_price": 110000, "max_price": 160000}, {"p4"}),
        ({"max_price": 120000}, {"p1"}),
        ({"min_price": 250000}, {"p3"}),
        ({"min_bedrooms": 3, "max_bedrooms": 3}, {"p2", "p4"}),
        ({"min_bedrooms": 4}, {"p3"}),
        ({"min_bathrooms": 2}, {"p2", "p3"}),
        ({"max_bathrooms": "1.5"}, {"p1", "p4"}),
        ({"min_square_feet": 1100, "max_square_feet": 2000}, {"p2", "p4"}),
        ({"min_year_built": 1950, "max_year_built": 1990}, {"p2", "p4"}),
        ({"max_year_built": 1930}, {"p1"}),
        ({"property_types": ["condo", "townhouse"]}, {"p2", "p4"}),
        ({"statuses": ["active"]}, {"p2", "p3"}),
        ({"statuses": ["sold", "off_market"]}, {"p1", "p5"}),
        ({"section8_approved": True}, {"p2", "p3"}),
        ({"section8_approved": False}, {"p1", "p4", "p5"}),
        ({"zip_code": "48207"}, {"p3", "p4"}),
        ({"text": "kercheval"}, {"p1"}),
        ({"text": "basement"}, {"p1"}),
        ({"text": "jefferson avenue"}, {"p4"}),
        ({"text": "48207"}, {"p3", "p4"}),
        ({"text": "woodward gratiot"}, set()),
        ({"statuses": ["active"], "min_bedrooms": 4}, {"p3"}),
    ],
)
def test_each_filter_narrows_the_results(
    db: Session,
    homes: tuple[Organisation, dict[str, Any]],
    filters: dict[str, Any],
    expected: set[str],
) -> None:
    org, rows = homes
    assert _names(org, rows, db, **filters) == expected


def test_radius_search_uses_great_circle_distance(
    db: Session, homes: tuple[Organisation, dict[str, Any]]
) -> None:
    org, rows = homes
    by_id = {prop.id: name for name, prop in rows.items()}
    near = {"latitude": A_LAT, "longitude": A_LON, "radius_miles": 1.5}
    result = service.search(
        session=db, org_id=org.id, query=PropertySearch.model_validate({"near": near})
    )
    # Nearest first: p1 at the point, p4 0.99 mi east, p2 1.00185 mi north; p3 (3 mi) is out.
    assert [by_id[hit.property.id] for hit in result.hits] == ["p1", "p4", "p2"]
    distances = {by_id[hit.property.id]: hit.distance_miles for hit in result.hits}
    assert distances["p1"] == pytest.approx(0.0, abs=1e-6)
    assert distances["p4"] == pytest.approx(0.99, abs=1e-3)
    assert distances["p2"] == pytest.approx(B_MILES, abs=1e-3)
    assert B_MILES == pytest.approx(1.00185, abs=1e-4)

    # One mile: p4 (0.99 mi east) is in, p2 (1.002 mi north) is out.
    one_mile = {**near, "radius_miles": 1.0}
    assert _names(org, rows, db, near=one_mile) == {"p1", "p4"}
    five_miles = {**near, "radius_miles": 5}
    assert _names(org, rows, db, near=five_miles) == {"p1", "p2", "p3", "p4"}  # p5: no point
    assert _names(org, rows, db, near=five_miles, statuses=["active"]) == {"p2", "p3"}


def test_sort_and_pagination(db: Session, homes: tuple[Organisation, dict[str, Any]]) -> None:
    org, rows = homes
    by_id = {prop.id: name for name, prop in rows.items()}
    first = service.search(
        session=db, org_id=org.id, query=PropertySearch(sort=SortKey.price_desc, limit=2)
    )
    second = service.search(
        session=db, org_id=org.id, query=PropertySearch(sort=SortKey.price_desc, limit=2, offset=2)
    )
    last = service.search(
        session=db, org_id=org.id, query=PropertySearch(sort=SortKey.price_desc, limit=2, offset=4)
    )
    order = [by_id[h.property.id] for page in (first, second, last) for h in page.hits]
    # 300k, 200k, 150k, 100k (p1's close price), then p5 with no price.
    assert order == ["p3", "p2", "p4", "p1", "p5"]
    assert first.total == second.total == 5
    ascending = service.search(
        session=db, org_id=org.id, query=PropertySearch(sort=SortKey.year_built)
    )
    assert [by_id[h.property.id] for h in ascending.hits][:4] == ["p1", "p2", "p4", "p3"]


def test_inconsistent_searches_are_refused(db: Session) -> None:
    org = make_org(db)
    with pytest.raises(PropertyValidationError, match="min_price"):
        service.search(
            session=db,
            org_id=org.id,
            query=PropertySearch(min_price=Decimal(500), max_price=Decimal(100)),
        )
    with pytest.raises(PropertyValidationError, match="near"):
        service.search(session=db, org_id=org.id, query=PropertySearch(sort=SortKey.distance))


def test_search_over_the_api(
    client: TestClient, db: Session, homes: tuple[Organisation, dict[str, Any]]
) -> None:
    org, rows = homes
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    body = {
        "near": {"latitude": A_LAT, "longitude": A_LON, "radius_miles": 1.5},
        "min_bedrooms": 3,
    }
    response = client.post("/api/v1/properties/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2
    assert [item["id"] for item in page["items"]] == [str(rows["p4"].id), str(rows["p2"].id)]
    assert page["items"][1]["distance_miles"] == pytest.approx(1.002, abs=1e-3)
    assert page["filters"]["min_bedrooms"] == 3
    bad = client.post(
        "/api/v1/properties/search",
        json={"near": {"latitude": 95, "longitude": 0, "radius_miles": 1}},
        headers=headers,
    )
    assert bad.status_code == 422
    upside_down = client.post(
        "/api/v1/properties/search", json={"min_bedrooms": 4, "max_bedrooms": 2}, headers=headers
    )
    assert upside_down.status_code == 422 and "min_bedrooms" in upside_down.json()["detail"]
