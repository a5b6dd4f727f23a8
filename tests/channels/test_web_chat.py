"""Team chat API: streamed answers (SSE), stored history, organisation scoping, roles, the page.

The agent runs for real (the offline planner: no key in tests) on committed rows; the
worked example is the deal ledger of ``web_chat_world`` (income $4,350, expenses $3,895,
net $455).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.models import User
from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.chat.models import Message
from tests.channels.web_chat_world import (
    PNL_EXPENSES,
    PNL_INCOME,
    PNL_NET,
    ChatWorld,
    build_chat_world,
)
from tests.factories import auth_headers

CHAT = "/api/v1/chat"


@pytest.fixture
def world(committed_db: Session) -> ChatWorld:
    return build_chat_world(committed_db)


@pytest.fixture
def api(redis: object) -> Iterator[TestClient]:
    """The real application on real (committed) sessions: the agent opens its own."""
    from app import app

    with TestClient(app) as test_client:
        yield test_client


def headers(db: Session, user: User) -> dict[str, str]:
    return auth_headers(db, user)


def events(body: str) -> list[tuple[str, Any]]:
    """Parse a text/event-stream body into (event, data) pairs; comments are skipped."""
    parsed = []
    for block in body.split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            parsed.append((name, json.loads("\n".join(data))))
    return parsed


def new_conversation(api: TestClient, hdrs: dict[str, str]) -> str:
    response = api.post(f"{CHAT}/conversations", headers=hdrs, json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def ask(api: TestClient, hdrs: dict[str, str], conversation_id: str, text: str) -> Any:
    return api.post(f"{CHAT}/{conversation_id}/messages", headers=hdrs, json={"text": text})


def test_a_pnl_question_streams_progress_then_the_answer_and_the_history_persists(
    api: TestClient, committed_db: Session, world: ChatWorld
) -> None:
    hdrs = headers(committed_db, world.analyst)
    conversation_id = new_conversation(api, hdrs)
    question = f"what's the P&L for deal {world.deal_id}"

    response = ask(api, hdrs, conversation_id, question)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = events(response.text)
    names = [name for name, _ in stream]
    assert names[0] == "message" and names[-2:] == ["reply", "done"]
    assert ("progress", {"text": "adding up the P&L…"}) in stream
    assert names.index("progress") < names.index("reply")
    assert stream[0][1]["content"] == question
    reply = dict(stream)["reply"]
    # The ledger: 3 x $1,450 rent; repairs $3,275 + insurance $620; net $455.
    for figure in (PNL_INCOME, PNL_EXPENSES, PNL_NET):
        assert figure in reply["content"]
    assert [call["name"] for call in reply["tool_calls"]] == ["pnl"]
    assert reply["tool_calls"][0]["ok"] is True

    # A reload: the history and the conversation list come back from the database.
    history = api.get(f"{CHAT}/{conversation_id}/messages", headers=hdrs)
    assert history.status_code == 200
    assert [(m["role"], m["content"]) for m in history.json()] == [
        ("user", question),
        ("assistant", reply["content"]),
    ]
    assert history.json()[1]["run_id"] == reply["run_id"]
    conversations = api.get(f"{CHAT}/conversations", headers=hdrs).json()
    assert [(c["id"], c["title"], c["message_count"]) for c in conversations] == [
        (conversation_id, question, 2)
    ]


def test_the_conversation_keeps_its_thread_across_turns(
    api: TestClient, committed_db: Session, world: ChatWorld
) -> None:
    hdrs = headers(committed_db, world.admin)
    conversation_id = new_conversation(api, hdrs)
    ask(api, hdrs, conversation_id, "help")
    second = ask(api, hdrs, conversation_id, f"cash flow for deal {world.deal_id}")
    reply = dict(events(second.text))["reply"]
    assert [call["name"] for call in reply["tool_calls"]] == ["cashflow"]
    history = api.get(f"{CHAT}/{conversation_id}/messages", headers=hdrs).json()
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]


def test_another_organisations_or_users_conversation_is_not_found(
    api: TestClient, committed_db: Session, world: ChatWorld
) -> None:
    own = headers(committed_db, world.analyst)
    conversation_id = new_conversation(api, own)
    ask(api, own, conversation_id, "help")

    for outsider in (world.other_admin, world.admin):
        hdrs = headers(committed_db, outsider)
        assert api.get(f"{CHAT}/{conversation_id}/messages", headers=hdrs).status_code == 404
        posted = ask(api, hdrs, conversation_id, f"P&L for deal {world.deal_id}")
        assert posted.status_code == 404
        assert "not found" in posted.json()["detail"]
        assert api.get(f"{CHAT}/conversations", headers=hdrs).json() == []
    # Nothing was added to the conversation by the refused posts.
    stored = committed_db.exec(
        select(Message).where(Message.conversation_id == uuid.UUID(conversation_id))
    ).all()
    assert len(stored) == 2


def test_without_a_token_the_chat_api_answers_401(api: TestClient) -> None:
    assert api.get(f"{CHAT}/conversations").status_code == 401
    response = api.post(f"{CHAT}/{uuid.uuid4()}/messages", json={"text": "help"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.post(f"{CHAT}/conversations", json={}).status_code == 401


def test_contractors_are_refused(api: TestClient, committed_db: Session, world: ChatWorld) -> None:
    hdrs = headers(committed_db, world.contractor)
    assert api.get(f"{CHAT}/conversations", headers=hdrs).status_code == 403
    response = api.post(f"{CHAT}/conversations", headers=hdrs, json={})
    assert response.status_code == 403
    assert "contractor" in response.json()["detail"]


def test_an_investor_chats_under_the_investor_policy(
    api: TestClient, committed_db: Session, world: ChatWorld
) -> None:
    # The deal belongs to the admin: an investor may use the chat, not read others' deals.
    hdrs = headers(committed_db, world.investor)
    conversation_id = new_conversation(api, hdrs)
    response = ask(api, hdrs, conversation_id, f"P&L for deal {world.deal_id}")
    assert response.status_code == 200
    reply = dict(events(response.text))["reply"]
    assert PNL_INCOME not in reply["content"] and PNL_NET not in reply["content"]


def test_bad_questions_are_refused_with_a_message_and_nothing_is_stored(
    api: TestClient, committed_db: Session, world: ChatWorld
) -> None:
    hdrs = headers(committed_db, world.analyst)
    conversation_id = new_conversation(api, hdrs)
    blank = ask(api, hdrs, conversation_id, "   ")
    assert blank.status_code == 422
    assert "empty" in blank.json()["detail"]
    too_long = ask(api, hdrs, conversation_id, "x" * 4001)
    assert too_long.status_code == 422
    assert ask(api, hdrs, str(uuid.uuid4()), "help").status_code == 404
    assert ask(api, hdrs, "not-a-uuid", "help").status_code == 422
    assert api.get(f"{CHAT}/{conversation_id}/messages", headers=hdrs).json() == []


def test_html_in_messages_is_data_and_the_page_forbids_inline_script(
    api: TestClient, committed_db: Session, world: ChatWorld
) -> None:
    hdrs = headers(committed_db, world.analyst)
    conversation_id = new_conversation(api, hdrs)
    attack = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    response = ask(api, hdrs, conversation_id, attack)
    # The stream is JSON in text/event-stream, never HTML; the text is kept as written.
    assert response.headers["content-type"].startswith("text/event-stream")
    assert dict(events(response.text))["message"]["content"] == attack
    # A stored reply with HTML in it comes back verbatim, for the page to show as text.
    conversation = chat_service.get_conversation(
        session=committed_db,
        org_id=world.org.id,
        user_id=world.analyst.id,
        conversation_id=uuid.UUID(conversation_id),
    )
    chat_service.add_message(
        session=committed_db,
        org_id=world.org.id,
        conversation=conversation,
        role=ChatRole.assistant,
        content=attack,
    )
    committed_db.commit()
    history = api.get(f"{CHAT}/{conversation_id}/messages", headers=hdrs).json()
    assert history[-1]["content"] == attack

    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.text  # only <script src=...>: nothing inline to allow


def test_the_page_and_the_widget_are_served_from_our_own_files(api: TestClient) -> None:
    page = api.get("/").text
    assert 'src="/chat/assets/chat.js"' in page and 'href="/chat/assets/chat.css"' in page
    assert "http://" not in page and "https://" not in page  # nothing from the internet
    widget = api.get("/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("application/javascript")
    assert "window.DealdeskChat" in widget.text and "dealdesk-widget" in widget.text
    assert "innerHTML" not in widget.text  # messages are built as nodes, never parsed HTML
    assert api.get("/chat/assets/chat.css").headers["content-type"].startswith("text/css")
    assert api.get("/chat/assets/..%2Fweb.py").status_code == 404
    assert api.get("/chat/assets/index.html").status_code == 404
