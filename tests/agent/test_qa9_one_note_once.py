"""A reason the as-is value and the ARV both miss is said once in the analysis reply.

Was: a house with no location got "Note: the subject needs a location: latitude and longitude,
…" twice (once for the as-is value, once for the ARV), and an organisation without sales got
"Note: only 0 prior sales in the market …" twice.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_property, make_user


def test_the_same_note_is_not_repeated(committed_db: Session) -> None:
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor)
    make_property(
        committed_db,
        org,
        address_line="14520 Greenview Ave",
        city="Detroit",
        state="MI",
        zip_code="48223",
        list_price=42000,
        bedrooms=3,
    )
    committed_db.commit()
    reply = checked_turn(
        investor, "14520 Greenview Ave", f"web:{uuid.uuid4().hex[:12]}", channel="web"
    ).reply
    notes = [line for line in reply.splitlines() if line.startswith("Note: ")]
    assert notes, reply  # the values cannot be worked out, and the reply says why
    assert len(notes) == len(set(notes)), reply
