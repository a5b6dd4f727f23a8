"""The business modules' tables: where they live, how they are scoped, what they store."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.auth.models import Organisation
from domain.market.enums import ListingSource
from domain.market.models import TrackedListing
from domain.property.models import Property
from domain.whatsapp.enums import MessageDirection
from domain.whatsapp.models import Conversation, Message
from store import migrate
from store.reference_data import seed_reference_data, seed_section8_fmr
from store.registry import REFERENCE_TABLES, SCHEMAS

# Every table the seed document (and the construction/voice design) calls for, by schema.
EXPECTED_TABLES: dict[str, set[str]] = {
    "property_service": {"properties", "property_images", "market_data", "section8_fmr"},
    "deal_service": {"deals", "offers", "deal_documents"},
    "financial_service": {"accounts", "transactions", "budgets"},
    "cv_service": {"property_analyses", "component_conditions"},
    "whatsapp_service": {"conversations", "messages"},
    "market_monitor": {"tracked_listings", "opportunities"},
    "audio_service": {"walkthroughs", "extracted_conditions"},
    "pricing_service": {"component_costs", "cost_history"},
    "construction_service": {
        "projects",
        "scope_items",
        "contractors",
        "bids",
        "tasks",
        "photos",
        "milestones",
    },
    "voice_service": {"calls", "call_transcripts", "call_schedules"},
}

# Shared by every organisation (HUD publishes one set of figures), so org_id may be NULL.
SHARED_REFERENCE_TABLES = {("property_service", "section8_fmr")}

DETROIT_AREA = "Detroit-Warren-Livonia, MI HUD Metro FMR Area"
# The seed document's "current Detroit FMR values": (bedrooms, fmr_amount, payment_standard).
SEED_DOCUMENT_FMR_2024 = [
    (0, Decimal("715.00"), Decimal("715.00")),
    (1, Decimal("858.00"), Decimal("858.00")),
    (2, Decimal("1024.00"), Decimal("1024.00")),
    (3, Decimal("1329.00"), Decimal("1329.00")),
    (4, Decimal("1628.00"), Decimal("1628.00")),
]


def _business_tables() -> list[tuple[str, str]]:
    return sorted(
        (schema, table)
        for schema, tables in EXPECTED_TABLES.items()
        for table in tables
        if (schema, table) not in SHARED_REFERENCE_TABLES
    )


def _detroit_fmr_rows(conn: Connection) -> list[tuple[int, Decimal, Decimal]]:
    rows = conn.execute(
        text(
            "SELECT bedrooms, fmr_amount, payment_standard FROM property_service.section8_fmr"
            " WHERE org_id IS NULL AND area = :area AND year = 2024 ORDER BY bedrooms"
        ),
        {"area": DETROIT_AREA},
    ).all()
    return [(r.bedrooms, r.fmr_amount, r.payment_standard) for r in rows]


def _org(db: Session, slug: str) -> Organisation:
    org = Organisation(name=slug.title(), slug=slug)
    db.add(org)
    db.commit()
    return org


def test_every_table_exists_in_its_schema(engine: Engine) -> None:
    inspector = inspect(engine)
    missing = {
        schema: sorted(tables - set(inspector.get_table_names(schema=schema)))
        for schema, tables in EXPECTED_TABLES.items()
    }
    assert {schema: tables for schema, tables in missing.items() if tables} == {}
    assert set(EXPECTED_TABLES) <= set(SCHEMAS)


@pytest.mark.parametrize(("schema", "table"), _business_tables())
def test_business_table_is_scoped_to_an_organisation(
    engine: Engine, schema: str, table: str
) -> None:
    inspector = inspect(engine)
    columns = {c["name"]: c for c in inspector.get_columns(table, schema=schema)}
    assert "org_id" in columns, f"{schema}.{table} has no org_id"
    assert columns["org_id"]["nullable"] is False
    org_fks = [
        fk
        for fk in inspector.get_foreign_keys(table, schema=schema)
        if fk["constrained_columns"] == ["org_id"]
    ]
    assert [(fk["referred_schema"], fk["referred_table"]) for fk in org_fks] == [
        ("auth", "organisations")
    ]
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table, schema=schema)}
    assert any(cols[0] == "org_id" for cols in indexed), f"{schema}.{table}: org_id not indexed"


def test_fmr_reference_table_is_shared_and_kept_by_test_truncation(engine: Engine) -> None:
    columns = {
        c["name"]: c for c in inspect(engine).get_columns("section8_fmr", schema="property_service")
    }
    assert columns["org_id"]["nullable"] is True
    assert "area" in columns
    assert "property_service.section8_fmr" in REFERENCE_TABLES


def test_detroit_2024_fmr_rows_match_the_seed_document(connection: Connection) -> None:
    assert _detroit_fmr_rows(connection) == SEED_DOCUMENT_FMR_2024


def test_seeding_reference_data_again_inserts_nothing(connection: Connection) -> None:
    assert seed_section8_fmr(connection) == 0
    seed_reference_data(connection)
    assert _detroit_fmr_rows(connection) == SEED_DOCUMENT_FMR_2024


def test_truncating_organisations_does_not_wipe_the_fmr_table(connection: Connection) -> None:
    # What the committed_db fixture does after a test, inside a transaction rolled back here.
    rows = connection.execute(
        text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:schemas)"),
        {"schemas": SCHEMAS},
    ).all()
    names = ", ".join(f'"{s}"."{t}"' for s, t in rows if f"{s}.{t}" not in REFERENCE_TABLES)
    connection.execute(text(f"TRUNCATE {names} CASCADE"))
    assert _detroit_fmr_rows(connection) == SEED_DOCUMENT_FMR_2024


def test_full_downgrade_and_upgrade_rebuilds_schema_and_reference_data(engine: Engine) -> None:
    try:
        migrate.downgrade("base")
        assert migrate.current_revision(engine) is None
        remaining = set(inspect(engine).get_schema_names()) & set(EXPECTED_TABLES)
        assert remaining == set()
    finally:
        migrate.upgrade("head")
    assert migrate.is_current(engine)
    inspector = inspect(engine)
    for schema, tables in EXPECTED_TABLES.items():
        assert tables <= set(inspector.get_table_names(schema=schema)), schema
    with engine.connect() as conn:
        assert _detroit_fmr_rows(conn) == SEED_DOCUMENT_FMR_2024


def test_property_money_reads_back_as_exact_decimals(db: Session) -> None:
    org = _org(db, "acme")
    prop = Property(
        org_id=org.id,
        address={"street": "1234 Elm St", "city": "Detroit", "state": "MI", "zip": "48201"},
        address_line="1234 Elm St",
        city="Detroit",
        state="MI",
        zip_code="48201",
        list_price=Decimal("1234567890.12"),
        target_rent=Decimal("1329.10"),
        bathrooms=Decimal("1.5"),
        lot_size=Decimal("0.13"),
        latitude=42.3314,
        longitude=-83.0458,
        features={"basement": True},
    )
    db.add(prop)
    db.commit()
    prop_id = prop.id
    db.expunge_all()

    stored = db.get(Property, prop_id)
    assert stored is not None
    assert isinstance(stored.list_price, Decimal)
    assert stored.list_price == Decimal("1234567890.12")
    assert stored.target_rent == Decimal("1329.10")
    assert stored.bathrooms == Decimal("1.5")
    assert stored.lot_size == Decimal("0.13")
    assert (stored.latitude, stored.longitude) == (42.3314, -83.0458)
    assert stored.address["zip"] == "48201"
    assert stored.section8_approved is False
    assert stored.created_at.tzinfo is not None
    as_text = (
        db.connection()
        .execute(
            text("SELECT list_price::text FROM property_service.properties WHERE id = :id"),
            {"id": prop_id},
        )
        .scalar_one()
    )
    assert as_text == "1234567890.12"


def test_mls_number_is_unique_per_organisation_not_globally(db: Session) -> None:
    first, second = _org(db, "first"), _org(db, "second")
    for org in (first, second):
        db.add(Property(org_id=org.id, address={"street": "1 Main"}, mls_number="MLS-42"))
    db.commit()  # the same listing in two organisations is fine

    db.add(Property(org_id=first.id, address={"street": "1 Main"}, mls_number="MLS-42"))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_tracked_listing_is_one_row_per_source_listing(db: Session) -> None:
    org = _org(db, "watcher")
    db.add(TrackedListing(org_id=org.id, source=ListingSource.zillow, external_id="z-1"))
    db.add(TrackedListing(org_id=org.id, source=ListingSource.redfin, external_id="z-1"))
    db.commit()

    db.add(TrackedListing(org_id=org.id, source=ListingSource.zillow, external_id="z-1"))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_a_repeated_twilio_message_sid_is_refused(db: Session) -> None:
    org = _org(db, "investors")
    conversation = Conversation(org_id=org.id, phone_number="+13135550100")
    db.add(conversation)
    db.commit()
    sid = "SM" + uuid.uuid4().hex
    db.add(
        Message(
            org_id=org.id,
            conversation_id=conversation.id,
            direction=MessageDirection.inbound,
            content="1234 Elm St, Detroit",
            message_sid=sid,
            media=[{"url": "https://api.twilio.com/x", "content_type": "image/jpeg"}],
        )
    )
    db.commit()

    db.add(
        Message(
            org_id=org.id,
            conversation_id=conversation.id,
            direction=MessageDirection.inbound,
            content="1234 Elm St, Detroit",
            message_sid=sid,
        )
    )
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()
