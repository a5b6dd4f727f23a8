"""P&L, cash flow and Schedule E from the ledger, and their CSV exports.

The queries fetch the ledger rows in scope; the figures are computed by pure functions over
those rows (``pnl_from_rows``, ``cashflow_from_rows``), so they can be checked by hand.

- P&L: income by category (income transactions), expenses by category (expenses and
  payments, less refunds), net = income - expenses. Transfers are left out (they are neither).
  Purchase and rehab are shown as costs, which is what a flip's P&L needs; for a rental they
  are capital items, which is why they carry no Schedule E line.
- Cash flow: inflows (income, refunds, transfers into a named account) and outflows (expenses,
  payments, transfers out of a named account) per group, with an opening balance (every flow
  in scope before the start) and a closing balance (opening + net). Without an account filter
  transfers are left out, since both legs are the organisation's own money. A void (the
  offsetting entry of a transaction booked by mistake: ``POST /transactions/{id}/void``, or a
  voided project expense) is no money moving: it cancels its original, so it takes back the
  original's outflow (or inflow) instead of counting as money in (or out).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from domain.finance.enums import (
    CATEGORY_INFO,
    SPENDING_TYPES,
    CategoryKind,
    ReportGrouping,
    TransactionCategory,
    TransactionType,
)
from domain.finance.models import Transaction
from store.outbox import OutboxEvent

ZERO = Decimal("0.00")
MAX_PERIODS = 1200  # a hundred years of months
NO_DEAL = "no_deal"
NO_COUNTERPARTY = "no_counterparty"
# The ``transaction.created`` payload key that makes a transaction the void of another one.
VOIDS_KEY = "voids_transaction_id"
# The event construction publishes for a voided project expense (finance books it as a refund).
PROJECT_VOID_EVENT = "construction.expense.voided"
TRANSFER_GROUP = "transfer"
LEDGER_SOURCE = "financial_service.transactions"


class ReportInputError(ValueError):
    """A report's parameters do not make sense (end before start, too long a range ...)."""


@dataclass(frozen=True)
class LedgerRow:
    """The few fields of a transaction that reports read."""

    id: uuid.UUID
    date: dt.date
    type: TransactionType
    category: str | None
    amount: Decimal
    deal_id: uuid.UUID | None
    account_id: uuid.UUID | None
    to_account_id: uuid.UUID | None
    counterparty: str | None = None
    is_void: bool = False


def is_void_event() -> ColumnElement[bool]:
    """True for an outbox row that booked a void (joined on ``source_event_id``)."""
    return or_(
        col(OutboxEvent.name) == PROJECT_VOID_EVENT,
        and_(
            col(OutboxEvent.name) == "transaction.created",
            col(OutboxEvent.payload)[VOIDS_KEY].astext.is_not(None),
        ),
    )


# --- periods -----------------------------------------------------------------------------


