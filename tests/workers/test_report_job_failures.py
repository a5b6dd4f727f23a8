"""A report that cannot be made says so: its property was deleted after the report was asked for.

Before, the job raised "property X not found", was retried three times, sat in the failed
registry, and ``GET /reports/{id}`` answered 202 "rendering" for ever; a WhatsApp conversation
that asked heard nothing. Real queue, worker, database and API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.property import service as property_service
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.enums import ReportRequestStatus
from domain.whatsapp.models import Conversation, Message
from tests.factories import (
    auth_headers,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)
from workers.queues import get_queue
from workers.reports import enqueue_property_report


@pytest.fixture
def api(committed_db: Session, redis: Redis) -> Iterator[TestClient]:
    """An API client on real, committed sessions (the job opens its own)."""
    from app import app

    with TestClient(app) as client:
        yield client


def _work(redis: Redis) -> None:
    SimpleWorker([get_queue("reports")], connection=redis, serializer=JSONSerializer).work(
        burst=True
    )


def test_a_deleted_property_fails_the_report_once_with_its_reason(
    api: TestClient, committed_db: Session, redis: Redis
) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    analyst = make_user(db, org, role=Role.analyst)
    db.commit()
    headers = auth_headers(db, analyst)

    asked = api.post(
        "/api/v1/reports/generate", json={"property_id": str(subject.id)}, headers=headers
    )
    assert asked.status_code == 202, asked.text
    report_id = asked.json()["report_id"]
    property_service.delete(session=db, org_id=org.id, property_id=subject.id)
    db.commit()

    _work(redis)
    job = Job.fetch(f"report-{report_id}", connection=redis, serializer=JSONSerializer)
    assert job.get_status() == "finished"  # not failed, so not retried
    result = job.return_value()
    assert result is not None and result["status"] == "failed"
    assert str(subject.id) in result["reason"]

    answer = api.get(f"/api/v1/reports/{report_id}", headers=headers)
    assert answer.status_code == 410, answer.text
    body = answer.json()
    assert body["status"] == "failed"
    assert body["detail"].startswith("This report could not be made: ")
    assert "not found" in body["detail"]

    db.expire_all()
    request = whatsapp_service.get_report_request(
        session=db, org_id=org.id, report_id=uuid.UUID(report_id)
    )
    assert request is not None and request.status == ReportRequestStatus.failed


def test_the_conversation_that_asked_is_told_once(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    conversation = Conversation(
        org_id=org.id, phone_number="+13135550142", property_address="1234 Subject Ave"
    )
    db.add(conversation)
    db.flush()
    request = whatsapp_service.request_report(
        session=db, org_id=org.id, property_id=uuid.uuid4(), conversation=conversation
    )
    for _ in range(2):  # a second call (a redelivered job) changes nothing
        whatsapp_service.report_failed(
            session=db, org_id=org.id, report_id=request.id, reason="property 42 not found"
        )
    texts = db.exec(
        select(Message.content).where(
            Message.conversation_id == conversation.id, col(Message.content).is_not(None)
        )
    ).all()
    assert texts == [
        "Sorry, I couldn't make the report for 1234 Subject Ave: property 42 not found. Send "
        "the address again if you still need it."
    ]
    assert request.status == ReportRequestStatus.failed
    assert request.failure == "property 42 not found"


def test_a_rendered_report_is_not_marked_failed(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    request = whatsapp_service.request_report(session=db, org_id=org.id, property_id=uuid.uuid4())
    request.status = ReportRequestStatus.ready
    db.add(request)
    db.flush()
    whatsapp_service.report_failed(
        session=db, org_id=org.id, report_id=request.id, reason="too late"
    )
    assert request.status == ReportRequestStatus.ready and request.failure is None


def test_a_job_without_a_stored_request_still_ends_failed_not_retried(
    committed_db: Session, redis: Redis
) -> None:
    org = make_org(committed_db)
    committed_db.commit()
    job_id = enqueue_property_report(org_id=org.id, property_id=uuid.uuid4(), request_id="cli-7")
    _work(redis)
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == "finished"
    result = job.return_value()
    assert result is not None and (result["status"], result["request_id"]) == ("failed", "cli-7")
