"""Voice tools: ask contractors for bids by phone, and see what the calls brought in.

``qualify_lead`` (admins and analysts) submits a seller lead for a qualification call (placed
only with the lead's recorded consent to automated calls). ``request_bids`` (admins and
analysts) publishes ``contractor.call.requested`` for a project;
the voice module schedules calls to up to ``count`` contractors of the trade (never one who
opted out, nor one whose number reached someone else until their phone is changed, nor one
who already bid or was called about the project lately: ``voice_service.pick_bid_contractors``,
the rule the event's handler applies, so the reply names who is called and each one skipped
and why; each within their calling hours) and a job places them.
``call_status`` lists the calls about a project and ``bids_received`` the bids on it, with
the calls they came from.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_minute
from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.voice import service as voice_service
from domain.voice.enums import CallPurpose
from domain.voice.models import LeadCallRequest
from store.outbox import publish
from tools._common import ToolError, require_roles, require_user, run_tool
from tools.construction import ProjectRef, resolve_project
from tools.finance import ledger_money


@tool(parse_docstring=True)
def request_bids(
    runtime: ToolRuntime[Context],
    project: ProjectRef,
    trade: Annotated[str, Field(min_length=2, max_length=60)],
    count: Annotated[int, Field(ge=1, le=10)] = 3,
) -> dict[str, Any]:
    """Get bids by phone: the voice agent calls up to `count` contractors of a trade.

    Use for "get three roofing bids for 14500 Kercheval". Calls are placed within each
    contractor's calling hours (else scheduled for their next allowed hour); contractors who
    opted out are never called, and one whose number reached someone else (until their phone
    is changed), who already bid on the project or was called about it lately is skipped
    (`calling` names who will be called, `skipped` who not and why). Answers land on the
    project as bids; ask later with `bids_received` or `call_status`.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address.
        trade: The trade to call, e.g. roofing, plumbing, electrical, hvac.
        count: How many contractors to call (1-10).

    """
    ctx = runtime.context
    ctx.progress("lining up contractor calls…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        user_id = require_user(ctx)
        found = resolve_project(session, ctx, project)
        word = construction_service.normalise_trade(trade)
        on_file = construction_service.list_contractors(
            session=session, org_id=ctx.org_id, trade=word
        )
        callable_ids = {
            c.id
            for c in construction_service.list_contractors(
                session=session, org_id=ctx.org_id, trade=word, include_opted_out=False
            )
        }
        if not on_file:
            return {
                "requested": False,
                "error": f"no contractor on file does {word}: add contractors with that trade "
                "first",
            }
        # Those who opted out first: never called, but named as skipped ("asked not to be
        # called") whatever the count; the others keep their order.
        candidates = [c for c in on_file if c.id not in callable_ids] + [
            c for c in on_file if c.id in callable_ids
        ]
        # The voice module's own rule, so the reply names exactly who the event will call.
        picked = voice_service.pick_bid_contractors(
            session=session,
            org_id=ctx.org_id,
            project_id=found.id,
            candidates=candidates,
            wanted=count,
            purpose=CallPurpose.bid_request,
        )
        names = {c.id: c.name for c in candidates}
        skipped: list[dict[str, Any]] = [
            {"contractor_id": cid, "contractor": names[cid], "reason": why}
            for cid, why in picked.skipped.items()
        ]
        if not picked.to_call:
            return {
                "requested": False,
                "error": f"no {word} contractor on file can be called now: "
                + "; ".join(str(row["reason"]) for row in skipped),
                "skipped": skipped,
            }
        event_id = publish(
            session,
            org_id=ctx.org_id,
            name="contractor.call.requested",
            payload={
                "project_id": found.id,
                "trade": word,
                "count": count,
                "purpose": CallPurpose.bid_request,
                "requested_by": user_id,
            },
        )
        return {
            "requested": True,
            "event_id": event_id,
            "project_id": found.id,
            "address": construction_service.project_label(session=session, project=found),
            "trade": word,
            "contractors_on_file": len(candidates),
            "will_call": len(picked.to_call),
            "calling": [c.name for c in picked.to_call],
            "skipped": skipped,
            "note": "calls are scheduled within each contractor's calling hours; ask "
            "'what bids came in?' later",
        }

    return run_tool(ctx, "request_bids", body)


def _call_row(call: Any, names: dict[Any, str]) -> dict[str, Any]:
    facts = (call.outcome_data or {}).get("facts") or {}
    return {
        "call_id": call.id,
        "contractor": names.get(call.contractor_id, str(call.contractor_id)),
        "purpose": call.purpose,
        "status": call.status,
        "outcome": call.outcome,
        "attempt": call.attempt,
        "bid_id": call.bid_id,
        "start_date": facts.get("start_date"),
        "duration_days": facts.get("duration_days"),
        "note": call.note,
        "when": call.created_at,
        "when_local": local_minute(call.created_at),
    }


@tool(parse_docstring=True)
def call_status(runtime: ToolRuntime[Context], project: ProjectRef) -> dict[str, Any]:
    """The phone calls to contractors about a project: placed, scheduled, answered, outcome.

    Use for "did the roofers pick up?" or "what calls are scheduled?".

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        found = resolve_project(session, ctx, project)
        names = {
            c.id: c.name
            for c in construction_service.list_contractors(session=session, org_id=ctx.org_id)
        }
        calls = voice_service.list_calls(
            session=session, org_id=ctx.org_id, project_id=found.id, limit=50
        )
        schedules = voice_service.list_schedules(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        return {
            "project_id": found.id,
            "address": construction_service.project_label(session=session, project=found),
            "calls": [_call_row(c, names) for c in calls],
            "scheduled": [
                {
                    "contractor": names.get(s.contractor_id, "a lead")
                    if s.contractor_id
                    else "a lead",
                    "scheduled_for": s.scheduled_for,
                    "scheduled_local": local_minute(s.scheduled_for),
                    "attempts": f"{s.attempts} of {s.max_attempts}",
                    "reason": s.reason,
                }
                for s in schedules
            ],
            "source": "voice_service.calls and call_schedules",
        }

    return run_tool(ctx, "call_status", body)


@tool(parse_docstring=True)
def bids_received(runtime: ToolRuntime[Context], project: ProjectRef) -> dict[str, Any]:
    """The bids that came in on a project (by phone or otherwise), newest last.

    Use for "what bids came in?". Each bid gives its total, the price per scope line, the
    start date, duration, exclusions, and the call it was taken on.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        project: The project's id (or its first 8 characters), or its property's address.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        found = resolve_project(session, ctx, project)
        names = {
            c.id: c.name
            for c in construction_service.list_contractors(session=session, org_id=ctx.org_id)
        }
        components = {
            str(s.id): s.component
            for s in construction_service.list_scope_items(
                session=session, org_id=ctx.org_id, project_id=found.id
            )
        }
        bids = construction_service.list_bids(
            session=session, org_id=ctx.org_id, project_id=found.id
        )
        return {
            "project_id": found.id,
            "address": construction_service.project_label(session=session, project=found),
            "count": len(bids),
            "bids": [
                {
                    "bid_id": b.id,
                    "contractor": names.get(b.contractor_id, str(b.contractor_id)),
                    "total": ledger_money(b.total_amount),
                    "lines": [
                        {
                            "component": components.get(
                                str(line["scope_item_id"]), line["scope_item_id"]
                            ),
                            "amount": ledger_money(Decimal(str(line["amount"]))),
                        }
                        for line in b.line_items
                    ],
                    "start_date": b.start_date,
                    "duration_days": b.duration_days,
                    "exclusions": b.exclusions,
                    "source": b.source,
                    "call_id": b.call_id,
                    "status": b.status,
                }
                for b in bids
            ],
            "source": "construction_service.bids",
        }

    return run_tool(ctx, "bids_received", body)


def _user_said(runtime: ToolRuntime[Context], text: str) -> bool:
    """Whether the user's latest message contains ``text`` (case and spacing aside)."""
    state = runtime.state if isinstance(runtime.state, dict) else {}
    messages = state.get("messages") or []
    said = next((m for m in reversed(messages) if getattr(m, "type", None) == "human"), None)
    if said is None:
        return False

    def norm(value: Any) -> str:
        return " ".join(str(value).lower().split())

    return norm(text) in norm(said.content)


@tool(parse_docstring=True)
def qualify_lead(
    runtime: ToolRuntime[Context],
    phone: Annotated[str, Field(min_length=3, max_length=32)],
    address: Annotated[str, Field(min_length=3, max_length=300)],
    name: Annotated[str | None, Field(max_length=120)] = None,
    consent_source: Annotated[str | None, Field(max_length=300)] = None,
    timezone: Annotated[str | None, Field(max_length=64)] = None,
) -> dict[str, Any]:
    """Have the voice agent phone a seller lead to qualify them (team only).

    The agent calls only a lead who gave prior express consent to automated calls: pass
    `consent_source` (where and when they agreed, e.g. "web form 2026-11-20") only as the
    user's own words from their message; without it the call is left to the team. Calls go
    out 09:00-20:00 Monday-Saturday in the lead's time zone.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        phone: The lead's phone number.
        address: The property the lead wants to sell.
        name: The lead's name.
        consent_source: Where and when the lead consented to automated calls.
        timezone: The lead's IANA time zone, e.g. America/Chicago.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        requested_by = require_user(ctx)
        if consent_source and consent_source.strip() and not _user_said(runtime, consent_source):
            # Consent is a legal fact about the lead: it must come from the user, never be
            # filled in by the model.
            raise ToolError(
                f"consent_source must be the user's own words, and they did not say "
                f"{consent_source!r}: ask where and when the lead agreed to automated calls, or "
                "call without consent_source (the team then calls the lead)"
            )
        lead = LeadCallRequest(
            phone=phone,
            address=address,
            name=name,
            timezone=timezone,
            consent_to_call=bool(consent_source and consent_source.strip()),
            consent_source=consent_source,
        )
        schedule = voice_service.submit_lead(
            session=session, org_id=ctx.org_id, lead=lead, requested_by=requested_by
        )
        return {
            "schedule_id": schedule.id,
            "status": schedule.status,
            "will_call": schedule.status == "scheduled",
            "to_number": schedule.to_number,
            "name": name,
            "address": address,
            "scheduled_for": schedule.scheduled_for,
            "calls_from": local_minute(schedule.scheduled_for),
            "reason": schedule.reason,
            "consent_source": consent_source,
            "source": "voice_service.call_schedules (lead.qualification.needed)",
        }

    return run_tool(ctx, "qualify_lead", body)


@tool(parse_docstring=True)
def lead_calls(
    runtime: ToolRuntime[Context],
    lead: Annotated[str | None, Field(max_length=120)] = None,
) -> dict[str, Any]:
    """What seller leads said on the voice agent's calls, and the lead calls still to come.

    Use for "what did the seller say?", "any lead calls scheduled?", "when do we call Kim
    back?". Team only.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        lead: Narrow to one lead: part of their name, the property's address, the lead id
            or their phone number.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        found = voice_service.lead_activity(session=session, org_id=ctx.org_id, lead=lead)
        return {
            "lead": found.matched,
            "calls": [{**asdict(c), "at_local": local_minute(c.at)} for c in found.calls],
            "upcoming": [asdict(s) for s in found.upcoming],
            "source": "voice_service.calls and call_schedules (lead_qualification)",
        }

    return run_tool(ctx, "lead_calls", body)


TOOLS: list[BaseTool] = [request_bids, call_status, bids_received, qualify_lead, lead_calls]
