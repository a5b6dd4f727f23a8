"""Two saves of the same feed or alert criteria at once: both answered, one row, never a 500.

The first save runs on its own session and has inserted the row but not committed; the
second (a real request, on the app's own sessions) looks, finds nothing, inserts, and waits on
the first's unique key. When the first commits, the second used to fail on the unique
constraint (a 500); now it reuses the feed (a second scan of it) or replaces the criteria.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.enums import FeedKind
from domain.market.models import AlertCriteria, AlertCriteriaIn, MonitorFeed, MonitorScan
from tests.factories import auth_headers, make_org, make_user, principal_for

API = "/api/v1"
WAIT_S = 10


@pytest.fixture
def live_client(committed_db: Session, redis: Redis) -> Iterator[TestClient]:
    """An API client whose requests use the app's own sessions and commit for real."""
    from app import app

    redis.flushdb()
    with TestClient(app) as client:
        yield client


def _wait_for_lock_waiter(engine: Engine) -> bool:
    """True once another session of this database waits on a lock (the second insert)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        if waiting:
            return True
        time.sleep(0.05)
    return False


def _post_in_thread(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def post() -> None:
        try:
            out["response"] = client.post(path, json=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - the old code's 500, raised by TestClient
            out["error"] = exc

    thread = threading.Thread(target=post, name="second-request")
    thread.start()
    return thread, out


def test_two_starts_of_one_new_feed_at_once_share_the_feed(
    live_client: TestClient, committed_db: Session, engine: Engine
) -> None:
    org = make_org(committed_db, "Race feeds")
    admin = make_user(committed_db, org, role=Role.admin)
    headers = auth_headers(committed_db, admin)
    committed_db.commit()

    with Session(engine, expire_on_commit=False) as first:
        feed, _scan = market_service.start_monitor(
            session=first,
            org_id=org.id,
            spec=market_service.FeedSpec(kind=FeedKind.demo, name="first"),
            principal=principal_for(admin),
        )
        thread, out = _post_in_thread(
            live_client,
            f"{API}/monitor/start",
            {"feed": "demo", "name": "second", "every_minutes": 60},
            headers,
        )
        assert _wait_for_lock_waiter(engine), "the second request never reached the insert"
        first.commit()
    thread.join(WAIT_S)

    assert "error" not in out, out.get("error")
    response = out["response"]
    assert response.status_code == 202, response.text
    assert response.json()["feed_id"] == str(feed.id)
    assert response.json()["every_minutes"] == 60
    committed_db.expire_all()
    feeds = committed_db.exec(select(MonitorFeed).where(MonitorFeed.org_id == org.id)).all()
    assert [(f.id, f.name, f.every_minutes) for f in feeds] == [(feed.id, "second", 60)]
    scans = committed_db.exec(select(MonitorScan).where(MonitorScan.org_id == org.id)).all()
    assert len(scans) == 2 and {s.feed_id for s in scans} == {feed.id}


def test_two_saves_of_new_alert_criteria_at_once_keep_one_set_the_last_saved(
    live_client: TestClient, committed_db: Session, engine: Engine
) -> None:
    org = make_org(committed_db, "Race criteria")
    investor = make_user(committed_db, org, role=Role.investor)
    headers = auth_headers(committed_db, investor)
    committed_db.commit()

    with Session(engine, expire_on_commit=False) as first:
        saved = alert_service.configure_alerts(
            session=first,
            org_id=org.id,
            principal=principal_for(investor),
            criteria_in=AlertCriteriaIn(zip_codes=["50010"], timezone="America/Chicago"),
        )
        thread, out = _post_in_thread(
            live_client, f"{API}/alerts/configure", {"zip_codes": ["50014"]}, headers
        )
        assert _wait_for_lock_waiter(engine), "the second request never reached the insert"
        first.commit()
    thread.join(WAIT_S)

    assert "error" not in out, out.get("error")
    response = out["response"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(saved.id)
    # The second save replaced the first, as one after it would: its ZIPs, and the saved
    # time zone kept because it named none.
    assert (body["zip_codes"], body["timezone"]) == (["50014"], "America/Chicago")
    committed_db.expire_all()
    rows = committed_db.exec(select(AlertCriteria).where(col(AlertCriteria.org_id) == org.id)).all()
    assert [(c.id, c.zip_codes) for c in rows] == [(saved.id, ["50014"])]
