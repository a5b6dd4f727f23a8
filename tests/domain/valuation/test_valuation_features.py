"""The facts the valuation reads from a property's ``features`` (Ames mapping included)."""

from __future__ import annotations

import uuid

from domain.property import ames
from domain.valuation.features import FEATURE_KEYS, HomeFacts, facts_from_fields


def test_every_documented_feature_key_is_a_fact() -> None:
    names = set(HomeFacts().__dataclass_fields__)
    assert set(FEATURE_KEYS) <= names


def test_ames_rows_carry_the_extra_facts_and_the_valuation_reads_them() -> None:
    # The first Ames row (data set row 1): a 1960 one-storey house in North Ames with an
    # attached, fully finished 2-car garage of 528 sqft, brick-face siding, a hip roof and a
    # 210 sqft wood deck, sold with 141 ft of street frontage.
    row = ames.read_ames()[0]
    values = ames.property_values(row, org_id=uuid.uuid4())
    facts = facts_from_fields(
        square_feet=values["square_feet"],
        year_built=values["year_built"],
        neighborhood=values["neighborhood"],
        features=values["features"],
    )
    assert facts.year_built == 1960
    assert facts.neighborhood == "North Ames"
    assert facts.garage_finish == "Fin"
    assert facts.garage_sqft == 528
    assert facts.exterior_covering == "BrkFace"
    assert facts.roof_style == "Hip"
    assert facts.wood_deck_sqft == 210
    assert facts.lot_frontage_ft == 141
    assert facts.ms_zoning == "Residential_Low_Density"
    assert HomeFacts.from_json(facts.to_json()) == facts
