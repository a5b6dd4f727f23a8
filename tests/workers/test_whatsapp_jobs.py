"""The WhatsApp path end to end: signed webhook → RQ job → the real agent → outbox or Twilio.

Jobs run in-process (``SimpleWorker`` burst, or the job function called directly for the last
attempt of a failing step). Twilio's REST API and media hosts are mocked with respx; nothing
reaches the network. The agent is the real one (offline planner).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp import subscribers
from domain.whatsapp.enums import MessageDirection
from domain.whatsapp.models import Conversation, Message, UnlinkedMessage
from store.base import utcnow
from store.events import Event
from tests.factories import make_org, make_user, override_settings
from workers import whatsapp as jobs
from workers.queues import get_queue

TOKEN = "jobs-twilio-token-123"
ACCOUNT = "AC" + "b" * 32
PUBLIC = "https://dealdesk.example.com"
PATH = "/api/v1/webhook/whatsapp"
PHONE = "+13135550100"
MESSAGES_API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


@pytest.fixture
def live(
    committed_db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """An API client on real, committed sessions (the jobs open their own)."""
    from app import app

    override_settings(monkeypatch, twilio_auth_token=SecretStr(TOKEN), public_base_url=PUBLIC)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def investor(committed_db: Session) -> uuid.UUID:
    """An investor whose WhatsApp number is linked; returns the organisation id."""
    org = make_org(committed_db)
    make_user(committed_db, org, role=Role.investor, phone_number=PHONE)
    committed_db.commit()
    return org.id


@pytest.fixture
def twilio_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio credentials configured (REST calls go to respx)."""
    override_settings(
        monkeypatch,
        twilio_account_sid=ACCOUNT,
        twilio_whatsapp_from="+14155238886",
        twilio_template_content_sid="HX" + "c" * 32,
    )


def accepted(request: httpx.Request) -> httpx.Response:
    """Twilio's answer to a created message (a fresh SID each time)."""
    return httpx.Response(201, json={"sid": "SM" + uuid.uuid4().hex, "status": "queued"})


def post(client: TestClient, body: str, phone: str = PHONE, **extra: str) -> str:
    """Post a signed webhook; return its MessageSid."""
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + PATH, params)
    response = client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    return params["MessageSid"]


def work(redis: Redis, *queues: str) -> None:
    """Run every queued job in-process until the queues are empty."""
    names = queues or ("default",)
    worker = SimpleWorker(
        [get_queue(name) for name in names], connection=redis, serializer=JSONSerializer
    )
    worker.work(burst=True)


def replies(db: Session, sid: str) -> list[Message]:
    """The outbound replies to the message with this MessageSid, oldest first."""
    db.expire_all()
    inbound = db.exec(select(Message).where(Message.message_sid == sid)).one()
    return list(
        db.exec(
            select(Message)
            .where(Message.reply_to_id == inbound.id)
            .order_by(col(Message.created_at))
        ).all()
    )


def test_a_message_is_answered_by_the_agent_and_recorded_without_credentials(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID
) -> None:
    sid = post(live, "help")
    work(redis)
    sent = replies(committed_db, sid)
    assert sent, "the agent's reply is in the outbox"
    assert {m.status for m in sent} == {"recorded"}
    assert all(len(m.content or "") <= 1600 for m in sent)
    inbound = committed_db.exec(select(Message).where(Message.message_sid == sid)).one()
    assert inbound.status == "processed"
    # The conversation API and the outbox show the same reply.
    outbox = whatsapp_service.list_outbox(session=committed_db, org_id=investor)
    assert [e.body for e in outbox][::-1] == [m.content for m in sent]


def test_a_retried_webhook_gets_one_reply(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID
) -> None:
    sid = post(live, "help")
    # Twilio retries the same MessageSid (e.g. after a timeout): same row, no new job.
    params = {
        "MessageSid": sid,
        "From": f"whatsapp:{PHONE}",
        "To": "whatsapp:+14155238886",
        "Body": "help",
        "NumMedia": "0",
    }
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + PATH, params)
    live.post(PATH, data=params, headers={"X-Twilio-Signature": signature})
    work(redis)
    first = [m.content for m in replies(committed_db, sid)]
    # Even a job run twice (the sweeper, an RQ retry) sends nothing new.
    inbound = committed_db.exec(select(Message).where(Message.message_sid == sid)).one()
    assert jobs.process_inbound(str(inbound.id)) == "skipped"
    assert [m.content for m in replies(committed_db, sid)] == first
    assert len(committed_db.exec(select(Message).where(Message.message_sid == sid)).all()) == 1


