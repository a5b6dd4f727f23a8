"""Request input hardening found by the live API QA pass (each finding reproduced twice).

- A lone UTF-16 surrogate in JSON (``{"name": "\\ud800x"}``) was a 500 and a reset connection
  (the 422 echoed it and could not be encoded): now a 422 saying so, and nothing is stored.
- A retry with the same ``Idempotency-Key`` sent the moment the answer arrived could get 409
  "still being processed": the answer is now stored before its last byte is sent.
- A JSON body that is not UTF-8 was a 400 "error parsing the body": now a 422 saying why.
- Unknown multipart/urlencoded form fields were dropped (``captoin=``): now a 422 naming them.
- A scalar query parameter given twice (``?limit=1&limit=2``) used one: now a 422.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis
from sqlmodel import Session, func, select
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from core.idempotency import IdempotencyMiddleware
from core.nul_guard import SURROGATE_DETAIL
from core.query_guard import declared_form_fields, reject_unknown_query
from domain.auth.enums import Role
from domain.construction.models import Contractor, ProjectPhoto
from domain.documents.models import Document
from tests.factories import auth_headers, make_org, make_project, make_property, make_user

API = "/api/v1"
JSON = {"content-type": "application/json"}


def _count(db: Session, table: Any, org_id: uuid.UUID) -> int:
    return int(db.exec(select(func.count()).select_from(table).where(table.org_id == org_id)).one())


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- 1. lone surrogates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/contractors", "/properties", "/deals", "/transactions", "/accounts"]
)
def test_a_lone_surrogate_in_json_is_a_clear_422_and_nothing_is_stored(
    client: TestClient, db: Session, path: str
) -> None:
    org = make_org(db)
    headers = {**auth_headers(db, make_user(db, org, Role.admin)), **JSON}
    for body in (
        rb'{"name": "\ud800x"}',
        rb'{"name": "ok", "trades": ["\uDFFF"]}',  # a low surrogate alone, upper case
        rb'{"name": "ok", "\udc00key": 1}',  # in a key
        rb'{"name": "\ud83c"}',  # a high surrogate whose pair never comes
    ):
        response = client.post(f"{API}{path}", content=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json() == {"detail": SURROGATE_DETAIL}
    assert _count(db, Contractor, org.id) == 0


def test_a_surrogate_pair_and_an_escaped_backslash_still_pass(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = {**auth_headers(db, make_user(db, org, Role.admin)), **JSON}
    # "\ud83c\udfe0" is one character (a house); "\\ud800" is a backslash and the letters.
    body = rb'{"name": "Home \ud83c\udfe0 Repairs \\ud800", "phone": "+13125550199"}'
    made = client.post(f"{API}/contractors", content=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Home \U0001f3e0 Repairs \\ud800"


def test_the_validation_422_renders_any_input_it_echoes(client: TestClient) -> None:
    """Whatever reaches validation with a lone surrogate, the 422 is sent (shown as U+FFFD)."""
    handler = client.app.exception_handlers[RequestValidationError]  # type: ignore[attr-defined]
    error = RequestValidationError(
        [{"type": "string_unicode", "loc": ("body", "name"), "msg": "bad", "input": "\ud800x"}]
    )
    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    rendered = asyncio.run(handler(Request(scope), error))
    assert rendered.status_code == 422
    detail = json.loads(rendered.body)["detail"]
    assert detail == [
        {"type": "string_unicode", "loc": ["body", "name"], "msg": "bad", "input": "\ufffdx"}
    ]


# --- 3. JSON that is not UTF-8 ---------------------------------------------------------------


def test_a_json_body_that_is_not_utf8_is_a_422_saying_so(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = {**auth_headers(db, make_user(db, org, Role.admin)), **JSON}
    latin1 = client.post(f"{API}/contractors", content=b'{"name":"caf\xe9"}', headers=headers)
    assert latin1.status_code == 422, latin1.text
    detail = latin1.json()["detail"]
    assert "must be UTF-8 encoded JSON" in detail and "0xE9 at position 12" in detail
    # Surrogates written as raw (CESU-style) bytes are not UTF-8 either.
    raw = client.post(f"{API}/contractors", content=b'{"name":"\xed\xa0\x80"}', headers=headers)
    assert raw.status_code == 422 and "UTF-8" in raw.json()["detail"]
    # Malformed JSON keeps FastAPI's own 422; proper UTF-8 is stored.
    bad = client.post(f"{API}/contractors", content=b"{bad", headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "json_invalid"
    assert _count(db, Contractor, org.id) == 0
    body = '{"name":"Café Builders","phone":"+13125550198"}'.encode()
    assert client.post(f"{API}/contractors", content=body, headers=headers).status_code == 201


# --- 4. unknown form fields ------------------------------------------------------------------


def _unknown_field_error(response: Any, name: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    errors = [e for e in response.json()["detail"] if e["loc"] == ["body", name]]
    assert errors and errors[0]["type"] == "extra_forbidden", response.text
    assert f"Unknown form field {name!r}" in errors[0]["msg"]
    return errors[0]


def test_unknown_form_fields_are_refused_and_nothing_is_stored(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    project = make_project(db, org)
    png = ("front.png", _png(), "image/png")

    photos = client.post(
        f"{API}/projects/{project.id}/photos",
        files={"files": png},
        data={"captoin": "typo", "phase": "before"},
        headers=headers,
    )
    error = _unknown_field_error(photos, "captoin")
    assert error["input"] == "typo"
    accepted = error["msg"].split("accepts: ")[1].rstrip(")").split(", ")
    assert accepted == ["caption", "files", "phase", "taken_at"]

    document = client.post(
        f"{API}/documents",
        files={"file": ("note.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
        data={"kind": "other", "bogus": "1"},
        headers=headers,
    )
    _unknown_field_error(document, "bogus")

    prop = make_property(db, org)
    condition = client.post(
        f"{API}/analyze/component-condition",
        files={"file": png},
        data={"property_id": str(prop.id), "propety_id": "x"},
        headers=headers,
    )
    _unknown_field_error(condition, "propety_id")
    assert _count(db, ProjectPhoto, org.id) == 0 and _count(db, Document, org.id) == 0

    # The declared fields still work: the caption is kept.
    ok = client.post(
        f"{API}/projects/{project.id}/photos",
        files={"files": png},
        data={"caption": "front elevation"},
        headers=headers,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()[0]["caption"] == "front elevation"


def test_sign_in_form_standard_fields_and_twilio_webhooks_are_not_refused(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_user(db, org, Role.analyst, email="ann@example.com", password="correct horse 9")
    db.flush()
    form = {
        "grant_type": "password",
        "username": "ann@example.com",
        "password": "correct horse 9",
        "scope": "",
        "client_id": "cli",
        "client_secret": "s",
    }
    assert client.post(f"{API}/auth/token", data=form).status_code == 200
    typo = client.post(f"{API}/auth/token", data={**form, "pasword": "x"})
    _unknown_field_error(typo, "pasword")
    # Twilio sends what it likes (and reads it itself): no 422 for its many fields.
    twilio = {"Body": "hi", "From": "whatsapp:+13125550100", "NumMedia": "0", "ApiVersion": "x"}
    assert client.post(f"{API}/webhook/whatsapp", data=twilio).status_code != 422
    voice = client.post(f"{API}/webhook/voice/{uuid.uuid4()}/status", data={"CallStatus": "x"})
    assert voice.status_code != 422
    # Routes without a form body have none to check.
    assert declared_form_fields(_route(client, "POST", f"{API}/contractors")) is None
    assert declared_form_fields(_route(client, "POST", f"{API}/auth/token")) == {
        "grant_type",
        "username",
        "password",
        "scope",
        "client_id",
        "client_secret",
    }


def _route(client: TestClient, method: str, path: str) -> APIRoute:
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, APIRoute) and context.path_format == path:
            if method in (context.methods or ()):
                return route
    raise AssertionError(f"no route {method} {path}")


# --- 5. repeated query parameters ------------------------------------------------------------


def test_a_repeated_scalar_query_parameter_is_a_422_naming_it(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    twice = client.get(f"{API}/deals?limit=1&limit=2", headers=headers)
    assert twice.status_code == 422, twice.text
    [error] = twice.json()["detail"]
    assert error["loc"] == ["query", "limit"] and error["input"] == ["1", "2"]
    assert "'limit' was given 2 times" in error["msg"]
    assert client.get(f"{API}/deals?limit=1&offset=0", headers=headers).status_code == 200


def test_a_parameter_declared_as_a_list_may_repeat() -> None:
    app = FastAPI(dependencies=[Depends(reject_unknown_query)])

    @app.get(f"{API}/things")
    def things(tag: Annotated[list[str] | None, Query()] = None, limit: int = 5) -> dict[str, Any]:
        return {"tag": tag, "limit": limit}

    with TestClient(app) as test_client:
        ok = test_client.get(f"{API}/things?tag=a&tag=b&limit=2")
        assert ok.status_code == 200 and ok.json() == {"tag": ["a", "b"], "limit": 2}
        twice = test_client.get(f"{API}/things?tag=a&limit=2&limit=3")
        assert twice.status_code == 422 and twice.json()["detail"][0]["loc"] == ["query", "limit"]


# --- 2. Idempotency-Key: stored before the answer's end is sent -------------------------------


def _scope(key: str) -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": f"{API}/projects/p/expenses",
        "query_string": b"",
        "headers": [(b"idempotency-key", key.encode()), (b"content-type", b"application/json")],
        "client": ("203.0.113.9", 5000),
    }


def _receive(body: bytes) -> Receive:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _collector(into: list[Message]) -> Send:
    async def send(message: Message) -> None:
        into.append(message)

    return send


def _app(runs: list[int], *, fail_midway: bool = False) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        runs.append(1)
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id":', "more_body": True})
        if fail_midway:
            raise RuntimeError("the app failed half way through its answer")
        await send({"type": "http.response.body", "body": b'"e1"}', "more_body": False})

    return app


def test_a_retry_sent_the_moment_the_answer_arrives_is_replayed(redis: Redis) -> None:
    runs: list[int] = []
    middleware = IdempotencyMiddleware(_app(runs), prefix=API)
    body = b'{"amount": "10.00"}'
    retry: list[Message] = []

    async def client_send(message: Message) -> None:
        # The client sees the last byte of the answer and retries at once (a fast client).
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await middleware(_scope("qa10-fast"), _receive(body), _collector(retry))

    asyncio.run(middleware(_scope("qa10-fast"), _receive(body), client_send))
    assert runs == [1]
    assert retry[0]["status"] == 201, retry
    assert (b"idempotent-replayed", b"true") in retry[0]["headers"]
    assert b"".join(m.get("body", b"") for m in retry[1:]) == b'{"id":"e1"}'


def test_an_answer_the_app_did_not_finish_is_not_kept(redis: Redis) -> None:
    runs: list[int] = []
    body = b'{"amount": "10.00"}'
    broken = IdempotencyMiddleware(_app(runs, fail_midway=True), prefix=API)
    with pytest.raises(RuntimeError):
        asyncio.run(broken(_scope("qa10-half"), _receive(body), _collector([])))
    # The retry runs again (as after a 500), instead of replaying half an answer.
    sent: list[Message] = []
    whole = IdempotencyMiddleware(_app(runs), prefix=API)
    asyncio.run(whole(_scope("qa10-half"), _receive(body), _collector(sent)))
    assert runs == [1, 1]
    assert sent[0]["status"] == 201 and (b"idempotent-replayed", b"true") not in sent[0]["headers"]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b'{"id":"e1"}'
