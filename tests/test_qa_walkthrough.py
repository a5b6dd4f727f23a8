"""QA pass over the walkthrough: narration read into findings, and photos decoded for the model.

Each test pins a defect found by feeding an investor's spoken walkthrough (as Whisper writes
it) or a phone photo through the pure functions that feed the rehab scope.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from PIL import Image
from sqlmodel import Session

from domain.audio import service as audio_service
from domain.audio.enums import Condition
from domain.audio.extraction import Finding, extract_from_text
from domain.pricing.enums import CostUnit
from domain.vision import model
from domain.vision import service as vision_service
from domain.vision.enums import Condition as VisionCondition
from domain.vision.models import ComponentCondition
from tests.factories import make_org, make_property


def one(text: str, key: str) -> Finding:
    """The finding for ``key`` in ``text`` (it must be there)."""
    found = {f.component_key: f for f in extract_from_text(text)}
    assert key in found, f"{key} not heard in {text!r}: {sorted(found)}"
    return found[key]


# --- narration ---------------------------------------------------------------------------


def test_a_decimal_quantity_is_read_whole_not_as_its_fraction() -> None:
    # Was: "22.5" split into "22" and "5", so the roof was priced at 5 squares.
    roof = one("22.5 squares of roof, it's shot.", "roof_shingles")

    assert (roof.quantity, roof.unit) == (Decimal("22.5"), CostUnit.square.value)
    item = audio_service.rehab_items([roof])[0]
    assert (item.quantity, item.unit) == (Decimal("22.5"), CostUnit.square)


def test_a_decimal_age_is_read_whole() -> None:
    # Was: "2.5 years old" read as "5 years old".
    roof = one("The roof is about 2.5 years old.", "roof_shingles")

    assert roof.cue_texts == ["2.5 years old"]
    assert roof.condition is Condition.good


def test_not_in_bad_shape_is_praise() -> None:
    # Was: the negation was ignored and "bad shape" graded the roof fair.
    assert one("The roof is not in bad shape.", "roof_shingles").condition is Condition.good
    assert one("Furnace isn't in rough condition.", "furnace").condition is Condition.good
    # The plain complaint still reads as one.
    assert one("The roof is in bad shape.", "roof_shingles").condition is Condition.fair


def test_needing_new_ones_with_a_count_means_replacement() -> None:
    # Was: "need two new toilets" graded the toilets excellent ("new"), so none were priced.
    toilets = one("We need two new toilets.", "toilet")

    assert toilets.condition is Condition.poor
    assert toilets.quantity == Decimal("2")
    assert one("Needs all new windows.", "windows").condition is Condition.poor


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("No water heater.", "water_heater"),
        ("There's no furnace in the basement.", "furnace"),
        ("No AC, but the furnace works.", "ac_condenser"),
    ],
)
def test_a_missing_component_is_priced_as_poor(text: str, key: str) -> None:
    # Was: no condition at all, so the missing component was dropped from the rehab scope.
    finding = one(text, key)

    assert finding.condition is Condition.poor
    items = audio_service.rehab_items([finding])
    assert [(item.component, str(item.condition)) for item in items] == [
        (finding.component, "poor")
    ]


def test_no_before_a_component_with_its_own_cue_is_not_missing() -> None:
    assert one("No roof leaks.", "roof_shingles").condition is Condition.good
    assert one("No issues with the plumbing.", "plumbing_repipe").condition is Condition.good
    furnace = one("No AC, but the furnace works.", "furnace")
    assert furnace.condition is Condition.good


def test_a_couple_is_two() -> None:
    # Was: "a couple of the windows" gave no count.
    windows = one("A couple of the windows are broken.", "windows")

    assert windows.quantity == Decimal("2")
    assert windows.condition is Condition.poor


def test_laminate_countertops_are_not_flooring() -> None:
    # Was: "laminate" named the LVP flooring line and took the countertops' "dated".
    found = {
        f.component_key: f
        for f in extract_from_text(
            "Kitchen cabinets are fine but the countertops are laminate and dated."
        )
    }

    assert "flooring_lvp" not in found
    assert found["countertops"].condition is Condition.fair
    # Laminate floors are still flooring.
    assert one("The laminate floors are scratched and worn.", "flooring_lvp").condition is (
        Condition.fair
    )


def test_replaced_years_ago_is_an_age() -> None:
    # Was: no cue, so a roof replaced five years ago had no condition.
    roof = one("The roof was replaced five years ago.", "roof_shingles")

    assert roof.condition is Condition.good
    assert roof.cue_texts == ["replaced 5 years ago"]
    assert one("Water heater was put in about 25 years ago.", "water_heater").condition is (
        Condition.poor
    )


@pytest.mark.parametrize(
    ("text", "keys", "condition"),
    [
        ("The furnace and the AC are both 20 years old.", ("furnace", "ac_condenser"), "fair"),
        ("Roof and gutters are shot.", ("roof_shingles", "gutters"), "poor"),
        ("Windows, doors, all original.", ("windows", "interior_doors"), "fair"),
    ],
)
def test_components_named_in_a_list_share_what_is_said_of_them(
    text: str, keys: tuple[str, ...], condition: str
) -> None:
    # Was: only the last component of the list got a condition; the others were dropped.
    for key in keys:
        assert str(one(text, key).condition) == condition, key


def test_a_self_correction_does_not_share_the_condition() -> None:
    found = {
        f.component_key: f for f in extract_from_text("The roof, I mean the gutters, are shot.")
    }

    assert found["gutters"].condition is Condition.poor
    assert found["roof_shingles"].condition is None


# --- photos ------------------------------------------------------------------------------


def _jpeg(image: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **save)
    return buffer.getvalue()


def test_a_phone_photo_is_stood_upright_by_its_exif_orientation() -> None:
    # Was: the EXIF orientation was ignored, so the model saw portrait photos sideways.
    sideways = Image.new("RGB", (40, 20), (120, 90, 60))
    exif = sideways.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = model.decode_image(_jpeg(sideways, exif=exif.tobytes()))

    assert decoded.size == (20, 40)
    assert decoded.mode == "RGB"


def test_a_photo_with_no_orientation_keeps_its_shape() -> None:
    decoded = model.decode_image(_jpeg(Image.new("RGB", (40, 20), (120, 90, 60))))

    assert decoded.size == (40, 20)


def test_a_tiny_image_is_refused_with_its_size() -> None:
    # Was: a 1×1 pixel was classified and its "condition" could price a rehab.
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")

    with pytest.raises(model.UnreadableImage, match=r"1×1 pixels, too small"):
        model.decode_image(buffer.getvalue())


def test_a_very_large_photo_is_called_too_large_not_damaged() -> None:
    # Was: Pillow's decompression-bomb guard fired first and the photo was called "damaged".
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")

    with pytest.raises(model.UnreadableImage, match="too large") as raised:
        model.decode_image(buffer.getvalue())
    assert "damaged" not in str(raised.value)


def test_an_unsure_poor_photo_is_budgeted_as_the_repair_its_assessment_says(
    db: Session,
) -> None:
    # Was: a poor verdict at confidence 0.40 ("replacement needed: no") still priced a
    # full replacement in the rehab scope.
    org = make_org(db)
    prop = make_property(db, org)
    for component, confidence in (("roof", 0.40), ("furnace", 0.90)):
        assessment = vision_service.assess(VisionCondition.poor, confidence)
        db.add(
            ComponentCondition(
                org_id=org.id,
                property_id=prop.id,
                component_name=component,
                condition=VisionCondition.poor,
                condition_score=assessment.condition_score,
                replacement_needed=assessment.replacement_needed,
                repair_priority=assessment.repair_priority,
            )
        )
    db.flush()

    observed = vision_service.latest_component_conditions(
        session=db, org_id=org.id, property_id=prop.id
    )

    assert observed is not None
    scope = {item.component: item for item in observed.components}
    assert str(scope["roof"].condition) == "fair"
    assert "unsure" in (scope["roof"].notes or "")
    assert str(scope["furnace"].condition) == "poor"
