"""QA pass 9: a renamed HUD area imported for a newer year is the one a city means.

HUD renamed Detroit-Warren-Livonia (the seed's FY2024) to Detroit-Warren-Dearborn for FY2025.
After importing FY2025, "the FMR for a 3 bed in Detroit" answered "'Detroit' matches several
FMR areas", and the REST analysis with no area stayed on Livonia FY2024 without a word. The
area with the newest FMR year wins, the result says which area and year it used, and only two
areas of the same newest year still ask which.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, delete

from domain.auth.enums import Role
from domain.property.models import Section8Fmr
from domain.section8 import service
from store.reference_data import DETROIT_FMR_AREA
from tests.agent.turns import checked_turn
from tests.factories import auth_headers, make_org, make_user

DEARBORN = "Detroit-Warren-Dearborn, MI HUD Metro FMR Area"
FY25 = {0: 1010, 1: 1085, 2: 1301, 3: 1658, 4: 1890}


def _add_area(db: Session, area: str, year: int, org_id: uuid.UUID | None = None) -> None:
    for bedrooms, amount in FY25.items():
        db.add(
            Section8Fmr(
                org_id=org_id, area=area, year=year, bedrooms=bedrooms, fmr_amount=Decimal(amount)
            )
        )
    db.flush()


def test_a_city_means_its_newest_years_area(db: Session) -> None:
    org = make_org(db)
    _add_area(db, DEARBORN, 2025)
    result = service.rent_analysis(session=db, org_id=org.id, bedrooms=3, area="Detroit")
    assert (result.area, result.year, result.fmr) == (DEARBORN, 2025, Decimal("1658.00"))
    assert (
        "'Detroit' matches FMR areas of different years (HUD renames areas): used "
        f"{DEARBORN}, FY2025, the newest; not {DETROIT_FMR_AREA} (FY2024)"
    ) in result.assumptions
    # "Detroit, MI" (a city in its state) and a property's city take the same area.
    assert service.area_for_place(session=db, org_id=org.id, city="Detroit", state="MI") == (
        DEARBORN
    )
    # Asked for FY2024, the area on file for 2024 is still found.
    older = service.rent_analysis(session=db, org_id=org.id, bedrooms=3, area="Detroit", year=2024)
    assert (older.area, older.year, older.fmr) == (DETROIT_FMR_AREA, 2024, Decimal("1329.00"))


def test_no_area_given_uses_the_newest_detroit_area_and_says_so(db: Session) -> None:
    org = make_org(db)
    _add_area(db, DEARBORN, 2025)
    result = service.rent_analysis(session=db, org_id=org.id, bedrooms=3)
    assert (result.area, result.year) == (DEARBORN, 2025)
    assert (
        f"no area given: {DEARBORN}, FY2025, the newest Detroit area on file (rather than "
        f"{DETROIT_FMR_AREA})"
    ) in result.assumptions


def test_two_areas_of_the_same_newest_year_still_ask_which(db: Session) -> None:
    org = make_org(db)
    _add_area(db, DEARBORN, 2025)
    _add_area(db, "Detroit Lakes, MN Micropolitan Area", 2025)
    with pytest.raises(service.RentAnalysisInputError) as caught:
        service.rent_analysis(session=db, org_id=org.id, bedrooms=3, area="Detroit")
    assert str(caught.value) == (
        f"'Detroit' matches several FMR areas: Detroit Lakes, MN Micropolitan Area; {DEARBORN}"
    )


def test_rest_analysis_with_no_area_uses_the_newest_year(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    _add_area(db, DEARBORN, 2025)
    response = client.post(
        "/api/v1/section8/rent-analysis",
        json={"bedrooms": 3, "target_rent": 1400},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["area"], body["year"], body["fmr"]) == (DEARBORN, 2025, "1658.00")
    assert body["fmr_row"]["area"] == DEARBORN and body["fmr_row"]["year"] == 2025
    assert body["fmr_compliant"] is True
    assert any(a.startswith(f"no area given: {DEARBORN}, FY2025") for a in body["assumptions"])


def test_chat_fmr_for_a_three_bed_in_detroit_after_a_newer_import(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    ivy = make_user(db, org, Role.investor)
    # The organisation's own rows: committed, so they must not reach other tests' orgs.
    _add_area(db, DEARBORN, 2025, org_id=org.id)
    db.commit()
    try:
        turn = checked_turn(ivy, "what's the FMR for a 3 bed in Detroit?", channel="whatsapp")
        assert "matches several FMR areas" not in turn.reply
        assert turn.reply.startswith("Voucher rent, 3 bedrooms: FMR $1,658"), turn.reply
        assert "FY2025" in turn.reply and DEARBORN in turn.reply
    finally:
        db.exec(delete(Section8Fmr).where(col(Section8Fmr.org_id) == org.id))
        db.commit()
