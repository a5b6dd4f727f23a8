"""The ledger: accounts, transactions, expenses, budgets, closed periods and reconciliation.

Invariants this module keeps:

- An account's ``balance`` equals the signed sum of its transactions (``TransactionType``
  gives the sign; a transfer counts against its source and for its ``to_account_id``). Every
  insert locks the account rows it touches (``SELECT ... FOR UPDATE``, in id order so two
  inserts never deadlock) and moves the balance in the same database transaction, so the two
  commit or roll back together. ``reconcile_account`` recomputes the sum and reports drift.
- A budget's ``spent_amount`` equals the spending it covers (expenses and payments, less
  refunds, on its deal, in its category, in its period); its ``exceeded`` flag records whether
  spent is over the allocation. The flag turning on publishes ``budget.exceeded``, so the event
  goes out once per crossing: going back under (a refund, a raised allocation) and over again
  is a new crossing. Budget rows are locked like accounts while they change.
- Nothing is dated inside a closed month; every check runs before anything is written, so a
  refused request writes nothing.

The service never commits: the API (or the event delivery) commits the caller's transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import ColumnElement, String, and_, case, cast, func, not_, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.clock import local_day, local_today
from core.metrics import business_counter
from core.paging import count_rows
from domain.auth.enums import Role
from domain.auth.service import Principal, record_audit
from domain.finance.enums import (
    REHAB_CATEGORIES,
    SPENDING_TYPES,
    CategoryKind,
    TransactionCategory,
    TransactionType,
    parse_category,
)
from domain.finance.models import (
    Account,
    AccountCreate,
    Budget,
    BudgetCreate,
    ClosedPeriod,
    ExpenseCreate,
    Transaction,
    TransactionCreate,
)
from domain.finance.reports import (  # noqa: F401  (the agent's tools call them from here)
    PROJECT_VOID_EVENT,
    VOIDS_KEY,
    CashflowReport,
    PnlReport,
    ScheduleESummary,
    cashflow,
    csv_text_cell,
    fetch_rows,
    pnl,
    pnl_from_rows,
    schedule_e,
)
from store.outbox import OutboxEvent, publish

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # NUMERIC(12, 2)
ZERO = Decimal("0.00")
MAX_DESCRIPTION = 2000  # TransactionCreate.description
MAX_ACCOUNT_LIMIT = 200  # accounts (or closed months) on one page of a list

TRANSACTIONS_RECORDED = business_counter(
    "finance_transactions_recorded_total", "Ledger transactions recorded, by type.", ["type"]
)
BUDGETS_EXCEEDED = business_counter(
    "finance_budgets_exceeded_total", "Budget lines that went over their allocation."
)


# --- errors ------------------------------------------------------------------------------


class FinanceError(Exception):
    """Base class of the errors this module raises; ``message`` says what is wrong."""

    def __init__(self, message: str) -> None:
        """Keep the human-readable message."""
        super().__init__(message)
        self.message = message


class NotFoundError(FinanceError, LookupError):
    """No such account, deal, budget or document in this organisation (404)."""


class FinanceValidationError(FinanceError, ValueError):
    """An input value is not acceptable (422)."""


class ClosedPeriodError(FinanceError):
    """The date falls in a month whose books are closed (409)."""


class ConflictError(FinanceError):
    """The request conflicts with what is stored (409)."""


class BudgetWouldBeExceededError(ConflictError):
    """An expense asked to respect its budgets would take one over its allocation (409)."""


# --- helpers -----------------------------------------------------------------------------


def first_of_month(day: dt.date) -> dt.date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def check_amount(amount: Decimal, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """``amount`` if it is a finite, positive (or zero) Decimal with at most two places."""
    if not isinstance(amount, Decimal):
        try:
            amount = Decimal(str(amount))
        except ArithmeticError as exc:
            raise FinanceValidationError(f"{field} {amount!r} is not a number") from exc
    if not amount.is_finite():
        raise FinanceValidationError(f"{field} must be a finite number")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise FinanceValidationError(
            f"{field} must be {'zero or more' if allow_zero else 'greater than zero'} "
            f"(got {amount}); the transaction type gives the sign"
        )
    if amount != amount.quantize(CENT):
        raise FinanceValidationError(
            f"{field} {amount} has more than two decimal places; amounts are in cents"
        )
    if amount > MAX_AMOUNT:
        raise FinanceValidationError(f"{field} {amount} is larger than {MAX_AMOUNT}")
    return amount.quantize(CENT)


def require_deal(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    principal: Principal | None = None,
) -> Any:
    """The deal through the deal service; NotFoundError when it is not this org's (or hidden).

    With a principal, the deal must also be one that principal may see (investors see the
    deals they are on).
    """
    from domain.deal import service as deal_service  # late: keeps the modules' imports apart

    try:
        deal = deal_service.get_deal(
            session=session, org_id=org_id, deal_id=deal_id, principal=principal
        )
    except LookupError:
        deal = None
    if deal is None:
        raise NotFoundError(f"Deal {deal_id} not found in this organisation")
    return deal


def _require_document(*, session: Session, org_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Check a receipt document exists in this organisation; NotFoundError otherwise."""
    from domain.documents import service as documents_service

    if (
        documents_service.get_document(session=session, org_id=org_id, document_id=document_id)
        is None
    ):
        raise NotFoundError(f"Receipt document {document_id} not found in this organisation")


def _require_project(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> Any:
    """The rehab project, if it is this organisation's; NotFoundError otherwise."""
    from domain.construction import service as construction_service

    try:
        return construction_service.get_project(
            session=session, org_id=org_id, project_id=project_id
        )
    except construction_service.NotFoundError as exc:
        raise NotFoundError(f"Project {project_id} not found in this organisation") from exc


def _project_deal(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, deal_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The deal a transaction on ``project_id`` belongs to: the project's own deal.

    A project of another deal than ``deal_id`` is refused (FinanceValidationError): its cost
    would land in the wrong deal's budget and P&L. With no ``deal_id`` the project's deal is
    the answer (None for a project on no deal, when ``deal_id`` stands).
    """
    project = _require_project(session=session, org_id=org_id, project_id=project_id)
    project_deal: uuid.UUID | None = project.deal_id
    if project_deal is None:
        return deal_id
    if deal_id is not None and deal_id != project_deal:
        raise FinanceValidationError(
            f"project {project_id} belongs to deal {project_deal}, not deal {deal_id}: "
            "book it on the project's deal (or leave deal_id out to use it)"
        )
    return project_deal


def _audit(
    *,
    session: Session,
    principal: Principal | None,
    action: str,
    entity: str,
    entity_id: uuid.UUID,
    changes: dict[str, Any],
) -> None:
    """Audit a change a person made (system changes are traced by their event instead)."""
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action=action,
            entity=entity,
            entity_id=entity_id,
            changes=changes,
        )


# --- accounts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """An account's stored balance against the sum of its ledger."""

    account_id: uuid.UUID
    recorded_balance: Decimal
    ledger_balance: Decimal
    drift: Decimal
    transaction_count: int
    fixed: bool

    @property
    def balanced(self) -> bool:
        """Whether the stored balance equals the ledger."""
        return self.drift == 0


def create_account(
    *,
    session: Session,
    org_id: uuid.UUID,
    account_in: AccountCreate,
    principal: Principal | None = None,
) -> Account:
    """Open an account at a zero balance (money arrives through transactions)."""
    account = Account(org_id=org_id, name=account_in.name, type=account_in.type, balance=ZERO)
    session.add(account)
    session.flush()
    _audit(
        session=session,
        principal=principal,
        action="create",
        entity="account",
        entity_id=account.id,
        changes={"name": account.name, "type": account.type},
    )
    return account


def get_account(*, session: Session, org_id: uuid.UUID, account_id: uuid.UUID) -> Account | None:
    """One of the organisation's accounts, or None."""
    account = session.get(Account, account_id)
    return account if account is not None and account.org_id == org_id else None


def _accounts_query(*, org_id: uuid.UUID) -> SelectOfScalar[Account]:
    """The organisation's accounts (no order, no paging)."""
    return select(Account).where(Account.org_id == org_id)


def list_accounts(
    *, session: Session, org_id: uuid.UUID, limit: int | None = None, offset: int = 0
) -> list[Account]:
    """The organisation's accounts by name (a page of at most ``limit`` when given)."""
    statement = _accounts_query(org_id=org_id).order_by(col(Account.name), col(Account.id))
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_ACCOUNT_LIMIT)))
    return list(session.exec(statement.offset(max(offset, 0))))


def count_accounts(*, session: Session, org_id: uuid.UUID) -> int:
    """How many accounts ``list_accounts`` would list over all pages."""
    return count_rows(session, _accounts_query(org_id=org_id))


def _ledger_sum(session: Session, account_id: uuid.UUID) -> tuple[Decimal, int]:
    """The signed sum of an account's transactions and how many there are."""
    inflow_types = [TransactionType.income.value, TransactionType.refund.value]
    outgoing = case(
        (col(Transaction.type).in_(inflow_types), col(Transaction.amount)),
        else_=-col(Transaction.amount),
    )
    own = session.execute(
        select(func.coalesce(func.sum(outgoing), 0), func.count()).where(
            col(Transaction.account_id) == account_id
        )
    ).one()
    incoming = session.execute(
        select(func.coalesce(func.sum(col(Transaction.amount)), 0), func.count()).where(
            col(Transaction.to_account_id) == account_id
        )
    ).one()
    return Decimal(own[0]) + Decimal(incoming[0]), int(own[1]) + int(incoming[1])


def reconcile_account(
    *,
    session: Session,
    org_id: uuid.UUID,
    account_id: uuid.UUID,
    fix: bool = False,
    principal: Principal | None = None,
) -> Reconciliation:
    """Recompute an account's balance from its ledger; report drift and optionally correct it."""
    account = _lock_accounts(session=session, org_id=org_id, account_ids=[account_id])[account_id]
    ledger, count = _ledger_sum(session, account_id)
    recorded = Decimal(account.balance)
    drift = recorded - ledger
    fixed = False
    if drift != 0:
        log.warning(
            "account balance drift", extra={"account_id": str(account_id), "drift": str(drift)}
        )
        if fix:
            account.balance = ledger
            session.add(account)
            fixed = True
            _audit(
                session=session,
                principal=principal,
                action="reconcile",
                entity="account",
                entity_id=account_id,
                changes={"balance": {"from": recorded, "to": ledger}},
            )
    return Reconciliation(
        account_id=account_id,
        recorded_balance=recorded,
        ledger_balance=ledger,
        drift=drift,
        transaction_count=count,
        fixed=fixed,
    )


