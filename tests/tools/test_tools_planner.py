"""The offline planner's intent parsing and the prompt files (no database)."""

from __future__ import annotations

import hashlib
import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.planner import Conversation, OfflinePlanner, extract_address, plan_for
from agent.prompts import PROMPTS_DIR, load_prompt, prompt_for_role
from domain.auth.enums import Role


def _plan(text: str, history: list | None = None) -> tuple[str | None, dict, str | None]:
    plan = plan_for(Conversation(text=text, history=history or [], this_turn=[]))
    return plan.tool, plan.args, plan.reply


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        (
            "14500 Kercheval Ave, Detroit, MI 48215",
            "analyze_property",
            {"address": "14500 Kercheval Ave, Detroit, MI 48215"},
        ),
        (
            "comps for 2200 W 7 Mile Rd Detroit MI",
            "get_comps",
            {"address": "2200 W 7 Mile Rd Detroit MI"},
        ),
        ("ARV comps for 12 Oak St", "get_comps", {"address": "12 Oak St", "arv": True}),
        (
            "What's my max offer on 14500 Kercheval Ave?",
            "max_offer",
            {"address": "14500 Kercheval Ave"},
        ),
        ("MAO 14500 Kercheval", "max_offer", {"address": "14500 Kercheval"}),
        ("budget for deal 3f2a9c1d", "budget_status", {"deal": "3f2a9c1d"}),
        ("what's the P&L for deal 14500 Kercheval Ave", "pnl", {"deal": "14500 Kercheval Ave"}),
        ("profit and loss", "pnl", {}),
        ("cash flow for deal #ab12cd34", "cashflow", {"deal": "ab12cd34"}),
        (
            "section 8 rent for 14500 Kercheval Ave",
            "section8_rent",
            {"address": "14500 Kercheval Ave"},
        ),
        ("show me my deals", "list_deals", {}),
        ("report for 14500 Kercheval Ave", "generate_report", {"address": "14500 Kercheval Ave"}),
    ],
)
def test_intents_become_the_tool_calls_a_model_would_make(text: str, tool: str, args: dict) -> None:
    assert _plan(text)[:2] == (tool, args)


@pytest.mark.parametrize(
    ("text", "reply_start"),
    [
        ("help", "I'm dealdesk."),
        ("status of project 14", "Which project?"),
        ("market trends", "Which area?"),
        ("drop comp 3", "Ask for comps first"),
        ("send me the report", "Which property?"),
        ("budget", "Which deal?"),
        ("🙂", "Sorry, I didn't understand that."),
        ("blah blah", "Sorry, I didn't understand that."),
    ],
)
def test_direct_answers(text: str, reply_start: str) -> None:
    tool, _, reply = _plan(text)
    assert tool is None and reply is not None and reply.startswith(reply_start)


def test_follow_ups_use_the_property_from_earlier_in_the_thread() -> None:
    history = [
        HumanMessage("comps for 1 Main St"),
        AIMessage(
            "", tool_calls=[{"name": "get_comps", "args": {"address": "1 Main St"}, "id": "a"}]
        ),
        ToolMessage(
            json.dumps({"property_id": "p-1", "value": "$1"}), tool_call_id="a", name="get_comps"
        ),
        AIMessage("comps..."),
    ]
    assert _plan("drop comps 2 and #5", history)[:2] == (
        "get_comps",
        {"property_id": "p-1", "exclude": [2, 5]},
    )
    assert _plan("send me the report", history)[:2] == ("generate_report", {"property_id": "p-1"})


def test_the_planner_only_calls_tools_it_was_bound_to() -> None:
    planner = OfflinePlanner().bind_tools([])
    message = planner.invoke([HumanMessage("14500 Kercheval Ave, Detroit, MI")])
    assert message.tool_calls == [] and "not something I can do" in str(message.content)


def test_extract_address_ignores_numbers_that_are_not_house_numbers() -> None:
    assert extract_address("Section 8 rent for 14500 Kercheval Ave") == "14500 Kercheval Ave"
    assert extract_address("drop comp 3") is None
    assert extract_address("no address here") is None


