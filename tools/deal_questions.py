"""Questions about a deal's money and negotiation: what we paid, and the offers on it.

``what_we_paid`` answers "what did we pay for <address>?" from the ledger first: the purchase
booked on a deal (category ``purchase``), whatever the deal's status, else the deal's price
and how firm it is; with the closing costs, sale and selling costs booked on it and where
each figure comes from; never from the listing. When no deal the caller may see has a price
or a purchase booked it says so, and the planner falls back to the analysis.
``deal_offers`` lists a deal's offers with who made them, when, and how they moved
(countered, accepted ...). Both see only the deals the caller may see (investors: their own).
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_day
from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus
from domain.finance import service as finance_service
from domain.property import service as property_service
from tools._common import address_label, money, require_roles, resolve_property, run_tool
from tools.deal import DealRef, resolve_deal
from tools.finance import ledger_money

_READERS = (Role.admin, Role.analyst, Role.investor)
# What "what did we pay / sell for" reads from the deal's ledger.
_LEDGER = ("purchase", "closing_costs", "sale_proceeds", "selling_costs")


def _entries(booked: finance_service.DealBooked) -> str:
    """How many transactions a figure comes from and their dates, for its source."""
    n = f"{booked.entries} transaction{'' if booked.entries == 1 else 's'}"
    if booked.first_date is None:
        return n
    days = str(booked.first_date)
    if booked.last_date is not None and booked.last_date != booked.first_date:
        days += f" to {booked.last_date}"
    return f"{n}, {days}"


def _ledger_source(booked: finance_service.DealBooked | None, category: str) -> str:
    if booked is None:
        return f"ledger: nothing booked under {category} on the deal"
    return f"ledger: {category} booked on the deal ({_entries(booked)})"


@tool(parse_docstring=True)
def what_we_paid(
    runtime: ToolRuntime[Context],
    address: Annotated[str | None, Field(max_length=300)] = None,
    property_id: Annotated[str | None, Field(max_length=64)] = None,
    deal: DealRef | None = None,
    sale_asked: bool = False,
) -> dict[str, Any]:
    """What the company paid (or agreed to pay) for a property, and what it sold for.

    Use for "what did we pay for 14500 Kercheval?", "what's our purchase price on ...?",
    "what did we sell 1215 Kellogg for?" (the sale proceeds and selling costs booked on the
    deal; for a house with no deal, the sale on record).
    A purchase booked in the ledger on a deal (category purchase) is what was paid, whatever
    the deal's status (`purchase_source` says so). Otherwise the price of the firmest deal on
    the property (closed: paid; under contract or an accepted offer: agreed; otherwise the
    deal's expected price). With the closing costs, sale proceeds and selling costs booked on
    the deal, each with its source. When no deal has a price or a purchase booked,
    `has_price` is false: analyse the property instead (its list price is the asking price,
    not what was paid).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        address: The property's street address.
        property_id: Or the property's id from an earlier tool result.
        deal: Or a deal on the property (its id, id prefix or address), e.g. the deal just
            discussed ("what did we pay for it?").
        sale_asked: True when the question is what it sold for ("what did we sell ridgewood
            for?"): the result then says so when no sale is booked.

    """
    ctx = runtime.context
    ctx.progress("looking up the purchase price…")

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, *_READERS)
        if deal is not None and address is None and property_id is None:
            # A deal the caller may see names its property.
            prop = resolve_property(
                session, ctx, property_id=str(resolve_deal(session, ctx, deal).property_id)
            )
        else:
            prop = resolve_property(session, ctx, address=address, property_id=property_id)
        facts = deal_service.purchase_facts(
            session=session, org_id=ctx.org_id, property_id=prop.id, principal=ctx.principal
        )
        label = address_label(prop)
        deals = deal_service.list_deals(
            session=session,
            org_id=ctx.org_id,
            principal=ctx.principal,
            property_id=prop.id,
            limit=deal_service.MAX_LIST_LIMIT,
        )
        ledgers = {
            d.id: finance_service.booked_on_deal(
                session=session, org_id=ctx.org_id, deal_id=d.id, categories=_LEDGER
            )
            for d in deals
        }
        bought = [d for d in deals if (b := ledgers[d.id].get("purchase")) and b.amount > 0]
        # A purchase booked is what was paid: its deal first, else the firmest deal's price.
        chosen = (
            facts.deal
            if facts is not None and facts.deal.id in {d.id for d in bought}
            else bought[0]
            if bought
            else facts.deal
            if facts is not None
            else None
        )
        if chosen is None:
            return {
                "property_id": prop.id,
                "address": label,
                "has_price": False,
                "note": f"no deal you can see on {label} has a purchase price",
                # A sale on record (an MLS closed sale), for "what did it sell for?".
                "close_price": ledger_money(prop.close_price)
                if prop.close_price is not None
                else None,
                "close_date": prop.close_date,
                "source": "deal_service.deals (purchase_price); the deals' ledgers (no purchase "
                "booked)",
            }
        ledger = ledgers[chosen.id]  # purchase_facts's deal is one of the same list
        purchase = ledger.get("purchase")
        on_deal = facts is not None and facts.deal.id == chosen.id
        deal_price = chosen.purchase_price
        status = DealStatus(chosen.status)
        if purchase is not None and purchase.amount > 0:
            price, basis = purchase.amount, "paid"
            price_source = _ledger_source(purchase, "purchase")
        else:
            assert facts is not None  # no purchase booked: chosen is purchase_facts's deal
            price, basis = facts.purchase_price, facts.basis
            price_source = (
                f"the deal's purchase price ({basis}: the deal is {status.replace('_', ' ')}); "
                "nothing booked under purchase on the deal in the ledger"
            )
        costs = ledger.get("closing_costs")
        sale = ledger.get("sale_proceeds")
        selling = ledger.get("selling_costs")
        notes: list[str] = []
        if basis == "paid" and purchase is not None and status != DealStatus.closed:
            notes.append(
                f"the purchase is booked in the ledger but the deal is still "
                f"{status.replace('_', ' ')}: close it if the purchase is done"
            )
        if purchase is not None and deal_price is not None and deal_price != price:
            notes.append(
                f"the deal's purchase price is {ledger_money(deal_price)}; the ledger's purchase "
                f"({ledger_money(price)}) is what was paid"
            )
        return {
            "property_id": prop.id,
            "address": label,
            "has_price": True,
            "deal_id": chosen.id,
            "deal_status": chosen.status,
            "strategy": chosen.strategy,
            "purchase_price": ledger_money(price),
            "basis": basis,
            "purchase_source": price_source,
            "deal_price": ledger_money(deal_price) if deal_price is not None else None,
            "accepted_offer_id": facts.accepted_offer_id if facts is not None and on_deal else None,
            "closing_costs": ledger_money(costs.amount) if costs is not None else None,
            "closing_cost_entries": costs.entries if costs is not None else 0,
            "closing_costs_source": _ledger_source(costs, "closing_costs"),
            "all_in": ledger_money(price + costs.amount) if costs is not None else None,
            "sold_for": ledger_money(sale.amount) if sale is not None else None,
            "sold_for_source": _ledger_source(sale, "sale_proceeds"),
            "selling_costs": ledger_money(selling.amount) if selling is not None else None,
            "selling_costs_source": _ledger_source(selling, "selling_costs"),
            "notes": notes,
            "source": "finance ledger on the deal (purchase, closing_costs, sale_proceeds, "
            "selling_costs); deal_service.deals.purchase_price when no purchase is booked",
        }

    def answered(session: Session) -> dict[str, Any]:
        result = body(session)
        return result | ({"sale_asked": True} if sale_asked else {})

    return run_tool(ctx, "what_we_paid", answered)


def _day(value: Any) -> str | None:
    """A stored timestamp's company-local date (an offer made at 8 pm in Detroit is that day)."""
    return local_day(value).isoformat() if value is not None else None


@tool(parse_docstring=True)
def deal_offers(runtime: ToolRuntime[Context], deal: DealRef) -> dict[str, Any]:
    """The offers on a deal: amount, where each stands, who made it and when, and counters.

    Use for "any offers on 9000 Mack Ave?" or "what offers do we have on the mack ave deal?".
    Oldest offer first; each lists its later moves (countered, accepted, rejected ...) with
    the note given.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        deal: The deal's id (or its first 8 characters), its property's address, or the
            street alone ("mack ave") when only one deal is on it.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        require_roles(ctx, *_READERS)
        found = resolve_deal(session, ctx, deal)
        views = deal_service.offer_history(
            session=session, org_id=ctx.org_id, deal_id=found.id, principal=ctx.principal
        )
        prop = property_service.get(
            session=session, org_id=ctx.org_id, property_id=found.property_id
        )
        return {
            "deal_id": found.id,
            "address": address_label(prop) if prop is not None else None,
            "deal_status": found.status,
            "purchase_price": money(found.purchase_price)
            if found.purchase_price is not None
            else None,
            "count": len(views),
            "offers": [
                {
                    "offer_id": v.offer.id,
                    "amount": money(v.offer.offer_amount),
                    "status": v.offer.status,
                    "made_by": v.made_by,
                    "made_on": _day(v.offer.created_at),
                    "submitted_on": _day(v.offer.submitted_at),
                    "expires_on": _day(v.offer.expires_at),
                    "changes": [
                        {"status": c.status, "on": _day(c.at), "by": c.by, "note": c.note}
                        for c in v.changes
                    ],
                }
                for v in views
            ],
            "source": "deal_service.offers and the deal's timeline (offer status changes)",
        }

    return run_tool(ctx, "deal_offers", body)


TOOLS: list[BaseTool] = [what_we_paid, deal_offers]
