"""A call's recording end to end: Twilio's callback, the fetch, the document, real Whisper.

Only Twilio's HTTP is mocked (respx). The recording is real speech: the contractor's side of
the call spoken by espeak-ng (Debian package ``espeak-ng``) as a WAV, which Twilio would serve
at ``<RecordingUrl>.wav``; it is transcribed by the shipped Whisper base weights (int8, CPU)
in the ``transcribe`` job, run in-process with ``SimpleWorker`` and the JSON serializer
against the embedded PostgreSQL and Redis, as in tests/workers/test_audio_jobs.py.

The worked call: Ray's Roofing prices the roof at $11,500 live and confirms it, declines the
furnace, and twice says when they can start, but Twilio's speech results catch neither date
("I can start on", "uh let me check"), so the bid has no start date. Whisper hears the
recording say "I can start on March third" (the start date the bid gets: the next March 3
after the call date) and "the roof for twelve thousand dollars": the confirmed $11,500 stands
and the team gets an action item to listen.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlmodel import Session, col, select

from cli.voice_commands import simulate_conversation
from domain.audio import synthetic
from domain.auth.models import AuditLog
from domain.construction import service as construction_service
from domain.documents import service as documents_service
from domain.voice import service
from domain.voice.enums import CallPurpose
from domain.voice.models import Call
from store.outbox import OutboxEvent
from tests.factories import override_settings
from tests.voice.helpers import (
    PUBLIC,
    TOKEN,
    WEBHOOK,
    World,
    call_params,
    new_call_sid,
    post_signed,
    poster,
    voice_settings,
)
from workers import voice as voice_jobs
from workers.queues import get_queue

ACCOUNT = "AC" + "7" * 32
LIVE_SAYS = [
    "I can do the roof for eleven thousand five hundred",
    "no, I don't do furnaces",
    "nothing",
    "I can start on",  # Twilio's speech result lost the date ...
    "uh let me check",  # ... twice: the agent gives up on the start date
]
# What the inbound track (the contractor's voice) holds, as Whisper should hear it.
RECORDED = (
    "I can do the roof for twelve thousand dollars. No, I don't do furnaces. Nothing. "
    "I can start on March third. I can start on March third."
)


def _require_espeak() -> None:
    if synthetic.espeak_available():
        return
    if os.environ.get("CI"):
        pytest.fail("espeak-ng is required in CI (Debian package espeak-ng)")
    pytest.skip("espeak-ng is not installed (Debian package: espeak-ng)")


@pytest.fixture(scope="module")
def recording_wav() -> bytes:
    """The contractor's side of the call spoken by espeak-ng (about 10 s of WAV)."""
    _require_espeak()
    return synthetic.speak(RECORDED)


@pytest.fixture
def live_client(committed_db: Session, redis: Redis) -> Iterator[TestClient]:
    """An API client whose requests commit for real (jobs read what the request wrote)."""
    from app import app

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    voice_settings(monkeypatch, voice_record_calls=True)
    override_settings(monkeypatch, twilio_account_sid=ACCOUNT)  # credentials for the fetch


def recording_url(sid: str) -> str:
    """Where Twilio says a recording is (no extension: the job asks for ``.wav``)."""
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}"


def recording_callback(
    client: TestClient, call_id: uuid.UUID, call_sid: str, sid: str, url: str
) -> Any:
    """Twilio's signed recording status callback for a completed recording."""
    params = call_params(
        call_sid,
        AccountSid=ACCOUNT,
        RecordingSid=sid,
        RecordingUrl=url,
        RecordingStatus="completed",
        RecordingDuration="11",
        RecordingChannels="1",
        RecordingSource="OutboundAPI",
    )
    return post_signed(client, f"{PUBLIC}{WEBHOOK}/{call_id}/recording", params)


def work(redis: Redis, queue: str) -> dict[str, str]:
    """Work one queue in this process until it is empty; job function → RQ status."""
    rq_queue = get_queue(queue)
    job_ids = list(rq_queue.job_ids)
    SimpleWorker([rq_queue], connection=redis, serializer=JSONSerializer).work(burst=True)
    jobs = [Job.fetch(i, connection=redis, serializer=JSONSerializer) for i in job_ids]
    return {str(job.func_name): job.get_status().value for job in jobs}


