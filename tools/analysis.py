"""Analysis tools: the full property analysis, the maximum offer, and the PDF report."""

from __future__ import annotations

import importlib
import logging
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from domain.analysis import service as analysis_service
from domain.analysis.formatting import NOT_AVAILABLE, annualised_roi_text, percent
from domain.analysis.models import PropertyAnalysis, WhatIf
from domain.underwriting.models import FlipResult, RentalResult
from tools._common import ToolError, money, resolve_property, run_tool

logger = logging.getLogger(__name__)

AddressArg = Annotated[str | None, Field(max_length=300)]
IdArg = Annotated[str | None, Field(max_length=64)]
RehabArg = Annotated[Decimal | None, Field(ge=0, le=10_000_000, decimal_places=2)]
SquareFeetArg = Annotated[int | None, Field(ge=1, le=100_000)]
PriceArg = Annotated[Decimal | None, Field(gt=0, le=100_000_000, decimal_places=2)]
Focus = Literal["flip", "rental", "brrrr", "projection", "value", "rehab", "rent"]


def _roi_text(flip: FlipResult) -> str:
    """The flip's ROI as the verdict and the PDF write it (half up from the exact ratio)."""
    if flip.roi_pct is None:
        return NOT_AVAILABLE
    return analysis_service.pct_text(flip.roi_pct, analysis_service.flip_roi_exact(flip))


def _coc_text(rental: RentalResult) -> str:
    """The rental's cash-on-cash as the verdict and the PDF write it."""
    if rental.cash_on_cash_pct is None:
        return NOT_AVAILABLE
    exact = analysis_service.cash_on_cash_exact(rental)
    return analysis_service.pct_text(rental.cash_on_cash_pct, exact)


def _strategies(analysis: PropertyAnalysis) -> dict[str, dict[str, str]]:
    """Each strategy's key figures (as written), for "and as a rental?" follow-ups."""
    out: dict[str, dict[str, str]] = {}
    if (flip := analysis.flip) is not None:
        out["flip"] = {
            "profit": money(flip.profit),
            "roi": _roi_text(flip),
            "annualized_roi": annualised_roi_text(flip.roi_pct, flip.annualized_roi_pct),
            "total_project_cost": money(flip.total_project_cost),
            "cash_invested": money(flip.cash_invested),
            "hold_months": str(flip.inputs.hold_months),
        }
    if (rental := analysis.rental) is not None:
        out["rental"] = {
            "rent_monthly": money(rental.inputs.operations.gross_rent_monthly),
            "noi_annual": money(rental.noi_annual),
            "cap_rate": percent(rental.cap_rate_pct)
            if rental.cap_rate_pct is not None
            else NOT_AVAILABLE,
            "monthly_cash_flow": money(rental.monthly_cash_flow),
            "cash_on_cash": _coc_text(rental)
            if rental.cash_on_cash_pct is not None
            else NOT_AVAILABLE,
            "dscr": str(rental.dscr) if rental.dscr is not None else NOT_AVAILABLE,
            "cash_invested": money(rental.cash_invested),
        }
    if (brrrr := analysis.brrrr) is not None:
        out["brrrr"] = {
            "total_cash_in": money(brrrr.total_cash_in),
            "refinance_loan": money(brrrr.refinance_loan_amount),
            "cash_out": money(brrrr.cash_out),
            "cash_left_in_deal": money(brrrr.cash_left_in_deal),
            "monthly_cash_flow": money(brrrr.monthly_cash_flow),
            "cash_on_cash": percent(brrrr.cash_on_cash_pct)
            if brrrr.cash_on_cash_pct is not None
            else "infinite (no cash left in)",
        }
    if (projection := analysis.projection) is not None:
        out["projection"] = {
            "hold_years": str(projection.inputs.hold_years),
            "cash_invested": money(projection.cash_invested),
            "total_cash_flow": money(projection.total_cash_flow),
            "sale_price": money(projection.sale_price),
            "net_sale_proceeds": money(projection.net_sale_proceeds),
            "total_profit": money(projection.total_profit),
            "irr": percent(projection.irr_pct) if projection.irr_pct is not None else NOT_AVAILABLE,
            "equity_multiple": f"{projection.equity_multiple}x"
            if projection.equity_multiple is not None
            else NOT_AVAILABLE,
        }
    return out


