"""A contractor's WhatsApp photo or voice note: progress on their project, never an investor's.

Through the signed webhook, with Twilio's media host and REST API mocked (respx) and the jobs
run in-process, as in ``test_whatsapp_jobs``. Ray's Roofing bid on the Kercheval rehab (and,
in one test, on Mack Ave too); his account has his number. Before: his photo went to the
vision queue and was answered "text me its address" (no project photo, nothing for the team)
while the caption went through the agent on its own; his voice note was taken for a
walkthrough ("I need the property ... rehab budget"). Now the photo is a progress photo of his
bid's project with the caption as his update (a ``contractor.responded`` activity and an action
item), and the voice note is transcribed by Whisper and answered as if he had texted it.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from dataclasses import dataclass

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.audio import synthetic
from domain.audio.models import Walkthrough
from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import ActivityKind
from domain.construction.models import BidCreate, ProjectActivity, ProjectPhoto
from domain.documents.models import Document
from domain.whatsapp.models import Message
from store.outbox import OutboxEvent
from tests.factories import make_contractor, make_org, make_project, make_property, make_user
from tests.workers.test_whatsapp_jobs import (  # noqa: F401 (fixtures)
    ACCOUNT,
    MESSAGES_API,
    accepted,
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
KERCHEVAL = "14500 Kercheval Ave, Detroit, MI"
MACK = "9100 Mack Ave, Detroit, MI"


@dataclass
class Site:
    org_id: uuid.UUID
    phone: str  # Ray's number: his account's and his contractor record's
    kercheval: uuid.UUID
    mack: uuid.UUID | None


def _site(db: Session, *, both: bool = False, linked: bool = True) -> Site:
    """Ray's roof bid on the Kercheval rehab (and on Mack Ave with ``both``)."""
    org = make_org(db, f"Contractor media {uuid.uuid4().hex[:6]}")
    ray = make_contractor(db, org, name="Ray's Roofing")
    projects = []
    for line in ("14500 Kercheval Ave", "9100 Mack Ave")[: 2 if both else 1]:
        prop = make_property(
            db, org, address_line=line, city="Detroit", state="MI", zip_code="48215"
        )
        project = make_project(db, org, property_id=prop.id, name=f"Rehab: {line}")
        roof = construction_service.list_scope_items(
            session=db, org_id=org.id, project_id=project.id
        )[0]
        construction_service.create_bid(
            session=db, org_id=org.id, project_id=project.id,
            bid_in=BidCreate.model_validate({
                "contractor_id": ray.id,
                "start_date": local_today() + dt.timedelta(days=10),
                "line_items": [{"scope_item_id": str(roof.id), "amount": "8000"}],
            }),
        )  # fmt: skip
        projects.append(project.id)
    # Without a link the account's number is not the contractor record's.
    phone = ray.phone if linked else "+13135550177"
    make_user(db, org, Role.contractor, phone_number=phone)
    db.commit()
    return Site(org.id, phone, projects[0], projects[1] if both else None)


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _media_url(name: str) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{name}/Media/ME{name}"


def _send(
    live: TestClient,  # noqa: F811
    redis: Redis,
    site: Site,
    data: bytes,
    content_type: str,
    caption: str = "",
    *,
    name: str = "1",
) -> str:
    """Ray sends one media item (with a caption); the default queue runs to the end."""
    url = _media_url(name)
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        respx.get(url).mock(
            return_value=httpx.Response(200, content=data, headers={"content-type": content_type})
        )
        sid = post(
            live,
            caption,
            phone=site.phone,
            NumMedia="1",
            MediaUrl0=url,
            MediaContentType0=content_type,
        )
        work(redis)
    return sid


def _texts(db: Session, sid: str) -> list[str]:
    return [m.content or "" for m in replies(db, sid)]


def _photos(db: Session, site: Site) -> list[ProjectPhoto]:
    db.expire_all()
    return list(
        db.exec(
            select(ProjectPhoto)
            .where(ProjectPhoto.org_id == site.org_id)
            .order_by(col(ProjectPhoto.created_at))
        )
    )


def _responses(db: Session, site: Site) -> list[ProjectActivity]:
    db.expire_all()
    return list(
        db.exec(
            select(ProjectActivity)
            .where(
                ProjectActivity.org_id == site.org_id,
                ProjectActivity.kind == ActivityKind.contractor_response,
            )
            .order_by(col(ProjectActivity.created_at))
        )
    )


def _action_items(db: Session, site: Site) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent).where(
                OutboxEvent.org_id == site.org_id, OutboxEvent.name == "action.items.created"
            )
        )
    )


def _stored_media(db: Session, sid: str) -> Document:
    """The document the inbound message's media item was stored as."""
    db.expire_all()
    inbound = db.exec(select(Message).where(Message.message_sid == sid)).one()
    document = db.get(Document, uuid.UUID(str(inbound.media[0]["document_id"])))
    assert document is not None
    return document


