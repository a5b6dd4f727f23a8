"""Deal tools: list the deals the caller may see, open one, change or move it, make an offer.

The deal service enforces who sees what (an investor sees only the deals they own or are on)
and who may change deals (admins and analysts); the tools pass the caller's principal.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_day
from domain.auth.enums import Role
from domain.deal import performance as deal_performance_service
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus, DealStrategy
from domain.deal.models import Deal, DealCreate, DealUpdate, OfferCreate
from domain.deal.state_machine import TERMINAL_DEAL_STATUSES
from domain.property import service as property_service
from tools._common import (
    ToolError,
    address_label,
    money,
    parse_uuid,
    require_roles,
    require_user,
    resolve_property,
    run_tool,
)

DealRef = Annotated[str, Field(min_length=1, max_length=300)]
_HEX_PREFIX = re.compile(r"^[0-9a-f]{6,32}$", re.I)


def resolve_deal(session: Session, ctx: Context, ref: str) -> Deal:
    """A deal the caller may see, by id, id prefix (6+ hex digits) or its property's address."""
    text = ref.strip().removeprefix("deal").strip(" #:")
    principal = ctx.principal
    deal_id = parse_uuid(text)
    if deal_id is not None:
        return deal_service.get_deal(
            session=session, org_id=ctx.org_id, deal_id=deal_id, principal=principal
        )
    if _HEX_PREFIX.match(text):
        visible = deal_service.list_deals(
            session=session, org_id=ctx.org_id, principal=principal, limit=500
        )
        hits = [d for d in visible if d.id.hex.startswith(text.lower().replace("-", ""))]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ToolError(f"{len(hits)} deals start with {text!r}: give more of the id")
        raise ToolError(f"deal {text} not found")
    if not any(ch.isdigit() for ch in text):
        return _deal_on_street(session, ctx, text)  # "the mack ave deal"
    if re.fullmatch(r"\d{1,5}", text):  # "p&l for deal 3866": the deal on 3866 <street>
        numbered = deal_service.deals_at_house_number(
            session=session, org_id=ctx.org_id, number=text, principal=principal
        )
        if not numbered:
            raise ToolError(
                f"no deal you can see is on a house numbered {text} (a deal's short id has "
                "8 characters, e.g. 'deal 3866ab12')"
            )
        return _one_deal(session, ctx, numbered, f"at number {text}")
    try:
        prop = resolve_property(session, ctx, address=text)
    except ToolError as exc:
        raise ToolError(f"deal {ref!r} not found ({exc})") from exc
    deals = deal_service.list_deals(
        session=session, org_id=ctx.org_id, principal=principal, property_id=prop.id, limit=50
    )
    if not deals:
        raise ToolError(f"no deal you can see is on {address_label(prop)}")
    return _one_deal(session, ctx, deals, f"on {address_label(prop)}")


def _deal_on_street(session: Session, ctx: Context, street: str) -> Deal:
    """The one deal the caller may see on a street named without a house number.

    Several: the active ones (not closed, dead or passed) decide when only one is active;
    else the caller is asked to pick one by its short id (or the house number).
    """
    found = deal_service.deals_on_street(
        session=session, org_id=ctx.org_id, street=street, principal=ctx.principal
    )
    if not found:
        raise ToolError(f"no deal you can see is on a street called {street!r}")
    return _one_deal(session, ctx, found, f"on {street!r}")


def _one_deal(session: Session, ctx: Context, deals: list[Deal], where: str) -> Deal:
    """The deal ``deals`` (most recently changed first) mean: the only one, or the only active.

    Else a ToolError listing each candidate's short id, status and address, so the user can
    pick one ("deal 1a2b3c4d (lead) or deal 5e6f7a8b (closed)"): two open deals on one house
    (a duplicate allowed on purpose) differ in nothing else.
    """
    active = [d for d in deals if d.status not in TERMINAL_DEAL_STATUSES]
    if len(deals) == 1:
        return deals[0]
    if len(active) == 1:
        return active[0]
    candidates = active or deals
    labels = []
    for deal in candidates[:4]:
        prop = property_service.get(
            session=session, org_id=ctx.org_id, property_id=deal.property_id
        )
        place = f" at {address_label(prop)}" if prop is not None else ""
        labels.append(f"deal {deal_service.short_id(deal.id)} ({deal.status}){place}")
    more = f" and {len(candidates) - 4} more" if len(candidates) > 4 else ""
    raise ToolError(
        f"{len(candidates)} deals are {where}: {' or '.join(labels)}{more}. Say which by its"
        f" id, e.g. 'deal {deal_service.short_id(candidates[0].id)}'"
    )


