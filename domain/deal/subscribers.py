"""What the deal module does with other modules' events.

Every handler is idempotent by event id: a timeline entry keyed by ``(deal_id, event id)``
(unique in the database) records that the event was handled, so delivering it twice has one
effect. Handlers never commit (the delivery does).

- ``property.created`` is not subscribed (``store.events.DROPPED_FROM_SEED``). A new property
  is not a deal: imports create thousands of properties and a lead for each would bury the
  pipeline. Deals are opened on purpose (by a person or the agent, ``POST /deals``), so the
  handler would do nothing, and each delivery of it only queued behind the real ones.
  ``on_property_created`` stays, unregistered, so deliveries recorded before it was
  unsubscribed still resolve their handler path and complete.
- ``document.generated``: when the payload names a deal of the event's organisation
  (``deal_id``), the document is attached to it (``deal_documents``, once per document) and
  appears on its timeline.
- ``payment.completed``: when the payload names a deal, the payment appears on its timeline.
"""

from __future__ import annotations

from sqlmodel import Session

from domain.deal import service
from store.events import Event, subscribe


def on_property_created(session: Session, event: Event) -> None:
    """Record nothing (not subscribed; kept for deliveries recorded before it was dropped)."""
    del session, event


@subscribe("document.generated")
def on_document_generated(session: Session, event: Event) -> None:
    """Attach a generated document to the deal its payload names (once per event)."""
    deal = service.find_deal_for_event(session=session, org_id=event.org_id, payload=event.payload)
    if deal is None:
        return
    service.attach_generated_document(
        session=session,
        deal=deal,
        event_id=event.id,
        payload=event.payload,
        occurred_at=event.created_at,
    )


@subscribe("payment.completed")
def on_payment_completed(session: Session, event: Event) -> None:
    """Put a completed payment on the timeline of the deal its payload names (once per event)."""
    deal = service.find_deal_for_event(session=session, org_id=event.org_id, payload=event.payload)
    if deal is None:
        return
    service.record_foreign_event(
        session=session,
        deal=deal,
        event_id=event.id,
        name=event.name,
        payload=event.payload,
        occurred_at=event.created_at,
    )
