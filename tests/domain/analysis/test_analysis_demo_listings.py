"""The demo's fictional Ames listings: an investor can text their addresses, the Ames sales are
their comps, no other area's FMR is borrowed, and as-is and ARV share one market-model fit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from core.metrics import REGISTRY
from domain.analysis import service
from domain.auth import service as auth_service
from domain.auth.models import Organisation
from domain.demo.listings import DEMO_LISTINGS
from domain.demo.service import seed_demo
from domain.property import service as property_service
from domain.property.models import Property

# An as-of date no other test values at, so the market-model cache cannot already hold it.
AS_OF = dt.date(2024, 3, 1)


def _seeded(db: Session, tmp_path: Path) -> tuple[Organisation, list[Property]]:
    seed_demo(session=db, data_dir=tmp_path)
    org = auth_service.get_organisation_by_slug(session=db, slug="demo")
    assert org is not None
    listings = []
    for listing in DEMO_LISTINGS:
        prop = property_service.get_by_source(
            session=db, org_id=org.id, source="demo", source_id=listing.source_id
        )
        assert prop is not None
        listings.append(prop)
    return org, listings


def test_demo_listings_are_labelled_findable_by_address_and_seeded_once(
    db: Session, tmp_path: Path
) -> None:
    org, listings = _seeded(db, tmp_path)
    assert 3 <= len(listings) <= 5
    for listing, prop in zip(DEMO_LISTINGS, listings, strict=True):
        assert prop.status == "active" and prop.list_price == listing.list_price
        assert prop.features["demo"] is True
        assert prop.features["note"] == "fictional demo listing"
        assert (prop.city, prop.state) == ("Ames", "IA")
        # Inside the Ames sales' area (their latitudes 41.99-42.06, longitudes -93.69--93.58).
        assert prop.latitude is not None and 41.99 <= prop.latitude <= 42.06
        assert prop.longitude is not None and -93.69 <= prop.longitude <= -93.58
        # The address an investor texts finds the listing (as the agent's tools look it up).
        matches = property_service.find_address_matches(
            session=db, org_id=org.id, text=listing.address, limit=3
        )
        assert matches and matches[0].property.id == prop.id

    again = seed_demo(session=db, data_dir=tmp_path)
    assert again.created == []


def test_a_demo_listing_is_valued_from_ames_sales_with_one_fit_and_no_borrowed_fmr(
    db: Session, tmp_path: Path
) -> None:
    org, listings = _seeded(db, tmp_path)
    duff = listings[0]  # 2718 Duff Ave: a 1962 ranch in condition 4 (Below Average)
    fits_before = REGISTRY.get_sample_value("valuation_market_model_fits_total") or 0.0

    analysis = service.analyze_property(session=db, org_id=org.id, property_id=duff.id, as_of=AS_OF)

    # As-is and ARV (the same home, renovated) know the same facts, so one fit serves both.
    fits_after = REGISTRY.get_sample_value("valuation_market_model_fits_total") or 0.0
    assert fits_after - fits_before == 1
    assert analysis.as_is is not None and analysis.arv is not None
    assert analysis.arv.value > analysis.as_is.value
    assert analysis.as_is.inputs["market_model"] == analysis.arv.inputs["market_model"]
    comp_ids = [c.property_id for c in analysis.as_is.comps + analysis.arv.comps]
    for comp_id in comp_ids:
        comp = property_service.get(session=db, org_id=org.id, property_id=comp_id)
        assert comp is not None and comp.source == "ames"
    assert analysis.max_offer is not None
    # Ames's own HUD FMR (FY2012, seeded from domain/demo/ames_fmr_fy2012.csv), never Detroit's:
    # a 3-bedroom home's FMR is HUD's $1,039.
    section8 = analysis.rent.section8
    assert section8 is not None and analysis.rent.section8_missing is None
    assert (section8.area, section8.year, section8.bedrooms) == ("Ames, IA MSA", 2012, 3)
    assert section8.fmr == Decimal("1039")
    assert analysis.figures.fmr == "$1,039"
    assert analysis.rent.rent_monthly is not None
