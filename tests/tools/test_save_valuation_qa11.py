"""Storing a valuation from chat: ``save_valuation``, called directly as the tools node does.

Was: a deal's projection needs a stored ARV, chat analyses stored nothing, and the chat
could only say "value it with POST /valuations/arv", which a chat user cannot do. Real
database, real valuation service (comps from the organisation's sales), real outbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.property import service as property_service
from domain.property.models import PropertyCreate
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from domain.valuation.models import Valuation
from store.outbox import OutboxEvent
from tests.factories import make_deal, make_org, make_property, make_user
from tests.tools.helpers import call_tool, context_for
from tools import tools_for_role
from tools.deal import deal_performance
from tools.valuation import save_valuation

CENTRE = (42.36, -82.98)
SUBJECT = "14500 Kercheval Ave, Detroit, MI 48215"


@dataclass
class World:
    admin: User
    analyst: User
    ivy: User  # owns the flip on the subject
    olaf: User  # another investor: no deal on the subject
    contractor: User
    org_id: uuid.UUID
    subject_id: uuid.UUID
    loose_id: uuid.UUID  # a house on no deal
    deal_id: uuid.UUID


@pytest.fixture
def world(db: Session) -> World:
    """24 sales (a quarter in top condition, the ARV comps), the subject and a loose house."""
    org = make_org(db, "Save Valuation Co")
    for i in range(24):
        sqft, condition = 1200 + 100 * (i % 10), 4 + i % 4
        property_service.create(
            session=db,
            org_id=org.id,
            property_in=PropertyCreate(
                latitude=CENTRE[0] + 0.0005 * (i % 7),
                longitude=CENTRE[1] + 0.002 * i,
                zip_code="48215",
                square_feet=sqft,
                bedrooms=3,
                bathrooms=Decimal("1.5"),
                year_built=1950,
                condition_rating=condition,
                close_price=Decimal(round(100 * sqft * 1.05 ** (condition - 5))),
                close_date=dt.date(2023 + i // 12, i % 12 + 1, 15),
                source="test",
                source_id=uuid.uuid4().hex,
            ),
        )
    home = {
        "city": "Detroit",
        "state": "MI",
        "zip_code": "48215",
        "square_feet": 1500,
        "bedrooms": 3,
        "bathrooms": Decimal("1.5"),
        "year_built": 1950,
        "condition_rating": 4,
    }
    subject = make_property(
        db,
        org,
        address_line="14500 Kercheval Ave",
        latitude=CENTRE[0] + 0.001,
        longitude=CENTRE[1] + 0.011,
        **home,
    )
    loose = make_property(
        db,
        org,
        address_line="14620 Kercheval Ave",
        latitude=CENTRE[0] + 0.002,
        longitude=CENTRE[1] + 0.013,
        **home,
    )
    ivy = make_user(db, org, Role.investor)
    deal = make_deal(
        db,
        org,
        owner=ivy,
        property_id=subject.id,
        strategy="flip",
        purchase_price=Decimal("60000"),
    )
    return World(
        admin=make_user(db, org, Role.admin),
        analyst=make_user(db, org, Role.analyst),
        ivy=ivy,
        olaf=make_user(db, org, Role.investor),
        contractor=make_user(db, org, Role.contractor),
        org_id=org.id,
        subject_id=subject.id,
        loose_id=loose.id,
        deal_id=deal.id,
    )


def _valuations(db: Session, property_id: uuid.UUID) -> list[Valuation]:
    return list(db.exec(select(Valuation).where(Valuation.property_id == property_id)).all())


def _completed_events(db: Session, org_id: uuid.UUID) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent).where(
                OutboxEvent.org_id == org_id,
                col(OutboxEvent.name) == "valuation.completed",
            )
        ).all()
    )


def _dollars(text: str) -> Decimal:
    return Decimal(text.strip("$").replace(",", ""))


# --- the role policy ------------------------------------------------------------------------


def test_the_team_and_investors_have_save_valuation_and_contractors_do_not() -> None:
    for role in (Role.admin, Role.analyst, Role.investor):
        assert "save_valuation" in {t.name for t in tools_for_role(role)}, role
    assert "save_valuation" not in {t.name for t in tools_for_role(Role.contractor)}


# --- storing --------------------------------------------------------------------------------


def test_save_the_arv_by_address_stores_a_row_with_its_comps_and_announces_it(
    db: Session, world: World
) -> None:
    result = call_tool(
        save_valuation, context_for(db, world.analyst), address="14500 Kercheval Ave"
    )

    assert "error" not in result, result
    stored = _valuations(db, world.subject_id)
    assert len(stored) == 1
    row = stored[0]
    assert row.kind == ValuationKind.arv
    assert row.created_by == world.analyst.id
    assert row.as_of == local_today()
    assert len(row.comps) >= 3
    assert result["stored"] is True
    assert result["valuation_id"] == str(row.id)
    assert result["kind"] == "arv"
    assert result["property_id"] == str(world.subject_id)
    assert result["address"] == SUBJECT
    assert result["comps"] == len(row.comps)
    assert result["as_of"] == local_today().isoformat()
    assert _dollars(result["value"]) == round(row.value)
    assert _dollars(result["low"]) <= _dollars(result["value"]) <= _dollars(result["high"])
    assert result["confidence_pct"] == round(float(row.confidence) * 100)
    # The projection's source: the latest stored ARV is this row.
    latest = valuation_service.latest_valuation(
        session=db, org_id=world.org_id, property_id=world.subject_id, kind=ValuationKind.arv
    )
    assert latest is not None and latest.id == row.id
    events = _completed_events(db, world.org_id)
    assert [e.payload["valuation_id"] for e in events] == [str(row.id)]


def test_an_as_is_value_by_property_id_is_stored_as_as_is(db: Session, world: World) -> None:
    result = call_tool(
        save_valuation,
        context_for(db, world.admin),
        property_id=str(world.loose_id),
        kind="as_is",
    )

    assert "error" not in result, result
    assert result["kind"] == "as_is"
    assert result["address"].startswith("14620 Kercheval Ave")
    [row] = _valuations(db, world.loose_id)
    assert row.kind == ValuationKind.as_is and result["valuation_id"] == str(row.id)
    arv = valuation_service.latest_valuation(
        session=db, org_id=world.org_id, property_id=world.loose_id, kind=ValuationKind.arv
    )
    assert arv is None


def test_a_saved_arv_lets_the_flip_projection_run(db: Session, world: World) -> None:
    ctx = context_for(db, world.ivy)
    before = call_tool(deal_performance, ctx, deal=str(world.deal_id))
    assert "needs an ARV" in (before["projection_missing"] or ""), before

    saved = call_tool(save_valuation, ctx, address="14500 Kercheval Ave")
    assert "error" not in saved, saved

    after = call_tool(deal_performance, ctx, deal=str(world.deal_id))
    assert after["projection_missing"] is None, after
    assert after["projection_sources"]["arv_source"] == "stored valuation"
    assert saved["valuation_id"] in after["projection_sources"]["arv"]
    sale = next(line for line in after["lines"] if line["key"] == "sale_price")
    assert sale["projected"] == saved["value"]


# --- the investor rule ----------------------------------------------------------------------


def test_an_investor_stores_for_their_own_deal_and_for_a_house_on_no_deal(
    db: Session, world: World
) -> None:
    own = call_tool(save_valuation, context_for(db, world.ivy), address="14500 Kercheval Ave")
    assert "error" not in own, own
    assert [v.created_by for v in _valuations(db, world.subject_id)] == [world.ivy.id]

    loose = call_tool(save_valuation, context_for(db, world.olaf), property_id=str(world.loose_id))
    assert "error" not in loose, loose
    assert [v.created_by for v in _valuations(db, world.loose_id)] == [world.olaf.id]


def test_an_investor_is_refused_for_another_investors_deal_and_nothing_is_stored(
    db: Session, world: World
) -> None:
    result = call_tool(save_valuation, context_for(db, world.olaf), address="14500 Kercheval Ave")

    assert set(result) == {"error"}
    message = result["error"]
    assert message.startswith("nothing was stored: ")
    assert "is on a deal you are not on" in message
    assert SUBJECT in message
    assert "comps for" in message and "POST" not in message
    assert _valuations(db, world.subject_id) == []
    assert _completed_events(db, world.org_id) == []


# --- bad input ------------------------------------------------------------------------------


def test_an_address_not_on_file_stores_nothing_and_says_so(db: Session, world: World) -> None:
    result = call_tool(save_valuation, context_for(db, world.admin), address="1 Nowhere Rd")

    assert "no property at '1 Nowhere Rd' is on file" in result["error"]
    assert db.exec(select(Valuation).where(Valuation.org_id == world.org_id)).all() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "give a street address (or a property id)"),
        ({"property_id": "not-an-id"}, "'not-an-id' is not a property id"),
        ({"property_id": str(uuid.UUID(int=7))}, f"property {uuid.UUID(int=7)} not found"),
    ],
)
def test_no_property_named_is_a_plain_error(
    db: Session, world: World, args: dict[str, Any], message: str
) -> None:
    assert call_tool(save_valuation, context_for(db, world.admin), **args) == {"error": message}


def test_a_kind_other_than_arv_or_as_is_is_rejected(db: Session, world: World) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        call_tool(
            save_valuation,
            context_for(db, world.admin),
            address="14500 Kercheval Ave",
            kind="rental",
        )
    assert _valuations(db, world.subject_id) == []


def test_a_contractor_calling_it_anyway_is_refused(db: Session, world: World) -> None:
    result = call_tool(
        save_valuation, context_for(db, world.contractor), address="14500 Kercheval Ave"
    )
    assert result == {"error": "not allowed for the contractor role"}
    assert _valuations(db, world.subject_id) == []
