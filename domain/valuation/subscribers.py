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
  area (``zip_code`` or ``neighborhood``, or each of the ``zip_codes`` and ``neighborhoods``
  the property module names after market data rows or a sales import), a fresh market
  analysis is published as ``market.insight.generated`` with its figures. Deliveries are
  recorded per (event, subscriber) and commit with the handler's work, so an insight is
  published once per event.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from core.money import money_str
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


# The most market insights one ``market.data.updated`` produces (one per area it names).
MAX_INSIGHT_AREAS = 200


def _texts(value: Any) -> list[str]:
    """The non-blank strings of a payload list (anything else ignored)."""
    if not isinstance(value, list):
        return []
    return [
        str(item).strip() for item in value if isinstance(item, str | int) and str(item).strip()
    ]


def _areas(payload: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    """The (zip, neighbourhood) areas an update names, each once, in order.

    ``zip_code`` and/or ``neighborhood`` is one area (both: the neighbourhood within the ZIP);
    ``zip_codes`` and ``neighborhoods`` (the property module's imports and market data) are
    one area each.
    """
    areas: list[tuple[str | None, str | None]] = []
    zip_code = payload.get("zip_code") or payload.get("zip")
    neighborhood = payload.get("neighborhood")
    if zip_code or neighborhood:
        areas.append(
            (str(zip_code) if zip_code else None, str(neighborhood) if neighborhood else None)
        )
    areas.extend((z, None) for z in _texts(payload.get("zip_codes")))
    areas.extend((None, n) for n in _texts(payload.get("neighborhoods")))
    return list(dict.fromkeys(areas))[:MAX_INSIGHT_AREAS]


@subscribe("market.data.updated")
def revalue_after_market_update(session: Session, event: Event) -> None:
    """Flag named properties for re-valuation; publish an insight for each area updated."""
    if event.org_id is None:
        return
    _flag(session, event, f"market data updated (event {event.id}): re-valuation due")
    areas = _areas(event.payload)
    if not areas:
        return
    if event.payload.get("origin") == "import":
        # A bulk import publishes no per-property events: bring the comp index (what the
        # analysis reads) up to date first, as the import's CLI does after it. Incremental:
        # only the rows missing or changed are written (none when the CLI got there first),
        # so it fits the events queue's job timeout after a large import too.
        service.reindex_comps(session=session, org_id=event.org_id)
    for zip_code, neighborhood in areas:
        _publish_insight(session, event, zip_code=zip_code, neighborhood=neighborhood)


def _money(value: Decimal | float | None) -> str | None:
    """An amount as a two-place decimal string ("63000.00"), None kept."""
    return None if value is None else money_str(value)


def _publish_insight(
    session: Session, event: Event, *, zip_code: str | None, neighborhood: str | None
) -> None:
    """Publish ``market.insight.generated`` for one area (nothing when it has no sales)."""
    assert event.org_id is not None
    analysis = service.market_analysis(
        session=session, org_id=event.org_id, zip_code=zip_code, neighborhood=neighborhood
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
            # Money as everywhere else: a decimal string with two places ("63000.00").
            "median_price": _money(analysis.median_price),
            "median_price_per_sqft": _money(analysis.median_price_per_sqft),
            "price_per_sqft_change_pct": analysis.price_per_sqft_change_pct,
        },
    )