def _missing(analysis: PropertyAnalysis) -> dict[str, str]:
    """The parts that could not be produced, and why."""
    parts = {
        "purchase_price": analysis.purchase_price_missing,
        "as_is_value": analysis.as_is_missing,
        "arv": analysis.arv_missing,
        "flip": analysis.flip_missing,
        "rental": analysis.rental_missing,
        "brrrr": analysis.brrrr_missing,
        "projection": analysis.projection_missing,
        "max_offer": analysis.max_offer_missing,
        "section8": analysis.rent.section8_missing,
    }
    return {name: why for name, why in parts.items() if why}


def _values_sized_on(analysis: PropertyAnalysis) -> str | None:
    """The living area the as-is value and ARV are sized on, and its source; None if unsized."""
    area = analysis.values_square_feet
    if area is None:
        return None
    return f"{area:,} sqft {analysis.values_square_feet_source or 'on file'}"


def _deal_used(analysis: PropertyAnalysis) -> dict[str, Any] | None:
    """Which deal the analysis ran on and which of its figures it took; None without a deal."""
    if analysis.deal_id is None:
        return None
    price = analysis.purchase_price
    deal_priced = price is not None and price.source.startswith("deal ")
    if deal_priced:
        assert price is not None
        price_text = f"the deal's price {money(price.amount)}"
    elif price is not None and price.source == "price as given":
        price_text = f"the price you gave {money(price.amount)}, not the deal's"
    else:
        where = price.source if price is not None else "no price"
        price_text = f"no price on the deal, so the {where}"
    return {
        "deal_id": str(analysis.deal_id),
        "status": analysis.deal_status,
        "price_used": deal_priced,
        "text": f"deal {str(analysis.deal_id)[:8]} ({analysis.deal_status}): {price_text}",
    }


def analysis_result(analysis: PropertyAnalysis) -> dict[str, Any]:
    """The analysis as the agent sees it: headline figures (as written), reasons, sources."""
    f = analysis.figures
    section8 = analysis.rent.section8
    brrrr = analysis.brrrr
    return {
        "property_id": analysis.property_id,
        "address": f.address,
        "as_of": analysis.as_of,
        "verdict": analysis.verdict.label.value,
        "headline": f.verdict,
        "reasons": analysis.verdict.reasons[:4],
        "purchase_price": f.purchase_price,
        "purchase_price_source": analysis.purchase_price.source
        if analysis.purchase_price
        else None,
        "deal": _deal_used(analysis),
        "as_is_value": f.as_is_value,
        "arv": f.arv,
        "rehab_total": f.rehab_total,
        "rehab_scope": analysis.rehab.scope_source,
        "rehab_source": analysis.rehab_total_source,
        "rehab_complete": analysis.rehab_complete,
        "rehab_missing": analysis.rehab_missing,
        "max_offer": f.max_offer,
        "max_offer_formula": analysis.max_offer.formula if analysis.max_offer else None,
        "rent": f.rent,
        "rent_source": analysis.rent.rent_source,
        "fmr": f.fmr,
        "payment_standard": f.payment_standard,
        "fmr_bedrooms": section8.bedrooms if section8 else None,
        "fmr_year": section8.year if section8 else None,
        "flip_profit": f.flip_profit,
        "flip_roi": _roi_text(analysis.flip) if analysis.flip else NOT_AVAILABLE,
        "rental_cash_flow_monthly": f.rental_cash_flow,
        "cash_on_cash": _coc_text(analysis.rental) if analysis.rental else NOT_AVAILABLE,
        "brrrr_cash_left_in_deal": money(brrrr.cash_left_in_deal) if brrrr else NOT_AVAILABLE,
        "strategies": _strategies(analysis),
        "values_sized_on": _values_sized_on(analysis),
        "notes": list(analysis.notes),
        "missing": _missing(analysis),
        "sources": {
            "as_is_comps": len(analysis.sources.as_is_comp_ids),
            "arv_comps": len(analysis.sources.arv_comp_ids),
            "valuation_method": analysis.sources.valuation_method,
            "fmr_area": analysis.sources.fmr_area,
            "fmr_year": analysis.sources.fmr_year,
            "cost_basis": analysis.sources.cost_basis,
            "condition_source": analysis.sources.condition_source,
        },
    }