def _lock_accounts(
    *, session: Session, org_id: uuid.UUID, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Account]:
    """Lock the given accounts (in id order) and return them; NotFoundError for a stranger's."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    rows = session.exec(
        select(Account)
        .where(col(Account.id).in_(wanted), Account.org_id == org_id)
        .order_by(col(Account.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    found = {row.id: row for row in rows}
    for account_id in wanted:
        if account_id not in found:
            raise NotFoundError(f"Account {account_id} not found in this organisation")
    return found


# --- closed periods ----------------------------------------------------------------------


def closed_month(*, session: Session, org_id: uuid.UUID, day: dt.date) -> ClosedPeriod | None:
    """The closed period ``day`` falls in, or None when its month is open."""
    return session.exec(
        select(ClosedPeriod).where(
            ClosedPeriod.org_id == org_id, ClosedPeriod.month == first_of_month(day)
        )
    ).first()


def first_open_day(*, session: Session, org_id: uuid.UUID, day: dt.date) -> dt.date:
    """``day`` when its month is open, else the first day of the next open month.

    Where the ledger books money another module recorded (a project expense) on a day whose
    month is closed: the project keeps its day, the books the first open one.
    """
    booked = day
    while closed_month(session=session, org_id=org_id, day=booked) is not None:
        booked = first_of_month(first_of_month(booked) + dt.timedelta(days=32))
    return booked


def check_open_period(*, session: Session, org_id: uuid.UUID, day: dt.date) -> None:
    """Raise ClosedPeriodError when ``day``'s month is closed."""
    if closed_month(session=session, org_id=org_id, day=day) is not None:
        raise ClosedPeriodError(
            f"The books for {day:%B %Y} are closed: nothing can be booked dated {day.isoformat()}."
            " Date it in an open month, or reopen the period first."
        )


def close_period(
    *,
    session: Session,
    org_id: uuid.UUID,
    month: dt.date,
    note: str | None = None,
    principal: Principal | None = None,
) -> ClosedPeriod:
    """Close a month's books; ConflictError when it is already closed."""
    month = first_of_month(month)
    if closed_month(session=session, org_id=org_id, day=month) is not None:
        raise ConflictError(f"{month:%B %Y} is already closed")
    period = ClosedPeriod(
        org_id=org_id,
        month=month,
        note=note,
        closed_by=principal.user_id if principal else None,
    )
    try:
        # Two closes at once both pass the check above; the unique (org, month) refuses the
        # second, which gets the same answer as if it had come a moment later.
        with session.begin_nested():
            session.add(period)
            session.flush()
    except IntegrityError as exc:
        if "uq_closed_periods_org_month" not in str(exc.orig):
            raise
        raise ConflictError(f"{month:%B %Y} is already closed") from exc
    _audit(
        session=session,
        principal=principal,
        action="close",
        entity="closed_period",
        entity_id=period.id,
        changes={"month": month.isoformat()},
    )
    return period


def reopen_period(
    *,
    session: Session,
    org_id: uuid.UUID,
    month: dt.date,
    principal: Principal | None = None,
) -> bool:
    """Reopen a closed month; False when it was not closed."""
    period = closed_month(session=session, org_id=org_id, day=month)
    if period is None:
        return False
    session.delete(period)
    session.flush()
    _audit(
        session=session,
        principal=principal,
        action="reopen",
        entity="closed_period",
        entity_id=period.id,
        changes={"month": period.month.isoformat()},
    )
    return True


def _closed_periods_query(*, org_id: uuid.UUID) -> SelectOfScalar[ClosedPeriod]:
    """The organisation's closed months (no order, no paging)."""
    return select(ClosedPeriod).where(ClosedPeriod.org_id == org_id)


def list_closed_periods(
    *, session: Session, org_id: uuid.UUID, limit: int | None = None, offset: int = 0
) -> list[ClosedPeriod]:
    """The organisation's closed months, latest first (a page when ``limit`` is given)."""
    statement = _closed_periods_query(org_id=org_id).order_by(
        col(ClosedPeriod.month).desc(), col(ClosedPeriod.id)
    )
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_ACCOUNT_LIMIT)))
    return list(session.exec(statement.offset(max(offset, 0))))


def count_closed_periods(*, session: Session, org_id: uuid.UUID) -> int:
    """How many closed months ``list_closed_periods`` would list over all pages."""
    return count_rows(session, _closed_periods_query(org_id=org_id))


# --- budgets -----------------------------------------------------------------------------


# Income categories: never spending (the void of income is an expense in one; see
# ``void_transaction``), so budgets and unbudgeted spending leave them out.
INCOME_CATEGORIES = tuple(c.value for c in TransactionCategory if c.kind is CategoryKind.income)


def _spending_expression() -> Any:
    """A transaction's effect on budgets: spending adds, refunds take back, others nothing.

    A row in an income category is no spending whatever its type (the void of income).
    """
    in_cost_category = col(Transaction.category).not_in(INCOME_CATEGORIES)
    return case(
        (
            and_(col(Transaction.type).in_([t.value for t in SPENDING_TYPES]), in_cost_category),
            col(Transaction.amount),
        ),
        (
            and_(col(Transaction.type) == TransactionType.refund.value, in_cost_category),
            -col(Transaction.amount),
        ),
        else_=0,
    )


# Upkeep (repairs, supplies, cleaning) is rehab until the house earns rent: from its deal's
# first rent received on, it is an operating expense (as GET /deals/{id}/performance counts
# it), so the rehab line (a budget with no category) stops counting it. Rehab work
# (materials, labour, permits) stays rehab whenever it is booked.
UPKEEP_CATEGORIES = frozenset(
    {
        TransactionCategory.repairs,
        TransactionCategory.supplies,
        TransactionCategory.cleaning_and_maintenance,
    }
)


def _first_rent_day(deal_id: Any) -> Any:
    """The first rent received on ``deal_id`` (a value or the outer row's column), or NULL.

    Rent that was voided (``POST /transactions/{id}/void``) is no rent received.
    """
    rent = aliased(Transaction)
    voided = select(col(OutboxEvent.payload)[VOIDS_KEY].astext).where(
        col(OutboxEvent.name) == "transaction.created",
        col(OutboxEvent.payload)[VOIDS_KEY].astext.is_not(None),
    )
    return (
        select(func.min(rent.date))
        .where(
            rent.deal_id == deal_id,
            rent.category == TransactionCategory.rents_received.value,
            rent.type == TransactionType.income.value,
            cast(rent.id, String).not_in(voided),
        )
        .scalar_subquery()
    )


def upkeep_after_first_rent(
    *, session: Session, deal_id: uuid.UUID | None, category: str, day: dt.date
) -> bool:
    """Whether a spend is upkeep (repairs, supplies, cleaning) on or after the deal's first rent.

    Such a spend is an operating cost, not rehab: the rehab budget line and the deal's
    performance count it so, and a ledger expense of it is not booked to the rehab project.
    """
    if deal_id is None or category not in {c.value for c in UPKEEP_CATEGORIES}:
        return False
    first_rent = session.execute(select(_first_rent_day(deal_id))).scalar()
    return first_rent is not None and day >= first_rent


def _covered_by(budget: Budget) -> list[ColumnElement[bool]]:
    """Conditions on transactions for the spending ``budget`` covers."""
    conditions: list[ColumnElement[bool]] = [col(Transaction.org_id) == budget.org_id]
    if budget.deal_id is not None:
        conditions.append(col(Transaction.deal_id) == budget.deal_id)
    if budget.category is not None:
        conditions.append(col(Transaction.category) == str(budget.category))
    else:
        conditions.append(col(Transaction.category).in_([c.value for c in REHAB_CATEGORIES]))
        conditions.append(
            or_(
                col(Transaction.category).not_in([c.value for c in UPKEEP_CATEGORIES]),
                col(Transaction.date)
                < func.coalesce(_first_rent_day(col(Transaction.deal_id)), dt.date.max),
            )
        )
    if budget.period_start is not None:
        conditions.append(col(Transaction.date) >= budget.period_start)
    if budget.period_end is not None:
        conditions.append(col(Transaction.date) <= budget.period_end)
    return conditions


def compute_spent(*, session: Session, budget: Budget) -> Decimal:
    """A budget's spending recomputed from the ledger."""
    total = session.execute(
        select(func.coalesce(func.sum(_spending_expression()), 0)).where(*_covered_by(budget))
    ).scalar_one()
    return Decimal(total).quantize(CENT)


def _budgets_for(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID | None,
    category: TransactionCategory,
    day: dt.date,
    lock: bool,
) -> list[Budget]:
    """The budget lines a spend in ``category`` on ``deal_id`` dated ``day`` counts against."""
    category_match: ColumnElement[bool] = col(Budget.category) == category.value
    rented = (
        category in UPKEEP_CATEGORIES
        and deal_id is not None
        and (first_rent := session.execute(select(_first_rent_day(deal_id))).scalar()) is not None
        and day >= first_rent
    )
    if category in REHAB_CATEGORIES and not rented:
        category_match = or_(category_match, col(Budget.category).is_(None))
    deal_match: ColumnElement[bool] = col(Budget.deal_id).is_(None)
    if deal_id is not None:
        deal_match = or_(deal_match, col(Budget.deal_id) == deal_id)
    query = (
        select(Budget)
        .where(
            Budget.org_id == org_id,
            deal_match,
            category_match,
            or_(col(Budget.period_start).is_(None), col(Budget.period_start) <= day),
            or_(col(Budget.period_end).is_(None), col(Budget.period_end) >= day),
        )
        .order_by(col(Budget.id))
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.exec(query).all())


