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

- ``transaction.created`` (from finance: ``transaction_id``, ``project_id``): money booked
  in the ledger on a project that the project's own expenses do not already hold (a vendor
  refund, a bill paid straight from finance) is mirrored as a project expense, so the
  project's spent and the ledger's spending on the project agree: an expense or payment adds
  its amount, a refund adds it negated (a credit). A ledger transaction that finance booked
  from the project's own ``construction.expense.added`` is already there and is skipped, and
  the mirror publishes nothing, so nothing is booked twice. The figures come from the ledger
  row (looked up by id in the event's organisation), never from the payload.

- ``bid.awarded`` (from ``award_bid``: ``bid_id``, ``project_id``, ``rejected_bid_ids``):
  WhatsApp messages to the winner ("accepted, start <date>") and to the contractors whose
  bids it rejected ("not selected this time"), keyed by event and bid (``award_notices``);
  opted-out contractors and those without a phone are skipped.

The ``contractor.responded``, ``inspection.completed`` and ``transaction.created`` handlers
record the event on the project's activity (``source_event_id`` is unique), so
a redelivered event finds it and does nothing again.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from sqlmodel import Session, select

from domain.construction import service
from domain.construction.enums import ActivityKind, ExpenseCategory
from domain.construction.models import ProjectExpense
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


# The activity kind a ledger transaction mirrored onto a project is recorded as.
FINANCE_TRANSACTION_ACTIVITY = ActivityKind.finance_transaction

# Finance's category -> the project expense category it came from (else ``other``).
_EXPENSE_CATEGORY = {category.finance_category: category for category in ExpenseCategory}


def mirror_finance_transaction(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID, transaction_id: uuid.UUID
) -> ProjectExpense | None:
    """Mirror a ledger transaction on a project as a project expense (a credit for a refund).

    Once per event (the activity entry's ``source_event_id`` is unique). Nothing is done for
    a transaction that is not this organisation's, carries no project, is not spending or a
    refund, or was booked from one of the project's own expenses; nothing is published.
    """
    from domain.finance import service as finance_service  # late: keeps the modules apart
    from domain.finance.enums import SPENDING_TYPES, TransactionType

    if service.activity_for_event(session=session, org_id=org_id, event_id=event_id):
        return None
    transaction = finance_service.get_transaction(
        session=session, org_id=org_id, transaction_id=transaction_id
    )
    if transaction is None or transaction.project_id is None:
        return None
    kind = TransactionType(transaction.type)
    if kind not in SPENDING_TYPES and kind is not TransactionType.refund:
        return None
    if (
        transaction.source_event_id is not None
        and session.exec(
            select(ProjectExpense.id).where(
                ProjectExpense.org_id == org_id,
                ProjectExpense.event_id == transaction.source_event_id,
            )
        ).first()
    ):
        return None  # finance booked it from the project's own expense
    try:
        project = service.get_project(
            session=session, org_id=org_id, project_id=transaction.project_id
        )
    except service.NotFoundError:
        return None
    amount = Decimal(transaction.amount)
    signed = -amount if kind is TransactionType.refund else amount
    what = "Refund" if kind is TransactionType.refund else kind.value.capitalize()
    summary = f"{what} of {amount} booked in finance ({transaction.category or 'no category'})"
    # Flushed at once: the unique source_event_id settles two deliveries racing.
    service._record_activity(
        session=session,
        org_id=org_id,
        project_id=project.id,
        kind=FINANCE_TRANSACTION_ACTIVITY,
        summary=summary,
        details={"transaction_id": transaction.id, "type": kind, "amount": signed},
        source_event_id=event_id,
    )
    expense = ProjectExpense(
        org_id=org_id,
        project_id=project.id,
        amount=signed,
        category=_EXPENSE_CATEGORY.get(str(transaction.category), ExpenseCategory.other),
        spent_on=transaction.date,
        description=f"{summary}: {transaction.description}"[:2000]
        if transaction.description
        else summary,
        vendor=(transaction.counterparty or None),
    )
    session.add(expense)
    session.flush()
    return expense


@subscribe("transaction.created")
def mirror_finance_transaction_on_project(session: Session, event: Event) -> None:
    """A ledger transaction on a project reaches the project's spent (refunds as credits)."""
    if event.org_id is None or not event.payload.get("project_id"):
        return
    raw = event.payload.get("transaction_id")
    try:
        transaction_id = uuid.UUID(str(raw)) if isinstance(raw, str | uuid.UUID) else None
    except ValueError:
        transaction_id = None
    if transaction_id is None:
        log.warning("%s %s names no transaction; nothing mirrored", event.name, event.id)
        return
    mirror_finance_transaction(
        session=session, org_id=event.org_id, event_id=event.id, transaction_id=transaction_id
    )


@subscribe("bid.awarded")
def tell_contractors_about_award(session: Session, event: Event) -> None:
    """The winner hears their bid was accepted; the others on the same work, not selected."""
    if event.org_id is None:
        return
    from domain.construction import award_notices  # late: it imports the WhatsApp module

    award_notices.notify_award(
        session=session, org_id=event.org_id, event_id=event.id, payload=event.payload
    )
