"""The evals' scratch world: one organisation with known data, and a rival organisation.

``build_world`` creates (and commits) the rows the cases talk about; ``delete_world``
removes both organisations afterwards (organisation-scoped rows go with them by CASCADE).

- 24 sales around (42.36, -82.98) in 2023-2024, 1,200-2,100 sqft, conditions 4-7, priced
  100 $/sqft x 1.05^(condition - 5): the comps and the ARV come from real valuations;
- the subject, 14500 Kercheval Ave, Detroit, MI 48215: 3 bedrooms, 1,500 sqft, condition 4,
  listed at $60,000;
- investor Ivy owns a flip on the subject ($30,000 rehab budget, $12,500 rehab labour
  booked this year); investor Olaf owns a rental on 2200 Other St ($1,200 rent received);
- an admin, an analyst and a contractor;
- 9000 Mack Ave, a listing with no deal, for the cases that create and move deals;
- a rival organisation with a $99,000 flip of its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete
from sqlmodel import Session

from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import Organisation, User, UserCreate
from domain.deal import service as deal_service
from domain.deal.enums import DealStrategy
from domain.deal.models import DealCreate
from domain.finance import service as finance_service
from domain.finance.models import BudgetCreate, TransactionCreate
from domain.property import service as property_service
from domain.property.models import Property, PropertyCreate

CENTRE = (42.36, -82.98)
SUBJECT_ADDRESS = "14500 Kercheval Ave, Detroit, MI 48215"
OTHER_ADDRESS = "2200 Other St"
# A listing no deal is on yet: the write cases (create a deal, offer, move it) work on it, so
# the cases that read the subject's deal see the same deal whatever order they run in.
WRITE_ADDRESS = "9000 Mack Ave, Detroit, MI 48214"
SETUPS = ("standard",)


@dataclass
class EvalWorld:
    """The rows the eval cases talk about."""

    org: Organisation
    users: dict[str, User]  # by role name: admin, analyst, investor, other_investor, contractor
    subject: Property
    ivy_deal_id: uuid.UUID
    olaf_deal_id: uuid.UUID
    other_org: Organisation
    other_org_deal_id: uuid.UUID

    def placeholders(self) -> dict[str, str]:
        """The values a case's text may name as ``{name}``."""
        return {
            "subject_address": SUBJECT_ADDRESS,
            "other_address": OTHER_ADDRESS,
            "write_address": WRITE_ADDRESS,
            "subject_id": str(self.subject.id),
            "ivy_deal_id": str(self.ivy_deal_id),
            "ivy_deal_ref": self.ivy_deal_id.hex[:8],
            "olaf_deal_id": str(self.olaf_deal_id),
            "other_org_deal_id": str(self.other_org_deal_id),
        }


def _user(session: Session, org: Organisation, role: Role, name: str, phone: str | None) -> User:
    tag = uuid.uuid4().hex[:10]
    user_in = UserCreate(
        email=f"eval-{role.value}-{tag}@example.com",
        role=role,
        full_name=name,
        phone_number=phone,
    )
    return auth_service.create_user(session=session, org_id=org.id, user_in=user_in)


def _phone() -> str:
    return f"+1313{uuid.uuid4().int % 10_000_000:07d}"


