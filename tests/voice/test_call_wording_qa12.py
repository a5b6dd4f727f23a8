"""Contractor call wording and the site visit's time (twelfth session's REST QA, F9.4).

A scope line with a quantity and no unit was read aloud as "furnace (1 None)", and "site
visit Monday at 10am" became ``appointment.scheduled`` with a date and no time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from agent.call_graph import scope_sentence
from cli.voice_commands import simulate_conversation
from domain.construction.models import ScopeItem
from domain.voice.extraction import CallFacts, ScopeLine, extract
from domain.voice.models import Call
from store.outbox import OutboxEvent
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)


def test_a_quantity_without_a_unit_is_never_read_as_none() -> None:
    roof = ScopeLine(id="r", component="roof", quantity="22", unit="squares")
    furnace = ScopeLine(id="f", component="furnace", quantity="1", unit=None)
    windows = ScopeLine(id="w", component="windows", quantity="12", unit=None)
    said = scope_sentence([roof, furnace, windows])
    assert "None" not in said
    assert said == "roof (22 squares), furnace and windows (12)"
    # With a unit nothing changes.
    each = ScopeLine(id="f", component="furnace", quantity="1", unit="each")
    assert scope_sentence([roof, each]) == "roof (22 squares) and furnace (1 each)"


def test_the_site_visit_keeps_the_clock_it_was_said_with() -> None:
    today = dt.date(2026, 11, 29)  # a Sunday
    answer = extract("Site visit Monday at 10am works", scope=[], today=today, expect="site_visit")
    assert answer.site_visit == dt.date(2026, 11, 30) and answer.site_visit_time == "10:00"
    facts = CallFacts().merge(answer)
    assert facts.site_visit_time == "10:00"
    assert CallFacts.from_json(facts.to_json()).site_visit_time == "10:00"
    # Another day said later drops the clock of the first; the same day keeps it.
    again = facts.merge(extract("Monday", scope=[], today=today, expect="site_visit"))
    assert again.site_visit_time == "10:00"
    moved = facts.merge(extract("make it Tuesday", scope=[], today=today, expect="site_visit"))
    assert moved.site_visit == "2026-12-01" and moved.site_visit_time is None


def _events(db: Session, name: str, call_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.name == name, OutboxEvent.payload["call_id"].astext == str(call_id)
        )
    ).all()
    return [row.payload for row in rows]


def test_a_scheduling_call_reads_a_unitless_line_and_keeps_the_visit_time(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # noon where the contractor is
    furnace = db.get(ScopeItem, world.furnace.id)
    assert furnace is not None
    furnace.unit = None  # scope {"component": "furnace", "quantity": 1}: no unit
    db.add(furnace)
    db.flush()
    response = world.initiate(client, purpose="scheduling")
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    conversation = simulate_conversation(
        poster(client),
        call_id=call_id,
        says=["Site visit Monday at 10am works for me", "I could start on the 10th", "yes"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert set(conversation.statuses) == {200}
    spoken = [text for speaker, text in conversation.lines if speaker == "agent"]
    assert not any("None" in text for text in spoken), spoken
    assert "schedule the work on roof (22 squares) and furnace." in spoken[0], spoken[0]

    zone = ZoneInfo(world.contractor.timezone)
    local_today = dt.datetime.now(zone).date()
    monday = local_today + dt.timedelta(days=(0 - local_today.weekday()) % 7 or 7)
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    facts = (call.outcome_data or {})["facts"]
    assert facts["site_visit"] == monday.isoformat() and facts["site_visit_time"] == "10:00"
    confirm = next(text for text in spoken if text.startswith("Let me confirm"))
    assert "a site visit on Monday" in confirm and "at 10 AM" in confirm, confirm

    visits = [a for a in _events(db, "appointment.scheduled", call_id) if a["kind"] == "site_visit"]
    assert len(visits) == 1, visits
    (visit,) = visits
    starts = dt.datetime.combine(monday, dt.time(10, 0), tzinfo=zone).astimezone(dt.UTC)
    assert visit["date"] == monday.isoformat()
    assert visit["time"] == "10:00" and visit["timezone"] == world.contractor.timezone
    assert visit["starts_at"] == starts.strftime("%Y-%m-%dT%H:%M:%SZ")
