"""Helpers that build organisations, users, tokens and settings overrides for tests.

Rows are made through the real services (so they are validated and audit-logged like any
other), inside the test's session; nothing is committed beyond the test's transaction.

    from tests.factories import auth_headers, make_org, make_user

    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    response = client.get("/api/v1/deals", headers=auth_headers(db, analyst))
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from sqlmodel import Session

from core.config import Settings, get_settings
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import ApiToken, Organisation, User, UserCreate
from domain.auth.service import Principal

# A password factories can set and tests can sign in with (long enough for UserCreate).
DEFAULT_PASSWORD = "correct-horse-battery-staple"


def make_org(db: Session, name: str = "Acme Property Partners") -> Organisation:
    """Create an organisation (its slug is made unique, so the same name can repeat)."""
    return auth_service.create_organisation(session=db, name=name)


def make_user(
    db: Session,
    org: Organisation,
    role: Role = Role.admin,
    email: str | None = None,
    password: str | None = None,
    *,
    phone_number: str | None = None,
    full_name: str | None = None,
    is_active: bool = True,
) -> User:
    """Create a user in ``org``; a unique email is made up when none is given.

    No password unless one is given (hashing is deliberately slow); pass
    ``password=DEFAULT_PASSWORD`` to sign in through ``POST /api/v1/auth/token``.
    """
    user_in = UserCreate(
        email=email or f"{role.value}-{uuid.uuid4().hex[:12]}@example.com",
        password=password,
        role=role,
        phone_number=phone_number,
        full_name=full_name,
        is_active=is_active,
    )
    return auth_service.create_user(session=db, org_id=org.id, user_in=user_in)


def make_api_token(
    db: Session, user: User, name: str = "test token", expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create an API token for ``user``; return the row and its plaintext value."""
    return auth_service.create_api_token(
        session=db,
        org_id=user.org_id,
        user_id=user.id,
        name=name,
        expires_in_days=expires_in_days,
    )


def auth_headers(db: Session, user: User) -> dict[str, str]:
    """``Authorization`` headers with a fresh access token (JWT) for ``user``."""
    db.flush()  # the API resolves the user through the same session
    return {"Authorization": f"Bearer {auth_service.issue_access_token(user=user)}"}


def bearer(token: str) -> dict[str, str]:
    """``Authorization`` headers for a token you already have (an API token, say)."""
    return {"Authorization": f"Bearer {token}"}


def principal_for(user: User) -> Principal:
    """The principal ``user`` acts as, for calling services directly."""
    return Principal.from_user(user)


def override_settings(monkeypatch: pytest.MonkeyPatch, **values: Any) -> Settings:
    """Change settings for one test; restored when the test ends.

    Settings are cached (``get_settings``), so this sets attributes on the cached object,
    which every reader sees: ``override_settings(monkeypatch, rate_limit_per_minute=2)``.
    """
    settings = get_settings()
    for name, value in values.items():
        if name not in Settings.model_fields:
            raise AttributeError(f"Settings has no field {name!r}")
        monkeypatch.setattr(settings, name, value)
    return settings


def make_deal(
    db: Session,
    org: Organisation,
    *,
    owner: User | None = None,
    property_id: uuid.UUID | None = None,
    **fields: Any,
) -> Any:
    """Open a deal in ``org`` through the deal service (a property is made when none is given).

    ``owner`` becomes ``owner_user_id``; other keyword arguments are ``DealCreate`` fields
    (``strategy="flip"``, ``purchase_price=Decimal("90000")``, ``team={...}`` ...).
    """
    from domain.deal import service as deal_service
    from domain.deal.models import DealCreate
    from domain.property import service as property_service
    from domain.property.models import PropertyCreate

    if property_id is None:
        prop = property_service.create(
            session=db,
            org_id=org.id,
            property_in=PropertyCreate(
                address_line=f"{uuid.uuid4().int % 9000 + 100} Main St",
                city="Detroit",
                state="MI",
                zip_code="48201",
                bedrooms=3,
            ),
        )
        property_id = prop.id
    deal_in = DealCreate(
        property_id=property_id, owner_user_id=owner.id if owner else None, **fields
    )
    return deal_service.create_deal(session=db, org_id=org.id, deal_in=deal_in)


def make_account(db: Session, org: Organisation, name: str = "Operating", **fields: Any) -> Any:
    """Open a finance account in ``org`` (zero balance) through the finance service."""
    from domain.finance import service as finance_service
    from domain.finance.models import AccountCreate

    return finance_service.create_account(
        session=db, org_id=org.id, account_in=AccountCreate(name=name, **fields)
    )


