"""The offline planner through the real graph, tools and database, one intent at a time.

Each turn runs ``run_turn`` as an investor (Ivy) or the team on the committed world of
``tests.agent.world``; every figure in a reply is checked against the tool results of that
turn (``figures_in``).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from agent.figures import figures_in, unsupported_figures
from agent.runner import TurnRequest, TurnResult, last_turn_tool_results, run_turn
from domain.analysis import service as analysis_service
from domain.analysis.formatting import dollars
from domain.auth.enums import Role
from domain.auth.models import User
from domain.documents import service as documents_service
from store.db import get_engine
from store.outbox import OutboxEvent
from tests.agent.world import SUBJECT_ADDRESS, World

WHATSAPP_LIMIT = 1600


def turn(
    world: World, text: str, *, thread: str, user: User | None = None, channel: str = "whatsapp"
) -> TurnResult:
    """One offline turn; asserts the reply quotes only figures from this turn's tool results."""
    who = user or world.ivy
    result = run_turn(
        TurnRequest(
            org_id=who.org_id,
            user_id=who.id,
            role=Role(who.role),
            channel=channel,
            thread_id=thread,
            text=text,
        )
    )
    assert result.model == "offline-planner"
    assert result.error is None
    sources = last_turn_tool_results(thread) if result.tool_calls else []
    assert unsupported_figures(result.reply, sources) == set(), result.reply
    return result


def new_thread() -> str:
    return f"whatsapp:+1313{uuid.uuid4().int % 10_000_000:07d}"


def test_an_address_gets_the_whole_analysis_in_one_whatsapp_message(world: World) -> None:
    progress: list[str] = []
    thread = new_thread()
    result = run_turn(
        TurnRequest(
            org_id=world.org.id,
            user_id=world.ivy.id,
            role=Role.investor,
            channel="whatsapp",
            thread_id=thread,
            text=SUBJECT_ADDRESS,
        ),
        on_progress=progress.append,
    )
    assert [c.name for c in result.tool_calls] == ["analyze_property"]
    assert result.tool_calls[0].ok
    assert progress == ["analysing the property…"]
    # The figures are the analysis service's own, as it writes them (on the caller's deal).
    with Session(get_engine()) as session:
        analysis = analysis_service.analyze_property(
            session=session,
            org_id=world.org.id,
            property_id=world.subject.id,
            deal_id=world.ivy_deal_id,
        )
    f = analysis.figures
    for label, figure in (
        ("As-is value", f.as_is_value),
        ("ARV", f.arv),
        ("Rehab", f.rehab_total),
        ("Max offer", f.max_offer),
        ("Rent", f.rent),
        ("FMR", f.fmr),
        ("Cash flow", f.rental_cash_flow),
    ):
        assert f"{label} {figure}" in result.reply
    assert f.fmr == "$1,329"  # HUD FY2024 Detroit, 3 bedrooms (seeded reference data)
    assert f"Verdict: {f.verdict}" in result.reply
    # On WhatsApp the channel sends the PDF after the analysis, so the reply says it follows.
    assert result.reply.endswith("\nThe PDF report follows.")
    assert len(result.reply) <= WHATSAPP_LIMIT
    assert unsupported_figures(result.reply, last_turn_tool_results(thread)) == set()
    # The analysis is announced with its figures (the market monitor re-scores listings).
    with Session(get_engine()) as session:
        events = session.exec(
            select(OutboxEvent)
            .where(OutboxEvent.org_id == world.org.id, OutboxEvent.name == "analysis.completed")
            .order_by(col(OutboxEvent.created_at).desc())
        ).all()
    payload = events[0].payload
    assert payload["property_id"] == str(world.subject.id)
    assert payload["requested_by"] == str(world.ivy.id) and payload["channel"] == "whatsapp"
    assert analysis.as_is is not None and analysis.arv is not None
    assert Decimal(payload["as_is_value"]) == analysis.as_is.value
    assert Decimal(payload["arv"]) == analysis.arv.value
    assert Decimal(payload["rehab_total"]) == analysis.rehab.estimate.total


@pytest.mark.parametrize(
    "text",
    [
        "14500 kercheval avenue",
        "14500 Kercheval Ave., Detroit MI 48215",
        "14500 KERCHEVAL AVE DETROIT, MICHIGAN",
        "can you look at 14500 Kercheval Ave Detroit MI 48215 please",
    ],
)
def test_common_address_formats_find_the_same_property(world: World, text: str) -> None:
    result = turn(world, text, thread=new_thread())
    assert result.tool_calls[0].name == "analyze_property"
    assert result.tool_calls[0].ok, result.tool_calls[0].summary
    assert result.reply.startswith(SUBJECT_ADDRESS)


def test_an_address_not_on_file_gets_a_plain_answer(world: World) -> None:
    result = turn(world, "10 Downing Street, London SW1A 2AA", thread=new_thread())
    assert not result.tool_calls[0].ok
    assert "is on file" in result.reply and result.reply.startswith("Sorry")


def test_comps_then_drop_a_comp_recomputes_the_value_without_it(world: World) -> None:
    thread = new_thread()
    comps = turn(world, "comps for 14500 Kercheval Ave", thread=thread)
    assert comps.tool_calls[0].name == "get_comps"
    listed = [
        line for line in comps.reply.splitlines() if line[:2] in {f"{n}." for n in range(1, 10)}
    ]
    assert len(listed) >= 3
    dropped = turn(world, "drop comp 2", thread=thread)
    call = dropped.tool_calls[0]
    assert call.name == "get_comps"
    assert call.args["exclude"] == [2]
    assert call.args["property_id"] == str(world.subject.id)
    assert "Without #2" in dropped.reply and "(was " in dropped.reply
    # A second drop keeps the first: both comps are left out.
    again = turn(world, "drop comp 4 too", thread=thread)
    assert again.tool_calls[0].args["exclude"] == [2, 4]
    assert "Without #2" in again.reply and "#4" in again.reply


