"""QA of the Section 8 capability as investors and the team use it (HUD FY2024 Detroit table).

The seed's Detroit-Warren-Livonia FY2024 FMRs: 0-4 bedrooms $715, $858, $1,024, $1,329, $1,628,
each payment standard equal to the FMR and no utility allowance on file. Each test pins a gap
found by asking the questions investors send on WhatsApp or by calling the API:

- a unit asked about by bedrooms and city ("FMR for a 3 bed in Detroit", "voucher rent for a
  5 bedroom", "is 1,400 fmr compliant for a 3br in detroit?") was taken for a street address;
- "would a voucher tenant cover 1,250 on this one?" read "250 on this one" as an address;
  "what's the payment standard?" and "utility allowance for a 3 bed?" were not understood;
- with no target rent on file the reply said the voucher's own maximum "fits the voucher", and
  never said that no utility allowance is on file (so the maximum assumes owner-paid utilities);
- rent reasonableness (the rent against the market's) was never checked;
- "Detroit, MI" matched no area; a house in California with no city got Detroit's FMR; a
  payment standard outside HUD's 90-110% range passed silently; an organisation's own row for
  one bedroom count in a newer year hid HUD's table for every other count, and its own row for
  a 5-bedroom unit was ignored in favour of the 15% rule.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import User
from domain.property import service as property_service
from domain.property.enums import MarketDataType
from domain.property.models import MarketDataCreate, Section8Fmr
from domain.section8 import service
from store.reference_data import DETROIT_FMR_AREA
from tests.agent.turns import checked_turn
from tests.factories import (
    auth_headers,
    make_org,
    make_property,
    make_sold_market,
    make_subject_property,
    make_user,
)

ANALYSIS = "/api/v1/section8/rent-analysis"
SOURCE = f"Source: HUD FMR FY2024 (shared), {DETROIT_FMR_AREA}."
NO_ALLOWANCE = "Utility allowance: none on file, so the max contract rent $1,329 holds only if"


def _names(turn: object) -> list[tuple[str, dict[str, object]]]:
    return [(c.name, dict(c.args)) for c in turn.tool_calls]  # type: ignore[attr-defined]


def _investor(db: Session) -> User:
    org = make_org(db)
    user = make_user(db, org, Role.investor)
    db.commit()
    return user


# --- chat: the phrasing investors use -------------------------------------------------------


def test_fmr_for_a_three_bed_in_detroit_names_its_source_and_year(committed_db: Session) -> None:
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, "what's the FMR for a 3 bed in Detroit?", channel="whatsapp")
    assert _names(turn) == [("section8_rent", {"bedrooms": 3, "area": "Detroit"})]
    assert turn.reply.startswith("Voucher rent, 3 bedrooms: FMR $1,329, payment standard $1,329")
    assert "(100% of FMR)" in turn.reply and SOURCE in turn.reply
    assert NO_ALLOWANCE in turn.reply
    assert "No target rent given: the voucher supports up to $1,329." in turn.reply


def test_is_1400_fmr_compliant_for_a_3br_in_detroit(committed_db: Session) -> None:
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, "is 1,400 fmr compliant for a 3br in detroit?", channel="whatsapp")
    assert _names(turn) == [
        ("section8_rent", {"bedrooms": 3, "target_rent": "1400.00", "area": "detroit"})
    ]
    assert "Rent $1,400 does not fit the voucher: $71 over the max contract rent $1,329." in (
        turn.reply
    )


def test_voucher_rent_for_a_five_bedroom_uses_hud_15_percent_rule(committed_db: Session) -> None:
    """5 bedrooms: the 4-bedroom $1,628 x 1.15 = $1,872.20, published as $1,872."""
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, "voucher rent for a 5 bedroom", channel="whatsapp")
    assert _names(turn) == [("section8_rent", {"bedrooms": 5})]
    assert "Voucher rent, 5 bedrooms: FMR $1,872, payment standard $1,872" in turn.reply
    assert "15% for each of 1 extra bedroom(s)" in turn.reply
    # No area in the question: the default area is said, so the investor can correct it.
    assert f"Note: no area given: {DETROIT_FMR_AREA}" in turn.reply


def test_a_studio_in_a_year_not_on_file_says_the_year_used(committed_db: Session) -> None:
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, "fmr for a studio in detroit for 2026", channel="whatsapp")
    assert _names(turn) == [("section8_rent", {"year": 2026, "bedrooms": 0, "area": "detroit"})]
    assert "0 bedrooms (studio): FMR $715" in turn.reply
    assert "no 2026 FMR on file for this area: 2024, the latest before" in turn.reply
    before = checked_turn(ivy, "fmr for a 2 bed in 2020", channel="whatsapp")
    assert "years available: 2024" in before.reply


def test_an_area_not_on_file_lists_the_areas_that_are(committed_db: Session) -> None:
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, "fmr for a 3 bed in Atlantis", channel="whatsapp")
    assert "No FMR area matches 'Atlantis'" in turn.reply
    assert f"areas on file: {DETROIT_FMR_AREA}" in turn.reply
    ohio = checked_turn(ivy, "section 8 rent for a 3 bed in Warren, OH", channel="whatsapp")
    assert "No FMR area on file for Warren, OH" in ohio.reply


@pytest.mark.parametrize(
    "said",
    ["what's the payment standard?", "what's the FMR?", "utility allowance?"],
)
def test_a_section8_question_without_a_unit_asks_which(committed_db: Session, said: str) -> None:
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, said, channel="whatsapp")
    assert turn.tool_calls == []
    assert turn.reply.startswith("Which property, or how many bedrooms?")


def test_utility_allowance_for_a_three_bed_says_none_is_on_file(committed_db: Session) -> None:
    ivy = _investor(committed_db)
    turn = checked_turn(ivy, "utility allowance for a 3 bed?", channel="whatsapp")
    assert _names(turn) == [("section8_rent", {"bedrooms": 3})]
    assert NO_ALLOWANCE in turn.reply and "housing authority's allowance" in turn.reply


def test_utility_allowance_on_file_comes_off_the_payment_standard(committed_db: Session) -> None:
    """The organisation's own row: $1,462 payment standard (110%) - $180 = $1,282."""
    db = committed_db
    ivy = _investor(db)
    db.add(
        Section8Fmr(
            org_id=ivy.org_id,
            area=DETROIT_FMR_AREA,
            year=2024,
            bedrooms=3,
            fmr_amount=Decimal("1329"),
            payment_standard=Decimal("1462"),
            utility_allowance=Decimal("180"),
        )
    )
    db.commit()
    turn = checked_turn(ivy, "would a voucher cover $1,300 for a 3 bed?", channel="whatsapp")
    assert "payment standard $1,462 (110% of FMR)" in turn.reply
    assert "Source: the organisation's own FY2024 payment standard row" in turn.reply
    assert "Utility allowance $180 for tenant-paid utilities: max contract rent $1,282" in (
        turn.reply
    )
    assert "Rent $1,300 does not fit the voucher: $18 over the max contract rent $1,282." in (
        turn.reply
    )


