"""One rule for who adds walkthrough or photo evidence of a property, on every path.

An investor adds photos, voice notes and texted walkthrough notes only of a property on no
deal or on a deal they own or are on (``audio_service.check_may_add_evidence``, the rule of
storing a valuation); admins and analysts any. It held on the two photo routes only: a
WhatsApp photo or voice note, a texted note (``walkthrough_notes``) and the walkthrough
service changed the rehab and max offer of another investor's deal.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis
from sqlmodel import Session, select

from domain.audio import service as audio_service
from domain.audio import synthetic
from domain.audio.models import Walkthrough
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.documents.models import Document
from domain.vision.models import PropertyAnalysis
from domain.whatsapp.models import Conversation, Message
from tests.factories import auth_headers, make_deal, make_org, make_user
from tests.tools.helpers import call_tool, context_for
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
from tools import TOOLS_BY_NAME

NOTES = "Walked it today. Roof is shot, furnace is original."


def _voice_note(db: Session, org: Organisation, property_id: uuid.UUID) -> uuid.UUID:
    note = audio_service.store_recording(
        session=db,
        org_id=org.id,
        data=synthetic.silence_wav(1.0),
        filename="note.wav",
        content_type="audio/wav",
        property_id=property_id,
    )
    db.flush()
    return note.id


# --- the walkthrough service and its REST route ------------------------------------------


def test_start_walkthrough_refuses_an_investor_on_another_investors_deal(db: Session) -> None:
    org = make_org(db)
    owner = make_user(db, org, role=Role.investor)
    other = make_user(db, org, role=Role.investor)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, owner=owner)
    note = _voice_note(db, org, deal.property_id)
    from domain.auth.service import Principal

    with pytest.raises(audio_service.EvidenceNotPermitted, match="deal you are not on"):
        audio_service.start_walkthrough(
            session=db,
            org_id=org.id,
            property_id=deal.property_id,
            document_id=note,
            actor=Principal.from_user(other),
        )
    assert not db.exec(select(Walkthrough).where(Walkthrough.property_id == deal.property_id)).all()
    for allowed in (owner, admin):
        done = audio_service.start_walkthrough(
            session=db,
            org_id=org.id,
            property_id=deal.property_id,
            document_id=note,
            actor=Principal.from_user(allowed),
        )
        assert done.uploaded_by == allowed.id


def test_rest_voice_note_is_403_for_an_investor_and_202_for_an_admin(
    client: TestClient, db: Session, redis: Redis
) -> None:
    org = make_org(db)
    owner = make_user(db, org, role=Role.investor)
    other = make_user(db, org, role=Role.investor)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, owner=owner)
    note = _voice_note(db, org, deal.property_id)
    url = "/api/v1/transcribe/walkthrough"
    form = {"property_id": str(deal.property_id), "document_id": str(note)}

    refused = client.post(url, headers=auth_headers(db, other), data=form)
    assert refused.status_code == 403, refused.text
    ok = client.post(url, headers=auth_headers(db, admin), data=form)
    assert ok.status_code == 202, ok.text


# --- texted walkthrough notes (the agent tool) -------------------------------------------


def _notes(db: Session, user: User, property_id: uuid.UUID) -> Any:
    ctx = context_for(db, user, channel="whatsapp")
    return call_tool(
        TOOLS_BY_NAME["walkthrough_notes"], ctx, property_id=str(property_id), notes=NOTES
    )


def test_walkthrough_notes_of_another_investors_deal_are_refused(db: Session) -> None:
    org = make_org(db)
    owner = make_user(db, org, role=Role.investor)
    other = make_user(db, org, role=Role.investor)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, owner=owner)

    refused = _notes(db, other, deal.property_id)
    assert "deal you are not on" in refused.get("error", ""), refused
    assert "nothing was stored" in refused["error"]
    assert not db.exec(select(Walkthrough).where(Walkthrough.property_id == deal.property_id)).all()
    for allowed in (owner, admin):
        result = _notes(db, allowed, deal.property_id)
        assert "error" not in result, result
        assert result["stored"] is True


# --- WhatsApp photos and voice notes -----------------------------------------------------


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _on_deal_of(db: Session, org_id: uuid.UUID, owner: User | None) -> uuid.UUID:
    """Open the sender's conversation on the property of a deal owned by ``owner``."""
    org = db.get(Organisation, org_id)
    assert org is not None
    deal = make_deal(db, org, owner=owner or make_user(db, org, role=Role.investor))
    db.commit()
    return uuid.UUID(str(deal.property_id))


def _send(
    db: Session,
    api: TestClient,
    redis: Redis,
    property_id: uuid.UUID,
    kind: str,  # noqa: F811
) -> list[str]:
    post(api, "help")
    work(redis)
    conversation = db.exec(select(Conversation)).one()
    conversation.property_id = property_id
    db.add(conversation)
    db.commit()
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM9/Media/ME9"
    if kind == "photo":
        content, content_type = _jpeg(), "image/jpeg"
    else:
        content, content_type = synthetic.silence_wav(1.0), "audio/wav"
    respx.get(media).mock(
        return_value=httpx.Response(200, content=content, headers={"content-type": content_type})
    )
    sid = _media_message(api, media, content_type)
    work(redis, "default", "vision", "transcribe")
    return [m.content or "" for m in replies(db, sid)]


def _media_document(db: Session) -> Document:
    db.expire_all()
    inbound = [m for m in db.exec(select(Message)).all() if m.media]
    assert len(inbound) == 1
    document = db.get(Document, uuid.UUID(inbound[0].media[0]["document_id"]))
    assert document is not None
    return document


@pytest.mark.parametrize("kind", ["photo", "voice note"])
def test_whatsapp_media_of_another_investors_deal_is_refused_with_the_reason(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
    kind: str,
) -> None:
    property_id = _on_deal_of(committed_db, investor, None)
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        texts = _send(committed_db, live, redis, property_id, kind)
    refusal = [t for t in texts if "deal you are not on" in t]
    assert refusal, texts
    assert "did not add it to that property" in refusal[0]
    # Nothing about the house was stored: no analysis, no walkthrough, no photo of it.
    where = PropertyAnalysis.property_id == property_id
    assert not committed_db.exec(select(PropertyAnalysis).where(where)).all()
    assert not committed_db.exec(
        select(Walkthrough).where(Walkthrough.property_id == property_id)
    ).all()
    assert _media_document(committed_db).entity_id is None


def test_the_deal_owners_whatsapp_photo_is_still_analysed(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    investor: uuid.UUID,  # noqa: F811
    twilio_on: None,  # noqa: F811
) -> None:
    sender = committed_db.exec(select(User).where(User.org_id == investor)).one()
    property_id = _on_deal_of(committed_db, investor, sender)
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        texts = _send(committed_db, live, redis, property_id, "photo")
    assert any("no vision model is configured" in t for t in texts), texts
    assert committed_db.exec(
        select(PropertyAnalysis).where(PropertyAnalysis.property_id == property_id)
    ).all()
    document = _media_document(committed_db)
    assert (document.entity_id, document.uploaded_by) == (property_id, sender.id)
