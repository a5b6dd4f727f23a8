"""A small committed world for agent tests: a Detroit market, a subject, investors and deals.

The agent opens its own sessions (``run_turn`` commits), so its tests need committed rows:
``build_world`` creates them and ``tests.conftest.truncate_all`` removes them afterwards.

- 24 sales around (42.36, -82.98) in 2023-2024, 1,200-2,100 sqft, conditions 4-7, priced
  100 $/sqft x 1.05^(condition - 5) (so the comps and the ARV come from real valuations);
- the subject, 14500 Kercheval Ave, Detroit, MI 48215: 3 bedrooms, 1,500 sqft, condition 4,
  listed at $60,000;
- investors Ivy (owns a deal on the subject, with a $30,000 rehab budget and $12,500 spent)
  and Olaf (owns a deal on 2200 Other St), an analyst, an admin;
- a second organisation with a deal of its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.finance import service as finance_service
from domain.finance.models import BudgetCreate
from domain.property.models import Property
from evals.world import SUBJECT_ADDRESS as SUBJECT_ADDRESS  # re-exported for the agent tests
from evals.world import build_market
from tests.factories import make_deal, make_org, make_transaction, make_user

# Ledger entries fall in this year, which the P&L and cash flow cover by default.
THIS_YEAR = dt.date(local_today().year, 1, 15).isoformat()


@dataclass
class World:
    """The rows the agent tests talk about."""

    org: Organisation
    admin: User
    analyst: User
    ivy: User
    olaf: User
    contractor: User
    subject: Property
    other_property: Property
    ivy_deal_id: uuid.UUID
    olaf_deal_id: uuid.UUID
    other_org: Organisation
    other_org_deal_id: uuid.UUID


def build_world(db: Session) -> World:
    """Create (and commit) the world."""
    org = make_org(db, "Kercheval Capital")
    admin = make_user(db, org, Role.admin, full_name="Ada Admin")
    analyst = make_user(db, org, Role.analyst, full_name="Ann Analyst")
    ivy = make_user(db, org, Role.investor, phone_number="+13135550100", full_name="Ivy")
    olaf = make_user(db, org, Role.investor, phone_number="+13135550111", full_name="Olaf")
    contractor = make_user(db, org, Role.contractor, full_name="Cody Contractor")
    subject, other = build_market(db, org, source="test")
    ivy_deal = make_deal(
        db,
        org,
        owner=ivy,
        property_id=subject.id,
        strategy="flip",
        purchase_price=Decimal("58000"),
    )
    olaf_deal = make_deal(
        db,
        org,
        owner=olaf,
        property_id=other.id,
        strategy="rental",
        purchase_price=Decimal("41000"),
    )
    finance_service.set_budget(
        session=db,
        org_id=org.id,
        budget_in=BudgetCreate(deal_id=ivy_deal.id, allocated_amount=Decimal("30000")),
    )
    make_transaction(
        db, org, amount="12500.00", category="rehab_labour", deal_id=ivy_deal.id, date=THIS_YEAR
    )
    make_transaction(
        db,
        org,
        type="income",
        category="rents_received",
        amount="1200.00",
        deal_id=olaf_deal.id,
        date=THIS_YEAR,
    )
    other_org = make_org(db, "Rival Holdings")
    other_org_deal = make_deal(db, other_org, strategy="flip", purchase_price=Decimal("99000"))
    db.commit()
    return World(
        org=org,
        admin=admin,
        analyst=analyst,
        ivy=ivy,
        olaf=olaf,
        contractor=contractor,
        subject=subject,
        other_property=other,
        ivy_deal_id=ivy_deal.id,
        olaf_deal_id=olaf_deal.id,
        other_org=other_org,
        other_org_deal_id=other_org_deal.id,
    )
