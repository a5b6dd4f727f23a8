"""Pricing tools: a rehab estimate from components and their conditions."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentInput
from tools._common import money, resolve_property, run_tool


@tool(parse_docstring=True)
def estimate_rehab(
    runtime: ToolRuntime[Context],
    components: Annotated[list[ComponentInput], Field(min_length=1, max_length=100)],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
) -> dict[str, Any]:
    """Price a rehab scope from the organisation's cost book (line items, contingency, total).

    Use it when the user lists what needs work ("roof is shot, furnace is fair, 12 windows").
    Give the property when known: its square footage sizes area-priced items.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        components: What needs work: component name (e.g. "roof", "furnace", "windows"),
            condition (poor = replace, fair = repair, good/excellent = nothing) and an
            optional quantity.
        address: The property's street address, if the user named one.
        property_id: Or the property's id from an earlier tool result.

    """
    ctx = runtime.context
    ctx.progress("pricing the rehab…")

    def body(session: Session) -> dict[str, Any]:
        square_feet = None
        label = None
        if address or property_id:
            prop = resolve_property(session, ctx, address=address, property_id=property_id)
            square_feet, label = prop.square_feet, prop.address_line
        estimate = pricing_service.estimate_rehab(
            session=session, org_id=ctx.org_id, items=components, square_feet=square_feet
        )
        return {
            "address": label,
            "line_items": [
                {
                    "component": line.component,
                    "action": line.action,
                    "quantity": line.quantity,
                    "unit": line.unit,
                    "cost": money(line.line_total),
                }
                for line in estimate.line_items
            ],
            "unpriced": [u.message for u in estimate.unpriced],
            "subtotal": money(estimate.subtotal),
            "contingency": money(estimate.contingency),
            "contingency_pct": estimate.contingency_pct,
            "total": money(estimate.total),
            "source": estimate.basis,
        }

    return run_tool(ctx, "estimate_rehab", body)


TOOLS: list[BaseTool] = [estimate_rehab]
