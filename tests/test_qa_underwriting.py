"""Deal-analysis figures an investor or underwriter would challenge (QA pass).

Each test pins a defect found by working the numbers by hand: Section 8 figures taken from
another city's FMR area, a Section 8 deal projected without the utility allowance or at the
market rent, and a large house the Section 8 underwriting refused.
"""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal.projection import ProjectionAssumptions
from domain.property.models import Section8Fmr
from domain.section8 import service as section8_service
from domain.underwriting.models import Section8Result
from store.reference_data import DETROIT_FMR_AREA
from tests.factories import make_deal, make_org, make_property, make_user
from tests.tools.helpers import call_tool, context_for
from tools.section8 import section8_rent

# HUD FY2024 Detroit-Warren-Livonia (the seed): 3 bedrooms $1,329, 4 bedrooms $1,628.
DETROIT_3BR = D("1329")


def test_section8_tool_refuses_detroit_figures_for_an_iowa_house(db: Session) -> None:
    """Only Detroit's FMRs are on file: an Ames, IA house has no FMR, not Detroit's $1,329."""
    org = make_org(db)
    prop = make_property(db, org, address_line="1 Elm St", city="Ames", state="IA", bedrooms=3)
    ctx = context_for(db, make_user(db, org, Role.investor))

    result = call_tool(section8_rent, ctx, property_id=str(prop.id))

    assert "fmr" not in result
    assert "Ames, IA" in result["error"]
    with pytest.raises(section8_service.FmrNotFoundError, match="Ames, IA"):
        section8_service.assess_property_rent(
            session=db, org_id=org.id, property_id=prop.id, save=False
        )


def test_section8_tool_still_finds_a_detroit_metro_city(db: Session) -> None:
    """Warren, MI is in the Detroit-Warren-Livonia area: its 3 bedrooms get $1,329."""
    org = make_org(db)
    prop = make_property(db, org, address_line="2 Elm St", city="Warren", state="MI", bedrooms=3)
    ctx = context_for(db, make_user(db, org, Role.investor))

    result = call_tool(section8_rent, ctx, property_id=str(prop.id))

    assert result["area"] == DETROIT_FMR_AREA
    assert result["payment_standard"] == "$1,329"


def test_a_city_never_borrows_another_states_fmr_area(db: Session) -> None:
    """Warren, OH shares a name with the Detroit-Warren-Livonia, MI area but not its FMRs."""
    org = make_org(db)

    assert (
        section8_service.area_for_place(session=db, org_id=org.id, city="warren", state="MI")
        == DETROIT_FMR_AREA
    )
    with pytest.raises(section8_service.FmrNotFoundError, match="Warren, OH"):
        section8_service.area_for_place(session=db, org_id=org.id, city="Warren", state="OH")

    ohio = make_property(db, org, address_line="3 Elm St", city="Warren", state="OH", bedrooms=3)
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=ohio.id)
    assert analysis.rent.section8 is None
    assert analysis.rent.section8_missing is not None
    assert "Warren, OH" in analysis.rent.section8_missing


def test_section8_deal_elsewhere_is_not_underwritten_at_detroit_rents(db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org, address_line="4 Elm St", city="Ames", state="IA", bedrooms=3)
    deal = make_deal(
        db,
        org,
        property_id=prop.id,
        strategy="section8_rental",
        purchase_price=D("85000"),
        estimated_repairs=D("0"),  # a turnkey rental: the house has no size to price a scope
    )

    with pytest.raises(deal_service.DealValidationError, match="Ames, IA"):
        deal_service.deal_projection(
            session=db,
            org_id=org.id,
            deal_id=deal.id,
            assumptions=ProjectionAssumptions(rent_monthly=D("1100")),
        )


def _own_detroit_row_with_allowance(db: Session, org_id: uuid.UUID) -> None:
    """The organisation's housing authority: $1,462 payment standard, $180 utility allowance."""
    db.add(
        Section8Fmr(
            org_id=org_id,
            area=DETROIT_FMR_AREA,
            year=2024,
            bedrooms=3,
            fmr_amount=DETROIT_3BR,
            payment_standard=D("1462"),
            utility_allowance=D("180"),
        )
    )
    db.flush()


def test_section8_deal_projection_deducts_the_tables_utility_allowance(db: Session) -> None:
    """Tenant-paid utilities: the voucher supports $1,462 - $180 = $1,282, not $1,462.

    The property analysis already used $1,282; the deal projection used to ignore the
    allowance and overstate the rent by $180 a month ($2,160 a year of NOI before vacancy).
    """
    org = make_org(db)
    _own_detroit_row_with_allowance(db, org.id)
    deal = make_deal(
        db, org, strategy="section8_rental", purchase_price=D("85000"), estimated_repairs=D("0")
    )

    result = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(rent_monthly=D("1100")),
    )

    analysis = result.analysis
    assert isinstance(analysis, Section8Result)
    assert analysis.inputs.payment_standard_monthly == D("1462.00")
    assert analysis.inputs.utility_allowance_monthly == D("180.00")
    assert analysis.section8_rent_monthly == D("1282.00")
    assert result.sources["utility_allowance_monthly"].startswith("FMR table: ")

    given = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(rent_monthly=D("1100"), utility_allowance_monthly=D("0")),
    )
    assert isinstance(given.analysis, Section8Result)
    assert given.analysis.section8_rent_monthly == D("1462.00")
    assert given.sources["utility_allowance_monthly"] == "as given"


def test_section8_deal_is_held_at_the_section8_rent(db: Session) -> None:
    """A Section 8 deal's 5-year hold collects the voucher's $1,329, not the $1,100 market rent.

    Year 1 gross scheduled income = $1,329 x 12 = $15,948 (it was $13,200 at market rent), and
    the hold's first-year NOI is the Section 8 analysis's own.
    """
    org = make_org(db)
    deal = make_deal(
        db, org, strategy="section8_rental", purchase_price=D("85000"), estimated_repairs=D("0")
    )

    result = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(rent_monthly=D("1100")),
    )

    analysis = result.analysis
    assert isinstance(analysis, Section8Result)
    assert analysis.section8_rent_monthly == D("1329.00")
    assert result.projection is not None
    first = result.projection.years[0]
    assert first.gross_scheduled_income == D("15948.00")
    assert first.noi == analysis.section8.noi_annual


def test_section8_deal_on_a_ten_bedroom_house_is_underwritten(db: Session) -> None:
    """10 bedrooms: HUD's rule gives 4-bedroom $1,628 x (1 + 0.15 x 6) = $3,093.20 -> $3,093.

    The FMR lookup takes up to 20 bedrooms; the Section 8 underwriting refused more than 8.
    """
    org = make_org(db)
    prop = make_property(db, org, address_line="5 Elm St", city="Detroit", state="MI", bedrooms=10)
    deal = make_deal(
        db,
        org,
        property_id=prop.id,
        strategy="section8_rental",
        purchase_price=D("250000"),
        estimated_repairs=D("0"),
    )

    result = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(rent_monthly=D("2800")),
    )

    assert isinstance(result.analysis, Section8Result)
    assert result.analysis.inputs.bedrooms == 10
    assert result.analysis.section8_rent_monthly == D("3093.00")
