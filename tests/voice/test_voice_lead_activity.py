"""What the team reads of seller lead calls: the answers taken, what happened, and the lead
calls still to be made (``voice_service.lead_activity``, the ``lead_calls`` tool, the planner)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from agent.call_graph import LEAD_QUESTIONS
from agent.planner import Conversation, plan_for, reply_for
from cli.voice_commands import simulate_conversation
from domain.auth.enums import Role
from domain.voice import service
from domain.voice.lead import LeadFacts
from domain.voice.models import Call
from tests.factories import make_org, make_user
from tests.tools.helpers import call_tool, context_for
from tests.voice.helpers import PUBLIC, TOKEN, poster, voice_settings
from tests.voice.test_voice_lead_calls import ADDRESS, WEDNESDAY_NOON, _plan, _recorded_lead_call
from tools import tools_for_role
from tools.voice import lead_calls


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)


def _play(client: TestClient, call_id: uuid.UUID, says: list[str]) -> None:
    conversation = simulate_conversation(
        poster(client), call_id=call_id, says=says, token=TOKEN, public_base_url=PUBLIC
    )
    assert conversation.hung_up


def _plan_for(text: str) -> tuple[str | None, dict[str, Any]]:
    plan = plan_for(Conversation(text=text, history=[], this_turn=[]))
    return plan.tool, dict(plan.args or {})


def test_the_team_reads_what_each_lead_said_and_who_is_called_next(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    qualified = _recorded_lead_call(db, org.id)
    _play(
        client,
        qualified,
        [
            "Yes",
            "In two months",
            "We want 120",
            "It needs a new roof",
            "There's a tenant",
            "no thanks",
            "Yes",
        ],
    )
    # A second lead (another number and name) asks to be called back on Monday at 4 pm.
    second = _plan(
        db,
        org.id,
        WEDNESDAY_NOON,
        phone="(313) 555-0177",
        name="Kim Buyer",
        lead_id="L-77",
        address="9 Elm St, Detroit, MI 48215",
    )
    (call,) = service.claim_due_schedules(session=db, now=max(WEDNESDAY_NOON, second.scheduled_for))
    from channels import voice as voice_channel

    assert (
        voice_channel.place(db, call, now=max(WEDNESDAY_NOON, second.scheduled_for)) == "recorded"
    )
    db.flush()
    _play(client, call.id, ["Sorry, I'm driving, call me back Monday at 4 pm"])
    # Without consent: left to the team.
    _plan(
        db, org.id, WEDNESDAY_NOON, phone="(313) 555-0188", name="Lee Owner", consent_to_call=False
    )
    # Another organisation's lead is never shown.
    other = make_org(db)
    _plan(db, other.id, WEDNESDAY_NOON, phone="(313) 555-0199", name="Other Org Lead")

    everything = service.lead_activity(session=db, org_id=org.id)
    assert [c.name for c in everything.calls] == ["Kim Buyer", "Pat Seller"]
    kim, pat = everything.calls
    assert pat.outcome == "qualified" and pat.lead_id == "L-42"
    assert pat.summary.startswith(f"Seller of {ADDRESS}: asking $120,000, wants to sell within 2")
    assert "tenant-occupied" in pat.summary and "new roof" in pat.summary
    assert kim.outcome == "callback_requested" and kim.summary == "asked to be called back"
    assert any(
        "The lead Kim Buyer asked to be called back: the agent calls back Mon" in s
        for s in kim.next_steps
    )
    upcoming = {u.name: u for u in everything.upcoming}
    assert set(upcoming) == {"Kim Buyer", "Lee Owner"}
    assert upcoming["Kim Buyer"].status == "scheduled"
    assert upcoming["Kim Buyer"].local_time.endswith("16:00 America/Detroit")
    assert upcoming["Kim Buyer"].local_time.startswith("Mon ")
    assert upcoming["Lee Owner"].status == "for_team"
    # Narrowed by name, address, lead id or phone number.
    for needle in ("kim", "9 Elm", "L-77", "313 555 0177", "+13135550177"):
        found = service.lead_activity(session=db, org_id=org.id, lead=needle)
        assert [c.name for c in found.calls] == ["Kim Buyer"], needle
        assert [u.name for u in found.upcoming] == ["Kim Buyer"], needle
    nobody = service.lead_activity(session=db, org_id=org.id, lead="Nobody Here")
    assert nobody.calls == () and nobody.upcoming == ()

    # The team's tool carries the same, and the planner's reply copies it.
    analyst = make_user(db, org, role=Role.analyst)
    result = call_tool(lead_calls, context_for(db, analyst), lead="Kim")
    assert [c["name"] for c in result["calls"]] == ["Kim Buyer"]
    assert result["upcoming"][0]["local_time"].endswith("16:00 America/Detroit")
    text = reply_for([("lead_calls", {"lead": "Kim"}, result)])
    assert "Seller lead calls for 'Kim', latest first:" in text
    assert "• Kim Buyer, " in text and "asked to be called back" in text
    assert "The agent calls next:" in text and "16:00 America/Detroit" in text
    everyone = call_tool(lead_calls, context_for(db, analyst))
    summary = reply_for([("lead_calls", {}, everyone)])
    assert "asking $120,000" in summary
    assert "For the team to call (no consent to automated calls):" in summary
    assert "Lee Owner at +13135550188" in summary and "Other Org Lead" not in summary


def test_only_the_team_reads_lead_calls(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    assert "lead_calls" not in {t.name for t in tools_for_role(Role.investor)}
    assert "lead_calls" not in {t.name for t in tools_for_role(Role.contractor)}
    assert "lead_calls" in {t.name for t in tools_for_role(Role.analyst)}
    refused = call_tool(lead_calls, context_for(db, investor))
    assert refused == {"error": "not allowed for the investor role"}


def test_no_lead_calls_yet_is_said_plainly(db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    result = call_tool(lead_calls, context_for(db, admin), lead="Pat")
    assert result["calls"] == [] and result["upcoming"] == []
    assert reply_for([("lead_calls", {"lead": "Pat"}, result)]) == (
        "No seller lead calls for 'Pat' yet."
    )


@pytest.mark.parametrize(
    ("said", "lead"),
    [
        ("any lead calls scheduled?", None),
        ("What did the seller say?", None),
        ("what did Kim Seller say on the call?", "Kim Seller"),
        ("when will we call Kim Seller back?", "Kim Seller"),
        ("what did the seller of 1215 Kellogg Ave say?", "1215 Kellogg"),
        ("did the homeowner on 9 Elm St qualify?", "9 Elm"),
        ("show me the lead calls", None),
    ],
)
def test_questions_about_lead_calls_are_planned_as_reads(said: str, lead: str | None) -> None:
    tool, args = _plan_for(said)
    assert tool == "lead_calls"
    assert args.get("lead") == lead


@pytest.mark.parametrize(
    ("said", "tool"),
    [
        # A phone number: the team wants the lead called.
        (
            "call the seller Pat Seller at (313) 555-0142 about 123 Main St, Detroit, MI "
            "48215, consent: web form 2026-11-20",
            "qualify_lead",
        ),
        ("show deals in lead status", "list_deals"),
        ("any calls to the roofing contractors on 123 Main St?", "call_status"),
    ],
)
def test_other_questions_keep_their_routes(said: str, tool: str) -> None:
    assert _plan_for(said)[0] == tool


def test_a_schedule_moment_is_shown_on_the_leads_clock(db: Session) -> None:
    org = make_org(db)
    schedule = _plan(db, org.id, WEDNESDAY_NOON, timezone="America/Los_Angeles")
    (view,) = service.lead_activity(session=db, org_id=org.id).upcoming
    local = schedule.scheduled_for.astimezone(dt.timezone(dt.timedelta(hours=-8)))
    assert view.local_time == f"{local:%a %b} {local.day} {local:%H:%M} America/Los_Angeles"


def test_an_answer_to_another_question_is_taken_and_the_question_asked_again_once(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    conversation = simulate_conversation(
        poster(client),
        call_id=call_id,
        says=["Yes", "We want 120.", "It's vacant", "It needs a new roof"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    agent = [text for speaker, text in conversation.lines if speaker == "agent"]
    # The price said to the timeline question is kept and the timeline asked once more; a
    # second answer to something else (the occupancy) is kept too and the call moves on to
    # the next question instead of asking the timeline a third time.
    assert agent[1] == agent[2] == LEAD_QUESTIONS["timeline"]
    assert agent[3] == LEAD_QUESTIONS["condition"]
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    facts = LeadFacts.from_json(call.outcome_data["facts"])
    assert facts.asking_price == "120000.00" and facts.sell_by is None
    assert facts.occupancy == "vacant" and facts.condition is not None