def test_prompts_are_files_hashed_by_content() -> None:
    prompt = load_prompt("investor")
    data = (PROMPTS_DIR / "investor.md").read_bytes()
    assert prompt.sha256 == hashlib.sha256(data).hexdigest()
    assert prompt.file_name == "investor.md" and prompt.text == data.decode()
    assert prompt_for_role(Role.admin).name == prompt_for_role(Role.analyst).name == "team"
    with pytest.raises(FileNotFoundError):
        load_prompt("nope")
    with pytest.raises(ValueError):
        load_prompt("../secrets")


def test_history_sent_to_the_model_starts_at_a_user_message() -> None:
    from agent.graph import recent_messages

    messages: list = []
    for i in range(30):
        messages += [
            HumanMessage(f"q{i}"),
            AIMessage("", tool_calls=[{"name": "list_deals", "args": {}, "id": f"c{i}"}]),
            ToolMessage("{}", tool_call_id=f"c{i}", name="list_deals"),
            AIMessage(f"a{i}"),
        ]
    recent = recent_messages(messages, limit=10)
    assert isinstance(recent[0], HumanMessage) and len(recent) <= 10
    assert recent[-1].content == "a29"
    assert recent_messages(messages[:8], limit=10) == messages[:8]


def test_attached_media_ids_are_not_read_as_properties() -> None:
    note = "(attached media documents: 0b7e1a2c-1111-4444-8888-123456789abc)"
    tool, _, reply = _plan(f"\n{note}")
    assert tool is None and reply is not None and reply.startswith("Got your attachment")
    assert _plan(f"14500 Kercheval Ave\n{note}")[:2] == (
        "analyze_property",
        {"address": "14500 Kercheval Ave"},
    )


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        (
            "create a flip deal on 14500 Kercheval Ave at $120,000",
            "create_deal",
            {"address": "14500 Kercheval Ave", "strategy": "flip", "purchase_price": "120000"},
        ),
        ("add 9000 Mack Ave as a lead", "create_deal", {"address": "9000 Mack Ave"}),
        (
            "open a section 8 deal on 12 Oak St",
            "create_deal",
            {"address": "12 Oak St", "strategy": "section8_rental"},
        ),
        (
            "move deal 1a2b3c4d to under contract",
            "change_deal_status",
            {"deal": "1a2b3c4d", "status": "under_contract"},
        ),
        (
            "move the deal on 9000 Mack Ave to under contract",
            "change_deal_status",
            {"deal": "9000 Mack Ave", "status": "under_contract"},
        ),
        (
            "mark deal 1a2b3c4d as dead",
            "change_deal_status",
            {"deal": "1a2b3c4d", "status": "dead"},
        ),
        (
            "offer $95,000 on deal 1a2b3c4d",
            "make_offer",
            {"deal": "1a2b3c4d", "offer_amount": "95000"},
        ),
        (
            "make an offer of 95k on 14500 Kercheval Ave",
            "make_offer",
            {"deal": "14500 Kercheval Ave", "offer_amount": "95000"},
        ),
        ("is 14500 Kercheval Ave on file?", "find_property", {"address": "14500 Kercheval Ave"}),
        (
            "rehab estimate for 12 Oak St: roof is shot, furnace fair, 12 windows poor",
            "estimate_rehab",
            # The user's words go to the walkthrough extractor, which reports every finding.
            {"address": "12 Oak St", "notes": "roof is shot, furnace fair, 12 windows poor"},
        ),
    ],
)
def test_writes_lookups_and_rehab_scopes_are_parsed(text: str, tool: str, args: dict) -> None:
    assert _plan(text)[:2] == (tool, args)


