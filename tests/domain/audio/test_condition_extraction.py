"""The deterministic condition extractor on plain text: components, grades, quantities, times.

Component keys are the pricing catalogue's (``domain/pricing/catalogue.py``), so every
finding can be priced.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.audio.enums import Condition
from domain.audio.extraction import (
    Finding,
    Segment,
    extract_conditions,
    extract_from_text,
    tokenize,
    words_to_numbers,
)
from domain.audio.synthetic import SHORT_WALKTHROUGH
from domain.pricing import service as pricing_service


def by_key(findings: list[Finding]) -> dict[str, Finding]:
    return {f.component_key: f for f in findings}


def test_the_short_walkthrough_reads_as_an_investor_would() -> None:
    found = by_key(extract_from_text(SHORT_WALKTHROUGH))

    assert list(found) == [
        "roof_shingles",
        "furnace",
        "windows",
        "kitchen_cabinets",
        "water_heater",
    ]
    assert found["roof_shingles"].condition is Condition.poor  # "shot", "needs replacing"
    assert found["roof_shingles"].cue_texts == ["shot", "needs replacing"]
    assert found["furnace"].condition is Condition.good  # "5 years old", "in good shape"
    assert found["windows"].quantity == Decimal(12)  # "twelve windows"
    assert found["windows"].unit is None  # a count
    assert found["windows"].condition is Condition.poor  # original (fair) and drafty (poor)
    assert found["kitchen_cabinets"].condition is Condition.fair  # "worn"
    assert found["water_heater"].condition is Condition.poor  # "leaking"
    assert found["water_heater"].notes == "The water heater is leaking."


@pytest.mark.parametrize(
    ("text", "key", "condition"),
    [
        ("The AC is not bad.", "ac_condenser", Condition.good),
        ("No leaks under the vanity.", "vanity", Condition.good),
        ("The hot water tank isn't leaking.", "water_heater", Condition.good),
        ("The toilet doesn't work.", "toilet", Condition.poor),
        ("Brand new roof.", "roof_shingles", Condition.excellent),
        ("We need a new roof.", "roof_shingles", Condition.poor),
        ("The gutters are falling apart.", "gutters", Condition.poor),
        ("The carpet is stained.", "flooring_carpet", Condition.fair),
        ("The electrical panel is an old fuse box.", "electrical_panel", Condition.fair),
        ("The furnace is 25 years old.", "furnace", Condition.poor),
        ("The foundation looks solid, no cracks.", "foundation_repair", Condition.good),
        ("The whole place needs paint.", "interior_paint", Condition.fair),
        ("The bathroom tile is cracked.", "bath_tile", Condition.poor),
        # A refinish is the hardwood line in full; its repair is a screen and recoat.
        ("Hardwood floors need refinishing.", "hardwood_refinish", Condition.poor),
    ],
)
def test_cue_words_and_negations_grade_the_component(
    text: str, key: str, condition: Condition
) -> None:
    found = by_key(extract_from_text(text))
    assert key in found, f"{text!r} gave {list(found)}"
    assert found[key].condition is condition


def test_each_component_gets_the_cues_of_its_own_clause() -> None:
    found = by_key(
        extract_from_text("The kitchen cabinets are worn but the countertops are brand new.")
    )
    assert found["kitchen_cabinets"].condition is Condition.fair
    assert found["countertops"].condition is Condition.excellent


def test_needs_paint_is_what_the_siding_needs_not_a_second_component() -> None:
    found = by_key(extract_from_text("The siding needs paint and the gutters are fine."))
    assert set(found) == {"siding", "gutters"}
    assert found["siding"].condition is Condition.fair
    assert found["gutters"].condition is Condition.good


def test_quantities_with_units_and_spelled_out_counts() -> None:
    found = by_key(
        extract_from_text(
            "The roof is shot, about twenty squares. Two toilets need replacing. "
            "There is 1,200 square feet of carpet, all worn. Three bedrooms of hardwood."
        )
    )
    assert (found["roof_shingles"].quantity, found["roof_shingles"].unit) == (20, "square")
    assert found["roof_shingles"].priceable_quantity == (Decimal(20), "square")
    assert (found["toilet"].quantity, found["toilet"].unit) == (2, None)
    assert found["toilet"].priceable_quantity == (Decimal(2), "each")
    assert (found["flooring_carpet"].quantity, found["flooring_carpet"].unit) == (1200, "sqft")
    # "three bedrooms" is said and kept, but is not a unit the cost book prices hardwood in.
    assert (found["hardwood_refinish"].quantity, found["hardwood_refinish"].unit) == (3, "bedroom")
    assert found["hardwood_refinish"].priceable_quantity is None


def test_a_bare_count_of_an_area_priced_component_is_not_priced_as_square_feet() -> None:
    (carpet,) = extract_from_text("Two carpets are stained.")
    assert carpet.quantity == 2
    assert carpet.priceable_quantity is None  # carpet is priced per sqft


def test_a_mention_without_a_cue_has_no_condition_and_low_confidence() -> None:
    (door,) = extract_from_text("Coming in the front door.")
    assert door.component_key == "exterior_doors"
    assert door.condition is None
    assert door.confidence == Decimal("0.30")


def test_conflicting_cues_lower_the_confidence() -> None:
    (clear,) = extract_from_text("The roof is shot and needs replacing.")
    (mixed,) = extract_from_text("The windows are original and drafty.")
    assert clear.confidence == Decimal("0.80")  # two cues agreeing
    assert mixed.confidence < clear.confidence


def test_a_component_heard_twice_is_one_finding_with_pooled_cues() -> None:
    findings = extract_from_text(
        "The roof looks okay from the street. Up close the roof is leaking."
    )
    (roof,) = findings
    assert roof.condition is Condition.poor
    assert roof.cue_texts == ["okay", "leaking"]


def test_timestamps_come_from_the_segment_each_sentence_starts_in() -> None:
    segments = [
        Segment(0.0, 2.4, "The roof is shot and needs replacing."),
        Segment(2.4, 5.6, "The furnace is about 5 years old"),
        Segment(5.6, 7.9, "and in good shape. The water heater is leaking."),
    ]
    found = by_key(extract_conditions(segments))
    assert found["roof_shingles"].timestamp_seconds == 0
    assert found["furnace"].timestamp_seconds == 2  # the sentence spans two segments
    assert found["furnace"].condition is Condition.good
    assert found["water_heater"].timestamp_seconds == 5


def test_whispers_spelling_variations_still_match() -> None:
    # What Whisper base wrote for espeak-ng's reading of the short walkthrough.
    heard = (
        "The roof is shot and needs replacing. The furnace is about 5 years old and in good "
        "shape. There are 12 windows, all original and drafted. The kitchen cabinet is at worn. "
        "The water heater is leaking."
    )
    found = by_key(extract_from_text(heard))
    assert found["kitchen_cabinets"].condition is Condition.fair
    assert found["windows"].quantity == 12


def test_every_component_found_is_priceable_by_the_catalogue() -> None:
    text = (
        "Roof, shingles, furnace, HVAC, AC, water heater, kitchen cabinets, countertops, "
        "appliances, bath tile, vanity, toilet, windows, front door, doors, flooring, carpet, "
        "hardwood, paint, drywall, electrical panel, wiring, plumbing, foundation, siding, "
        "gutters, sewer."
    )
    keys = [f.component_key for f in extract_from_text(text)]
    for finding in extract_from_text(text):
        match = pricing_service.match_component(finding.component)
        assert match is not None and match.key == finding.component_key, finding.component
    assert len(keys) >= 22


def test_words_that_are_not_components_are_not_found() -> None:
    assert extract_from_text("It is in the range of what we paid. The yard is big.") == []
    assert extract_from_text("") == []


def test_spelled_out_numbers_become_digits() -> None:
    assert words_to_numbers("twenty five windows".split()) == ["25", "windows"]
    assert words_to_numbers("one hundred and twenty feet".split()) == ["120", "feet"]
    assert words_to_numbers("a dozen doors".split()) == ["12", "doors"]
    assert tokenize("1,200 square feet, the kitchen's floor") == [
        "1200",
        "square",
        "feet",
        ",",
        "the",
        "kitchen",
        "floor",
    ]
