"""QA 11 (F8b): with PostgreSQL stopped every route answered a text/plain 500 and a stack trace.

The database cannot be stopped under the shared test server, so each test gives the API a
session on a database that really is unreachable (a port nothing listens on), or one whose
server connection was really terminated (``pg_terminate_backend``), and checks the answer:
a JSON 503 with ``Retry-After``, logged once per request without a trace. Other database
errors are left as they were.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from core.outage import DATABASE_DETAIL, QUEUE_DETAIL, add_outage_handlers
from domain.auth.enums import Role
from store.db import get_session
from tests.factories import auth_headers, make_org, make_user


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def outage_client(db: Session) -> Iterator[tuple[TestClient, Session]]:
    """The real app, its sessions on a PostgreSQL that is not running; and a working ``db``."""
    from app import app

    down = create_engine(
        f"postgresql+psycopg://dealdesk@127.0.0.1:{_closed_port()}/dealdesk",
        poolclass=NullPool,
        connect_args={"connect_timeout": 2},
    )

    def _session() -> Iterator[Session]:
        with Session(down) as session:
            yield session

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, db
    app.dependency_overrides.clear()
    down.dispose()


def _outage_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "core.outage"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/properties"), ("GET", "/api/v1/deals"), ("POST", "/api/v1/auth/token")],
)
def test_every_route_answers_a_json_503_while_the_database_is_down(
    outage_client: tuple[TestClient, Session],
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
) -> None:
    client, db = outage_client
    user = make_user(db, make_org(db), Role.admin)
    caplog.set_level(logging.WARNING)
    if method == "POST":
        answer = client.post(path, data={"username": user.email, "password": "whatever-123"})
    else:
        answer = client.get(path, headers=auth_headers(db, user))

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"detail": DATABASE_DETAIL}
    assert int(answer.headers["retry-after"]) > 0
    (logged,) = _outage_records(caplog)
    assert logged.exc_info is None and "OperationalError" in logged.getMessage()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # no stack traces


def test_a_connection_the_server_dropped_mid_request_is_a_503_too(
    db: Session, engine: Engine
) -> None:
    from app import app

    headers = auth_headers(db, make_user(db, make_org(db), Role.admin))
    dropped = create_engine(engine.url, poolclass=NullPool)
    with Session(dropped) as victim:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.begin() as admin:  # as a server shutdown does to every backend
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})

        def _session() -> Iterator[Session]:
            yield victim

        app.dependency_overrides[get_session] = _session
        try:
            with TestClient(app, raise_server_exceptions=False) as fresh:
                answer = fresh.get("/api/v1/properties", headers=headers)
        finally:
            app.dependency_overrides.clear()
    dropped.dispose()

    assert answer.status_code == 503, answer.text
    assert answer.json() == {"detail": DATABASE_DETAIL}
    assert "retry-after" in answer.headers


def _tiny_app() -> FastAPI:
    """An app with only the outage handlers, for errors no real route can be made to raise."""
    tiny = FastAPI()
    add_outage_handlers(tiny)

    @tiny.get("/integrity")
    def integrity() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key value"))

    @tiny.get("/redis")
    def redis_down() -> None:
        Redis(unix_socket_path=f"/tmp/dd-no-redis-{uuid.uuid4().hex}.sock").ping()

    return tiny


def test_other_database_errors_are_not_turned_into_503() -> None:
    with TestClient(_tiny_app(), raise_server_exceptions=False) as client:
        answer = client.get("/integrity")
    assert answer.status_code == 500


def test_redis_down_on_a_route_that_needs_it_is_a_json_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    with TestClient(_tiny_app(), raise_server_exceptions=False) as client:
        answer = client.get("/redis")
    assert answer.status_code == 503
    assert answer.json() == {"detail": QUEUE_DETAIL}
    assert "retry-after" in answer.headers
    (logged,) = _outage_records(caplog)
    assert logged.exc_info is None
