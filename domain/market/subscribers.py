"""What the market monitor does with other modules' events (idempotent; never commits).

- ``monitor.configured`` (published when an investor's alert criteria are saved): the best
  open opportunities that already match the new criteria are alerted to the investor (at most
  ``alerts.ALERTS_ON_CONFIGURE``). Alerts are unique per (criteria, opportunity), so a
  redelivered event alerts nobody twice; queueing a WhatsApp message is a database write.
- ``analysis.completed``: when the analysed property is a tracked listing (same source and
  listing id, or the same normalised address), its score is recomputed with the analysis's
  figures (as-is value, ARV, rehab, rent) in place of the estimates, and its opportunity
  follows. The listing records the event id, so a redelivery changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel import Session

from domain.market import alerts as alert_service
from domain.market import service
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@subscribe("monitor.configured")
def on_monitor_configured(session: Session, event: Event) -> None:
    """Alert the investor about existing opportunities that match their new criteria."""
    criteria_id = _uuid(event.payload.get("criteria_id"))
    if event.org_id is None or criteria_id is None:
        log.info("monitor.configured %s names no criteria; nothing to do", event.id)
        return
    alerts = alert_service.alert_existing_opportunities(
        session=session, org_id=event.org_id, criteria_id=criteria_id, event_id=event.id
    )
    if alerts:
        log.info("alerts for existing opportunities", extra={"count": len(alerts)})


@subscribe("analysis.completed")
def on_analysis_completed(session: Session, event: Event) -> None:
    """Re-score a tracked listing with the figures of its property's analysis."""
    property_id = _uuid(event.payload.get("property_id"))
    if event.org_id is None or property_id is None:
        return
    service.apply_analysis(
        session=session,
        org_id=event.org_id,
        property_id=property_id,
        payload=dict(event.payload),
        event_id=event.id,
    )
