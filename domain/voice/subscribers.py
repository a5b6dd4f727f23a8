"""What the voice module does with other modules' events (idempotent by event id).

- ``contractor.call.requested`` (published by the agent's ``request_bids`` tool, or anyone
  wanting a contractor called): payload ``contractor_id`` or ``trade`` (with ``count``), and
  ``project_id``, ``purpose``, ``requested_by``. Calls are *scheduled* for each matching
  contractor (at most ``count``, never one who opted out), due now or at the start of their
  calling hours; the dispatcher job places them. The schedules carry the event id, so a second
  delivery finds them and adds nothing. A request that cannot be served (no such contractor
  or project, no trade) is recorded as handled with nothing scheduled: retrying cannot help.
- ``lead.qualification.needed``: a seller lead to call. With a phone number a
  ``lead_qualification`` call is recorded as scheduled for the team (the agent's script covers
  contractors only); without one it is recorded as cancelled, saying a phone is needed.

Handlers never commit and never call Twilio: the delivery's transaction commits their rows.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from domain.voice import service
from store.events import Event, subscribe

log = logging.getLogger(__name__)


@subscribe("contractor.call.requested")
def on_contractor_call_requested(session: Session, event: Event) -> None:
    """Schedule calls to the contractor named, or to up to ``count`` contractors of a trade."""
    if event.org_id is None:
        return
    try:
        plan = service.plan_bid_calls(
            session=session,
            org_id=event.org_id,
            payload=dict(event.payload),
            source_event_id=event.id,
        )
    except (service.CallNotFound, service.VoiceInputError, service.OptedOut) as exc:
        log.warning(
            "a contractor call request could not be served",
            extra={"event_id": str(event.id), "reason": str(exc)},
        )
        return
    log.info(
        "contractor calls scheduled",
        extra={
            "event_id": str(event.id),
            "scheduled": len(plan.schedules),
            "skipped": len(plan.skipped),
        },
    )


@subscribe("lead.qualification.needed")
def on_lead_qualification_needed(session: Session, event: Event) -> None:
    """Record the lead-qualification call (scheduled, or cancelled for want of a phone)."""
    if event.org_id is None:
        return
    service.plan_lead_call(
        session=session, org_id=event.org_id, payload=dict(event.payload), source_event_id=event.id
    )
