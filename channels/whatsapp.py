"""The WhatsApp channel: Twilio's webhook, conversations, report generation and signed reports.

``POST /webhook/whatsapp`` checks Twilio's signature (against PUBLIC_BASE_URL, so a TLS proxy
in front changes nothing), stores the message once per MessageSid, enqueues the job that runs
the agent, and answers empty TwiML at once: Twilio gives a webhook 15 seconds in all.

Mounted after the finance router, so ``GET /reports/pnl`` stays the finance report and
``GET /reports/{reportId}`` only sees ids.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Security, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from channels import signing
from core.config import get_settings
from core.deps import SessionDep, bearer_scheme, require_roles
from core.paging import MAX_OFFSET
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import normalise_phone_number
from domain.auth.service import Principal
from domain.documents import service as documents_service
from domain.documents.api import content_disposition
from domain.documents.enums import DocumentKind
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.enums import ReportRequestStatus
from domain.whatsapp.service import InvalidInbound

log = logging.getLogger(__name__)

router = APIRouter(tags=["whatsapp"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
SIGNATURE_HEADER = "X-Twilio-Signature"


# --- the webhook -------------------------------------------------------------------------


def signed_url(request: Request) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + the path (+ the query), never the Host seen."""
    base = get_settings().public_base_url.rstrip("/")
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


async def twilio_form(request: Request) -> dict[str, str]:
    """A dependency: the form fields of a request Twilio signed; 403 for any other request."""
    token = get_settings().webhook_auth_token
    if not token:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Twilio webhooks are not configured here (TWILIO_AUTH_TOKEN is not set)",
        )
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail=f"Missing {SIGNATURE_HEADER}"
        )
    form = await request.form()
    params: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN, detail="Twilio does not upload files"
            )
        params[key] = value
    if not RequestValidator(token).validate(signed_url(request), params, signature):
        log.warning(
            "refused a Twilio webhook with a bad signature", extra={"path": request.url.path}
        )
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail=f"Invalid {SIGNATURE_HEADER}"
        )
    # Checked as sent; stored without NUL, which PostgreSQL text and JSON cannot hold (a 500).
    return {_visible_nul(key): _visible_nul(value) for key, value in params.items()}


def _visible_nul(text: str) -> str:
    """``text`` with each NUL byte shown as U+FFFD (the replacement character)."""
    return text.replace("\x00", "\ufffd")


TwilioForm = Annotated[dict[str, str], Depends(twilio_form)]


def _enqueue_inbound(accepted: whatsapp_service.AcceptedInbound) -> None:
    """Put the job for a newly stored message on the default queue (the sweeper backs it up)."""
    from workers import whatsapp as whatsapp_jobs
    from workers.queues import enqueue

    job = whatsapp_jobs.process_inbound if accepted.linked else whatsapp_jobs.process_unlinked
    try:
        enqueue(job, str(accepted.message_id), queue="default")
        whatsapp_jobs.schedule_sweeper()
    except Exception:
        # Stored already: the sweeper enqueues it again, so the message is not lost.
        log.exception("could not enqueue a WhatsApp message; the sweeper will retry it")


@router.post(
    "/webhook/whatsapp",
    summary="Twilio's WhatsApp webhook: store the message, answer empty TwiML at once",
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {}}, "description": "empty TwiML"},
        400: {"description": "not a WhatsApp message (no From or MessageSid)"},
        403: {"description": "missing or invalid X-Twilio-Signature"},
    },
)
def whatsapp_webhook(params: TwilioForm, session: SessionDep) -> Response:
    """Store the inbound message (once per MessageSid) and enqueue its processing."""
    try:
        inbound = whatsapp_service.parse_inbound(params)
    except InvalidInbound as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    accepted = whatsapp_service.accept_inbound(session=session, inbound=inbound)
    session.commit()
    if accepted.created:
        _enqueue_inbound(accepted)
    log.info(
        "whatsapp message accepted",
        extra={
            "message_id": str(accepted.message_id),
            "duplicate": not accepted.created,
            "linked": accepted.linked,
        },
    )
    return Response(content=EMPTY_TWIML, media_type="application/xml")


# --- conversations -----------------------------------------------------------------------


class MessageRead(BaseModel):
    """One message of a conversation."""

    id: uuid.UUID
    direction: str
    message_type: str
    status: str
    content: str | None
    media: list[dict[str, Any]]
    content_sid: str | None = Field(description="template sent outside the 24-hour window")
    error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    processed_at: dt.datetime | None


