"""What the inbox does with other modules' events (idempotent; never commits).

- ``action.items.created`` (published by the voice module after a call, and by construction
  when a contractor texts an update): each item is stored as an open action item on the
  event's project and contractor. Items are unique per (event, position), so a redelivered
  event stores nothing twice.
"""

from __future__ import annotations

from sqlmodel import Session

from domain.inbox import service
from store.events import Event, subscribe


@subscribe("action.items.created")
def store_action_items(session: Session, event: Event) -> None:
    """Put the event's action items in the team's inbox."""
    if event.org_id is None:
        return
    service.record_items(
        session=session,
        org_id=event.org_id,
        event_id=event.id,
        payload=dict(event.payload),
        created_at=event.created_at,
    )
