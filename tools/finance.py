"""Finance tools: a deal's budget, and P&L and cash flow from the ledger.

Investors ask about their own deals only: the deal is looked up with their principal, and
organisation-wide reports are for the team.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.auth.enums import Role
from domain.finance import service as finance_service
from tools._common import ToolError, money, run_tool
from tools.deal import resolve_deal

OptionalDealRef = Annotated[str | None, Field(max_length=300)]


def _money_map(values: dict[str, Any]) -> dict[str, str]:
    return {key: money(value) for key, value in values.items()}


def _scope(session: Session, ctx: Context, deal: str | None) -> tuple[Any | None, dict[str, Any]]:
    """The deal asked about (or None: the whole organisation, for the team only)."""
    if deal:
        found = resolve_deal(session, ctx, deal)
        return found.id, {"deal_id": found.id}
    if ctx.role not in (Role.admin, Role.analyst):
        raise ToolError("say which of your deals (its id or its property's address)")
    return None, {"deal_id": None, "scope": "the whole organisation"}


def _period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    end = end or dt.date.today()
    return start or dt.date(end.year, 1, 1), end


@tool(parse_docstring=True)
def budget_status(
    runtime: ToolRuntime[Context], deal: Annotated[str, Field(max_length=300)]
) -> dict[str, Any]:
    """A deal's budget: allocated, spent and remaining per line, and what is over budget.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address.

    """
    ctx = runtime.context
    ctx.progress("checking the budget…")

    def body(session: Session) -> dict[str, Any]:
        found = resolve_deal(session, ctx, deal)
        status = finance_service.budget_status(
            session=session, org_id=ctx.org_id, deal_id=found.id, principal=ctx.principal
        )
        return {
            "deal_id": found.id,
            "lines": [
                {
                    "label": line.label,
                    "allocated": money(line.allocated),
                    "spent": money(line.spent),
                    "remaining": money(line.remaining),
                    "over_budget": line.over_budget,
                }
                for line in status.lines
            ],
            "total_allocated": money(status.total_allocated),
            "total_spent": money(status.total_spent),
            "total_remaining": money(status.total_remaining),
            "over_budget": status.over_budget,
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
) -> dict[str, Any]:
    """Profit and loss from the ledger: income and expenses by category, and net.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address; leave
            out for the whole organisation (team only).
        start: First day (default: 1 January of the end date's year).
        end: Last day (default: today).

    """
    ctx = runtime.context
    ctx.progress("adding up the P&L…")

    def body(session: Session) -> dict[str, Any]:
        deal_id, scope = _scope(session, ctx, deal)
        first, last = _period(start, end)
        report = finance_service.pnl(
            session=session, org_id=ctx.org_id, start=first, end=last, deal_id=deal_id
        )
        total = report.total
        return scope | {
            "start": report.start,
            "end": report.end,
            "income": _money_map(total.income),
            "expenses": _money_map(total.expenses),
            "total_income": money(total.total_income),
            "total_expenses": money(total.total_expenses),
            "net": money(total.net),
            "transactions": total.transaction_count,
            "source": report.source,
        }

    return run_tool(ctx, "pnl", body)


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
            "opening_balance": money(report.opening_balance),
            "inflows": money(report.inflows),
            "outflows": money(report.outflows),
            "net": money(report.net),
            "closing_balance": money(report.closing_balance),
            "source": report.source,
        }

    return run_tool(ctx, "cashflow", body)


TOOLS: list[BaseTool] = [budget_status, pnl, cashflow]