def test_an_address_then_this_one_and_the_payment_standard(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    prop = make_property(
        db,
        org,
        address_line="14500 Kercheval Ave",
        city="Detroit",
        state="MI",
        zip_code="48215",
        bedrooms=3,
    )
    ivy = make_user(db, org, Role.investor)
    db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    first = checked_turn(ivy, "section 8 rent for 14500 kercheval ave", thread, "whatsapp")
    assert _names(first) == [("section8_rent", {"address": "14500 kercheval ave"})]
    assert first.reply.startswith("14500 Kercheval Ave, Detroit, MI 48215, 3 bedrooms: FMR $1,329")
    # No target rent on file: not "Target rent $1,329 fits the voucher" (its own maximum).
    assert "No target rent on file: the voucher supports up to $1,329." in first.reply
    assert "fits the voucher" not in first.reply and SOURCE in first.reply

    cover = checked_turn(ivy, "would a voucher tenant cover 1,250 on this one?", thread, "whatsapp")
    assert _names(cover) == [
        ("section8_rent", {"property_id": str(prop.id), "target_rent": "1250.00"})
    ]
    assert "Rent $1,250 fits the voucher: within the payment standard with $79 to spare." in (
        cover.reply
    )

    standard = checked_turn(ivy, "what's the payment standard?", thread, "whatsapp")
    assert _names(standard) == [("section8_rent", {"property_id": str(prop.id)})]
    assert "payment standard $1,329 (100% of FMR)" in standard.reply


def test_the_payment_standard_after_a_bedroom_question_keeps_the_unit(
    committed_db: Session,
) -> None:
    ivy = _investor(committed_db)
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(ivy, "what's the FMR for a 2 bed in Detroit?", thread, "whatsapp")
    turn = checked_turn(ivy, "and the payment standard?", thread, "whatsapp")
    assert _names(turn) == [("section8_rent", {"bedrooms": 2, "area": "Detroit"})]
    assert "Voucher rent, 2 bedrooms: FMR $1,024, payment standard $1,024" in turn.reply


def test_does_it_qualify_for_section8_after_an_analysis(committed_db: Session) -> None:
    """After an analysis, with a $1,100 market-rent estimate on file for the house."""
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    property_service.add_market_data(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        data_in=MarketDataCreate(
            data_type=MarketDataType.rent_estimate,
            value={"rent_monthly": 1100},
            source="rentometer",
        ),
    )
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(analyst, "1234 Subject Ave", thread, "whatsapp")

    turn = checked_turn(analyst, "does it qualify for section 8?", thread, "whatsapp")
    assert _names(turn) == [("section8_rent", {"property_id": str(prop.id)})]
    assert "No target rent on file: the voucher supports up to $1,329." in turn.reply
    assert "Ask $1,100: the market rent $1,100 on file (rent estimate from rentometer)" in (
        turn.reply
    )
    assert "inspection" in turn.reply

    # $1,250 is inside the payment standard but above the market: not rent-reasonable.
    over = checked_turn(analyst, "would a voucher tenant cover 1,250 on this one?", thread)
    assert "Rent $1,250 is within the payment standard but above the market rent $1,100" in (
        over.reply
    )
    assert "rent reasonableness" in over.reply


# --- the service and the API ---------------------------------------------------------------


def test_rest_reports_rent_reasonableness_and_payment_standard_share(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    body = client.post(
        ANALYSIS,
        json={"bedrooms": 3, "target_rent": "1250", "market_rent": "1200"},
        headers=headers,
    ).json()
    # $1,250 <= $1,329 (within the payment standard) but above the $1,200 market rent.
    assert (body["fmr_compliant"], body["rent_reasonable"]) == (True, False)
    assert body["payment_standard_pct_of_fmr"] == "100.0"
    assert body["utility_allowance_on_file"] is False


def test_rest_reads_a_city_with_its_state_as_the_area(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    response = client.post(ANALYSIS, json={"bedrooms": 3, "area": "Detroit, MI"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["area"] == DETROIT_FMR_AREA
    ohio = client.post(ANALYSIS, json={"bedrooms": 3, "area": "Warren, OH"}, headers=headers)
    assert ohio.status_code == 404 and "Warren, OH" in ohio.json()["detail"]


def test_rest_property_uses_its_rent_estimate_for_rent_reasonableness(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    prop = make_property(db, org, bedrooms=3, target_rent=Decimal("1300"))
    property_service.add_market_data(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        data_in=MarketDataCreate(
            data_type=MarketDataType.rent_estimate, value={"rent_monthly": "1150"}, source="zillow"
        ),
    )
    body = client.post(ANALYSIS, json={"property_id": str(prop.id)}, headers=headers).json()
    assert (body["target_rent"], body["market_rent"]) == ("1300.00", "1150.00")
    assert (body["fmr_compliant"], body["rent_reasonable"]) == (True, False)
    assert body["recommended_rent"] == "1150.00"


def test_a_property_with_no_city_never_gets_another_states_fmr(db: Session) -> None:
    org = make_org(db)
    far = make_property(db, org, address_line="9 Palm Dr", zip_code="90210", state="CA", bedrooms=3)
    with pytest.raises(service.FmrNotFoundError, match="property in CA with no city"):
        service.assess_property_rent(session=db, org_id=org.id, property_id=far.id, save=False)
    # No city, but the organisation's other houses in its ZIP are in Detroit: Detroit's area.
    make_property(db, org, address_line="1 Known St", city="Detroit", state="MI", zip_code="48215")
    near = make_property(db, org, address_line="3 Nocity St", zip_code="48215", bedrooms=3)
    result = service.assess_property_rent(
        session=db, org_id=org.id, property_id=near.id, save=False
    )
    assert result.analysis.area == DETROIT_FMR_AREA and result.analysis.fmr == Decimal("1329")
    assert any("from other properties in ZIP 48215" in a for a in result.analysis.assumptions)


def test_a_payment_standard_outside_90_to_110_percent_is_flagged(db: Session) -> None:
    """$1,600 on a $1,329 FMR is 120.4%: above HUD's basic range, an exception standard."""
    org = make_org(db)
    db.add(
        Section8Fmr(
            org_id=org.id,
            area=DETROIT_FMR_AREA,
            year=2024,
            bedrooms=3,
            fmr_amount=Decimal("1329"),
            payment_standard=Decimal("1600"),
        )
    )
    db.flush()
    result = service.rent_analysis(session=db, org_id=org.id, bedrooms=3)
    assert result.payment_standard_pct_of_fmr == Decimal("120.4")
    assert any("outside HUD's basic 90-110% range" in a for a in result.assumptions)
    hud = service.rent_analysis(session=db, org_id=org.id, bedrooms=2)
    assert not any("outside" in a for a in hud.assumptions)


def test_an_own_newer_row_for_one_size_does_not_hide_hud_for_the_others(db: Session) -> None:
    org = make_org(db)
    db.add(
        Section8Fmr(
            org_id=org.id,
            area=DETROIT_FMR_AREA,
            year=2025,
            bedrooms=3,
            fmr_amount=Decimal("1400"),
            payment_standard=Decimal("1400"),
        )
    )
    db.flush()
    assert service.rent_analysis(session=db, org_id=org.id, bedrooms=3).fmr == Decimal("1400")
    two = service.rent_analysis(session=db, org_id=org.id, bedrooms=2)
    assert (two.year, two.fmr) == (2024, Decimal("1024"))


def test_an_own_row_for_five_bedrooms_wins_over_the_15_percent_rule(db: Session) -> None:
    org = make_org(db)
    db.add(
        Section8Fmr(
            org_id=org.id,
            area=DETROIT_FMR_AREA,
            year=2024,
            bedrooms=5,
            fmr_amount=Decimal("1872"),
            payment_standard=Decimal("2000"),
            utility_allowance=Decimal("250"),
        )
    )
    db.flush()
    five = service.rent_analysis(session=db, org_id=org.id, bedrooms=5)
    assert (five.payment_standard, five.max_contract_rent) == (Decimal("2000"), Decimal("1750.00"))
    assert five.fmr_row.bedrooms == 5 and not any("15%" in a for a in five.assumptions)
    # Six bedrooms still follow HUD's rule from the 4-bedroom row.
    six = service.rent_analysis(session=db, org_id=org.id, bedrooms=6)
    assert six.fmr == Decimal("2116") and six.fmr_row.bedrooms == 4


def test_a_rent_alone_right_after_a_voucher_answer_is_that_unit_at_that_rent(
    committed_db: Session,
) -> None:
    """Was: "and 1,300?" after a voucher answer was not understood (no Section 8 word)."""
    ivy = _investor(committed_db)
    thread = f"whatsapp:{uuid.uuid4().hex}"
    checked_turn(ivy, "what's the FMR for a 3 bed in Detroit?", thread, channel="whatsapp")
    more = checked_turn(ivy, "and 1,300?", thread, channel="whatsapp")
    assert _names(more) == [
        ("section8_rent", {"bedrooms": 3, "area": "Detroit", "target_rent": "1300"})
    ]
    assert "Rent $1,300" in more.reply
    higher = checked_turn(ivy, "what about $1,400 a month?", thread, channel="whatsapp")
    assert _names(higher)[0][1]["target_rent"] == "1400"
    assert "Rent $1,400 does not fit the voucher" in higher.reply
    # Not after another kind of answer: a bare number is not a rent then.
    other = checked_turn(ivy, "and 1,300?", channel="whatsapp")
    assert other.tool_calls == []