@pytest.mark.parametrize(
    ("text", "reply_start"),
    [
        ("make an offer of $50,000", "Which deal?"),
        ("create a deal please", "Which property?"),
        ("move deal 1a2b3c4d somewhere nice", "Say which deal and where it goes"),
        ("rehab estimate please", "List what needs work"),
    ],
)
def test_incomplete_writes_ask_for_what_is_missing(text: str, reply_start: str) -> None:
    tool, _, reply = _plan(text)
    assert tool is None and reply is not None and reply.startswith(reply_start)


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("status of project 1a2b3c4d", "project_status", {"project": "1a2b3c4d"}),
        (
            "how is the rehab on 14500 Kercheval Ave going?",
            "project_status",
            {"project": "14500 Kercheval Ave"},
        ),
        ("compare the bids on project 1a2b3c4d", "list_bids", {"project": "1a2b3c4d"}),
        (
            "what bids came in for 14500 Kercheval Ave?",
            "bids_received",
            {"project": "14500 Kercheval Ave"},
        ),
        (
            "award bid 9f8e7d6c on project 1a2b3c4d",
            "award_bid",
            {"project": "1a2b3c4d", "bid_id": "9f8e7d6c"},
        ),
        (
            "get three roofing bids for 14500 Kercheval",
            "request_bids",
            {"project": "14500 Kercheval", "trade": "roofing", "count": 3},
        ),
        (
            "call 2 plumbers about 14500 Kercheval Ave",
            "request_bids",
            {"project": "14500 Kercheval Ave", "trade": "plumbing", "count": 2},
        ),
        ("any calls to contractors on project 1a2b3c4d?", "call_status", {"project": "1a2b3c4d"}),
        ("any latest opportunities?", "latest_opportunities", {}),
        (
            "new flip opportunities in 50010",
            "latest_opportunities",
            {"strategy": "flip", "zip_code": "50010"},
        ),
        (
            "alert me to flips in 50010 and 50014 under $150k with score above 70, "
            "quiet hours 9pm to 7am",
            "configure_alerts",
            {
                "zip_codes": ["50010", "50014"],
                "max_price": "150000",
                "min_score": "70",
                "strategies": ["flip"],
                "quiet_hours_start": "21:00",
                "quiet_hours_end": "07:00",
            },
        ),
        ("stop my alerts", "configure_alerts", {"active": False}),
        (
            "qualify the seller Pat Seller at (313) 555-0142 about 123 Main St, Detroit, MI "
            "48215, consent: web form 2026-11-20",
            "qualify_lead",
            {
                "phone": "(313) 555-0142",
                "address": "123 Main St, Detroit, MI 48215",
                "name": "Pat Seller",
                "consent_source": "web form 2026-11-20",
            },
        ),
        (
            "call the lead at 313-555-0143 about 9000 Mack Ave, Detroit, MI 48214",
            "qualify_lead",
            {"phone": "313-555-0143", "address": "9000 Mack Ave, Detroit, MI 48214"},
        ),
        (
            "call the seller at (313) 555-0142 about 123 Main St, no consent",
            "qualify_lead",
            {"phone": "(313) 555-0142", "address": "123 Main St"},
        ),
        ("what alerts did I get?", "my_alerts", {}),
        ("any alerts?", "my_alerts", {}),
        ("show my alert settings", "my_alerts", {}),
        ("why didn't I get an alert?", "my_alerts", {}),
        ("let me know about deals in 48215", "configure_alerts", {"zip_codes": ["48215"]}),
        (
            "how is the market in Austin over the last 2 years?",
            "market_trends",
            {"area": "Austin", "months": 24},
        ),
        (
            "median price trend for Austin, Texas",
            "market_trends",
            {"area": "Austin", "source": "txhousing"},
        ),
    ],
)
def test_project_bid_call_and_market_requests_are_parsed(text: str, tool: str, args: dict) -> None:
    assert _plan(text)[:2] == (tool, args)


@pytest.mark.parametrize(
    "text",
    [
        "does 123 Main St, Detroit qualify for section 8?",
        "would 123 Main St, Detroit, MI 48215 qualify as a flip?",
    ],
)
def test_asking_whether_a_home_qualifies_is_not_a_lead_call(text: str) -> None:
    tool, _, reply = _plan(text)
    assert tool != "qualify_lead"
    assert "lead's phone number" not in (reply or "")


@pytest.mark.parametrize(
    "text",
    [
        "call the seller at (313) 555-0142 about 123 Main St, without consent",
        "call the seller at (313) 555-0142 about 123 Main St, they did not consent",
        "call the seller at (313) 555-0142 about 123 Main St, never consented",
    ],
)
def test_a_lead_without_consent_keeps_its_address_clean(text: str) -> None:
    assert _plan(text)[:2] == (
        "qualify_lead",
        {"phone": "(313) 555-0142", "address": "123 Main St"},
    )
