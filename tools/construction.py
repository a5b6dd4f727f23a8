"""Construction tools: a project's progress, its tasks, its bids leveled, and awarding a bid.

Reads are open to the team and investors; awarding a bid, moving an awarded contractor's
start, adding a task or marking one done needs an admin or analyst (the same roles
``POST /projects/{id}/bids/{bidId}/award`` and ``/reschedule``, and ``POST``/``PATCH
/projects/{id}/tasks`` allow). A project is named by its id, the first 6+ characters of its
id, or its property's address.
"""

from __future__ import annotations

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
from agent.planner import NO_REHAB_PROJECT, ONLY_OPEN_PROJECT
from core.clock import local_day, local_today
from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import BidStatus, ExpenseCategory, TaskStatus
from domain.construction.models import (
    Bid,
    Contractor,
    LineProgress,
    Project,
    ScopeItem,
    Task,
    TaskCreate,
    TaskUpdate,
)
from domain.inbox import service as inbox_service
from domain.property import service as property_service
from tools._common import (
    ToolError,
    parse_uuid,
    require_roles,
    require_user,
    resolve_property,
    run_tool,
)
from tools.finance import ledger_money

ProjectRef = Annotated[str, Field(min_length=1, max_length=300)]
_HEX_PREFIX = re.compile(r"^[0-9a-f]{6,32}$", re.I)


def _checked(call: Any) -> Any:
    """Run a service call; its refusals (409 included) become messages the model can act on."""
    try:
        return call()
    except construction_service.ConstructionError as exc:
        raise ToolError(str(exc)) from exc


def resolve_project(session: Session, ctx: Context, ref: str) -> Project:
    """A project of the organisation by id, id prefix (6+ hex digits) or property address.

    ``ONLY_OPEN_PROJECT`` ("the open project"): the one open project the caller may see;
    with several, a ToolError names them so the user can say which.
    """
    if ref.strip().lower() == ONLY_OPEN_PROJECT:
        return _only_open_project(session, ctx)
    text = ref.strip().removeprefix("project").strip(" #:")
    project_id = parse_uuid(text)
    if project_id is not None:
        return _checked(
            lambda: construction_service.require_visible_project(
                session=session, org_id=ctx.org_id, project_id=project_id, principal=ctx.principal
            )
        )
    if _HEX_PREFIX.match(text):
        prefix = text.lower().replace("-", "")
        projects = construction_service.list_projects(
            session=session,
            org_id=ctx.org_id,
            limit=construction_service.MAX_LIST_LIMIT,
            principal=ctx.principal,
        )
        hits = [p for p in projects if p.id.hex.startswith(prefix)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ToolError(f"{len(hits)} projects start with {text!r}: give more of the id")
        raise ToolError(f"project {text} not found")
    if not any(ch.isdigit() for ch in text):
        return _project_on_street(session, ctx, text)  # "the kercheval rehab"
    try:
        prop = resolve_property(session, ctx, address=text)
    except ToolError as exc:
        raise ToolError(f"project {ref!r} not found ({exc})") from exc
    projects = construction_service.list_projects(
        session=session, org_id=ctx.org_id, property_id=prop.id, limit=5, principal=ctx.principal
    )
    if not projects:
        raise ToolError(f"{NO_REHAB_PROJECT}{ref.strip()}")
    return projects[0]  # most recently changed


def _only_open_project(session: Session, ctx: Context) -> Project:
    """The caller's one open project; a ToolError naming them when there are several or none."""
    projects = construction_service.list_projects(
        session=session,
        org_id=ctx.org_id,
        limit=construction_service.MAX_LIST_LIMIT,
        principal=ctx.principal,
    )
    open_ = [p for p in projects if p.status not in construction_service.CLOSED_PROJECT_STATUSES]
    if len(open_) == 1:
        return open_[0]
    if not open_:
        raise ToolError("no open rehab project: name the project by its address or id")
    names = "; ".join(
        construction_service.project_label(session=session, project=p) for p in open_[:5]
    )
    more = f" and {len(open_) - 5} more" if len(open_) > 5 else ""
    raise ToolError(f"which project? The open ones: {names}{more}. Say its address.")


def _project_on_street(session: Session, ctx: Context, street: str) -> Project:
    """The one project the caller may see on a street named without a house number.

    Several: the open ones decide when only one is open; else the caller is asked which.
    """
    name = property_service.street_name(street)
    found = (
        construction_service.projects_on_street(
            session=session, org_id=ctx.org_id, street=name, principal=ctx.principal
        )
        if name
        else []
    )
    if not found:
        raise ToolError(
            f"no project you can see is on a street called {street!r}: give its address or id"
        )
    open_ = [p for p in found if p.status not in construction_service.CLOSED_PROJECT_STATUSES]
    if len(found) == 1 or len(open_) == 1:
        return found[0] if len(found) == 1 else open_[0]
    places = "; ".join(
        construction_service.project_label(session=session, project=p) for p in (open_ or found)[:4]
    )
    raise ToolError(
        f"{len(open_ or found)} projects are on {street!r} ({places}): give the house number"
    )


def _project_row(session: Session, project: Project) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "name": project.name,
        "address": construction_service.project_label(session=session, project=project),
        "status": project.status,
        "deal_id": project.deal_id,
    }


def _scope_line(lines: Sequence[LineProgress], said: str) -> str:
    """The component of the project's scope line ``said`` names ("roof", "the roof line").

    The same name, case aside, else the one line whose name contains it (or it the name);
    a ToolError naming the lines when none or several match.
    """
    wanted = " ".join(said.casefold().removeprefix("the ").removesuffix(" line").split())
    names = [line.component for line in lines]
    exact = [name for name in names if name.casefold() == wanted]
    close = exact or [n for n in names if wanted in n.casefold() or n.casefold() in wanted]
    if len(close) == 1:
        return close[0]
    listed = ", ".join(names) or "none yet"
    if close:
        raise ToolError(f"{len(close)} scope lines match {said!r}: {', '.join(close)}")
    raise ToolError(f"no scope line {said!r} on this project (its lines: {listed})")


