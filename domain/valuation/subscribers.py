"""What the valuation module does when events arrive (idempotent; handlers never commit).

- ``property.created``: index the new property for comp search (an upsert: a second
  delivery writes the same row).
- ``property.updated`` / ``property.deleted``: keep the comp index in step (re-index or drop
  the row). These two go beyond the seed's catalogue for this module: the index is a read
  model of the properties, and a sale price corrected or a property deleted must not linger
  as a comp.
- ``walkthrough.completed``: the property's condition is news, so its index row is refreshed
  and its stored valuations are flagged ``stale_reason`` ("re-valuation due"); re-flagging
  changes nothing.
- ``market.data.updated``: for the properties it names, the same (refresh and flag); for an
  area (``zip_code`` or ``neighborhood``), a fresh market analysis is published as
  ``market.insight.generated`` with its figures. Deliveries are recorded per (event,
  subscriber) and commit with the handler's work, so an insight is published once per event.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel import Session

from domain.valuation import service
from store.events import Event, subscribe
from store.outbox import publish

log = logging.getLogger(__name__)


def _property_ids(payload: dict[str, Any]) -> list[uuid.UUID]:
    """The valid property ids an event names (``property_id`` and/or ``property_ids``)."""
    raw: list[Any] = []
    if payload.get("property_id"):
        raw.append(payload["property_id"])
    if isinstance(payload.get("property_ids"), list):
        raw.extend(payload["property_ids"])
    ids: list[uuid.UUID] = []
    for value in raw:
        try:
            parsed = uuid.UUID(str(value))
        except ValueError:
            log.warning("event names an invalid property id %r", value)
            continue
        if parsed not in ids:
            ids.append(parsed)
    return ids


@subscribe("property.created")
def index_new_property(session: Session, event: Event) -> None:
    """Index a new property's facts and feature vector for comp search."""
    if event.org_id is None:
        return
    for property_id in _property_ids(event.payload):
        service.index_property(session=session, org_id=event.org_id, property_id=property_id)


@subscribe("property.updated")
def reindex_updated_property(session: Session, event: Event) -> None:
    """Refresh a changed property's index row."""
    if event.org_id is None:
        return
    for property_id in _property_ids(event.payload):
        service.index_property(session=session, org_id=event.org_id, property_id=property_id)


@subscribe("property.deleted")
def drop_deleted_property(session: Session, event: Event) -> None:
    """Remove a deleted property from the comp index."""
    if event.org_id is None:
        return
    for property_id in _property_ids(event.payload):
        service.remove_from_index(session=session, org_id=event.org_id, property_id=property_id)


def _flag(session: Session, event: Event, reason: str) -> None:
    assert event.org_id is not None
    for property_id in _property_ids(event.payload):
        service.index_property(session=session, org_id=event.org_id, property_id=property_id)
        service.mark_revaluation_due(
            session=session, org_id=event.org_id, property_id=property_id, reason=reason
        )


@subscribe("walkthrough.completed")
def revalue_after_walkthrough(session: Session, event: Event) -> None:
    """Refresh the property's facts and flag its valuations as due for re-valuation."""
    if event.org_id is None:
        return
    when = event.created_at.date().isoformat() if event.created_at else "recently"
    _flag(session, event, f"walkthrough completed {when} (event {event.id}): re-valuation due")


@subscribe("market.data.updated")
def revalue_after_market_update(session: Session, event: Event) -> None:
    """Flag named properties for re-valuation; publish an insight for an area update."""
    if event.org_id is None:
        return
    _flag(session, event, f"market data updated (event {event.id}): re-valuation due")
    zip_code = event.payload.get("zip_code") or event.payload.get("zip")
    neighborhood = event.payload.get("neighborhood")
    if not zip_code and not neighborhood:
        return
    analysis = service.market_analysis(
        session=session,
        org_id=event.org_id,
        zip_code=str(zip_code) if zip_code else None,
        neighborhood=str(neighborhood) if neighborhood else None,
    )
    if analysis.sales == 0:
        return
    publish(
        session,
        org_id=event.org_id,
        name="market.insight.generated",
        payload={
            "source_event_id": event.id,
            "zip_code": analysis.zip_code,
            "neighborhood": analysis.neighborhood,
            "period_start": analysis.period_start,
            "period_end": analysis.period_end,
            "sales": analysis.sales,
            "median_price": analysis.median_price,
            "median_price_per_sqft": analysis.median_price_per_sqft,
            "price_per_sqft_change_pct": analysis.price_per_sqft_change_pct,
        },
    )
