"""Property tools: find a property of the organisation by its address."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.property import service as property_service
from domain.property.errors import AddressParseError
from tools._common import ToolError, loose_property, property_summary, run_tool


@tool(parse_docstring=True)
def find_property(
    address: Annotated[str, Field(min_length=1, max_length=300)],
    runtime: ToolRuntime[Context],
) -> dict[str, Any]:
    """Find properties on file by street address (any common US format), best match first.

    Use it to check that a property exists or to get its id and facts (bedrooms, size, year
    built). For values, rehab, rent and offers use analyze_property instead.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it, e.g. "14500 Kercheval Ave #2,
            Detroit, MI 48215" or "14500 kercheval avenue apt 2".

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        try:
            matches = property_service.find_address_matches(
                session=session, org_id=ctx.org_id, text=address, limit=5
            )
        except AddressParseError as exc:
            raise ToolError(str(exc)) from exc
        if not matches:
            # "1215 Kellogg for me" is that house; "1215 Kelog Ave" is offered, not used.
            return {
                "matches": [{**property_summary(loose_property(session, ctx, address.strip()))}],
                "source": "property_service.properties (the street the text starts with)",
            }
        return {
            "matches": [{**property_summary(m.property), "match_score": m.score} for m in matches],
            "source": "property_service.properties (address match)",
        }

    return run_tool(ctx, "find_property", body)


TOOLS: list[BaseTool] = [find_property]
