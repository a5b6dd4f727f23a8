"""Valuation tools: comparable sales, "drop comp N / recompute", and storing a valuation."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.auth.enums import Role
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from domain.valuation.models import CompAnalysis, ComparableRead
from tools._common import (
    ToolError,
    address_label,
    money,
    require_roles,
    require_user,
    resolve_property,
    run_tool,
)

# Comps older than this before the value date make a valuation uncertain whatever its
# confidence (which measures how closely the comps agree, not how old they are).
OLD_COMPS_DAYS = 365


def _comps_age(sale_dates: list[str], as_of: dt.date, warning: Any) -> dict[str, Any]:
    """The newest comp's sale date, and a note when it is over a year before ``as_of``."""
    days = sorted(dt.date.fromisoformat(d[:10]) for d in sale_dates)
    if not days:
        return {}
    newest = days[-1]
    found: dict[str, Any] = {"newest_comp_sold": newest}
    if (as_of - newest).days > OLD_COMPS_DAYS:
        found["old_comps"] = (
            f"the newest comp sold on {newest.isoformat()}: the value is uncertain "
            "(the market since then is not known)"
        )
        if warning:
            found["warning"] = str(warning)
    return found


def reweighted_value(comps: list[ComparableRead]) -> Decimal:
    """The reconciled value of the comps kept: their weighted geometric mean of adjusted prices.

    The valuation weighs comps by similarity and inverse gross adjustment and takes the
    weighted mean of the log adjusted prices; dropping comps renormalises the weights of
    the rest, which is what valuing again without them gives.
    """
    total = sum(c.weight for c in comps)
    if total <= 0:
        raise ToolError("the comps kept carry no weight")
    log_value = sum(c.weight / total * math.log(float(c.adjusted_price)) for c in comps)
    return Decimal(round(math.exp(log_value)))


def _comp_numbers(exclude: list[int | str], comps: list[ComparableRead]) -> list[int]:
    """The 1-based numbers of the comps to leave out (given by number or by comp id)."""
    by_id = {str(c.property_id): n for n, c in enumerate(comps, start=1)}
    numbers: set[int] = set()
    unknown: list[str] = []
    for item in exclude:
        text = str(item).strip().lstrip("#")
        if text.isdigit() and 1 <= int(text) <= len(comps):
            numbers.add(int(text))
        elif text.lower() in by_id:
            numbers.add(by_id[text.lower()])
        else:
            unknown.append(text)
    if unknown:
        raise ToolError(
            f"there is no comp {', '.join(unknown)}: comps are numbered 1 to {len(comps)}"
        )
    return sorted(numbers)


def _comp_row(n: int, comp: ComparableRead) -> dict[str, Any]:
    return {
        "n": n,
        "comp_id": comp.property_id,
        "label": comp.label,
        "sale_price": money(comp.sale_price),
        "sale_date": comp.sale_date,
        "distance_miles": round(comp.distance_miles, 2)
        if comp.distance_miles is not None
        else None,
        "adjusted_price": money(comp.adjusted_price),
        "weight_pct": round(comp.weight * 100, 1),
    }


