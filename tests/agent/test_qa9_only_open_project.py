""" "What bids came in?" with no project named: the caller's one open project, else which.

Was: in a fresh thread the team got "Which project? Give its id ..." even when the
organisation had one open rehab, right after the bid request had said to ask just that.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_project, make_property, make_user


def test_the_one_open_project_answers_and_two_are_named(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    analyst = make_user(db, org, Role.analyst)
    lincoln = make_property(
        db, org, address_line="4120 Lincoln Way", city="Ames", state="IA", zip_code="50014"
    )
    make_project(db, org, name="Rehab: 4120 Lincoln Way", property_id=lincoln.id)
    db.commit()
    one = checked_turn(analyst, "what bids came in?", f"web:{uuid.uuid4().hex}")
    assert [(c.name, c.args) for c in one.tool_calls] == [
        ("bids_received", {"project": "the open project"})
    ]
    assert "4120 Lincoln Way" in one.reply and "Which project" not in one.reply

    duff = make_property(
        db, org, address_line="2718 Duff Ave", city="Ames", state="IA", zip_code="50010"
    )
    make_project(db, org, name="Rehab: 2718 Duff Ave", property_id=duff.id)
    db.commit()
    two = checked_turn(analyst, "what bids came in?", f"web:{uuid.uuid4().hex}")
    assert "which project? The open ones:" in two.reply
    assert "4120 Lincoln Way" in two.reply and "2718 Duff Ave" in two.reply
