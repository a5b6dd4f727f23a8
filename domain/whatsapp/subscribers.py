"""What the WhatsApp module does when events arrive (idempotent; never commits).

- ``report.ready`` (payload ``document_id``, and ``request_id`` when a request asked for it):
  note the PDF on the report request and queue its signed link to the conversation that
  asked. Each link is queued once (keyed by conversation and request), so a redelivered event
  changes nothing; the sweeper sends the queued reply (handlers make no external calls).
- ``analysis.completed`` (payload with a ``report_id``/``document_id`` of a stored report):
  the same, for analyses that finish with a report.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel import Session

from core.config import get_settings
from domain.whatsapp import service
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _send_links(session: Session, event: Event) -> None:
    """Queue the ready report's link to every conversation that asked for it."""
    document_id = _uuid(event.payload.get("document_id") or event.payload.get("report_id"))
    if event.org_id is None or document_id is None:
        log.info("event %s names no report document; nothing to send", event.id)
        return
    queued = service.report_ready(
        session=session,
        org_id=event.org_id,
        document_id=document_id,
        request_id=_uuid(event.payload.get("request_id")),
        property_id=_uuid(event.payload.get("property_id")),
        template_sid=get_settings().twilio_template_content_sid,
    )
    if queued:
        log.info("report links queued", extra={"count": len(queued), "event_id": str(event.id)})


@subscribe("report.ready")
def on_report_ready(session: Session, event: Event) -> None:
    """Send a rendered report's link to the conversation that asked for it."""
    _send_links(session, event)


@subscribe("analysis.completed")
def on_analysis_completed(session: Session, event: Event) -> None:
    """An analysis finished with a report: send its link to the conversation that asked."""
    _send_links(session, event)
