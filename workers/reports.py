"""The ``reports`` queue: render a property analysis PDF, store it and announce it.

``generate_property_report`` does the work inside the caller's session (flushes, never
commits): analyse the property (``domain.analysis.service``), fetch the cover photo, render
the PDF (``reports.property_report``), store it through the documents service (kind
``report``, ``application/pdf``, linked to the property) and publish ``report.ready`` and
``document.generated`` with the document, property and deal ids. ``render_property_report``
is the RQ job around it (ids in, its own committed session); ``enqueue_property_report``
puts one on the queue. A caller that wants to find the result later (the agent's
``GET /reports/{reportId}``) passes a ``request_id``: it is echoed in both events and in the
job's return value.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session

from core.config import get_settings
from domain.analysis import service as analysis_service
from domain.analysis.models import WhatIf
from domain.auth import service as auth_service
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.whatsapp import service as whatsapp_service
from reports.property_report import render_property_report as render_pdf
from store.db import session_scope
from store.outbox import publish
from workers.queues import enqueue

log = logging.getLogger(__name__)

QUEUE = "reports"
DOCUMENT_TYPE = "property_analysis"
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True)
class GeneratedReport:
    """A stored report: its document, what it is about and its headline."""

    document_id: uuid.UUID
    property_id: uuid.UUID
    deal_id: uuid.UUID | None
    filename: str
    size_bytes: int
    pages: int
    verdict: str
    request_id: str | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (for the job's result and event payloads)."""
        return {
            key: str(value) if isinstance(value, uuid.UUID) else value
            for key, value in asdict(self).items()
        }


def report_filename(address: str, as_of: dt.date) -> str:
    """``analysis-1234-subject-ave-detroit-2025-01-15.pdf``: readable, safe, at most ~100 chars.

    Accented letters keep their base letter ("Détroit" -> "detroit", not "d-troit").
    """
    unaccented = "".join(
        char for char in unicodedata.normalize("NFKD", address) if not unicodedata.combining(char)
    )
    slug = re.sub(r"[^a-z0-9]+", "-", unaccented.lower()).strip("-")[:70] or "property"
    return f"analysis-{slug}-{as_of.isoformat()}.pdf"


def _photo(
    *, session: Session, org_id: uuid.UUID, analysis: Any
) -> tuple[bytes | None, str | None]:
    """The cover photo's bytes, or why there are none."""
    if analysis.photo is None:
        return None, None
    try:
        return documents_service.read_document_bytes(
            session=session, org_id=org_id, document_id=analysis.photo.document_id
        ), None
    except documents_service.DocumentNotFound:
        return None, f"photo {analysis.photo.document_id} is no longer stored"
    except documents_service.DocumentCorrupted:
        return None, f"photo {analysis.photo.document_id} failed its checksum"


def _requesters_deal(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, user_id: uuid.UUID
) -> uuid.UUID | None:
    """The deal the requester's own analysis of the property runs on (``relevant_deal``).

    So a PDF sent after a chat analysis (or asked for without a deal) shows the figures the
    reply gave: the deal's price and repairs for the deals that user may see.
    """
    user = auth_service.get_user(session=session, org_id=org_id, user_id=user_id)
    if user is None or not user.is_active:
        return None
    principal = auth_service.Principal.from_user(user)
    deal = analysis_service.relevant_deal(
        session=session, org_id=org_id, property_id=property_id, principal=principal
    )
    return deal.id if deal is not None else None