def test_a_contractors_captioned_photo_is_a_progress_photo_of_his_project_and_his_update(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    twilio_on: None,  # noqa: F811
) -> None:
    site = _site(committed_db)
    caption = "Tear off done, decking is solid"
    sid = _send(live, redis, site, _jpeg(), "image/jpeg", caption)

    # Nothing for the vision model: a contractor's photo is not a property assessment.
    assert len(get_queue("vision")) == 0
    (photo,) = _photos(committed_db, site)
    assert photo.project_id == site.kercheval
    assert photo.caption == caption and photo.phase == "during"
    # Stored through the project photo upload (a photo document of the project's property),
    # and the WhatsApp copy is kept on the message.
    assert _stored_media(committed_db, sid).kind == "photo"
    # The caption is his update, recorded once (not a second time by the agent).
    (activity,) = _responses(committed_db, site)
    assert activity.project_id == site.kercheval
    assert activity.details["kind"] == "photo" and activity.details["channel"] == "whatsapp"
    assert activity.details["message"] == caption
    (event,) = _action_items(committed_db, site)
    (item,) = event.payload["items"]
    assert item["kind"] == "review_photos"
    assert item["text"] == f'Ray\'s Roofing sent photos for {KERCHEVAL}: "{caption}"'
    assert _texts(committed_db, sid) == [
        ACK,
        f"Thanks: I added your photo to the progress photos of {KERCHEVAL} and passed your "
        "note on to the team.",
    ]
    # A retried job keeps nothing twice and says nothing new.
    inbound = committed_db.exec(select(Message).where(Message.message_sid == sid)).one()
    assert jobs.file_contractor_photo(str(inbound.id), 0) == "skipped"
    assert len(_photos(committed_db, site)) == 1 and len(_responses(committed_db, site)) == 1


def test_a_photo_without_a_caption_on_two_open_projects_is_kept_on_both_then_on_the_one_named(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    twilio_on: None,  # noqa: F811
) -> None:
    site = _site(committed_db, both=True)
    sid = _send(live, redis, site, _jpeg(), "image/jpeg", name="2")

    photos = _photos(committed_db, site)
    assert {p.project_id for p in photos} == {site.kercheval, site.mack}
    assert all(p.caption is None for p in photos)
    activities = _responses(committed_db, site)
    assert {a.project_id for a in activities} == {site.kercheval, site.mack}
    assert {a.details["message"] for a in activities} == {construction_service.NO_CAPTION}
    ack, reply = _texts(committed_db, sid)
    assert ack == ACK
    assert reply.startswith("Thanks: you have 2 open projects and the message named none, so I ")
    assert KERCHEVAL in reply and MACK in reply and "passed your note" not in reply

    # A caption naming the street puts the next photo on that project only.
    sid = _send(live, redis, site, _jpeg(), "image/jpeg", "mack ave gutters off", name="3")
    newest = [p for p in _photos(committed_db, site) if p.caption == "mack ave gutters off"]
    assert [p.project_id for p in newest] == [site.mack]
    assert _texts(committed_db, sid)[-1] == (
        f"Thanks: I added your photo to the progress photos of {MACK} and passed your note on "
        "to the team."
    )


def test_a_contractor_with_no_contractor_record_is_told_and_the_media_stays_stored(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    twilio_on: None,  # noqa: F811
) -> None:
    site = _site(committed_db, linked=False)
    photo_sid = _send(live, redis, site, _jpeg(), "image/jpeg", "roof done", name="4")
    voice_sid = _send(live, redis, site, synthetic.silence_wav(2.0), "audio/wav", name="5")
    build_worker(["transcribe"]).work(burst=True)

    for sid, what in ((photo_sid, "photo"), (voice_sid, "voice note")):
        assert _texts(committed_db, sid)[-1] == (
            f"I saved your {what}, but this number is not linked to a contractor record here, "
            "so I could not put it on a project or pass it to the team. Ask the company to add "
            "this number to your contractor record, then send it again."
        )
    assert _stored_media(committed_db, photo_sid).kind == "photo"
    assert _stored_media(committed_db, voice_sid).kind == "voice_note"
    assert _photos(committed_db, site) == [] and _responses(committed_db, site) == []
    assert len(get_queue("vision")) == 0


@pytest.fixture(scope="module")
def progress_ogg() -> bytes:
    """A contractor's spoken progress report, as WhatsApp sends a voice note (OGG/Opus)."""
    if not synthetic.espeak_available():
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is required in CI (Debian package espeak-ng)")
        pytest.skip("espeak-ng is not installed (Debian package: espeak-ng)")
    return synthetic.to_ogg_opus(synthetic.speak("I finished the tear off on the roof today."))


def test_a_contractors_voice_note_is_transcribed_and_handled_as_his_text_not_a_walkthrough(
    live: TestClient,  # noqa: F811
    committed_db: Session,
    redis: Redis,
    twilio_on: None,  # noqa: F811
    progress_ogg: bytes,
) -> None:
    site = _site(committed_db)
    sid = _send(live, redis, site, progress_ogg, "audio/ogg", name="6")
    assert len(get_queue("transcribe")) == 1
    build_worker(["transcribe"]).work(burst=True)  # the real Whisper weights

    ack, reply = _texts(committed_db, sid)
    assert ack == ACK
    heard, answer = reply.split("\n\n", 1)
    assert heard.startswith('I heard: "') and "tear" in heard.lower(), reply
    # His words went through the contractor's planner path: a progress update for the team.
    (activity,) = _responses(committed_db, site)
    assert activity.project_id == site.kercheval
    assert activity.details["kind"] == "progress" and activity.details["channel"] == "whatsapp"
    assert "finished the tear" in activity.details["message"].lower()
    assert KERCHEVAL in answer, answer
    # Never priced as a walkthrough; the transcript is kept on the message.
    committed_db.expire_all()
    assert committed_db.exec(select(Walkthrough)).all() == []
    inbound = committed_db.exec(select(Message).where(Message.message_sid == sid)).one()
    assert "tear" in inbound.media[0]["transcript"].lower()
    assert "rehab budget" not in reply
