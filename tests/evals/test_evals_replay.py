"""The evals' OpenAI path: ``ChatOpenAI`` through the real graph and tools, with the
chat-completions exchanges replayed by respx from ``evals/recordings`` (no key, no network).

Each recorded case must pass the same checks as with the offline planner, and every request
we send must offer exactly the tools the caller's role allows.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from sqlmodel import Session

from domain.auth.enums import Role
from domain.deal import service as deal_service
from evals.cases_schema import load_cases
from evals.replay import Recording, ReplayError, load_recordings, replaying
from evals.runner import run_case
from evals.world import EvalWorld, build_world, delete_world
from store.db import get_engine
from tools import ROLE_TOOL_NAMES, TOOLS_BY_NAME

RECORDINGS = load_recordings()
CASES = {case.id: case for case in load_cases()}


@pytest.fixture(scope="module", autouse=True)
def _close_checkpointer() -> Iterator[None]:
    yield
    from agent.graph import close_checkpointer

    close_checkpointer()


@pytest.fixture(scope="module")
def world() -> Iterator[EvalWorld]:
    with Session(get_engine(), expire_on_commit=False) as session:
        built = build_world(session)
    yield built
    with Session(get_engine()) as session:
        delete_world(session, built)


def _model() -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", api_key=SecretStr("sk-test-not-real"), temperature=0, max_retries=0
    )


def test_the_recordings_name_existing_cases_and_tools() -> None:
    assert len(RECORDINGS) >= 10
    assert set(RECORDINGS) <= set(CASES)
    for recording in RECORDINGS.values():
        for step in recording.steps:
            for call in step.get("tool_calls", []):
                assert call["name"] in TOOLS_BY_NAME, (recording.case_id, call["name"])


@pytest.mark.parametrize("case_id", sorted(RECORDINGS))
def test_a_recorded_case_passes_through_chat_completions(world: EvalWorld, case_id: str) -> None:
    case = CASES[case_id]
    recording = Recording(case_id=case_id, steps=list(RECORDINGS[case_id].steps))
    with replaying(recording, world.placeholders()):
        result = run_case(case, world, _model())
    assert result.passed, result.failures
    assert result.tokens > 0
    # Every request offered exactly the role's tools: never one the role lacks.
    allowed = ROLE_TOOL_NAMES[Role(world.users[case.role].role)]
    for body in recording.requests:
        assert {t["function"]["name"] for t in body.get("tools", [])} == allowed
        assert body["messages"][0]["role"] == "system"
    assert len(recording.requests) == len(recording.steps)


def test_a_model_calling_a_tool_the_role_lacks_runs_nothing(world: EvalWorld) -> None:
    """A rogue answer asking for create_deal as an investor: refused, no deal created."""
    case = CASES["investor-cannot-create-deals"]
    recording = Recording(
        case_id=case.id,
        steps=[
            {"tool_calls": [{"name": "create_deal", "arguments": {"address": "{write_address}"}}]},
            {"content": "{tool.text}"},
        ],
    )
    with Session(get_engine()) as session:
        before = len(deal_service.list_deals(session=session, org_id=world.org.id, limit=500))
    with replaying(recording, world.placeholders()):
        result = run_case(case, world, _model())
    # The tools node knows only the investor's tools: the call comes back as an error.
    assert not result.passed
    assert "create_deal is not a valid tool" in result.replies[0]
    with Session(get_engine()) as session:
        after = len(deal_service.list_deals(session=session, org_id=world.org.id, limit=500))
    assert after == before


def test_more_model_calls_than_recorded_is_an_error(world: EvalWorld) -> None:
    recording = Recording(case_id="short", steps=[])
    with replaying(recording, world.placeholders()) as rec:
        with pytest.raises(ReplayError, match="more model calls than recorded"):
            httpx.post("https://api.openai.com/v1/chat/completions", json={"messages": []})
    assert len(rec.requests) == 1
