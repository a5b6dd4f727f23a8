"""QA pass over the walkthrough, third round: readings that priced the wrong scope.

Each test pins a reading the deterministic extractor got wrong, fed as an investor says it,
and where it matters the rehab estimate priced from it against the organisation's cost book.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, col, delete

from domain.audio import service as audio_service
from domain.audio.enums import Condition, WalkthroughStatus
from domain.audio.extraction import (
    Finding,
    Segment,
    extract_from_text,
    narrated_living_area,
)
from domain.audio.models import Walkthrough
from domain.pricing import service as pricing_service
from domain.pricing.catalogue import CATALOGUE_BY_KEY
from domain.pricing.models import ComponentCost
from tests.factories import make_org, make_property


def found_in(text: str) -> dict[str, Finding]:
    """The findings of ``text`` by catalogue key."""
    return {f.component_key: f for f in extract_from_text(text)}


def lines_by_key(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An estimate summary's line items by catalogue key."""
    return {line["component_key"]: line for line in summary["line_items"]}


def price(db: Session, text: str, square_feet: int | None = 1200) -> dict[str, Any]:
    """The estimate of ``text`` against a fresh organisation's cost book."""
    return audio_service.estimate_for_findings(
        session=db,
        org_id=make_org(db).id,
        findings=extract_from_text(text),
        square_feet=square_feet,
    )


# --- 1. a cracked tub, mold: not a bathroom remodel ---------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "condition"),
    [
        ("The bathroom has a cracked tub.", "bathtub", Condition.poor),
        ("The tub in the bathroom is cracked.", "bathtub", Condition.poor),
        ("There's some mold in the bathroom.", "mold_remediation", Condition.poor),
        ("The bathroom has black mold on the ceiling.", "mold_remediation", Condition.poor),
    ],
)
def test_a_component_in_the_bathroom_is_priced_not_a_bathroom_remodel(
    db: Session, text: str, key: str, condition: Condition
) -> None:
    # Was: "cracked" / "mold" graded the bathroom poor, priced as a $9,000 full remodel.
    found = found_in(text)

    assert found[key].condition is condition
    assert found["bath_full_remodel"].condition is None  # the place, not graded by the cue
    summary = price(db, text)
    lines = lines_by_key(summary)
    assert "bath_full_remodel" not in lines
    assert summary["not_graded"] == [found["bath_full_remodel"].component]
    assert lines[key]["action"] == "replace"
    assert Decimal(summary["subtotal"]) < Decimal(2000)


def test_the_tub_and_mold_lines_price_as_a_contractor_would(db: Session) -> None:
    lines = lines_by_key(
        price(db, "The tub needs reglazing. There's some mold in the bathroom.", None)
    )

    tub = lines["bathtub"]
    assert tub["action"] == "repair"  # fair: reglaze, a share of a new tub
    assert Decimal(tub["line_total"]) == Decimal("1400.00") * Decimal("0.35")
    mold = lines["mold_remediation"]
    assert (Decimal(mold["quantity"]), mold["unit"]) == (Decimal(50), "sqft")  # the default
    assert Decimal(mold["line_total"]) == Decimal("750.00")


def test_a_bathroom_graded_in_its_own_words_keeps_its_grade() -> None:
    # The place rule leaves a room's own clause alone.
    found = found_in("The bathroom is dated and the tub is cracked.")
    assert found["bath_full_remodel"].condition is Condition.fair
    assert found["bathtub"].condition is Condition.poor

    gutted = found_in("The bathroom needs a full remodel, the tub is cracked.")
    assert gutted["bath_full_remodel"].condition is Condition.poor


def test_no_mold_is_praise_not_a_missing_component() -> None:
    # "no water heater" means one must be put in; "no mold" means none to remove.
    assert found_in("There's no mold in the basement.")["mold_remediation"].condition is (
        Condition.good
    )
    assert found_in("We didn't see any mold.")["mold_remediation"].condition is Condition.good
    assert found_in("A little mildew in the bathroom.")["mold_remediation"].condition is (
        Condition.fair
    )


