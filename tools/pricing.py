"""Pricing tools: a rehab estimate, and texted walkthrough notes taken as a voice note is.

``estimate_rehab`` prices components, or notes as written (read by the walkthrough
extractor; nothing stored). ``walkthrough_notes`` stores texted notes as a walkthrough, by the
voice note's own service path, so the analysis and its PDF price them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.analysis import service as analysis_service
from domain.audio import service as audio_service
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentInput
from tools._common import ToolError, _domain_errors, money, resolve_property, run_tool
from tools.analysis import _analyse, analysis_result

NotesArg = Annotated[str, Field(min_length=1, max_length=audio_service.TEXT_MAX_CHARS)]


def _line_items(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """An estimate summary's lines as ``estimate_rehab`` shows them."""
    return [
        {
            "component": line["component"],
            "action": line["action"],
            "quantity": line["quantity"],
            "unit": line["unit"],
            "cost": money(Decimal(str(line["line_total"]))),
        }
        for line in lines
    ]


def findings_result(report: audio_service.FindingsReport) -> dict[str, Any]:
    """Every finding (what was said, its cost or why none), and everything not priced, why."""
    return {
        "findings": [
            {
                "component": f.component,
                "condition": f.condition,
                "quantity": f.quantity,
                "unit": f.unit,
                "said": f.said,
                "priced": f.priced,
                "action": f.action,
                "cost": money(f.cost) if f.cost is not None else None,
                "reason": f.reason,
            }
            for f in report.findings
        ],
        "not_priced": [{"what": n.what, "reason": n.reason} for n in report.not_priced],
    }


def _unpriced_lines(report: audio_service.FindingsReport) -> list[str]:
    """``not_priced`` as the one-line messages ``estimate_rehab``'s ``unpriced`` holds."""
    return [f"{n.what}: {n.reason}" for n in report.not_priced]


@tool(parse_docstring=True)
def estimate_rehab(
    runtime: ToolRuntime[Context],
    components: Annotated[list[ComponentInput], Field(min_length=1, max_length=100)] | None = None,
    notes: NotesArg | None = None,
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
) -> dict[str, Any]:
    """Price a rehab scope from the organisation's cost book (line items, contingency, total).

    Use it when the user lists what needs work ("roof is shot, furnace is fair, 12 windows").
    Give the property when known: its square footage sizes area-priced items. Nothing is
    stored: to make texted conditions the property's rehab scope (the analysis and PDF use
    them), call walkthrough_notes instead.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        components: What needs work, already split: component name (e.g. "roof",
            "furnace", "windows"), condition (poor = replace, fair = repair, good/excellent
            = nothing) and an optional quantity. Give this or notes, not both.
        notes: Or the user's own words about what needs work, as written ("roof is shot,
            furnace is original, twelve windows need replacing, the basement has water"):
            read by the walkthrough extractor; every finding is reported, priced or not.
        address: The property's street address, if the user named one.
        property_id: Or the property's id from an earlier tool result.

    """
    ctx = runtime.context
    ctx.progress("pricing the rehab…")

    def body(session: Session) -> dict[str, Any]:
        if (components is None) == (notes is None):
            raise ToolError(
                "give either components (each with its condition) or notes (what needs work, "
                "in the user's words), not both and not neither"
            )
        square_feet = None
        label = None
        named: dict[str, Any] = {}
        if address or property_id:
            prop = resolve_property(session, ctx, address=address, property_id=property_id)
            square_feet, label = prop.square_feet, prop.address_line
            named = {"property_id": prop.id}  # a "max offer?" next means this house
        if notes is not None:
            return {**_estimate_from_notes(session, ctx, notes, square_feet, label), **named}
        assert components is not None
        estimate = pricing_service.estimate_rehab(
            session=session, org_id=ctx.org_id, items=components, square_feet=square_feet
        )
        return {
            "address": label,
            **named,
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


def _estimate_from_notes(
    session: Session, ctx: Context, notes: str, square_feet: int | None, label: str | None
) -> dict[str, Any]:
    """``estimate_rehab`` over notes: the walkthrough extractor's findings, priced, not stored."""
    priced = audio_service.estimate_from_text(
        session=session, org_id=ctx.org_id, text=notes, square_feet=square_feet
    )
    summary = priced.rehab_estimate
    report = audio_service.report_findings(priced.findings, summary, priced.not_priced)
    return {
        "address": label,
        "line_items": _line_items(summary["line_items"]),
        "unpriced": _unpriced_lines(report),
        "subtotal": money(Decimal(str(summary["subtotal"]))),
        "contingency": money(Decimal(str(summary["contingency"]))),
        "contingency_pct": summary["contingency_pct"],
        "total": money(Decimal(str(summary["total"]))),
        "source": summary["basis"],
        **findings_result(report),
        "assumptions": summary["assumptions"],
        "extracted_by": f"the walkthrough extractor ({audio_service.EXTRACTION_METHOD})",
        "stored": False,
    }


@tool(parse_docstring=True)
def walkthrough_notes(
    runtime: ToolRuntime[Context],
    notes: NotesArg,
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
) -> dict[str, Any]:
    """Take texted walkthrough notes as a walkthrough voice note: store, price and analyse.

    Use it when the user texts what they saw at a property ("Walked 1215 Kellogg today. Roof
    is shot, furnace is original, basement has water"); a "rehab estimate for <address>:
    ..." only prices (estimate_rehab with notes). The notes go through the voice note's path: the
    walkthrough extractor reads every component and its condition, the conditions are
    stored on the property (the analysis and its PDF price them from now on) and priced
    from the cost book. Returns every finding with its cost or why it was not priced, the
    rehab total, and the property's analysis on those conditions.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        notes: What the user wrote about the property's condition, as written.
        address: The property's street address as the user wrote it.
        property_id: Or the property's id from an earlier tool result.

    """
    ctx = runtime.context
    ctx.progress("reading your walkthrough notes…")

    def body(session: Session) -> dict[str, Any]:
        prop = resolve_property(session, ctx, address=address, property_id=property_id)
        try:
            done = audio_service.walkthrough_from_text(
                session=session,
                org_id=ctx.org_id,
                property_id=prop.id,
                text=notes,
                actor=ctx.principal,
                uploaded_by=ctx.user_id,
            )
        except audio_service.EvidenceNotPermitted as exc:
            raise ToolError(f"{exc}; nothing was stored") from exc
        summary = done.rehab_estimate
        report = audio_service.report_findings(done.findings, summary, done.not_priced)
        result: dict[str, Any] = {
            "property_id": prop.id,
            "address": analysis_service.address_of(prop),
            "walkthrough_id": done.walkthrough.id,
            "stored": True,
            **findings_result(report),
            "line_items": _line_items(summary["line_items"]),
            "rehab_subtotal": money(Decimal(str(summary["subtotal"]))),
            "contingency": money(Decimal(str(summary["contingency"]))),
            "rehab_total": money(Decimal(str(summary["total"]))),
            "assumptions": summary["assumptions"],
            "analysis": None,
        }
        # The analysis of the property on the conditions just stored; one that cannot be run
        # says why and never undoes the stored walkthrough.
        try:
            with session.begin_nested():
                result["analysis"] = analysis_result(_analyse(session, ctx, None, str(prop.id)))
        except _domain_errors() as exc:
            result["analysis_missing"] = str(exc) or type(exc).__name__
        return result

    return run_tool(ctx, "walkthrough_notes", body)


TOOLS: list[BaseTool] = [estimate_rehab, walkthrough_notes]
