"""Finance tools: a deal's budget, and P&L and cash flow from the ledger.

Investors ask about their own deals only: the deal is looked up with their principal, and
organisation-wide reports are for the team.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_today
from domain.analysis.formatting import cents
from domain.auth.enums import Role
from domain.finance import service as finance_service
from domain.finance.reports import NO_COUNTERPARTY, NO_DEAL, PnlGroup
from tools._common import ToolError, money, run_tool
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


TOOLS: list[BaseTool] = [budget_status, pnl, cashflow]
