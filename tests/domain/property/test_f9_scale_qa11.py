"""QA 11 (F9): properties at scale (36,000 in one organisation).

- The list's default order and the event log's order are served by an index (no sort of
  every row), and the migration creates those indexes.
- Re-importing unchanged rows runs no conflict-check query per row.
- A text search counts only when the page it returns is full (the last page knows its total).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine as EngineClass
from sqlmodel import Session

from domain.auth.models import Organisation
from domain.eventlog import service as eventlog_service
from domain.property import service
from domain.property.errors import PropertyConflictError
from domain.property.importer import import_records
from domain.property.models import PropertySearch
from store.outbox import publish
from tests.factories import make_org, make_property


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement (and its parameters) run inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn: object, cursor: object, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(EngineClass, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(EngineClass, "before_cursor_execute", record)


def _plan(db: Session, statement: str, parameters: Any) -> str:
    """PostgreSQL's plan for a captured statement, with sorting made as dear as it gets."""
    db.execute(text("SET LOCAL enable_sort = off"))
    try:
        rows = db.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    finally:
        db.execute(text("RESET enable_sort"))
    return "\n".join(str(row[0]) for row in rows)


def _select_from(seen: list[tuple[str, Any]], table: str) -> tuple[str, Any]:
    """The page query (the one with an ORDER BY) read from ``table``."""
    return next(
        (s, p)
        for s, p in seen
        if s.startswith("SELECT") and f"FROM {table}" in s and "ORDER BY" in s
    )


def test_migration_creates_the_list_order_indexes(db: Session) -> None:
    rows = db.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('ix_properties_org_created_id', 'ix_outbox_org_created_id')"
        )
    ).all()
    found = {name: definition for name, definition in rows}
    assert "(org_id, created_at DESC NULLS LAST, id)" in found["ix_properties_org_created_id"]
    assert "(org_id, created_at, id)" in found["ix_outbox_org_created_id"]


def test_the_property_list_reads_its_default_order_from_an_index(db: Session) -> None:
    org = make_org(db)
    for _ in range(3):
        make_property(db, org)
    with statements() as seen:
        page = service.list_properties(session=db, org_id=org.id, limit=2, offset=1)
    assert page.total == 3 and len(page.items) == 2
    statement, parameters = _select_from(seen, "property_service.properties ")
    plan = _plan(db, statement, parameters)
    assert "ix_properties_org_created_id" in plan
    assert "Sort" not in plan


def test_a_default_search_reads_the_same_index(db: Session) -> None:
    org = make_org(db)
    for _ in range(3):
        make_property(db, org)
    with statements() as seen:
        service.search(session=db, org_id=org.id, query=PropertySearch(limit=2))
    statement, parameters = _select_from(seen, "property_service.properties ")
    plan = _plan(db, statement, parameters)
    assert "ix_properties_org_created_id" in plan
    assert "Sort" not in plan


def test_the_event_log_reads_its_order_from_an_index(db: Session) -> None:
    org = make_org(db)
    for i in range(3):
        publish(db, org_id=org.id, name="property.updated", payload={"n": i})
    db.flush()
    with statements() as seen:
        events = eventlog_service.list_events(session=db, org_id=org.id, limit=2)
    assert len(events) == 2
    statement, parameters = _select_from(seen, "events.outbox ")
    plan = _plan(db, statement, parameters)
    assert "ix_outbox_org_created_id" in plan
    assert "Sort" not in plan


def _sales_csv(rows: int) -> tuple[list[str], list[dict[str, str]]]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["ListingKey", "ListingId", "UnparsedAddress", "City", "StateOrProvince", "PostalCode"]
        + ["ClosePrice", "CloseDate", "LivingArea"]
    )
    for i in range(rows):
        writer.writerow(
            [f"K{i}", f"M{i}", f"{100 + i} Mack Ave", "Detroit", "MI", "48214"]
            + [str(50_000 + i), "2025-03-01", "1200"]
        )
    reader = csv.DictReader(io.StringIO(out.getvalue()))
    return list(reader.fieldnames or []), list(reader)


