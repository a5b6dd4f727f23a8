"""Finance's event subscribers: budgets, construction expenses (voids, refunds), project budgets.

They open a deal's budget, book construction expenses, and keep the deal's rehab line on its
project's budget. All are idempotent, as at-least-once delivery needs: ``deal.created`` finds
the deal's rehab budget line already open (one line per deal: its scope is unique), and
``construction.expense.added`` finds the transaction already booked by its source event id
(``transactions.source_event_id`` is unique, so even two deliveries racing book it once).
``project.created``, ``bid.awarded`` and ``project.budget.changed`` set the deal's rehab line
to the project's budget as it is now (``service.follow_project_budget``), so a repeated or late
event sets the same figure; a line a person set by hand is left as set.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from domain.finance import service
from domain.finance.enums import TransactionType
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _event_org(event: Event) -> uuid.UUID:
    """The organisation an event belongs to; finance books nothing for system events."""
    if event.org_id is None:
        raise ValueError(f"{event.name} {event.id} has no organisation")
    return event.org_id


@subscribe("deal.created")
def open_deal_budget(session: Session, event: Event) -> None:
    """Open the new deal's rehab budget: one line, allocated its estimated repairs.

    The rehab line (a budget with no category) counts every rehab category (materials,
    labour, repairs, supplies, cleaning and maintenance). Estimated repairs come from the
    payload, or from the deal itself when the payload lacks them; none means zero, until the
    team sets the allocation with ``POST /budgets``.
    """
    org_id = _event_org(event)
    payload = event.payload
    key = "deal_id" if payload.get("deal_id") else "id"
    deal_id = service.event_uuid(payload, key, event.id)
    if deal_id is None:
        raise ValueError(f"deal.created {event.id} carries no deal_id")
    # Always: the payload's deal must be this organisation's before a budget names it.
    deal = service.require_deal(session=session, org_id=org_id, deal_id=deal_id)
    estimated: Any = payload.get("estimated_repairs")
    if "estimated_repairs" not in payload:
        estimated = getattr(deal, "estimated_repairs", None)
    service.open_deal_budget(
        session=session,
        org_id=org_id,
        deal_id=deal_id,
        estimated_repairs=_estimated_repairs(estimated, event),
        source=f"deal.created:{event.id}",
    )


def _estimated_repairs(value: Any, event: Event) -> Decimal | None:
    """The estimated repairs as a Decimal (None when absent); FinanceValidationError if not one."""
    if value is None:
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except ArithmeticError:
            pass
    raise service.FinanceValidationError(
        f"{event.name} {event.id} has estimated_repairs {str(value)[:40]!r}, not a number"
    )


@subscribe("construction.expense.added")
def book_construction_expense(session: Session, event: Event) -> None:
    """Book the construction expense as a ledger transaction, once per event."""
    service.book_construction_expense(
        session=session, org_id=_event_org(event), event_id=event.id, payload=event.payload
    )


@subscribe("construction.expense.voided")
def book_construction_expense_void(session: Session, event: Event) -> None:
    """Book a voided project expense as a refund in its category, once per event."""
    service.book_construction_expense_void(
        session=session, org_id=_event_org(event), event_id=event.id, payload=event.payload
    )


@subscribe("construction.expense.refunded")
def book_construction_expense_refund(session: Session, event: Event) -> None:
    """Book a vendor's or contractor's refund on a project as a refund in its category.

    Once per event: the payload is ``construction.expense.added``'s (``amount`` positive: the
    money back; ``expense_id`` the project's credit row), booked through the same path as an
    expense, as a ``refund`` transaction, so the deal's budgets and the P&L net it; the
    transaction's ``source_event_id`` is the event, so a second delivery finds it and
    construction's mirror of finance transactions skips it.
    """
    service.book_construction_expense(
        session=session,
        org_id=_event_org(event),
        event_id=event.id,
        payload={"description": "Construction refund", **event.payload},
        event_name="construction.expense.refunded",
        transaction_type=TransactionType.refund,
    )


def _follow_project(session: Session, event: Event) -> None:
    """The deal's rehab line follows the event's project's budget (read now, not the payload)."""
    org_id = _event_org(event)
    project_id = service.event_uuid(event.payload, "project_id", event.id)
    if project_id is None:
        raise service.FinanceValidationError(f"{event.name} {event.id} carries no project_id")
    try:
        service.follow_project_budget(
            session=session,
            org_id=org_id,
            project_id=project_id,
            cause={"event": event.name, "event_id": event.id},
        )
    except service.NotFoundError:
        # Not this organisation's project (or gone): a retry would not make it appear.
        log.warning(
            "%s %s: project %s not found; no budget followed", event.name, event.id, project_id
        )


@subscribe("project.created")
def follow_new_project_budget(session: Session, event: Event) -> None:
    """A deal's new project with a budget: the deal's rehab line takes it (unless set by hand)."""
    _follow_project(session, event)


@subscribe("bid.awarded")
def follow_awarded_project_budget(session: Session, event: Event) -> None:
    """An award changed the project's budget: the deal's rehab line follows it."""
    _follow_project(session, event)


@subscribe("project.budget.changed")
def follow_changed_project_budget(session: Session, event: Event) -> None:
    """A PATCH changed the project's budget (or revived it): the deal's rehab line follows."""
    _follow_project(session, event)
