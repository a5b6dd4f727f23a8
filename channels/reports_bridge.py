"""``POST /reports/generate``: find the property, record the request, enqueue the render job.

The report id returned is the request's id; the reports job (``workers.reports``) echoes it
as ``request_id`` in ``report.ready``, which fills in the stored PDF's document id, so
``GET /reports/{reportId}`` serves the PDF once it is rendered.

The request (and its audit entry) is committed before the job is enqueued, so a worker never
runs a job for a request it cannot see. When the job cannot be enqueued (Redis is down) the
request is marked ``failed`` with the reason (``GET /reports/{id}`` answers 410, not 202 for
ever) and the caller gets a 503. When the process dies between the commit and the enqueue, or
Redis loses the job, ``requeue_stuck_requests`` (run by the event relay's sweep) finds the
request still waiting with no live job and enqueues it again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from domain.auth.service import Principal, record_audit
from domain.property import service as property_service
from domain.property.errors import AddressParseError
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.enums import ReportRequestStatus
from domain.whatsapp.models import ReportRequest
from store.base import utcnow
from store.db import session_scope
from store.outbox import OutboxEvent

log = logging.getLogger(__name__)

# A waiting request younger than this is left alone (its job is being enqueued right now).
REQUEUE_GRACE_S = 120.0
REQUEUE_LIMIT = 100


class PropertyNotFound(LookupError):
    """No property of the organisation matches the id or address."""


class ReportUnavailable(RuntimeError):
    """The report job could not be queued (Redis unreachable); ask again after ``retry_after_s``."""

    def __init__(
        self, message: str, *, retry_after_s: int = whatsapp_service.REPORT_RETRY_AFTER_S
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RequestedReport:
    """A report request: its id, the property and whether the PDF is stored yet."""

    report_id: uuid.UUID
    property_id: uuid.UUID
    ready: bool


def find_property_id(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID | None, address: str | None
) -> uuid.UUID:
    """The organisation's property by id, or the best match for a street address."""
    if property_id is not None:
        if property_service.get(session=session, org_id=org_id, property_id=property_id) is None:
            raise PropertyNotFound(f"No property {property_id} in your organisation")
        return property_id
    text = (address or "").strip()
    try:
        matches = property_service.find_by_address(
            session=session, org_id=org_id, text=text, limit=1
        )
    except AddressParseError as exc:
        raise PropertyNotFound(f"{text!r} is not a street address: {exc}") from exc
    if not matches:
        raise PropertyNotFound(f"No property at {text!r} is on file")
    return matches[0].id


def request_report(
    *,
    session: Session,
    principal: Principal,
    property_id: uuid.UUID | None,
    address: str | None,
) -> RequestedReport:
    """Record the request, commit, and put the render job on the reports queue."""
    from workers.reports import enqueue_property_report

    found = find_property_id(
        session=session, org_id=principal.org_id, property_id=property_id, address=address
    )
    request = whatsapp_service.request_report(
        session=session, org_id=principal.org_id, property_id=found, requested_by=principal.user_id
    )
    record_audit(
        session=session,
        principal=principal,
        action="generate_report",
        entity="report",
        entity_id=request.id,
        changes={"property_id": str(found)},
    )
    session.commit()
    try:
        enqueue_property_report(
            org_id=principal.org_id,
            property_id=found,
            requested_by=principal.user_id,
            request_id=str(request.id),
        )
    except Exception as exc:
        why = (
            f"the job queue was unreachable ({type(exc).__name__}) when it was asked for; "
            "ask for the report again"
        )
        _mark_unqueued(session=session, org_id=principal.org_id, report_id=request.id, why=why)
        wait_s = whatsapp_service.REPORT_RETRY_AFTER_S
        raise ReportUnavailable(
            f"The report job could not be queued ({type(exc).__name__}); try again in {wait_s} s",
            retry_after_s=wait_s,
        ) from exc
    return RequestedReport(report_id=request.id, property_id=found, ready=False)


def _mark_unqueued(*, session: Session, org_id: uuid.UUID, report_id: uuid.UUID, why: str) -> None:
    """Mark a request whose job never reached the queue failed (else the sweep retries it)."""
    try:
        whatsapp_service.report_failed(
            session=session,
            org_id=org_id,
            report_id=report_id,
            reason=why,
            retry_after_s=whatsapp_service.REPORT_RETRY_AFTER_S,
        )
        session.commit()
    except Exception:
        session.rollback()
        log.warning(
            "report request %s left waiting: it could not be marked failed either; "
            "the event relay's sweep enqueues it again",
            report_id,
        )


def _job_id(request_id: uuid.UUID) -> str:
    """The render job's id for a request (as ``workers.reports.enqueue_property_report``)."""
    return f"report-{request_id}"


def _already_rendered(session: Session, request: ReportRequest) -> bool:
    """True when a job rendered the request (``report.ready`` is published, maybe undelivered)."""
    found = session.exec(
        select(OutboxEvent.id)
        .where(OutboxEvent.org_id == request.org_id)
        .where(OutboxEvent.name == "report.ready")
        .where(col(OutboxEvent.created_at) >= request.created_at)
        .where(col(OutboxEvent.payload)["request_id"].astext == str(request.id))
        .limit(1)
    ).first()
    return found is not None


def requeue_stuck_requests(
    *, grace_s: float = REQUEUE_GRACE_S, limit: int = REQUEUE_LIMIT, now: datetime | None = None
) -> int:
    """Enqueue again the API's report requests still waiting with no live render job; count them.

    A request of ``POST /reports/generate`` (no conversation) older than ``grace_s`` that is
    still waiting is looked up on the reports queue by its job id: a job that is queued,
    scheduled or running is left alone; a job that Redis no longer holds (lost, or never
    enqueued) is enqueued again, unless the request was rendered already (its ``report.ready``
    is still on its way); a job that failed for good or was stopped marks the request failed
    with why, so ``GET /reports/{id}`` stops answering "rendering".
    """
    from workers.events import job_statuses
    from workers.reports import enqueue_property_report

    now = now or utcnow()
    requeued = 0
    with session_scope() as session:
        waiting = session.exec(
            select(ReportRequest)
            .where(ReportRequest.status == ReportRequestStatus.waiting)
            .where(col(ReportRequest.document_id).is_(None))
            .where(col(ReportRequest.conversation_id).is_(None))
            .where(col(ReportRequest.property_id).is_not(None))
            .where(col(ReportRequest.created_at) < now - timedelta(seconds=grace_s))
            .order_by(col(ReportRequest.created_at))
            .limit(limit)
            # Two sweeps at once never enqueue the same request twice.
            .with_for_update(skip_locked=True)
        ).all()
        statuses = job_statuses([_job_id(request.id) for request in waiting])
        for request, status in zip(waiting, statuses, strict=True):
            if status is not None and status.value in ("failed", "stopped", "canceled"):
                whatsapp_service.report_failed(
                    session=session,
                    org_id=request.org_id,
                    report_id=request.id,
                    reason=f"the report job {status.value}; ask for the report again",
                )
                continue
            if status is not None or _already_rendered(session, request):
                continue  # alive, or finished: its report.ready settles the request
            assert request.property_id is not None  # the query asks for one
            # Enqueued while the row is locked; the job never needs the request row itself.
            enqueue_property_report(
                org_id=request.org_id,
                property_id=request.property_id,
                requested_by=request.requested_by,
                request_id=str(request.id),
            )
            requeued += 1
    if requeued:
        log.warning("re-enqueued report requests whose job was lost", extra={"count": requeued})
    return requeued
