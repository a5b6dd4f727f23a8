"""An FMR year older than HUD's current fiscal year is said wherever FMR figures are shown.

The demo's FMRs are HUD's FY2012 table for the Ames, IA MSA (``domain/demo``), loaded here the
way ``dealdesk import fmr`` loads it. Every analysis on it must warn that FY2012 is the newest
on file and say how to import the current table; a utility allowance given in the request is
not "on file".
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session

from agent.planner import reply_for
from core.clock import local_today
from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.deal import service as deal_service
from domain.deal.projection import ProjectionAssumptions
from domain.demo.service import AMES_FMR_FILE
from domain.property.models import Property, Section8Fmr
from domain.section8 import hud_import, service
from reports.property_report import render_property_report
from tests.factories import auth_headers, make_deal, make_org, make_property, make_user
from tests.tools.helpers import call_tool, context_for
from tools.section8 import section8_rent

ANALYSIS = "/api/v1/section8/rent-analysis"
AMES = "Ames, IA MSA"


def _current_fy() -> int:
    return service.hud_fiscal_year(local_today())


def _ames_warning() -> str:
    return (
        f"FMR FY2012 is the newest on file for {AMES}; HUD publishes new FMRs every year: "
        "import the current table with `dealdesk import fmr`"
    )


def _load_ames(db: Session) -> None:
    hud_import.import_fmr_csv(session=db, text=AMES_FMR_FILE.read_text())
    db.flush()


def _ames_house(db: Session, org: Organisation) -> Property:
    return make_property(
        db,
        org,
        address_line="3414 Lincoln Way",
        city="Ames",
        state="IA",
        zip_code="50014",
        bedrooms=3,
        square_feet=1400,
    )


def test_hud_fiscal_year_starts_october_first() -> None:
    assert service.hud_fiscal_year(dt.date(2026, 9, 30)) == 2026
    assert service.hud_fiscal_year(dt.date(2026, 10, 1)) == 2027
    assert service.hud_fiscal_year(dt.date(2027, 1, 1)) == 2027


def test_warning_wording_by_year() -> None:
    today = dt.date(2026, 5, 1)  # FY2026
    assert service.fmr_year_warning(area="A", used_year=2026, today=today) is None
    assert service.fmr_year_warning(area="A", used_year=2027, today=today) is None
    newest = service.fmr_year_warning(area="A", used_year=2025, today=today)
    assert newest == (
        "FMR FY2025 is the newest on file for A; HUD publishes new FMRs every year: import "
        "the current table with `dealdesk import fmr`"
    )
    # On October 1 FY2026's table is out of date too.
    assert service.fmr_year_warning(area="A", used_year=2026, today=dt.date(2026, 10, 1))
    asked = service.fmr_year_warning(area="A", used_year=2020, newest_year=2026, today=today)
    assert asked == "FMR FY2020 used as asked, not the current FY2026 on file for A"
    both_old = service.fmr_year_warning(area="A", used_year=2020, newest_year=2024, today=today)
    assert both_old is not None
    assert both_old.startswith("FMR FY2020 used as asked; FY2024 is the newest on file for A")
    assert both_old.endswith("import the current table with `dealdesk import fmr`")


def test_rent_analysis_endpoint_warns_and_allowance_as_given_is_not_on_file(
    client: TestClient, db: Session
) -> None:
    """The live QA request: a property on FY2012 FMRs, a $150 allowance in the request."""
    org = make_org(db)
    _load_ames(db)
    house = _ames_house(db, org)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    response = client.post(
        ANALYSIS,
        json={"property_id": str(house.id), "target_rent": 1000, "utility_allowance": 150},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["area"], body["year"], body["fmr"]) == (AMES, 2012, "1039.00")
    assert body["warnings"] == [_ames_warning()]
    assert body["utility_allowance"] == "150.00"
    assert body["utility_allowance_on_file"] is False
    assert body["utility_allowance_source"] == (
        "as given in the request (not a stored utility allowance schedule)"
    )
    # By bedrooms and area, no year: the same warning (the old code noted only an asked year).
    by_area = client.post(ANALYSIS, json={"bedrooms": 2, "area": "Ames"}, headers=headers).json()
    assert by_area["year"] == 2012 and by_area["warnings"] == [_ames_warning()]
    assert by_area["utility_allowance_on_file"] is False
    assert by_area["utility_allowance_source"] == "none on file: $0 used"


def test_current_year_has_no_warning_and_an_older_year_asked_says_so(db: Session) -> None:
    org = make_org(db)
    current = _current_fy()
    area = "Testville, ZZ HUD Metro FMR Area"
    for year in (current - 3, current):
        db.add(
            Section8Fmr(
                org_id=org.id,
                area=area,
                year=year,
                bedrooms=2,
                fmr_amount=Decimal("1000"),
                utility_allowance=Decimal("120"),
            )
        )
    db.flush()
    latest = service.rent_analysis(session=db, org_id=org.id, bedrooms=2, area=area)
    assert latest.year == current and latest.warnings == []
    # The allowance came from the stored schedule: on file, and the source says which row.
    assert latest.utility_allowance_on_file is True
    assert latest.utility_allowance_source == (
        f"utility allowance schedule on file: {area} FY{current}, 2 bedrooms "
        "(the organisation's own row)"
    )
    older = service.rent_analysis(
        session=db, org_id=org.id, bedrooms=2, area=area, year=current - 3
    )
    assert older.warnings == [
        f"FMR FY{current - 3} used as asked, not the current FY{current} on file for {area}"
    ]
    included = service.rent_analysis(
        session=db, org_id=org.id, bedrooms=2, area=area, utilities_included=True
    )
    assert included.utility_allowance_on_file is False
    assert included.utility_allowance_source == "none: the owner pays all utilities"


def test_section8_tool_and_chat_reply_carry_the_warning(db: Session) -> None:
    org = make_org(db)
    _load_ames(db)
    house = _ames_house(db, org)
    ctx = context_for(db, make_user(db, org, Role.investor))
    result = call_tool(section8_rent, ctx, property_id=str(house.id))
    assert result["year"] == 2012
    assert result["warnings"] == [_ames_warning()]
    assert result["notes"][0] == _ames_warning()  # first: a long reply is cut from the end
    reply = reply_for([("section8_rent", {"property_id": str(house.id)}, result)])
    # In words for whoever reads the chat (an investor has no CLI): the year and "out of date".
    assert "Note: HUD's Fair Market Rents on file are FY2012, out of date" in reply
    assert "dealdesk import fmr" not in reply


def test_analysis_pdf_and_deal_projection_carry_the_warning(db: Session) -> None:
    org = make_org(db)
    _load_ames(db)
    house = _ames_house(db, org)
    analysis = analysis_service.analyze_property(
        session=db,
        org_id=org.id,
        property_id=house.id,
    )
    assert analysis.rent.section8 is not None and analysis.rent.section8.year == 2012
    assert analysis.rent.section8.warnings == [_ames_warning()]
    assert analysis.notes.count(_ames_warning()) == 1

    pdf = render_property_report(analysis)
    content = " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages).split()
    )
    assert "FMR out of date: FMR FY2012 is the newest on file for Ames, IA MSA" in content
    assert "import the current table with `dealdesk import fmr`" in content

    deal = make_deal(
        db,
        org,
        property_id=house.id,
        strategy="section8_rental",
        purchase_price=Decimal("85000"),
        estimated_repairs=Decimal("20000"),
    )
    projected = deal_service.deal_projection(session=db, org_id=org.id, deal_id=deal.id)
    source = projected.sources["payment_standard_monthly"]
    assert source.startswith(f"FMR table: {AMES}, 2012")
    assert source.endswith(_ames_warning())


def test_deal_projection_on_a_long_area_name_still_runs_with_a_short_warning(db: Session) -> None:
    """The payment standard's source is at most 300 characters: the warning then shortens."""
    org = make_org(db)
    area = (
        "Washington-Arlington-Alexandria-Silver Spring-Frederick-Bethesda-Rockville-"
        "Gaithersburg, DC-VA-MD HUD Metro FMR Area"
    )
    db.add(Section8Fmr(org_id=org.id, area=area, year=2012, bedrooms=3, fmr_amount=Decimal("1500")))
    db.flush()
    house = _ames_house(db, org)
    deal = make_deal(
        db,
        org,
        property_id=house.id,
        strategy="section8_rental",
        purchase_price=Decimal("85000"),
        estimated_repairs=Decimal("20000"),
    )
    projected = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(fmr_area=area, rent_monthly=Decimal("1200")),
    )
    source = projected.sources["payment_standard_monthly"]
    assert source.startswith(f"FMR table: {area}, 2012") and len(source) <= 300
    assert source.endswith(
        "FMR FY2012 is out of date: import the current table with `dealdesk import fmr`"
    )
