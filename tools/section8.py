"""Section 8 tools: a property's rent against HUD's Fair Market Rent and payment standard."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.section8 import service as section8_service
from tools._common import address_label, money, resolve_property, run_tool


@tool(parse_docstring=True)
def section8_rent(
    runtime: ToolRuntime[Context],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
    target_rent: Annotated[Decimal | None, Field(gt=0, le=100000)] = None,
) -> dict[str, Any]:
    """What a Section 8 voucher pays for a property: FMR, payment standard, max contract rent.

    Use it for "what's the FMR / Section 8 rent for <address>" or to check a target rent.
    Nothing is saved.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it.
        property_id: Or the property's id from an earlier tool result.
        target_rent: A monthly rent to check against the voucher's maximum, if the user gave one.

    """
    ctx = runtime.context
    ctx.progress("checking HUD Fair Market Rents…")

    def body(session: Session) -> dict[str, Any]:
        prop = resolve_property(session, ctx, address=address, property_id=property_id)
        result = section8_service.assess_property_rent(
            session=session,
            org_id=ctx.org_id,
            property_id=prop.id,
            target_rent=target_rent,
            save=False,
        )
        a = result.analysis
        return {
            "property_id": prop.id,
            "address": address_label(prop),
            "bedrooms": a.bedrooms,
            "area": a.area,
            "year": a.year,
            "fmr": money(a.fmr),
            "payment_standard": money(a.payment_standard),
            "utility_allowance": money(a.utility_allowance),
            "max_contract_rent": money(a.max_contract_rent),
            "target_rent": money(a.target_rent),
            "fits_voucher": a.fmr_compliant,
            "headroom": money(a.headroom) if a.headroom is not None else None,
            "recommended_rent": money(a.recommended_rent),
            "source": f"{a.fmr_row.area}: {a.fmr_row.source}",
        }

    return run_tool(ctx, "section8_rent", body)


TOOLS: list[BaseTool] = [section8_rent]
