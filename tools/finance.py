"""Finance tools: a deal's budget, P&L and cash flow, and the bookkeeper's ledger work.

Investors ask about their own deals only: the deal is looked up with their principal, and
organisation-wide reports are for the team. Booking and voiding ledger transactions needs
an admin or analyst (as ``POST /transactions`` and ``POST /transactions/{id}/void``);
closing and reopening a month's books an admin (as ``POST``/``DELETE /closed-periods``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_day, local_today
from domain.analysis.formatting import cents
from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.finance import service as finance_service
from domain.finance.enums import (
    CategoryKind,
    TransactionCategory,
    TransactionType,
    parse_category,
)
from domain.finance.models import ClosedPeriod, Transaction, TransactionCreate
from domain.finance.reports import (
    NO_COUNTERPARTY,
    NO_DEAL,
    PROJECT_VOID_EVENT,
    VOIDS_KEY,
    PnlGroup,
)
from domain.property import service as property_service
from store.outbox import OutboxEvent
from tools._common import (
    ToolError,
    address_label,
    money,
    parse_uuid,
    require_roles,
    require_user,
    run_tool,
)
from tools.deal import deal_row, resolve_deal

OptionalDealRef = Annotated[str | None, Field(max_length=300)]


def ledger_money(value: Decimal | None) -> str:
    """An amount as the ledger keeps it: ``$30,000`` when whole, else ``$1,000.40``, ``-$0.40``.

    Whole-dollar rounding would contradict the figures beside it (spent "$1,000" of "$1,000"
    yet over budget; income "$2" less expenses "$1,000" shown as net "-$999").
    """
    if value is None:
        return money(None)
    amount = Decimal(value)
    return money(amount) if amount == amount.to_integral_value() else cents(amount)


def _money_map(values: dict[str, Any]) -> dict[str, str]:
    return {key: ledger_money(value) for key, value in values.items()}


def _scope(session: Session, ctx: Context, deal: str | None) -> tuple[Any | None, dict[str, Any]]:
    """The deal asked about (or None: the whole organisation, for the team only)."""
    if deal:
        found = resolve_deal(session, ctx, deal)
        return found.id, {"deal_id": found.id, "address": deal_row(session, found)["address"]}
    if ctx.role not in (Role.admin, Role.analyst):
        raise ToolError("say which of your deals (its id or its property's address)")
    return None, {"deal_id": None, "scope": "the whole organisation"}


def _period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    end = end or local_today()
    return start or dt.date(end.year, 1, 1), end


@tool(parse_docstring=True)
def budget_status(runtime: ToolRuntime[Context], deal: OptionalDealRef = None) -> dict[str, Any]:
    """A deal's budget: allocated, spent and remaining per line, and what is over budget.

    Without a deal: every deal (the user may see) whose budget has a line or the total over
    ("which deals are over budget?"), worst first, with the lines over and by how much.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address; leave
            out for the deals over budget.

    """
    ctx = runtime.context
    ctx.progress("checking the budget…")

    def over_budget(session: Session) -> dict[str, Any]:
        found = finance_service.deals_over_budget(
            session=session, org_id=ctx.org_id, principal=ctx.principal
        )
        deals = []
        for status in found[:MAX_GROUPS_SHOWN]:
            deal_obj = resolve_deal(session, ctx, str(status.deal_id))
            deals.append(
                {
                    "deal_id": status.deal_id,
                    "address": deal_row(session, deal_obj)["address"],
                    "total_allocated": ledger_money(status.total_allocated),
                    "total_spent": ledger_money(status.total_spent),
                    "over_by": ledger_money(status.over_by) if status.over_budget else None,
                    "lines_over": [
                        {"label": line.label, "over_by": ledger_money(line.over_by)}
                        for line in status.lines
                        if line.over_budget
                    ],
                }
            )
        return {
            "scope": "deals over budget",
            "count": len(found),
            "deals": deals,
            "not_shown": len(found) - len(deals),
            "source": "financial_service.budgets and transactions",
        }

    def body(session: Session) -> dict[str, Any]:
        if not deal:
            return over_budget(session)
        found = resolve_deal(session, ctx, deal)
        status = finance_service.budget_status(
            session=session, org_id=ctx.org_id, deal_id=found.id, principal=ctx.principal
        )
        return {
            "deal_id": found.id,
            "address": deal_row(session, found)["address"],
            "lines": [
                {
                    "label": line.label,
                    "allocated": ledger_money(line.allocated),
                    "spent": ledger_money(line.spent),
                    "remaining": ledger_money(line.remaining),
                    "over_budget": line.over_budget,
                }
                for line in status.lines
            ],
            "total_allocated": ledger_money(status.total_allocated),
            "total_spent": ledger_money(status.total_spent),
            "total_remaining": ledger_money(status.total_remaining),
            "over_by": ledger_money(status.over_by),
            "over_budget": status.over_budget,
            # A negative remaining is money over: say "over by", never "-$X left".
            "over_lines": [
                {"label": line.label, "over_by": ledger_money(line.over_by)}
                for line in status.lines
                if line.over_budget
            ],
            # Lines counting the same spending (the totals count it once).
            "overlaps": [
                f"{o.label} is {'part of' if o.nested else 'overlaps'} {o.overlaps_label}"
                f" ({ledger_money(o.shared_spent)} counted in both; totals count it once)"
                for o in status.overlaps
            ],
            "unbudgeted_spending": _money_map(status.unbudgeted_spending),
            "source": "financial_service.budgets and transactions",
        }

    return run_tool(ctx, "budget_status", body)


@tool(parse_docstring=True)
def pnl(
    runtime: ToolRuntime[Context],
    deal: OptionalDealRef = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    group_by: Literal["month", "quarter", "deal", "counterparty"] | None = None,
    counterparty: Annotated[str | None, Field(min_length=2, max_length=200)] = None,
) -> dict[str, Any]:
    """Profit and loss from the ledger: income and expenses by category, and net.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address; leave
            out for the whole organisation (team only).
        start: First day (default: 1 January of the end date's year).
        end: Last day (default: today).
        group_by: Split it into groups: by month, quarter, deal or counterparty (the payee
            or payer) — "p&l by deal this year", "spending by vendor".
        counterparty: Only money paid to or received from this payee or payer (part of the
            name, any case): "what did we spend at Home Depot?" is "Home Depot".

    """
    ctx = runtime.context
    ctx.progress("adding up the P&L…")

    def body(session: Session) -> dict[str, Any]:
        deal_id, scope = _scope(session, ctx, deal)
        first, last = _period(start, end)
        grouping = "counterparty" if counterparty else group_by
        report = finance_service.pnl(
            session=session,
            org_id=ctx.org_id,
            start=first,
            end=last,
            deal_id=deal_id,
            group_by=grouping,
        )
        groups = report.groups
        total = report.total
        named: dict[str, Any] = {}
        if counterparty:
            # "mid american" finds "MidAmerican Energy": letters and digits only, case aside.
            wanted = _letters_and_digits(counterparty)
            groups = [g for g in groups if wanted in _letters_and_digits(g.key)]
            total = _sum_groups(groups, report.total)
            named = {"counterparty": counterparty, "matched": [g.key for g in groups]}
        result = scope | {
            "start": report.start,
            "end": report.end,
            "income": _money_map(total.income),
            "expenses": _money_map(total.expenses),
            "total_income": ledger_money(total.total_income),
            "total_expenses": ledger_money(total.total_expenses),
            "net": ledger_money(total.net),
            "transactions": total.transaction_count,
            "source": report.source,
            **named,
        }
        if group_by and not counterparty:
            shown = groups[:MAX_GROUPS_SHOWN]
            result |= {
                "group_by": group_by,
                "groups": [
                    {
                        "label": g.address or _GROUP_WORDS.get(g.key, g.key),
                        "income": ledger_money(g.total_income),
                        "expenses": ledger_money(g.total_expenses),
                        "net": ledger_money(g.net),
                    }
                    for g in shown
                ],
                "groups_not_shown": len(groups) - len(shown),
            }
        return result

    return run_tool(ctx, "pnl", body)


# The catch-all groups' keys, as a person reads them.
_GROUP_WORDS = {NO_DEAL: "not on a deal", NO_COUNTERPARTY: "no payee named"}
# The most groups a P&L reply lists (the REST report and its CSV have them all).
MAX_GROUPS_SHOWN = 24


def _letters_and_digits(name: str) -> str:
    """A payee's name as compared: its letters and digits, case aside.

    "Mid-American", "mid american" and "MidAmerican" are one name.
    """
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def _sum_groups(groups: list[PnlGroup], like: PnlGroup) -> PnlGroup:
    """The groups added up (the P&L of one counterparty, or of none when nothing matched)."""
    income: dict[str, Decimal] = {}
    expenses: dict[str, Decimal] = {}
    for group in groups:
        for key, value in group.income.items():
            income[key] = income.get(key, Decimal(0)) + value
        for key, value in group.expenses.items():
            expenses[key] = expenses.get(key, Decimal(0)) + value
    total_income = sum((g.total_income for g in groups), Decimal(0))
    total_expenses = sum((g.total_expenses for g in groups), Decimal(0))
    return like.model_copy(
        update={
            "key": "total",
            "income": income,
            "expenses": expenses,
            "total_income": total_income,
            "total_expenses": total_expenses,
            "net": total_income - total_expenses,
            "transaction_count": sum(g.transaction_count for g in groups),
        }
    )


@tool(parse_docstring=True)
def cashflow(
    runtime: ToolRuntime[Context],
    deal: OptionalDealRef = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """Cash flow from the ledger: opening balance, inflows, outflows, net and closing balance.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address; leave
            out for the whole organisation (team only).
        start: First day (default: 1 January of the end date's year).
        end: Last day (default: today).

    """
    ctx = runtime.context
    ctx.progress("working out the cash flow…")

    def body(session: Session) -> dict[str, Any]:
        deal_id, scope = _scope(session, ctx, deal)
        first, last = _period(start, end)
        report = finance_service.cashflow(
            session=session, org_id=ctx.org_id, start=first, end=last, deal_id=deal_id
        )
        return scope | {
            "start": report.start,
            "end": report.end,
            "opening_balance": ledger_money(report.opening_balance),
            "inflows": ledger_money(report.inflows),
            "outflows": ledger_money(report.outflows),
            "net": ledger_money(report.net),
            "closing_balance": ledger_money(report.closing_balance),
            "source": report.source,
        }

    return run_tool(ctx, "cashflow", body)


# --- bookkeeping: booking and voiding ledger transactions, closing months -------------------

LedgerAmount = Annotated[Decimal, Field(gt=0, le=finance_service.MAX_AMOUNT, decimal_places=2)]
# The furthest ahead a booking may be dated (a project expense's limit, the same mistake).
MAX_DAYS_AHEAD = construction_service.MAX_EXPENSE_DAYS_AHEAD
# The most matching transactions a refusal lists (void_transaction), and closed months shown.
MAX_MATCHES_SHOWN = 10
MAX_CLOSED_SHOWN = 24
# How many of the newest transactions a described void looks through, a page at a time.
_VOID_PAGE = 500
_VOID_PAGES = 10

# Everyday words for the ledger's categories (the enum's values and its aliases also work).
_CATEGORY_WORDS: dict[str, TransactionCategory] = {
    "utility": TransactionCategory.utilities,
    "electric": TransactionCategory.utilities,
    "electricity": TransactionCategory.utilities,
    "gas": TransactionCategory.utilities,
    "water": TransactionCategory.utilities,
    "sewer": TransactionCategory.utilities,
    "trash": TransactionCategory.utilities,
    "taxes": TransactionCategory.taxes,
    "property tax": TransactionCategory.taxes,
    "property taxes": TransactionCategory.taxes,
    "rent": TransactionCategory.rents_received,
    "rents": TransactionCategory.rents_received,
    "rent received": TransactionCategory.rents_received,
    "management fee": TransactionCategory.management_fees,
    "property management": TransactionCategory.management_fees,
    "repair": TransactionCategory.repairs,
    "hoa": TransactionCategory.other,
    "hoa dues": TransactionCategory.other,
    "hoa fees": TransactionCategory.other,
    "ad": TransactionCategory.advertising,
    "ads": TransactionCategory.advertising,
    "advert": TransactionCategory.advertising,
    "marketing": TransactionCategory.advertising,
    "listing": TransactionCategory.advertising,
    "mortgage": TransactionCategory.mortgage_interest,
    "lawn": TransactionCategory.cleaning_and_maintenance,
    "landscaping": TransactionCategory.cleaning_and_maintenance,
    "accounting": TransactionCategory.legal_and_professional_fees,
    "mileage": TransactionCategory.auto_and_travel,
    "commission": TransactionCategory.commissions,
    "supply": TransactionCategory.supplies,
}


def ledger_category(word: str) -> TransactionCategory:
    """The ledger category a word names ("property tax" -> taxes, "rent" -> rents_received)."""
    key = " ".join(word.lower().replace("_", " ").replace("-", " ").split())
    key = key.removesuffix(" expense").removesuffix(" expenses").removesuffix(" bill")
    if key in _CATEGORY_WORDS:
        return _CATEGORY_WORDS[key]
    try:
        return parse_category(key)
    except ValueError:
        pass
    raise ToolError(
        f"{word!r} is not a ledger category: use one of "
        f"{', '.join(c.value for c in TransactionCategory)} (or utilities, taxes, insurance, "
        "rent, management, repairs, hoa)"
    )


_MONTH_NAMES = {
    **{name.lower(): n for n, name in enumerate(calendar.month_name) if name},
    **{name.lower(): n for n, name in enumerate(calendar.month_abbr) if name},
    "sept": 9,
}


def parse_month(text: str, today: dt.date | None = None) -> dt.date:
    """A month said as ``2026-10``, ``10/2026``, ``october 2026`` or ``october``: its first day.

    A month named without a year is the latest one that has begun ("close october" in
    November is the October just gone; in March, last year's).
    """
    today = today or local_today()
    said = " ".join(text.lower().replace(",", " ").split())
    said = re.sub(r"\b(?:the|books?|of|for|month)\b", " ", said)
    said = " ".join(said.split()).rstrip(".")
    if said in {"this", "current"}:
        return today.replace(day=1)
    if said in {"last", "previous"}:
        return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    year: int | None = None
    number: int | None = None
    if found := re.fullmatch(r"(\d{4})-(\d{1,2})(?:-\d{1,2})?", said):
        year, number = int(found.group(1)), int(found.group(2))
    elif found := re.fullmatch(r"(\d{1,2})/(\d{4})", said):
        number, year = int(found.group(1)), int(found.group(2))
    elif found := re.fullmatch(r"([a-z]+)\.?(?:\s+(\d{4}))?", said):
        number = _MONTH_NAMES.get(found.group(1))
        year = int(found.group(2)) if found.group(2) else None
    if number is None or not 1 <= number <= 12 or (year is not None and year < 1900):
        raise ToolError(
            f"{text!r} is not a month: say it as YYYY-MM, or its name ('october', 'october 2026')"
        )
    if year is None:
        year = today.year if number <= today.month else today.year - 1
    return dt.date(year, number, 1)


def _month_label(month: dt.date) -> str:
    return f"{month:%B %Y}"


def _short(value: uuid.UUID) -> str:
    """The first 8 characters of an id, as replies show it."""
    return value.hex[:8]


def _deal_address(session: Session, ctx: Context, deal_id: uuid.UUID | None) -> str | None:
    if deal_id is None:
        return None
    address: str | None = deal_row(session, resolve_deal(session, ctx, str(deal_id)))["address"]
    return address


def _duplicate_warning(
    duplicates: Sequence[finance_service.PossibleDuplicate], transaction: Transaction
) -> str | None:
    """A heads-up, in chat words, that the same receipt looks booked already."""
    if not duplicates:
        return None
    earlier = "; ".join(
        f"project expense {_short(d.id)} (void it on its project)"
        if d.kind == "project_expense"
        else f"transaction {_short(d.id)}"
        for d in duplicates[:5]
    )
    payee = " ".join((transaction.counterparty or "").split())
    return (
        f"Heads up: {len(duplicates)} other expense(s) of {ledger_money(transaction.amount)}"
        f" dated {transaction.date.isoformat()}" + (f" to {payee}" if payee else "") + " on the"
        f" same deal were already booked ({earlier}); if this one is a repeat, void transaction"
        f" {_short(transaction.id)}. It is booked all the same."
    )


@tool(parse_docstring=True)
def record_transaction(
    runtime: ToolRuntime[Context],
    amount: LedgerAmount,
    category: Annotated[str, Field(min_length=2, max_length=60)],
    type: Literal["expense", "income", "refund"] | None = None,  # noqa: A002  (the ledger's word)
    deal: OptionalDealRef = None,
    date: dt.date | None = None,
    counterparty: Annotated[str | None, Field(max_length=200)] = None,
    note: Annotated[str | None, Field(max_length=1000)] = None,
) -> dict[str, Any]:
    """Book a rental's operating expense or income in the ledger (not a rehab project's).

    Only when the user says money was paid or received: "paid DTE 92.10 for utilities on
    kellogg on 10/28", "got 1,100 rent from the tenant at 825 ridgewood", "property tax
    1,840 on duff", "insurance 620 for kellogg". Money spent on a rehab project (a scope
    line, a contractor on the job) is `record_expense`, never this. A month whose books are
    closed is refused, nothing booked: say so, and that an admin can reopen it.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        amount: The dollars paid or received, positive, up to 2 decimal places.
        category: What it was for, in a word: utilities, taxes (property tax), insurance,
            rent, management, repairs, cleaning, advertising, mortgage interest, legal,
            hoa or other, or a ledger category's name.
        type: expense (money paid), income (money received) or refund (money paid back on
            an expense: "state farm refunded 110 on duff for the insurance"); omit to take it
            from the category (rent is income, the rest expenses).
        deal: The deal's id (or its first 8 characters), its property's address or bare
            street ("kellogg"); omit only for company overhead on no deal.
        date: The day it was paid or received; omit for today. Not more than 31 days ahead.
        counterparty: Who was paid or who paid ("DTE", "the tenant"), when said.
        note: The user's words, kept as the transaction's description.

    """
    ctx = runtime.context
    ctx.progress("booking it in the ledger…")

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        chosen = ledger_category(category)
        kind = TransactionType(type) if type else None
        if kind is None:  # rent and sale proceeds come in; every other category goes out
            income = chosen.kind is CategoryKind.income
            kind = TransactionType.income if income else TransactionType.expense
        today = local_today()
        day = date or today
        if day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise ToolError(
                f"{day.isoformat()} is more than {MAX_DAYS_AHEAD} days ahead (today is "
                f"{today.isoformat()}): book it when it is paid or received, or check the date"
            )
        found = resolve_deal(session, ctx, deal) if deal else None
        try:
            transaction = finance_service.record_transaction(
                session=session,
                org_id=ctx.org_id,
                transaction_in=TransactionCreate(
                    type=kind,
                    category=chosen,
                    amount=amount,
                    date=day,
                    description=note,
                    deal_id=found.id if found else None,
                    counterparty=" ".join(counterparty.split()) if counterparty else None,
                ),
                principal=ctx.principal,
            )
        except finance_service.ClosedPeriodError as exc:
            raise ToolError(f"Not booked, the month is closed. {exc}") from exc
        duplicates = finance_service.possible_duplicates(
            session=session, org_id=ctx.org_id, transaction=transaction
        )
        address = deal_row(session, found)["address"] if found else None
        label = chosen.info.label.lower()
        where = f" on {address}" if address else " (company overhead, no deal)"
        payee = (
            f" {'from' if kind.direction > 0 else 'to'} {transaction.counterparty}"
            if transaction.counterparty
            else ""
        )
        return {
            "transaction": _short(transaction.id),
            "transaction_id": transaction.id,
            "type": kind.value,
            "category": chosen.value,
            "category_label": chosen.info.label,
            "amount": ledger_money(transaction.amount),
            "date": transaction.date,
            "deal_id": found.id if found else None,
            "address": address,
            "counterparty": transaction.counterparty,
            "possible_duplicates": [_short(d.id) for d in duplicates],
            "warning": _duplicate_warning(duplicates, transaction),
            "summary": (
                f"Booked {ledger_money(transaction.amount)} {label} {kind.value}{payee}{where},"
                f" dated {transaction.date.isoformat()} (transaction {_short(transaction.id)})."
            ),
            "source": f"financial_service.transactions {transaction.id}",
        }

    return run_tool(ctx, "record_transaction", body)


def _closed_row(period: ClosedPeriod) -> dict[str, Any]:
    return {
        "month": f"{period.month:%Y-%m}",
        "label": _month_label(period.month),
        "closed_on": local_day(period.created_at),
        "note": period.note,
    }


@tool(parse_docstring=True)
def books_status(
    runtime: ToolRuntime[Context],
    month: Annotated[str | None, Field(max_length=40)] = None,
) -> dict[str, Any]:
    """Which months' books are closed (nothing may be booked or voided dated in them).

    "are the october books closed?" (that month), "which months are closed?" (leave out
    month: the closed months, latest first).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        month: The month asked about: YYYY-MM, or its name ("october", "october 2026"; a
            name alone is the latest October that has begun); omit for every closed month.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        periods = finance_service.list_closed_periods(
            session=session, org_id=ctx.org_id, limit=MAX_CLOSED_SHOWN
        )
        total = finance_service.count_closed_periods(session=session, org_id=ctx.org_id)
        result: dict[str, Any] = {
            "closed_months": [_closed_row(p) for p in periods],
            "closed_count": total,
            "not_shown": total - len(periods),
            "source": "financial_service.closed_periods",
        }
        if not month:
            listed = ", ".join(_month_label(p.month) for p in periods)
            result["summary"] = (
                f"Closed months ({total}): {listed}." if total else "No month's books are closed."
            )
            return result
        first = parse_month(month)
        period = finance_service.closed_month(session=session, org_id=ctx.org_id, day=first)
        result |= {
            "month": f"{first:%Y-%m}",
            "label": _month_label(first),
            "closed": period is not None,
            "closed_on": local_day(period.created_at) if period else None,
            "note": period.note if period else None,
            "summary": (
                f"The books for {_month_label(first)} are closed (since "
                f"{local_day(period.created_at).isoformat()}): nothing can be booked in it."
                if period
                else f"The books for {_month_label(first)} are open."
            ),
        }
        return result

    return run_tool(ctx, "books_status", body)


@tool(parse_docstring=True)
def close_month(
    runtime: ToolRuntime[Context],
    month: Annotated[str, Field(min_length=3, max_length=40)],
    note: Annotated[str | None, Field(max_length=500)] = None,
) -> dict[str, Any]:
    """Close a month's books (admins only): nothing dated in it can be booked or voided after.

    Only when the user asks to close a month ("close october", "close the books for
    september 2026").

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        month: The month: YYYY-MM, or its name ("october"; a name alone is the latest
            October that has begun).
        note: Why or how it was closed, in the user's words, when said.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin)
        first = parse_month(month)
        today = local_today()
        if first > today.replace(day=1) or (first == today.replace(day=1) and not note):
            # "close november" on November 29: the month is not over, and today's bookings
            # would go to next month. Closing it anyway takes a note saying why.
            raise ToolError(
                f"{_month_label(first)} is not over yet (today is {today.isoformat()}): close it"
                " once it has ended, or say why it must close early (e.g. 'close november,"
                " year-end audit')"
            )
        period = finance_service.close_period(
            session=session,
            org_id=ctx.org_id,
            month=first,
            note=" ".join(note.split()) if note else None,
            principal=ctx.principal,
        )
        return _closed_row(period) | {
            "closed": True,
            "summary": (
                f"Closed the books for {_month_label(first)}: nothing dated in it can be"
                " booked or voided until an admin reopens it."
            ),
            "source": f"financial_service.closed_periods {period.id}",
        }

    return run_tool(ctx, "close_month", body)


@tool(parse_docstring=True)
def reopen_month(
    runtime: ToolRuntime[Context],
    month: Annotated[str, Field(min_length=3, max_length=40)],
) -> dict[str, Any]:
    """Reopen a month whose books were closed (admins only), so it can be booked in again.

    Only when the user asks to reopen a month ("reopen october").

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        month: The month: YYYY-MM, or its name ("october"; a name alone is the latest
            October that has begun).

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin)
        first = parse_month(month)
        if not finance_service.reopen_period(
            session=session, org_id=ctx.org_id, month=first, principal=ctx.principal
        ):
            raise ToolError(f"the books for {_month_label(first)} are not closed")
        return {
            "month": f"{first:%Y-%m}",
            "label": _month_label(first),
            "closed": False,
            "summary": f"Reopened the books for {_month_label(first)}.",
            "source": "financial_service.closed_periods",
        }

    return run_tool(ctx, "reopen_month", body)


