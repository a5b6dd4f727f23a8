"""The ``reports`` job: the real queue, worker, storage and outbox."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from pypdf import PdfReader
from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlmodel import Session, col, select

from domain.analysis.service import AnalysisNotFoundError
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from store.outbox import OutboxEvent
from tests.factories import make_deal, make_org, make_sold_market, make_subject_property
from workers.queues import get_queue
from workers.reports import enqueue_property_report, generate_property_report

AS_OF = dt.date(2025, 1, 15)


def test_the_job_stores_the_pdf_and_announces_it(committed_db: Session, redis: Redis) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    deal = make_deal(db, org, property_id=subject.id)
    db.commit()

    job_id = enqueue_property_report(
        org_id=org.id, property_id=subject.id, deal_id=deal.id, as_of=AS_OF, request_id="req-42"
    )
    assert job_id == "report-req-42"
    SimpleWorker([get_queue("reports")], connection=redis, serializer=JSONSerializer).work(
        burst=True
    )
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == "finished", job.latest_result()
    result = job.return_value()
    assert result is not None
    document_id = uuid.UUID(result["document_id"])

    db.expire_all()
    document = documents_service.get_document(session=db, org_id=org.id, document_id=document_id)
    assert document is not None
    assert document.kind == DocumentKind.report
    assert document.content_type == "application/pdf"
    assert document.source == DocumentSource.worker
    assert (document.entity_type, document.entity_id) == ("property", subject.id)
    assert document.filename == "analysis-1234-subject-ave-detroit-mi-48201-2025-01-15.pdf"
    data = documents_service.read_document_bytes(session=db, org_id=org.id, document_id=document_id)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == result["pages"]
    assert "1234 Subject Ave, Detroit, MI 48201" in reader.pages[0].extract_text()

    events = db.exec(
        select(OutboxEvent)
        .where(
            OutboxEvent.org_id == org.id,
            col(OutboxEvent.name).in_(["report.ready", "document.generated"]),
        )
        .order_by(col(OutboxEvent.name))
    ).all()
    assert [e.name for e in events] == ["document.generated", "report.ready"]
    for event in events:
        assert event.payload["document_id"] == str(document_id)
        assert event.payload["property_id"] == str(subject.id)
        assert event.payload["deal_id"] == str(deal.id)
        assert event.payload["request_id"] == "req-42"
        assert event.payload["kind"] == "report"
        assert event.payload["content_type"] == "application/pdf"


def test_an_unknown_property_stores_nothing(db: Session) -> None:
    org = make_org(db)
    with pytest.raises(AnalysisNotFoundError):
        generate_property_report(session=db, org_id=org.id, property_id=uuid.uuid4())
    assert documents_service.list_documents(session=db, org_id=org.id) == []
    assert db.exec(select(OutboxEvent).where(OutboxEvent.org_id == org.id)).all() == []


def test_a_request_id_must_be_safe_for_a_job_id() -> None:
    with pytest.raises(ValueError, match="request_id"):
        enqueue_property_report(
            org_id=uuid.uuid4(), property_id=uuid.uuid4(), request_id="../../etc"
        )