def test_an_existing_organisation_gets_the_new_catalogue_rows(db: Session) -> None:
    org = make_org(db)
    pricing_service.ensure_catalogue(session=db, org_id=org.id)
    # An organisation whose book was made before these rows existed.
    db.execute(
        delete(ComponentCost).where(
            col(ComponentCost.org_id) == org.id,
            col(ComponentCost.component_key).in_(["bathtub", "mold_remediation"]),
        )
    )
    db.flush()

    summary = audio_service.estimate_for_findings(
        session=db, org_id=org.id, findings=extract_from_text("The tub is cracked.")
    )

    (line,) = summary["line_items"]
    assert line["component_key"] == "bathtub"
    entry = CATALOGUE_BY_KEY["bathtub"]
    assert Decimal(line["line_total"]) == entry.material + entry.labour


# --- 2. "one of them" in the next sentence ------------------------------------------------


def test_a_grade_said_of_one_of_them_is_one_of_them(db: Session) -> None:
    # Was: the grade was lost (the follow-up names no component), so nothing was priced.
    bathroom = found_in("Two bathrooms. One of them needs a full remodel.")["bath_full_remodel"]

    assert (bathroom.quantity, bathroom.condition) == (Decimal(1), Condition.poor)
    assert "One of them needs a full remodel." in bathroom.notes
    line = lines_by_key(price(db, "Two bathrooms. One of them needs a full remodel."))[
        "bath_full_remodel"
    ]
    assert (Decimal(line["quantity"]), line["action"]) == (Decimal(1), "replace")

    same_sentence = found_in("Two bathrooms, one of them needs a full remodel.")
    assert same_sentence["bath_full_remodel"].quantity == 1

    windows = found_in("There are twelve windows. Three of them are cracked.")["windows"]
    assert (windows.quantity, windows.condition) == (Decimal(3), Condition.poor)
    # A count with no grade still only counts.
    counted = found_in("The windows are original. There are fourteen of them.")["windows"]
    assert (counted.quantity, counted.condition) == (Decimal(14), Condition.fair)


# --- 3. one door praised, one condemned ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Front door is solid, back door needs to be replaced.",
        "The front door is solid. The back door needs to be replaced.",
        "The back door needs to be replaced. The front door is solid.",
    ],
)
def test_a_praised_door_is_not_replaced_with_the_condemned_one(text: str) -> None:
    # Was: the two doors pooled into two poor doors (or the default two).
    doors = found_in(text)["exterior_doors"]

    assert (doors.quantity, doors.condition) == (Decimal(1), Condition.poor)
    assert all("solid" not in cue for cue in doors.cue_texts)


def test_doors_said_alike_still_add_up() -> None:
    assert found_in("The front door and the back door are shot.")["exterior_doors"].quantity == 2
    assert found_in("Front door is shot, back door is shot too.")["exterior_doors"].quantity == 2


# --- 4. the living area said in the narration ---------------------------------------------

HOUSE = "The house is about 1,100 square feet. The carpet is shot everywhere. The roof is shot."


@pytest.mark.parametrize(
    ("text", "area"),
    [
        ("The house is about 1100 square feet.", 1100),
        ("It's an 1,100 square foot ranch, three bedrooms.", 1100),
        ("Square footage is roughly 950.", 950),
        ("About 1400 square feet of living space.", 1400),
        # Not the house's area.
        ("The basement is about 600 square feet.", None),
        ("The house has about 400 square feet of carpet.", None),
        ("Flooring, about 800 square feet total.", None),
    ],
)
def test_the_living_area_said_is_read(text: str, area: int | None) -> None:
    said = narrated_living_area([Segment(start=None, end=None, text=text)])
    assert (said.square_feet if said else None) == area


