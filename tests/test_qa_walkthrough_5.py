"""QA pass over the walkthrough, fifth round: basement water and a full gut were not priced.

Each test feeds what an investor says on a walkthrough and, where it matters, checks the
rehab estimate priced from it against a fresh organisation's cost book
(domain/pricing/catalogue.py: interior drain tile $60 per linear ft, a sump pump $1,500, a
full gut rehab $65 per sqft of living area; on 1,200 sqft, one story, the default perimeter is
4 x sqrt(1200) = 139 linear ft).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session, col, delete, select

from domain.audio import service as audio_service
from domain.audio.enums import Condition, WalkthroughStatus
from domain.audio.extraction import extract_from_text
from domain.audio.models import Walkthrough
from domain.pricing import service as pricing_service
from domain.pricing.catalogue import CATALOGUE_BY_KEY, DEFAULT_CATALOGUE, GUT_REHAB_COVERS
from domain.pricing.enums import Condition as PricingCondition
from domain.pricing.models import ComponentCost, ComponentInput
from tests.factories import make_org, make_property
from tests.test_qa_walkthrough_3 import found_in, lines_by_key
from tests.test_qa_walkthrough_4 import price

NEW_KEYS = ("basement_drain_tile", "sump_pump", "gut_rehab")
DRAIN_TILE_1200 = Decimal("8340.00")  # 139 linear ft x $60
SUMP_PUMP = Decimal("1500.00")
GUT_1200 = Decimal("78000.00")  # 1,200 sqft x $65


def test_the_new_catalogue_rows_cost_what_the_tests_assume() -> None:
    costs = {k: CATALOGUE_BY_KEY[k].material + CATALOGUE_BY_KEY[k].labour for k in NEW_KEYS}
    assert costs == {
        "basement_drain_tile": Decimal("60.00"),
        "sump_pump": Decimal("1500.00"),
        "gut_rehab": Decimal("65.00"),
    }
    # The gut line covers the interior only: the roof, windows and mechanicals stay outside.
    assert {"kitchen_cabinets", "flooring_lvp", "rewire", "bath_full_remodel"} <= GUT_REHAB_COVERS
    assert not {"roof_shingles", "windows", "furnace", "water_heater"} & GUT_REHAB_COVERS
    assert not set(NEW_KEYS) & GUT_REHAB_COVERS


# --- 1. water in the basement: interior drain tile plus a sump pump -----------------------


@pytest.mark.parametrize(
    "text",
    [
        "The basement has water.",
        "Water in the basement.",
        "Wet basement.",
        "The basement leaks when it rains.",
        "There's standing water downstairs in the basement.",
        "There's efflorescence on the basement walls.",
        "Water stains on the basement walls.",
        "The basement takes on water every spring.",
        "The basement needs waterproofing.",
    ],
)
def test_water_in_the_basement_prices_drain_tile_and_a_sump_pump(db: Session, text: str) -> None:
    # Was: nothing priced (no catalogue line, nothing heard).
    found = found_in(text)
    assert found["basement_drain_tile"].condition is Condition.poor
    assert found["sump_pump"].condition is Condition.poor

    summary = price(db, text)
    lines = lines_by_key(summary)
    tile = lines["basement_drain_tile"]
    assert (tile["action"], Decimal(tile["quantity"]), tile["unit"]) == (
        "replace",
        Decimal(139),
        "linear ft",
    )
    assert tile["quantity_source"].startswith("default: 139 linear ft = perimeter")
    assert Decimal(tile["line_total"]) == DRAIN_TILE_1200
    assert "interior drain tile" in tile["notes"] and "$60.00/linear ft" in tile["notes"]
    pump = lines["sump_pump"]
    assert (pump["action"], Decimal(pump["quantity"])) == ("replace", Decimal(1))
    assert Decimal(pump["line_total"]) == SUMP_PUMP
    # "basement walls" is the foundation's alias: the water is not a foundation repair.
    assert "foundation_repair" not in lines
    assert Decimal(summary["subtotal"]) == DRAIN_TILE_1200 + SUMP_PUMP


def test_the_basement_walls_leaking_is_waterproofing_not_a_foundation_repair(db: Session) -> None:
    # "leak" would have graded the foundation poor: a $7,500 foundation job for a wet basement.
    text = "The basement walls leak when it rains."
    found = found_in(text)
    assert found["foundation_repair"].condition is None
    lines = lines_by_key(price(db, text))
    assert set(lines) == {"basement_drain_tile", "sump_pump"}
    # A foundation said cracked in its own clause is still its own line.
    both = lines_by_key(price(db, "The foundation is cracked and the basement has water."))
    assert {"foundation_repair", "basement_drain_tile", "sump_pump"} <= set(both)


@pytest.mark.parametrize(
    ("text", "feet"),
    [
        ("The basement has water, it's about 30 by 40.", Decimal(140)),
        ("Water in the basement, about 150 feet around.", Decimal(150)),
        ("Needs about 120 feet of drain tile.", Decimal(120)),
    ],
)
def test_a_stated_basement_size_or_length_is_the_drain_tile_length(
    db: Session, text: str, feet: Decimal
) -> None:
    tile = lines_by_key(price(db, text))["basement_drain_tile"]
    assert (Decimal(tile["quantity"]), tile["quantity_source"]) == (feet, "given")
    assert Decimal(tile["line_total"]) == feet * 60


def test_needs_a_sump_pump_prices_just_the_pump(db: Session) -> None:
    text = "Needs a sump pump."
    assert found_in(text)["sump_pump"].cue_texts == ["needs a sump pump"]
    summary = price(db, text)
    assert set(lines_by_key(summary)) == {"sump_pump"}
    assert Decimal(summary["subtotal"]) == SUMP_PUMP
    assert set(lines_by_key(price(db, "There's no sump pump."))) == {"sump_pump"}


@pytest.mark.parametrize(
    "text",
    [
        "No water in the basement.",
        "There's no water in the basement.",
        "The basement is dry.",
        "The basement was waterproofed last year.",
        "The basement doesn't leak.",
        "Never had any water in the basement.",
        "The water heater is in the basement.",
        "There are new water lines in the basement.",
        "The deck needs waterproofing.",
        "Doesn't need a sump pump.",
    ],
)
def test_a_dry_or_already_waterproofed_basement_prices_no_waterproofing(
    db: Session, text: str
) -> None:
    found = found_in(text)
    assert "basement_drain_tile" not in found
    assert found.get("sump_pump") is None or found["sump_pump"].condition is Condition.good
    lines = lines_by_key(price(db, text))
    work = {k for k, line in lines.items() if line["action"] != "none"}
    assert not {"basement_drain_tile", "sump_pump"} & work


def test_water_from_a_leaking_water_heater_is_not_groundwater() -> None:
    found = found_in("There's water in the basement from the water heater.")
    assert "basement_drain_tile" not in found and "sump_pump" not in found


def test_a_pump_said_of_itself_wins_over_the_one_the_water_implies(db: Session) -> None:
    text = "The basement has water. The sump pump is brand new."
    found = found_in(text)
    assert found["sump_pump"].condition is Condition.excellent
    assert found["basement_drain_tile"].condition is Condition.poor
    lines = lines_by_key(price(db, text))
    assert lines["sump_pump"]["action"] == "none"
    assert Decimal(lines["basement_drain_tile"]["line_total"]) == DRAIN_TILE_1200
    # ... and either order; a pump said dead is still one pump.
    assert found_in("The sump pump works fine. The basement still gets water.")[
        "sump_pump"
    ].condition is (Condition.good)
    dead = lines_by_key(price(db, "The basement floods and the sump pump is dead."))
    assert Decimal(dead["sump_pump"]["quantity"]) == 1


def test_basement_water_without_the_living_area_asks_for_it(db: Session) -> None:
    summary = price(db, "The basement has water.", square_feet=None)
    assert set(lines_by_key(summary)) == {"sump_pump"}
    (unpriced,) = summary["unpriced"]
    assert unpriced["reason"] == "quantity_needed"
    assert "square_feet" in unpriced["message"]


# --- 2. a full gut: one per-sqft line over the living area --------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Needs a full gut.",
        "It's a gut job.",
        "Gut rehab.",
        "This one is a gut rehab.",
        "It has to go down to the studs.",
        "Take it down to the studs.",
        "The whole house needs to be gutted.",
        "We're going to gut the whole house.",
    ],
)
def test_a_full_gut_prices_the_gut_line_over_the_living_area(db: Session, text: str) -> None:
    # Was: nothing priced.
    assert found_in(text)["gut_rehab"].condition is Condition.poor
    summary = price(db, text)
    line = lines_by_key(summary)["gut_rehab"]
    assert (line["action"], Decimal(line["quantity"]), line["unit"]) == (
        "replace",
        Decimal(1200),
        "sqft",
    )
    assert line["quantity_source"] == "default: 1200 sqft = living area 1200 sqft"
    assert Decimal(line["line_total"]) == GUT_1200
    assert "interior to the studs" in line["notes"]
    assert Decimal(summary["subtotal"]) == GUT_1200


def test_a_gut_with_a_new_roof_prices_the_roof_and_not_the_interior_twice(db: Session) -> None:
    text = "Full gut, new cabinets and new flooring, plus a new roof. The carpet is trashed."
    found = found_in(text)
    # The cabinets, flooring and carpet are inside the gut line: folded into its notes.
    assert not {"kitchen_cabinets", "flooring_lvp", "flooring_carpet"} & set(found)
    assert "inside the gut line, not priced again" in found["gut_rehab"].notes
    assert found["roof_shingles"].condition is Condition.poor  # "new roof" is work to do

    lines = lines_by_key(price(db, text))
    assert set(lines) == {"gut_rehab", "roof_shingles"}
    assert Decimal(lines["gut_rehab"]["line_total"]) == GUT_1200
    assert lines["roof_shingles"]["action"] == "replace"
    # A kitchen said to need everything is inside the gut too; the furnace is not.
    other = lines_by_key(
        price(db, "It's a gut job. The kitchen needs everything. Furnace is shot.")
    )
    assert set(other) == {"gut_rehab", "furnace"}


def test_a_gut_with_basement_water_prices_both(db: Session) -> None:
    lines = lines_by_key(price(db, "It's a gut job and the basement has water."))
    assert set(lines) == {"gut_rehab", "basement_drain_tile", "sump_pump"}


def test_a_gut_without_the_living_area_asks_for_it_or_uses_the_one_said(db: Session) -> None:
    summary = price(db, "It's a gut job.", square_feet=None)
    assert summary["line_items"] == []
    (unpriced,) = summary["unpriced"]
    assert (unpriced["component"], unpriced["reason"]) == ("gut rehab", "quantity_needed")
    assert "give its quantity or the house's square_feet" in unpriced["message"]

    said = lines_by_key(price(db, "Full gut on about 1,100 square feet.", square_feet=None))
    assert (Decimal(said["gut_rehab"]["quantity"]), said["gut_rehab"]["quantity_source"]) == (
        Decimal(1100),
        "given",
    )
    text = "It's a gut job, the house is about 1,100 square feet."
    narrated = audio_service.estimate_for_findings(
        session=db,
        org_id=make_org(db).id,
        findings=extract_from_text(text),
        narrated_area=audio_service.narrated_area_in_text(text),
    )
    assert Decimal(lines_by_key(narrated)["gut_rehab"]["line_total"]) == Decimal("71500.00")


@pytest.mark.parametrize(
    "text",
    [
        "Gutted kitchen.",
        "The kitchen is a gut job.",
        "Gut the kitchen.",
        "The kitchen needs to be gutted.",
        "It's not a gut job.",
        "Doesn't need a full gut.",
        "It was gutted down to the studs last year.",
        "It's already been gutted.",
        "The cabinets need to be gutted.",
    ],
)
def test_a_room_or_a_gut_already_done_is_no_full_gut(db: Session, text: str) -> None:
    assert "gut_rehab" not in found_in(text)
    assert "gut_rehab" not in lines_by_key(price(db, text))


def test_a_kitchen_gut_still_prices_the_kitchen() -> None:
    # A guard (passes before and after): the room's own gut keeps its components.
    found = found_in("The kitchen is a gut job.")
    assert found["kitchen_cabinets"].condition is Condition.poor


# --- 3. the catalogue: new rows reach existing organisations lazily -----------------------


def test_an_existing_organisation_gets_the_new_rows_on_its_next_estimate(db: Session) -> None:
    org = make_org(db)
    pricing_service.ensure_catalogue(session=db, org_id=org.id)
    # A cost book made before these rows existed.
    db.execute(
        delete(ComponentCost).where(
            col(ComponentCost.org_id) == org.id,
            col(ComponentCost.component_key).in_(NEW_KEYS),
        )
    )
    db.flush()

    summary = audio_service.estimate_for_findings(
        session=db,
        org_id=org.id,
        findings=extract_from_text("It's a gut job. The basement has water."),
        square_feet=1200,
    )

    assert set(lines_by_key(summary)) == set(NEW_KEYS)
    rows = db.exec(select(ComponentCost).where(ComponentCost.org_id == org.id)).all()
    assert len(rows) == len(DEFAULT_CATALOGUE)
    assert {r.component_key for r in rows} >= set(NEW_KEYS)


def test_the_cost_api_names_price_the_new_rows(db: Session) -> None:
    org = make_org(db)
    estimate = pricing_service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[
            ComponentInput(component="basement waterproofing", condition=PricingCondition.poor),
            ComponentInput(component="sump pump", condition=PricingCondition.poor),
            ComponentInput(component="gut rehab", condition=PricingCondition.poor),
        ],
        square_feet=1200,
    )
    assert [line.line_total for line in estimate.line_items] == [
        DRAIN_TILE_1200,
        SUMP_PUMP,
        GUT_1200,
    ]


def test_a_stored_walkthrough_and_its_analysis_price_the_gut_once(db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org, square_feet=1200)
    text = "It's a gut job. The cabinets are trashed. Needs a new roof. Wet basement."
    walkthrough = Walkthrough(
        org_id=org.id,
        property_id=prop.id,
        status=WalkthroughStatus.transcribed,
        transcript=text,
        segments=[{"start": 0.0, "end": 6.0, "text": text}],
    )
    db.add(walkthrough)
    db.flush()

    result = audio_service.extract_and_estimate(
        session=db, org_id=org.id, walkthrough_id=walkthrough.id
    )

    keys = [c.component_key for c in result.conditions]
    assert keys == ["gut_rehab", "roof_shingles", "basement_drain_tile", "sump_pump"]
    assert set(lines_by_key(result.rehab_estimate)) == set(keys)
    observed = audio_service.latest_component_conditions(
        session=db, org_id=org.id, property_id=prop.id
    )
    assert observed is not None
    again = pricing_service.estimate_rehab(
        session=db, org_id=org.id, items=observed.components, square_feet=1200
    )
    assert again.subtotal == Decimal(result.rehab_estimate["subtotal"])