def test_max_offer_is_arv_times_70_percent_less_rehab(world: World) -> None:
    result = turn(world, "what's my max offer on 14500 Kercheval Ave?", thread=new_thread())
    assert result.tool_calls[0].name == "max_offer"
    with Session(get_engine()) as session:
        analysis = analysis_service.analyze_property(
            session=session, org_id=world.org.id, property_id=world.subject.id
        )
    assert analysis.max_offer is not None and analysis.arv is not None
    expected = analysis.max_offer.arv * Decimal("0.70") - analysis.max_offer.rehab_total
    assert abs(analysis.max_offer.amount - expected) < Decimal("0.01")
    assert f"Max offer on {SUBJECT_ADDRESS}: {dollars(analysis.max_offer.amount)}" in result.reply


def test_budget_pnl_and_cash_flow_for_a_deal(world: World) -> None:
    thread = new_thread()
    ref = world.ivy_deal_id.hex[:8]
    budget = turn(world, f"budget for deal {ref}", thread=thread)
    assert budget.tool_calls[0].name == "budget_status"
    # The world: a $30,000 rehab budget with $12,500 of rehab labour booked.
    assert "allocated $30,000, spent $12,500, remaining $17,500" in budget.reply
    pnl = turn(world, "what's the P&L for deal 14500 Kercheval Ave", thread=thread)
    assert pnl.tool_calls[0].name == "pnl"
    assert "expenses $12,500, net -$12,500" in pnl.reply
    cash = turn(world, f"cash flow for deal {world.ivy_deal_id}", thread=thread)
    assert cash.tool_calls[0].name == "cashflow"
    assert "out $12,500" in cash.reply


def test_project_and_market_questions_reach_their_tools(world: World) -> None:
    thread = new_thread()
    vague = turn(world, "what's the status of project 14?", thread=thread)
    assert vague.tool_calls == [] and vague.reply.startswith("Which project?")
    project = turn(world, "how is the rehab on 14500 Kercheval Ave going?", thread=thread)
    assert [(c.name, c.ok) for c in project.tool_calls] == [("project_status", False)]
    assert "no rehab project is on 14500 Kercheval Ave" in project.reply
    market = turn(world, "any latest opportunities?", thread=thread)
    assert [(c.name, c.ok) for c in market.tool_calls] == [("latest_opportunities", True)]
    assert market.reply.startswith("No opportunities found yet")


def test_send_me_the_report_renders_the_pdf_of_the_last_analysed_property(world: World) -> None:
    thread = new_thread()
    turn(world, SUBJECT_ADDRESS, thread=thread)
    result = turn(world, "send me the report", thread=thread)
    assert result.tool_calls[0].name == "generate_report"
    assert result.tool_calls[0].args == {"property_id": str(world.subject.id)}
    assert len(result.report_document_ids) == 1
    assert result.reply == f"Here is the PDF report for {SUBJECT_ADDRESS}."
    with Session(get_engine()) as session:
        document = documents_service.get_document(
            session=session, org_id=world.org.id, document_id=result.report_document_ids[0]
        )
        assert document is not None and document.content_type == "application/pdf"


def test_report_without_an_earlier_analysis_asks_which_property(world: World) -> None:
    result = turn(world, "send me the report", thread=new_thread())
    assert result.tool_calls == []
    assert "Which property?" in result.reply


def test_help_and_what_it_does_not_understand(world: World) -> None:
    thread = new_thread()
    helped = turn(world, "help", thread=thread).reply
    assert "a street address, for a deal analysis" in helped
    # An investor is not offered the team's commands (was: "the team also: 'award bid ...'").
    assert "the team also" not in helped and "award bid" not in helped
    team = turn(world, "help", thread=new_thread(), user=world.admin, channel="web").reply
    assert "the team also: 'create a flip deal on <address>'" in team
    for text in ("🏠🏠🏠", "what's the weather like"):
        result = turn(world, text, thread=thread)
        assert result.tool_calls == []
        assert result.reply.startswith("Sorry, I didn't understand that.")


def test_empty_and_oversized_messages_get_a_polite_reply_and_no_tools(world: World) -> None:
    thread = new_thread()
    empty = turn(world, "   ", thread=thread)
    assert empty.tool_calls == [] and "empty message" in empty.reply
    huge = turn(world, "14500 Kercheval Ave " * 600, thread=thread)
    assert huge.tool_calls == [] and "too long" in huge.reply


def test_section8_rent_for_an_address(world: World) -> None:
    result = turn(world, "Section 8 rent for 14500 Kercheval Ave", thread=new_thread())
    assert result.tool_calls[0].name == "section8_rent"
    assert "FMR $1,329" in result.reply and "3 bedrooms" in result.reply


def test_my_deals_lists_only_the_investors_own(world: World) -> None:
    result = turn(world, "my deals", thread=new_thread())
    assert result.tool_calls[0].name == "list_deals"
    assert world.ivy_deal_id.hex[:8] in result.reply
    assert world.olaf_deal_id.hex[:8] not in result.reply


def test_figures_in_reads_money_percentages_and_dates_not_ids() -> None:
    text = (
        "Value $123,456 · rent $1,329.00 vs 8.5% on 2024-01-15; deal "
        "0b7e1a2c-1111-4444-8888-123456789abc ref 3f2a9c1d https://x.test/r/9?exp=17 -$1,250"
    )
    assert figures_in(text) == {"123456", "1329", "8.5", "2024-01-15", "1250"}
    assert unsupported_figures("ARV $150,000 and $7", ['{"arv": "$150,000"}']) == {"7"}