def _deal_for(session: Session, ctx: Context, property_id: uuid.UUID) -> Any:
    """The deal on the house whose price and repairs the caller's analysis and PDF use."""
    return analysis_service.relevant_deal(
        session=session, org_id=ctx.org_id, property_id=property_id, principal=ctx.principal
    )


def _analyse(
    session: Session,
    ctx: Context,
    address: str | None,
    property_id: str | None,
    rehab_cost: Decimal | None = None,
    square_feet: int | None = None,
    purchase_price: Decimal | None = None,
) -> Any:
    prop = resolve_property(session, ctx, address=address, property_id=property_id)
    deal = _deal_for(session, ctx, prop.id)
    try:
        return analysis_service.analyze_property(
            session=session,
            org_id=ctx.org_id,
            property_id=prop.id,
            # The deal the caller may see (an open one, else the latest closed): its price and
            # estimated repairs, as REST with deal_id and the deal's projection use; a price
            # the user gives still replaces the deal's (price_given).
            deal_id=deal.id if deal is not None else None,
            rehab_cost=rehab_cost,
            square_feet=square_feet,
            purchase_price=purchase_price,
        )
    except analysis_service.AnalysisInputError as exc:
        raise ToolError(str(exc)) from exc


@tool(parse_docstring=True)
def analyze_property(
    runtime: ToolRuntime[Context],
    address: AddressArg = None,
    property_id: IdArg = None,
    rehab_cost: RehabArg = None,
    focus: Focus | None = None,
    square_feet: SquareFeetArg = None,
    purchase_price: PriceArg = None,
) -> dict[str, Any]:
    """Analyse a property end to end: verdict, as-is value, ARV, rehab, max offer, rent vs FMR.

    Use it whenever the user sends a street address or asks what a property is worth or
    whether it is a deal. Returns the verdict with its reasons, the as-is value and
    after-repair value (ARV) from comps, the rehab budget, the maximum offer (70% rule), the
    rent against HUD's Fair Market Rent and payment standard, flip profit, monthly rental
    cash flow and BRRRR cash left in the deal; parts that cannot be computed say why.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it (any common US format).
        property_id: Or the property's id, when already known from an earlier tool result.
        rehab_cost: The user's own rehab budget in dollars, only when they said one ("if
            rehab is 40k"); it replaces the estimate in every figure.
        focus: The part the user asked about: a strategy ("and as a rental?": flip, rental
            or brrrr), the hold projection ("the 5 year projection?", "the IRR?":
            projection) or one figure ("what's it worth?": value; "how much rehab does it
            need?": rehab; "what's the rent?": rent).
        square_feet: The house's living area, only when the user said it ("it's 1,100
            sqft"); when none is on file it sizes the as-is value, ARV and rehab (the
            result's rehab_missing asks for it); when one is on file it sizes the rehab
            only (values_sized_on says which area sized the values).
        purchase_price: The price in dollars the user asks about, only when they said one
            ("what if I pay 150k?", "does it work at 80k?"); it replaces the list or deal
            price in the flip, rental, BRRRR and verdict (price_given is then true).

    """
    ctx = runtime.context
    ctx.progress("analysing the property…")

    def body(session: Session) -> dict[str, Any]:
        analysis = _analyse(
            session, ctx, address, property_id, rehab_cost, square_feet, purchase_price
        )
        analysis_service.publish_completed(
            session=session, analysis=analysis, requested_by=ctx.user_id, channel=ctx.channel
        )
        result = analysis_result(analysis)
        # On WhatsApp the channel sends the PDF after every analysis; elsewhere it is asked for.
        result["report_follows"] = ctx.channel == "whatsapp"
        if focus is not None:
            result["focus"] = focus
        if square_feet is not None:
            result["square_feet_given"] = square_feet
        if purchase_price is not None:
            result["price_given"] = True
        return result

    return run_tool(ctx, "analyze_property", body)