def finished_call(client: TestClient, db: Session, world: World) -> tuple[uuid.UUID, str]:
    """Place (in the outbox) and play the worked call; returns its id and CallSid."""
    request = service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        ignore_hours=True,
    )
    assert request.call is not None
    db.commit()
    call_sid = new_call_sid()
    conversation = simulate_conversation(
        poster(client),
        call_id=request.call.id,
        says=LIVE_SAYS,
        token=TOKEN,
        public_base_url=PUBLIC,
        call_sid=call_sid,
    )
    assert set(conversation.statuses) == {200} and conversation.hung_up
    return request.call.id, call_sid


def fresh_call(db: Session, call_id: uuid.UUID) -> Call:
    db.expire_all()
    call = db.get(Call, call_id)
    assert call is not None
    return call


def next_march_3(timezone: str) -> dt.date:
    """The next March 3 after today on the contractor's calendar."""
    today = dt.datetime.now(ZoneInfo(timezone)).date()
    this_year = dt.date(today.year, 3, 3)
    return this_year if this_year > today else dt.date(today.year + 1, 3, 3)


def test_a_recording_is_fetched_stored_transcribed_and_fills_what_the_call_missed(
    live_client: TestClient, committed_db: Session, redis: Redis, recording_wav: bytes
) -> None:
    world = World(committed_db)
    committed_db.commit()
    call_id, call_sid = finished_call(live_client, committed_db, world)
    (bid,) = construction_service.list_bids(
        session=committed_db, org_id=world.org.id, project_id=world.project.id
    )
    assert (bid.total_amount, bid.start_date) == (Decimal("11500.00"), None)

    sid = "RE" + uuid.uuid4().hex
    url = recording_url(sid)
    with respx.mock(assert_all_called=False) as twilio:
        media = twilio.get(f"{url}.wav").mock(
            return_value=httpx.Response(
                200, content=recording_wav, headers={"Content-Type": "audio/x-wav"}
            )
        )
        anything_else = twilio.route().mock(return_value=httpx.Response(404))
        first = recording_callback(live_client, call_id, call_sid, sid, url)
        replay = recording_callback(live_client, call_id, call_sid, sid, url)
        assert (first.status_code, replay.status_code) == (200, 200)
        # The replayed callback enqueued nothing: one job stores the recording.
        assert work(redis, "default") == {"workers.voice.store_recording": "finished"}
        assert work(redis, "transcribe") == {"workers.voice.transcribe_recording": "finished"}
        # Jobs run again (RQ retries, a second worker) fetch and transcribe nothing.
        assert voice_jobs.store_recording(str(call_id))["status"] == "already stored"
        again = voice_jobs.transcribe_recording(str(call_id))
        assert again["status"] == "already transcribed" and again["words"] is None
        assert recording_callback(live_client, call_id, call_sid, sid, url).status_code == 200
        assert len(get_queue("default")) == 0
    assert media.call_count == 1 and not anything_else.called
    # Our account's credentials went to Twilio's API host, and only there.
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert media.calls.last.request.headers["Authorization"] == expected_auth

    call = fresh_call(committed_db, call_id)
    assert call.recording_document_id is not None
    document = documents_service.get_document(
        session=committed_db, org_id=world.org.id, document_id=call.recording_document_id
    )
    assert document is not None
    assert (document.content_type, document.size_bytes, document.source) == (
        "audio/wav",
        len(recording_wav),
        "voice_call",
    )
    assert (document.entity_type, document.entity_id) == ("call", call_id)

    transcript = call.outcome_data["recording_transcript"]
    assert transcript["sid"] == sid and transcript["model"] == "whisper base int8"
    heard = transcript["text"].lower()
    assert "march 3rd" in heard and "roof" in heard and "12,000" in heard, heard

    # The bid: the start date only the recording had; the roof price the contractor confirmed.
    start = next_march_3(world.contractor.timezone)
    committed_db.refresh(bid)
    assert (bid.total_amount, bid.start_date, bid.duration_days) == (
        Decimal("11500.00"),
        start,
        None,
    )
    assert [(line["scope_item_id"], line["amount"]) for line in bid.line_items] == [
        (str(world.roof.id), "11500.00")
    ]
    roof = f"line:{world.roof.id}"
    assert call.outcome_data["fact_sources"] == {
        roof: "speech",
        "exclusions": "speech",
        "start_date": "recording",
    }
    merge = call.outcome_data["recording_merge"]
    assert merge["added"] == ["start_date"] and merge["bid_updated"] is True
    assert merge["disagreements"] == [{"fact": roof, "speech": "11500.00", "recording": "12000.00"}]
    (check,) = [i for i in call.outcome_data["action_items"] if i["kind"] == "check_recording"]
    assert check["text"].startswith(
        "The recording has the roof price as $12,000 but Ray's Roofing confirmed $11,500 on the "
        "call"
    )
    # The update is audited with its reason; the events tell the team and the calendar.
    audit = committed_db.exec(
        select(AuditLog).where(AuditLog.entity == "bid", AuditLog.action == "update")
    ).one()
    assert audit.entity_id == str(bid.id)
    assert audit.changes["start_date"] == {"from": None, "to": start.isoformat()}
    assert audit.changes["reason"] == f"heard in the recording of call {call_id}: start_date"
    events = committed_db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == world.org.id)
        .order_by(col(OutboxEvent.created_at))
    ).all()
    appointments = [e.payload for e in events if e.name == "appointment.scheduled"]
    assert [(p["date"], p["source"]) for p in appointments] == [(start.isoformat(), "recording")]
    assert [e.payload["items"][0]["kind"] for e in events if e.name == "action.items.created"][
        -1
    ] == "check_recording"

    body = live_client.get(f"/api/v1/calls/{call_id}/transcript", headers=world.headers()).json()
    assert body["fact_sources"]["start_date"] == "recording"
    assert body["facts"]["start_date"] == start.isoformat()
    assert body["recording_transcript"] == transcript["text"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",  # not https
        "https://api.twilio.com.evil.example.com/Recordings/RE1",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_recording_url_off_twilio_is_refused_and_never_fetched(
    client: TestClient, db: Session, redis: Redis, url: str
) -> None:
    world = World(db)
    call_id, call_sid = finished_call(client, db, world)
    with respx.mock(assert_all_called=False) as mock:
        anything = mock.route().mock(return_value=httpx.Response(200, content=b"RIFF"))
        response = recording_callback(client, call_id, call_sid, "RE" + uuid.uuid4().hex, url)
        assert response.status_code == 400, response.text
        assert "RecordingUrl refused" in response.json()["detail"]
        assert len(get_queue("default")) == 0
    assert not anything.called
    call = fresh_call(db, call_id)
    assert "recording" not in call.outcome_data and call.recording_document_id is None


def test_the_job_refuses_a_stored_url_off_twilio_without_a_request(
    committed_db: Session, redis: Redis
) -> None:
    world = World(committed_db)
    request = service.request_call(
        session=committed_db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        ignore_hours=True,
    )
    assert request.call is not None
    # A row written before the webhook checked URLs (or by hand).
    service.note_recording(
        session=committed_db,
        call=request.call,
        recording_sid="RE1",
        url="https://evil.example.com/recording",
        duration_s=5,
    )
    committed_db.commit()
    with respx.mock(assert_all_called=False) as mock:
        anything = mock.route().mock(return_value=httpx.Response(200, content=b"RIFF"))
        result = voice_jobs.store_recording(str(request.call.id))
    assert not anything.called
    assert result["status"] == "refused"
    call = fresh_call(committed_db, request.call.id)
    assert call.outcome_data["recording"]["error"].startswith("not fetched: media URL is not on")
    assert call.recording_document_id is None
    assert len(get_queue("transcribe")) == 0
