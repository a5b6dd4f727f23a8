"""Analysis and Section 8 figures a numbers audit found wrong (F4, QA round 11).

Was: a house analysed today against sales that end years ago carried a valuation warning
(worded as if the market were held at today's level) that no note, chat or PDF showed, with a
high confidence; a duplex got one 6-bedroom FMR instead of two 3-bedroom units'; a Section 8
projection compared the voucher rent with a "market rent" that was the voucher maximum itself
and said the $0 utility allowance came from the FMR table; "Rental fits Section 8" passed a
check that compared an assumed rent with itself; a target rent of 0 was stored and called
compliant; a negative maximum offer, "-0.0%", a raw deal id in the PDF and ``?arv=`` reported
as "assumption".
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.analysis.formatting import percent
from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal.projection import ProjectionAssumptions
from domain.section8 import service as section8_service
from domain.underwriting.models import Section8Result
from reports.property_report import build_property_report
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)

API = "/api/v1"
D = Decimal


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    # Reportlab wraps long lines: compare words, not line breaks.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def _stale_house(db: Session, name: str) -> tuple[Any, Any]:
    """A Detroit house whose only comps sold in 2010 (as the Ames sales end in 2010)."""
    org = make_org(db, name)
    make_sold_market(db, org, year=2010)
    return org, make_subject_property(db, org)


# --- 1. stale comps ------------------------------------------------------------------------


def test_a_stale_market_warning_is_worded_right_and_reaches_the_notes_and_the_pdf(
    db: Session,
) -> None:
    org, house = _stale_house(db, "F4 Stale Comps Org")

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=house.id)

    assert analysis.as_is is not None and analysis.arv is not None
    warning = analysis.as_is.inputs["warning"]
    # The index levels off after the last month with sales: the market is held at 2010-12's
    # level (was: "at its <this month> level", as if today's market were known).
    assert warning.startswith("no sales after 2010-12-15: the time adjustment holds the market")
    assert "at its 2010-12 level (the last month with sales)" in warning
    assert f"at its {analysis.as_of.isoformat()[:7]} level" not in warning
    # Both valuations carry it; the notes say it once, for both.
    assert f"as-is value and ARV: {warning}" in analysis.notes
    # The valuation's confidence ignores comp age: the analysis flags it (the value is unchanged).
    aged = [n for n in analysis.notes if n.startswith("confidence shown as low")]
    assert len(aged) == 1
    assert "the newest as-is value and ARV comp sold on 2010-12-15" in aged[0]
    assert f"as-is value {percent(analysis.as_is.confidence * 100, 0)}" in aged[0]

    content = _pdf_text(build_property_report(analysis))
    assert "no sales after 2010-12-15: the time adjustment holds the market" in content
    assert "confidence shown as low" in content
    assert "low (comps 2010)" in content  # the Confidence column, not the valuation's "9x%"


def test_recent_comps_get_no_warning_and_keep_their_confidence(db: Session) -> None:
    org = make_org(db, "F4 Fresh Comps Org")
    make_sold_market(db, org, year=2024)
    house = make_subject_property(db, org)
    as_of = dt.date(2025, 1, 20)

    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=house.id, as_of=as_of
    )

    assert analysis.as_is is not None and "warning" not in analysis.as_is.inputs
    assert not [n for n in analysis.notes if "no sales after" in n or "shown as low" in n]
    assert analysis_service.comps_out_of_date(analysis.as_is) is None


# --- 2. a duplex is rented as two units -------------------------------------------------------


def _duplex(db: Session, org: Any, **fields: Any) -> Any:
    return make_subject_property(
        db,
        org,
        address_line="77 Duplex Ave",
        bedrooms=6,
        features={"building_type": "Duplex", "kitchens": 2},
        **fields,
    )


def test_a_duplex_gets_two_units_fmrs_in_the_analysis_and_the_section8_projection(
    db: Session,
) -> None:
    org = make_org(db, "F4 Duplex Org")
    house = _duplex(db, org)
    unit = section8_service.rent_analysis(session=db, org_id=org.id, bedrooms=3)
    six = section8_service.rent_analysis(session=db, org_id=org.id, bedrooms=6)
    assert 2 * unit.fmr != six.fmr  # the two readings differ (HUD's 6-bed rule vs 2 x 3-bed)

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=house.id)

    section8 = analysis.rent.section8
    assert section8 is not None
    assert section8.fmr == 2 * unit.fmr
    assert section8.payment_standard == 2 * unit.payment_standard
    assert analysis.rent.rent_monthly == section8.max_contract_rent == 2 * unit.max_contract_rent
    assert any(
        a.startswith("2 units (building type Duplex, 2 kitchens): HUD FMRs are per unit")
        and "3 + 3" in a
        for a in section8.assumptions
    )
    assert "2 units of 3 + 3 bedrooms" in analysis.rent.rent_source
    assert analysis.figures.fmr.endswith("(2 units of 3 + 3 bedrooms)")

    deal = make_deal(
        db,
        org,
        property_id=house.id,
        strategy="section8_rental",
        purchase_price=D("60000"),
        estimated_repairs=D("20000"),
    )
    projected = deal_service.deal_projection(session=db, org_id=org.id, deal_id=deal.id)
    assert isinstance(projected.analysis, Section8Result)
    assert projected.analysis.inputs.payment_standard_monthly == 2 * unit.payment_standard
    assert "2 units of 3 + 3 bedrooms" in projected.sources["payment_standard_monthly"]


def test_a_single_family_six_bedroom_house_keeps_hud_six_bedroom_fmr(db: Session) -> None:
    org = make_org(db, "F4 Six Bed Org")
    house = make_subject_property(
        db, org, bedrooms=6, features={"building_type": "OneFam", "kitchens": 1}
    )
    six = section8_service.rent_analysis(session=db, org_id=org.id, bedrooms=6)

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=house.id)

    assert analysis.rent.section8 is not None and analysis.rent.section8.fmr == six.fmr
    assert section8_service.building_units(house, 5) == ([5], None)


def test_an_odd_bedroom_count_is_split_as_evenly_as_possible(db: Session) -> None:
    org = make_org(db, "F4 Split Org")
    house = _duplex(db, org)
    assert section8_service.building_units(house, 5)[0] == [3, 2]
    assert section8_service.building_units(house, 6)[0] == [3, 3]


# --- 3. a Section 8 projection without a market rent ----------------------------------------------


def test_a_section8_projection_with_no_market_rent_compares_nothing_and_names_the_allowance(
    db: Session,
) -> None:
    org = make_org(db, "F4 No Market Org")
    house = make_subject_property(db, org)
    deal = make_deal(
        db,
        org,
        property_id=house.id,
        strategy="section8_rental",
        purchase_price=D("30000"),
        estimated_repairs=D("20000"),
    )

    projected = deal_service.deal_projection(session=db, org_id=org.id, deal_id=deal.id)

    assert isinstance(projected.analysis, Section8Result)
    formulas = " | ".join(projected.analysis.formulas)
    assert "vs market" not in formulas and "market rent = " not in formulas
    assert "no market rent on file" in formulas
    allowance = projected.sources["utility_allowance_monthly"]
    assert allowance.startswith("none on file in the FMR table") and "$0 used" in allowance

    # With a real market rent the comparison stays.
    given = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(rent_monthly=D("1100")),
    )
    assert isinstance(given.analysis, Section8Result)
    assert any("vs market" in f for f in given.analysis.formulas)
    assert given.sources["rent_monthly"] == "as given"


# --- 4. a Section 8 fit on an assumed rent -----------------------------------------------------


def test_a_section8_fit_on_an_assumed_rent_and_allowance_says_it_is_not_evidence(
    db: Session,
) -> None:
    org, house = _stale_house(db, "F4 Assumed Fit Org")

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=house.id)

    assert analysis.rent.section8 is not None
    assert analysis.rent.section8.utility_allowance_on_file is False
    verdict = analysis.verdict
    assert verdict.label == "rental fits Section 8", verdict.headline
    assert verdict.headline.startswith("Rental fits Section 8 (rent assumed: not evidence)")
    fit = next(c for c in verdict.checks if c.strategy == "section8")
    assert "$0 assumed, unknown, not a fact: not evidence)" in fit.text
    assert fit.text in verdict.reasons  # the chat's "Why:" and the PDF's verdict box show it
    note = next(n for n in analysis.notes if n.startswith("Section 8: no market-rent estimate"))
    assert "assumed at the payment standard" in note
    assert "no utility allowance is on file, so $0 is assumed (unknown, not a fact" in note
    assert "cannot fail on it and is not evidence" in note


# --- 5. a target rent of 0 ---------------------------------------------------------------------


@pytest.mark.parametrize("rent", [0, "0.00", -5])
def test_a_target_rent_of_zero_is_refused_on_every_input_path(
    client: TestClient, db: Session, rent: Any
) -> None:
    org = make_org(db, "F4 Zero Rent Org")
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    house = make_subject_property(db, org)

    put = client.put(f"{API}/properties/{house.id}", json={"target_rent": rent}, headers=headers)
    assert put.status_code == 422 and "target rent must be more than 0" in put.text, put.text
    created = client.post(
        f"{API}/properties",
        json={
            "address_line": "9 Zero Rent St",
            "city": "Detroit",
            "state": "MI",
            "target_rent": rent,
        },
        headers=headers,
    )
    assert created.status_code == 422, created.text
    assert "target rent must be more than 0" in created.text
    checked = client.post(
        f"{API}/section8/rent-analysis", json={"bedrooms": 3, "target_rent": rent}, headers=headers
    )
    assert checked.status_code == 422 and "target rent must be more than 0" in checked.text
    with pytest.raises(section8_service.RentAnalysisInputError, match="more than 0"):
        section8_service.rent_analysis(
            session=db, org_id=org.id, bedrooms=3, target_rent=Decimal(str(rent))
        )
    db.refresh(house)
    assert house.target_rent is None


def test_a_zero_target_rent_already_stored_is_no_rent(db: Session) -> None:
    org = make_org(db, "F4 Stored Zero Org")
    house = make_subject_property(db, org)
    house.target_rent = D("0")  # stored before it was refused
    db.add(house)
    db.flush()

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=house.id)
    assert analysis.rent.section8 is not None and analysis.rent.section8.target_rent is None
    assert analysis.rent.rent_source.startswith("Section 8 maximum contract rent")
    result = section8_service.assess_property_rent(
        session=db, org_id=org.id, property_id=house.id, save=False
    )
    assert result.target_rent_source == "none" and result.analysis.fmr_compliant is None


# --- 6. minor wording --------------------------------------------------------------------------


def test_a_negative_max_offer_says_no_price_works(db: Session) -> None:
    org = make_org(db, "F4 Negative Offer Org")
    make_sold_market(db, org)
    house = make_subject_property(db, org)

    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=house.id, rehab_cost=D("200000")
    )

    assert analysis.max_offer is not None and analysis.max_offer.amount < 0
    check = next(c for c in analysis.verdict.checks if c.metric == "purchase price")
    assert check.text.startswith("purchase price $45,000: no price works (max offer is below zero")
    assert "> -$" not in " ".join(analysis.verdict.reasons)


def test_a_percentage_that_rounds_to_zero_has_no_sign() -> None:
    assert percent(Decimal("-0.04")) == "0.0%"
    assert analysis_service.pct_text(Decimal("-0.01"), Decimal("-0.0449")) == "0.0%"
    assert percent(Decimal("-0.05")) == "-0.1%"


def test_the_pdf_names_the_deals_price_without_its_id_and_arv_is_as_given(
    db: Session,
) -> None:
    org = make_org(db, "F4 Deal Label Org")
    make_sold_market(db, org)
    house = make_subject_property(db, org)
    deal = make_deal(
        db,
        org,
        property_id=house.id,
        strategy="flip",
        purchase_price=D("30000"),
        estimated_repairs=D("20000"),
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=house.id, deal_id=deal.id
    )

    content = _pdf_text(build_property_report(analysis))
    assert "Purchase price (the deal's price)" in content
    assert str(deal.id) not in content and str(deal.id)[:8] not in content

    projected = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(arv=D("120000"), purchase_price=D("31000")),
    )
    assert projected.sources["arv"] == "as given"
    assert projected.sources["purchase_price"] == "as given"
