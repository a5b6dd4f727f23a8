"""``POST /reports/generate``: find the property, record the request, enqueue the render job.

The report id returned is the request's id; the reports job (``workers.reports``) echoes it
as ``request_id`` in ``report.ready``, which fills in the stored PDF's document id, so
``GET /reports/{reportId}`` serves the PDF once it is rendered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session

from domain.auth.service import Principal, record_audit
from domain.property import service as property_service
from domain.property.errors import AddressParseError
from domain.whatsapp import service as whatsapp_service


class PropertyNotFound(LookupError):
    """No property of the organisation matches the id or address."""


class ReportUnavailable(RuntimeError):
    """The report job could not be queued (Redis unreachable)."""


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
        raise ReportUnavailable(
            f"The report job could not be queued ({type(exc).__name__}); try again shortly"
        ) from exc
    return RequestedReport(report_id=request.id, property_id=found, ready=False)