def _sale(session: Session, org: Organisation, i: int, source: str) -> None:
    sqft = 1200 + 100 * (i % 10)
    condition = 4 + i % 4
    property_service.create(
        session=session,
        org_id=org.id,
        property_in=PropertyCreate(
            latitude=CENTRE[0] + 0.0005 * (i % 7),
            longitude=CENTRE[1] + 0.002 * i,
            zip_code="48215",
            city="Detroit",
            state="MI",
            square_feet=sqft,
            bedrooms=3,
            bathrooms=Decimal("1.5"),
            year_built=1950,
            condition_rating=condition,
            close_price=Decimal(round(100 * sqft * 1.05 ** (condition - 5))),
            close_date=dt.date(2023 + i // 12, i % 12 + 1, 15),
            source=source,
            source_id=uuid.uuid4().hex,
        ),
    )


def _transaction(session: Session, org: Organisation, **fields: object) -> None:
    transaction_in = TransactionCreate.model_validate(
        {"date": dt.date(dt.date.today().year, 1, 15).isoformat(), **fields}
    )
    finance_service.record_transaction(
        session=session, org_id=org.id, transaction_in=transaction_in
    )


def build_market(
    session: Session, org: Organisation, *, source: str = "eval"
) -> tuple[Property, Property]:
    """24 sold comps around the subject (14500 Kercheval Ave) and a second property.

    The agent's tests build the same market (``tests/agent/world.py``), so the evals and the
    tests score the planner on one set of figures.
    """
    for i in range(24):
        _sale(session, org, i, source)
    subject = property_service.create(
        session=session,
        org_id=org.id,
        property_in=PropertyCreate(
            address_line="14500 Kercheval Ave",
            city="Detroit",
            state="MI",
            zip_code="48215",
            latitude=CENTRE[0] + 0.001,
            longitude=CENTRE[1] + 0.011,
            square_feet=1500,
            bedrooms=3,
            bathrooms=Decimal("1.5"),
            year_built=1950,
            condition_rating=4,
            list_price=Decimal("60000"),
        ),
    )
    other = property_service.create(
        session=session,
        org_id=org.id,
        property_in=PropertyCreate(
            address_line=OTHER_ADDRESS,
            city="Detroit",
            state="MI",
            zip_code="48215",
            latitude=CENTRE[0] + 0.002,
            longitude=CENTRE[1] + 0.02,
            square_feet=1300,
            bedrooms=2,
            condition_rating=5,
        ),
    )
    return subject, other


def build_world(session: Session, setup: str = "standard") -> EvalWorld:
    """Create and commit the scratch organisations for ``setup`` (only ``standard`` so far)."""
    if setup not in SETUPS:
        raise ValueError(f"unknown setup {setup!r}; expected one of {SETUPS}")
    tag = uuid.uuid4().hex[:8]
    org = auth_service.create_organisation(session=session, name=f"Eval Capital {tag}")
    users = {
        "admin": _user(session, org, Role.admin, "Ada Admin", None),
        "analyst": _user(session, org, Role.analyst, "Ann Analyst", None),
        "investor": _user(session, org, Role.investor, "Ivy", _phone()),
        "other_investor": _user(session, org, Role.investor, "Olaf", _phone()),
        "contractor": _user(session, org, Role.contractor, "Cody Contractor", None),
    }
    subject, other = build_market(session, org)
    property_service.create(
        session=session,
        org_id=org.id,
        property_in=PropertyCreate(
            address_line="9000 Mack Ave",
            city="Detroit",
            state="MI",
            zip_code="48214",
            latitude=CENTRE[0] + 0.003,
            longitude=CENTRE[1] + 0.015,
            square_feet=1400,
            bedrooms=3,
            bathrooms=Decimal("1"),
            year_built=1948,
            condition_rating=5,
            list_price=Decimal("72000"),
        ),
    )
    ivy_deal = deal_service.create_deal(
        session=session,
        org_id=org.id,
        deal_in=DealCreate(
            property_id=subject.id,
            owner_user_id=users["investor"].id,
            strategy=DealStrategy.flip,
            purchase_price=Decimal("58000"),
        ),
    )
    olaf_deal = deal_service.create_deal(
        session=session,
        org_id=org.id,
        deal_in=DealCreate(
            property_id=other.id,
            owner_user_id=users["other_investor"].id,
            strategy=DealStrategy.rental,
            purchase_price=Decimal("41000"),
        ),
    )
    finance_service.set_budget(
        session=session,
        org_id=org.id,
        budget_in=BudgetCreate(deal_id=ivy_deal.id, allocated_amount=Decimal("30000")),
    )
    _transaction(
        session,
        org,
        type="expense",
        category="rehab_labour",
        amount=Decimal("12500.00"),
        deal_id=ivy_deal.id,
    )
    _transaction(
        session,
        org,
        type="income",
        category="rents_received",
        amount=Decimal("1200.00"),
        deal_id=olaf_deal.id,
    )
    other_org = auth_service.create_organisation(session=session, name=f"Eval Rival {tag}")
    rival_property = property_service.create(
        session=session,
        org_id=other_org.id,
        property_in=PropertyCreate(
            address_line="900 Rival Rd", city="Detroit", state="MI", zip_code="48201", bedrooms=3
        ),
    )
    other_deal = deal_service.create_deal(
        session=session,
        org_id=other_org.id,
        deal_in=DealCreate(
            property_id=rival_property.id,
            strategy=DealStrategy.flip,
            purchase_price=Decimal("99000"),
        ),
    )
    session.commit()
    return EvalWorld(
        org=org,
        users=users,
        subject=subject,
        ivy_deal_id=ivy_deal.id,
        olaf_deal_id=olaf_deal.id,
        other_org=other_org,
        other_org_deal_id=other_deal.id,
    )


def delete_world(session: Session, world: EvalWorld) -> None:
    """Delete both scratch organisations (their rows go by CASCADE) and commit."""
    ids = [world.org.id, world.other_org.id]
    session.execute(delete(Organisation).where(Organisation.id.in_(ids)))  # type: ignore[attr-defined]
    session.commit()
