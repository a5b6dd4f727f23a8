"""JSON-line logs: one object per line, correlation ids from requests and jobs, access lines."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.observability import RequestContextMiddleware, correlation_id, job_context

log = logging.getLogger("tests.core.handlers")


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)

    @app.get("/logs-test/sync/{thing_id}")
    def sync_handler(thing_id: str) -> dict[str, str | None]:
        log.info("sync handler for %s", thing_id, extra={"caller": "+12025551234"})
        return {"seen": correlation_id.get()}

    @app.get("/logs-test/async")
    async def async_handler() -> dict[str, str | None]:
        log.warning("async handler", extra={"attempt": 2, "tags": ["a", "b"]})
        return {"seen": correlation_id.get()}

    @app.get("/logs-test/boom")
    def boom() -> None:
        raise RuntimeError("exploded with token=abc123secret")

    return app


def test_every_line_is_json_with_the_callers_request_id(json_logs: Any) -> None:
    with TestClient(_app()) as client:
        response = client.get("/logs-test/sync/42", headers={"X-Request-ID": "req-abc-123"})

    assert response.headers["X-Request-ID"] == "req-abc-123"
    assert response.json() == {"seen": "req-abc-123"}
    records = json_logs.records()
    handler_line = next(r for r in records if r["logger"] == "tests.core.handlers")
    access_line = next(r for r in records if r["logger"] == "dealdesk.access")
    assert handler_line["correlation_id"] == access_line["correlation_id"] == "req-abc-123"
    assert handler_line["message"] == "sync handler for 42"
    assert handler_line["level"] == "INFO"
    assert handler_line["caller"] == "+1******1234"
    assert access_line["method"] == "GET"
    assert access_line["path"] == "/logs-test/sync/42"
    assert access_line["status"] == 200
    assert access_line["duration_ms"] >= 0
    stamp = datetime.fromisoformat(handler_line["timestamp"])
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_correlation_id_header_is_accepted_and_async_handlers_see_it(json_logs: Any) -> None:
    with TestClient(_app()) as client:
        response = client.get("/logs-test/async", headers={"X-Correlation-ID": "corr.77:x"})

    assert response.headers["X-Request-ID"] == "corr.77:x"
    assert response.json() == {"seen": "corr.77:x"}
    handler_line = next(r for r in json_logs.records() if r["logger"] == "tests.core.handlers")
    assert handler_line["correlation_id"] == "corr.77:x"
    assert handler_line["attempt"] == 2
    assert handler_line["tags"] == ["a", "b"]


def test_missing_or_malformed_request_ids_are_replaced_with_a_fresh_one(json_logs: Any) -> None:
    with TestClient(_app()) as client:
        plain = client.get("/logs-test/async")
        forged = client.get("/logs-test/async", headers={"X-Request-ID": 'x" injected=1 ' * 5})
        too_long = client.get("/logs-test/async", headers={"X-Request-ID": "a" * 65})

    ids = [r.headers["X-Request-ID"] for r in (plain, forged, too_long)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == 3
    logged = {r["correlation_id"] for r in json_logs.records() if r["logger"] == "dealdesk.access"}
    assert logged == set(ids)
    assert "injected" not in json_logs.stream.getvalue()


def test_unhandled_errors_are_logged_with_the_request_id_and_masked(json_logs: Any) -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get("/logs-test/boom", headers={"X-Request-ID": "req-boom"})

    assert response.status_code == 500
    lines = [r for r in json_logs.records() if r["correlation_id"] == "req-boom"]
    access = next(r for r in lines if r.get("status") == 500)
    assert access["level"] == "ERROR"
    error = next(r for r in lines if "exception" in r)
    assert "RuntimeError: exploded with token=***" in error["exception"]
    assert "abc123secret" not in json_logs.stream.getvalue()


def test_probe_requests_are_logged_at_debug_only(json_logs: Any) -> None:
    from core.ops import router

    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)
    app.include_router(router)
    with TestClient(app) as client:
        client.get("/health")

    access = [r for r in json_logs.records() if r["logger"] == "dealdesk.access"]
    assert [(r["path"], r["level"]) for r in access] == [("/health", "DEBUG")]


def test_job_context_sets_and_restores_the_correlation_id(json_logs: Any) -> None:
    with job_context("job-7f3a") as current:
        log.info("working")
        assert current == "job-7f3a"
    with job_context("job-2", correlation="req-from-api"):
        log.info("working on behalf of a request")
    log.info("between jobs")

    lines = [r for r in json_logs.records() if r["logger"] == "tests.core.handlers"]
    assert [r["correlation_id"] for r in lines] == ["job-7f3a", "req-from-api", None]
    assert correlation_id.get() is None


def test_access_lines_mask_tokens_and_numbers_in_the_query(json_logs: Any) -> None:
    with TestClient(_app()) as client:
        client.get("/logs-test/async?token=supersecret123&to=whatsapp:%2B12025551234&page=2")

    access = next(r for r in json_logs.records() if r["logger"] == "dealdesk.access")
    assert access["query"] == "token=***&to=whatsapp:%2B1******1234&page=2"
    assert "supersecret123" not in json_logs.stream.getvalue()
