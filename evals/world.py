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
- a rehab project on Ivy's deal (roof $9,500 + furnace $4,200 = $13,700 budget) with two bids:
  Ray's Roofing, roof only at $8,000, and Hank's Heating, roof $9,000 + furnace $3,800
  ($12,800, complete); and a team project on 9000 Mack Ave (no deal) with one bid to award;
- a listing feed scanned by the market monitor: 7100 Harper Ave (48215), listed at $70,000;
  Ivy's deal alerts (ZIP 48215, up to $100,000) were set before the scan, so she has one
  alert about it, queued on WhatsApp; Olaf has none;
- a rival organisation with a $99,000 flip of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete
from sqlmodel import Session

from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import Organisation, User, UserCreate
from domain.construction import service as construction_service
from domain.construction.models import (
    Bid,
    BidCreate,
    Contractor,
    ContractorCreate,
    Project,
    ProjectCreate,
    ScopeItemCreate,
)
from domain.deal import service as deal_service
from domain.deal.enums import DealStrategy
from domain.deal.models import DealCreate
from domain.finance import service as finance_service
from domain.finance.models import BudgetCreate, TransactionCreate
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.enums import ListingSource, ScanTrigger
from domain.market.models import AlertCriteriaIn
from domain.market.sources import FileFeed
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
    project_id: uuid.UUID
    complete_bid_id: uuid.UUID
    team_project_id: uuid.UUID
    team_bid_id: uuid.UUID

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
            "olaf_deal_ref": self.olaf_deal_id.hex[:8],
            "other_org_deal_id": str(self.other_org_deal_id),
            "other_org_deal_ref": self.other_org_deal_id.hex[:8],
            "project_id": str(self.project_id),
            "project_ref": self.project_id.hex[:8],
            "complete_bid_ref": self.complete_bid_id.hex[:8],
            "team_project_ref": self.team_project_id.hex[:8],
            "team_bid_ref": self.team_bid_id.hex[:8],
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
    ray_phone = f"+1313555{uuid.uuid4().int % 10_000:04d}"
    users = {
        "admin": _user(session, org, Role.admin, "Ada Admin", None),
        "analyst": _user(session, org, Role.analyst, "Ann Analyst", None),
        "investor": _user(session, org, Role.investor, "Ivy", _phone()),
        "other_investor": _user(session, org, Role.investor, "Olaf", _phone()),
        # Cody's account has Ray's Roofing's number: he is that contractor (see my_bids).
        "contractor": _user(session, org, Role.contractor, "Cody Contractor", ray_phone),
    }
    subject, other = build_market(session, org)
    write_property = property_service.create(
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
    project, complete_bid = _project_with_bids(session, org, ivy_deal.id, subject.id, ray_phone)
    team_project, team_bid = _team_project(session, org, write_property.id)
    alert_service.configure_alerts(
        session=session,
        org_id=org.id,
        principal=auth_service.Principal.from_user(users["investor"]),
        criteria_in=AlertCriteriaIn(
            zip_codes=["48215"], max_price=Decimal("100000"), timezone="America/Detroit"
        ),
    )
    _scan_listings(session, org)
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
        project_id=project.id,
        complete_bid_id=complete_bid.id,
        team_project_id=team_project.id,
        team_bid_id=team_bid.id,
    )


def _contractor(
    session: Session, org: Organisation, name: str, trade: str, phone: str | None = None
) -> Contractor:
    return construction_service.create_contractor(
        session=session,
        org_id=org.id,
        contractor_in=ContractorCreate(
            name=name, trades=[trade], phone=phone or f"+1313555{uuid.uuid4().int % 10_000:04d}"
        ),
    )


def _scope(*lines: tuple[str, str, str, str]) -> list[ScopeItemCreate]:
    return [
        ScopeItemCreate(component=c, quantity=Decimal(q), unit=u, budgeted_cost=Decimal(cost))
        for c, q, u, cost in lines
    ]


def _bid(
    session: Session, org: Organisation, project: Project, contractor: Contractor, **amounts: str
) -> Bid:
    items = {
        s.component: s.id
        for s in construction_service.list_scope_items(
            session=session, org_id=org.id, project_id=project.id
        )
    }
    return construction_service.create_bid(
        session=session,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": contractor.id,
                "line_items": [
                    {"scope_item_id": str(items[name]), "amount": amount}
                    for name, amount in amounts.items()
                ],
            }
        ),
    )


def _project_with_bids(
    session: Session,
    org: Organisation,
    deal_id: uuid.UUID,
    property_id: uuid.UUID,
    ray_phone: str,
) -> tuple[Project, Bid]:
    """Ivy's rehab: roof + furnace, a partial bid from a roofer and a complete one."""
    project = construction_service.create_project(
        session=session,
        org_id=org.id,
        project_in=ProjectCreate(
            deal_id=deal_id, property_id=property_id, name="Rehab: 14500 Kercheval Ave"
        ),
        scope=_scope(("roof", "22", "squares", "9500"), ("furnace", "1", "each", "4200")),
    )
    ray = _contractor(session, org, "Ray's Roofing", "roofing", ray_phone)
    hank = _contractor(session, org, "Hank's Heating", "hvac")
    _bid(session, org, project, ray, roof="8000")
    complete = _bid(session, org, project, hank, roof="9000", furnace="3800")
    return project, complete


def _team_project(
    session: Session, org: Organisation, property_id: uuid.UUID
) -> tuple[Project, Bid]:
    """A project on no deal (the team's), with one bid: the award case awards it."""
    project = construction_service.create_project(
        session=session,
        org_id=org.id,
        project_in=ProjectCreate(property_id=property_id, name="Make-ready: 9000 Mack Ave"),
        scope=_scope(("interior paint", "1400", "sqft", "4200")),
    )
    painter = _contractor(session, org, "Pat's Painting", "painting")
    return project, _bid(session, org, project, painter, **{"interior paint": "3900"})


def delete_world(session: Session, world: EvalWorld) -> None:
    """Delete both scratch organisations (their rows go by CASCADE) and commit."""
    ids = [world.org.id, world.other_org.id]
    session.execute(delete(Organisation).where(Organisation.id.in_(ids)))  # type: ignore[attr-defined]
    session.commit()


def _scan_listings(session: Session, org: Organisation) -> None:
    """One listing near the comps, scanned (and scored) by the market monitor."""
    rows = [
        {
            "ListingKey": "EVAL-7100",
            "UnparsedAddress": "7100 Harper Ave",
            "City": "Detroit",
            "StateOrProvince": "MI",
            "PostalCode": "48215",
            "ListPrice": 70000,
            "LivingArea": 1400,
            "BedroomsTotal": 3,
            "BathroomsTotalInteger": 1,
            "YearBuilt": 1950,
            "Latitude": CENTRE[0] + 0.001,
            "Longitude": CENTRE[1] + 0.009,
            "DaysOnMarket": 75,
            "StandardStatus": "Active",
        }
    ]
    feed = FileFeed(data=json.dumps(rows).encode(), label="eval feed", source=ListingSource.mls)
    scan = market_service.create_file_scan(
        session=session,
        org_id=org.id,
        label="eval feed",
        source=ListingSource.mls,
        trigger=ScanTrigger.cli,
    )
    market_service.execute_scan(session=session, org_id=org.id, scan_id=scan.id, feed=feed)
