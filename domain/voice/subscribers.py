"""What the voice module does with other modules' events (idempotent by event id).

- ``contractor.call.requested`` (published by the agent's ``request_bids`` tool, or anyone
  wanting a contractor called): payload ``contractor_id`` or ``trade`` (with ``count``), and
  ``project_id``, ``purpose``, ``requested_by``. Calls are *scheduled* for each matching
  contractor (at most ``count``, never one who opted out), due now or at the start of their
  calling hours; the dispatcher job places them. The schedules carry the event id, so a second
  delivery finds them and adds nothing. A request that cannot be served (no such contractor
  or project, no trade) is recorded as handled with nothing scheduled: retrying cannot help.
- ``lead.qualification.needed``: a seller lead to call (``phone``, ``name``, ``address``,
  ``lead_id``, ``timezone``, ``consent_to_call``, ``consent_source``). With prior express
  consent (``consent_to_call: true`` and a ``consent_source``) and a usable number not on the
  do-not-call list, a ``lead_qualification`` call is *scheduled* (due now or at 09:00 on the
  lead's next calling day, Mon-Sat 09:00-20:00 local) and the dispatcher places it. Without
  consent it is recorded ``for_team`` and an action item asks the team to call, saying why the
  agent did not; without a number (or on the do-not-call list) it is recorded cancelled.

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
    """Schedule the lead-qualification call (with consent), or leave it to the team (why)."""
    if event.org_id is None:
        return
    service.plan_lead_call(
        session=session, org_id=event.org_id, payload=dict(event.payload), source_event_id=event.id
    )
