"""A conversation's history, paged back from the newest: ``limit``, ``offset``, ``before``.

``GET /api/v1/chat/{conversation_id}/messages`` answers the newest ``limit`` messages (older
than the message ``before`` when given), oldest first, with ``X-Total-Count``; the order is
(created_at, id), so walking back with ``before`` never repeats or skips a message, even
when many share one timestamp. Real database rows (the test's rolled-back session).
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.chat.models import Conversation, Message
from tests.factories import auth_headers, make_org, make_user

CHAT = "/api/v1/chat"
TOTAL = "X-Total-Count"
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def conversation_with(
    db: Session,
    org: Organisation,
    user: User,
    times: list[dt.datetime],
) -> tuple[Conversation, list[Message]]:
    """A conversation of ``user`` holding one message per time, in (created_at, id) order."""
    conversation = chat_service.create_conversation(session=db, org_id=org.id, user_id=user.id)
    messages = []
    for number, created_at in enumerate(times):
        message = Message(
            org_id=org.id,
            conversation_id=conversation.id,
            role=(ChatRole.user if number % 2 == 0 else ChatRole.assistant).value,
            content=f"message {number}",
            created_at=created_at,
        )
        db.add(message)
        messages.append(message)
    conversation.message_count = len(times)
    db.add(conversation)
    db.flush()
    return conversation, sorted(messages, key=lambda m: (m.created_at, m.id))


def minutes(count: int) -> list[dt.datetime]:
    return [T0 + dt.timedelta(minutes=n) for n in range(count)]


def ids(rows: list[dict[str, object]]) -> list[str]:
    return [str(row["id"]) for row in rows]


def expected(messages: list[Message]) -> list[str]:
    return [str(m.id) for m in messages]


def test_without_parameters_the_latest_100_come_oldest_first_with_the_total(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.analyst)
    conversation, messages = conversation_with(db, org, user, minutes(130))

    response = client.get(f"{CHAT}/{conversation.id}/messages", headers=auth_headers(db, user))

    assert response.status_code == 200, response.text
    assert response.headers[TOTAL] == "130"
    assert ids(response.json()) == expected(messages[-100:])
    assert response.json()[0]["content"] == "message 30"
    assert response.json()[-1]["content"] == "message 129"


def test_a_short_conversation_still_comes_whole_and_counted(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.investor)
    conversation, messages = conversation_with(db, org, user, minutes(3))

    response = client.get(f"{CHAT}/{conversation.id}/messages", headers=auth_headers(db, user))

    assert response.status_code == 200, response.text
    assert ids(response.json()) == expected(messages)
    assert response.headers[TOTAL] == "3"


def test_paging_back_with_before_visits_each_message_once_even_on_identical_timestamps(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.analyst)
    # 23 messages on 4 timestamps: pages of 4 cut through groups sharing one timestamp.
    times = [T0] * 9 + [T0 + dt.timedelta(seconds=1)] * 7 + [T0 + dt.timedelta(seconds=2)] * 6
    times.append(T0 + dt.timedelta(seconds=3))
    conversation, messages = conversation_with(db, org, user, times)
    hdrs = auth_headers(db, user)
    url = f"{CHAT}/{conversation.id}/messages"

    seen: list[str] = []
    before: str | None = None
    totals = []
    while True:
        params: dict[str, str | int] = {"limit": 4}
        if before:
            params["before"] = before
        response = client.get(url, params=params, headers=hdrs)
        assert response.status_code == 200, response.text
        page = ids(response.json())
        totals.append(int(response.headers[TOTAL]))
        # Each page is oldest first and sits right before what was already seen.
        seen = page + seen
        if not page or len(page) >= totals[-1]:
            break
        before = page[0]

    assert seen == expected(messages)
    assert len(set(seen)) == 23
    assert totals == [23, 19, 15, 11, 7, 3]
    # Before the oldest message: nothing left, and the count says so.
    response = client.get(url, params={"before": seen[0]}, headers=hdrs)
    assert response.json() == [] and response.headers[TOTAL] == "0"


def test_before_ignores_messages_that_arrive_while_paging(client: TestClient, db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.analyst)
    conversation, messages = conversation_with(db, org, user, minutes(10))
    hdrs = auth_headers(db, user)
    url = f"{CHAT}/{conversation.id}/messages"
    latest = client.get(url, params={"limit": 4}, headers=hdrs).json()
    assert ids(latest) == expected(messages[6:])

    chat_service.add_message(
        session=db, org_id=org.id, conversation=conversation, role=ChatRole.user, content="new"
    )
    earlier = client.get(url, params={"limit": 4, "before": latest[0]["id"]}, headers=hdrs)

    assert ids(earlier.json()) == expected(messages[2:6])
    assert earlier.headers[TOTAL] == "6"


def test_offset_counts_back_from_the_newest(client: TestClient, db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.admin)
    conversation, messages = conversation_with(db, org, user, minutes(25))
    hdrs = auth_headers(db, user)
    url = f"{CHAT}/{conversation.id}/messages"

    second = client.get(url, params={"limit": 10, "offset": 10}, headers=hdrs)
    last = client.get(url, params={"limit": 10, "offset": 20}, headers=hdrs)
    # offset after a cursor: skip the newest older than it.
    cursor = client.get(
        url, params={"limit": 3, "offset": 2, "before": str(messages[10].id)}, headers=hdrs
    )

    assert ids(second.json()) == expected(messages[5:15])
    assert ids(last.json()) == expected(messages[:5])
    assert second.headers[TOTAL] == last.headers[TOTAL] == "25"
    assert ids(cursor.json()) == expected(messages[5:8])
    assert cursor.headers[TOTAL] == "10"


def test_another_users_or_orgs_conversation_is_not_found(client: TestClient, db: Session) -> None:
    org = make_org(db)
    owner = make_user(db, org, role=Role.analyst)
    colleague = make_user(db, org, role=Role.admin)
    other_org = make_org(db, "Other Holdings")
    stranger = make_user(db, other_org, role=Role.admin)
    conversation, messages = conversation_with(db, org, owner, minutes(5))
    url = f"{CHAT}/{conversation.id}/messages"

    for intruder in (colleague, stranger):
        hdrs = auth_headers(db, intruder)
        for params in ({}, {"limit": 2}, {"before": str(messages[-1].id)}):
            response = client.get(url, params=params, headers=hdrs)
            assert response.status_code == 404, (intruder.email, params, response.text)
            assert TOTAL not in response.headers
            assert "message" not in response.text
    unknown = client.get(f"{CHAT}/{uuid.uuid4()}/messages", headers=auth_headers(db, owner))
    assert unknown.status_code == 404
    assert client.get(url, headers=auth_headers(db, owner)).headers[TOTAL] == "5"


def test_a_cursor_from_another_conversation_or_bad_paging_is_a_clear_422(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.analyst)
    conversation, _ = conversation_with(db, org, user, minutes(3))
    _, elsewhere = conversation_with(db, org, user, minutes(3))
    hdrs = auth_headers(db, user)
    url = f"{CHAT}/{conversation.id}/messages"

    foreign = client.get(url, params={"before": str(elsewhere[0].id)}, headers=hdrs)
    assert foreign.status_code == 422
    assert foreign.json()["detail"] == (
        f"before: message {elsewhere[0].id} is not a message of conversation {conversation.id}"
    )
    for params in (
        {"limit": 0},
        {"limit": chat_service.MAX_LIST_LIMIT + 1},
        {"offset": -1},
        {"before": "yesterday"},
    ):
        response = client.get(url, params=params, headers=hdrs)
        assert response.status_code == 422, (params, response.text)
    most = client.get(url, params={"limit": chat_service.MAX_LIST_LIMIT}, headers=hdrs)
    assert most.status_code == 200 and len(most.json()) == 3


def test_the_paging_is_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][f"{CHAT}/{{conversation_id}}/messages"][
        "get"
    ]
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}

    assert set(query) == {"limit", "offset", "before"}
    assert query["limit"]["schema"]["default"] == 100
    assert query["limit"]["schema"]["maximum"] == chat_service.MAX_LIST_LIMIT
    assert TOTAL in operation["responses"]["200"]["headers"]
    assert "before" in operation["description"] and "oldest first" in operation["summary"]
