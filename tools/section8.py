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
from tools._common import ToolError, address_label, money, resolve_property, run_tool


@tool(parse_docstring=True)
def section8_rent(
    runtime: ToolRuntime[Context],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
    bedrooms: Annotated[int | None, Field(ge=0, le=section8_service.MAX_BEDROOMS)] = None,
    area: Annotated[str | None, Field(max_length=200)] = None,
    year: Annotated[int | None, Field(ge=1983, le=2100)] = None,
    target_rent: Annotated[Decimal | None, Field(gt=0, le=100000)] = None,
) -> dict[str, Any]:
    """What a Section 8 voucher pays: FMR, payment standard, utility allowance, max contract rent.

    Use it for "what's the FMR / Section 8 rent for <address>", "FMR for a 3 bed in Detroit",
    "payment standard / utility allowance for a 2 bed", or to check a target rent against
    the voucher. Give a property (address or property_id) or a bedroom count. Nothing is saved.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it.
        property_id: Or the property's id from an earlier tool result.
        bedrooms: The unit's bedroom count, when no property is named (0 for a studio).
        area: The HUD FMR area or city the user named ("Detroit"); default: the property's
            area, else Detroit's.
        year: The FMR fiscal year the user asked for; default: the latest on file.
        target_rent: A monthly rent to check against the voucher's maximum, if the user gave one.

    """
    ctx = runtime.context
    ctx.progress("checking HUD Fair Market Rents…")

    def body(session: Session) -> dict[str, Any]:
        if address or property_id:
            prop = resolve_property(session, ctx, address=address, property_id=property_id)
            result = section8_service.assess_property_rent(
                session=session,
                org_id=ctx.org_id,
                property_id=prop.id,
                bedrooms=bedrooms,
                area=area,
                year=year,
                target_rent=target_rent,
                save=False,
            )
            a = result.analysis
            subject: dict[str, Any] = {"property_id": prop.id, "address": address_label(prop)}
            target_source, market_source = result.target_rent_source, result.market_rent_source
        elif bedrooms is not None:
            a = section8_service.rent_analysis(
                session=session,
                org_id=ctx.org_id,
                bedrooms=bedrooms,
                area=area,
                year=year,
                target_rent=target_rent,
            )
            subject, market_source = {}, None
            target_source = "given" if target_rent is not None else "none"
        else:
            raise ToolError("give a property (address or property_id) or a bedroom count")
        return {
            **subject,
            "bedrooms": a.bedrooms,
            "area": a.area,
            "year": a.year,
            "fmr": money(a.fmr),
            "payment_standard": money(a.payment_standard),
            "payment_standard_pct_of_fmr": a.payment_standard_pct_of_fmr,
            "utility_allowance": money(a.utility_allowance),
            "utility_allowance_on_file": a.utility_allowance_on_file,
            "utility_allowance_source": a.utility_allowance_source,
            "max_contract_rent": money(a.max_contract_rent),
            "target_rent": money(a.target_rent) if a.target_rent is not None else None,
            "target_rent_source": target_source,
            "within_payment_standard": a.fmr_compliant,
            "market_rent": money(a.market_rent) if a.market_rent is not None else None,
            "market_rent_source": market_source,
            "rent_reasonable": a.rent_reasonable,
            "fits_voucher": (
                None
                if a.fmr_compliant is None
                else a.fmr_compliant and a.rent_reasonable is not False
            ),
            "headroom": money(a.headroom) if a.headroom is not None else None,
            "over_by": (money(-a.headroom) if a.headroom is not None and a.headroom < 0 else None),
            "recommended_rent": money(a.recommended_rent),
            "source": f"{a.fmr_row.source}, {a.fmr_row.area}",
            # An out-of-date FMR year first: the reply shows ``notes`` (cut from the end).
            "warnings": a.warnings,
            "notes": [*a.warnings, *a.assumptions],
        }

    return run_tool(ctx, "section8_rent", body)


TOOLS: list[BaseTool] = [section8_rent]
