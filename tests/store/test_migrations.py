"""Migrations build the whole schema from empty and tear it down again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect
from sqlmodel import Session

from store import migrate
from store.registry import SCHEMAS, load_models


def test_database_is_at_head_after_session_start(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.is_current(engine)


def test_every_model_table_exists_in_its_schema(engine: Engine) -> None:
    inspector = inspect(engine)
    metadata = load_models().metadata
    missing = [
        name
        for name, table in metadata.tables.items()
        if table.name not in inspector.get_table_names(schema=table.schema)
    ]
    assert missing == []
    assert {t.schema for t in metadata.tables.values()} <= set(SCHEMAS)


def test_models_and_migrations_agree(engine: Engine) -> None:
    """A model change without a migration fails here (``make migration`` writes one)."""
    from alembic import command

    command.check(migrate.alembic_config())


def test_0002_detaches_extra_projects_of_a_deal_instead_of_failing(engine: Engine) -> None:
    """Projects made before 0002 that share a deal: the oldest keeps it, none is deleted."""
    import uuid

    from sqlalchemy import text

    org_id, deal_id = uuid.uuid4(), uuid.uuid4()
    older, newer = uuid.uuid4(), uuid.uuid4()
    try:
        migrate.downgrade("0001")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO auth.organisations (id, name, slug) VALUES (:id, 'M', :slug)"),
                {"id": org_id, "slug": f"m-{org_id.hex[:8]}"},
            )
            for project_id, created in ((older, "2026-01-01"), (newer, "2026-02-01")):
                conn.execute(
                    text(
                        "INSERT INTO construction_service.projects (id, org_id, deal_id, name,"
                        " status, created_at, updated_at)"
                        " VALUES (:id, :org, :deal, 'P', 'planning', :at, :at)"
                    ),
                    {"id": project_id, "org": org_id, "deal": deal_id, "at": created},
                )
        migrate.upgrade("head")
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT id, deal_id FROM construction_service.projects WHERE org_id = :o"),
                {"o": org_id},
            ).all()
            rows: dict[uuid.UUID, uuid.UUID | None] = {row[0]: row[1] for row in found}
        assert rows == {older: deal_id, newer: None}
    finally:
        migrate.upgrade("head")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM auth.organisations WHERE id = :id"), {"id": org_id})


def test_154e4bcee994_moves_skip_reasons_out_of_alert_messages_and_back(
    engine: Engine, committed_db: Session
) -> None:
    """Old skipped alerts carried "Not sent: ..." in their message; the upgrade moves it."""
    from sqlalchemy import text

    from domain.auth.enums import Role
    from domain.market import alerts as alert_service
    from domain.market.models import AlertCriteriaIn
    from tests.factories import (
        listing_row,
        make_org,
        make_sold_market,
        make_user,
        principal_for,
        run_market_scan,
    )

    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    investor = make_user(db, org, role=Role.investor, phone_number=None)
    alert_service.configure_alerts(
        session=db,
        org_id=org.id,
        principal=principal_for(investor),
        criteria_in=AlertCriteriaIn(zip_codes=["48201"]),
    )
    run_market_scan(db, org, [listing_row(1500), listing_row(1502)])
    db.commit()
    select_alerts = text(
        "SELECT id, status, message, status_reason FROM market_monitor.alerts"
        " WHERE org_id = :o ORDER BY message"
    )
    with engine.begin() as conn:
        (skipped_id, *_), (kept_id, *_) = conn.execute(select_alerts, {"o": org.id}).all()
        conn.execute(
            text(
                "UPDATE market_monitor.alerts SET status = 'skipped', status_reason = :r"
                " WHERE id = :id"
            ),
            {"id": skipped_id, "r": "the listing is sold now, no longer on the market"},
        )
        originals: dict[Any, str] = dict(
            conn.execute(
                text("SELECT id, message FROM market_monitor.alerts WHERE org_id = :o"),
                {"o": org.id},
            ).all()
        )
    try:
        migrate.downgrade("4bf2e0b87533")
        with engine.connect() as conn:
            old: dict[Any, str] = dict(
                conn.execute(
                    text("SELECT id, message FROM market_monitor.alerts WHERE org_id = :o"),
                    {"o": org.id},
                ).all()
            )
        assert old[skipped_id] == (
            originals[skipped_id]
            + "\n\nNot sent: the listing is sold now, no longer on the market."
        )
        assert old[kept_id] == originals[kept_id]
        migrate.upgrade("head")
        with engine.connect() as conn:
            rows = {row[0]: row[1:] for row in conn.execute(select_alerts, {"o": org.id}).all()}
        assert rows[skipped_id] == (
            "skipped",
            originals[skipped_id],
            "the listing is sold now, no longer on the market",
        )
        # the old rows never said which applied: the upgrade gives the generic reason
        assert rows[kept_id] == (
            "no_phone",
            originals[kept_id],
            "the investor has no phone number or their account is inactive",
        )
    finally:
        migrate.upgrade("head")