def make_transaction(
    db: Session,
    org: Organisation,
    *,
    type: str = "expense",  # noqa: A002  (the transaction's field name)
    category: str | None = "repairs",
    amount: str = "100.00",
    date: str = "2024-01-15",
    **fields: Any,
) -> Any:
    """Book a transaction in ``org`` through the finance service (amounts as strings)."""
    from decimal import Decimal

    from domain.finance import service as finance_service
    from domain.finance.models import TransactionCreate

    transaction_in = TransactionCreate.model_validate(
        {"type": type, "category": category, "amount": Decimal(amount), "date": date, **fields}
    )
    return finance_service.record_transaction(
        session=db, org_id=org.id, transaction_in=transaction_in
    )


def make_property(db: Session, org: Organisation, **fields: Any) -> Any:
    """Create a property in ``org`` through the property service (address normalised).

    Keyword arguments are ``PropertyCreate`` fields; without an address or coordinates a
    unique Detroit street address is made up (``address_line="14500 Kercheval Ave"``,
    ``latitude=42.36``, ``bedrooms=3`` ...).
    """
    from domain.property import service as property_service
    from domain.property.models import PropertyCreate

    if not any(fields.get(key) for key in ("address_line", "address", "latitude")):
        fields["address_line"] = f"{uuid.uuid4().int % 90000 + 100} Main St"
        fields.setdefault("city", "Detroit")
        fields.setdefault("state", "MI")
        fields.setdefault("zip_code", "48201")
    return property_service.create(session=db, org_id=org.id, property_in=PropertyCreate(**fields))


# A made-up Detroit market for property analyses and reports (ANALYSIS_MARKET_CENTRE).
ANALYSIS_MARKET_CENTRE = (42.33, -83.05)


