"""WhatsApp media whose analysis step fails: the investor is told what failed, once it is final.

A voice note or photo arrives through the signed webhook, is fetched (Twilio mocked with respx)
and stored, and its step runs on the transcribe or vision queue. While RQ has retries left a
failing step only re-raises (no message); the last attempt (run directly, outside RQ, as in
``test_whatsapp_jobs``) replies with what failed. A recording that can never be transcribed
(silence) fails at once with the reason.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, select

from domain.audio import synthetic
from domain.documents import service as documents_service
from domain.whatsapp.models import Conversation, Message
from tests.factories import make_property
from tests.workers.test_whatsapp_jobs import (  # noqa: F401 (fixtures)
    ACCOUNT,
    MESSAGES_API,
    _media_message,
    accepted,
    investor,
    live,
    post,
    replies,
    twilio_on,
    work,
)
from workers import whatsapp as jobs
from workers.main import build_worker
from workers.queues import get_queue

ACK = "Got your file; working on it now."


def _linked_conversation(db: Session, live: TestClient, org_id: uuid.UUID) -> None:  # noqa: F811
    """Open the investor's conversation and link it to a property (as after an address)."""
    from domain.auth.models import Organisation

    org = db.get(Organisation, org_id)
    assert org is not None
    prop = make_property(db, org, square_feet=1200)
    db.commit()
    post(live, "help")
    conversation = db.exec(select(Conversation)).one()
    conversation.property_id = prop.id
    db.add(conversation)
    db.commit()


def _storage_down(**_: Any) -> bytes:
    raise ConnectionError("object storage timed out")


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _inbound_id(db: Session, sid: str) -> str:
    db.expire_all()
    return str(db.exec(select(Message).where(Message.message_sid == sid)).one().id)


def _texts(db: Session, sid: str) -> list[str]:
    return [m.content or "" for m in replies(db, sid)]


def test_a_voice_note_that_keeps_failing_tells_the_investor_when_retries_are_spent(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM7/Media/ME7"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        _linked_conversation(committed_db, live, investor)
        work(redis)
        respx.get(media).mock(
            return_value=httpx.Response(
                200, content=synthetic.silence_wav(1.0), headers={"content-type": "audio/wav"}
            )
        )
        sid = _media_message(live, media, "audio/wav")
        work(redis)  # stores the voice note, enqueues its transcription
        assert len(get_queue("transcribe")) == 1
        with monkeypatch.context() as patch:
            patch.setattr(documents_service, "read_document_bytes", _storage_down)
            build_worker(["transcribe"]).work(burst=True)  # fails; RQ schedules a retry
            # Nothing more than the acknowledgement is said while the step will be retried.
            assert _texts(committed_db, sid) == [ACK]
            # The last attempt (no retries left) gives up and says what failed.
            assert jobs.transcribe_voice_note(_inbound_id(committed_db, sid), 0) == "answered"
    ack, text = _texts(committed_db, sid)
    assert ack == ACK
    assert text == (
        "Sorry, I could not transcribe your voice note (object storage timed out). "
        "Your message is saved; please send it again in a few minutes."
    )


def test_a_voice_note_that_cannot_be_transcribed_gets_the_reason_at_once(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
) -> None:
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM8/Media/ME8"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        _linked_conversation(committed_db, live, investor)
        work(redis)
        respx.get(media).mock(
            return_value=httpx.Response(
                200, content=synthetic.silence_wav(6.0), headers={"content-type": "audio/wav"}
            )
        )
        sid = _media_message(live, media, "audio/wav")
        work(redis)
        build_worker(["transcribe"]).work(burst=True)
    ack, text = _texts(committed_db, sid)
    assert ack == ACK
    assert text.startswith("I couldn't transcribe your voice note: No speech was heard"), text


def test_a_photo_whose_analysis_keeps_failing_tells_the_investor_when_retries_are_spent(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM9/Media/ME9"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        _linked_conversation(committed_db, live, investor)
        work(redis)
        respx.get(media).mock(
            return_value=httpx.Response(
                200, content=_jpeg(), headers={"content-type": "image/jpeg"}
            )
        )
        sid = _media_message(live, media, "image/jpeg")
        work(redis)
        assert len(get_queue("vision")) == 1
        with monkeypatch.context() as patch:
            patch.setattr(documents_service, "read_document_bytes", _storage_down)
            work(redis, "vision")  # fails; RQ schedules a retry
            assert _texts(committed_db, sid) == [ACK]
            assert jobs.analyse_photo(_inbound_id(committed_db, sid), 0) == "answered"
    ack, text = _texts(committed_db, sid)
    assert ack == ACK
    assert text == (
        "Sorry, I could not analyse your photo (object storage timed out). "
        "Your message is saved; please send it again in a few minutes."
    )
