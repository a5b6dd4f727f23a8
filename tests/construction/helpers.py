"""Shared helpers for the construction tests: the events a test's transaction published."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, col, select

from store.events import Event
from store.outbox import OutboxEvent


def published(db: Session, name: str, org_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Payloads of the events named ``name`` in the outbox, oldest first."""
    db.flush()
    statement = select(OutboxEvent).where(OutboxEvent.name == name)
    if org_id is not None:
        statement = statement.where(OutboxEvent.org_id == org_id)
    return [e.payload for e in db.exec(statement.order_by(col(OutboxEvent.created_at)))]


def event(org_id: uuid.UUID, event_name: str, /, **payload: Any) -> Event:
    """An event as a subscriber receives it (a fresh id each time)."""
    return Event(id=uuid.uuid4(), org_id=org_id, name=event_name, payload=payload)