def make_sold_market(
    db: Session, org: Organisation, *, sales: int = 24, year: int = 2024
) -> list[uuid.UUID]:
    """Sold Detroit houses for comps: two a month through ``year``, ~0.1 mile apart.

    Sizes 1,200-2,100 sqft and condition ratings 4-7 in turn; each priced 60 $/sqft x
    1.05^(condition - 5), rounded to the dollar (so ARV comps, condition 7, exist).
    """
    import datetime as dt
    from decimal import Decimal

    from domain.property import service as property_service
    from domain.property.models import PropertyCreate

    ids = []
    for i in range(sales):
        sqft = 1200 + 100 * (i % 10)
        condition = 4 + i % 4
        prop = property_service.create(
            session=db,
            org_id=org.id,
            property_in=PropertyCreate(
                address_line=f"{100 + 2 * i} Comp St",
                city="Detroit",
                state="MI",
                zip_code="48201",
                latitude=ANALYSIS_MARKET_CENTRE[0] + 0.0005 * (i % 7),
                longitude=ANALYSIS_MARKET_CENTRE[1] + 0.002 * i,
                square_feet=sqft,
                bedrooms=3,
                bathrooms=Decimal("1.5"),
                year_built=1950,
                condition_rating=condition,
                close_price=Decimal(round(60 * sqft * 1.05 ** (condition - 5))),
                close_date=dt.date(year, i // 2 % 12 + 1, 15),
                source="test",
                source_id=uuid.uuid4().hex,
            ),
        )
        ids.append(prop.id)
    return ids


def make_subject_property(db: Session, org: Organisation, **fields: Any) -> Any:
    """An unsold 3-bed, 1,500 sqft Detroit house in poor condition (rating 3) at the market's
    centre, listed at $45,000; keyword arguments override ``PropertyCreate`` fields."""
    from decimal import Decimal

    from domain.property import service as property_service
    from domain.property.models import PropertyCreate

    values: dict[str, Any] = {
        "address_line": "1234 Subject Ave",
        "city": "Detroit",
        "state": "MI",
        "zip_code": "48201",
        "latitude": ANALYSIS_MARKET_CENTRE[0],
        "longitude": ANALYSIS_MARKET_CENTRE[1] + 0.01,
        "square_feet": 1500,
        "bedrooms": 3,
        "bathrooms": Decimal("1.5"),
        "year_built": 1950,
        "condition_rating": 3,
        "list_price": Decimal("45000"),
    }
    values.update(fields)
    return property_service.create(session=db, org_id=org.id, property_in=PropertyCreate(**values))


_CONTRACTOR_PHONES = itertools.count(uuid.uuid4().int % 10000)


def make_contractor(db: Session, org: Organisation, **overrides: Any) -> Any:
    """Add a contractor to ``org`` through the construction service.

    By default a roofer with a valid US phone (made unique), America/Chicago time zone and
    08:00-20:00 contact hours; keyword arguments override ``ContractorCreate`` fields.
    """
    import datetime as dt

    from domain.construction import service as construction_service
    from domain.construction.models import ContractorCreate

    values: dict[str, Any] = {
        "name": "Ray's Roofing",
        "company": "Ray's Roofing LLC",
        "trades": ["roofing"],
        # A counter, not a random number: two contractors of one organisation never clash.
        "phone": f"+1312555{next(_CONTRACTOR_PHONES) % 10000:04d}",
        "email": "ray@example.com",
        "service_area": "Chicago",
        "timezone": "America/Chicago",
        "preferred_contact_start": dt.time(8, 0),
        "preferred_contact_end": dt.time(20, 0),
    }
    values.update(overrides)
    return construction_service.create_contractor(
        session=db, org_id=org.id, contractor_in=ContractorCreate(**values)
    )


def make_project(
    db: Session,
    org: Organisation,
    *,
    scope: Any = (("roof", "22", "squares", "9500"), ("furnace", "1", "each", "4200")),
    **overrides: Any,
) -> Any:
    """Open a project in ``org`` through the construction service with a scope.

    ``scope`` is ``(component, quantity, unit, budgeted_cost)`` tuples (numbers as strings);
    by default a 22-square roof at $9,500 and a furnace at $4,200 (budget $13,700). Keyword
    arguments override ``ProjectCreate`` fields (``deal_id``, ``property_id``, ``name`` ...).
    """
    from decimal import Decimal

    from domain.construction import service as construction_service
    from domain.construction.models import ProjectCreate, ScopeItemCreate

    values: dict[str, Any] = {"name": "Rehab: 123 Main St"}
    values.update(overrides)
    lines = [
        ScopeItemCreate(
            component=component,
            quantity=Decimal(quantity) if quantity is not None else None,
            unit=unit,
            budgeted_cost=Decimal(cost) if cost is not None else None,
        )
        for component, quantity, unit, cost in scope
    ]
    return construction_service.create_project(
        session=db, org_id=org.id, project_in=ProjectCreate(**values), scope=lines
    )


def listing_row(number: int = 1500, **overrides: Any) -> dict[str, Any]:
    """A RESO listing row for a made-up Detroit house near ``make_sold_market``'s sales.

    By default ``{number} Subject Ave, Detroit, MI 48201``, 3 bedrooms, 1,500 sqft, listed at
    $45,000 (the sold market values such a house at about $60/sqft), 60 days on the market.
    Keyword arguments override or add RESO fields (``ListPrice=None`` drops the price).
    """
    row: dict[str, Any] = {
        "ListingKey": f"L-{number}",
        "UnparsedAddress": f"{number} Subject Ave",
        "City": "Detroit",
        "StateOrProvince": "MI",
        "PostalCode": "48201",
        "ListPrice": 45000,
        "LivingArea": 1500,
        "BedroomsTotal": 3,
        "BathroomsTotalInteger": 1,
        "YearBuilt": 1950,
        "Latitude": ANALYSIS_MARKET_CENTRE[0],
        "Longitude": ANALYSIS_MARKET_CENTRE[1] + 0.01,
        "DaysOnMarket": 60,
        "StandardStatus": "Active",
    }
    row.update(overrides)
    return {key: value for key, value in row.items() if value is not None}


def listing_feed(rows: list[dict[str, Any]]) -> Any:
    """A market-monitor feed (JSON in RESO names) holding ``rows``."""
    import json

    from domain.market.sources import FileFeed

    return FileFeed(data=json.dumps(rows).encode(), label="test feed")


def run_market_scan(db: Session, org: Organisation, rows: list[dict[str, Any]], **kw: Any) -> Any:
    """Scan ``rows`` into ``org`` now (``market_service.execute_scan``); return the scan.

    Keyword arguments go to ``execute_scan`` (``batch_size``, ``progress``); ``source`` picks
    the listing source (default mls).
    """
    from domain.market import service as market_service
    from domain.market.enums import ListingSource, ScanTrigger

    source = ListingSource(kw.pop("source", "mls"))
    feed = listing_feed(rows)
    feed.source = source
    scan = market_service.create_file_scan(
        session=db, org_id=org.id, label="test feed", source=source, trigger=ScanTrigger.cli
    )
    return market_service.execute_scan(session=db, org_id=org.id, scan_id=scan.id, feed=feed, **kw)
