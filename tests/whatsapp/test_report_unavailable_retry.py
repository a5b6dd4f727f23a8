"""A report that could not be queued (Redis down) says when to ask again, on every channel.

The REST answer is a 503 with ``Retry-After``; the request is failed with why, and a
WhatsApp conversation that asked is told to try again in about a minute (not just "send the
address again", which reads as if the address were wrong).
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, col, select

import workers.queues
from channels import reports_bridge
from domain.auth.enums import Role
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.enums import ReportRequestStatus
from domain.whatsapp.models import Conversation, Message, ReportRequest
from tests.factories import auth_headers, make_org, make_property, make_user


def _dead_redis() -> Redis:
    """A client for a Redis that is not running (the unix socket does not exist)."""
    return Redis(unix_socket_path=f"/tmp/dd-no-redis-{uuid.uuid4().hex}.sock")


def test_the_rest_answer_while_the_queue_is_down_carries_retry_after(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    prop = make_property(db, org)
    headers = auth_headers(db, user)
    monkeypatch.setattr(workers.queues, "get_redis", _dead_redis)

    answer = client.post(
        "/api/v1/reports/generate", json={"property_id": str(prop.id)}, headers=headers
    )

    assert answer.status_code == 503, answer.text
    wait_s = whatsapp_service.REPORT_RETRY_AFTER_S
    assert answer.headers["Retry-After"] == str(wait_s)
    assert answer.json()["detail"].endswith(f"try again in {wait_s} s")
    (request,) = db.exec(select(ReportRequest).where(ReportRequest.property_id == prop.id)).all()
    assert request.status == ReportRequestStatus.failed


def test_the_whatsapp_reply_for_an_unqueued_report_says_when_to_try_again(
    db: Session,
) -> None:
    org = make_org(db)
    conversation = Conversation(
        org_id=org.id, phone_number="+13135550177", property_address="1234 Subject Ave"
    )
    db.add(conversation)
    db.flush()
    request = whatsapp_service.request_report(
        session=db, org_id=org.id, property_id=uuid.uuid4(), conversation=conversation
    )

    # What reports_bridge does when the render job cannot be queued.
    reports_bridge._mark_unqueued(
        session=db, org_id=org.id, report_id=request.id, why="the job queue was unreachable"
    )

    texts = db.exec(
        select(Message.content).where(
            Message.conversation_id == conversation.id, col(Message.content).is_not(None)
        )
    ).all()
    assert texts == [
        "Sorry, I couldn't make the report for 1234 Subject Ave just now (the job queue was "
        "unreachable). Please try again in about a minute."
    ]
    assert request.status == ReportRequestStatus.failed


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (5, "a few seconds"),
        (30, "about 30 seconds"),
        (60, "about a minute"),
        (300, "about 5 minutes"),
    ],
)
def test_the_wait_is_said_in_words(db: Session, seconds: int, words: str) -> None:
    org = make_org(db)
    conversation = Conversation(org_id=org.id, phone_number="+13135550178")
    db.add(conversation)
    db.flush()
    request = whatsapp_service.request_report(
        session=db, org_id=org.id, property_id=uuid.uuid4(), conversation=conversation
    )
    whatsapp_service.report_failed(
        session=db, org_id=org.id, report_id=request.id, reason="queue down", retry_after_s=seconds
    )
    (text,) = db.exec(
        select(Message.content).where(Message.conversation_id == conversation.id)
    ).all()
    assert text is not None and text.endswith(f"Please try again in {words}.")
