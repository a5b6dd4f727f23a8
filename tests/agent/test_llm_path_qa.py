"""QA of the OpenAI path: ``ChatOpenAI`` through the real graph, chat completions mocked.

The mock checks requests the way OpenAI does (every assistant tool call answered by a tool
message, no tool message without its call) and answers 400 otherwise, so a thread whose
history breaks that rule shows up as a failed turn.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import SecretStr
from sqlmodel import Session, select

from agent.figures import figures_in, unsupported_figures
from agent.graph import MAX_TOOL_CALLS_PER_MESSAGE, get_checkpointer
from agent.models import AgentRun
from agent.runner import TurnRequest, TurnResult, run_turn
from domain.auth.enums import Role
from domain.auth.models import User
from domain.deal.models import Offer
from store.db import get_engine
from tests.agent.world import SUBJECT_ADDRESS, World
from tests.factories import override_settings

COMPLETIONS = "https://api.openai.com/v1/chat/completions"
Step = dict[str, Any] | httpx.Response | Callable[[dict[str, Any]], Any]


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
        "object": "chat.completion",
        "created": 1_732_000_000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _call(name: str, args: dict[str, Any] | str, call_id: str | None = None) -> dict[str, Any]:
    return {
        "id": call_id or f"call_{uuid.uuid4().hex[:10]}",
        "type": "function",
        "function": {
            "name": name,
            "arguments": args if isinstance(args, str) else json.dumps(args),
        },
    }


def _tools(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def _text(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def _pairing_error(messages: list[dict[str, Any]]) -> str | None:
    """What OpenAI would reject in ``messages`` (tool calls and results not paired)."""
    for i, message in enumerate(messages):
        if message["role"] == "tool" and (
            i == 0 or messages[i - 1]["role"] not in ("tool", "assistant")
        ):
            return "messages with role 'tool' must be a response to a preceding tool_calls"
        if message["role"] == "assistant" and message.get("tool_calls"):
            ids = {c["id"] for c in message["tool_calls"]}
            j, answered = i + 1, set()
            while j < len(messages) and messages[j]["role"] == "tool":
                answered.add(messages[j]["tool_call_id"])
                j += 1
            if ids - answered:
                return f"tool_call_ids did not have response messages: {sorted(ids - answered)}"
    return None


class FakeOpenAI:
    """Plays the steps in order (the last one repeats) and validates each request."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        problem = _pairing_error(body["messages"])
        if problem:
            error = {"message": problem, "type": "invalid_request_error"}
            return httpx.Response(400, json={"error": error})
        step = self.steps[min(len(self.requests) - 1, len(self.steps) - 1)]
        if callable(step):
            step = step(body)
        if isinstance(step, httpx.Response):
            return step
        return httpx.Response(200, json=_completion(step))


def _turn(
    monkeypatch: pytest.MonkeyPatch,
    world: World,
    steps: list[Step],
    *,
    text: str = "hi",
    thread: str | None = None,
    user: User | None = None,
) -> tuple[TurnResult, FakeOpenAI]:
    override_settings(monkeypatch, openai_api_key=SecretStr("sk-test-not-real"))
    fake = FakeOpenAI(steps)
    who = user or world.ivy
    with respx.mock() as mock:
        mock.post(COMPLETIONS).mock(side_effect=fake)
        result = run_turn(
            TurnRequest(
                org_id=world.org.id,
                user_id=who.id,
                role=Role(who.role),
                channel="web",
                thread_id=thread or f"web:{uuid.uuid4()}",
                text=text,
            )
        )
    return result, fake


def _run(result: TurnResult) -> AgentRun:
    with Session(get_engine()) as session:
        row = session.get(AgentRun, result.run_id)
    assert row is not None
    return row


# --- 1. malformed tool arguments ----------------------------------------------------------------


def test_malformed_arguments_get_an_error_result_next_to_a_valid_call(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _call("find_property", {"address": "14500 Kercheval Ave"}, "call_good")
    bad = _call("section8_rent", '{"address": "14500 Kerch', "call_bad")
    result, fake = _turn(monkeypatch, world, [_tools(good, bad), _text("Found it.")])
    assert result.error is None and result.reply == "Found it."
    sent = {
        m["tool_call_id"]: m["content"] for m in fake.requests[1]["messages"] if m["role"] == "tool"
    }
    assert set(sent) == {"call_good", "call_bad"}
    assert "not valid JSON" in json.loads(sent["call_bad"])["error"]
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("section8_rent", False),
        ("find_property", True),
    ]