# What booked a transaction, as a described void sees it.
_Origin = Literal["ledger", "void", "project", "project_voided"]


def _origins(
    session: Session, org_id: uuid.UUID, rows: Sequence[Transaction]
) -> dict[uuid.UUID, tuple[_Origin, dict[str, Any]]]:
    """Each row's origin: booked in the ledger, a void, or a project expense (voided or not).

    A project expense's ledger row is voided on the project (its payload names it).
    """
    found: dict[uuid.UUID, tuple[_Origin, dict[str, Any]]] = {}
    project_rows: dict[uuid.UUID, uuid.UUID] = {}
    for row in rows:
        event = session.get(OutboxEvent, row.source_event_id) if row.source_event_id else None
        payload = dict(event.payload or {}) if event is not None else {}
        if event is None:
            found[row.id] = ("ledger", payload)
        elif event.name == PROJECT_VOID_EVENT or payload.get(VOIDS_KEY):
            found[row.id] = ("void", payload)
        elif event.name == "construction.expense.added":
            found[row.id] = ("project", payload)
            expense_id = parse_uuid(str(payload.get("expense_id") or ""))
            if expense_id is not None:
                project_rows[row.id] = expense_id
        else:
            found[row.id] = ("ledger", payload)
    voided = construction_service.voided_by(
        session=session, org_id=org_id, expense_ids=list(project_rows.values())
    )
    for row_id, expense_id in project_rows.items():
        if expense_id in voided:
            found[row_id] = ("project_voided", found[row_id][1])
    return found