def period_bounds(day: dt.date, grouping: ReportGrouping) -> tuple[dt.date, dt.date]:
    """The first and last day of the month, quarter or year containing ``day``."""
    if grouping is ReportGrouping.year:
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    if grouping is ReportGrouping.quarter:
        first_month = 3 * ((day.month - 1) // 3) + 1
        start = dt.date(day.year, first_month, 1)
        months = 3
    elif grouping is ReportGrouping.month:
        start = dt.date(day.year, day.month, 1)
        months = 1
    else:
        raise ReportInputError(f"{grouping.value} is not a period")
    year, month = divmod(start.month - 1 + months, 12)
    end = dt.date(start.year + year, month + 1, 1) - dt.timedelta(days=1)
    return start, end


def period_key(day: dt.date, grouping: ReportGrouping) -> str:
    """The label of the period containing ``day``: 2024-03, 2024-Q1 or 2024."""
    if grouping is ReportGrouping.year:
        return f"{day.year}"
    if grouping is ReportGrouping.quarter:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def periods(
    start: dt.date, end: dt.date, grouping: ReportGrouping
) -> list[tuple[str, dt.date, dt.date]]:
    """Every period from ``start`` to ``end`` as (key, first day, last day), clipped to them."""
    result: list[tuple[str, dt.date, dt.date]] = []
    day = start
    while day <= end:
        first, last = period_bounds(day, grouping)
        result.append((period_key(day, grouping), max(first, start), min(last, end)))
        if len(result) > MAX_PERIODS:
            raise ReportInputError(f"the range has more than {MAX_PERIODS} periods")
        day = last + dt.timedelta(days=1)
    return result


def check_range(start: dt.date, end: dt.date) -> None:
    """Refuse a range that ends before it starts."""
    if end < start:
        raise ReportInputError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if (end - start).days > 366 * 100:
        raise ReportInputError("the range is longer than a hundred years")


# --- fetching ----------------------------------------------------------------------------


def fetch_rows(
    *,
    session: Session,
    org_id: uuid.UUID,
    end: dt.date,
    start: dt.date | None = None,
    deal_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
) -> list[LedgerRow]:
    """The organisation's ledger rows dated up to ``end`` (from ``start`` when given)."""
    query = (
        select(Transaction, is_void_event())
        .outerjoin(OutboxEvent, col(OutboxEvent.id) == col(Transaction.source_event_id))
        .where(Transaction.org_id == org_id, col(Transaction.date) <= end)
    )
    if start is not None:
        query = query.where(col(Transaction.date) >= start)
    if deal_id is not None:
        query = query.where(Transaction.deal_id == deal_id)
    if account_id is not None:
        query = query.where(
            or_(
                col(Transaction.account_id) == account_id,
                col(Transaction.to_account_id) == account_id,
            )
        )
    rows = session.exec(query.order_by(col(Transaction.date), col(Transaction.id))).all()
    return [
        LedgerRow(
            id=row.id,
            date=row.date,
            type=TransactionType(row.type),
            category=row.category,
            amount=Decimal(row.amount),
            deal_id=row.deal_id,
            account_id=row.account_id,
            to_account_id=row.to_account_id,
            counterparty=row.counterparty,
            is_void=bool(void),
        )
        for row, void in rows
    ]


def deal_addresses(
    *, session: Session, org_id: uuid.UUID, deal_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The property address of each of the organisation's deals named (absent: unknown)."""
    from domain.deal.models import Deal  # late: keeps the modules' imports apart
    from domain.property.models import Property

    wanted = sorted(set(deal_ids))
    if not wanted:
        return {}
    rows = session.exec(
        select(Deal.id, Property)
        .join(Property, col(Property.id) == col(Deal.property_id))
        .where(col(Deal.id).in_(wanted), Deal.org_id == org_id, Property.org_id == org_id)
    ).all()
    result: dict[uuid.UUID, str] = {}
    for deal_id, prop in rows:
        line = prop.address_line or (prop.address or {}).get("label")
        place = ", ".join(part for part in (prop.city, prop.state) if part)
        zip_code = f" {prop.zip_code}" if prop.zip_code else ""
        if line:
            result[deal_id] = f"{line}, {place}{zip_code}" if place else str(line)
    return result


# --- P&L ---------------------------------------------------------------------------------


class PnlGroup(BaseModel):
    """Income and expenses by category for one group (a period, a deal, a category or all)."""

    key: str
    address: str | None = Field(
        default=None, description="group_by=deal: the deal's property address"
    )
    start: dt.date | None = None
    end: dt.date | None = None
    income: dict[str, Decimal]
    expenses: dict[str, Decimal]
    total_income: Decimal
    total_expenses: Decimal
    net: Decimal
    transaction_count: int


class PnlReport(BaseModel):
    """Profit and loss over a date range, optionally for one deal, grouped as asked.

    The groups are paged (``limit`` of them from ``offset``, in key order: periods oldest
    first, deals by id, counterparties and categories by name); ``total`` is the P&L of every
    group in the range, never of the page, and ``group_count`` says how many groups there are.
    """

    org_id: uuid.UUID
    start: dt.date
    end: dt.date
    deal_id: uuid.UUID | None
    group_by: ReportGrouping | None
    groups: list[PnlGroup] = Field(
        description="this page of groups (the same as items; the name from before paging)"
    )
    items: list[PnlGroup] = Field(
        default_factory=list, description="this page of groups (the same as groups)"
    )
    total: PnlGroup = Field(
        description="the P&L of ALL groups in the range (every page), not of this page"
    )
    group_count: int = Field(default=0, description="groups in the report, over all pages")
    limit: int | None = Field(default=None, description="groups per page (null: every group)")
    offset: int = Field(default=0, description="groups skipped before this page")
    basis: str
    source: str = LEDGER_SOURCE


# An income category: any other type in one is the void of income (an expense there).
_INCOME_CATEGORIES = frozenset(
    c.value for c, i in CATEGORY_INFO.items() if i.kind is CategoryKind.income
)


def _pnl_effect(row: LedgerRow) -> tuple[str, str, Decimal] | None:
    """(section, category, amount) a row adds to a P&L, or None for a transfer."""
    if row.type is TransactionType.transfer or row.category is None:
        return None
    if row.type is TransactionType.income:
        return "income", row.category, row.amount
    if row.category in _INCOME_CATEGORIES:
        return "income", row.category, -row.amount  # the void of income takes it back
    if row.type in SPENDING_TYPES:
        return "expenses", row.category, row.amount
    return "expenses", row.category, -row.amount  # a refund takes spending back


def _pnl_group(
    key: str, rows: Iterable[LedgerRow], start: dt.date | None = None, end: dt.date | None = None
) -> PnlGroup:
    """Sum rows into one P&L group."""
    income: dict[str, Decimal] = defaultdict(lambda: ZERO)
    expenses: dict[str, Decimal] = defaultdict(lambda: ZERO)
    count = 0
    for row in rows:
        effect = _pnl_effect(row)
        if effect is None:
            continue
        section, category, amount = effect
        (income if section == "income" else expenses)[category] += amount
        count += 1
    total_income = sum(income.values(), ZERO)
    total_expenses = sum(expenses.values(), ZERO)
    return PnlGroup(
        key=key,
        start=start,
        end=end,
        income=dict(sorted(income.items())),
        expenses=dict(sorted(expenses.items())),
        total_income=total_income,
        total_expenses=total_expenses,
        net=total_income - total_expenses,
        transaction_count=count,
    )


def counterparty_key(value: str | None) -> str:
    """A counterparty as a group key: spacing collapsed (case is folded by ``_group_key``)."""
    text = " ".join((value or "").split())
    return text or NO_COUNTERPARTY


def _group_key(
    row: LedgerRow, grouping: ReportGrouping, spellings: dict[str, str] | None = None
) -> str:
    """The group a row falls in (counterparties: one group per name whatever its case)."""
    if grouping.is_period:
        return period_key(row.date, grouping)
    if grouping is ReportGrouping.deal:
        return str(row.deal_id) if row.deal_id else NO_DEAL
    if grouping is ReportGrouping.counterparty:
        name = counterparty_key(row.counterparty)
        if spellings is None:
            return name
        # The first spelling met names the group ("Home Depot" and "HOME DEPOT" are one).
        return spellings.setdefault(name.casefold(), name)
    return row.category or TRANSFER_GROUP


def pnl_from_rows(
    rows: list[LedgerRow],
    *,
    org_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    deal_id: uuid.UUID | None = None,
    group_by: ReportGrouping | None = None,
    addresses: dict[uuid.UUID, str] | None = None,
) -> PnlReport:
    """A P&L from ledger rows already limited to the range (and deal).

    ``addresses`` (deal id -> property address) labels the groups of ``group_by=deal``.
    """
    groups: list[PnlGroup] = []
    if group_by is not None:
        buckets: dict[str, list[LedgerRow]] = defaultdict(list)
        spellings: dict[str, str] = {}
        for row in rows:
            if _pnl_effect(row) is not None:
                buckets[_group_key(row, group_by, spellings)].append(row)
        if group_by.is_period:
            groups = [
                _pnl_group(key, buckets.get(key, []), first, last)
                for key, first, last in periods(start, end, group_by)
            ]
        else:
            groups = [_pnl_group(key, buckets[key]) for key in sorted(buckets)]
        if group_by is ReportGrouping.deal and addresses:
            for group in groups:
                if group.key != NO_DEAL:
                    group.address = addresses.get(uuid.UUID(group.key))
    return PnlReport(
        org_id=org_id,
        start=start,
        end=end,
        deal_id=deal_id,
        group_by=group_by,
        groups=groups,
        items=groups,
        group_count=len(groups),
        total=_pnl_group("total", rows, start, end),
        basis=(
            f"transactions dated {start.isoformat()} to {end.isoformat()}"
            + (f" on deal {deal_id}" if deal_id else "")
            + "; income = income transactions; expenses = expenses and payments less refunds;"
            " transfers excluded"
        ),
    )


def pnl(
    *,
    session: Session,
    org_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    deal_id: uuid.UUID | None = None,
    group_by: ReportGrouping | str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> PnlReport:
    """Profit and loss: income and expenses by category and net, grouped by period/deal/category.

    ``limit``/``offset`` page the groups (None: every group, as the agent's tool and the CSV
    export read them); the totals always cover every group.
    """
    check_range(start, end)
    grouping = ReportGrouping(group_by) if group_by is not None else None
    rows = fetch_rows(session=session, org_id=org_id, start=start, end=end, deal_id=deal_id)
    addresses = None
    if grouping is ReportGrouping.deal:
        addresses = deal_addresses(
            session=session, org_id=org_id, deal_ids=[r.deal_id for r in rows if r.deal_id]
        )
    report = pnl_from_rows(
        rows,
        org_id=org_id,
        start=start,
        end=end,
        deal_id=deal_id,
        group_by=grouping,
        addresses=addresses,
    )
    return page_groups(report, limit=limit, offset=offset)


def page_groups(report: PnlReport, *, limit: int | None, offset: int = 0) -> PnlReport:
    """The report with ``limit`` of its groups from ``offset`` (its totals unchanged)."""
    if limit is not None and limit < 1:
        raise ReportInputError("limit must be at least 1")
    if offset < 0:
        raise ReportInputError("offset must be 0 or more")
    every = report.groups
    page = every[offset : offset + limit] if limit is not None else every[offset:]
    return report.model_copy(
        update={
            "groups": page,
            "items": page,
            "group_count": len(every),
            "limit": limit,
            "offset": offset,
        }
    )


# --- cash flow ---------------------------------------------------------------------------


class CashflowRow(BaseModel):
    """Money in and out of one group, between its opening and closing balances."""

    key: str
    address: str | None = Field(
        default=None, description="group_by=deal: the deal's property address"
    )
    start: dt.date | None = None
    end: dt.date | None = None
    opening_balance: Decimal
    inflows: Decimal
    outflows: Decimal
    net: Decimal
    closing_balance: Decimal
    transaction_count: int


class CashflowReport(BaseModel):
    """Cash flow over a date range, per period (or deal, or category)."""

    org_id: uuid.UUID
    start: dt.date
    end: dt.date
    deal_id: uuid.UUID | None
    account_id: uuid.UUID | None
    group_by: ReportGrouping
    rows: list[CashflowRow]
    opening_balance: Decimal
    inflows: Decimal
    outflows: Decimal
    net: Decimal
    closing_balance: Decimal
    basis: str
    source: str = LEDGER_SOURCE


def cash_legs(row: LedgerRow, account_id: uuid.UUID | None) -> Iterator[Decimal]:
    """The signed cash movements a row makes, seen from ``account_id`` (or the whole org)."""
    if row.type is TransactionType.transfer:
        if account_id is None:
            return  # both legs are the organisation's own money
        if row.account_id == account_id:
            yield -row.amount
        if row.to_account_id == account_id:
            yield row.amount
        return
    if account_id is None or row.account_id == account_id:
        yield row.type.signed(row.amount)


def _flows(rows: Iterable[LedgerRow], account_id: uuid.UUID | None) -> tuple[Decimal, Decimal, int]:
    """(inflows, outflows, number of rows that moved money).

    A void cancels its original: its leg takes back the original's flow (the void of an
    expense lowers outflows; it is not money in), so the pair nets to nothing on both sides.
    """
    inflows = outflows = ZERO
    count = 0
    for row in rows:
        moved = False
        for leg in cash_legs(row, account_id):
            moved = True
            if row.is_void:
                if leg > 0:
                    outflows -= leg
                else:
                    inflows += leg
            elif leg > 0:
                inflows += leg
            else:
                outflows -= leg
        count += moved
    return inflows, outflows, count


def cashflow_from_rows(
    rows: list[LedgerRow],
    *,
    org_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    deal_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    group_by: ReportGrouping = ReportGrouping.month,
    addresses: dict[uuid.UUID, str] | None = None,
) -> CashflowReport:
    """A cash flow from ledger rows dated up to ``end`` (earlier rows give the opening).

    ``addresses`` (deal id -> property address) labels the rows of ``group_by=deal``.
    """
    before = [r for r in rows if r.date < start]
    within = [r for r in rows if start <= r.date <= end]
    opening_in, opening_out, _ = _flows(before, account_id)
    opening = opening_in - opening_out
    report_rows: list[CashflowRow] = []
    if group_by.is_period:
        buckets: dict[str, list[LedgerRow]] = defaultdict(list)
        for row in within:
            buckets[period_key(row.date, group_by)].append(row)
        balance = opening
        for key, first, last in periods(start, end, group_by):
            inflows, outflows, count = _flows(buckets.get(key, []), account_id)
            net = inflows - outflows
            report_rows.append(
                CashflowRow(
                    key=key,
                    start=first,
                    end=last,
                    opening_balance=balance,
                    inflows=inflows,
                    outflows=outflows,
                    net=net,
                    closing_balance=balance + net,
                    transaction_count=count,
                )
            )
            balance += net
    else:
        before_groups: dict[str, list[LedgerRow]] = defaultdict(list)
        within_groups: dict[str, list[LedgerRow]] = defaultdict(list)
        spellings: dict[str, str] = {}
        for row in before:
            before_groups[_group_key(row, group_by, spellings)].append(row)
        for row in within:
            within_groups[_group_key(row, group_by, spellings)].append(row)
        for key in sorted(set(before_groups) | set(within_groups)):
            o_in, o_out, _ = _flows(before_groups.get(key, []), account_id)
            inflows, outflows, count = _flows(within_groups.get(key, []), account_id)
            if o_in == o_out == inflows == outflows == 0 and count == 0:
                continue
            net = inflows - outflows
            address = None
            if group_by is ReportGrouping.deal and addresses and key != NO_DEAL:
                address = addresses.get(uuid.UUID(key))
            report_rows.append(
                CashflowRow(
                    key=key,
                    address=address,
                    opening_balance=o_in - o_out,
                    inflows=inflows,
                    outflows=outflows,
                    net=net,
                    closing_balance=o_in - o_out + net,
                    transaction_count=count,
                )
            )
    inflows, outflows, _ = _flows(within, account_id)
    scope = f"account {account_id}" if account_id else "the organisation (transfers excluded)"
    return CashflowReport(
        org_id=org_id,
        start=start,
        end=end,
        deal_id=deal_id,
        account_id=account_id,
        group_by=group_by,
        rows=report_rows,
        opening_balance=opening,
        inflows=inflows,
        outflows=outflows,
        net=inflows - outflows,
        closing_balance=opening + inflows - outflows,
        basis=(
            f"cash movements of {scope}"
            + (f" on deal {deal_id}" if deal_id else "")
            + f" dated {start.isoformat()} to {end.isoformat()}; opening balance = every"
            " movement in scope dated before the start; inflows = income, refunds and"
            " transfers in; outflows = expenses, payments and transfers out; a void cancels"
            " its original (it takes back the original's outflow or inflow, never money in)"
        ),
    )


def cashflow(
    *,
    session: Session,
    org_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    deal_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    group_by: ReportGrouping | str = ReportGrouping.month,
) -> CashflowReport:
    """Cash flow: inflows, outflows and net per period (or deal/category), opening to closing."""
    check_range(start, end)
    grouping = ReportGrouping(group_by)
    rows = fetch_rows(
        session=session, org_id=org_id, end=end, deal_id=deal_id, account_id=account_id
    )
    addresses = None
    if grouping is ReportGrouping.deal:
        addresses = deal_addresses(
            session=session, org_id=org_id, deal_ids=[r.deal_id for r in rows if r.deal_id]
        )
    return cashflow_from_rows(
        rows,
        org_id=org_id,
        start=start,
        end=end,
        deal_id=deal_id,
        account_id=account_id,
        group_by=grouping,
        addresses=addresses,
    )


# --- Schedule E --------------------------------------------------------------------------


class ScheduleELine(BaseModel):
    """One line of Schedule E, Part I, with the categories that fill it."""

    line: int
    label: str
    amount: Decimal
    categories: list[str]


class ScheduleESummary(BaseModel):
    """A tax year's Schedule E figures from the ledger (rental categories only)."""

    org_id: uuid.UUID
    year: int
    deal_id: uuid.UUID | None
    lines: list[ScheduleELine]
    total_expenses: Decimal  # line 20
    income_or_loss: Decimal  # line 21 before any other adjustments
    excluded_categories: dict[str, Decimal]
    basis: str
    source: str = LEDGER_SOURCE


def schedule_e(
    *, session: Session, org_id: uuid.UUID, year: int, deal_id: uuid.UUID | None = None
) -> ScheduleESummary:
    """Sum a year's ledger into Schedule E lines 3 and 5-19; flip categories listed aside."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    report = pnl(session=session, org_id=org_id, start=start, end=end, deal_id=deal_id)
    amounts = {**report.total.income, **report.total.expenses}
    lines: list[ScheduleELine] = []
    excluded: dict[str, Decimal] = {}
    by_line: dict[int, list[TransactionCategory]] = defaultdict(list)
    for category, info in CATEGORY_INFO.items():
        if info.schedule_e_line is not None:
            by_line[info.schedule_e_line].append(category)
        elif category.value in amounts:
            excluded[category.value] = amounts[category.value]
    for line in sorted(by_line):
        cats = by_line[line]
        lines.append(
            ScheduleELine(
                line=line,
                label=CATEGORY_INFO[cats[0]].schedule_e_label or CATEGORY_INFO[cats[0]].label,
                amount=sum((amounts.get(c.value, ZERO) for c in cats), ZERO),
                categories=[c.value for c in cats],
            )
        )
    rents = sum((ln.amount for ln in lines if ln.line == 3), ZERO)
    expenses = sum((ln.amount for ln in lines if ln.line >= 5), ZERO)
    return ScheduleESummary(
        org_id=org_id,
        year=year,
        deal_id=deal_id,
        lines=lines,
        total_expenses=expenses,
        income_or_loss=rents - expenses,
        excluded_categories=excluded,
        basis=f"P&L for {year} mapped to Schedule E lines by category; " + report.basis,
    )


# --- CSV ---------------------------------------------------------------------------------

PNL_CSV_HEADER = ["group", "start", "end", "section", "category", "schedule_e_line", "amount"]
# group_by=deal adds the deal's property address as a last column (P&L and cash flow).
PNL_CSV_ADDRESS = "address"
CASHFLOW_CSV_HEADER = [
    "group",
    "start",
    "end",
    "opening_balance",
    "inflows",
    "outflows",
    "net",
    "closing_balance",
    "transaction_count",
]


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters a spreadsheet may skip before a formula: white space (str.strip: spaces,
# no-break spaces, new lines ...), a byte order mark and the zero-width characters.
_SKIPPED = "\ufeff\u200b\u200c\u200d\u2060"


def csv_text_cell(value: str | None) -> str:
    """A free-text cell for a CSV download: a leading ``'`` stops a formula (= + - @ ...).

    Payee names and addresses come from people and contractors' calls: "=HYPERLINK(...)" as
    a counterparty opened as a live formula in the P&L export. A formula behind blanks
    (``" =1+1"``, a no-break space, a new line, a BOM or a zero-width space first) is
    escaped too: the first character that is not blank decides.
    """
    if not value:
        return ""
    start = next(
        (i for i, char in enumerate(value) if not (char.isspace() or char in _SKIPPED)),
        len(value),
    )
    if value.startswith(_FORMULA_STARTS) or value[start:].startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _iso(day: dt.date | None) -> str:
    """A date as ISO text, or empty."""
    return day.isoformat() if day else ""


def pnl_csv(report: PnlReport) -> str:
    """The P&L as CSV: a row per category per group, then totals and net; the 'total' group last.

    Grouped by deal, each row ends with the deal's property address (an ``address`` column).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    by_deal = report.group_by is ReportGrouping.deal
    writer.writerow([*PNL_CSV_HEADER, PNL_CSV_ADDRESS] if by_deal else PNL_CSV_HEADER)
    for group in [*report.groups, report.total]:
        frame = [csv_text_cell(group.key), _iso(group.start), _iso(group.end)]
        tail = [csv_text_cell(group.address)] if by_deal else []
        for section, values in (("income", group.income), ("expense", group.expenses)):
            for category, amount in values.items():
                line = TransactionCategory(category).schedule_e_line
                writer.writerow([*frame, section, category, line or "", f"{amount:.2f}", *tail])
        writer.writerow([*frame, "total_income", "", "", f"{group.total_income:.2f}", *tail])
        writer.writerow([*frame, "total_expenses", "", "", f"{group.total_expenses:.2f}", *tail])
        writer.writerow([*frame, "net", "", "", f"{group.net:.2f}", *tail])
    return out.getvalue()


def cashflow_csv(report: CashflowReport) -> str:
    """The cash flow as CSV: a row per group, then a 'total' row.

    Grouped by deal, each row ends with the deal's property address (an ``address`` column).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    by_deal = report.group_by is ReportGrouping.deal
    writer.writerow([*CASHFLOW_CSV_HEADER, PNL_CSV_ADDRESS] if by_deal else CASHFLOW_CSV_HEADER)
    total = CashflowRow(
        key="total",
        start=report.start,
        end=report.end,
        opening_balance=report.opening_balance,
        inflows=report.inflows,
        outflows=report.outflows,
        net=report.net,
        closing_balance=report.closing_balance,
        transaction_count=sum(row.transaction_count for row in report.rows),
    )
    for row in [*report.rows, total]:
        writer.writerow(
            [
                csv_text_cell(row.key),
                _iso(row.start),
                _iso(row.end),
                f"{row.opening_balance:.2f}",
                f"{row.inflows:.2f}",
                f"{row.outflows:.2f}",
                f"{row.net:.2f}",
                f"{row.closing_balance:.2f}",
                row.transaction_count,
                *([csv_text_cell(row.address)] if by_deal else []),
            ]
        )
    return out.getvalue()
