"""The property's target rent is the analysis's rent, as the deal projection takes it.

Was: the analysis used the market-rent estimate or the Section 8 maximum and ignored the
target rent the team set, so the analysis and ``GET /projections/{dealId}`` of one deal gave
different rental figures.
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.underwriting.models import RentalResult
from tests.factories import make_deal, make_org, make_property, make_sold_market, make_user


def test_the_target_rent_is_the_analysis_rent_and_the_projections(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, Role.investor)
    make_sold_market(db, org)
    prop = make_property(
        db,
        org,
        address_line="15001 Mack Ave",
        city="Detroit",
        state="MI",
        zip_code="48224",
        latitude=42.33,
        longitude=-83.05,
        square_feet=1100,
        bedrooms=3,
        list_price=60000,
        target_rent=Decimal("1175"),
    )
    deal = make_deal(db, org, owner=investor, property_id=prop.id, strategy="rental")
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=prop.id, deal_id=deal.id
    )
    assert analysis.rent.rent_monthly == Decimal("1175.00")
    assert analysis.rent.rent_source == "the property's target rent"
    assert analysis.rent.section8 is not None
    assert analysis.rent.section8.target_rent == Decimal("1175.00")
    projection = deal_service.deal_projection(session=db, org_id=org.id, deal_id=deal.id)
    assert analysis.rental is not None
    assert isinstance(projection.analysis, RentalResult)
    assert projection.analysis.monthly_cash_flow == analysis.rental.monthly_cash_flow