def _listed(row: Transaction, origin: _Origin) -> str:
    what = row.counterparty or "no payee"
    about = f", {row.description}" if row.description else ""
    project = ", a project expense: void it on its project" if origin == "project" else ""
    return (
        f"{_short(row.id)}: {row.date.isoformat()}, {ledger_money(row.amount)} {row.type}"
        f" ({row.category or 'transfer'}), {what}{about}{project}"
    )[:300]


def _user_words(runtime: ToolRuntime[Context]) -> str | None:
    """The user's latest message, as said (a void's reason when none was given)."""
    state = runtime.state if isinstance(runtime.state, dict) else {}
    said = next(
        (m for m in reversed(state.get("messages") or []) if getattr(m, "type", None) == "human"),
        None,
    )
    text = " ".join(str(said.content).split()) if said is not None else ""
    return text[:500] or None


def _project_refusal(
    session: Session, ctx: Context, row: Transaction, payload: dict[str, Any]
) -> str:
    """Why a project expense's ledger row is not voided here, and what to void instead."""
    expense = str(payload.get("expense_id") or "")
    project_id = parse_uuid(str(payload.get("project_id") or row.project_id or ""))
    where = ""
    if project_id is not None:
        project = construction_service.get_project(
            session=session, org_id=ctx.org_id, project_id=project_id
        )
        prop = (
            property_service.get(
                session=session, org_id=ctx.org_id, property_id=project.property_id
            )
            if project.property_id
            else None
        )
        where = (
            f" on project {_short(project_id)} ({address_label(prop) if prop else project.name})"
        )
    return (
        f"transaction {_short(row.id)} ({ledger_money(row.amount)}, {row.date.isoformat()}) was"
        f" booked from project expense {expense[:8]}{where}: void that expense on the project"
        f" so the project and the ledger stay in step (say 'void expense {expense[:8]} on"
        f" project {_short(project_id) if project_id else '?'}'); nothing was voided"
    )


