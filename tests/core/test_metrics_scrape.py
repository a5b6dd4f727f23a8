"""/metrics: HTTP series by route template, real RQ queue depth, outbox lag, business counters."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import text
from sqlmodel import Session

from core.metrics import business_counter
from core.observability import RequestContextMiddleware
from core.ops import router as ops_router
from workers.queues import QUEUE_NAMES, enqueue, get_queue


def _isolated_app() -> FastAPI:
    """An app with the real middleware and ops router, and routes with path parameters."""
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)
    app.include_router(ops_router)
    users = APIRouter()

    @users.get("/metrics-test/users/{user_id}")
    def get_user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    app.include_router(users, prefix="/api/v1")
    sub = FastAPI()

    @sub.get("/items/{item_id}")
    def get_item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    app.mount("/metrics-test-sub", sub)
    return app


def test_requests_are_counted_under_their_route_template(
    scrape: Callable[[Any], Any],
) -> None:
    with TestClient(_isolated_app()) as client:
        before = scrape(client)
        for user_id in (1, 2, 3):
            assert client.get(f"/api/v1/metrics-test/users/{user_id}").status_code == 200
        assert client.get("/api/v1/metrics-test/users/not-a-number").status_code == 422
        assert client.post("/api/v1/metrics-test/users/4").status_code == 405
        assert client.get("/metrics-test-sub/items/abc").status_code == 200
        assert client.get("/no/such/path/12345").status_code == 404
        after = scrape(client)

    template = "/api/v1/metrics-test/users/{user_id}"

    def delta(**labels: str) -> float:
        return (after.value("http_requests_total", **labels) or 0.0) - (
            before.value("http_requests_total", **labels) or 0.0
        )

    assert delta(method="GET", route=template, status="200") == 3
    assert delta(method="GET", route=template, status="422") == 1
    assert delta(method="POST", route=template, status="405") == 1
    assert delta(method="GET", route="/metrics-test-sub/items/{item_id}", status="200") == 1
    assert delta(method="GET", route="unmatched", status="404") == 1
    routes = {labels["route"] for labels in after.label_sets("http_requests_total")}
    # Raw paths never become label values: cardinality stays bounded by the route table.
    assert not any(re.search(r"/users/\d|/items/abc|12345", route) for route in routes)
    duration_count = after.value(
        "http_request_duration_seconds_count", method="GET", route=template
    )
    assert duration_count is not None and duration_count >= 3


def test_real_app_counts_its_own_endpoints(
    client: TestClient, scrape: Callable[[Any], Any]
) -> None:
    before = (
        scrape(client).value("http_requests_total", method="GET", route="/health", status="200")
        or 0.0
    )
    client.get("/health")
    client.get("/health")
    after = scrape(client).value("http_requests_total", method="GET", route="/health", status="200")
    assert after == before + 2


def test_queue_depth_is_the_real_number_of_waiting_jobs(
    client: TestClient, redis: Redis, scrape: Callable[[Any], Any]
) -> None:
    for n in range(3):
        enqueue(json.dumps, [n], queue="reports")
    enqueue(json.dumps, ["x"], queue="events")

    exposition = scrape(client)

    assert exposition.value("rq_queue_depth", queue="reports") == 3
    assert exposition.value("rq_queue_depth", queue="events") == 1
    assert exposition.value("rq_queue_depth", queue="default") == 0
    assert {s["queue"] for s in exposition.label_sets("rq_queue_depth")} == set(QUEUE_NAMES)


def test_failed_jobs_are_reported_per_queue(
    client: TestClient, redis: Redis, scrape: Callable[[Any], Any]
) -> None:
    queue = get_queue("vision")
    queue.enqueue("math.sqrt", -1)  # ValueError: math domain error, no retries
    queue.enqueue("math.sqrt", 4)
    worker = SimpleWorker([queue], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)

    exposition = scrape(client)

    assert exposition.value("rq_failed_jobs", queue="vision") == 1
    assert exposition.value("rq_failed_jobs", queue="reports") == 0
    assert exposition.value("rq_queue_depth", queue="vision") == 0


def test_scrape_succeeds_without_queue_metrics_when_redis_is_down(
    client: TestClient,
    scrape: Callable[[Any], Any],
    point_settings: Callable[[str, str], None],
    closed_redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client.get("/health")
    point_settings("REDIS_URL", closed_redis_url)

    exposition = scrape(client)

    assert exposition.label_sets("rq_queue_depth") == []
    assert exposition.label_sets("rq_failed_jobs") == []
    assert exposition.value("http_requests_total", method="GET", route="/health", status="200")
    assert any("rq metrics skipped" in r.getMessage() for r in caplog.records)


def test_scrape_succeeds_without_outbox_lag_when_the_database_is_down(
    client: TestClient,
    scrape: Callable[[Any], Any],
    point_settings: Callable[[str, str], None],
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = tmp_path_factory.mktemp("no-postgres")
    point_settings("DATABASE_URL", f"postgresql+psycopg://postgres@/postgres?host={nowhere}")

    exposition = scrape(client)

    assert exposition.value("outbox_lag_seconds") is None
    assert exposition.label_sets("rq_queue_depth") != []
    assert any("outbox metrics skipped" in r.getMessage() for r in caplog.records)


def test_outbox_lag_is_the_age_of_the_oldest_undelivered_event(
    client: TestClient, committed_db: Session, scrape: Callable[[Any], Any]
) -> None:
    from store import outbox

    assert scrape(client).value("outbox_lag_seconds") == 0

    event_id = outbox.publish(committed_db, org_id=None, name="property.created", payload={})
    committed_db.commit()
    committed_db.execute(
        text("UPDATE events.outbox SET created_at = now() - :age WHERE id = :id"),
        {"age": timedelta(minutes=5), "id": event_id},
    )
    committed_db.commit()

    lag = scrape(client).value("outbox_lag_seconds")
    assert lag is not None and 300 <= lag < 330


def test_business_counters_show_up_and_are_declared_once(
    client: TestClient, scrape: Callable[[Any], Any]
) -> None:
    counter = business_counter("metrics_test_widgets_created_total", "Widgets created (test).")
    assert business_counter("metrics_test_widgets_created_total", "again") is counter
    before = scrape(client).value("metrics_test_widgets_created_total") or 0.0

    counter.inc()
    counter.inc(2)

    assert scrape(client).value("metrics_test_widgets_created_total") == before + 3
    with pytest.raises(ValueError, match="already declared"):
        business_counter("metrics_test_widgets_created_total", "x", labelnames=["kind"])
    with pytest.raises(ValueError, match="must end with _total"):
        business_counter("metrics_test_widgets", "x")
