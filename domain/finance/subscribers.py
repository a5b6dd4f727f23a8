"""Finance's event subscribers: open a deal's budget, book construction expenses (voids, refunds).

Both are idempotent, as at-least-once delivery needs: ``deal.created`` finds the deal's rehab
budget line already open (one line per deal: its scope is unique), and
``construction.expense.added`` finds the transaction already booked by its source event id
(``transactions.source_event_id`` is unique, so even two deliveries racing book it once).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from domain.finance import service
from domain.finance.enums import TransactionType
from store.events import Event, subscribe


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