def test_with_credentials_replies_go_through_twilio(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    with respx.mock:
        route = respx.post(MESSAGES_API).mock(side_effect=accepted)
        sid = post(live, "help")
        work(redis)
    sent = replies(committed_db, sid)
    assert sent and {m.status for m in sent} == {"sent"}
    assert all((m.message_sid or "").startswith("SM") for m in sent)
    assert route.call_count == len(sent)
    body = route.calls.last.request.content.decode()
    assert "To=whatsapp%3A%2B13135550100" in body
    assert "From=whatsapp%3A%2B14155238886" in body
    assert "ContentSid" not in body  # inside the 24-hour window: plain text


def test_a_twilio_outage_leaves_the_reply_failed_for_a_retry(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    with respx.mock:
        respx.post(MESSAGES_API).mock(return_value=httpx.Response(503, json={"message": "down"}))
        sid = post(live, "help")
        work(redis)
    sent = replies(committed_db, sid)
    assert {m.status for m in sent} == {"failed"}
    assert "503" in (sent[0].error or "")
    # The retry job delivers once Twilio is back.
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        assert jobs.send_outbound(str(sent[0].id)) == "sent"


def test_an_unknown_number_gets_the_onboarding_reply_and_nothing_else(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID
) -> None:
    post(live, "1234 Elm St, Detroit", phone="+13135550199")
    post(live, "show me all the deals", phone="+13135550199")
    work(redis)
    committed_db.expire_all()
    rows = committed_db.exec(
        select(UnlinkedMessage).order_by(col(UnlinkedMessage.created_at))
    ).all()
    assert [r.reply_status for r in rows] == ["recorded", "suppressed"]
    assert rows[0].reply_content == whatsapp_service.ONBOARDING_REPLY
    assert committed_db.exec(select(Message)).all() == []  # nobody's conversation


def _media_message(live: TestClient, url: str, content_type: str) -> str:
    return post(live, "", NumMedia="1", MediaUrl0=url, MediaContentType0=content_type)


def test_a_media_url_off_twilio_is_never_fetched(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        twilio_api = mock.post(MESSAGES_API).mock(side_effect=accepted)
        evil = mock.get(url__regex=r".*")
        sid = _media_message(live, "http://169.254.169.254/latest/meta-data/", "image/jpeg")
        work(redis)
        assert not evil.called
        assert twilio_api.called
    texts = [m.content or "" for m in replies(committed_db, sid)]
    assert any("did not open the photo" in t for t in texts), texts


def test_oversize_and_unsupported_media_get_clear_replies(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        respx.get(media).mock(return_value=httpx.Response(200, content=b"\xff" * (6 * 1024 * 1024)))
        big = _media_message(live, media, "image/jpeg")
        zipped = _media_message(live, media, "application/zip")
        work(redis)
    big_texts = [m.content or "" for m in replies(committed_db, big)]
    assert any("larger than 5 MB" in t for t in big_texts), big_texts
    zip_texts = [m.content or "" for m in replies(committed_db, zipped)]
    assert any("can't use application/zip files" in t for t in zip_texts), zip_texts


def test_a_failed_step_tells_the_investor_when_retries_are_spent(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM2/Media/ME2"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        respx.get(media).mock(return_value=httpx.Response(500))
        sid = _media_message(live, media, "audio/ogg")
        work(redis)  # process_inbound; ingest_media fails and is scheduled for a retry
        inbound = replies(committed_db, sid)[0].reply_to_id
        # The last attempt (no retries left: run outside RQ) gives up and says so.
        assert jobs.ingest_media(str(inbound), 0) == "failed"
    texts = [m.content or "" for m in replies(committed_db, sid)]
    assert any("could not download your voice note from WhatsApp" in t for t in texts), texts


def _report(db: Session, org_id: uuid.UUID) -> uuid.UUID:
    document = documents_service.store_document(
        session=db,
        org_id=org_id,
        data=b"%PDF-1.4\n% report\n%%EOF\n",
        filename="report.pdf",
        declared_content_type="application/pdf",
        kind=DocumentKind.report,
        source=DocumentSource.worker,
    )
    db.commit()
    return document.id


def test_report_ready_sends_the_signed_link_to_the_conversation_that_asked(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID
) -> None:
    post(live, "help")
    work(redis)
    conversation = committed_db.exec(select(Conversation)).one()
    request = whatsapp_service.request_report(
        session=committed_db, org_id=investor, property_id=None, conversation=conversation
    )
    committed_db.commit()
    document_id = _report(committed_db, investor)
    event = Event(
        id=uuid.uuid4(),
        org_id=investor,
        name="report.ready",
        payload={"document_id": str(document_id), "request_id": str(request.id)},
    )
    for _ in range(2):  # redelivered: still one link
        subscribers.on_report_ready(committed_db, event)
        committed_db.commit()
    queued = committed_db.exec(
        select(Message)
        .where(Message.direction == MessageDirection.outbound)
        .where(Message.reply_to_id.is_(None))  # type: ignore[union-attr]
    ).all()
    assert len(queued) == 1 and queued[0].status == "queued"
    assert jobs.sweep(outbound_older_than=timedelta(0))["outbound"] == 1
    work(redis)
    committed_db.expire_all()
    link_message = committed_db.get(Message, queued[0].id)
    assert link_message is not None and link_message.status == "recorded"
    url = link_message.media[0]["url"]
    assert url in (link_message.content or "")
    pdf = live.get(url.removeprefix(PUBLIC))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_outside_the_24_hour_window_the_template_is_sent(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        post(live, "help")
        work(redis)
    conversation = committed_db.exec(select(Conversation)).one()
    conversation.last_inbound_at = utcnow() - timedelta(hours=25)
    committed_db.add(conversation)
    request = whatsapp_service.request_report(
        session=committed_db, org_id=investor, property_id=None, conversation=conversation
    )
    committed_db.commit()
    document_id = _report(committed_db, investor)
    queued = whatsapp_service.report_ready(
        session=committed_db,
        org_id=investor,
        document_id=document_id,
        request_id=request.id,
        template_sid="HX" + "c" * 32,
    )
    committed_db.commit()
    with respx.mock:
        route = respx.post(MESSAGES_API).mock(side_effect=accepted)
        assert jobs.send_outbound(str(queued[0].id)) == "sent"
    body = route.calls.last.request.content.decode()
    assert "ContentSid=HX" in body
    assert "Body=" not in body


def test_the_sweeper_re_enqueues_accepted_messages_whose_job_was_lost(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID
) -> None:
    sid = post(live, "help")
    redis.flushdb()  # the job is lost (Redis restarted); the row is the source of truth
    counts = jobs.sweep(older_than=timedelta(0))
    assert counts["inbound"] == 1
    work(redis)
    assert replies(committed_db, sid)
    # The idle conversation closes after 24 hours, once, with conversation.completed.
    conversation = committed_db.exec(select(Conversation)).one()
    conversation.last_inbound_at = utcnow() - timedelta(hours=25)
    committed_db.add(conversation)
    committed_db.commit()
    assert jobs.sweep()["conversations_completed"] == 1
    assert jobs.sweep()["conversations_completed"] == 0


def test_an_address_gets_the_analysis_and_a_working_report_link(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID
) -> None:
    from tests.factories import make_property

    org = committed_db.get(Organisation, investor)
    assert org is not None
    prop = make_property(
        committed_db,
        org,
        address_line="1234 Elm St",
        city="Detroit",
        state="MI",
        zip_code="48201",
        bedrooms=3,
        square_feet=1200,
    )
    committed_db.commit()
    sid = post(live, "1234 Elm St, Detroit, MI 48201")
    work(redis)
    sent = replies(committed_db, sid)
    texts = [m.content or "" for m in sent]
    assert "1234 Elm" in texts[0], texts
    links = [m for m in sent if m.media and m.media[0].get("report_id")]
    assert len(links) == 1, texts
    url = links[0].media[0]["url"]
    assert url.startswith(PUBLIC + "/api/v1/reports/") and url in (links[0].content or "")
    pdf = live.get(url.removeprefix(PUBLIC))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    conversation = committed_db.exec(select(Conversation)).one()
    assert conversation.property_id == prop.id
    assert conversation.report_url == url
    # "send me the report" on the same number gets the link again.
    again = post(live, "send me the report")
    work(redis, "default", "reports")
    again_links = [m for m in replies(committed_db, again) if m.media]
    assert again_links and again_links[0].media[0]["url"].startswith(PUBLIC + "/api/v1/reports/")


def test_a_photo_of_the_property_is_stored_and_answered_honestly_without_a_model(
    live: TestClient, committed_db: Session, redis: Redis, investor: uuid.UUID, twilio_on: None
) -> None:
    import io

    from PIL import Image

    from tests.factories import make_property

    org = committed_db.get(Organisation, investor)
    assert org is not None
    prop = make_property(committed_db, org)
    committed_db.commit()
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 90, 60)).save(buffer, format="JPEG")
    media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM3/Media/ME3"
    with respx.mock:
        respx.post(MESSAGES_API).mock(side_effect=accepted)
        post(live, "help")
        work(redis)
        conversation = committed_db.exec(select(Conversation)).one()
        conversation.property_id = prop.id
        committed_db.add(conversation)
        committed_db.commit()
        fetch = respx.get(media).mock(
            return_value=httpx.Response(
                200, content=buffer.getvalue(), headers={"content-type": "image/jpeg"}
            )
        )
        sid = _media_message(live, media, "image/jpeg")
        work(redis, "default", "vision")
    assert fetch.called
    texts = [m.content or "" for m in replies(committed_db, sid)]
    assert any("no vision model is configured" in t for t in texts), texts
    inbound = committed_db.exec(select(Message).where(Message.message_sid == sid)).one()
    assert inbound.media[0]["document_id"]
