"""Documents API: upload a file, list and read metadata, download the bytes, delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import (
    APIRouter,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse, Response, StreamingResponse

from core.config import get_settings
from core.deps import CurrentPrincipal, SessionDep
from core.location import LOCATION_201, CreatedLocation
from core.paging import Offset, send_total, total_count
from domain.auth.enums import Role
from domain.documents import service
from domain.documents.enums import DocumentKind, DocumentSource, RejectionReason
from domain.documents.models import DocumentRead

router = APIRouter(tags=["documents"])

# Room for the multipart boundaries and the form fields around the file itself.
_MULTIPART_OVERHEAD_BYTES = 64 * 1024

_REJECTION_STATUS = {
    RejectionReason.empty: 422,
    RejectionReason.too_large: 413,
    RejectionReason.unsupported_type: 415,
    RejectionReason.type_not_allowed: 415,
    RejectionReason.type_mismatch: 415,
    RejectionReason.invalid_kind: 422,
    RejectionReason.invalid_link: 422,
    RejectionReason.too_many_pixels: 422,
}

_NOT_FOUND = "Document not found"


def _rejected(reason: RejectionReason, message: str) -> JSONResponse:
    """Build the error response for a refused upload: the message and a machine-readable code."""
    return JSONResponse(
        status_code=_REJECTION_STATUS[reason], content={"detail": message, "reason": reason.value}
    )


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """Build a ``Content-Disposition`` header: an ASCII fallback name plus the UTF-8 name."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post(
    "/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    summary="Upload a document (its format is read from its bytes)",
    responses={
        403: {"description": "A contractor named a deal or a property (they have no access)"},
        404: {"description": "The deal, project or property named is not one you can open"},
        413: {"description": "The file is larger than its type allows"},
        415: {"description": "The file's format is not accepted, or not the one declared"},
        422: {
            "description": "The file is empty, the form is incomplete, kind=report, "
            "entity_type is not deal, project or property, or an image is over 50 megapixels"
        },
        **LOCATION_201,
    },
)
def upload_document(
    request: Request,
    location: CreatedLocation,
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="The file: a photo, voice note, PDF ...")],
    kind: Annotated[DocumentKind, Form(description="What the file is")],
    entity_type: Annotated[
        str | None, Form(description="What it belongs to: deal, project or property")
    ] = None,
    entity_id: Annotated[uuid.UUID | None, Form(description="The id of that entity")] = None,
) -> DocumentRead | JSONResponse:
    """Upload a file; its format is read from its bytes and checked against its kind."""
    limit = get_settings().max_upload_bytes
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > limit + _MULTIPART_OVERHEAD_BYTES:
        return _rejected(
            RejectionReason.too_large,
            f"The upload is {service.human_size(int(declared_length))}; the most dealdesk "
            f"accepts is {service.human_size(limit)}.",
        )
    if kind == DocumentKind.report:
        # Reports are the PDFs dealdesk renders (GET /reports/{id} serves them as such).
        return _rejected(
            RejectionReason.invalid_kind,
            "kind=report is kept for the reports dealdesk generates (POST /reports/generate); "
            "upload your file as kind=other (or contract, receipt).",
        )
    try:
        # Before any byte is kept: a deal, project or property the caller cannot open is
        # "not found", as in the deal and project APIs.
        service.check_linked_deal(
            session=session,
            org_id=principal.org_id,
            entity_type=entity_type or None,
            entity_id=entity_id,
            principal=principal,
        )
    except service.LinkedDealNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except service.LinkedDealForbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    except service.DocumentRejected as exc:  # an entity type uploads cannot be linked to
        return _rejected(exc.reason, exc.message)
    # Read one byte past the limit: enough to know a file is too large without holding more.
    data = file.file.read(limit + 1)
    try:
        document = service.store_document(
            session=session,
            org_id=principal.org_id,
            data=data,
            filename=file.filename,
            declared_content_type=file.content_type,
            kind=kind,
            source=DocumentSource.upload,
            entity_type=entity_type or None,
            entity_id=entity_id,
            uploaded_by=principal.user_id,
        )
    except service.DocumentRejected as exc:
        return _rejected(exc.reason, exc.message)
    session.commit()
    location.created(document.id)
    return DocumentRead.model_validate(document)


@router.get(
    "/documents",
    response_model=list[DocumentRead],
    summary="List the documents you may see, newest first (X-Total-Count: number matching)",
    responses=total_count("documents"),
)
def list_documents(
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: DocumentKind | None = None,
    source: DocumentSource | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[DocumentRead]:
    """List the organisation's documents the caller may see, newest first.

    Admins and analysts see all; an investor their own uploads and reports, their deals'
    documents and the non-report documents of those deals' properties and projects; a
    contractor only their own uploads.
    """
    documents = service.list_documents(
        session=session,
        org_id=principal.org_id,
        kind=kind,
        source=source,
        entity_type=entity_type,
        entity_id=entity_id,
        limit=limit,
        offset=offset,
        principal=principal,
    )
    total = service.count_documents(
        session=session,
        org_id=principal.org_id,
        kind=kind,
        source=source,
        entity_type=entity_type,
        entity_id=entity_id,
        principal=principal,
    )
    send_total(response, total)
    return [DocumentRead.model_validate(d) for d in documents]


@router.get(
    "/documents/{document_id}",
    response_model=DocumentRead,
    summary="Read a document's metadata",
    responses={404: {"description": "No such document that you may see"}},
)
def get_document(
    document_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> DocumentRead:
    """Return one document's metadata."""
    document = service.get_document(
        session=session, org_id=principal.org_id, document_id=document_id, principal=principal
    )
    if document is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)
    return DocumentRead.model_validate(document)


@router.get(
    "/documents/{document_id}/content",
    response_class=StreamingResponse,
    summary="Download a document's bytes",
    responses={
        200: {"content": {"application/octet-stream": {}}},
        404: {"description": "No such document that you may see"},
    },
)
def download_document(
    document_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    disposition: Literal["attachment", "inline"] = "attachment",
) -> StreamingResponse:
    """Stream the file's bytes with its stored content type and sanitised name."""
    try:
        opened = service.open_document(
            session=session, org_id=principal.org_id, document_id=document_id, principal=principal
        )
    except service.DocumentNotFound as exc:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND) from exc
    document = opened.document
    return StreamingResponse(
        opened.chunks,
        media_type=document.content_type,
        headers={
            "Content-Disposition": content_disposition(document.filename, disposition),
            "Content-Length": str(document.size_bytes),
            "ETag": f'"{document.sha256}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=0",
        },
    )


@router.delete(
    "/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a document (a project photo backed by it goes too)",
    responses={
        403: {"description": "Only admins, analysts or the uploader may delete it"},
        404: {"description": "No such document that you may see"},
    },
)
def delete_document(
    document_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    """Delete a document: admins and analysts may delete any, others only their own uploads.

    A project photo backed by the document is removed in the same transaction, so no
    project keeps listing a photo whose bytes are gone.
    """
    document = service.get_document(
        session=session, org_id=principal.org_id, document_id=document_id, principal=principal
    )
    if document is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_NOT_FOUND)
    if not (
        principal.has_role(Role.admin, Role.analyst) or document.uploaded_by == principal.user_id
    ):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Only admins, analysts or the person who uploaded it may delete a document",
        )
    service.delete_document(session=session, org_id=principal.org_id, document_id=document_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