@tool(parse_docstring=True)
def max_offer(
    runtime: ToolRuntime[Context],
    address: AddressArg = None,
    property_id: IdArg = None,
    rehab_cost: RehabArg = None,
    square_feet: SquareFeetArg = None,
) -> dict[str, Any]:
    """The maximum offer for a property: ARV x 70% - rehab, and the price for the target profit.

    Use it for "what's my max offer on <address>" or "how much should I offer".

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address as the user wrote it.
        property_id: Or the property's id from an earlier tool result.
        rehab_cost: The user's own rehab budget in dollars, only when they said one ("if
            rehab is 40k"); it replaces the estimate.
        square_feet: The house's living area, only when the user said it; it sizes the
            rehab, and the ARV too when no living area is on file.

    """
    ctx = runtime.context
    ctx.progress("working out the maximum offer…")

    def body(session: Session) -> dict[str, Any]:
        analysis = _analyse(session, ctx, address, property_id, rehab_cost, square_feet)
        offer = analysis.max_offer
        result: dict[str, Any] = {
            "property_id": analysis.property_id,
            "address": analysis.figures.address,
            "max_offer": analysis.figures.max_offer,
        }
        if rehab_cost is not None:
            result["rehab_given"] = True
            result["rehab_estimate"] = money(analysis.rehab.estimate.total)
        if analysis.arv is not None:
            result["values_sized_on"] = _values_sized_on(analysis)
        if offer is None:
            result["missing"] = analysis.max_offer_missing
            return result
        return result | {
            "rule_pct": percent(offer.rule_pct, 0),
            "arv": money(offer.arv),
            "rehab_total": money(offer.rehab_total),
            "formula": offer.formula,
            "for_target_profit": money(offer.for_target_profit)
            if offer.for_target_profit is not None
            else NOT_AVAILABLE,
            "target_profit": money(analysis.thresholds.flip_min_profit),
            "purchase_price": analysis.figures.purchase_price,
        }

    return run_tool(ctx, "max_offer", body)


def _report_url(ctx: Context, document_id: uuid.UUID) -> str | None:
    """A signed, expiring link to the PDF (the web and CLI show it; WhatsApp attaches it)."""
    if ctx.channel == "whatsapp":
        return None  # the WhatsApp channel sends the report itself, as media
    try:
        signing = importlib.import_module("channels.signing")
        link = signing.report_url(document_id, org_id=ctx.org_id)
    except Exception:  # noqa: BLE001 - no link is better than no answer
        logger.exception("report_url failed")
        return None
    return str(getattr(link, "url", link))