@tool(parse_docstring=True)
def project_status(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    line: Annotated[str | None, Field(min_length=2, max_length=80)] = None,
) -> dict[str, Any]:
    """How a rehab project stands: progress by tasks and budget, and schedule slip.

    Gives percent done by tasks and by budget, spent vs budget (and what is left) per scope
    line, days behind schedule and late tasks. Use for "how is the rehab going?"; with
    ``line`` for "what's left on the roof line?".

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address.
        line: One scope line asked about ("roof"): the result names it in ``line_asked``.

    """
    ctx = runtime.context
    ctx.progress("checking the project…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        found = resolve_project(session, ctx, project)
        report = construction_service.progress(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        return {
            **_project_row(session, found),
            "start_date": found.start_date,
            "target_end_date": found.target_end_date,
            "as_of": report.as_of,
            "percent_complete_by_tasks": report.percent_complete_by_tasks,
            "tasks": f"{report.tasks_done} of {report.tasks_total} done",
            "budget": ledger_money(report.budget) if report.budget is not None else None,
            "spent": ledger_money(report.spent),
            "remaining": ledger_money(report.remaining) if report.remaining is not None else None,
            "percent_of_budget_spent": report.percent_complete_by_budget,
            "lines": [
                {
                    "component": line.component,
                    "budgeted": ledger_money(line.budgeted_cost)
                    if line.budgeted_cost is not None
                    else None,
                    "spent": ledger_money(line.spent),
                    "remaining": ledger_money(line.remaining)
                    if line.remaining is not None
                    else None,
                    "over_budget": line.over_budget,
                    **(
                        {"over_by": ledger_money(-line.remaining)}
                        if line.over_budget and line.remaining is not None
                        else {}
                    ),
                }
                for line in report.lines
            ],
            **({"line_asked": _scope_line(report.lines, line)} if line else {}),
            "days_late": report.days_late,
            "schedule_slip_days": report.schedule_slip_days,
            "late_tasks": [
                {"title": t.title, "due_date": t.due_date, "days_late": t.days_late}
                for t in report.late_tasks
            ],
            "milestones": f"{report.milestones_reached} of {report.milestones_total} reached",
            "contractor_messages": [
                {"on": local_day(entry.created_at), "summary": entry.summary}
                for entry in construction_service.contractor_messages(
                    session=session, org_id=ctx.org_id, project_id=found.id, limit=3
                )
            ],
            "sources": report.sources,
            # The team's inbox (contractors' questions, new prices, can't-do's): team only.
            **(
                {
                    "open_action_items": inbox_service.count_open(
                        session=session, org_id=ctx.org_id, project_id=found.id
                    )
                }
                if ctx.role in (Role.admin, Role.analyst)
                else {}
            ),
        }

    return run_tool(ctx, "project_status", body)


@tool(parse_docstring=True)
def list_projects(
    runtime: ToolRuntime[Context],
    over_budget: bool = False,
    behind_schedule: bool = False,
    include_closed: bool = False,
) -> dict[str, Any]:
    """List the rehab projects with their budget, spending and schedule, worst first.

    Open projects only unless include_closed. Use for "show me all projects", "which
    projects are over budget?", "any rehabs behind schedule?".

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        over_budget: Only the projects over budget: the project total or any scope line
            (each project's lines_over_budget names the lines).
        behind_schedule: Only the projects past their target end or with late tasks.
        include_closed: Also list completed and cancelled projects.

    """
    ctx = runtime.context
    ctx.progress("checking the projects…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        rows = construction_service.projects_overview(
            session=session,
            org_id=ctx.org_id,
            principal=ctx.principal,
            include_closed=include_closed,
            over_budget=over_budget,
            behind_schedule=behind_schedule,
        )
        return {
            "filters": {
                "over_budget": over_budget,
                "behind_schedule": behind_schedule,
                "include_closed": include_closed,
            },
            "count": len(rows),
            "total_budget": ledger_money(
                sum((r.progress.budget or Decimal(0) for r in rows), Decimal(0))
            ),
            "total_spent": ledger_money(sum((r.progress.spent for r in rows), Decimal(0))),
            "projects": [
                {
                    **_project_row(session, row.project),
                    "budget": ledger_money(row.progress.budget)
                    if row.progress.budget is not None
                    else None,
                    "spent": ledger_money(row.progress.spent),
                    "percent_of_budget_spent": row.progress.percent_complete_by_budget,
                    "over_budget": row.over_budget,
                    "lines_over_budget": [
                        {
                            "component": line.component,
                            "spent": ledger_money(line.spent),
                            "budgeted": ledger_money(line.budgeted_cost),
                        }
                        for line in row.lines_over_budget
                    ],
                    "schedule_slip_days": row.progress.schedule_slip_days,
                    "tasks": f"{row.progress.tasks_done} of {row.progress.tasks_total} done",
                }
                for row in rows
            ],
            "sources": [
                "the projects you may see, each with its progress as of today "
                "(tasks, expenses booked, budget from the accepted bid or the project)",
                "over budget: the project total or any scope line (over_budget is the total; "
                "lines_over_budget the scope lines spent past their own budgeted cost)",
            ],
        }

    return run_tool(ctx, "list_projects", body)


@tool(parse_docstring=True)
def list_bids(runtime: ToolRuntime[Context], project: ProjectRef) -> dict[str, Any]:
    """Compare a rehab project's contractor bids line by line (bid leveling).

    Scope a bid leaves out is priced at the line's own budget (the cost catalogue only for a
    line with no budget) and flagged; each bid's exclusions, outlier lines (over 3x budget)
    and whether it can still be awarded are given; the lowest bid that can be awarded is
    named. Use before awarding a bid.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address.

    """
    ctx = runtime.context
    ctx.progress("leveling the bids…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        found = resolve_project(session, ctx, project)
        leveling = construction_service.level_bids(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        return {
            **_project_row(session, found),
            "scope": [
                {
                    "scope_item_id": s.id,
                    "component": s.component,
                    "budgeted": ledger_money(s.budgeted_cost)
                    if s.budgeted_cost is not None
                    else None,
                }
                for s in leveling.scope
            ],
            "bids": [
                {
                    "bid_id": b.bid_id,
                    "contractor": b.contractor_name,
                    "status": b.status,
                    "bid_total": ledger_money(b.bid_total) if b.bid_total is not None else None,
                    "complete": b.complete,
                    "missing_lines": [line.component for line in b.lines if line.flagged],
                    "leveled_total": ledger_money(b.leveled_total),
                    "exclusions": b.exclusions,
                    "awardable": b.awardable,
                    "not_awardable_reason": b.not_awardable_reason,
                    "outliers": b.outliers,
                    "withdrawal_reported": b.withdrawal_reported,
                    "withdrawal_reported_on": local_day(b.withdrawal_reported_at)
                    if b.withdrawal_reported_at is not None
                    else None,
                }
                for b in leveling.bids
            ],
            "lowest_complete_bid_id": leveling.lowest_complete_bid_id,
            "lowest_leveled_bid_id": leveling.lowest_leveled_bid_id,
            "basis": leveling.basis,
            # award_bid is the team's (admin, analyst): others are not told to award.
            "caller_may_award": ctx.role in (Role.admin, Role.analyst),
        }

    return run_tool(ctx, "list_bids", body)


def _bid_by_id(bids: Sequence[Bid], bid_id: str) -> Bid:
    """The project's bid an id (or its first 6+ characters) names; a ToolError otherwise."""
    wanted = bid_id.strip().lower().replace("-", "")
    hits = [b for b in bids if b.id.hex.startswith(wanted)]
    if not hits:
        raise ToolError(f"bid {bid_id} is not a bid on this project")
    if len(hits) > 1:
        raise ToolError(f"{len(hits)} bids start with {bid_id!r}: give more of the id")
    return hits[0]


def _bids_of_named(
    session: Session, ctx: Context, bids: Sequence[Bid], contractor: str
) -> tuple[dict[uuid.UUID, str], list[Bid]]:
    """The contractors a name fits (id -> name) and their bids among ``bids``."""
    named = {
        c.id: c.name
        for c in construction_service.contractors_named(
            session=session, org_id=ctx.org_id, name=contractor
        )
    }
    return named, [b for b in bids if b.contractor_id in named]


def _open_bids_of(
    session: Session, ctx: Context, bids: Sequence[Bid], contractor: str
) -> list[Bid]:
    """The one open (received) bid on the project of the contractor named.

    Else a ToolError that names the bids to choose from.
    """
    named, theirs = _bids_of_named(session, ctx, bids, contractor)
    open_bids = [b for b in theirs if b.status == BidStatus.received]
    if len(open_bids) == 1:
        return open_bids
    if not theirs:
        raise ToolError(f"no bid on this project is from a contractor called {contractor!r}")
    if not open_bids:
        raise ToolError(
            f"{contractor!r}'s bid on this project is already "
            + ", ".join(sorted({str(b.status) for b in theirs}))
        )
    listed = ", ".join(
        f"bid {b.id.hex[:8]} from {named[b.contractor_id]} ({ledger_money(b.total_amount)})"
        for b in open_bids
    )
    raise ToolError(f"{len(open_bids)} open bids fit {contractor!r} ({listed}): say which")


@tool(parse_docstring=True)
def award_bid(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    bid_id: Annotated[str | None, Field(min_length=6, max_length=64)] = None,
    contractor: Annotated[str | None, Field(min_length=2, max_length=200)] = None,
) -> dict[str, Any]:
    """Award a contractor's bid, trade by trade: bids on the same scope lines are rejected.

    A bid that prices some scope lines is awarded for those lines (bids on other lines stay
    open); a lump-sum bid (no lines) becomes the whole budget and rejects every other bid.

    Only when the user clearly asks to award or accept that bid.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address.
        bid_id: The bid's id (or its first 8 characters) from list_bids.
        contractor: Or the contractor's name ("Sue", "Hank Ortiz"), when they have one
            open bid on the project (bid_id or contractor is required).

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        found = resolve_project(session, ctx, project)
        bids = construction_service.list_bids(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        if bid_id:
            hits = [_bid_by_id(bids, bid_id)]
        elif contractor:
            hits = _open_bids_of(session, ctx, bids, contractor)
        else:
            raise ToolError("say which bid: its id from the bids list, or the contractor's name")
        result = _checked(
            lambda: construction_service.award_bid(
                session=session,
                org_id=ctx.org_id,
                project_id=found.id,
                bid_id=hits[0].id,
                principal=ctx.principal,
            )
        )
        return {
            **_project_row(session, found),
            "awarded_bid_id": result.bid.id,
            "budget": ledger_money(result.budget),
            "status": result.project.status,
            "rejected_bids": len(result.rejected_bid_ids),
            "scope_lines_rebudgeted": [s.component for s in result.scope_updated],
            "accepted_bids": len(result.accepted_bid_ids),
            "open_bids": sum(
                1
                for b in construction_service.list_bids(
                    session=session, org_id=ctx.org_id, project_id=found.id
                )
                if b.status == BidStatus.received
            ),
            "scope_lines_not_awarded": [
                s.component
                for s in construction_service.list_scope_items(
                    session=session, org_id=ctx.org_id, project_id=found.id
                )
                if s.id in result.scope_not_awarded
            ],
        }

    return run_tool(ctx, "award_bid", body)


def _day(value: dt.date | None) -> str:
    """``Wed Dec 10``, or "no date"."""
    return f"{value:%a %b} {value.day}" if value is not None else "no date"


def _awarded_bid_of(session: Session, ctx: Context, bids: Sequence[Bid], contractor: str) -> Bid:
    """The one awarded (accepted) bid on the project of the contractor named.

    Else a ToolError saying what to give: their bid is still open, or several are awarded.
    """
    named, theirs = _bids_of_named(session, ctx, bids, contractor)
    awarded = [b for b in theirs if b.status == BidStatus.accepted]
    if len(awarded) == 1:
        return awarded[0]
    if not theirs:
        raise ToolError(f"no bid on this project is from a contractor called {contractor!r}")
    if not awarded:
        raise ToolError(
            f"{contractor!r}'s bid on this project is "
            + ", ".join(sorted({str(b.status) for b in theirs}))
            + ", not awarded: only an awarded contractor's start is rescheduled"
        )
    listed = ", ".join(
        f"bid {b.id.hex[:8]} from {named[b.contractor_id]} (start {_day(b.start_date)})"
        for b in awarded
    )
    raise ToolError(f"{len(awarded)} awarded bids fit {contractor!r} ({listed}): say which")


@tool(parse_docstring=True)
def reschedule_contractor(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    start_date: dt.date,
    contractor: Annotated[str | None, Field(min_length=2, max_length=200)] = None,
    bid_id: Annotated[str | None, Field(min_length=6, max_length=64)] = None,
    duration_days: Annotated[int | None, Field(ge=0, le=3650)] = None,
    reason: Annotated[str | None, Field(max_length=500)] = None,
) -> dict[str, Any]:
    """Accept an awarded contractor's new start date: the bid and the project's dates move.

    Use it when the team accepts a new start from a contractor whose bid was awarded ("ray
    says he can't start till the 10th, update it", "move ray's start on kellogg to Dec 10",
    "push hank to monday on kercheval"). The project's start and target end move with it
    when the project's start was that contractor's; their open "confirm start" action items
    are closed. Not for an open bid (award it first) nor for asking a contractor for a date.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address
            or street.
        start_date: The new start, as an ISO date (YYYY-MM-DD): turn "the 10th" or "monday"
            into the next such day; today or later.
        contractor: The contractor's name ("Ray", "Hank's Heating"), when they have one
            awarded bid on the project (contractor or bid_id is required).
        bid_id: Or the awarded bid's id (or its first 8 characters).
        duration_days: The job's new length in days, only when the user gave one.
        reason: Why it moved, in the user's words ("ray can't start till the 10th").

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        found = resolve_project(session, ctx, project)
        bids = construction_service.list_bids(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        if bid_id:
            bid = _bid_by_id(bids, bid_id)
        elif contractor and contractor.strip():
            bid = _awarded_bid_of(session, ctx, bids, contractor)
        else:
            raise ToolError("say whose start moves: the contractor's name or the bid's id")
        result = _checked(
            lambda: construction_service.reschedule_bid(
                session=session,
                org_id=ctx.org_id,
                project_id=found.id,
                bid_id=bid.id,
                start_date=start_date,
                duration_days=duration_days,
                reason=reason,
                principal=ctx.principal,
            )
        )
        where = construction_service.project_label(session=session, project=found)
        was = f" (was {_day(result.old_start_date)})" if result.changed else " (unchanged)"
        summary = f"{result.contractor} now starts {where} on {_day(start_date)}{was}"
        if result.project_start_moved:
            summary += f"; the project now starts {_day(result.project_start_after)}"
            if result.target_end_after != result.target_end_before:
                summary += (
                    f" and its target end moved to {_day(result.target_end_after)} "
                    f"(was {_day(result.target_end_before)})"
                )
        elif result.project_dates_note:
            summary += f"; {result.project_dates_note}"
        if result.action_items_resolved:
            summary += f"; {len(result.action_items_resolved)} confirm-start action item(s) closed"
        return {
            **_project_row(session, found),
            "contractor": result.contractor,
            "bid_id": result.bid.id,
            "old_start_date": result.old_start_date,
            "new_start_date": result.new_start_date,
            "duration_days": result.duration_days,
            "changed": result.changed,
            "project_start": {
                "from": result.project_start_before,
                "to": result.project_start_after,
                "moved": result.project_start_moved,
            },
            "target_end": {"from": result.target_end_before, "to": result.target_end_after},
            "project_dates_note": result.project_dates_note,
            "action_items_closed": len(result.action_items_resolved),
            "summary": summary + ".",
            "source": f"bid {result.bid.id} rescheduled on project {found.id}",
        }

    return run_tool(ctx, "reschedule_contractor", body)


def _contractor_of(session: Session, ctx: Context) -> Contractor:
    """The contractor record of the asking user, found through their account's phone number."""
    contractor = construction_service.contractor_of_user(
        session=session, org_id=ctx.org_id, user_id=require_user(ctx)
    )
    if contractor is None:
        raise ToolError(
            "your account is not linked to a contractor record (the phone numbers differ): "
            "ask the company to add your number"
        )
    return contractor


def _their_project(
    session: Session, rows: list[tuple[Any, Project]], ref: str | None
) -> Project | None:
    """The one project of the contractor's own bids (``rows``) ``ref`` names, or None.

    ``ref``: a project id (an earlier answer's) or words naming its street ("kellogg").
    Only their own bids' projects: never another project.
    """
    if not ref or not ref.strip():
        return None
    wanted = parse_uuid(ref.strip())
    found = {
        project.id: project
        for _bid, project in rows
        if project.id == wanted
        or (wanted is None and construction_service.names_project(session, project, ref))
    }
    return next(iter(found.values())) if len(found) == 1 else None


@tool(parse_docstring=True)
def my_bids(
    runtime: ToolRuntime[Context],
    project: Annotated[str | None, Field(max_length=1000)] = None,
) -> dict[str, Any]:
    """The bids of the contractor who is asking: their own bids only, on any project.

    Use it when a contractor asks about their bids ("did you get my bid?", "was my roof bid
    accepted?", "what's my start date on kellogg?"). It never shows other contractors' bids
    or the projects' budgets.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: Words naming one of their jobs ("kellogg", their message), to show that
            job's bid only; all their bids when it names none of them.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        contractor = _contractor_of(session, ctx)
        rows = construction_service.list_bids_of_contractor(
            session=session, org_id=ctx.org_id, contractor_id=contractor.id
        )
        named = _their_project(session, rows, project)
        if named is not None:
            rows = [(bid, p) for bid, p in rows if p.id == named.id]
        return {
            "contractor": contractor.name,
            "count": len(rows),
            **({"project_id": named.id} if named is not None else {}),
            "bids": [
                {
                    "bid_id": bid.id,
                    "project": construction_service.project_label(session=session, project=project),
                    "total": ledger_money(bid.total_amount),
                    "status": bid.status,
                    "start_date": bid.start_date,
                    "duration_days": bid.duration_days,
                    "submitted": local_day(bid.created_at),
                }
                for bid, project in rows
            ],
            "source": "construction_service.bids of this contractor only",
        }

    return run_tool(ctx, "my_bids", body)


ContractorUpdateKind = Literal[
    "start_date",
    "price",
    "extra",
    "duration",
    "withdraw",
    "progress",
    "question",
    "photo",
    "other",
    "opt_out",
]


@tool(parse_docstring=True)
def contractor_update(
    runtime: ToolRuntime[Context],
    kind: ContractorUpdateKind,
    message: Annotated[str, Field(min_length=1, max_length=1000)],
    start_date: dt.date | None = None,
    amount: Annotated[Decimal | None, Field(gt=0, le=Decimal("9999999999.99"))] = None,
    duration_days: Annotated[int | None, Field(ge=1, le=3650)] = None,
    extra_days: Annotated[int | None, Field(ge=1, le=3650)] = None,
    reason: Annotated[str | None, Field(max_length=200)] = None,
    project: Annotated[str | None, Field(max_length=300)] = None,
) -> dict[str, Any]:
    """Pass what a contractor tells us to the team: recorded on their own bid's project.

    Use it when a contractor gives an update or asks what only the team can answer: a new
    start date ("I can start Monday instead"), a new price ("my price went up to 9,500"), an
    extra cost on top of the bid ("decking is gonna be extra $850": kind extra, a change
    order, not a new price), how long the job takes or how many days more ("need another 2
    days"), that they can't do the job, progress ("finished the tear off today"),
    a question ("who do I invoice?", "lockbox code?"), photos, or anything else for the team;
    and ``opt_out`` when they ask not to be contacted ("stop texting me"). The message is
    kept word for word on the project's activity with an action item for the project
    manager; the bid itself does not change (the team confirms a new date or price).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        kind: What the message is: start_date, price, extra, duration, withdraw,
            progress, question, photo, other, or opt_out.
        message: The contractor's words, as they wrote them.
        start_date: The new start date they give (kind start_date), when it is a day.
        amount: The new price in dollars they give (kind price), or the extra they ask on
            top of it (kind extra).
        duration_days: How many days they say the job takes (kind duration).
        extra_days: How many days more than planned they need (kind duration).
        reason: What it is for or why ("decking", "found rotted decking"), when said.
        project: The job the conversation was about (an earlier answer's project id), used
            when the message names none of their jobs.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.contractor)
        contractor = _contractor_of(session, ctx)
        theirs = construction_service.list_bids_of_contractor(
            session=session, org_id=ctx.org_id, contractor_id=contractor.id
        )
        about = _their_project(session, theirs, project)
        done = _checked(
            lambda: construction_service.record_contractor_update(
                session=session,
                org_id=ctx.org_id,
                contractor_id=contractor.id,
                kind=kind,
                message=message,
                channel=ctx.channel,
                start_date=start_date,
                amount=amount,
                duration_days=duration_days,
                extra_days=extra_days,
                reason=reason,
                project_id=about.id if about is not None else None,
                ask_which=True,
            )
        )
        bids = [
            {
                "project": construction_service.project_label(session=session, project=project),
                "total": ledger_money(bid.total_amount) if bid else None,
                "status": bid.status if bid else None,
                "start_date": bid.start_date if bid else None,
                "duration_days": bid.duration_days if bid else None,
            }
            for project, bid in done.targets
        ]
        return {
            "contractor": contractor.name,
            "kind": kind,
            "recorded": True,
            "passed_to": "the project manager",
            "projects": [b["project"] for b in bids],
            "project_ids": [p.id for p, _bid in done.targets],
            "bids": bids,
            "named_none_of_several": done.ambiguous,
            "which_of": [
                construction_service.project_label(session=session, project=p)
                for p in done.which_of
            ],
            **({"new_start_date": start_date} if start_date else {}),
            **(
                {"new_price": ledger_money(amount)}
                if amount is not None and kind != "extra"
                else {}
            ),
            **(
                {"extra_amount": ledger_money(amount)}
                if amount is not None and kind == "extra"
                else {}
            ),
            **({"new_duration_days": duration_days} if duration_days else {}),
            **({"extra_days": extra_days} if extra_days else {}),
            **({"reason": reason} if reason else {}),
            **(
                {
                    "opted_out": True,
                    "already_opted_out": done.already_opted_out,
                    "calls_cancelled": done.calls_cancelled,
                }
                if kind == "opt_out"
                else {}
            ),
            "source": "construction_service.record_contractor_update (this contractor's bids)",
        }

    return run_tool(ctx, "contractor_update", body)


@tool(parse_docstring=True)
def list_contractors(
    runtime: ToolRuntime[Context],
    trade: Annotated[str | None, Field(max_length=60)] = None,
) -> dict[str, Any]:
    """The company's contractors (the team's directory): trades, phone, licence and insurance.

    Use for "list contractors", "who's our electrician?", "any roofers?". Team only.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        trade: Only those of this trade ("electrician" or "electrical", "roofer", "plumbing").

    """
    ctx = runtime.context
    ctx.progress("checking the contractor list…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        wanted = construction_service.normalise_trade(trade) if trade else None
        rows = construction_service.list_contractors(
            session=session, org_id=ctx.org_id, trade=wanted, limit=MAX_CONTRACTORS_SHOWN
        )
        total = construction_service.count_contractors(
            session=session, org_id=ctx.org_id, trade=wanted
        )
        today = local_today()
        return {
            "trade": wanted,
            "count": total,
            "shown": len(rows),
            "contractors": [
                {
                    "contractor_id": c.id,
                    "name": c.name,
                    "company": c.company,
                    "trades": list(c.trades),
                    "phone": c.phone,
                    "do_not_call": c.opted_out,
                    "license_expired": bool(c.license_expires_on and c.license_expires_on < today),
                    "insurance_expired": bool(
                        c.insurance_expires_on and c.insurance_expires_on < today
                    ),
                }
                for c in rows
            ],
        }

    return run_tool(ctx, "list_contractors", body)


@tool(parse_docstring=True)
def trade_schedule(
    runtime: ToolRuntime[Context],
    trade: Annotated[str | None, Field(max_length=60)] = None,
    project: ProjectRef | None = None,
) -> dict[str, Any]:
    """When contractors start on the open rehab projects, from their bids' start dates.

    Awarded bids are booked dates; open bids are dates offered. Use for "when does the
    plumber start?", "when is the roofer starting on <address>?", "who starts next?".

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        trade: Only contractors of this trade ("plumber" or "plumbing", "roofer").
        project: Only this project: its id (or first 8 characters) or its property's address.

    """
    ctx = runtime.context
    ctx.progress("checking the start dates…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        wanted = construction_service.normalise_trade(trade) if trade else None
        found = resolve_project(session, ctx, project) if project else None
        rows = construction_service.trade_starts(
            session=session,
            org_id=ctx.org_id,
            trade=wanted,
            project_id=found.id if found else None,
            principal=ctx.principal,
            limit=MAX_STARTS_SHOWN,
        )
        return {
            "trade": wanted,
            **({"project": _project_row(session, found)} if found else {}),
            "count": len(rows),
            "starts": [
                {
                    "project_id": row.project.id,
                    "address": construction_service.project_label(
                        session=session, project=row.project
                    ),
                    "contractor": row.contractor.name,
                    "trades": list(row.contractor.trades),
                    "bid_id": row.bid.id,
                    "booked": row.booked,
                    "start_date": row.bid.start_date,
                    "duration_days": row.bid.duration_days,
                    "end_date": row.end_date,
                    "bid_total": ledger_money(row.bid.total_amount),
                }
                for row in rows
            ],
            "contractors_of_trade": (
                construction_service.count_contractors(
                    session=session, org_id=ctx.org_id, trade=wanted
                )
                if wanted
                else None
            ),
            "source": "construction_service.bids (awarded and open) on open projects",
        }

    return run_tool(ctx, "trade_schedule", body)


def _spent_after(
    report: construction_service.ProjectProgress, line: construction_service.LineProgress | None
) -> dict[str, Any]:
    """Where an expense (or its void) leaves its scope line and the project: spent vs budget."""
    return {
        "line_spent": ledger_money(line.spent) if line else None,
        "line_budgeted": ledger_money(line.budgeted_cost)
        if line and line.budgeted_cost is not None
        else None,
        "line_over_budget": line.over_budget if line else None,
        "project_spent": ledger_money(report.spent),
        "project_budget": ledger_money(report.budget) if report.budget is not None else None,
        "project_over_budget": report.budget is not None and report.spent > report.budget,
    }


@tool(parse_docstring=True)
def record_expense(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    amount: Annotated[Decimal, Field(gt=0, le=Decimal("9999999999.99"), decimal_places=2)],
    line: Annotated[str | None, Field(max_length=100)] = None,
    contractor: Annotated[str | None, Field(max_length=200)] = None,
    vendor: Annotated[str | None, Field(max_length=200)] = None,
    category: ExpenseCategory | None = None,
    spent_on: dt.date | None = None,
    note: Annotated[str | None, Field(max_length=1000)] = None,
    refund: bool = False,
) -> dict[str, Any]:
    """Book money spent on a rehab project, and say where it leaves the line and the project.

    Only when the user says money was spent or paid on a project ("paid Ray 4,000 for the
    roof on the kercheval rehab", "spent 450 at Home Depot on plumbing for 14500 Kercheval",
    "log a 300 dumpster expense on the mack ave job"); never for a question about spending.
    Also when money came back on a project ("Home Depot refunded 45.20 for returned tile on
    the kercheval job"): set refund, with the amount positive.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address
            or street.
        amount: The dollars spent (up to 2 decimal places).
        line: The scope line it paid, in words ("roof", "plumbing"); omit when not said.
        contractor: The contractor paid, by name, when one was.
        vendor: The store or supplier, when one was named ("Home Depot").
        category: labour, materials, supplies, cleanup, permits or other; omit to infer it.
        spent_on: The day the money was spent; omit for today.
        note: The user's words, kept as the expense's description.
        refund: True when the vendor or contractor gave money back (a refund, a return):
            it lowers the line's and project's spent by the amount; refused when it would
            take either below zero. False (the default) for money spent.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        found = resolve_project(session, ctx, project)
        booked = _checked(
            lambda: construction_service.book_expense(
                session=session,
                org_id=ctx.org_id,
                project_id=found.id,
                amount=amount,
                line=line,
                contractor=contractor,
                vendor=vendor,
                category=category,
                spent_on=spent_on,
                description=note,
                principal=ctx.principal,
                refund=refund,
            )
        )
        report, line_report = booked.progress, booked.line_progress
        # A refund's row is minus the money back; the result says the amount and that it
        # was a refund, and the spent below is after it (lowered).
        amount_booked = abs(booked.expense.amount)
        return {
            **_project_row(session, found),
            "expense_id": booked.expense.id,
            "amount": ledger_money(amount_booked),
            **({"refund": True} if refund else {}),
            "category": booked.expense.category,
            "spent_on": booked.expense.spent_on,
            "line": booked.line.component if booked.line else None,
            "contractor": booked.contractor.name if booked.contractor else None,
            "vendor": booked.expense.vendor,
            **_spent_after(report, line_report),
            "same_day_same_amount": booked.same_day_same_amount,
            "notes": booked.notes,
            "sources": [
                f"{'refund' if refund else 'expense'} {booked.expense.id} booked on project "
                f"{found.id}",
                *report.sources,
            ],
        }

    return run_tool(ctx, "record_expense", body)


@tool(parse_docstring=True)
def void_expense(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    expense_id: Annotated[str, Field(min_length=8, max_length=60)],
    reason: Annotated[str | None, Field(max_length=500)] = None,
) -> dict[str, Any]:
    """Void an expense booked on a project by mistake (a repeat, a wrong amount).

    Only when the user asks to void, cancel or take back a booked expense ("void expense
    bcb300a8 on the kercheval rehab, it was a repeat"). A reversing expense is booked on the
    same line and the ledger gets a refund; the original stays on record.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address
            or street.
        expense_id: The expense's id, or its first 8+ characters ("bcb300a8").
        reason: Why it is voided, in the user's words; omit when not said.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        found = resolve_project(session, ctx, project)
        expense = _checked(
            lambda: construction_service.expense_by_ref(
                session=session, org_id=ctx.org_id, project_id=found.id, ref=expense_id
            )
        )
        done = _checked(
            lambda: construction_service.void_expense(
                session=session,
                org_id=ctx.org_id,
                project_id=found.id,
                expense_id=expense.id,
                reason=reason,
                principal=ctx.principal,
            )
        )
        report, line_report = done.progress, done.line_progress
        return {
            **_project_row(session, found),
            "voided_expense_id": done.voided.id,
            "amount": ledger_money(done.voided.amount),
            "line": done.line.component if done.line else None,
            "reversal_id": done.reversal.id,
            "reversal_spent_on": done.reversal.spent_on,
            **_spent_after(report, line_report),
            "sources": [
                f"expense {done.voided.id} voided by reversal {done.reversal.id} on project "
                f"{found.id}",
                *report.sources,
            ],
        }

    return run_tool(ctx, "void_expense", body)


# --- tasks ----------------------------------------------------------------------------------

TaskFilter = Literal["open", "todo", "in_progress", "blocked", "done", "cancelled"]
TaskTitle = Annotated[str, Field(min_length=1, max_length=200)]
MAX_TASKS_SHOWN = 50
# Words of "mark the order cabinets task done" that name no task.
_TASK_FILLER = frozenset(
    {"the", "a", "an", "task", "tasks", "to", "do", "todo", "item", "mark", "as", "done", "is"}
)


def _task_ref(task: Task) -> str:
    """A task's short id: the first 8 characters of its id."""
    return task.id.hex[:8]


def _is_open(task: Task) -> bool:
    return task.status in construction_service.OPEN_TASK_STATUSES


def _open_first(task: Task) -> int:
    """Open tasks first, then done, then cancelled."""
    return 0 if _is_open(task) else 1 if task.status == TaskStatus.done else 2


def _blocked_by(task: Task, by_id: dict[Any, Task]) -> list[Task]:
    """The task's dependencies that are not done yet (they keep it from being done)."""
    return [
        by_id[dep]
        for dep in task.depends_on
        if dep in by_id and by_id[dep].status != TaskStatus.done
    ]


def _task_row(
    task: Task,
    by_id: dict[Any, Task],
    names: dict[Any, str],
    lines: dict[Any, str],
    today: dt.date,
) -> dict[str, Any]:
    late = _is_open(task) and task.due_date is not None and task.due_date < today
    return {
        "task": _task_ref(task),
        "task_id": task.id,
        "title": task.title,
        "status": task.status,
        "due_date": task.due_date,
        "days_late": (today - task.due_date).days if late and task.due_date else None,
        "assignee": names.get(task.assignee_contractor_id),
        "line": lines.get(task.scope_item_id),
        "blocked_by": [t.title for t in _blocked_by(task, by_id)],
        "completed_on": local_day(task.completed_at) if task.completed_at else None,
    }


def _task_lookups(
    session: Session, ctx: Context, project: Project, tasks: Sequence[Task]
) -> tuple[dict[Any, str], dict[Any, str]]:
    """The names of the tasks' assignees and scope lines, by id."""
    names = {
        cid: construction_service.get_contractor(
            session=session, org_id=ctx.org_id, contractor_id=cid
        ).name
        for cid in {t.assignee_contractor_id for t in tasks if t.assignee_contractor_id}
    }
    lines = {
        s.id: s.component
        for s in construction_service.list_scope_items(
            session=session, org_id=ctx.org_id, project_id=project.id
        )
    }
    return names, lines


def _task_counts(tasks: Sequence[Task], today: dt.date) -> dict[str, int]:
    return {
        "total": len(tasks),
        "open": sum(1 for t in tasks if _is_open(t)),
        "done": sum(1 for t in tasks if t.status == TaskStatus.done),
        "cancelled": sum(1 for t in tasks if t.status == TaskStatus.cancelled),
        "late": sum(1 for t in tasks if _is_open(t) and t.due_date and t.due_date < today),
    }


@tool(parse_docstring=True)
def project_tasks(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    status: TaskFilter | None = None,
) -> dict[str, Any]:
    """A rehab project's tasks: open ones first, each with its due date, assignee and blockers.

    Use for "tasks on the kercheval rehab?", "what's left to do on <address>?", "which tasks
    are late?". Gives counts (open, done, cancelled, late) and, per task, its short id, title,
    status, due date, days late, the contractor assigned, the scope line and the unfinished
    tasks it waits on (blocked_by).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address
            or street.
        status: Only tasks in this state: open (todo, in progress or blocked), todo,
            in_progress, blocked, done or cancelled; omit for every task.

    """
    ctx = runtime.context
    ctx.progress("checking the tasks…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        found = resolve_project(session, ctx, project)
        tasks = construction_service.list_tasks(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        today = local_today()
        by_id = {t.id: t for t in tasks}
        wanted = [
            t
            for t in tasks
            if status is None
            or (_is_open(t) if status == "open" else t.status == TaskStatus(status))
        ]
        # Open first (by due date, undated last: the service's order), then done, cancelled.
        wanted.sort(key=_open_first)
        names, lines = _task_lookups(session, ctx, found, wanted)
        return {
            **_project_row(session, found),
            "as_of": today,
            "filter": status,
            "counts": _task_counts(tasks, today),
            "matching": len(wanted),
            "shown": min(len(wanted), MAX_TASKS_SHOWN),
            "tasks": [_task_row(t, by_id, names, lines, today) for t in wanted[:MAX_TASKS_SHOWN]],
            "source": "construction_service.list_tasks (the project's tasks)",
        }

    return run_tool(ctx, "project_tasks", body)


def _assignee(session: Session, ctx: Context, name: str) -> Contractor:
    """The one contractor on file called ``name``; else a ToolError saying what to give."""
    found = construction_service.contractors_named(session=session, org_id=ctx.org_id, name=name)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ToolError(
            f"no contractor called {name.strip()!r} is on file: name one from the contractor "
            "list, or leave the task unassigned"
        )
    names = ", ".join(c.name for c in found[:5])
    raise ToolError(f"{len(found)} contractors are called {name.strip()!r} ({names}): say which")


@tool(parse_docstring=True)
def add_task(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    title: TaskTitle,
    due: dt.date | None = None,
    assignee: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
    line: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
) -> dict[str, Any]:
    """Add a task to a rehab project (to do), with its due date, contractor and scope line.

    Only when the user asks to add or create a task ("add a task on the kercheval rehab:
    order cabinets, due friday"). A completed or cancelled project takes no new task.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address
            or street.
        title: What is to be done, in the user's words ("order cabinets").
        due: The day it is due, as an ISO date (YYYY-MM-DD): turn "friday" or "next week"
            into the date; today or later. Omit when no day was said.
        assignee: The contractor doing it, by name ("Ray"), when one was named.
        line: The scope line it belongs to, in words ("kitchen", "roof"), when said.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        today = local_today()
        if due is not None and due < today:
            raise ToolError(
                f"the due date {due.isoformat()} is in the past (today is {today.isoformat()}): "
                "give today or a later date"
            )
        words = title.strip()
        if not words:
            raise ToolError("the task needs a title: say what is to be done")
        found = resolve_project(session, ctx, project)
        worker = _assignee(session, ctx, assignee) if assignee and assignee.strip() else None
        item: ScopeItem | None = None
        if line and line.strip():
            item = _checked(
                lambda: construction_service.scope_line_named(
                    session=session, org_id=ctx.org_id, project_id=found.id, name=line
                )
            )
            if item is None:
                have = ", ".join(
                    repr(s.component)
                    for s in construction_service.list_scope_items(
                        session=session, org_id=ctx.org_id, project_id=found.id
                    )
                )
                raise ToolError(
                    f"the project has no {line.strip()!r} scope line "
                    f"({'its lines: ' + have if have else 'it has none'}): name one of them, "
                    "or leave the line out"
                )
        before = construction_service.list_tasks(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        same = [t for t in before if _is_open(t) and t.title.strip().lower() == words.lower()]
        task = _checked(
            lambda: construction_service.create_task(
                session=session,
                org_id=ctx.org_id,
                project_id=found.id,
                task_in=TaskCreate(
                    title=words,
                    due_date=due,
                    assignee_contractor_id=worker.id if worker else None,
                    scope_item_id=item.id if item else None,
                ),
                principal=ctx.principal,
            )
        )
        tasks = [*before, task]
        return {
            **_project_row(session, found),
            "added": True,
            "task": _task_ref(task),
            "task_id": task.id,
            "title": task.title,
            "status": task.status,
            "due_date": task.due_date,
            "assignee": worker.name if worker else None,
            "line": item.component if item else None,
            "counts": _task_counts(tasks, today),
            "notes": [
                f"an open task {t.title!r} ({_task_ref(t)}) was already on this project"
                for t in same
            ],
            "source": f"task {task.id} added to project {found.id}",
        }

    return run_tool(ctx, "add_task", body)


def _task_named(tasks: Sequence[Task], ref: str) -> Task:
    """The one task ``ref`` names: its id or short id, or words of its title.

    Of the tasks whose title has every word, an open one before a done or cancelled one, and
    an exact title before a longer one; else a ToolError listing the candidates.
    """
    text = ref.strip()
    text = re.sub(r"^task\b", "", text, flags=re.I).strip(" #:'\"")
    wanted_id = parse_uuid(text)
    if wanted_id is not None:
        hits = [t for t in tasks if t.id == wanted_id]
        if hits:
            return hits[0]
        raise ToolError(f"task {text} is not a task of this project")
    prefix = text.lower().replace("-", "")
    if _HEX_PREFIX.match(prefix):
        hits = [t for t in tasks if t.id.hex.startswith(prefix)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ToolError(f"{len(hits)} tasks start with {text!r}: give more of the id")
    said = " ".join(re.findall(r"[a-z0-9']+", text.lower()))
    words = [w for w in said.split() if w not in _TASK_FILLER] or said.split()
    if not words:
        raise ToolError("say which task: its short id, or words of its title")

    def title_words(task: Task) -> list[str]:
        return re.findall(r"[a-z0-9']+", task.title.lower())

    hits = [t for t in tasks if all(any(w.startswith(x) for w in title_words(t)) for x in words)]
    open_hits = [t for t in hits if _is_open(t)]
    pool = open_hits or hits
    exact = [t for t in pool if " ".join(title_words(t)) in (said, " ".join(words))]
    if len(exact) == 1:
        return exact[0]
    if len(pool) == 1:
        return pool[0]
    listed = _listing(pool or [t for t in tasks if _is_open(t)])
    if pool:
        raise ToolError(f"{len(pool)} tasks fit {text!r} ({listed}): say which, by its id")
    if not tasks:
        raise ToolError("this project has no tasks yet")
    raise ToolError(
        f"no task of this project is called {text!r}"
        + (f"; its open tasks: {listed}" if listed else "; it has no open task")
    )


def _listing(tasks: Sequence[Task]) -> str:
    """Tasks as "'title' (ab12cd34, todo, due 2025-06-13)" for an error message."""
    shown = "; ".join(
        f"{t.title!r} ({_task_ref(t)}, {t.status}"
        + (f", due {t.due_date.isoformat()}" if t.due_date else "")
        + ")"
        for t in tasks[:6]
    )
    return shown + (f" and {len(tasks) - 6} more" if len(tasks) > 6 else "")


@tool(parse_docstring=True)
def complete_task(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    task: TaskTitle,
) -> dict[str, Any]:
    """Mark a rehab project's task done, named by its short id or by words of its title.

    Only when the user says a task is done or asks to mark it done ("mark the order
    cabinets task done on the kercheval rehab"). A task waiting on another unfinished task
    (its blocked_by) cannot be done yet: the error names that task.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address
            or street.
        task: The task's short id from project_tasks ("ab12cd34"), or words of its title
            ("order cabinets").

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        found = resolve_project(session, ctx, project)
        tasks = construction_service.list_tasks(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        chosen = _task_named(tasks, task)
        was = TaskStatus(chosen.status)
        by_id = {t.id: t for t in tasks}
        if chosen.status == TaskStatus.done:
            on = f" on {local_day(chosen.completed_at).isoformat()}" if chosen.completed_at else ""
            raise ToolError(
                f"{chosen.title!r} ({_task_ref(chosen)}) was already marked done{on}: "
                "nothing changed"
            )
        if chosen.status == TaskStatus.cancelled:
            raise ToolError(
                f"{chosen.title!r} ({_task_ref(chosen)}) was cancelled: it is not marked done"
            )
        try:
            done = construction_service.update_task(
                session=session,
                org_id=ctx.org_id,
                project_id=found.id,
                task_id=chosen.id,
                task_in=TaskUpdate(status=TaskStatus.done),
                principal=ctx.principal,
            )
        except construction_service.ConstructionConflictError as exc:
            waits = _blocked_by(chosen, by_id)
            if not waits:
                raise ToolError(str(exc)) from exc
            raise ToolError(
                f"{chosen.title!r} can't be marked done yet: it waits on "
                f"{_listing(waits)}, not done. Mark that done first."
            ) from exc
        except construction_service.ConstructionError as exc:
            raise ToolError(str(exc)) from exc
        by_id[done.id] = done
        today = local_today()
        unblocked = [
            t
            for t in tasks
            if _is_open(t) and done.id in t.depends_on and not _blocked_by(t, by_id)
        ]
        return {
            **_project_row(session, found),
            "completed": True,
            "task": _task_ref(done),
            "task_id": done.id,
            "title": done.title,
            "status": done.status,
            "due_date": done.due_date,
            "completed_on": local_day(done.completed_at) if done.completed_at else today,
            "days_late": (today - done.due_date).days
            if done.due_date and done.due_date < today
            else None,
            "unblocked": [t.title for t in unblocked],
            "counts": _task_counts(list(by_id.values()), today),
            # A task someone had marked blocked: the reply says so (it was waiting on something).
            **({"was_status": str(was)} if was != TaskStatus.todo else {}),
            "source": f"task {done.id} marked done on project {found.id}",
        }

    return run_tool(ctx, "complete_task", body)


MAX_CONTRACTORS_SHOWN = 25
MAX_STARTS_SHOWN = 20

TOOLS: list[BaseTool] = [
    project_status,
    project_tasks,
    add_task,
    complete_task,
    list_projects,
    list_bids,
    award_bid,
    reschedule_contractor,
    record_expense,
    void_expense,
    my_bids,
    contractor_update,
    list_contractors,
    trade_schedule,
]
