"""A deal's projection and its analysis give the same figures for the same deal and inputs.

Was (QA): ``GET /projections/{deal}`` for a rental ignored the property's ARV (tax and
insurance of the price, the hold starting at the price) where the analysis of the same deal
uses it; a rental, BRRRR or Section 8 projection with no rent answered 422 where the analysis
runs on its own rent (the market-rent estimate, else the Section 8 maximum contract rent);
and the assumptions text said the value grows "from the ARV" when there was none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.analysis.assumptions import AnalysisAssumptions
from domain.analysis.models import PropertyAnalysis
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.deal import service as deal_service
from domain.deal.projection import DealProjection, ProjectionAssumptions
from domain.underwriting.models import BrrrrResult, RentalResult, Section8Result
from domain.valuation import service as valuation_service
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


def _house(db: Session, name: str, *, comps: bool) -> tuple[Organisation, Any]:
    """A 3-bed Detroit house (Section 8 table on file, no market-rent estimate)."""
    org = make_org(db, name)
    if comps:
        make_sold_market(db, org)
    return org, make_subject_property(db, org)


def _deal(db: Session, org: Organisation, prop: Any, strategy: str) -> Any:
    return make_deal(
        db,
        org,
        property_id=prop.id,
        strategy=strategy,
        purchase_price=D("30000"),
        estimated_repairs=D("20000"),
    )


def _both(
    db: Session, org: Organisation, deal: Any, **given: Any
) -> tuple[DealProjection, PropertyAnalysis]:
    projected = deal_service.deal_projection(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        assumptions=ProjectionAssumptions(**given),
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=deal.property_id, deal_id=deal.id
    )
    return projected, analysis


def _assert_same(projected: BaseModel | None, analysed: BaseModel | None) -> None:
    """Every field of two results equal (inputs, figures and formulas)."""
    assert projected is not None and analysed is not None
    ours, theirs = projected.model_dump(), analysed.model_dump()
    differing = {k: (ours.get(k), theirs.get(k)) for k in ours.keys() | theirs.keys()
                 if ours.get(k) != theirs.get(k)}  # fmt: skip
    assert not differing, differing


def _store_arv(db: Session, org: Organisation, prop: Any) -> Decimal:
    stored = valuation_service.after_repair_value(session=db, org_id=org.id, property_id=prop.id)
    return D(stored.value)


def test_a_rental_with_a_stored_arv_matches_its_analysis_field_by_field(db: Session) -> None:
    org, house = _house(db, "Match Rental Stored Org", comps=True)
    arv = _store_arv(db, org, house)
    deal = _deal(db, org, house, "rental")

    projected, analysis = _both(db, org, deal)

    assert analysis.arv is not None and analysis.rental is not None
    assert projected.arv_source is not None
    assert projected.arv_source.source == "stored valuation"
    assert projected.arv_source.value == arv == analysis.arv.value
    assert isinstance(projected.analysis, RentalResult)
    # Tax 1.5 % and insurance 0.5 % of the ARV, not of the $30,000 price.
    taxes = projected.analysis.inputs.operations.property_taxes_annual
    assert taxes == (arv * D("0.015")).quantize(D("0.01"))
    _assert_same(projected.analysis, analysis.rental)
    _assert_same(projected.projection, analysis.projection)
    assert projected.projection is not None
    assert projected.projection.inputs.starting_value == arv

    # The QA case: the rent given explicitly, still the analysis's ARV-based figures.
    rent = analysis.rent.rent_monthly
    assert rent is not None
    given, _ = _both(db, org, deal, rent_monthly=rent)
    _assert_same(given.analysis, analysis.rental)
    _assert_same(given.projection, analysis.projection)


def test_a_rental_without_a_stored_arv_uses_the_analysis_arv_and_rent(
    client: TestClient, db: Session
) -> None:
    org, house = _house(db, "Match Rental Comps Org", comps=True)
    deal = _deal(db, org, house, "rental")

    projected, analysis = _both(db, org, deal)

    assert analysis.arv is not None and analysis.rent.section8 is not None
    assert projected.arv_source is not None and projected.arv_source.source == "comps today"
    assert projected.arv_source.value == analysis.arv.value.quantize(D("0.01"))
    # No market-rent estimate: the analysis's rent is the Section 8 maximum contract rent.
    assert analysis.rent.market_rent is None
    rent = analysis.rent.section8.max_contract_rent
    assert isinstance(projected.analysis, RentalResult)
    assert projected.analysis.inputs.operations.gross_rent_monthly == rent
    assert "Section 8 maximum contract rent" in projected.sources["rent_monthly"]
    _assert_same(projected.analysis, analysis.rental)
    _assert_same(projected.projection, analysis.projection)

    # Over HTTP too, with no rent and no ARV given.
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    response = client.get(f"{API}/projections/{deal.id}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert analysis.rental is not None and analysis.projection is not None
    assert D(body["analysis"]["monthly_cash_flow"]) == analysis.rental.monthly_cash_flow
    assert D(body["analysis"]["noi_annual"]) == analysis.rental.noi_annual
    assert D(body["projection"]["irr_pct"]) == analysis.projection.irr_pct
    assert body["arv_source"]["source"] == "comps today"


def test_a_rental_with_no_arv_anywhere_runs_on_the_price_as_the_analysis_does(
    db: Session,
) -> None:
    org, house = _house(db, "Match Rental No Comps Org", comps=False)
    deal = _deal(db, org, house, "rental")

    projected, analysis = _both(db, org, deal)

    assert analysis.arv is None and analysis.rental is not None
    assert projected.arv_source is None
    assert isinstance(projected.analysis, RentalResult)
    assert projected.analysis.inputs.operations.property_taxes_annual == D("450.00")
    _assert_same(projected.analysis, analysis.rental)
    _assert_same(projected.projection, analysis.projection)

    # A BRRRR of the same house: both refuse it for want of an ARV (not of a rent).
    brrrr = _deal(db, org, house, "brrrr")
    assert analysis.brrrr is None and analysis.brrrr_missing is not None
    assert analysis.brrrr_missing.startswith("no ARV")
    with pytest.raises(deal_service.DealValidationError, match="a brrrr projection needs an ARV"):
        deal_service.deal_projection(session=db, org_id=org.id, deal_id=brrrr.id)


def test_a_brrrr_with_a_stored_arv_matches_and_takes_the_analysis_rent(db: Session) -> None:
    org, house = _house(db, "Match BRRRR Org", comps=True)
    _store_arv(db, org, house)
    deal = _deal(db, org, house, "brrrr")

    projected, analysis = _both(db, org, deal)

    assert isinstance(projected.analysis, BrrrrResult)
    assert analysis.brrrr is not None
    _assert_same(projected.analysis, analysis.brrrr)


def _assert_section8_matches(projected: DealProjection, analysis: PropertyAnalysis) -> None:
    assert isinstance(projected.analysis, Section8Result)
    section8 = analysis.rent.section8
    assert section8 is not None
    assert projected.analysis.market_rent_monthly == analysis.rent.rent_monthly
    assert projected.analysis.section8_rent_monthly == section8.max_contract_rent
    # The analysis's rental is the projection's market case; the hold is at the Section 8 rent,
    # which with no market-rent estimate is the analysis's rent.
    _assert_same(projected.analysis.market, analysis.rental)
    _assert_same(projected.analysis.section8, analysis.rental)
    _assert_same(projected.projection, analysis.projection)


def test_a_section8_deal_is_priced_at_the_analysis_rent_with_a_stored_arv(db: Session) -> None:
    org, house = _house(db, "Match Section 8 Stored Org", comps=True)
    arv = _store_arv(db, org, house)
    deal = _deal(db, org, house, "section8_rental")

    projected, analysis = _both(db, org, deal)

    assert projected.arv_source is not None and projected.arv_source.value == arv
    _assert_section8_matches(projected, analysis)


def test_a_section8_deal_with_no_arv_matches_on_the_price(client: TestClient, db: Session) -> None:
    org, house = _house(db, "Match Section 8 No ARV Org", comps=False)
    deal = _deal(db, org, house, "section8_rental")

    projected, analysis = _both(db, org, deal)

    assert analysis.arv is None and projected.arv_source is None
    _assert_section8_matches(projected, analysis)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    response = client.get(f"{API}/projections/{deal.id}", headers=headers)
    assert response.status_code == 200, response.text


def test_a_section8_deal_with_a_target_rent_above_the_voucher_is_held_to_it(db: Session) -> None:
    """Was: the analysis ran a Section 8 deal at a $1,200 target rent the voucher cannot pay
    (cash flow, IRR and "best rental" on it) while its projection held at the voucher's
    maximum: two rents, two IRRs for one deal."""
    org, house = _house(db, "Match Section 8 Target Org", comps=True)
    house.target_rent = D("5000")  # far above any voucher's maximum
    db.add(house)
    db.flush()
    deal = _deal(db, org, house, "section8_rental")

    projected, analysis = _both(db, org, deal)

    section8 = analysis.rent.section8
    assert section8 is not None
    assert analysis.rent.rent_monthly == section8.max_contract_rent < D("5000")
    assert "a Section 8 deal's voucher pays at most this" in analysis.rent.rent_source
    assert isinstance(projected.analysis, Section8Result)
    _assert_same(projected.analysis.section8, analysis.rental)
    _assert_same(projected.projection, analysis.projection)
    # A rental deal on the same house keeps the target rent: no voucher caps it.
    rental = _deal(db, org, house, "rental")
    assert analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=house.id, deal_id=rental.id
    ).rent.rent_monthly == D("5000.00")


def test_the_assumptions_text_names_the_value_actually_used() -> None:
    a = AnalysisAssumptions()
    without = " ".join(a.describe(arv_known=False))
    assert "from the ARV" not in without and "of the after-repair value" not in without
    assert "a year from the purchase price (no ARV)" in without
    assert "insurance 0.5% of the purchase price (no ARV) a year" in without
    with_arv = " ".join(a.describe(arv_known=True))
    assert "a year from the ARV, sold at the end" in with_arv
    unsaid = " ".join(a.describe())
    assert "from the ARV (the purchase price when there is no ARV)" in unsaid