@tool(parse_docstring=True)
def generate_report(
    runtime: ToolRuntime[Context],
    address: AddressArg = None,
    property_id: IdArg = None,
    rehab_cost: RehabArg = None,
    square_feet: SquareFeetArg = None,
    purchase_price: PriceArg = None,
) -> dict[str, Any]:
    """Render the property analysis as a PDF report and return its document id (and link).

    Use it for "send me the report" / "PDF": pass the property analysed last in this
    conversation (its property_id from the analyze_property result) unless the user names
    another address. On WhatsApp the channel sends the PDF itself.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The street address, when the user names one.
        property_id: The property's id from an earlier tool result.
        rehab_cost: The rehab budget the last analysis of this property was run with, if
            the user gave one, so the PDF shows the figures they saw.
        square_feet: Likewise the living area the user gave.
        purchase_price: Likewise the price the user asked about ("what if I pay 30k?").

    """
    ctx = runtime.context
    ctx.progress("rendering the PDF report…")

    def body(session: Session) -> dict[str, Any]:
        prop = resolve_property(session, ctx, address=address, property_id=property_id)
        try:
            reports = importlib.import_module("workers.reports")
        except ImportError as exc:
            raise ToolError("PDF reports are not available on this installation") from exc
        # Rendered in this tool call (a few hundred milliseconds) rather than on the reports
        # queue: the turn answers with the stored document, with or without a worker running.
        what_if = WhatIf(
            rehab_cost=rehab_cost, square_feet=square_feet, purchase_price=purchase_price
        )
        # The same deal as analyze_property, so the PDF shows the figures of the reply.
        deal = _deal_for(session, ctx, prop.id)
        try:
            report = reports.generate_property_report(
                session=session,
                org_id=ctx.org_id,
                property_id=prop.id,
                deal_id=deal.id if deal is not None else None,
                requested_by=ctx.user_id,
                what_if=what_if,
            )
        except analysis_service.AnalysisInputError as exc:
            raise ToolError(str(exc)) from exc
        return {
            "status": "ready",
            "address": analysis_service.address_of(prop),
            "property_id": prop.id,
            "report_document_id": report.document_id,
            "pages": report.pages,
            "verdict": report.verdict,
            "deal_id": str(deal.id) if deal is not None else None,
            "report_url": _report_url(ctx, report.document_id),
            **({"what_if": "the figures you gave are in the PDF"} if what_if else {}),
        }

    return run_tool(ctx, "generate_report", body)


def _leader(analysis: PropertyAnalysis | None, figure: str, key: str) -> dict[str, Any] | None:
    """The leading house on one figure: its address and that figure as written."""
    if analysis is None:
        return None
    return {"address": analysis.figures.address, key: getattr(analysis.figures, figure)}


@tool(parse_docstring=True)
def compare_properties(
    runtime: ToolRuntime[Context],
    addresses: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=2, max_length=4)
    ],
) -> dict[str, Any]:
    """Compare 2-4 houses side by side: each one's analysis, and which leads on each strategy.

    Use for "compare 1215 Kellogg Ave and 2718 Duff Ave", "which is the better deal, X or Y?".
    Each house is analysed as analyze_property does (the caller's deal price when they have
    one, else the list price).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        addresses: The houses' street addresses, as the user wrote them.

    """
    ctx = runtime.context
    ctx.progress("comparing the houses…")

    def body(session: Session) -> dict[str, Any]:
        analyses = [_analyse(session, ctx, address, None) for address in addresses]
        if len({a.property_id for a in analyses}) < len(analyses):
            raise ToolError("two of those addresses are the same house: name different houses")
        ranked = analysis_service.compare_analyses(analyses)
        rows = [analysis_result(a) for a in analyses]
        return {
            "properties": [
                {
                    key: row[key]
                    for key in (
                        "property_id",
                        "address",
                        "headline",
                        "purchase_price",
                        "deal",
                        "as_is_value",
                        "arv",
                        "rehab_total",
                        "max_offer",
                        "flip_profit",
                        "rental_cash_flow_monthly",
                        "rent",
                        "fmr",
                    )  # fmt: skip
                }
                for row in rows
            ],
            "best_flip": _leader(ranked.best_flip, "flip_profit", "flip_profit"),
            "best_rental": _leader(
                ranked.best_rental, "rental_cash_flow", "rental_cash_flow_monthly"
            ),
            "sources": [
                "analysis_service.analyze_property for each house (comps, cost book, HUD FMR)",
                "analysis_service.compare_analyses: highest flip profit, highest rental cash flow",
            ],
        }

    return run_tool(ctx, "compare_properties", body)


TOOLS: list[BaseTool] = [analyze_property, max_offer, generate_report, compare_properties]