class ConversationRead(BaseModel):
    """A WhatsApp conversation with one page of its messages (the newest), oldest first."""

    id: uuid.UUID
    phone_number: str | None
    user_id: uuid.UUID | None
    status: str
    property_address: str | None
    report_url: str | None
    last_inbound_at: dt.datetime | None
    window_open: bool = Field(description="inside WhatsApp's 24-hour session window")
    messages: list[MessageRead] = Field(
        description="this page, oldest first (the same as items; the name from before paging)"
    )
    items: list[MessageRead] = Field(description="this page, oldest first (same as messages)")
    total: int = Field(description="messages in the conversation, over all pages")
    limit: int
    offset: int = Field(description="newest messages skipped before this page")


MAX_MESSAGE_LIMIT = 500  # messages on one page of a conversation


TeamPrincipal = Annotated[Principal, Depends(require_roles(Role.analyst))]


@router.get(
    "/conversations/{phoneNumber}",
    summary="The organisation's WhatsApp conversation with a number, its latest messages paged",
    description=(
        "Pages back from the newest message, as the team chat's history does: the page holds "
        "the `limit` newest messages (default 100, at most 500) after skipping the `offset` "
        "newest, listed oldest first; `offset` + `limit` loads the earlier page. Messages are "
        "ordered by (created_at, id), so none repeats or is skipped. `items` and `messages` "
        "both hold the page; `total` counts every message of the conversation."
    ),
    response_model=ConversationRead,
    responses={404: {"description": "no conversation"}, 422: {"description": "bad number"}},
)
def get_conversation(
    phone_number: Annotated[str, Path(alias="phoneNumber", description="E.164, e.g. +13135550100")],
    session: SessionDep,
    principal: TeamPrincipal,
    limit: Annotated[
        int, Query(ge=1, le=MAX_MESSAGE_LIMIT, description="messages on the page")
    ] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="newest messages to skip")] = 0,
) -> ConversationRead:
    """Messages in and out (the outbox included) with one number: the newest page, oldest first."""
    try:
        number = normalise_phone_number(phone_number.removeprefix("whatsapp:"))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    conversation = whatsapp_service.get_conversation(
        session=session, org_id=principal.org_id, phone_number=number
    )
    if conversation is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No WhatsApp conversation with {number} in your organisation",
        )
    return _conversation_read(session, principal.org_id, conversation, limit, offset)


def _conversation_read(
    session: Session, org_id: uuid.UUID, conversation: Any, limit: int, offset: int
) -> ConversationRead:
    """Render a conversation and one page of its messages."""
    messages = whatsapp_service.list_messages(
        session=session, org_id=org_id, conversation_id=conversation.id, limit=limit, offset=offset
    )
    page = [
        MessageRead(
            id=m.id,
            direction=str(m.direction),
            message_type=str(m.message_type),
            status=str(m.status),
            content=m.content,
            media=m.media,
            content_sid=m.content_sid,
            error=m.error,
            created_at=m.created_at,
            sent_at=m.sent_at,
            processed_at=m.processed_at,
        )
        for m in messages
    ]
    return ConversationRead(
        id=conversation.id,
        phone_number=conversation.phone_number,
        user_id=conversation.user_id,
        status=str(conversation.status),
        property_address=conversation.property_address,
        report_url=conversation.report_url,
        last_inbound_at=conversation.last_inbound_at,
        window_open=whatsapp_service.window_open(conversation),
        messages=page,
        items=page,
        total=whatsapp_service.count_messages(
            session=session, org_id=org_id, conversation_id=conversation.id
        ),
        limit=limit,
        offset=offset,
    )


# --- reports -----------------------------------------------------------------------------


