"""The OpenAI path: ``ChatOpenAI`` through the real graph, with chat-completions HTTP mocked.

respx answers ``POST /v1/chat/completions`` the way OpenAI does: first a tool call, then a
reply written from the tool result it was sent. No key or network is needed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from sqlmodel import Session

from agent.llm import chat_model, model_name
from agent.models import AgentRun
from agent.planner import OfflinePlanner
from agent.runner import TurnRequest, run_turn
from domain.auth.enums import Role
from store.db import get_engine
from tests.agent.world import SUBJECT_ADDRESS, World
from tests.factories import override_settings
from tools import READ_TOOL_NAMES

COMPLETIONS = "https://api.openai.com/v1/chat/completions"


def _completion(message: dict[str, Any], finish: str, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
        "object": "chat.completion",
        "created": 1_732_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    }


def test_without_key_or_base_url_the_offline_planner_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)
    assert isinstance(chat_model(), OfflinePlanner)
    assert model_name(chat_model()) == "offline-planner"


def test_an_openai_compatible_base_url_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, llm_base_url="http://127.0.0.1:9/v1", llm_model="llama3.1:8b")
    model = chat_model()
    assert model_name(model) == "llama3.1:8b"
    assert str(getattr(model, "openai_api_base", "")) == "http://127.0.0.1:9/v1"


def test_tool_call_round_trip_through_chat_completions(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, openai_api_key=SecretStr("sk-test-not-real"))
    requests: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        if len(requests) == 1:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "analyze_property",
                            "arguments": json.dumps({"address": "14500 Kercheval Ave"}),
                        },
                    }
                ],
            }
            return httpx.Response(200, json=_completion(message, "tool_calls", (812, 24)))
        tool_message = next(m for m in body["messages"] if m["role"] == "tool")
        result = json.loads(tool_message["content"])
        text = (
            f"{result['address']}: {result['headline']}. ARV {result['arv']}, "
            f"max offer {result['max_offer']}."
        )
        reply = {"role": "assistant", "content": text}
        return httpx.Response(200, json=_completion(reply, "stop", (1450, 41)))

    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(COMPLETIONS).mock(side_effect=answer)
        result = run_turn(
            TurnRequest(
                org_id=world.org.id,
                user_id=world.ivy.id,
                role=Role.investor,
                channel="whatsapp",
                thread_id=f"whatsapp:{uuid.uuid4()}",
                text="what about 14500 Kercheval Ave?",
            )
        )
    assert route.call_count == 2
    first = requests[0]
    assert first["model"] == "gpt-4o-mini"
    assert {t["function"]["name"] for t in first["tools"]} == READ_TOOL_NAMES
    assert first["messages"][0]["role"] == "system"
    assert "WhatsApp" in first["messages"][0]["content"]
    assert first["messages"][-1] == {"role": "user", "content": "what about 14500 Kercheval Ave?"}
    # The tool ran against the database and its result went back to the model.
    second = requests[1]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][3]["tool_call_id"] == "call_abc123"
    sent = json.loads(second["messages"][3]["content"])
    assert sent["address"] == SUBJECT_ADDRESS and sent["property_id"] == str(world.subject.id)

    assert result.reply.startswith(f"{SUBJECT_ADDRESS}: ")
    assert f"ARV {sent['arv']}, max offer {sent['max_offer']}." in result.reply
    assert [(c.name, c.ok) for c in result.tool_calls] == [("analyze_property", True)]
    assert result.model == "gpt-4o-mini"
    assert result.tokens == {"input_tokens": 2262, "output_tokens": 65, "total_tokens": 2327}
    with Session(get_engine()) as session:
        row = session.get(AgentRun, result.run_id)
    assert row is not None
    assert (row.model, row.input_tokens, row.output_tokens, row.total_tokens) == (
        "gpt-4o-mini",
        2262,
        65,
        2327,
    )


def test_an_openai_error_becomes_an_apology(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, openai_api_key=SecretStr("sk-test-not-real"))
    with respx.mock() as mock:
        mock.post(COMPLETIONS).mock(
            return_value=httpx.Response(401, json={"error": {"message": "Incorrect API key"}})
        )
        result = run_turn(
            TurnRequest(
                org_id=world.org.id,
                user_id=world.analyst.id,
                role=Role.analyst,
                channel="web",
                thread_id=f"web:{uuid.uuid4()}",
                text="hello",
            )
        )
    assert result.reply.startswith("Sorry, something went wrong on my side")
    assert result.error is not None and "AuthenticationError" in result.error
