"""Rehab estimates from the cost catalogue: arithmetic, aliases, defaults, edits, isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session

from domain.auth.enums import Role
from domain.pricing import service
from domain.pricing.catalogue import DEFAULT_CATALOGUE
from domain.pricing.enums import Condition, CostUnit, RehabAction, UnpricedReason
from domain.pricing.models import ComponentCostUpdate, ComponentInput
from tests.factories import make_org, make_user, principal_for


def _by_key(estimate_lines: list, key: str):  # type: ignore[no-untyped-def]
    return next(line for line in estimate_lines if line.component_key == key)


def test_worked_example_estimate(db: Session) -> None:
    """A 1,200 sqft one-storey house priced from the default catalogue.

    roof, poor, no quantity: 1,200 sqft x 1.15 / 100 = 13.8 -> 14 squares x $400 = $5,600.00
    "HVAC", fair: furnace repaired at 10% of $2,200 + $1,300 -> $220 + $130 = $350.00
    "cabinets", poor, 18 linear ft x ($150 + $75) = $4,050.00
    windows, good: nothing, $0.00
    "floors", poor: LVP over the 1,200 sqft x ($2.50 + $2.00) = $5,400.00
    "hot water tank", no condition: replaced, 1 x ($900 + $600) = $1,500.00
    subtotal $16,900.00; contingency 10% = $1,690.00; total $18,590.00
    """
    org = make_org(db)
    estimate = service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[
            ComponentInput(component="roof", condition=Condition.poor),
            ComponentInput(component="HVAC", condition=Condition.fair),
            ComponentInput(component="cabinets", condition=Condition.poor, quantity=Decimal(18)),
            ComponentInput(component="windows", condition=Condition.good),
            ComponentInput(component="floors", condition=Condition.poor),
            ComponentInput(component="hot water tank"),
            ComponentInput(component="hot tub", condition=Condition.poor),
        ],
        square_feet=1200,
        stories=1,
    )
    roof = _by_key(estimate.line_items, "roof_shingles")
    assert (roof.action, roof.quantity, roof.unit) == (RehabAction.REPLACE, 14, "square")
    assert (roof.unit_material, roof.unit_labour, roof.line_total) == (180, 220, Decimal("5600"))
    furnace = _by_key(estimate.line_items, "furnace")
    assert furnace.action is RehabAction.REPAIR and furnace.repair_fraction == Decimal("0.1")
    assert (furnace.unit_total, furnace.line_total) == (Decimal("350.00"), Decimal("350.00"))
    assert _by_key(estimate.line_items, "kitchen_cabinets").line_total == Decimal("4050.00")
    windows = _by_key(estimate.line_items, "windows")
    assert windows.action is RehabAction.NONE and windows.line_total == 0
    floors = _by_key(estimate.line_items, "flooring_lvp")
    assert (floors.quantity, floors.line_total) == (1200, Decimal("5400.00"))
    heater = _by_key(estimate.line_items, "water_heater")
    assert heater.action is RehabAction.REPLACE and heater.line_total == Decimal("1500.00")

    assert estimate.subtotal == Decimal("16900.00")
    assert estimate.contingency_pct == 10
    assert estimate.contingency == Decimal("1690.00")
    assert estimate.total == Decimal("18590.00")
    # Every line points at the organisation's catalogue row it was priced from.
    catalogue_ids = {row.id for row in service.list_costs(session=db, org_id=org.id)}
    assert {line.catalogue_id for line in estimate.line_items} <= catalogue_ids
    # The hot tub is not silently dropped.
    assert [(u.component, u.reason) for u in estimate.unpriced] == [
        ("hot tub", UnpricedReason.unknown_component)
    ]
    assert "not in the cost catalogue" in estimate.unpriced[0].message
    # Default quantities and the missing condition are stated.
    text = " | ".join(estimate.assumptions)
    assert "14 squares" in text and "1200 sqft" in text
    assert "hot water tank: no condition given" in text
    assert "2024 Midwest" in estimate.basis


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("hvac", "furnace"),
        ("Furnace", "furnace"),
        ("furnance", "furnace"),  # a typo close to a catalogue name
        ("hot water tank", "water_heater"),
        ("Hot-Water Heater", "water_heater"),
        ("cabinets", "kitchen_cabinets"),
        ("floors", "flooring_lvp"),
        ("Replace the roof", "roof_shingles"),
        ("A/C", "ac_condenser"),
        ("electrical panel", "electrical_panel"),
        ("Windows", "windows"),
        ("bathroom", "bath_full_remodel"),
        ("carpet", "flooring_carpet"),
        ("trash-out", "landscaping_cleanup"),
        ("LVP flooring", "flooring_lvp"),  # part of a longer name
        ("leaking water heater", "water_heater"),
        ("roof leak", "roof_shingles"),
    ],
)
def test_free_text_component_names_match_the_catalogue(name: str, key: str) -> None:
    match = service.match_component(name)
    assert match is not None and match.key == key


@pytest.mark.parametrize(
    "name", ["hot tub", "swimming pool", "solar panels", "kitchen sink", "!!!"]
)
def test_unknown_components_do_not_match(name: str) -> None:
    assert service.match_component(name) is None


def test_every_catalogue_component_has_a_positive_cost_and_a_basis(db: Session) -> None:
    org = make_org(db)
    rows = service.list_costs(session=db, org_id=org.id)
    assert len(rows) == len(DEFAULT_CATALOGUE) >= 29
    for row in rows:
        assert row.total_cost == row.material_cost + row.labor_cost  # type: ignore[operator]
        assert row.total_cost is not None and row.total_cost > 0, row.component_key
        assert row.basis and "adjust per market" in row.basis
        assert Decimal(0) <= row.repair_fraction < 1
        assert row.unit is not None and CostUnit(row.unit)


def test_catalogue_is_copied_once_per_organisation(db: Session) -> None:
    org = make_org(db)
    first = service.list_costs(session=db, org_id=org.id)
    again = service.ensure_catalogue(session=db, org_id=org.id)
    assert sorted(r.id for r in first) == sorted(r.id for r in again)


def test_contingency_and_repair_rounding(db: Session) -> None:
    """Toilet repair: 20% of $250 + $200 = $50 + $40 = $90 each; 3 toilets = $270.00.

    A 7.5% contingency on $270.00 is $20.25; total $290.25.
    """
    org = make_org(db)
    estimate = service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[ComponentInput(component="toilets", condition="needs repair", quantity=3)],
        contingency_pct=Decimal("7.5"),
    )
    (line,) = estimate.line_items
    assert line.action is RehabAction.REPAIR and line.unit_total == Decimal("90.00")
    assert estimate.subtotal == Decimal("270.00")
    assert estimate.contingency == Decimal("20.25")
    assert estimate.total == Decimal("290.25")


def test_zero_contingency_and_out_of_range(db: Session) -> None:
    org = make_org(db)
    item = [ComponentInput(component="furnace", condition=Condition.poor)]
    estimate = service.estimate_rehab(session=db, org_id=org.id, items=item, contingency_pct=0)
    assert estimate.total == estimate.subtotal == Decimal("3500.00")
    with pytest.raises(service.InvalidCostError, match="contingency_pct"):
        service.estimate_rehab(session=db, org_id=org.id, items=item, contingency_pct=150)


def test_area_priced_component_without_area_asks_for_a_quantity(db: Session) -> None:
    org = make_org(db)
    estimate = service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[ComponentInput(component="rewire", condition=Condition.poor)],
    )
    assert estimate.line_items == []
    assert estimate.unpriced[0].reason is UnpricedReason.quantity_needed
    assert "square_feet" in estimate.unpriced[0].message
    assert estimate.total == 0


def test_quantity_given_in_sqft_for_a_roof_is_converted_to_squares(db: Session) -> None:
    org = make_org(db)
    estimate = service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[
            ComponentInput(component="roof", condition="poor", quantity=1500, unit=CostUnit.sqft),
            ComponentInput(component="furnace", condition="poor", quantity=20, unit="linear ft"),
        ],
        contingency_pct=0,
    )
    (roof,) = estimate.line_items
    assert (roof.quantity, roof.unit, roof.line_total) == (15, "square", Decimal("6000.00"))
    assert estimate.unpriced[0].reason is UnpricedReason.unit_mismatch


def test_roof_and_windows_defaults_follow_the_house(db: Session) -> None:
    """Two storeys of 2,000 sqft: footprint 1,000 sqft x 1.15 / 100 = 11.5 -> 12 squares;
    windows one per 100 sqft = 20; gutters 4 x sqrt(1,000) = 126.5 -> 127 linear ft."""
    org = make_org(db)
    estimate = service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[
            ComponentInput(component="roof", condition="poor"),
            ComponentInput(component="windows", condition="poor"),
            ComponentInput(component="gutters", condition="poor"),
        ],
        square_feet=2000,
        stories=2,
    )
    quantities = {line.component_key: line.quantity for line in estimate.line_items}
    assert quantities == {"roof_shingles": 12, "windows": 20, "gutters": 127}


def test_cost_edit_writes_history_and_changes_the_next_estimate(db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    other_org = make_org(db, "Other Capital")
    furnace_item = [ComponentInput(component="furnace", condition=Condition.poor)]

    before = service.estimate_rehab(session=db, org_id=org.id, items=furnace_item)
    assert before.subtotal == Decimal("3500.00")
    row = next(
        r for r in service.list_costs(session=db, org_id=org.id) if r.component_key == "furnace"
    )
    service.update_cost(
        session=db,
        org_id=org.id,
        cost_id=row.id,
        cost_in=ComponentCostUpdate(
            material_cost=Decimal("2500"), labor_cost=Decimal("1500"), reason="2025 supplier bid"
        ),
        actor=principal_for(analyst),
    )
    (entry,) = service.list_history(session=db, org_id=org.id, cost_id=row.id)
    assert (entry.old_cost, entry.new_cost) == (Decimal("3500.00"), Decimal("4000.00"))
    assert entry.updated_by == analyst.email
    assert entry.reason is not None and entry.reason.startswith("2025 supplier bid")

    after = service.estimate_rehab(session=db, org_id=org.id, items=furnace_item)
    assert after.subtotal == Decimal("4000.00")
    assert "edited by the organisation: furnace" in after.basis
    # Another organisation's book is its own: unchanged, and the row is not reachable from it.
    theirs = service.estimate_rehab(session=db, org_id=other_org.id, items=furnace_item)
    assert theirs.subtotal == Decimal("3500.00")
    with pytest.raises(service.NotFoundError):
        service.update_cost(
            session=db,
            org_id=other_org.id,
            cost_id=row.id,
            cost_in=ComponentCostUpdate(labor_cost=Decimal("1"), reason="x"),
        )
    with pytest.raises(service.NotFoundError):
        service.list_history(session=db, org_id=other_org.id, cost_id=row.id)


def test_edit_with_nothing_to_change_is_refused(db: Session) -> None:
    org = make_org(db)
    row = service.list_costs(session=db, org_id=org.id)[0]
    with pytest.raises(service.InvalidCostError, match="material_cost"):
        service.update_cost(
            session=db, org_id=org.id, cost_id=row.id, cost_in=ComponentCostUpdate(reason="x")
        )
    assert service.list_history(session=db, org_id=org.id, cost_id=row.id) == []
