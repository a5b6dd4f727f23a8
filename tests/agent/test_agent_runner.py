"""``run_turn``: run records, per-thread serialisation, tool errors, failures, history."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlmodel import Session, select

from agent.models import AgentRun
from agent.prompts import PROMPTS_DIR, load_prompt
from agent.runner import FAILURE_REPLY, TurnRequest, run_turn, thread_messages
from agent.serialise import is_locked, lock_key, thread_lock
from domain.auth.enums import Role
from store.db import get_engine
from tests.agent.scripted import call, scripted
from tests.agent.world import SUBJECT_ADDRESS, World


def _request(world: World, text: str, thread: str, role: Role = Role.investor) -> TurnRequest:
    user = world.ivy if role == Role.investor else world.analyst
    return TurnRequest(
        org_id=world.org.id,
        user_id=user.id,
        role=role,
        channel="whatsapp" if role == Role.investor else "web",
        thread_id=thread,
        text=text,
    )


def _run_row(run_id: uuid.UUID) -> AgentRun:
    with Session(get_engine()) as session:
        row = session.get(AgentRun, run_id)
        assert row is not None
        return row


def test_each_turn_is_recorded_with_prompt_hash_model_and_tool_calls(world: World) -> None:
    thread = f"whatsapp:{uuid.uuid4()}"
    result = run_turn(_request(world, SUBJECT_ADDRESS, thread))
    row = _run_row(result.run_id)
    prompt_bytes = (PROMPTS_DIR / "investor.md").read_bytes()
    assert row.prompt_name == "investor.md"
    assert row.prompt_sha256 == hashlib.sha256(prompt_bytes).hexdigest()
    assert row.model == "offline-planner"
    assert (row.org_id, row.user_id, row.thread_id, row.channel, row.role) == (
        world.org.id,
        world.ivy.id,
        thread,
        "whatsapp",
        "investor",
    )
    assert row.input_text == SUBJECT_ADDRESS and row.output_text == result.reply
    assert row.tool_calls == [
        {
            "name": "analyze_property",
            "args": {"address": SUBJECT_ADDRESS},
            "ok": True,
            "summary": result.tool_calls[0].summary,
        }
    ]
    assert row.error is None and row.latency_ms >= 0
    assert row.input_tokens is None  # the offline planner reports no tokens
    # The team's prompt is another file, with its own hash.
    team = run_turn(_request(world, "help", f"web:{uuid.uuid4()}", role=Role.analyst))
    team_row = _run_row(team.run_id)
    assert team_row.prompt_name == "team.md"
    assert team_row.prompt_sha256 == load_prompt("team").sha256 != row.prompt_sha256


def test_a_tool_error_becomes_a_message_the_model_acts_on(world: World) -> None:
    def answer(messages: list[BaseMessage]) -> AIMessage:
        result = json.loads(str(messages[-1].content))
        return AIMessage(content=f"Problem: {result['error']}")

    model, script = scripted(
        call("analyze_property", address="99999 Nowhere Rd, Detroit, MI"), answer
    )
    progress: list[str] = []
    result = run_turn(
        _request(world, "99999 Nowhere Rd", f"t:{uuid.uuid4()}"),
        model=model,
        on_progress=progress.append,
    )
    assert result.reply.startswith("Problem: no property at '99999 Nowhere Rd, Detroit, MI'")
    assert result.tool_calls[0].ok is False
    assert result.tool_calls[0].summary.startswith("error: no property")
    assert progress == ["analysing the property…"]
    assert result.error is None
    assert _run_row(result.run_id).model == "scripted-test-model"


def test_invalid_tool_arguments_come_back_as_an_error_not_an_exception(world: World) -> None:
    model, script = scripted(call("get_comps", exclude="all of them"), AIMessage(content="sorry"))
    result = run_turn(_request(world, "comps", f"t:{uuid.uuid4()}"), model=model)
    (message,) = [m for m in script.calls[1] if isinstance(m, ToolMessage)]
    assert message.status == "error" and "exclude" in str(message.content)
    assert result.reply == "sorry" and result.tool_calls[0].ok is False


def test_a_model_failure_is_an_apology_and_a_recorded_error(world: World) -> None:
    def broken(messages: list[BaseMessage]) -> AIMessage:
        raise ConnectionError("model endpoint unreachable")

    model, _ = scripted(broken)
    result = run_turn(_request(world, "hello there", f"t:{uuid.uuid4()}"), model=model)
    assert result.reply == FAILURE_REPLY
    row = _run_row(result.run_id)
    assert row.error == "ConnectionError: model endpoint unreachable"
    assert row.output_text == FAILURE_REPLY


def test_a_model_that_never_stops_calling_tools_is_cut_off(world: World) -> None:
    steps = [call("list_deals", call_id=f"c{i}") for i in range(12)]
    model, script = scripted(*steps)
    result = run_turn(_request(world, "loop", f"t:{uuid.uuid4()}"), model=model)
    assert "I had to stop" in result.reply
    assert len(result.tool_calls) == 8  # DEFAULT_MAX_STEPS rounds, then the stop message


def test_history_persists_on_the_thread(world: World) -> None:
    thread = f"web:{uuid.uuid4()}"
    run_turn(_request(world, SUBJECT_ADDRESS, thread))
    run_turn(_request(world, "help", thread))
    humans = [m.content for m in thread_messages(thread) if isinstance(m, HumanMessage)]
    assert humans == [SUBJECT_ADDRESS, "help"]


def test_the_thread_lock_excludes_other_holders() -> None:
    thread = f"whatsapp:{uuid.uuid4()}"
    assert lock_key(thread) == lock_key(thread) != lock_key(thread + "x")
    assert not is_locked(thread)
    with thread_lock(thread):
        assert is_locked(thread)
        assert not is_locked(thread + "x")
    assert not is_locked(thread)


def test_two_turns_on_one_thread_never_interleave(world: World) -> None:
    """An investor double-texts: the second turn starts only after the first has finished."""
    thread = f"whatsapp:{uuid.uuid4()}"
    events: list[str] = []
    first_entered = threading.Event()
    release_first = threading.Event()

    def slow_first(messages: list[BaseMessage]) -> AIMessage:
        events.append("first:model")
        first_entered.set()
        release_first.wait(timeout=30)
        events.append("first:done")
        return AIMessage(content="first answer")

    def second(messages: list[BaseMessage]) -> AIMessage:
        events.append("second:model")
        # The second turn sees the first turn complete in its history.
        texts = [str(m.content) for m in messages]
        assert "first answer" in texts
        return AIMessage(content="second answer")

    first_model, _ = scripted(slow_first)
    second_model, _ = scripted(second)
    results: dict[str, Any] = {}

    def run(name: str, model: Any, text: str) -> None:
        results[name] = run_turn(_request(world, text, thread), model=model)

    one = threading.Thread(target=run, args=("first", first_model, "first message"))
    one.start()
    assert first_entered.wait(timeout=30)
    two = threading.Thread(target=run, args=("second", second_model, "second message"))
    two.start()
    # Give the second turn every chance to run ahead if the lock did not hold it back.
    for _ in range(20):
        if is_locked(thread) and "second:model" not in events:
            time.sleep(0.02)
    assert "second:model" not in events
    release_first.set()
    one.join(timeout=60)
    two.join(timeout=60)
    assert events == ["first:model", "first:done", "second:model"]
    assert results["first"].reply == "first answer"
    assert results["second"].reply == "second answer"
    contents = [str(m.content) for m in thread_messages(thread)]
    assert contents == ["first message", "first answer", "second message", "second answer"]
    with Session(get_engine()) as session:
        rows = session.exec(select(AgentRun).where(AgentRun.thread_id == thread)).all()
    assert sorted(r.output_text or "" for r in rows) == ["first answer", "second answer"]
