"""Committed rows for the team chat tests: two organisations, their people and a deal's ledger.

The agent opens its own sessions, and the browser test talks to a server in another process,
so everything here is committed (``committed_db`` truncates it afterwards).

The deal's ledger, all dated today (inside the P&L's default period, 1 January to today):
rent received 3 x $1,450.00 = $4,350 income; repairs $3,275.00 + insurance $620.00 =
$3,895 expenses; net $455.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from tests.factories import DEFAULT_PASSWORD, make_deal, make_org, make_transaction, make_user

PNL_INCOME = "$4,350"
PNL_EXPENSES = "$3,895"
PNL_NET = "$455"


@dataclass
class ChatWorld:
    """The people and the deal the chat tests talk about."""

    org: Organisation
    admin: User
    analyst: User
    investor: User
    contractor: User
    deal_id: uuid.UUID
    other_org: Organisation
    other_admin: User


def build_chat_world(db: Session, *, password_for_analyst: bool = False) -> ChatWorld:
    """Create and commit the world (the analyst gets ``DEFAULT_PASSWORD`` when asked)."""
    org = make_org(db, "Chat Test Partners")
    admin = make_user(db, org, role=Role.admin)
    analyst = make_user(
        db,
        org,
        role=Role.analyst,
        email=f"analyst-{uuid.uuid4().hex[:8]}@example.com",
        password=DEFAULT_PASSWORD if password_for_analyst else None,
    )
    investor = make_user(db, org, role=Role.investor)
    contractor = make_user(db, org, role=Role.contractor)
    deal = make_deal(db, org, owner=admin, strategy="rental")
    today = local_today().isoformat()
    for _ in range(3):
        make_transaction(
            db,
            org,
            type="income",
            category="rents_received",
            amount="1450.00",
            date=today,
            deal_id=deal.id,
        )
    make_transaction(db, org, category="repairs", amount="3275.00", date=today, deal_id=deal.id)
    make_transaction(db, org, category="insurance", amount="620.00", date=today, deal_id=deal.id)
    other_org = make_org(db, "Other Org Holdings")
    other_admin = make_user(db, other_org, role=Role.admin)
    db.commit()
    return ChatWorld(
        org=org,
        admin=admin,
        analyst=analyst,
        investor=investor,
        contractor=contractor,
        deal_id=deal.id,
        other_org=other_org,
        other_admin=other_admin,
    )
