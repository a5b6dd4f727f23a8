"""What the construction module does with other modules' events (idempotent; never commits).

- ``deal.created`` and ``deal.status.changed``: a flip or BRRRR deal that is (or has just
  been put) under contract gets its rehab project, scoped from the deal's rehab estimate. Once
  per deal: a deal that has a project keeps it (the check runs under a per-deal lock, and a
  unique index backs it), so every later or repeated event changes nothing.
- ``contractor.responded`` (from the voice module: ``contractor_id``, ``project_id``, optional
  ``call_id``, ``total_amount``/``bid_amount``/``amount``, ``scope_item_id`` or ``line_items``,
  ``start_date``, ``duration_days``, ``summary``): a bid when it carries an amount and the call
  has none yet, otherwise a note on the project's activity.
- ``inspection.completed`` (``project_id``, ``name`` or ``kind``, ``passed``, optional
  ``notes`` and ``reinspection_date``): passed reaches the matching milestone, failed adds a
  re-inspection task.

The last two record the event on the project's activity (``source_event_id`` is unique), so a
redelivered event finds it and does nothing again.
"""

from __future__ import annotations

import logging
import uuid

from sqlmodel import Session

from domain.construction import service
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _deal_id(event: Event) -> uuid.UUID | None:
    raw = event.payload.get("deal_id") or event.payload.get("id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def _open_project(event: Event, session: Session, reached_under_contract: bool) -> None:
    """Give the event's deal its project if it qualifies; a deal that is gone is skipped."""
    deal_id = _deal_id(event)
    if event.org_id is None or deal_id is None:
        log.warning("%s %s names no deal; no project", event.name, event.id)
        return
    try:
        project = service.ensure_project_for_deal(
            session=session,
            org_id=event.org_id,
            deal_id=deal_id,
            reached_under_contract=reached_under_contract,
        )
    except service.NotFoundError as exc:  # a retry would not make the deal appear
        log.warning("%s %s: %s; no project", event.name, event.id, exc)
        return
    if project is not None:
        log.info(
            "deal has its project", extra={"deal_id": str(deal_id), "project": str(project.id)}
        )


@subscribe("deal.created")
def open_project_for_new_deal(session: Session, event: Event) -> None:
    """A flip or BRRRR deal created under contract gets its rehab project."""
    _open_project(event, session, event.payload.get("status") == "under_contract")


@subscribe("deal.status.changed")
def open_project_when_under_contract(session: Session, event: Event) -> None:
    """A flip or BRRRR deal put under contract gets its rehab project (once per deal)."""
    if event.payload.get("to") != "under_contract":
        return
    _open_project(event, session, True)


@subscribe("contractor.responded")
def record_contractor_response(session: Session, event: Event) -> None:
    """Record a contractor's response: a bid when it carries one, else a note."""
    if event.org_id is None:
        return
    service.record_contractor_response(
        session=session, org_id=event.org_id, event_id=event.id, payload=event.payload
    )


@subscribe("inspection.completed")
def record_inspection(session: Session, event: Event) -> None:
    """Reach the inspection's milestone when it passed; add a re-inspection task when not."""
    if event.org_id is None:
        return
    service.record_inspection(
        session=session, org_id=event.org_id, event_id=event.id, payload=event.payload
    )
