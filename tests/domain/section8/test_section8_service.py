"""Section 8 rent analysis against the seed's Detroit 2024 FMRs (the seed document's table)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session

from domain.property.models import Section8Fmr
from domain.section8 import service
from store.reference_data import DETROIT_FMR_AREA
from tests.factories import make_org, make_property

# The seed document's "current Detroit FMR values" (2024): 0-4 bedrooms.
SEED_FMR = {0: 715, 1: 858, 2: 1024, 3: 1329, 4: 1628}


@pytest.mark.parametrize(("bedrooms", "fmr"), sorted(SEED_FMR.items()))
def test_detroit_2024_fmr_by_bedrooms(db: Session, bedrooms: int, fmr: int) -> None:
    org = make_org(db)
    result = service.rent_analysis(session=db, org_id=org.id, bedrooms=bedrooms, year=2024)
    assert result.fmr == result.payment_standard == result.max_gross_rent == Decimal(fmr)
    assert result.fmr_row.area == DETROIT_FMR_AREA and result.fmr_row.year == 2024
    assert result.fmr_row.bedrooms == bedrooms and "HUD" in result.fmr_row.source


def test_three_bedrooms_target_rent_compliance_and_market(db: Session) -> None:
    """3 bedrooms in Detroit, 2024: FMR = payment standard = $1,329.

    The owner includes utilities: the voucher supports a $1,329 contract rent, so $1,300 is
    compliant with $29 of headroom and $1,350 is not. Against a $1,100 market rent the voucher
    pays $229 (20.8%) more, and the recommended rent is capped at the market's $1,100.
    """
    org = make_org(db)
    compliant = service.rent_analysis(
        session=db,
        org_id=org.id,
        bedrooms=3,
        target_rent=Decimal("1300"),
        market_rent=Decimal("1100"),
        utilities_included=True,
    )
    assert compliant.area == DETROIT_FMR_AREA and compliant.year == 2024
    assert compliant.fmr == Decimal("1329.00")
    assert compliant.max_contract_rent == Decimal("1329.00")
    assert compliant.fmr_compliant is True and compliant.headroom == Decimal("29.00")
    assert compliant.voucher_premium == Decimal("229.00")
    assert compliant.voucher_premium_pct == Decimal("20.8")
    assert compliant.recommended_rent == Decimal("1100.00")
    assert any("no area given" in a for a in compliant.assumptions)

    too_high = service.rent_analysis(
        session=db, org_id=org.id, bedrooms=3, target_rent=Decimal("1350"), utilities_included=True
    )
    assert too_high.fmr_compliant is False and too_high.headroom == Decimal("-21.00")


def test_tenant_paid_utilities_reduce_the_max_contract_rent(db: Session) -> None:
    """$1,329 payment standard - $150 utility allowance = $1,179 maximum contract rent."""
    org = make_org(db)
    result = service.rent_analysis(
        session=db,
        org_id=org.id,
        bedrooms=3,
        target_rent=Decimal("1200"),
        utility_allowance=Decimal("150"),
    )
    assert result.max_gross_rent == Decimal("1329.00")
    assert result.utility_allowance == Decimal("150.00")
    assert result.max_contract_rent == Decimal("1179.00")
    assert result.fmr_compliant is False  # $1,200 + $150 = $1,350 gross > $1,329
    at_limit = service.rent_analysis(
        session=db,
        org_id=org.id,
        bedrooms=3,
        target_rent=Decimal("1179"),
        utility_allowance=Decimal("150"),
    )
    assert at_limit.fmr_compliant is True


def test_no_utility_allowance_on_file_is_stated(db: Session) -> None:
    org = make_org(db)
    result = service.rent_analysis(session=db, org_id=org.id, bedrooms=2)
    assert result.max_contract_rent == Decimal("1024.00")
    assert any("no utility allowance on file" in a for a in result.assumptions)


@pytest.mark.parametrize(
    ("bedrooms", "fmr"),
    [
        (5, Decimal("1872")),  # 1,628 x 1.15 = 1,872.20 -> $1,872
        (6, Decimal("2116")),  # 1,628 x 1.30 = 2,116.40 -> $2,116
        (8, Decimal("2605")),  # 1,628 x 1.60 = 2,604.80 -> $2,605
    ],
)
def test_more_than_four_bedrooms_add_15_percent_each(
    db: Session, bedrooms: int, fmr: Decimal
) -> None:
    org = make_org(db)
    result = service.rent_analysis(session=db, org_id=org.id, bedrooms=bedrooms)
    assert result.fmr == result.payment_standard == fmr
    assert result.fmr_row.bedrooms == 4
    assert any("15%" in a for a in result.assumptions)


def test_latest_year_at_or_before_the_one_asked(db: Session) -> None:
    org = make_org(db)
    later = service.rent_analysis(session=db, org_id=org.id, bedrooms=3, year=2026)
    assert later.year == 2024 and later.requested_year == 2026
    assert any("no 2026 FMR" in a for a in later.assumptions)
    with pytest.raises(service.FmrNotFoundError, match="years available: 2024"):
        service.rent_analysis(session=db, org_id=org.id, bedrooms=3, year=2020)


def test_area_by_words_and_unknown_area(db: Session) -> None:
    org = make_org(db)
    assert service.rent_analysis(session=db, org_id=org.id, bedrooms=1, area="detroit").fmr == 858
    with pytest.raises(service.FmrNotFoundError, match="No FMR area matches"):
        service.rent_analysis(session=db, org_id=org.id, bedrooms=1, area="Atlantis")


@pytest.mark.parametrize("bedrooms", [-1, 21])
def test_bedrooms_out_of_range(db: Session, bedrooms: int) -> None:
    org = make_org(db)
    with pytest.raises(service.RentAnalysisInputError, match="bedrooms must be 0 to 20"):
        service.rent_analysis(session=db, org_id=org.id, bedrooms=bedrooms)


def test_organisations_own_payment_standard_wins_only_for_it(db: Session) -> None:
    """A housing authority paying 110% of FMR: 1,329 x 1.10 = $1,461.90 -> its own row $1,462,
    with a $180 utility allowance: $1,282 maximum contract rent. Other organisations keep HUD's."""
    org = make_org(db)
    other = make_org(db, "Other Capital")
    db.add(
        Section8Fmr(
            org_id=org.id,
            area=DETROIT_FMR_AREA,
            year=2024,
            bedrooms=3,
            fmr_amount=Decimal("1329"),
            payment_standard=Decimal("1462"),
            utility_allowance=Decimal("180"),
        )
    )
    db.flush()
    own = service.rent_analysis(session=db, org_id=org.id, bedrooms=3)
    assert (own.payment_standard, own.max_contract_rent) == (Decimal("1462"), Decimal("1282.00"))
    assert "organisation" in own.fmr_row.source
    theirs = service.rent_analysis(session=db, org_id=other.id, bedrooms=3)
    assert (theirs.payment_standard, theirs.fmr_row.source) == (
        Decimal("1329"),
        "HUD FMR FY2024 (shared)",
    )


def test_assess_property_saves_target_rent_and_compliance(db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org, bedrooms=3, target_rent=Decimal("1400"))
    result = service.assess_property_rent(
        session=db, org_id=org.id, property_id=prop.id, utilities_included=True
    )
    assert result.saved and result.analysis.target_rent == Decimal("1400.00")
    db.refresh(prop)
    assert prop.fmr_compliant is False and prop.target_rent == Decimal("1400.00")

    service.assess_property_rent(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        target_rent=Decimal("1250"),
        utilities_included=True,
    )
    db.refresh(prop)
    assert prop.fmr_compliant is True and prop.target_rent == Decimal("1250.00")

    with pytest.raises(service.RentAnalysisInputError, match="has 3 bedrooms"):
        service.assess_property_rent(session=db, org_id=org.id, property_id=prop.id, bedrooms=4)


def test_list_fmr_shows_the_detroit_table(db: Session) -> None:
    org = make_org(db)
    total, items = service.list_fmr(session=db, org_id=org.id, area="Detroit", year=2024)
    assert total == 1
    (detroit,) = items
    assert detroit.shared and detroit.fmr_by_bedrooms == {
        b: Decimal(v) for b, v in SEED_FMR.items()
    }