def _recount_rehab_lines(
    *, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID, transaction_id: uuid.UUID
) -> None:
    """Recount the rehab lines over a deal after its first rent moved (booked or voided).

    Upkeep from the first rent on is no longer rehab (or is again), so the stored spent
    amounts follow the ledger.
    """
    lines = session.exec(
        select(Budget)
        .where(
            Budget.org_id == org_id,
            col(Budget.category).is_(None),
            or_(col(Budget.deal_id) == deal_id, col(Budget.deal_id).is_(None)),
        )
        .order_by(col(Budget.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for budget in lines:
        spent = compute_spent(session=session, budget=budget)
        if spent != Decimal(budget.spent_amount or ZERO):
            _settle_budget(
                session=session,
                budget=budget,
                spent=spent,
                cause={
                    "transaction_id": transaction_id,
                    "reason": "first rent changed: upkeep from it on is an operating expense",
                },
            )


def _settle_budget(
    *,
    session: Session,
    budget: Budget,
    spent: Decimal,
    cause: dict[str, Any],
) -> None:
    """Store a budget's new spent amount; publish ``budget.exceeded`` if it crossed over."""
    allocated = Decimal(budget.allocated_amount or ZERO)
    budget.spent_amount = spent
    over = spent > allocated
    if over and not budget.exceeded:
        BUDGETS_EXCEEDED.inc()
        publish(
            session,
            org_id=budget.org_id,
            name="budget.exceeded",
            payload={
                "budget_id": budget.id,
                "deal_id": budget.deal_id,
                "category": budget.category,
                "allocated_amount": allocated,
                "spent_amount": spent,
                "over_by": spent - allocated,
                "period_start": budget.period_start,
                "period_end": budget.period_end,
                **cause,
            },
        )
    budget.exceeded = over
    session.add(budget)


@dataclass(frozen=True)
class BudgetStatusLine:
    """One budget line's allocation against its spending."""

    budget_id: uuid.UUID
    deal_id: uuid.UUID | None
    category: str | None
    label: str
    allocated: Decimal
    spent: Decimal
    remaining: Decimal
    over_budget: bool
    over_by: Decimal
    period_start: dt.date | None
    period_end: dt.date | None


class BudgetStatusLineModel(BaseModel):
    """One budget line's allocation against its spending."""

    budget_id: uuid.UUID
    deal_id: uuid.UUID | None
    category: str | None
    label: str
    allocated: Decimal
    spent: Decimal
    remaining: Decimal
    over_budget: bool
    over_by: Decimal
    period_start: dt.date | None
    period_end: dt.date | None
    within_budget_id: uuid.UUID | None = Field(
        default=None,
        description="the line whose scope holds all of this one's (e.g. the rehab line holds"
        " a rehab_labour line): its allocation is part of that line's, not added to the totals",
    )


class BudgetOverlap(BaseModel):
    """Two budget lines that count the same spending (each line shows it; totals count it once)."""

    budget_id: uuid.UUID
    label: str
    overlaps_budget_id: uuid.UUID
    overlaps_label: str
    shared_spent: Decimal
    nested: bool = Field(description="the first line's scope lies wholly inside the second's")


class BudgetStatus(BaseModel):
    """A deal's budget lines, totals and the spending that no line covers.

    Totals count each transaction once: ``total_spent`` is the spending any line covers,
    ``total_allocated`` adds the lines that are not inside another line (``within_budget_id``).
    ``total_remaining`` is negative when over; ``over_by`` then says by how much.
    """

    org_id: uuid.UUID
    deal_id: uuid.UUID | None = Field(
        description="the deal; null for the organisation-wide lines (budgets with no deal)"
    )
    lines: list[BudgetStatusLineModel]
    total_allocated: Decimal
    total_spent: Decimal
    total_remaining: Decimal
    over_by: Decimal = Field(description="total_spent - total_allocated when over, else 0")
    over_budget: bool
    overlaps: list[BudgetOverlap] = Field(default_factory=list)
    unbudgeted_spending: dict[str, Decimal]
    project_id: uuid.UUID | None = Field(
        default=None, description="the deal's rehab project whose budget is the one of record"
    )
    project_budget: Decimal | None = Field(
        default=None,
        description="that project's budget: the deal's rehab budget of record, when it has one",
    )
    rehab_budget_source: str | None = Field(
        default=None,
        description="which figure the rehab line (no category) allocates, and why",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="e.g. the rehab line, set by a person, differs from the project's budget",
    )
    basis: str


def _label(category: str | None) -> str:
    """A budget category's human label."""
    if category is None:
        return "Rehab (all rehab categories)"
    return TransactionCategory(category).info.label


def _period_label(start: dt.date | None, end: dt.date | None) -> str | None:
    """A budget period in words: "November 2026" for a whole month, else its dates; None: none."""
    if start is not None and end is not None:
        next_month = first_of_month(first_of_month(end) + dt.timedelta(days=31))
        if start == first_of_month(end) and end == next_month - dt.timedelta(days=1):
            return f"{start:%B %Y}"
        return f"{start.isoformat()} to {end.isoformat()}"
    if start is not None:
        return f"from {start.isoformat()}"
    if end is not None:
        return f"until {end.isoformat()}"
    return None


def _budget_label(budget: Budget) -> str:
    """A budget line's human label, with its period when it has one.

    Two Utilities lines read "Utilities (November 2026)" and "Utilities (2026-11-01 to
    2027-10-31)", not "Utilities" twice.
    """
    label = _label(budget.category)
    period = _period_label(budget.period_start, budget.period_end)
    if period is None:
        return label
    if label.endswith(")"):  # "Rehab (all rehab categories, November 2026)"
        return f"{label[:-1]}, {period})"
    return f"{label} ({period})"


def _status_line(budget: Budget) -> BudgetStatusLineModel:
    """A budget row as a status line."""
    allocated = Decimal(budget.allocated_amount or ZERO)
    spent = Decimal(budget.spent_amount or ZERO)
    return BudgetStatusLineModel(
        budget_id=budget.id,
        deal_id=budget.deal_id,
        category=budget.category,
        label=_budget_label(budget),
        allocated=allocated,
        spent=spent,
        remaining=allocated - spent,
        over_budget=spent > allocated,
        over_by=max(spent - allocated, ZERO),
        period_start=budget.period_start,
        period_end=budget.period_end,
    )


def deals_over_budget(
    *, session: Session, org_id: uuid.UUID, principal: Principal | None = None
) -> list[BudgetStatus]:
    """The budgets of every deal (the principal may see) with a line or the total over.

    "Which deals are over budget?": each deal's ``budget_status``, worst total first (a deal
    whose total is within budget but a line is over comes after those over in total).
    """
    deal_ids = session.exec(
        select(Budget.deal_id)
        .where(Budget.org_id == org_id, col(Budget.deal_id).is_not(None))
        .distinct()
    ).all()
    over: list[BudgetStatus] = []
    for deal_id in deal_ids:
        if deal_id is None:
            continue
        try:
            status = budget_status(
                session=session, org_id=org_id, deal_id=deal_id, principal=principal
            )
        except NotFoundError:
            continue  # a deal this principal may not see
        if status.over_budget or any(line.over_budget for line in status.lines):
            over.append(status)
    return sorted(over, key=lambda s: (-s.over_by, -max((x.over_by for x in s.lines), default=0)))


def budget_status(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID | None,
    principal: Principal | None = None,
) -> BudgetStatus:
    """A deal's budget: allocated, spent and remaining per line, with over-budget flags.

    ``deal_id`` None: the organisation-wide lines (``POST /budgets`` without a deal), whose
    spending is every transaction of the organisation in their categories and periods; the
    unbudgeted spending is then the organisation's that no such line covers.
    """
    if deal_id is not None:
        require_deal(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    scope: ColumnElement[bool] = (
        col(Budget.deal_id).is_(None) if deal_id is None else col(Budget.deal_id) == deal_id
    )
    budgets = session.exec(
        select(Budget)
        .where(Budget.org_id == org_id, scope)
        .order_by(col(Budget.category).nulls_first(), col(Budget.period_start))
    ).all()
    lines = [_status_line(b) for b in budgets]
    overlaps, parents = _overlaps(session=session, budgets=list(budgets))
    for line in lines:
        line.within_budget_id = parents.get(line.budget_id)
    # Unbudgeted: spending no line covers, by category, period included (a January line
    # does not cover February's spending in its category).
    conditions: list[ColumnElement[bool]] = [
        col(Transaction.org_id) == org_id,
        col(Transaction.category).is_not(None),
    ]
    if deal_id is not None:
        conditions.append(col(Transaction.deal_id) == deal_id)
    if budgets:
        conditions.append(not_(or_(*(and_(*_covered_by(b)) for b in budgets))))
    spending_rows = session.execute(
        select(col(Transaction.category), func.sum(_spending_expression()))
        .where(*conditions)
        .group_by(col(Transaction.category))
        .order_by(col(Transaction.category))
    ).all()
    unbudgeted: dict[str, Decimal] = {
        category: Decimal(amount) for category, amount in spending_rows if amount
    }
    allocated = sum((line.allocated for line in lines if line.within_budget_id is None), ZERO)
    spent = ZERO
    if budgets:
        # Each transaction once, however many lines cover it.
        spent = Decimal(
            session.execute(
                select(func.coalesce(func.sum(_spending_expression()), 0)).where(
                    or_(*(and_(*_covered_by(b)) for b in budgets))
                )
            ).scalar_one()
        ).quantize(CENT)
    rehab_line = next(
        (
            b
            for b in budgets
            if b.category is None and b.period_start is None and b.period_end is None
        ),
        None,
    )
    record = (
        None
        if deal_id is None
        else _project_of_record(session=session, org_id=org_id, deal_id=deal_id)
    )
    project_budget = Decimal(record.budget).quantize(CENT) if record is not None else None
    notes: list[str] = []
    rehab_source: str | None = None
    if rehab_line is not None:
        rehab_source = rehab_line_source(session=session, budget=rehab_line)
        allocated_rehab = Decimal(rehab_line.allocated_amount or ZERO)
        if project_budget is not None and allocated_rehab != project_budget:
            notes.append(
                f"the rehab project's budget is ${project_budget:,.2f}, the rehab line"
                f" allocates ${allocated_rehab:,.2f}"
                + (
                    ": a person set this line's allocation, so it is left as set (set it again"
                    " with POST /budgets to change it)"
                    if set_by_person(session=session, budget=rehab_line)
                    else ""
                )
            )
    elif project_budget is not None:
        notes.append(
            f"the deal has no rehab budget line; its rehab project's budget is"
            f" ${project_budget:,.2f}"
        )
    return BudgetStatus(
        org_id=org_id,
        deal_id=deal_id,
        lines=lines,
        total_allocated=allocated,
        total_spent=spent,
        total_remaining=allocated - spent,
        over_by=max(spent - allocated, ZERO),
        over_budget=spent > allocated or any(line.over_budget for line in lines),
        overlaps=overlaps,
        unbudgeted_spending=unbudgeted,
        project_id=record.id if record is not None else None,
        project_budget=project_budget,
        rehab_budget_source=rehab_source,
        notes=notes,
        basis=(
            (
                "financial_service.budgets for the deal"
                if deal_id
                else "the organisation-wide"
                " financial_service.budgets (no deal): spending on every deal and the overhead"
            )
            + "; a line's spent = expenses + payments -"
            " refunds in its category (the rehab line: every rehab category) and period, kept"
            " in step with each transaction. Lines may overlap (the rehab line also counts a"
            " rehab_labour line's spending; see overlaps): each line shows its own figures, but"
            " total_spent counts each transaction once and total_allocated adds only the lines"
            " that are not inside another (within_budget_id). The rehab line follows the"
            " deal's rehab project's budget (the rehab budget of record) unless a person set"
            " its allocation (rehab_budget_source, project_budget, notes)."
        ),
    )


def _period_within(inner: Budget, outer: Budget) -> bool:
    """Whether ``inner``'s period lies inside ``outer``'s (no bound: open-ended)."""
    starts_inside = outer.period_start is None or (
        inner.period_start is not None and inner.period_start >= outer.period_start
    )
    ends_inside = outer.period_end is None or (
        inner.period_end is not None and inner.period_end <= outer.period_end
    )
    return starts_inside and ends_inside


def _periods_meet(a: Budget, b: Budget) -> bool:
    """Whether two lines' periods share a day."""
    a_start, b_start = a.period_start or dt.date.min, b.period_start or dt.date.min
    a_end, b_end = a.period_end or dt.date.max, b.period_end or dt.date.max
    return a_start <= b_end and b_start <= a_end


def _categories(budget: Budget) -> frozenset[str]:
    """The categories a line counts."""
    if budget.category is None:
        return frozenset(c.value for c in REHAB_CATEGORIES)
    return frozenset({str(budget.category)})


def _overlaps(
    *, session: Session, budgets: list[Budget]
) -> tuple[list[BudgetOverlap], dict[uuid.UUID, uuid.UUID]]:
    """The pairs of lines that count the same spending, and each nested line's outer line."""
    overlaps: list[BudgetOverlap] = []
    parents: dict[uuid.UUID, uuid.UUID] = {}

    def inside(inner: Budget, outer: Budget) -> bool:
        return _categories(inner) <= _categories(outer) and _period_within(inner, outer)

    for index, a in enumerate(budgets):
        for b in budgets[index + 1 :]:
            if not (_categories(a) & _categories(b)) or not _periods_meet(a, b):
                continue
            inner, outer = (a, b) if inside(a, b) else (b, a)
            nested = inside(inner, outer)
            shared = Decimal(
                session.execute(
                    select(func.coalesce(func.sum(_spending_expression()), 0)).where(
                        *_covered_by(inner), *_covered_by(outer)
                    )
                ).scalar_one()
            ).quantize(CENT)
            overlaps.append(
                BudgetOverlap(
                    budget_id=inner.id,
                    label=_budget_label(inner),
                    overlaps_budget_id=outer.id,
                    overlaps_label=_budget_label(outer),
                    shared_spent=shared,
                    nested=nested,
                )
            )
    # A nested line's outer line: the widest one that holds it (itself inside no other).
    for line in budgets:
        holders = [o for o in budgets if o.id != line.id and inside(line, o)]
        top = [o for o in holders if not any(p.id != o.id and inside(o, p) for p in budgets)]
        if top or holders:
            parents[line.id] = (top or holders)[0].id
    return overlaps, parents


def get_budget(*, session: Session, org_id: uuid.UUID, budget_id: uuid.UUID) -> Budget | None:
    """One of the organisation's budget lines, or None."""
    budget = session.get(Budget, budget_id)
    return budget if budget is not None and budget.org_id == org_id else None


def _find_budget(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID | None,
    category: str | None,
    period_start: dt.date | None,
    period_end: dt.date | None,
    lock: bool = False,
) -> Budget | None:
    """The budget line with exactly this scope, or None."""

    def _eq(column: Any, value: Any) -> ColumnElement[bool]:
        return col(column).is_(None) if value is None else col(column) == value

    query = select(Budget).where(
        Budget.org_id == org_id,
        _eq(Budget.deal_id, deal_id),
        _eq(Budget.category, category),
        _eq(Budget.period_start, period_start),
        _eq(Budget.period_end, period_end),
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def set_budget(
    *,
    session: Session,
    org_id: uuid.UUID,
    budget_in: BudgetCreate,
    principal: Principal | None = None,
    source: str | None = None,
) -> tuple[Budget, bool]:
    """Create a budget line, or set the allocation of the line with the same scope.

    Setting an allocation is setting it by hand: the line's ``source`` says so (``api`` for a
    person), and a deal's rehab line so set no longer follows its project's budget
    (``follow_project_budget``).

    Returns the line and whether it was created. Its spent amount is computed from the ledger
    (so spending booked before the budget counts); a line that starts over its allocation, or
    that a lowered allocation puts over, publishes ``budget.exceeded``.
    """
    allocated = check_amount(budget_in.allocated_amount, field="allocated_amount", allow_zero=True)
    if budget_in.deal_id is not None:
        require_deal(session=session, org_id=org_id, deal_id=budget_in.deal_id)
    if (
        budget_in.period_start
        and budget_in.period_end
        and budget_in.period_end < budget_in.period_start
    ):
        raise FinanceValidationError("period_end must be on or after period_start")
    category = budget_in.category.value if budget_in.category is not None else None
    if category is not None and TransactionCategory(category).kind is not CategoryKind.expense:
        raise FinanceValidationError(f"{category} is an income category; budgets limit spending")

    def _existing() -> Budget | None:
        return _find_budget(
            session=session,
            org_id=org_id,
            deal_id=budget_in.deal_id,
            category=category,
            period_start=budget_in.period_start,
            period_end=budget_in.period_end,
            lock=True,
        )

    budget = _existing()
    created = budget is None
    if budget is None:
        budget = Budget(
            org_id=org_id,
            deal_id=budget_in.deal_id,
            category=budget_in.category,
            period_start=budget_in.period_start,
            period_end=budget_in.period_end,
            allocated_amount=allocated,
            spent_amount=ZERO,
            source=source or ("api" if principal else None),
        )
        try:
            with session.begin_nested():
                session.add(budget)
                session.flush()
        except IntegrityError:
            # Someone created the same line a moment ago: update theirs instead.
            budget = _existing()
            if budget is None:  # pragma: no cover - the conflicting row must exist
                raise
            created = False
    previous = budget.allocated_amount
    budget.allocated_amount = allocated
    if not created:
        # Set by hand now: a deal's rehab line no longer follows its project's budget.
        budget.source = source or ("api" if principal else SET_BY_HAND_SOURCE)
    _settle_budget(
        session=session,
        budget=budget,
        spent=compute_spent(session=session, budget=budget),
        cause={"reason": "budget created" if created else "allocation changed"},
    )
    session.flush()
    _audit(
        session=session,
        principal=principal,
        action="create" if created else "update",
        entity="budget",
        entity_id=budget.id,
        changes={"allocated_amount": allocated if created else {"from": previous, "to": allocated}},
    )
    return budget, created


def open_deal_budget(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    estimated_repairs: Decimal | None,
    source: str,
) -> Budget:
    """Open a deal's rehab budget (one line, no category) from its estimated repairs.

    Idempotent: when the deal already has a rehab line, that line is returned unchanged (the
    team may have set its allocation since).
    """
    existing = _find_budget(
        session=session,
        org_id=org_id,
        deal_id=deal_id,
        category=None,
        period_start=None,
        period_end=None,
    )
    if existing is not None:
        return existing
    allocated = ZERO
    if estimated_repairs is not None:
        try:
            allocated = check_amount(
                Decimal(str(estimated_repairs)), field="estimated_repairs", allow_zero=True
            )
        except FinanceValidationError:
            log.warning("deal's estimated repairs not usable; budget opened at zero")
    budget = Budget(
        org_id=org_id,
        deal_id=deal_id,
        category=None,
        allocated_amount=allocated,
        spent_amount=ZERO,
        source=source,
    )
    session.add(budget)
    session.flush()
    _settle_budget(
        session=session,
        budget=budget,
        spent=compute_spent(session=session, budget=budget),
        cause={"reason": "budget opened"},
    )
    session.flush()
    return budget


# Where a deal's rehab line got its allocation (``Budget.source``): from the deal's estimated
# repairs (``deal.created:<event id>``) or its rehab project's budget (``project:<id>``) the
# line follows the project; anything else (``api``: a person, ``POST /budgets``) is left as set.
DEAL_ESTIMATE_SOURCE_PREFIX = "deal.created:"
PROJECT_SOURCE_PREFIX = "project:"
SET_BY_HAND_SOURCE = "set_budget"


def _project_of_record(*, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID) -> Any:
    """The deal's rehab project when its budget is the rehab budget of record, else None."""
    from domain.construction import service as construction_service  # late: keeps them apart

    return construction_service.rehab_budget_of_record(
        session=session, org_id=org_id, deal_id=deal_id
    )


def set_by_person(*, session: Session, budget: Budget) -> bool:
    """Whether a person (or a caller by hand) set this line's allocation.

    A line whose ``source`` is the deal's estimate or its project was set by the system,
    unless a person changed it before the source said so (their audited change counts).
    """
    source = budget.source or ""
    if not source.startswith((DEAL_ESTIMATE_SOURCE_PREFIX, PROJECT_SOURCE_PREFIX)):
        return True
    from domain.auth.models import AuditLog  # late: the audit log belongs to auth

    return (
        session.exec(
            select(AuditLog.id).where(
                AuditLog.org_id == budget.org_id,
                AuditLog.entity == "budget",
                AuditLog.entity_id == str(budget.id),
            )
        ).first()
        is not None
    )


def rehab_line_source(*, session: Session, budget: Budget) -> str:
    """Which figure a deal's rehab line allocates, and why, in words."""
    source = budget.source or ""
    if set_by_person(session=session, budget=budget):
        return "set by a person (POST /budgets): it does not follow the rehab project's budget"
    if source.startswith(PROJECT_SOURCE_PREFIX):
        return "the rehab project's budget (the rehab budget of record; it follows the project)"
    return (
        "the deal's estimated repairs, until its rehab project has a budget (then it follows"
        " the project's)"
    )


def follow_project_budget(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    cause: dict[str, Any],
) -> Budget | None:
    """Set the deal's rehab line to its project's budget, the rehab budget of record.

    Reads the project as it is now (not the event's figures), so a repeated or late event
    changes nothing more. Nothing happens for a project on no deal, without a budget or
    cancelled, or when a person set the line's allocation (``set_by_person``): that line is
    left as set and ``budget_status`` notes the difference. A deal with no rehab line gets
    one. Returns the line (None when the project gives no budget of record).
    """
    project = _require_project(session=session, org_id=org_id, project_id=project_id)
    if project.deal_id is None:
        return None
    record = _project_of_record(session=session, org_id=org_id, deal_id=project.deal_id)
    if record is None or record.id != project.id:
        return None
    target = check_amount(Decimal(str(record.budget)), field="project budget", allow_zero=True)
    source = f"{PROJECT_SOURCE_PREFIX}{project.id}"
    line = _find_budget(
        session=session,
        org_id=org_id,
        deal_id=project.deal_id,
        category=None,
        period_start=None,
        period_end=None,
        lock=True,
    )
    if line is None:
        line = Budget(
            org_id=org_id,
            deal_id=project.deal_id,
            category=None,
            allocated_amount=target,
            spent_amount=ZERO,
            source=source,
        )
        try:
            with session.begin_nested():
                session.add(line)
                session.flush()
        except IntegrityError:
            # deal.created opened it a moment ago: follow that one.
            line = _find_budget(
                session=session,
                org_id=org_id,
                deal_id=project.deal_id,
                category=None,
                period_start=None,
                period_end=None,
                lock=True,
            )
            if line is None:  # pragma: no cover - the conflicting row must exist
                raise
            if set_by_person(session=session, budget=line):
                return line
    elif set_by_person(session=session, budget=line):
        return line
    elif Decimal(line.allocated_amount or ZERO) == target and line.source == source:
        return line  # already follows it (a repeated event)
    line.allocated_amount = target
    line.source = source
    _settle_budget(
        session=session,
        budget=line,
        spent=compute_spent(session=session, budget=line),
        cause={"reason": "follows the rehab project's budget", "project_id": project.id, **cause},
    )
    session.flush()
    return line


# --- transactions ------------------------------------------------------------------------


def _validate_shape(
    transaction_in: TransactionCreate, *, income_void: bool = False
) -> TransactionCategory | None:
    """Check the type, category and accounts agree; return the category.

    ``income_void``: the offsetting entry of voided income, an expense in the income's own
    category (the ledger has no negative income); only ``void_transaction`` books one.
    """
    kind = transaction_in.type
    if kind is TransactionType.transfer:
        if transaction_in.account_id is None or transaction_in.to_account_id is None:
            raise FinanceValidationError("a transfer needs account_id and to_account_id")
        if transaction_in.account_id == transaction_in.to_account_id:
            raise FinanceValidationError("a transfer must move money between two accounts")
        if transaction_in.category is not None:
            raise FinanceValidationError(
                "a transfer has no category (it is neither income nor expense)"
            )
        if transaction_in.deal_id is not None or transaction_in.project_id is not None:
            raise FinanceValidationError(
                "a transfer moves money between the organisation's own accounts; book deal"
                " and project costs as expenses or payments"
            )
        return None
    if transaction_in.to_account_id is not None:
        raise FinanceValidationError("to_account_id is only for transfers")
    if transaction_in.category is None:
        raise FinanceValidationError(f"{_a(kind.value)} needs a category")
    category = parse_category(transaction_in.category)
    wanted = CategoryKind.income if kind is TransactionType.income else CategoryKind.expense
    if income_void and kind is TransactionType.expense:
        wanted = CategoryKind.income
    if category.kind is not wanted:
        raise FinanceValidationError(
            f"category {category.value} is {_a(category.kind.value)} category; "
            f"{_a(kind.value)} needs {_a(wanted.value)} category"
        )
    return category


def _check_project_expense_date(day: dt.date) -> None:
    """Spending on a project dated too far ahead, as a project expense: FinanceValidationError.

    The limit is construction's (``MAX_EXPENSE_DAYS_AHEAD``), with its message.
    """
    from domain.construction import service as construction_service  # late: keeps them apart

    try:
        construction_service.check_expense_date(day, what="date")
    except construction_service.ConstructionInputError as exc:
        raise FinanceValidationError(str(exc)) from exc


def _check_project_refund(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, amount: Decimal, day: dt.date
) -> None:
    """Money back on a project, as construction checks a refund booked on the project.

    One that would take the project's net spent below zero (overall or as of ``day``) is a
    FinanceValidationError with construction's message; a closed month a ClosedPeriodError.
    """
    from domain.construction import service as construction_service  # late: keeps them apart

    try:
        construction_service.check_project_refund(
            session=session, org_id=org_id, project_id=project_id, amount=amount, day=day
        )
    except construction_service.ConstructionInputError as exc:
        raise FinanceValidationError(str(exc)) from exc
    except construction_service.ConstructionConflictError as exc:
        raise ClosedPeriodError(str(exc)) from exc
    except construction_service.NotFoundError as exc:
        raise NotFoundError(f"Project {project_id} not found in this organisation") from exc


def _a(word: str) -> str:
    """``word`` with its article: "an income", "an expense", "a transfer"."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def record_transaction(
    *,
    session: Session,
    org_id: uuid.UUID,
    transaction_in: TransactionCreate,
    principal: Principal | None = None,
    source_event_id: uuid.UUID | None = None,
    enforce_budget: bool = False,
    voids_transaction_id: uuid.UUID | None = None,
) -> Transaction:
    """Book a transaction: validate, lock its accounts and budgets, insert, move balances.

    ``voids_transaction_id`` (``void_transaction`` only) makes it the offsetting entry of that
    transaction: its ``transaction.created`` says so, and that event is its source event.

    Publishes ``transaction.created`` (and ``payment.processed`` for a payment, and
    ``budget.exceeded`` for each budget line it takes over). Everything is checked before
    anything is written; errors: NotFoundError (account, deal, project or receipt not in this
    org), FinanceValidationError (bad amount or shape), ClosedPeriodError, and
    BudgetWouldBeExceededError when ``enforce_budget`` and a line would go over.
    """
    amount = check_amount(transaction_in.amount)
    category = _validate_shape(transaction_in, income_void=voids_transaction_id is not None)
    check_open_period(session=session, org_id=org_id, day=transaction_in.date)
    if (project_id := transaction_in.project_id) is not None:
        # A project's costs are its deal's: another deal is refused, a missing one filled in.
        project_deal = _project_deal(
            session=session,
            org_id=org_id,
            project_id=project_id,
            deal_id=transaction_in.deal_id,
        )
        if project_deal != transaction_in.deal_id:
            transaction_in = transaction_in.model_copy(update={"deal_id": project_deal})
        # Spending that reaches a project is dated as a project expense may be (bookings of
        # construction's events were checked there; a void keeps its original's date).
        spending = transaction_in.type in SPENDING_TYPES
        if spending and source_event_id is None and voids_transaction_id is None:
            _check_project_expense_date(transaction_in.date)
        refund = transaction_in.type is TransactionType.refund
        if refund and source_event_id is None and voids_transaction_id is None:
            # It reaches the project as a credit: the rule of a refund booked there applies.
            _check_project_refund(
                session=session,
                org_id=org_id,
                project_id=project_id,
                amount=amount,
                day=transaction_in.date,
            )
    if transaction_in.deal_id is not None:
        require_deal(session=session, org_id=org_id, deal_id=transaction_in.deal_id)
    if transaction_in.receipt_document_id is not None:
        _require_document(
            session=session, org_id=org_id, document_id=transaction_in.receipt_document_id
        )
    kind = transaction_in.type
    account_ids = [a for a in (transaction_in.account_id, transaction_in.to_account_id) if a]
    accounts = _lock_accounts(session=session, org_id=org_id, account_ids=account_ids)

    budget_delta = ZERO
    if category is not None and category.kind is CategoryKind.income:
        pass  # income (or its void) is no spending: no budget counts it
    elif kind in SPENDING_TYPES:
        budget_delta = amount
    elif kind is TransactionType.refund:
        budget_delta = -amount
    budgets: list[Budget] = []
    if category is not None and budget_delta != 0:
        budgets = _budgets_for(
            session=session,
            org_id=org_id,
            deal_id=transaction_in.deal_id,
            category=category,
            day=transaction_in.date,
            lock=True,
        )
    if enforce_budget:
        over = [
            b
            for b in budgets
            if Decimal(b.spent_amount or ZERO) + budget_delta > Decimal(b.allocated_amount or ZERO)
            and budget_delta > 0
        ]
        if over:
            first = over[0]
            raise BudgetWouldBeExceededError(
                f"This {amount} would take the {_budget_label(first)} budget to "
                f"{Decimal(first.spent_amount or ZERO) + amount} against an allocation of "
                f"{Decimal(first.allocated_amount or ZERO)}; nothing was booked"
            )

    # All checks passed: from here on we write.
    transaction = Transaction(
        org_id=org_id,
        type=kind,
        category=category,
        amount=amount,
        date=transaction_in.date,
        description=transaction_in.description,
        deal_id=transaction_in.deal_id,
        account_id=transaction_in.account_id,
        to_account_id=transaction_in.to_account_id,
        counterparty=transaction_in.counterparty,
        receipt_url=transaction_in.receipt_url,
        receipt_document_id=transaction_in.receipt_document_id,
        project_id=transaction_in.project_id,
        source_event_id=source_event_id,
        created_by=principal.user_id if principal else None,
    )
    session.add(transaction)
    if transaction_in.account_id is not None:
        source_account = accounts[transaction_in.account_id]
        source_account.balance = Decimal(source_account.balance) + kind.signed(amount)
        session.add(source_account)
    if transaction_in.to_account_id is not None:
        target = accounts[transaction_in.to_account_id]
        target.balance = Decimal(target.balance) + amount
        session.add(target)
    for budget in budgets:
        _settle_budget(
            session=session,
            budget=budget,
            spent=Decimal(budget.spent_amount or ZERO) + budget_delta,
            cause={"transaction_id": transaction.id, "reason": f"{kind.value} booked"},
        )
    session.flush()

    payload = {
        "transaction_id": transaction.id,
        "type": kind,
        "category": category,
        "amount": amount,
        "signed_amount": kind.signed(amount),
        "date": transaction.date,
        "deal_id": transaction.deal_id,
        "account_id": transaction.account_id,
        "to_account_id": transaction.to_account_id,
        "project_id": transaction.project_id,
        "source_event_id": source_event_id,
    }
    if voids_transaction_id is not None:
        payload[VOIDS_KEY] = voids_transaction_id
    created_event = publish(session, org_id=org_id, name="transaction.created", payload=payload)
    if voids_transaction_id is not None and source_event_id is None:
        # The void is recognised (reports, a second void) by the event that announced it.
        transaction.source_event_id = created_event
        session.add(transaction)
        session.flush()
    if category is TransactionCategory.rents_received and transaction.deal_id is not None:
        _recount_rehab_lines(
            session=session,
            org_id=org_id,
            deal_id=transaction.deal_id,
            transaction_id=transaction.id,
        )
        session.flush()
    if kind is TransactionType.payment:
        # payment.processed: a payment (money out to settle a bill or a draw) is booked.
        publish(
            session,
            org_id=org_id,
            name="payment.processed",
            payload={**payload, "counterparty": transaction.counterparty},
        )
    TRANSACTIONS_RECORDED.labels(type=kind.value).inc()
    _audit(
        session=session,
        principal=principal,
        action="create",
        entity="transaction",
        entity_id=transaction.id,
        changes={
            "type": kind,
            "category": category,
            "amount": amount,
            "date": transaction.date.isoformat(),
            "deal_id": transaction.deal_id,
            "account_id": transaction.account_id,
        },
    )
    return transaction


@dataclass(frozen=True)
class PossibleDuplicate:
    """An earlier live booking that looks like the same receipt, as the route that booked it.

    ``kind`` "transaction": booked in the ledger (``POST /expenses`` or ``/transactions``),
    ``id`` the transaction's, voided with ``POST /transactions/{id}/void``. "project_expense":
    booked on a project (``POST /projects/{id}/expenses``), ``id`` the project expense's,
    voided on the project (its ledger row follows).
    """

    id: uuid.UUID
    kind: str
    project_id: uuid.UUID | None = None

    @property
    def how_to_void(self) -> str:
        """The request that voids it."""
        if self.kind == "project_expense":
            return f"POST /projects/{self.project_id}/expenses/{self.id}/void"
        return f"POST /transactions/{self.id}/void"


def duplicate_warning(
    duplicates: Sequence[PossibleDuplicate],
    *,
    amount: Decimal,
    day: dt.date,
    counterparty: str | None,
    void_this: str,
) -> str | None:
    """A heads-up that the same receipt looks booked already (booked all the same); None: none."""
    if not duplicates:
        return None
    earlier = "; ".join(
        f"{'project expense' if d.kind == 'project_expense' else 'transaction'} {d.id}"
        f" ({d.how_to_void})"
        for d in duplicates[:5]
    )
    return (
        f"Heads up: {len(duplicates)} other expense(s) of {amount} dated {day.isoformat()}"
        + (f" to {' '.join(counterparty.split())}" if counterparty and counterparty.strip() else "")
        + f" on the same deal were already booked ({earlier}); if this one is a repeat, void it"
        f" ({void_this}). Send an Idempotency-Key to make a retried request safe."
    )


@dataclass(frozen=True)
class ExpenseResult:
    """A booked expense, the budget lines it counts against (after it) and possible repeats."""

    transaction: Transaction
    budgets: list[BudgetStatusLineModel]
    possible_duplicates: list[PossibleDuplicate] = dataclass_field(default_factory=list)

    @property
    def duplicate_warning(self) -> str | None:
        """A heads-up when the same expense was already booked (booked all the same)."""
        t = self.transaction
        return duplicate_warning(
            self.possible_duplicates,
            amount=Decimal(t.amount),
            day=t.date,
            counterparty=t.counterparty,
            void_this="POST /transactions/{id}/void",
        )


def _voided_ids(org_id: uuid.UUID) -> Any:
    """The ids (as text) of the organisation's transactions that a void cancels."""
    return select(col(OutboxEvent.payload)[VOIDS_KEY].astext).where(
        OutboxEvent.org_id == org_id,
        OutboxEvent.name == "transaction.created",
        col(OutboxEvent.payload)[VOIDS_KEY].astext.is_not(None),
    )


def void_pairs(
    *, session: Session, org_id: uuid.UUID, transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Among ``transaction_ids``: each void (``POST /transactions/{id}/void``) -> what it voids."""
    if not transaction_ids:
        return {}
    rows = session.execute(
        select(col(Transaction.id), col(OutboxEvent.payload)[VOIDS_KEY].astext)
        .join(OutboxEvent, col(OutboxEvent.id) == col(Transaction.source_event_id))
        .where(
            Transaction.org_id == org_id,
            col(Transaction.id).in_(list(transaction_ids)),
            OutboxEvent.name == "transaction.created",
            col(OutboxEvent.payload)[VOIDS_KEY].astext.is_not(None),
        )
    ).all()
    return {void_id: uuid.UUID(str(voided)) for void_id, voided in rows}


def _void_rows(org_id: uuid.UUID) -> Any:
    """The ids of the organisation's transactions that are voids (offsetting entries)."""
    return (
        select(col(Transaction.id))
        .join(OutboxEvent, col(OutboxEvent.id) == col(Transaction.source_event_id))
        .where(
            Transaction.org_id == org_id,
            or_(
                col(OutboxEvent.name) == PROJECT_VOID_EVENT,
                col(OutboxEvent.payload)[VOIDS_KEY].astext.is_not(None),
            ),
        )
    )


def _same_text(column: Any, value: str | None) -> ColumnElement[bool]:
    """``column`` holds ``value`` (spacing collapsed and trimmed, case ignored; blank = None)."""
    text = " ".join((value or "").split()).lower()
    return _normalised(column) == text


def _normalised(column: Any) -> Any:
    """``column`` as text with runs of spacing made one space, trimmed and lower-cased."""
    collapsed = func.regexp_replace(func.coalesce(column, ""), r"\s+", " ", "g")
    return func.lower(func.trim(collapsed))


def receipt_duplicates(
    *,
    session: Session,
    org_id: uuid.UUID,
    amount: Decimal,
    day: dt.date,
    deal_id: uuid.UUID | None,
    counterparty: str | None,
    exclude_transaction_id: uuid.UUID | None = None,
    exclude_expense_id: uuid.UUID | None = None,
) -> list[PossibleDuplicate]:
    """Earlier live bookings of what looks like the same receipt, from either route, oldest first.

    Same amount, date, deal (a project expense's: its project's) and counterparty (a project
    expense's: its contractor, else its vendor, as finance books it; spacing and case
    ignored). Ledger spending (expenses and payments) and the project's own expenses both
    count, each booking once: a project expense is reported as such (``kind``
    "project_expense") whether or not finance has booked its ledger row yet, a ledger
    expense as a transaction (its mirror on a project is not reported again). Voided ones
    and voids (reversals, refunds) are left out; ``exclude_*`` is the booking just made.
    """
    from domain.construction import service as construction_service  # late: keeps them apart
    from domain.construction.models import ProjectExpense

    amount = Decimal(amount).quantize(CENT)
    deal_match: ColumnElement[bool] = (
        col(Transaction.deal_id).is_(None)
        if deal_id is None
        else col(Transaction.deal_id) == deal_id
    )
    from_projects = select(col(ProjectExpense.event_id)).where(
        ProjectExpense.org_id == org_id, col(ProjectExpense.event_id).is_not(None)
    )
    conditions: list[Any] = [
        Transaction.org_id == org_id,
        col(Transaction.type).in_([t.value for t in SPENDING_TYPES]),
        Transaction.amount == amount,
        Transaction.date == day,
        deal_match,
        _same_text(col(Transaction.counterparty), counterparty),
        cast(col(Transaction.id), String).not_in(_voided_ids(org_id)),
        col(Transaction.id).not_in(_void_rows(org_id)),
        # A project expense's ledger row: the project expense stands for it.
        or_(
            col(Transaction.source_event_id).is_(None),
            col(Transaction.source_event_id).not_in(from_projects),
        ),
    ]
    if exclude_transaction_id is not None:
        conditions.append(Transaction.id != exclude_transaction_id)
    found: list[tuple[dt.datetime, uuid.UUID, PossibleDuplicate]] = [
        (t.created_at, t.id, PossibleDuplicate(id=t.id, kind="transaction"))
        for t in session.exec(select(Transaction).where(*conditions)).all()
    ]
    for expense in construction_service.expenses_like(
        session=session,
        org_id=org_id,
        amount=amount,
        day=day,
        deal_id=deal_id,
        counterparty=counterparty,
        exclude_expense_id=exclude_expense_id,
    ):
        found.append(
            (
                expense.created_at,
                expense.id,
                PossibleDuplicate(
                    id=expense.id, kind="project_expense", project_id=expense.project_id
                ),
            )
        )
    return [d for _, _, d in sorted(found, key=lambda row: (row[0], str(row[1])))]


def possible_duplicates(
    *, session: Session, org_id: uuid.UUID, transaction: Transaction
) -> list[PossibleDuplicate]:
    """Other live bookings of what looks like the same receipt as ``transaction``.

    ``receipt_duplicates`` for spending (expenses and payments); nothing for other types.
    """
    if TransactionType(transaction.type) not in SPENDING_TYPES:
        return []
    return receipt_duplicates(
        session=session,
        org_id=org_id,
        amount=Decimal(transaction.amount),
        day=transaction.date,
        deal_id=transaction.deal_id,
        counterparty=transaction.counterparty,
        exclude_transaction_id=transaction.id,
    )


def record_expense(
    *,
    session: Session,
    org_id: uuid.UUID,
    expense_in: ExpenseCreate,
    principal: Principal | None = None,
) -> ExpenseResult:
    """Book an expense in a category (optionally on a deal) and report its budget lines.

    With ``enforce_budget`` an expense that would take a budget line over is refused
    (BudgetWouldBeExceededError) and nothing is written.
    """
    transaction = record_transaction(
        session=session,
        org_id=org_id,
        transaction_in=TransactionCreate(
            type=TransactionType.expense,
            category=expense_in.category,
            amount=expense_in.amount,
            date=expense_in.date,
            description=expense_in.description,
            deal_id=expense_in.deal_id,
            account_id=expense_in.account_id,
            counterparty=expense_in.counterparty,
            receipt_document_id=expense_in.receipt_document_id,
            receipt_url=expense_in.receipt_url,
            project_id=expense_in.project_id,
        ),
        principal=principal,
        enforce_budget=expense_in.enforce_budget,
    )
    budgets = _budgets_for(
        session=session,
        org_id=org_id,
        deal_id=transaction.deal_id,
        category=TransactionCategory(expense_in.category),
        day=transaction.date,
        lock=False,
    )
    duplicates = possible_duplicates(session=session, org_id=org_id, transaction=transaction)
    if duplicates:
        log.info(
            "possible duplicate expense booked",
            extra={"transaction_id": str(transaction.id), "duplicates": len(duplicates)},
        )
    return ExpenseResult(
        transaction=transaction,
        budgets=[_status_line(b) for b in budgets],
        possible_duplicates=duplicates,
    )


def get_transaction(
    *, session: Session, org_id: uuid.UUID, transaction_id: uuid.UUID
) -> Transaction | None:
    """One of the organisation's transactions, or None."""
    row = session.get(Transaction, transaction_id)
    return row if row is not None and row.org_id == org_id else None


def get_transaction_by_source_event(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID
) -> Transaction | None:
    """The transaction an event booked, or None."""
    return session.exec(
        select(Transaction).where(
            Transaction.org_id == org_id, Transaction.source_event_id == event_id
        )
    ).first()


@dataclass(frozen=True)
class TransactionPage:
    """A page of transactions and how many match in all."""

    items: list[Transaction]
    total: int
    limit: int | None
    offset: int


def list_transactions(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID | None = None,
    category: TransactionCategory | str | None = None,
    type: TransactionType | None = None,  # noqa: A002  (the API's filter name)
    start: dt.date | None = None,
    end: dt.date | None = None,
    account_id: uuid.UUID | None = None,
    limit: int | None = 50,
    offset: int = 0,
    principal: Principal | None = None,
    counterparty: str | None = None,
) -> TransactionPage:
    """The organisation's transactions, newest first, filtered and paged.

    ``counterparty`` keeps the transactions whose payee or payer contains it (case ignored).
    ``limit=None``: every matching transaction, no page (the CSV export).

    An investor sees only the transactions of deals they may see (none of the company's
    overhead); naming a deal they may not see is "not found".
    """
    if start and end and end < start:
        raise FinanceValidationError("end must be on or after start")
    if limit is not None and not 1 <= limit <= 500:
        raise FinanceValidationError("limit must be between 1 and 500")
    if offset < 0:
        raise FinanceValidationError("offset must not be negative")
    conditions: list[Any] = [Transaction.org_id == org_id]
    if deal_id is not None:
        if principal is not None:
            require_deal(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
        conditions.append(Transaction.deal_id == deal_id)
    elif principal is not None and principal.role == Role.investor:
        from domain.deal import service as deal_service  # late: keeps the modules' imports apart

        # Every deal they may see, not the first page of them.
        visible = deal_service.visible_deal_ids(org_id=org_id, principal=principal)
        conditions.append(col(Transaction.deal_id).in_(visible))
    if category is not None:
        try:
            conditions.append(Transaction.category == parse_category(category).value)
        except ValueError as exc:
            raise FinanceValidationError(str(exc)) from exc
    if type is not None:
        conditions.append(Transaction.type == type.value)
    if start is not None:
        conditions.append(col(Transaction.date) >= start)
    if end is not None:
        conditions.append(col(Transaction.date) <= end)
    if account_id is not None:
        conditions.append(
            or_(
                col(Transaction.account_id) == account_id,
                col(Transaction.to_account_id) == account_id,
            )
        )
    if counterparty is not None:
        needle = " ".join(counterparty.split())
        if not needle:
            raise FinanceValidationError("counterparty must not be blank")
        if len(needle) > 200:
            raise FinanceValidationError("counterparty is at most 200 characters")
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        # "mid american" also finds "MidAmerican Energy": letters and digits only, case aside.
        compact = "".join(ch for ch in needle.casefold() if ch.isalnum())
        said = col(Transaction.counterparty).ilike(f"%{escaped}%", escape="\\")
        squeezed = func.regexp_replace(
            func.lower(col(Transaction.counterparty)), "[^[:alnum:]]", "", "g"
        )
        conditions.append(or_(said, squeezed.contains(compact)) if compact else said)
    where = and_(*conditions)
    total = session.execute(select(func.count()).select_from(Transaction).where(where)).scalar_one()
    rows = session.exec(
        select(Transaction)
        .where(where)
        .order_by(
            col(Transaction.date).desc(), col(Transaction.created_at).desc(), col(Transaction.id)
        )
        .limit(limit)
        .offset(offset)
    ).all()
    return TransactionPage(items=list(rows), total=int(total), limit=limit, offset=offset)


TRANSACTIONS_CSV_HEADER = [
    "id",
    "date",
    "type",
    "category",
    "schedule_e_line",
    "amount",
    "signed_amount",
    "counterparty",
    "description",
    "deal_id",
    "project_id",
    "account_id",
    "to_account_id",
    "receipt_url",
    "receipt_document_id",
    "source_event_id",
    "created_at",
]


def transactions_csv(rows: Sequence[Transaction]) -> str:
    """Transactions as CSV, a header row then one row each, in the order given.

    Money is the exact stored decimal (two places; ``signed_amount`` with its type's sign:
    numbers, never escaped); free text (counterparty, description, receipt URL) is escaped
    against CSV injection (``csv_text_cell``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRANSACTIONS_CSV_HEADER)
    for t in rows:
        kind = TransactionType(t.type)
        category = TransactionCategory(t.category) if t.category else None
        amount = Decimal(t.amount)
        writer.writerow(
            [
                t.id,
                t.date.isoformat(),
                kind.value,
                category.value if category else "",
                (category.schedule_e_line or "") if category else "",
                f"{amount:.2f}",
                f"{kind.signed(amount):.2f}",
                csv_text_cell(t.counterparty),
                csv_text_cell(t.description),
                t.deal_id or "",
                t.project_id or "",
                t.account_id or "",
                t.to_account_id or "",
                csv_text_cell(t.receipt_url),
                t.receipt_document_id or "",
                t.source_event_id or "",
                t.created_at.isoformat() if t.created_at else "",
            ]
        )
    return out.getvalue()


@dataclass(frozen=True)
class DealBooked:
    """What is booked on a deal in one category, as the deal's P&L counts it."""

    category: str
    amount: Decimal
    """income: income less its voids; spending: expenses and payments less refunds."""
    entries: int
    """the transactions in the category, voids and the transactions they void left out."""
    first_date: dt.date | None
    last_date: dt.date | None


def booked_on_deal(
    *, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID, categories: Sequence[str]
) -> dict[str, DealBooked]:
    """The deal's ledger in ``categories`` at any date: a category with nothing left is absent.

    The amounts are the deal's P&L by category (``reports.pnl_from_rows``), whatever the
    deal's status: "what did we pay" reads the purchase booked, not the deal's working price.
    """
    wanted = set(categories)
    rows = [
        r
        for r in fetch_rows(session=session, org_id=org_id, end=dt.date.max, deal_id=deal_id)
        if r.category in wanted
    ]
    voids = void_pairs(session=session, org_id=org_id, transaction_ids=[r.id for r in rows])
    gone = set(voids) | set(voids.values())
    live = [r for r in rows if r.id not in gone and not r.is_void]
    total = pnl_from_rows(
        rows, org_id=org_id, start=dt.date.min, end=dt.date.max, deal_id=deal_id
    ).total
    found: dict[str, DealBooked] = {}
    for category, amount in (*total.income.items(), *total.expenses.items()):
        entries = [r for r in live if r.category == category]
        if amount == 0 and not entries:
            continue
        found[category] = DealBooked(
            category=category,
            amount=amount,
            entries=len(entries),
            first_date=min((r.date for r in entries), default=None),
            last_date=max((r.date for r in entries), default=None),
        )
    return found


# --- voids -------------------------------------------------------------------------------

# The offsetting entry of each type a void books. Income's is an expense in the income's own
# category (the ledger has no negative income): reports count an expense in an income
# category as income taken back, budgets never count it (see ``void_transaction``).
_VOID_TYPE: dict[TransactionType, TransactionType] = {
    TransactionType.income: TransactionType.expense,
    TransactionType.expense: TransactionType.refund,
    TransactionType.payment: TransactionType.refund,
    TransactionType.refund: TransactionType.expense,
    TransactionType.transfer: TransactionType.transfer,
}


@dataclass(frozen=True)
class TransactionVoid:
    """A voided transaction and the offsetting entry that cancels it."""

    voided: Transaction
    reversal: Transaction
    reason: str


def _source_event(session: Session, transaction: Transaction) -> OutboxEvent | None:
    """The outbox event that booked (or announced) a transaction, if any."""
    if transaction.source_event_id is None:
        return None
    return session.get(OutboxEvent, transaction.source_event_id)


def find_void(
    *, session: Session, org_id: uuid.UUID, transaction_id: uuid.UUID
) -> Transaction | None:
    """The offsetting entry that voids a transaction, or None when it is not voided."""
    return session.exec(
        select(Transaction)
        .join(OutboxEvent, col(OutboxEvent.id) == col(Transaction.source_event_id))
        .where(
            Transaction.org_id == org_id,
            OutboxEvent.name == "transaction.created",
            col(OutboxEvent.payload)[VOIDS_KEY].astext == str(transaction_id),
        )
    ).first()


def void_transaction(
    *,
    session: Session,
    org_id: uuid.UUID,
    transaction_id: uuid.UUID,
    reason: str,
    principal: Principal | None = None,
) -> TransactionVoid:
    """Void a transaction booked by mistake with an offsetting entry; the original stays.

    The ledger is append-only, as for a voided project expense (which finance books as a
    refund): an expense or payment is cancelled by a refund, a refund by an expense, a
    transfer by the transfer back, income by an expense in the income's own category (the
    ledger has no negative income; the P&L counts it as income taken back, budgets never
    count it), each with the original's category, amount, date, deal, project, account and
    counterparty, described "void of transaction <id>: <reason>" (income's void carries no
    project: income never reached a project's spent, and spending on a project would).
    Balances, budgets, the P&L and deal performance net the pair to zero; the cash flow
    counts neither. Errors: NotFoundError (not this organisation's), FinanceValidationError
    (no reason), ConflictError (already voided, itself a void, or booked from a project
    expense: void that on the project), ClosedPeriodError (its month is closed).
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise FinanceValidationError("a void needs a reason: say why the transaction is voided")
    if len(reason) > 500:
        raise FinanceValidationError("a void's reason is at most 500 characters")
    original = session.exec(
        select(Transaction)
        .where(Transaction.org_id == org_id, Transaction.id == transaction_id)
        .with_for_update()  # two voids at once: the second waits, then sees the first
        .execution_options(populate_existing=True)
    ).first()
    if original is None:
        raise NotFoundError(f"Transaction {transaction_id} not found in this organisation")
    source = _source_event(session, original)
    if source is not None and (
        source.name == PROJECT_VOID_EVENT or (source.payload or {}).get(VOIDS_KEY)
    ):
        voided = (source.payload or {}).get(VOIDS_KEY) or (source.payload or {}).get(
            "voided_expense_id"
        )
        raise ConflictError(
            f"transaction {original.id} is itself a void (of {voided}); a void cannot be voided"
            " (book the transaction again instead)"
        )
    if source is not None and source.name == "construction.expense.added":
        project = (source.payload or {}).get("project_id")
        expense = (source.payload or {}).get("expense_id")
        raise ConflictError(
            f"transaction {original.id} was booked from project expense {expense}: void it on"
            f" the project (POST /projects/{project}/expenses/{expense}/void) so the project"
            " and the ledger stay in step"
        )
    earlier = find_void(session=session, org_id=org_id, transaction_id=original.id)
    if earlier is not None:
        raise ConflictError(
            f"transaction {original.id} was already voided on "
            f"{local_day(earlier.created_at).isoformat()} (void {earlier.id})"
        )
    kind = TransactionType(original.type)
    if closed_month(session=session, org_id=org_id, day=original.date) is not None:
        raise ClosedPeriodError(
            f"The books for {original.date:%B %Y} are closed: transaction {original.id} dated"
            f" {original.date.isoformat()} cannot be voided. Reopen the period first."
        )
    reverse = kind is TransactionType.transfer
    description = f"void of transaction {original.id}: {reason}"[:MAX_DESCRIPTION]
    reversal = record_transaction(
        session=session,
        org_id=org_id,
        transaction_in=TransactionCreate(
            type=_VOID_TYPE[kind],
            category=TransactionCategory(original.category) if original.category else None,
            amount=Decimal(original.amount),
            date=original.date,
            description=description,
            deal_id=original.deal_id,
            account_id=original.to_account_id if reverse else original.account_id,
            to_account_id=original.account_id if reverse else None,
            counterparty=original.counterparty,
            project_id=None if kind is TransactionType.income else original.project_id,
        ),
        principal=principal,
        voids_transaction_id=original.id,
    )
    _audit(
        session=session,
        principal=principal,
        action="void",
        entity="transaction",
        entity_id=original.id,
        changes={
            "reversal_id": str(reversal.id),
            "type": str(original.type),
            "amount": str(original.amount),
            "date": original.date.isoformat(),
            "reason": reason,
        },
    )
    return TransactionVoid(voided=original, reversal=reversal, reason=reason)


# --- bookings from other modules' events ---------------------------------------------------


def book_construction_expense(
    *,
    session: Session,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    payload: dict[str, Any],
    event_name: str = "construction.expense.added",
    transaction_type: TransactionType = TransactionType.expense,
) -> Transaction:
    """Book a construction expense from ``construction.expense.added``; once per event.

    ``book_construction_expense_void`` books a voided expense's reversal through the same
    path, as a refund (``transaction_type``) in the same category.

    The payload carries ``amount`` and optionally ``deal_id``, ``project_id``, ``category``
    (a category or alias; unknown or missing: ``other``, the original label kept in the
    description), ``date`` (default: the event's day) and ``description``. An expense dated
    in a closed month is booked on the first day of the next open month, noting the
    original date, since the construction side cannot redate it.
    """
    existing = get_transaction_by_source_event(session=session, org_id=org_id, event_id=event_id)
    if existing is not None:
        return existing
    raw_category = payload.get("category")
    notes: list[str] = []
    try:
        category = parse_category(str(raw_category)) if raw_category else TransactionCategory.other
    except ValueError:
        category = TransactionCategory.other
        notes.append(f"construction category {raw_category!r}")
    if category.kind is not CategoryKind.expense:
        notes.append(f"construction category {raw_category!r}")
        category = TransactionCategory.other
    try:
        amount = check_amount(Decimal(str(payload["amount"])))
    except (KeyError, ArithmeticError) as exc:
        raise FinanceValidationError(f"{event_name} {event_id} has no usable amount") from exc
    raw_date = payload.get("date")
    try:
        day = dt.date.fromisoformat(str(raw_date)[:10]) if raw_date else local_today()
    except ValueError as exc:
        raise FinanceValidationError(
            f"{event_name} {event_id} has an invalid date {str(raw_date)[:40]!r}"
        ) from exc
    booked_day = first_open_day(session=session, org_id=org_id, day=day)
    if booked_day != day:
        notes.append(f"dated {day.isoformat()}, in a closed month")
    deal_id = event_uuid(payload, "deal_id", event_id)
    project_id = event_uuid(payload, "project_id", event_id)
    if project_id is not None:
        try:
            project = _require_project(session=session, org_id=org_id, project_id=project_id)
        except NotFoundError:
            # Booked all the same (nothing accepted is dropped), but never linked to a project
            # that is not this organisation's.
            notes.append(f"project {project_id} not found in this organisation")
            project_id = None
        else:
            if project.deal_id is not None and deal_id != project.deal_id:
                # The project's deal is where its costs belong (never another deal's budget).
                if deal_id is not None:
                    notes.append(f"event named deal {deal_id}")
                deal_id = project.deal_id
    description = str(payload.get("description") or "Construction expense")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if len(description) + len(suffix) > MAX_DESCRIPTION:
        # Construction allows a long name plus a long note; the expense is booked all the
        # same (nothing accepted is dropped), its description shortened to fit.
        keep = max(MAX_DESCRIPTION - len(suffix) - 1, 0)
        description = description[:keep] + "…"
    description = (description + suffix)[:MAX_DESCRIPTION]
    counterparty = payload.get("contractor") or payload.get("vendor")
    try:
        transaction_in = TransactionCreate(
            type=transaction_type,
            category=category,
            amount=amount,
            date=booked_day,
            description=description,
            deal_id=deal_id,
            project_id=project_id,
            counterparty=str(counterparty) if counterparty is not None else None,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise FinanceValidationError(
            f"{event_name} {event_id} is not a valid expense: {problems}"
        ) from exc
    return record_transaction(
        session=session, org_id=org_id, transaction_in=transaction_in, source_event_id=event_id
    )


def book_construction_expense_void(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID, payload: dict[str, Any]
) -> Transaction:
    """Book a voided project expense from ``construction.expense.voided``; once per event.

    The payload is ``construction.expense.added``'s (``amount`` positive: the sum voided) plus
    ``expense_id`` (the reversal) and ``voided_expense_id``. It is booked as a refund in the
    same category on the same deal and project, so the ledger, the deal's budgets and the P&L
    drop by the amount the expense had added; construction's mirror of finance transactions
    skips it (its ``source_event_id`` is the reversal's ``event_id``).
    """
    return book_construction_expense(
        session=session,
        org_id=org_id,
        event_id=event_id,
        payload={"description": "Voided construction expense", **payload},
        event_name="construction.expense.voided",
        transaction_type=TransactionType.refund,
    )


def event_uuid(payload: dict[str, Any], key: str, event_id: uuid.UUID) -> uuid.UUID | None:
    """The payload's ``key`` as an id (None when absent); FinanceValidationError if malformed."""
    raw = payload.get(key)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise FinanceValidationError(
            f"event {event_id} has an invalid {key} {str(raw)[:40]!r} (not an id)"
        ) from exc
