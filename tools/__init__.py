"""The agent's tools and the role policy: which tools each caller's role may use.

The tool set of a run is fixed from the caller's role before the model sees any text; the
model is bound to that set and the tools node only runs those, so nothing a message,
transcript or document says can widen it.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from domain.auth.enums import Role
from tools import (
    analysis,
    construction,
    deal,
    deal_questions,
    finance,
    inbox,
    leads,
    market,
    pricing,
    property,
    section8,
    valuation,
    voice,
)

ALL_TOOLS: list[BaseTool] = [
    *property.TOOLS,
    *analysis.TOOLS,
    *valuation.TOOLS,
    *pricing.TOOLS,
    *section8.TOOLS,
    *deal.TOOLS,
    *deal_questions.TOOLS,
    *finance.TOOLS,
    *construction.TOOLS,
    *voice.TOOLS,
    *leads.TOOLS,
    *inbox.TOOLS,
    *market.TOOLS,
]

TOOLS_BY_NAME: dict[str, BaseTool] = {t.name: t for t in ALL_TOOLS}

# Reading and analysing: what an investor on WhatsApp may do (deal and finance tools see only
# the deals the investor owns or is on: the services filter by the principal).
READ_TOOL_NAMES: frozenset[str] = frozenset(
    {
        "find_property",
        "analyze_property",
        "compare_properties",
        "max_offer",
        "generate_report",
        "get_comps",
        # Storing a valuation (ARV or as-is) for a deal's projection: it writes, but investors
        # may too (the service stores one only of a property on no deal or on their own deals).
        "save_valuation",
        "estimate_rehab",
        # Texted walkthrough notes: stored and priced as a walkthrough voice note is.
        "walkthrough_notes",
        "section8_rent",
        "list_deals",
        # What was paid for a property and the offers on a deal (investors: their own deals).
        "what_we_paid",
        "deal_offers",
        # A deal's projection against its ledger (investors: their own deals).
        "deal_performance",
        "budget_status",
        "pnl",
        "cashflow",
        # Which months' books are closed (GET /closed-periods: the team and investors).
        "books_status",
        # Projects and bids: an investor sees only the projects on their own deals.
        "project_status",
        # A project's tasks (due dates, assignees, blockers): investors on their own deals'.
        "project_tasks",
        "list_projects",
        "list_bids",
        "bids_received",
        # When contractors start, from the bids (an investor: their own deals' projects).
        "trade_schedule",
        # The market monitor; alert criteria are always the caller's own.
        "latest_opportunities",
        "market_trends",
        "configure_alerts",
        "my_alerts",
    }
)
# Reading what only the team may see: the calls placed to contractors and seller leads, and
# the contractor directory (phones, licences).
TEAM_READ_TOOL_NAMES: frozenset[str] = frozenset(
    {"call_status", "lead_calls", "seller_leads", "list_contractors", "action_items"}
)
# Changing deals and projects, and phoning contractors or seller leads: the team only.
WRITE_TOOL_NAMES: frozenset[str] = frozenset(
    {
        "create_deal",
        # A deal's purchase price, strategy or estimated repairs (PUT /deals/{id}'s rules).
        "update_deal",
        "change_deal_status",
        "make_offer",
        "award_bid",
        # An awarded contractor's new start date, accepted (the project's dates move with it).
        "reschedule_contractor",
        # Booking money spent on a project (it reaches the ledger and the budgets).
        "record_expense",
        # Voiding one booked by mistake (a reversal on the project, a refund in the ledger).
        "void_expense",
        # A rental's operating expense or income in the ledger, and voiding a ledger
        # transaction (POST /transactions and /transactions/{id}/void: admins and analysts).
        "record_transaction",
        "void_transaction",
        # Closing and reopening a month's books: the tools refuse analysts (admins only, as
        # POST/DELETE /closed-periods); one tool set serves the whole team.
        "close_month",
        "reopen_month",
        # A project's tasks: adding one, marking one done (its dependencies done first).
        "add_task",
        "complete_task",
        "request_bids",
        "qualify_lead",
    }
)

# A contractor's own bids (found through the phone number on their account), and passing what
# they tell us (a new start date or price, progress, a question, an opt-out) to the team.
CONTRACTOR_TOOL_NAMES: frozenset[str] = frozenset({"my_bids", "contractor_update"})

ROLE_TOOL_NAMES: dict[Role, frozenset[str]] = {
    Role.admin: READ_TOOL_NAMES | TEAM_READ_TOOL_NAMES | WRITE_TOOL_NAMES,
    Role.analyst: READ_TOOL_NAMES | TEAM_READ_TOOL_NAMES | WRITE_TOOL_NAMES,
    Role.investor: READ_TOOL_NAMES,
    # Contractors: their own bids, and their updates for the team; never a team tool.
    Role.contractor: CONTRACTOR_TOOL_NAMES,
}


def tools_for_role(role: Role) -> list[BaseTool]:
    """The tools a caller with ``role`` may use, in registry order."""
    allowed = ROLE_TOOL_NAMES[Role(role)]
    return [t for t in ALL_TOOLS if t.name in allowed]