def _by_id(session: Session, ctx: Context, ref: str) -> list[Transaction]:
    """The transaction an id or its first 6+ hex characters names."""
    text = ref.strip().lower().removeprefix("transaction").strip(" #:")
    full = parse_uuid(text)
    if full is not None:
        row = finance_service.get_transaction(
            session=session, org_id=ctx.org_id, transaction_id=full
        )
        return [row] if row is not None else []
    prefix = text.replace("-", "")
    if not re.fullmatch(r"[0-9a-f]{6,32}", prefix):
        raise ToolError(
            f"{ref.strip()[:60]!r} is not a transaction id: give its first 8 characters"
        )
    hits: list[Transaction] = []
    for page in range(_VOID_PAGES):
        rows = finance_service.list_transactions(
            session=session,
            org_id=ctx.org_id,
            limit=_VOID_PAGE,
            offset=page * _VOID_PAGE,
            principal=ctx.principal,
        ).items
        hits += [t for t in rows if t.id.hex.startswith(prefix)]
        if len(rows) < _VOID_PAGE:
            break
    return hits


@tool(parse_docstring=True)
def void_transaction(
    runtime: ToolRuntime[Context],
    transaction: Annotated[str | None, Field(max_length=60)] = None,
    counterparty: Annotated[str | None, Field(min_length=2, max_length=200)] = None,
    amount: LedgerAmount | None = None,
    category: Annotated[str | None, Field(min_length=2, max_length=60)] = None,
    deal: OptionalDealRef = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    reason: Annotated[str | None, Field(max_length=500)] = None,
) -> dict[str, Any]:
    """Void a ledger transaction booked by mistake: an offsetting entry cancels it.

    Only when the user asks to void, cancel or take back a booked transaction, by its id
    or described: "void the zillow ad expense from october" (counterparty zillow, category
    advertising, October's first and last day), "void the wrong DTE charge on kellogg, the
    870.43 one". When several match, the error lists them (short id, date, amount, payee):
    ask which. An expense booked on a rehab project is voided with `void_expense` on the
    project (the error names it). A closed month's transaction is refused.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        transaction: The transaction's id, or its first 8 characters, when the user gives
            it; else describe it with the arguments below.
        counterparty: Words of the payee or payer, or of its description ("zillow", "DTE").
        amount: Its amount, when said ("the 870.43 one").
        category: Its category in a word ("utilities", "ad", "rent", "taxes").
        deal: The deal's id (or its first 8 characters), its property's address or street.
        start: Earliest date it may have ("from october": October's first day).
        end: Latest date it may have ("from october": October's last day).
        reason: Why it is voided, in the user's words; omit to keep their message as the
            reason.

    """
    ctx = runtime.context
    ctx.progress("finding that transaction…")

    def candidates(session: Session) -> list[Transaction]:
        if transaction:
            return _by_id(session, ctx, transaction)
        if not any((counterparty, amount, category, deal, start, end)):
            raise ToolError(
                "say which transaction: its id, or the payee, amount, category, deal or dates"
            )
        found = resolve_deal(session, ctx, deal) if deal else None
        chosen = ledger_category(category) if category else None
        wanted = _letters_and_digits(counterparty) if counterparty else ""
        rows: list[Transaction] = []
        for page in range(_VOID_PAGES):
            listed = finance_service.list_transactions(
                session=session,
                org_id=ctx.org_id,
                deal_id=found.id if found else None,
                category=chosen,
                start=start,
                end=end,
                limit=_VOID_PAGE,
                offset=page * _VOID_PAGE,
                principal=ctx.principal,
            ).items
            rows += [
                t
                for t in listed
                if (amount is None or Decimal(t.amount) == amount)
                and (
                    not wanted
                    or wanted in _letters_and_digits(t.counterparty or "")
                    or wanted in _letters_and_digits(t.description or "")
                )
            ]
            if len(listed) < _VOID_PAGE:
                break
        return rows

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        rows = candidates(session)
        origins = _origins(session, ctx.org_id, rows)
        voided_ids = set(
            finance_service.void_pairs(
                session=session, org_id=ctx.org_id, transaction_ids=[t.id for t in rows]
            ).values()
        )
        live = [
            t for t in rows if origins[t.id][0] in ("ledger", "project") and t.id not in voided_ids
        ]
        if not live:
            what = "that id" if transaction else "that description"
            gone = " (one was, but it is voided already or is itself a void)" if rows else ""
            raise ToolError(f"no live transaction matches {what}{gone}; nothing was voided")
        if len(live) > 1:
            shown = "; ".join(_listed(t, origins[t.id][0]) for t in live[:MAX_MATCHES_SHOWN])
            more = (
                f" (and {len(live) - MAX_MATCHES_SHOWN} more: narrow it down)"
                if len(live) > MAX_MATCHES_SHOWN
                else ""
            )
            raise ToolError(
                f"{len(live)} transactions match; say which to void (by its short id): "
                f"{shown}{more}. Nothing was voided"
            )
        row = live[0]
        origin, payload = origins[row.id]
        if origin == "project":
            raise ToolError(_project_refusal(session, ctx, row, payload))
        why = " ".join((reason or "").split()) or _user_words(runtime) or "voided in chat"
        try:
            done = finance_service.void_transaction(
                session=session,
                org_id=ctx.org_id,
                transaction_id=row.id,
                reason=why[:500],
                principal=ctx.principal,
            )
        except finance_service.ClosedPeriodError as exc:
            raise ToolError(f"Not voided, the month is closed. {exc}") from exc
        original, reversal = done.voided, done.reversal
        address = _deal_address(session, ctx, original.deal_id)
        payee = f" ({original.counterparty})" if original.counterparty else ""
        return {
            "voided": _short(original.id),
            "voided_transaction_id": original.id,
            "reversal": _short(reversal.id),
            "reversal_id": reversal.id,
            "type": original.type,
            "category": original.category,
            "amount": ledger_money(original.amount),
            "date": original.date,
            "counterparty": original.counterparty,
            "description": original.description,
            "deal_id": original.deal_id,
            "address": address,
            "reason": done.reason,
            "summary": (
                f"Voided transaction {_short(original.id)}: {ledger_money(original.amount)}"
                f" {original.type}{payee} dated {original.date.isoformat()}"
                + (f" on {address}" if address else "")
                + f" (offsetting entry {_short(reversal.id)}; the original stays on record)."
            ),
            "source": f"financial_service.transactions {original.id} voided by {reversal.id}",
        }

    return run_tool(ctx, "void_transaction", body)


TOOLS: list[BaseTool] = [
    budget_status,
    pnl,
    cashflow,
    record_transaction,
    void_transaction,
    books_status,
    close_month,
    reopen_month,
]