@tool(parse_docstring=True)
def get_comps(
    runtime: ToolRuntime[Context],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
    exclude: Annotated[list[int | str] | None, Field(max_length=25)] = None,
    arv: bool = False,
) -> dict[str, Any]:
    """Comparable sales for a property with their adjusted prices and the reconciled value.

    Use it for "comps for <address>". For "drop comp 3" or "drop comps 2 and 5, recompute",
    call it again for the same property with exclude=[3] or [2, 5]: the value is recomputed
    from the comps kept (numbers refer to the list as first shown).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it.
        property_id: Or the property's id from an earlier tool result.
        exclude: Comps to leave out of the value: their numbers (1 = the first comp
            listed) or their comp_id values.
        arv: True for after-repair (renovated) comps instead of as-is comps.

    """
    ctx = runtime.context
    ctx.progress("looking up comps…")

    def body(session: Session) -> dict[str, Any]:
        prop = resolve_property(session, ctx, address=address, property_id=property_id)
        analysis: CompAnalysis = valuation_service.find_comps(
            session=session,
            org_id=ctx.org_id,
            property_id=prop.id,
            kind=ValuationKind.arv if arv else ValuationKind.as_is,
        )
        rows = [_comp_row(n, comp) for n, comp in enumerate(analysis.comps, start=1)]
        dropped = _comp_numbers(exclude or [], analysis.comps)
        kept = [c for n, c in enumerate(analysis.comps, start=1) if n not in dropped]
        if dropped and len(kept) < 3:
            raise ToolError("at least 3 comps must remain to value the property")
        result: dict[str, Any] = {
            "property_id": prop.id,
            "address": address_label(prop),
            "kind": "ARV" if arv else "as-is",
            "as_of": analysis.as_of,
            "comps": [r for r in rows if r["n"] not in dropped],
            "value": money(analysis.value),
            "low": money(analysis.low),
            "high": money(analysis.high),
            "confidence_pct": round(float(analysis.confidence) * 100),
            "method": f"{analysis.method} v{analysis.version}",
            **_comps_age(
                [c.sale_date.isoformat() for c in analysis.comps],
                analysis.as_of,
                analysis.inputs.get("warning"),
            ),
        }
        if dropped:
            result["dropped"] = [r for r in rows if r["n"] in dropped]
            result["value_without_dropped"] = money(reweighted_value(kept))
            result["comps_kept"] = len(kept)
            result["value_basis"] = (
                "weighted geometric mean of the kept comps' adjusted prices, weights renormalised"
            )
        return result

    return run_tool(ctx, "get_comps", body)


@tool(parse_docstring=True)
def save_valuation(
    runtime: ToolRuntime[Context],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
    kind: Literal["arv", "as_is"] = "arv",
) -> dict[str, Any]:
    """Value a property from its comps as of today and store the valuation (with its comps).

    Use it for "save the ARV for <address>" or "store an as-is value for <address>": a
    deal's projection ("how did <deal> do vs the projection?") runs on the property's latest
    stored ARV. `get_comps` and `analyze_property` value a property without storing anything.
    An investor may store a valuation only of a property on no deal or on their own deals.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it.
        property_id: Or the property's id from an earlier tool result.
        kind: "arv" for the after-repair value (renovated comps), "as_is" for the value as
            the house stands.

    """
    ctx = runtime.context
    ctx.progress("valuing and saving…")

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst, Role.investor)
        prop = resolve_property(session, ctx, address=address, property_id=property_id)
        label = address_label(prop)
        try:
            valuation_service.check_may_store(
                session=session, org_id=ctx.org_id, principal=ctx.principal, property_id=prop.id
            )
        except valuation_service.ValuationPermissionError as exc:
            raise ToolError(
                f"nothing was stored: {label} is on a deal you are not on, and only that "
                "deal's owner and team, admins and analysts store its valuations "
                f"('comps for {label}' values it without storing)"
            ) from exc
        store = (
            valuation_service.after_repair_value
            if kind == "arv"
            else valuation_service.value_property
        )
        valuation = store(
            session=session, org_id=ctx.org_id, property_id=prop.id, principal=ctx.principal
        )
        return {
            "stored": True,
            "valuation_id": valuation.id,
            "property_id": prop.id,
            "address": label,
            "kind": ValuationKind(valuation.kind).value,
            "value": money(valuation.value),
            "low": money(valuation.low),
            "high": money(valuation.high),
            "confidence_pct": round(float(valuation.confidence) * 100),
            "as_of": valuation.as_of,
            "comps": len(valuation.comps),
            "method": f"{valuation.method} v{valuation.version}",
            **_comps_age(
                [str(c.get("sale_date")) for c in valuation.comps if c.get("sale_date")],
                valuation.as_of,
                valuation.inputs.get("warning"),
            ),
        }

    return run_tool(ctx, "save_valuation", body)


TOOLS: list[BaseTool] = [get_comps, save_valuation]
