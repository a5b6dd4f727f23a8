"""A photo whose link is not Twilio's is refused at once, never acknowledged as in work."""

from __future__ import annotations

import uuid

import respx
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, select

from domain.whatsapp.models import Message
from tests.workers.test_whatsapp_jobs import (  # noqa: F401 (fixtures)
    MESSAGES_API,
    _media_message,
    accepted,
    investor,
    live,
    replies,
    twilio_on,
    work,
)


def test_a_refused_media_link_gets_no_working_on_it_promise(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(MESSAGES_API).mock(side_effect=accepted)
        evil = mock.get(url__regex=r".*")
        sid = _media_message(live, "https://evil.example.com/p.jpg", "image/jpeg")
        work(redis)
        assert not evil.called
    texts = [m.content or "" for m in replies(committed_db, sid)]
    assert not any("working on it" in t for t in texts), texts
    assert len(texts) == 1 and texts[0].startswith("I did not open the photo"), texts
    committed_db.expire_all()
    inbound = committed_db.exec(select(Message).where(Message.message_sid == sid)).one()
    assert inbound.media[0]["refused"] is True