def deal_row(session: Session, deal: Deal) -> dict[str, Any]:
    """A deal as the tools show it."""
    prop = property_service.get(session=session, org_id=deal.org_id, property_id=deal.property_id)
    return {
        "deal_id": deal.id,
        "address": address_label(prop) if prop is not None else None,
        "status": deal.status,
        "strategy": deal.strategy,
        "purchase_price": money(deal.purchase_price) if deal.purchase_price is not None else None,
        "estimated_repairs": money(deal.estimated_repairs)
        if deal.estimated_repairs is not None
        else None,
        "updated_at": local_day(deal.updated_at),
    }


@tool(parse_docstring=True)
def list_deals(
    runtime: ToolRuntime[Context],
    status: DealStatus | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    """The deals the user may see, most recently changed first (investors: their own deals).

    Use start/end for a period: "which deals closed in October?" is status closed with
    October's first and last day; "new deals this week" is no status, Monday to today.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        status: Only deals in this pipeline status (lead, analyzing, offer_made,
            under_contract, closed, dead, passed).
        start: First day of a period (YYYY-MM-DD, inclusive): with a status, only deals
            that moved into that status on or after it; without one, deals created on or
            after it.
        end: Last day of the period (YYYY-MM-DD, inclusive).
        limit: At most this many deals.

    """
    ctx = runtime.context
    ctx.progress("looking up deals…")

    def body(session: Session) -> dict[str, Any]:
        if start is not None and end is not None and start > end:
            raise ToolError(f"the period starts ({start}) after it ends ({end})")
        deals = deal_service.list_deals(
            session=session, org_id=ctx.org_id, principal=ctx.principal, status=status,
            since=start, until=end, limit=limit,
        )  # fmt: skip
        # Every list says how many there are in all ("Your deals (300): ... the 10 latest").
        total = deal_service.count_deals(
            session=session, org_id=ctx.org_id, principal=ctx.principal, status=status,
            since=start, until=end,
        )  # fmt: skip
        result: dict[str, Any] = {
            "count": len(deals),
            "total": total,
            "deals": [deal_row(session, d) for d in deals],
            "source": "deal_service.deals visible to you",
        }
        if start is not None or end is not None:
            result["period"] = {
                "start": start,
                "end": end,
                "by": f"date the deal became {status.value}" if status else "date created",
            }
        return result

    return run_tool(ctx, "list_deals", body)


@tool(parse_docstring=True)
def create_deal(
    runtime: ToolRuntime[Context],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
    strategy: DealStrategy | None = None,
    purchase_price: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
    status: Literal["lead", "analyzing"] = "lead",
    allow_duplicate: bool = False,
) -> dict[str, Any]:
    """Open a new deal on a property on file (as a lead, or being analysed).

    A property that already has an open deal gets no second one: the error names that deal
    (its short id and status); work on it instead, unless the user says they want a second
    deal on the same house.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The property's street address.
        property_id: Or the property's id from an earlier tool result.
        strategy: flip, rental, brrrr, wholesale or section8_rental.
        purchase_price: The expected or contract price in dollars, if known.
        status: lead (default) or analyzing.
        allow_duplicate: True only when the user asks for a second deal on a property that
            already has an open one.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        prop = resolve_property(session, ctx, address=address, property_id=property_id)
        try:
            deal = deal_service.create_deal(
                session=session,
                org_id=ctx.org_id,
                deal_in=DealCreate.model_validate(
                    {
                        "property_id": prop.id,
                        "strategy": strategy,
                        "purchase_price": purchase_price,
                        "status": status,
                    }
                ),
                principal=ctx.principal,
                refuse_open_duplicate=not allow_duplicate,
            )
        except deal_service.DuplicateDealError as exc:
            short = deal_service.short_id(exc.existing_id)
            raise ToolError(
                f"{address_label(prop)} already has an open deal: deal {short}"
                f" ({exc.existing_status.value}); no second deal was created. Work on that"
                f" deal (name it as 'deal {short}'), or ask for a second deal on the same"
                " property explicitly"
            ) from exc
        return {"created": True, **deal_row(session, deal)}

    return run_tool(ctx, "create_deal", body)


@tool(parse_docstring=True)
def change_deal_status(
    runtime: ToolRuntime[Context],
    deal: DealRef,
    status: DealStatus,
    reason: Annotated[str | None, Field(max_length=500)] = None,
) -> dict[str, Any]:
    """Move a deal to another pipeline status (the pipeline's rules decide what is allowed).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address.
        status: The new status: lead, analyzing, offer_made, under_contract, closed, dead or
            passed.
        reason: Why, in a few words (kept on the deal's timeline).

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        found = resolve_deal(session, ctx, deal)
        before = found.status
        moved = deal_service.change_status(
            session=session,
            org_id=ctx.org_id,
            deal_id=found.id,
            status=status,
            reason=reason,
            principal=ctx.principal,
        )
        return {"previous_status": before, **deal_row(session, moved)}

    return run_tool(ctx, "change_deal_status", body)


@tool(parse_docstring=True)
def make_offer(
    runtime: ToolRuntime[Context],
    deal: DealRef,
    offer_amount: Annotated[Decimal, Field(gt=0, le=100_000_000)],
    submit: bool = True,
) -> dict[str, Any]:
    """Record an offer on a deal (submitted by default, which moves a lead to offer_made).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address.
        offer_amount: The offered price in dollars.
        submit: False to keep the offer as a draft.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        found = resolve_deal(session, ctx, deal)
        offer = deal_service.make_offer(
            session=session,
            org_id=ctx.org_id,
            deal_id=found.id,
            offer_in=OfferCreate.model_validate(
                {"offer_amount": offer_amount, "status": "submitted" if submit else "draft"}
            ),
            principal=ctx.principal,
        )
        session.refresh(found)
        return {
            "offer_id": offer.id,
            "offer_amount": money(offer.offer_amount),
            "offer_status": offer.status,
            **deal_row(session, found),
        }

    return run_tool(ctx, "make_offer", body)


@tool(parse_docstring=True)
def update_deal(
    runtime: ToolRuntime[Context],
    deal: DealRef,
    purchase_price: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
    strategy: DealStrategy | None = None,
    estimated_repairs: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
) -> dict[str, Any]:
    """Change a deal's figures: its purchase price, strategy or estimated repairs.

    Use when the user corrects or changes a deal on file: "actually make it $92,500" just
    after opening a deal, "set the price on deal 1a2b3c4d to $59,000", "make the kercheval
    deal a rental", "repairs on that deal are $28k". Give at least one field; the others
    stay as they are. `changed` gives each changed field as [old, new]: read both back. A
    closed deal's price must match the purchase booked in its ledger; the error says what
    to correct first. The status is moved with `change_deal_status`, offers with
    `make_offer`.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address.
        purchase_price: The new expected or contract price in dollars.
        strategy: The new strategy: flip, rental, brrrr, wholesale or section8_rental.
        estimated_repairs: The new estimated repair cost in dollars.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        from tools.finance import ledger_money  # late: tools.finance imports this module

        require_user(ctx)
        require_roles(ctx, Role.admin, Role.analyst)
        given: dict[str, Any] = {
            key: value
            for key, value in (
                ("purchase_price", purchase_price),
                ("strategy", strategy),
                ("estimated_repairs", estimated_repairs),
            )
            if value is not None
        }
        if not given:
            raise ToolError(
                "say what to change on the deal: purchase_price, strategy or estimated_repairs"
            )
        found = resolve_deal(session, ctx, deal)
        before = {key: getattr(found, key) for key in given}
        try:
            updated = deal_service.update_deal(
                session=session,
                org_id=ctx.org_id,
                deal_id=found.id,
                deal_in=DealUpdate.model_validate(given),
                principal=ctx.principal,
            )
        except deal_service.DealError as exc:
            raise ToolError(
                f"deal {deal_service.short_id(found.id)} was not changed: {exc}"
            ) from exc

        def shown(key: str, value: Any) -> str | None:
            if value is None:
                return None
            if key == "strategy":
                return DealStrategy(value).value  # a loaded deal holds it as a plain string
            return ledger_money(Decimal(value))

        pairs = {key: [shown(key, before[key]), shown(key, getattr(updated, key))] for key in given}
        # A field given its current value is left out: the service changed nothing there.
        changed = {key: pair for key, pair in pairs.items() if pair[0] != pair[1]}
        return {"changed": changed, **deal_row(session, updated)}

    return run_tool(ctx, "update_deal", body)


@tool(parse_docstring=True)
def deal_performance(
    runtime: ToolRuntime[Context], deal: DealRef, as_of: dt.date | None = None
) -> dict[str, Any]:
    """How a deal did against its projection: projected vs actual, line by line.

    Use for "how did kercheval do vs the projection?", "actual vs projected for deal X",
    "profit on <address> compared to the projection". Gives, for the deal's strategy, the
    projected figure (GET /projections/{dealId}) and the actual one from the deal's ledger,
    the difference (actual − projected) and its %, and whether it is favourable: purchase,
    rehab, holding, financing and selling costs, sale price and profit (flip), rents, NOI
    and cash flow to date (rental), and returns. `state` says "realised" (sold),
    "realised so far" (not sold yet) or "to date" (a rental); `open_items` what is still
    open. A figure that is null is missing: its `missing` says why (e.g. no ARV for the
    projection, nothing booked): say so, never fill it in.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), or its property's address.
        as_of: Run the actuals to this day ("as of end of March"): ledger rows dated on or
            before it; omit for today. A day after today is refused.

    """
    ctx = runtime.context
    ctx.progress("comparing the deal with its projection…")

    def body(session: Session) -> dict[str, Any]:
        from tools.finance import ledger_money  # late: tools.finance imports this module

        found = resolve_deal(session, ctx, deal)
        result = deal_performance_service.deal_performance(
            session=session,
            org_id=ctx.org_id,
            deal_id=found.id,
            principal=ctx.principal,
            as_of=as_of,
        )

        def amount(value: Decimal | None) -> str | None:
            return None if value is None else ledger_money(value)

        return {
            "deal_id": found.id,
            "address": deal_row(session, found)["address"],
            "strategy": result.strategy,
            "status": result.status,
            "state": result.state,
            "period": {"start": result.period_start, "end": result.period_end},
            "operating_start": result.operating_start,
            "open_items": result.open_items,
            "lines": [
                {
                    "key": line.key,
                    "label": line.label,
                    "projected": amount(line.projected),
                    "actual": amount(line.actual),
                    "difference": amount(line.difference),
                    "difference_pct": line.difference_pct,
                    "favourable": line.favourable,
                    "projected_source": line.projected_source,
                    "actual_source": line.actual_source,
                    "missing": line.missing,
                }
                for line in result.lines
            ],
            "returns": [r.model_dump(mode="json") for r in result.returns],
            "projection_missing": result.projection_missing,
            "projection_sources": result.projection_sources,
            "ledger_net": ledger_money(result.ledger.net),
            "notes": result.notes,
            "source": "deal projection and " + result.ledger.source,
        }

    return run_tool(ctx, "deal_performance", body)


TOOLS: list[BaseTool] = [
    list_deals,
    create_deal,
    update_deal,
    change_deal_status,
    make_offer,
    deal_performance,
]