def test_a_malformed_call_alone_lets_the_model_retry_and_the_thread_keeps_working(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = f"whatsapp:{uuid.uuid4()}"
    bad = _call("analyze_property", '{"address": "14500 Kercheval')
    good = _call("find_property", {"address": "14500 Kercheval Ave"})
    first, fake = _turn(
        monkeypatch, world, [_tools(bad), _tools(good), _text("On file.")], thread=thread
    )
    assert first.reply == "On file." and first.error is None
    assert len(fake.requests) == 3  # the model was asked again after the error result
    later, _ = _turn(monkeypatch, world, [_text("fine")], thread=thread, text="hello")
    assert (later.reply, later.error) == ("fine", None)


def test_a_stored_tool_call_without_result_does_not_poison_the_thread(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread checkpointed with an unanswered tool call (older versions stored those)."""
    from langgraph.graph import START, StateGraph

    from agent.state import State

    thread = f"whatsapp:{uuid.uuid4()}"
    builder = StateGraph(State)
    builder.add_node("noop", lambda state: {})
    builder.add_edge(START, "noop")
    saver = builder.compile(checkpointer=get_checkpointer())
    orphan = AIMessage(
        content="",
        tool_calls=[{"name": "find_property", "args": {"address": "x"}, "id": "call_orphan"}],
    )
    saver.invoke(
        {"messages": [HumanMessage(content="14500 Kercheval Ave"), orphan]},
        {"configurable": {"thread_id": thread}},
    )
    result, fake = _turn(monkeypatch, world, [_text("fine")], thread=thread, text="hello")
    assert (result.reply, result.error) == ("fine", None)
    roles = [m["role"] for m in fake.requests[0]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]


# --- 2. a write, then the model fails -----------------------------------------------------------


def test_a_failure_after_a_write_records_it_and_says_it_was_done(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = _call("make_offer", {"deal": str(world.ivy_deal_id), "offer_amount": 55000})
    boom = httpx.Response(500, json={"error": {"message": "boom"}})
    result, _ = _turn(monkeypatch, world, [_tools(offer), boom], user=world.admin, text="offer 55k")
    assert result.error is not None and "500" in result.error
    assert [(c.name, c.ok) for c in result.tool_calls] == [("make_offer", True)]
    assert "already done" in result.reply and "$55,000" in result.reply
    assert "try again in a minute" not in result.reply
    row = _run(result)
    assert [c["name"] for c in row.tool_calls] == ["make_offer"]
    with Session(get_engine()) as session:
        offers = session.exec(select(Offer).where(Offer.deal_id == world.ivy_deal_id)).all()
    assert any(o.offer_amount == 55000 for o in offers)


# --- 3. NUL characters --------------------------------------------------------------------------


def test_nul_in_input_arguments_and_reply_is_stripped_and_the_run_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    find = _call("find_property", {"address": "14500 Kercheval Ave\u0000"})
    result, _ = _turn(
        monkeypatch, world, [_tools(find), _text("hello\u0000 there")], text="find\u0000 it"
    )
    assert result.reply == "hello there"
    assert [(c.name, c.args, c.ok) for c in result.tool_calls] == [
        ("find_property", {"address": "14500 Kercheval Ave"}, True)
    ]
    row = _run(result)
    assert (row.input_text, row.output_text) == ("find it", "hello there")


# --- 4. the figures guard -----------------------------------------------------------------------


def _analysis_then(*replies: Callable[[dict[str, Any]], dict[str, Any]]) -> list[Step]:
    analyse = _call("analyze_property", {"address": "14500 Kercheval Ave"})
    return [_tools(analyse), *replies]


def _result_sent(body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(next(m for m in body["messages"] if m["role"] == "tool")["content"])


def test_invented_figures_are_re_prompted_once_and_the_fixed_answer_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _analysis_then(
        lambda body: _text("ARV $212,000 and max offer $777k."),
        lambda body: _text(f"ARV {_result_sent(body)['arv']}."),
    )
    result, fake = _turn(monkeypatch, world, steps, text="14500 Kercheval Ave")
    assert len(fake.requests) == 3
    note = fake.requests[2]["messages"][-1]
    assert note["role"] == "system" and "212000" in note["content"] and "777000" in note["content"]
    assert result.reply == f"ARV {_result_sent(fake.requests[2])['arv']}."
    assert result.error is None
    assert any("figures guard" in flag for flag in result.flags)
    assert "figures guard" in (_run(result).error or "")


def test_figures_still_invented_fall_back_to_the_tool_results(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _analysis_then(lambda body: _text("ARV $212,000. Cash flow $650/mo."))
    result, fake = _turn(monkeypatch, world, steps, text="14500 Kercheval Ave")
    sent = _result_sent(fake.requests[1])
    assert "$212,000" not in result.reply and "$650" not in result.reply
    assert SUBJECT_ADDRESS in result.reply and sent["arv"] in result.reply
    assert "reply replaced" in (_run(result).error or "")


def test_figures_without_any_tool_result_are_dropped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    invented = _text("14500 Kercheval Ave: BUY. ARV $212,000, max offer $140,000.")
    result, _ = _turn(monkeypatch, world, [invented], text="14500 Kercheval Ave")
    assert result.reply == "14500 Kercheval Ave: BUY."


# --- 5. reading figures -------------------------------------------------------------------------


def test_k_and_m_suffixes_are_read_and_rounded() -> None:
    source = ['{"arv": "$185,000", "value": 1213000}']
    assert figures_in("ARV $185k, value $3.5M") == {"185000", "3500000"}
    assert unsupported_figures("ARV $185k, value $1.2M", source) == set()
    assert unsupported_figures("ARV $195k, value $3.5M", source) == {"195000", "3500000"}
    assert unsupported_figures("Rehab $20k-$45k", source) == {"20000", "45000"}


def test_signs_and_loss_wording() -> None:
    source = ['{"rental_cash_flow_monthly": "-$218", "flip_profit": "$22,923"}']
    assert unsupported_figures("Cash flow -$218/mo", source) == set()
    assert unsupported_figures("It loses $218 a month", source) == set()
    assert unsupported_figures("Cash flow $218/mo, positive", source) == {"218"}
    assert unsupported_figures("Flip profit -$22,923", source) == {"22923"}


def test_house_numbers_and_zip_codes_are_not_money() -> None:
    source = ['{"address": "14500 Kercheval Ave, Detroit, MI 48215", "zip": "48215"}']
    assert unsupported_figures("14500 Kercheval Ave, MI 48215", source) == set()
    assert unsupported_figures("Value $48,215, ARV $14,500", source) == {"48215", "14500"}


def test_dates_in_words_and_us_format_and_earlier_results() -> None:
    source = ['{"as_of": "2026-11-28"}']
    for text in ("as of November 28, 2026", "as of Nov 28", "as of 11/28/2026", "in 2026"):
        assert unsupported_figures(text, source) == set(), text
    assert unsupported_figures("as of November 29, 2026", source) == {"2026-11-29"}
    earlier = '{"max_offer": "$53,644"}'
    assert unsupported_figures("Max offer $53,644", [*source, earlier]) == set()


# --- 6. refusals and empty replies --------------------------------------------------------------


def test_a_refusal_is_passed_on_and_recorded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    result, _ = _turn(monkeypatch, world, [refusal])
    assert result.reply == "I can't help with that."
    assert "model refused" in (_run(result).error or "")


def test_an_empty_reply_is_recorded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = _turn(monkeypatch, world, [_text("")])
    assert result.reply.startswith("Sorry, I have no answer")
    assert "empty" in (_run(result).error or "")


# --- 7. tool calls per message ------------------------------------------------------------------


def test_tool_calls_over_the_limit_are_not_run_and_answered_with_an_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [_call("find_property", {"address": "14500 Kercheval Ave"}) for _ in range(12)]
    result, fake = _turn(monkeypatch, world, [_tools(*calls), _text("done")])
    assert result.reply == "done"
    ran = [c for c in result.tool_calls if c.ok]
    refused = [c for c in result.tool_calls if not c.ok]
    assert len(ran) == MAX_TOOL_CALLS_PER_MESSAGE and len(refused) == 12 - len(ran)
    assert all("at most" in c.summary for c in refused)
    answered = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert len(answered) == 12