def _conflict_checks(seen: list[tuple[str, Any]]) -> list[str]:
    """The "another property with this MLS number / source id" lookups (``id != self``)."""
    return [s for s, _ in seen if "FROM property_service.properties" in s and "id !=" in s]


def test_reimporting_unchanged_rows_runs_no_conflict_check_per_row(db: Session) -> None:
    org = make_org(db)
    columns, rows = _sales_csv(6)
    first = import_records(
        session=db, org_id=org.id, rows=rows, kind="sales", source="mls", columns=columns
    )
    assert first.inserted == 6
    with statements() as seen:
        again = import_records(
            session=db, org_id=org.id, rows=rows, kind="sales", source="mls", columns=columns
        )
    assert again.unchanged == 6
    assert _conflict_checks(seen) == []
    # One batched lookup of the source ids, not one query per row.
    lookups = [s for s, _ in seen if s.startswith("SELECT") and "properties" in s]
    assert len(lookups) == 1


def test_a_changed_mls_number_is_still_checked(db: Session) -> None:
    org = make_org(db)
    taken = make_property(db, org, mls_number="MLS-1")
    other = make_property(db, org, mls_number="MLS-2", source="mls", source_id="S-2")
    with pytest.raises(PropertyConflictError, match="MLS-1"):
        service.apply_changes(
            session=db, org_id=org.id, prop=other, changes={"mls_number": "MLS-1"}
        )
    # The same values again: nothing to check, nothing changes.
    with statements() as seen:
        changed = service.apply_changes(
            session=db,
            org_id=org.id,
            prop=other,
            changes={"mls_number": "MLS-2", "source": "mls", "source_id": "S-2"},
        )
    assert changed == {}
    assert _conflict_checks(seen) == []
    assert taken.mls_number == "MLS-1"


def _homes(db: Session, org: Organisation) -> dict[str, uuid.UUID]:
    specs: dict[str, dict[str, Any]] = {
        "pool": {"address_line": "10 Oak St", "features": {"pool": True}},
        "no_pool": {"address_line": "12 Oak St", "features": {"pool": False}},
        "note": {"address_line": "14 Elm St", "features": {"note": "Pool house out back"}},
        "quote": {"address_line": "16 Elm St", "features": {'say "hi"': True}},
        "plain": {"address_line": "18 Elm St", "features": {}},
    }
    return {
        name: make_property(db, org, city="Detroit", state="MI", zip_code="48214", **spec).id
        for name, spec in specs.items()
    }


def test_text_search_still_matches_features_and_addresses(db: Session) -> None:
    org = make_org(db)
    homes = _homes(db, org)
    names = {value: key for key, value in homes.items()}

    def found(words: str) -> set[str]:
        result = service.search(session=db, org_id=org.id, query=PropertySearch(text=words))
        assert result.total == len(result.hits)
        return {names[hit.property.id] for hit in result.hits}

    assert found("pool") == {"pool", "note"}  # {"pool": false} is a house without one
    assert found("oak") == {"pool", "no_pool"}
    assert found('"hi"') == {"quote"}  # a quote in JSON text is escaped: no shortcut
    assert found("elm house") == {"note"}


def test_a_search_counts_only_when_its_page_is_full(db: Session) -> None:
    org = make_org(db)
    _homes(db, org)
    with statements() as seen:
        last = service.search(session=db, org_id=org.id, query=PropertySearch(text="st"))
    assert (last.total, len(last.hits)) == (5, 5)
    assert not [s for s, _ in seen if "count(" in s]

    with statements() as seen:
        full = service.search(session=db, org_id=org.id, query=PropertySearch(text="st", limit=2))
    assert (full.total, len(full.hits)) == (5, 2)
    assert [s for s, _ in seen if "count(" in s]
    tail = service.search(
        session=db, org_id=org.id, query=PropertySearch(text="st", limit=2, offset=4)
    )
    assert (tail.total, len(tail.hits)) == (5, 1)
    beyond = service.search(
        session=db, org_id=org.id, query=PropertySearch(text="st", limit=2, offset=9)
    )
    assert (beyond.total, beyond.hits) == (5, [])
