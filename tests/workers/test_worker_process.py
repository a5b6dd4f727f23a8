"""A separate `dealdesk worker` process attaches to the embedded Redis and delivers events."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from store import events
from store.events import Event
from store.outbox import Delivery, DeliveryStatus, publish
from tests.factories import make_org
from workers import events as relay

REPO = Path(__file__).resolve().parents[2]
EFFECTS = "public.test_worker_process_effects"


def record_effect(session: Session, event: Event) -> None:
    """A subscriber whose effect a test can count."""
    session.execute(
        text(f"INSERT INTO {EFFECTS} (event_id, pid) VALUES (:e, :p)"),
        {"e": event.id, "p": os.getpid()},
    )


@pytest.fixture
def effects(engine: Engine) -> Iterator[None]:
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {EFFECTS} (event_id uuid, pid int)"))
    yield
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {EFFECTS}"))


def test_worker_process_delivers_queued_event(
    committed_db: Session, engine: Engine, effects: None, redis: object
) -> None:
    org = make_org(committed_db)
    with events.isolated_registry():
        events.subscribe("deal.created", name="test.worker_process")(record_effect)
        event_id = publish(
            committed_db, org_id=org.id, name="deal.created", payload={"deal_id": "d-1"}
        )
        committed_db.commit()
        result = relay.relay_once()  # queues the delivery on `events`, runs nothing here
        assert result.busy

    worker = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--queues", "events", "--burst"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == 0, worker.stderr

    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT event_id, pid FROM {EFFECTS}")).all()
    assert [r.event_id for r in rows] == [event_id]
    assert rows[0].pid != os.getpid()  # the effect happened in the worker's process
    committed_db.expire_all()
    delivery = committed_db.exec(select(Delivery).where(Delivery.event_id == event_id)).one()
    assert delivery.status == DeliveryStatus.succeeded