def generate_property_report(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    deal_id: uuid.UUID | None = None,
    as_of: dt.date | None = None,
    requested_by: uuid.UUID | None = None,
    request_id: str | None = None,
    what_if: WhatIf | None = None,
) -> GeneratedReport:
    """Analyse, render, store and announce a property's report in the caller's session.

    ``deal_id``: the deal whose price and repairs to use; when None, the deal the requester
    may see (``analysis_service.relevant_deal``), as their chat analysis uses.
    ``what_if``: the investor's own price, rehab budget or living area from the chat ("what
    if I pay 30k?"), so the PDF shows the figures the reply gave (its notes say which).
    Raises ``AnalysisNotFoundError`` / ``AnalysisInputError`` for an unknown property, a
    deal of another property or a what-if out of range.
    """
    given = what_if or WhatIf()
    if deal_id is None and requested_by is not None:
        deal_id = _requesters_deal(
            session=session, org_id=org_id, property_id=property_id, user_id=requested_by
        )
    analysis = analysis_service.analyze_property(
        session=session,
        org_id=org_id,
        property_id=property_id,
        deal_id=deal_id,
        as_of=as_of,
        rehab_cost=given.rehab_cost,
        square_feet=given.square_feet,
        purchase_price=given.purchase_price,
    )
    photo, photo_note = _photo(session=session, org_id=org_id, analysis=analysis)
    organisation = auth_service.get_organisation(session=session, org_id=org_id)
    rendered = render_pdf(
        analysis,
        photo=photo,
        photo_note=photo_note,
        organisation=organisation.name if organisation else None,
    )
    document = documents_service.store_document(
        session=session,
        org_id=org_id,
        data=rendered.data,
        filename=report_filename(analysis.figures.address, analysis.as_of),
        declared_content_type=documents_service.PDF,
        kind=DocumentKind.report,
        source=DocumentSource.worker,
        entity_type="property",
        entity_id=property_id,
        uploaded_by=requested_by,
    )
    report = GeneratedReport(
        document_id=document.id,
        property_id=property_id,
        deal_id=analysis.deal_id,
        filename=document.filename,
        size_bytes=document.size_bytes,
        pages=rendered.pages,
        verdict=analysis.verdict.label.value,
        request_id=request_id,
    )
    payload = {
        **report.to_json(),
        "kind": DocumentKind.report.value,
        "document_type": DOCUMENT_TYPE,
        "content_type": document.content_type,
        "as_of": analysis.as_of.isoformat(),
        "max_offer": str(analysis.max_offer.amount) if analysis.max_offer else None,
    }
    publish(session, org_id=org_id, name="report.ready", payload=payload)
    publish(session, org_id=org_id, name="document.generated", payload=payload)
    session.flush()
    return report


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def render_property_report(
    org_id: str,
    property_id: str,
    deal_id: str | None = None,
    as_of: str | None = None,
    requested_by: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """RQ job: generate and store a property's report in its own transaction; return its ids.

    A report that cannot be made (the property was deleted after it was asked for, a deal of
    another property) is not retried: the request is marked failed with the reason, the
    conversation that asked is told, and the job returns ``{"status": "failed", ...}``.
    """
    try:
        with session_scope() as session:
            report = generate_property_report(
                session=session,
                org_id=uuid.UUID(org_id),
                property_id=uuid.UUID(property_id),
                deal_id=_uuid(deal_id),
                as_of=dt.date.fromisoformat(as_of) if as_of else None,
                requested_by=_uuid(requested_by),
                request_id=request_id,
            )
    except (analysis_service.AnalysisNotFoundError, analysis_service.AnalysisInputError) as exc:
        reason = str(exc)
        log.warning("report %s cannot be made: %s", request_id or "(no request)", reason)
        report_id = _request_uuid(request_id)
        if report_id is not None:
            with session_scope() as session:
                whatsapp_service.report_failed(
                    session=session,
                    org_id=uuid.UUID(org_id),
                    report_id=report_id,
                    reason=reason,
                    template_sid=get_settings().twilio_template_content_sid,
                )
        return {"status": "failed", "reason": reason, "request_id": request_id}
    return report.to_json()


def _request_uuid(request_id: str | None) -> uuid.UUID | None:
    """A request id that names a stored report request (a UUID), else None."""
    try:
        return uuid.UUID(request_id) if request_id else None
    except ValueError:
        return None


def enqueue_property_report(
    *,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    deal_id: uuid.UUID | None = None,
    as_of: dt.date | None = None,
    requested_by: uuid.UUID | None = None,
    request_id: str | None = None,
) -> str:
    """Put a report job on the ``reports`` queue; return its job id (``report-<request_id>``).

    ``request_id`` (letters, digits, ``-`` and ``_``, at most 100) makes the job id predictable,
    so a second enqueue of the same request is the same job.
    """
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise ValueError("request_id must be 1-100 letters, digits, '-' or '_'")
    job = enqueue(
        render_property_report,
        str(org_id),
        str(property_id),
        str(deal_id) if deal_id else None,
        as_of.isoformat() if as_of else None,
        str(requested_by) if requested_by else None,
        request_id,
        queue=QUEUE,
        job_id=f"report-{request_id}" if request_id else None,
    )
    return str(job.id)
