""" "max offer on it if rehab is 30k" right after an analysis is about that property (it asked
"Which property?"); without an earlier property it still asks."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_sold_market, make_subject_property, make_user


def test_max_offer_on_it_uses_the_property_just_analysed(committed_db: Session) -> None:
    org = make_org(committed_db)
    make_sold_market(committed_db, org)
    subject = make_subject_property(committed_db, org)
    analyst = make_user(committed_db, org, Role.analyst)
    committed_db.commit()
    thread = f"web:{uuid.uuid4().hex}"

    checked_turn(analyst, "1234 Subject Ave", thread)
    offer = checked_turn(analyst, "max offer on it if rehab is 30k", thread)
    assert [(c.name, c.args) for c in offer.tool_calls] == [
        ("max_offer", {"property_id": str(subject.id), "rehab_cost": "30000.00"})
    ]
    assert offer.reply.startswith("Max offer on 1234 Subject Ave")
    assert "Rehab as you gave it" in offer.reply

    alone = checked_turn(analyst, "max offer on it", f"web:{uuid.uuid4().hex}")
    assert alone.tool_calls == []
    assert alone.reply.startswith("Which property?")
