"""What the property module does when other modules' events arrive.

- ``valuation.completed``: the valuation's summary (its scalar figures: value, range,
  confidence, method, ids) is stored on the property as a ``valuation`` market data row, so
  the property's latest valuation is one read away (``service.latest_valuation``).
- ``market.data.updated``: the update is recorded as a market data row on each property the
  payload names (``property_id`` or ``property_ids``); an update about no property in
  particular (a whole ZIP) is the valuation module's business and is left to it.

Both are idempotent per event: the row carries the event id and a second delivery finds it.
Handlers never commit (the delivery's transaction does).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel import Session

from domain.property import service
from domain.property.enums import MarketDataType
from domain.property.models import MarketData, Property
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _scalars(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload's plain values (numbers, strings, booleans); lists and objects left out."""
    return {
        key: value
        for key, value in payload.items()
        if value is None or isinstance(value, str | int | float | bool)
    }


def _property_ids(payload: dict[str, Any]) -> list[uuid.UUID]:
    """The property ids an event names (``property_id`` and/or ``property_ids``), valid ones."""
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


def _property(session: Session, event: Event, property_id: uuid.UUID) -> Property | None:
    """The property the event is about, in the event's organisation.

    An event of no organisation (a system event) cannot speak for any organisation's
    property: trusting its ids would let it write into whichever organisation owns them.
    """
    if event.org_id is None:
        log.warning(
            "%s %s has no organisation; property %s left alone", event.name, event.id, property_id
        )
        return None
    return service.get(session=session, org_id=event.org_id, property_id=property_id)


def _record(
    session: Session,
    event: Event,
    prop: Property,
    data_type: MarketDataType,
    value: dict[str, Any],
    source: str,
) -> None:
    """Add a market data row for ``event`` unless an earlier delivery already did."""
    if service.market_data_for_event(
        session=session, org_id=prop.org_id, property_id=prop.id, event_id=event.id
    ):
        return
    session.add(
        MarketData(
            org_id=prop.org_id,
            property_id=prop.id,
            data_type=data_type,
            value={**value, "event_id": str(event.id), "event": event.name},
            source=source,
            recorded_at=event.created_at,
        )
    )
    session.flush()


@subscribe("valuation.completed")
def store_valuation_summary(session: Session, event: Event) -> None:
    """Keep the valuation's summary on the property as a ``valuation`` market data row."""
    for property_id in _property_ids(event.payload):
        prop = _property(session, event, property_id)
        if prop is None:
            log.info("valuation.completed for unknown or deleted property %s", property_id)
            continue
        _record(
            session, event, prop, MarketDataType.valuation, _scalars(event.payload), "valuation"
        )


@subscribe("market.data.updated")
def record_market_update(session: Session, event: Event) -> None:
    """Record a market data update on each property it names."""
    payload = event.payload
    try:
        data_type = MarketDataType(str(payload.get("data_type")))
    except ValueError:
        data_type = MarketDataType.neighbourhood
    source = str(payload.get("source") or "market")[:100]
    for property_id in _property_ids(payload):
        prop = _property(session, event, property_id)
        if prop is None:
            log.info("market.data.updated for unknown or deleted property %s", property_id)
            continue
        value = {k: v for k, v in payload.items() if k not in {"property_id", "property_ids"}}
        _record(session, event, prop, data_type, value, source)
