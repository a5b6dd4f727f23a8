"""Seller leads: the list the team works from (team only).

A seller lead is what ``qualify_lead`` (or the CRM, through ``POST /calls/leads``) submitted:
``seller_leads`` lists them newest first with the lead's name, masked phone number, the
property, where the lead stands and their latest call. ``lead_calls`` (tools.voice) reads the
calls themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_midnight, local_minute
from core.observability import mask
from domain.auth.enums import Role
from domain.voice import service as voice_service
from tools._common import ToolError, require_roles, run_tool


def _minute(value: dt.datetime | None) -> str | None:
    """A time as the team reads it: company-local, with its zone ("2026-11-28 23:37 EST")."""
    return local_minute(value) if value is not None else None


@tool(parse_docstring=True)
def seller_leads(
    runtime: ToolRuntime[Context],
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 20,
) -> dict[str, Any]:
    """The seller leads, newest first: name, masked phone, property, status, latest call.

    Use for "show me the leads" or "new seller leads this week" (since the Monday); "leads
    from yesterday" is since and until that day. Team only.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        since: Only leads received on or after this day (YYYY-MM-DD).
        until: Only leads received on or before this day (YYYY-MM-DD).
        limit: At most this many leads.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, Role.admin, Role.analyst)
        if since and until and until < since:
            raise ToolError(f"until ({until}) is before since ({since})")
        start = local_midnight(since) if since else None  # the company's day, not UTC's
        end = local_midnight(until + dt.timedelta(days=1)) if until else None
        leads = voice_service.list_leads(
            session=session, org_id=ctx.org_id, since=start, before=end, limit=limit
        )
        return {
            "since": since,
            "until": until,
            "count": len(leads),
            "leads": [
                {
                    "name": lead.name,
                    # Phone numbers are masked wherever people read them (logs, chat).
                    "phone": mask(lead.phone) if lead.phone else None,
                    "address": lead.address,
                    "status": lead.status,
                    "received": _minute(lead.received_at),
                    "last_call_at": _minute(lead.last_call_at),
                    "last_call": lead.last_call,
                }
                for lead in leads
            ],
            "source": "voice_service.call_schedules and calls (lead_qualification)",
        }

    return run_tool(ctx, "seller_leads", body)


TOOLS: list[BaseTool] = [seller_leads]