def _report_not_found(report_id: uuid.UUID) -> HTTPException:
    """404 for a report that does not exist (one still rendering answers 202, not this)."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"No report {report_id}")


class ReportState(BaseModel):
    """A report that is not a PDF yet: still rendering (202), or it cannot be made (410)."""

    report_id: uuid.UUID
    status: str = Field(description="rendering or failed")
    detail: str | None = Field(default=None, description="why it failed")


def _serve_report(
    session: Session, org_id: uuid.UUID, report_id: uuid.UUID, principal: Principal | None = None
) -> Response:
    """Stream a stored report PDF (by document id or report-request id); 202 while rendering.

    ``principal``: the signed-in caller, who sees only the reports the documents policy lets
    them (an investor: their own, not another investor's); None for a signed link.
    """
    document_id = report_id
    if (
        documents_service.get_document(
            session=session, org_id=org_id, document_id=report_id, principal=principal
        )
        is None
    ):
        request = whatsapp_service.get_report_request(
            session=session, org_id=org_id, report_id=report_id
        )
        if request is None:
            raise _report_not_found(report_id)
        if request.status == ReportRequestStatus.failed:
            return JSONResponse(
                status_code=status.HTTP_410_GONE,
                content={
                    "report_id": str(report_id),
                    "status": "failed",
                    "detail": f"This report could not be made: {request.failure}",
                },
            )
        if request.document_id is None:
            return JSONResponse(
                status_code=status.HTTP_202_ACCEPTED,
                content={"report_id": str(report_id), "status": "rendering"},
            )
        document_id = request.document_id
    try:
        opened = documents_service.open_document(
            session=session, org_id=org_id, document_id=document_id, principal=principal
        )
    except documents_service.DocumentNotFound as exc:
        raise _report_not_found(report_id) from exc
    document = opened.document
    if document.kind != DocumentKind.report:
        raise _report_not_found(report_id)
    return StreamingResponse(
        opened.chunks,
        media_type=document.content_type,
        headers={
            "Content-Disposition": content_disposition(document.filename, "inline"),
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/reports/{reportId}",
    summary="A report PDF: with a signed link (no token needed) or a bearer token",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {}}},
        202: {"model": ReportState, "description": "the report is still rendering"},
        410: {"model": ReportState, "description": "the report could not be made (see detail)"},
        403: {"description": "the link's signature is invalid or expired, or a contractor's token"},
        404: {"description": "no such report (or not rendered yet)"},
    },
)
def get_report(
    report_id: Annotated[uuid.UUID, Path(alias="reportId", description="The report's id")],
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    sig: Annotated[str | None, Query(description="signature of a signed link")] = None,
    exp: Annotated[int | None, Query(description="expiry of a signed link (epoch s)")] = None,
    org: Annotated[uuid.UUID | None, Query(description="organisation of a signed link")] = None,
) -> Response:
    """Serve the PDF to a valid, unexpired signed link; else to a signed-in team member."""
    if sig is not None or exp is not None or org is not None:
        if (
            sig is None
            or exp is None
            or org is None
            or not signing.verify(org_id=org, document_id=report_id, expires_at=exp, signature=sig)
        ):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail="This report link is invalid or has expired; ask for the report again",
            )
        return _serve_report(session, org, report_id)
    if credentials is None or not credentials.credentials:
        # As every secured operation: no token is a 401 that asks for one.
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="A report needs a signed link (sig, exp, org) or "
            "'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = auth_service.resolve_token(session=session, token=credentials.credentials)
    if principal is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="The token is invalid, expired or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    # As ``get_current_principal``: keep the token's last use even when the answer is an error.
    session.commit()
    if principal.role == Role.contractor:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="A report needs a signed link (sig, exp, org) or a team member's bearer token",
        )
    return _serve_report(session, principal.org_id, report_id, principal)


class ReportGenerateRequest(BaseModel):
    """Which property to report on: its id, or an address to find it by."""

    model_config = ConfigDict(extra="forbid")

    property_id: uuid.UUID | None = None
    address: str | None = Field(default=None, min_length=3, max_length=300)

    @model_validator(mode="after")
    def _one_of(self) -> ReportGenerateRequest:
        """Require a property id or an address."""
        if self.property_id is None and not (self.address or "").strip():
            raise ValueError("give property_id or address")
        return self


class ReportGenerateResponse(BaseModel):
    """The report being rendered: its id, where it stands and (when ready) a signed link."""

    report_id: uuid.UUID
    property_id: uuid.UUID
    status: str = Field(description="queued (rendering on the reports queue) or ready")
    url: str | None = Field(description="a signed link to the PDF, valid for REPORT_URL_TTL_S")
    expires_at: int | None = None


ReportRequester = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]


@router.post(
    "/reports/generate",
    summary="Render a property analysis report (PDF) on the reports queue",
    response_model=ReportGenerateResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"description": "no such property"}, 422: {"description": "bad input"}},
)
def generate_report(
    body: ReportGenerateRequest, session: SessionDep, principal: ReportRequester
) -> ReportGenerateResponse:
    """Find the property, enqueue the report job, return the report's id and status."""
    from channels import reports_bridge

    try:
        requested = reports_bridge.request_report(
            session=session,
            principal=principal,
            property_id=body.property_id,
            address=body.address,
        )
    except reports_bridge.PropertyNotFound as exc:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except reports_bridge.ReportUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=str(exc),
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from exc
    link = (
        signing.report_url(requested.report_id, org_id=principal.org_id)
        if requested.ready
        else None
    )
    return ReportGenerateResponse(
        report_id=requested.report_id,
        property_id=requested.property_id,
        status="ready" if requested.ready else "queued",
        url=link.url if link else None,
        expires_at=link.expires_at if link else None,
    )
