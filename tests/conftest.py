"""Test harness: real embedded PostgreSQL and Redis in a fresh data directory per test session.

Each test gets a session inside a transaction that is rolled back (``db``); tests that need
real commits (the outbox relay, migrations) use ``committed_db``, which truncates afterwards.
Redis is flushed after every test. Nothing of ours is mocked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Settings must see the test environment before any application module reads them.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="dd-test-"))
os.environ["DEALDESK_DATA_DIR"] = str(_DATA_DIR)
os.environ["DEALDESK_ENV"] = "test"
for _var in (
    "DATABASE_URL",
    "REDIS_URL",
    "OPENAI_API_KEY",
    "LLM_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "S3_BUCKET",
):
    os.environ.pop(_var, None)

from fastapi.testclient import TestClient  # noqa: E402
from redis import Redis  # noqa: E402
from sqlalchemy import Connection, Engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from core.config import get_settings  # noqa: E402
from store import embedded, migrate  # noqa: E402
from store.db import get_engine, get_session  # noqa: E402
from store.redis_client import get_redis  # noqa: E402
from store.registry import REFERENCE_TABLES, SCHEMAS  # noqa: E402

get_settings.cache_clear()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The test session's data directory."""
    return _DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def _stack() -> Iterator[None]:
    """Start the embedded servers once, migrate to head, stop what we started at the end."""
    migrate.upgrade("head")
    yield
    get_engine().dispose()
    embedded.stop_all(force=True)
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@pytest.fixture
def engine() -> Engine:
    """The engine bound to the embedded test database."""
    return get_engine()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of the rolled-back outer transaction."""
    with Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


def truncate_all(engine: Engine) -> None:
    """Empty every dealdesk table (for tests that really commit)."""
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:schemas)"),
            {"schemas": SCHEMAS},
        ).all()
        names = ", ".join(f'"{s}"."{t}"' for s, t in rows if f"{s}.{t}" not in REFERENCE_TABLES)
        if names:
            conn.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture
def committed_db(engine: Engine) -> Iterator[Session]:
    """A plain session whose commits are real; all tables are truncated afterwards."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
    truncate_all(engine)


@pytest.fixture
def redis() -> Iterator[Redis]:
    """The embedded Redis, flushed after the test."""
    client = get_redis()
    yield client
    client.flushdb()


@pytest.fixture
def client(db: Session) -> Iterator[TestClient]:
    """An API client whose requests share the test's rolled-back session."""
    from app import app

    def _session() -> Iterator[Session]:
        yield db

    app.dependency_overrides[get_session] = _session
    get_redis().flushdb()  # rate-limit windows start empty for every test
    with TestClient(app) as test_client:
        yield test_client
    app.dependency_overrides.clear()
