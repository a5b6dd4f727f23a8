"""What the vision module does when events arrive (idempotent by event id; never commits).

- ``property.photos.uploaded`` (payload ``property_id`` and ``document_ids``, or a single
  ``document_id``): analyse those photos.
- ``analysis.requested`` (payload ``property_id``, optionally ``document_ids``): analyse the
  named photos, or else every photo stored for the property that has not been analysed yet.

The photos are analysed inside the delivery (the worker preloads the model, and a nano
classifier reads a photo in milliseconds), so the analyses, their events and the delivery's
"succeeded" mark commit together. Analyses record the event id: a redelivered event finds
them and analyses nothing twice. A photo that cannot be read, or no model configured, ends
as a stored analysis saying so; only database errors make the delivery retry.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel import Session

from domain.vision import service
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _document_ids(payload: dict[str, Any]) -> list[uuid.UUID]:
    """The valid document ids an event names (``document_ids`` and/or ``document_id``)."""
    raw: list[Any] = []
    if isinstance(payload.get("document_ids"), list):
        raw.extend(payload["document_ids"])
    if payload.get("document_id"):
        raw.append(payload["document_id"])
    ids = []
    for value in raw:
        parsed = _uuid(value)
        if parsed is None:
            log.warning("event names an invalid document id %r", value)
        elif parsed not in ids:
            ids.append(parsed)
    return ids


def _analyse(session: Session, event: Event, document_ids: list[uuid.UUID]) -> None:
    """Analyse the photos for the event's property, unless the property is unknown."""
    assert event.org_id is not None
    property_id = _uuid(event.payload.get("property_id"))
    if property_id is None:
        log.warning("event %s names no valid property id; nothing to analyse", event.id)
        return
    if not document_ids:
        return
    try:
        analyses = service.analyse_for_event(
            session=session,
            org_id=event.org_id,
            event_id=event.id,
            property_id=property_id,
            document_ids=document_ids,
        )
    except service.VisionNotFoundError as exc:  # a retry would not make the property appear
        log.warning("event %s: %s; nothing analysed", event.id, exc)
        return
    log.info(
        "photos analysed for event",
        extra={"event_id": str(event.id), "analyses": [str(a.id) for a in analyses]},
    )


@subscribe("property.photos.uploaded")
def analyse_uploaded_photos(session: Session, event: Event) -> None:
    """Analyse newly uploaded photos of a property."""
    if event.org_id is None:
        return
    _analyse(session, event, _document_ids(event.payload))


@subscribe("analysis.requested")
def analyse_requested_property(session: Session, event: Event) -> None:
    """Analyse the photos an analysis request names, or the property's unanalysed photos."""
    if event.org_id is None:
        return
    document_ids = _document_ids(event.payload)
    property_id = _uuid(event.payload.get("property_id"))
    if not document_ids and property_id is not None:
        if service.analyses_for_event(session=session, org_id=event.org_id, event_id=event.id):
            return
        document_ids = service.unanalysed_photo_ids(
            session=session, org_id=event.org_id, property_id=property_id
        )
    _analyse(session, event, document_ids)
