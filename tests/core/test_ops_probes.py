"""/health and /ready against the real embedded PostgreSQL and Redis, healthy and broken."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text

from core.ops import READY_DEADLINE_S, reset_probes
from store import migrate


def test_health_is_ok_without_touching_dependencies(
    client: TestClient, point_settings: Callable[[str, str], None], closed_redis_url: str
) -> None:
    point_settings("REDIS_URL", closed_redis_url)
    point_settings("DATABASE_URL", "postgresql+psycopg://postgres@/postgres?host=/nonexistent")

    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_redis_and_migrations_are_good(client: TestClient) -> None:
    from workers.main import build_worker

    worker = build_worker()  # a live worker on every queue (registered from this process)
    worker.register_birth()
    try:
        response = client.get("/ready")
    finally:
        worker.register_death()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "migrations": True,
        "workers": True,
    }


@pytest.fixture
def empty_database_url(engine: Engine) -> Iterator[str]:
    """A freshly created, never-migrated database on the embedded server; dropped afterwards."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS ready_probe"))
        conn.execute(text("CREATE DATABASE ready_probe"))
    url = make_url(str(engine.url)).set(database="ready_probe")
    yield url.render_as_string(hide_password=False)
    reset_probes()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS ready_probe WITH (FORCE)"))


def test_ready_is_503_with_a_reason_when_migrations_are_behind(
    client: TestClient, point_settings: Callable[[str, str], None], empty_database_url: str
) -> None:
    point_settings("DATABASE_URL", empty_database_url)

    response = client.get("/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is True
    assert checks["migrations"]["ok"] is False
    head = migrate.head_revision()
    assert checks["migrations"]["reason"] == (
        f"database at None, code at {head} — run `dealdesk migrate`"
    )


def test_ready_is_503_fast_when_redis_is_unreachable(
    client: TestClient, point_settings: Callable[[str, str], None], closed_redis_url: str
) -> None:
    point_settings("REDIS_URL", closed_redis_url)

    started = time.monotonic()
    response = client.get("/ready")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False
    assert checks["redis"]["status"] == "failing"
    assert "ConnectionError" in checks["redis"]["reason"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["ok"] is True
    assert elapsed < READY_DEADLINE_S


def test_ready_is_503_when_the_database_is_unreachable(
    client: TestClient,
    point_settings: Callable[[str, str], None],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    nowhere = tmp_path_factory.mktemp("no-postgres")
    point_settings("DATABASE_URL", f"postgresql+psycopg://postgres@/postgres?host={nowhere}")

    response = client.get("/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is False
    assert "OperationalError" in checks["database"]["reason"]
    assert checks["migrations"] == {
        "ok": False,
        "reason": "not checked: database unreachable",
        "status": "failing",
    }
    assert checks["redis"]["ok"] is True


def test_ops_endpoints_are_not_under_the_api_prefix(client: TestClient) -> None:
    assert client.get("/api/v1/health").status_code == 404
    assert client.get("/api/v1/metrics").status_code == 404