def test_the_narrated_living_area_prices_area_quantities_when_the_property_has_none(
    db: Session,
) -> None:
    # Was: the carpet and roof were unpriced ("give the house's square_feet").
    org = make_org(db)
    walkthrough = _walkthrough(db, org.id, make_property(db, org, square_feet=None).id, HOUSE)

    result = audio_service.extract_and_estimate(
        session=db, org_id=org.id, walkthrough_id=walkthrough.id
    )

    assert result.narrated_living_area is not None
    assert result.narrated_living_area.square_feet == 1100
    lines = lines_by_key(result.rehab_estimate)
    assert Decimal(lines["flooring_carpet"]["quantity"]) == 1100
    assert Decimal(lines["roof_shingles"]["quantity"]) == 13  # 1100 x 1.15 / 100, rounded up
    assert result.rehab_estimate["unpriced"] == []
    assert result.rehab_estimate["square_feet"] == 1100
    assert any(
        "1100 sqft as narrated" in a and "The house is about 1,100 square feet." in a
        for a in result.rehab_estimate["assumptions"]
    )
    # Nor is the house's figure said in a component's sentence that component's quantity.
    roof = found_in("It's a 1100 square foot house, the roof is shot.")["roof_shingles"]
    assert (roof.quantity, roof.condition) == (None, Condition.poor)


def test_the_propertys_own_living_area_wins_over_the_narrated_one(db: Session) -> None:
    org = make_org(db)
    walkthrough = _walkthrough(db, org.id, make_property(db, org, square_feet=1500).id, HOUSE)

    result = audio_service.extract_and_estimate(
        session=db, org_id=org.id, walkthrough_id=walkthrough.id
    )

    assert Decimal(lines_by_key(result.rehab_estimate)["flooring_carpet"]["quantity"]) == 1500
    assert result.rehab_estimate["square_feet"] == 1500
    assert any(
        "1500 sqft from the property record" in a and "1100" in a
        for a in result.rehab_estimate["assumptions"]
    )


def _walkthrough(db: Session, org_id: Any, property_id: Any, text: str) -> Walkthrough:
    walkthrough = Walkthrough(
        org_id=org_id,
        property_id=property_id,
        status=WalkthroughStatus.transcribed,
        transcript=text,
        segments=[{"start": 0.0, "end": 9.0, "text": text}],
    )
    db.add(walkthrough)
    db.flush()
    return walkthrough


# --- 5. refinishing hardwood is the full refinish -----------------------------------------


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("Hardwood floors need refinishing.", Condition.poor),
        ("The hardwood needs a sand and refinish.", Condition.poor),
        ("We'll sand and refinish the hardwood.", Condition.poor),
        ("Hardwood floors just need a screen and recoat.", Condition.fair),
        ("The hardwood could use a buff and recoat.", Condition.fair),
        # A need denied is no work (was: the need itself, a repair).
        ("The hardwood doesn't need refinishing.", Condition.good),
    ],
)
def test_refinishing_hardwood_is_the_full_refinish(
    db: Session, text: str, condition: Condition
) -> None:
    # Was: "needs refinishing" was fair, priced as a screen-and-recoat (40%).
    assert found_in(text)["hardwood_refinish"].condition is condition
    line = lines_by_key(price(db, text, 1000))["hardwood_refinish"]
    entry = CATALOGUE_BY_KEY["hardwood_refinish"]
    full = (entry.material + entry.labour) * 1000
    share = {
        Condition.poor: Decimal(1),
        Condition.fair: entry.repair_fraction,
        Condition.good: Decimal(0),
    }
    expected = full * share[condition]
    assert Decimal(line["line_total"]) == expected


def test_refinishing_other_components_is_still_their_repair() -> None:
    assert found_in("The cabinets need refinishing.")["kitchen_cabinets"].condition is (
        Condition.fair
    )


# --- a spoken name the cost book does not read the same way -------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("The breaker box is shot.", "electrical_panel"),  # was: unpriced, unknown component
        ("The electrical box is shot.", "electrical_panel"),  # was: a whole-house rewire
        ("The tub is cracked.", "bathtub"),
    ],
)
def test_a_spoken_name_is_priced_as_the_component_heard(db: Session, text: str, key: str) -> None:
    summary = price(db, text)

    assert summary["unpriced"] == []
    assert [line["component_key"] for line in summary["line_items"]] == [key]
    # A hot tub is still no bathtub to the cost book.
    assert pricing_service.match_component("hot tub") is None
