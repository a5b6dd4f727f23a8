"""Audio API: walkthrough voice notes → transcripts → component conditions → rehab estimate."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import Field as ApiField

from core.config import get_settings
from core.deps import SessionDep, require_roles
from domain.audio import service
from domain.audio.enums import Condition
from domain.audio.extraction import Finding
from domain.audio.models import (
    ConditionRead,
    ExtractConditionsRequest,
    ParseComponentsRequest,
    TranscriptSegment,
    Walkthrough,
    WalkthroughRead,
)
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.documents import service as documents_service
from domain.documents.enums import RejectionReason

log = logging.getLogger(__name__)

router = APIRouter(tags=["audio"])

# Investors read transcripts and run the extractor on text; admins and analysts start
# transcriptions and re-extract stored ones; contractors neither.
Reader = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]
Writer = Annotated[Principal, Depends(require_roles(Role.analyst))]

_REJECTION_STATUS = {
    RejectionReason.empty: 422,
    RejectionReason.too_large: 413,
    RejectionReason.unsupported_type: 415,
    RejectionReason.type_not_allowed: 415,
    RejectionReason.type_mismatch: 415,
    RejectionReason.invalid_kind: 422,
    RejectionReason.invalid_link: 422,
}


class FindingRead(BaseModel):
    """A component heard in the narration (not stored)."""

    component: str = ApiField(description="as heard, e.g. 'roof', 'kitchen cabinets'")
    component_key: str = ApiField(description="the pricing catalogue's key")
    component_name: str = ApiField(description="the pricing catalogue's name")
    condition: Condition | None
    confidence: Decimal
    quantity: Decimal | None
    unit: str | None = ApiField(description="None: a count of the component")
    notes: str = ApiField(description="the sentence it was heard in")
    timestamp_seconds: int | None
    cues: list[str] = ApiField(description="the words that set the condition")


class ExtractConditionsResponse(BaseModel):
    """What ``POST /extract/conditions`` found, and the rehab estimate it prices to."""

    transcript_id: uuid.UUID | None
    method: str = ApiField(description="deterministic (no language model)")
    conditions: list[FindingRead]
    rehab_estimate: dict[str, Any]


class ComponentRead(BaseModel):
    """A catalogue component named in a text, with a quantity if one was said."""

    component: str
    component_key: str
    component_name: str
    quantity: Decimal | None
    unit: str | None
    notes: str


class ParseComponentsResponse(BaseModel):
    """The components ``POST /parse/components`` found."""

    components: list[ComponentRead]


def _finding(finding: Finding) -> FindingRead:
    return FindingRead(
        component=finding.component,
        component_key=finding.component_key,
        component_name=finding.component_name,
        condition=finding.condition,
        confidence=finding.confidence,
        quantity=finding.quantity,
        unit=finding.unit,
        notes=finding.notes,
        timestamp_seconds=finding.timestamp_seconds,
        cues=finding.cue_texts,
    )


def _read(session: SessionDep, walkthrough: Walkthrough) -> WalkthroughRead:
    conditions = service.list_conditions(
        session=session, org_id=walkthrough.org_id, walkthrough_id=walkthrough.id
    )
    return WalkthroughRead.model_validate(
        {
            **walkthrough.model_dump(),
            "segments": [TranscriptSegment.model_validate(s) for s in walkthrough.segments],
            "conditions": [ConditionRead.model_validate(c) for c in conditions],
        }
    )


@router.post(
    "/transcribe/walkthrough",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WalkthroughRead,
    summary="Transcribe a walkthrough voice note (upload it, or name a stored one)",
    responses={
        403: {"description": "Not an admin or analyst, or a property you may not add notes of"},
        404: {"description": "No such property or document in your organisation"},
        413: {"description": "The file is larger than a voice note may be (16 MB)"},
        415: {"description": "The file is not audio (OGG/Opus, MP3, WAV, M4A, AAC, AMR)"},
        422: {"description": "Neither or both of file and document_id, or not a voice note"},
    },
)
def transcribe_walkthrough(
    session: SessionDep,
    principal: Writer,
    property_id: Annotated[uuid.UUID, Form(description="The property walked through")],
    file: Annotated[
        UploadFile | None, File(description="The recording: OGG/Opus, MP3, WAV, M4A ...")
    ] = None,
    document_id: Annotated[
        uuid.UUID | None, Form(description="A stored voice note's document id, instead")
    ] = None,
) -> WalkthroughRead | JSONResponse:
    """Queue the transcription; poll ``GET /transcripts/{id}`` for the result.

    The job transcribes the recording with Whisper (segments with timestamps, duration,
    language), extracts the components and their conditions, and prices the rehab from the
    organisation's cost book. A recording that cannot be transcribed ends ``failed`` with
    the reason in ``error``.
    """
    if (file is None) == (document_id is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Send either a file (the recording) or document_id (a stored voice note), not both.",
        )
    try:
        if file is not None:
            limit = get_settings().max_upload_bytes
            document = service.store_recording(
                session=session,
                org_id=principal.org_id,
                data=file.file.read(limit + 1),
                filename=file.filename,
                content_type=file.content_type,
                property_id=property_id,
                uploaded_by=principal.user_id,
            )
            document_id = document.id
        assert document_id is not None
        walkthrough = service.start_walkthrough(
            session=session,
            org_id=principal.org_id,
            property_id=property_id,
            document_id=document_id,
            actor=principal,
        )
    except documents_service.DocumentRejected as exc:
        return JSONResponse(
            status_code=_REJECTION_STATUS[exc.reason],
            content={"detail": exc.message, "reason": exc.reason.value},
        )
    except service.EvidenceNotPermitted as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except (service.PropertyMissing, service.RecordingMissing) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.InvalidWalkthroughInput as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    session.commit()
    from workers.audio import enqueue_transcription

    try:
        enqueue_transcription(principal.org_id, walkthrough.id, str(walkthrough.job_id))
    except Exception:
        # Stored and queued in the database: a worker's start-up sweep enqueues it again.
        log.exception(
            "could not enqueue transcription", extra={"walkthrough_id": str(walkthrough.id)}
        )
    return _read(session, walkthrough)


@router.get(
    "/transcripts/{id}",
    response_model=WalkthroughRead,
    summary="A walkthrough's transcript, segments, status, conditions and rehab estimate",
    responses={404: {"description": "No such transcript in your organisation"}},
)
def get_transcript(id: uuid.UUID, session: SessionDep, principal: Reader) -> WalkthroughRead:
    """The walkthrough as far as it got: ``status``, and ``error`` if it failed."""
    try:
        walkthrough = service.get_walkthrough(
            session=session, org_id=principal.org_id, walkthrough_id=id
        )
    except service.WalkthroughNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return _read(session, walkthrough)


@router.post(
    "/extract/conditions",
    response_model=ExtractConditionsResponse,
    summary="Extract component conditions from a transcript or text, and price the rehab",
    responses={
        403: {"description": "Re-extracting a stored transcript needs the analyst role"},
        404: {"description": "No such transcript in your organisation"},
        422: {"description": "Neither or both of transcript_id and text, or no text yet"},
    },
)
def extract_conditions(
    body: ExtractConditionsRequest, session: SessionDep, principal: Reader
) -> ExtractConditionsResponse:
    """Run the (deterministic) extractor now.

    With ``transcript_id`` the stored conditions and estimate of that walkthrough are
    replaced (analysts and admins); with ``text`` nothing is stored.
    """
    if body.transcript_id is not None:
        if not (principal.is_admin or principal.has_role(Role.analyst)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Re-extracting a stored transcript needs one of the roles: admin, analyst "
                f"(you are {principal.role.value}); send text instead to try the extractor.",
            )
        try:
            result = service.extract_and_estimate(
                session=session,
                org_id=principal.org_id,
                walkthrough_id=body.transcript_id,
                actor=principal,
                complete=False,
            )
        except service.WalkthroughNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except service.InvalidWalkthroughInput as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        findings = result.findings
        session.commit()
        return ExtractConditionsResponse(
            transcript_id=body.transcript_id,
            method=result.method,
            conditions=[_finding(f) for f in findings],
            rehab_estimate=result.rehab_estimate,
        )
    findings = service.extract_from_text(body.text or "")
    estimate = service.estimate_for_findings(
        session=session,
        org_id=principal.org_id,
        findings=findings,
        narrated_area=service.narrated_area_in_text(body.text or ""),
        not_priced=service.not_priced_in_text(body.text or ""),
    )
    session.commit()  # the organisation's cost book is created on first use
    return ExtractConditionsResponse(
        transcript_id=None,
        method=service.EXTRACTION_METHOD,
        conditions=[_finding(f) for f in findings],
        rehab_estimate=estimate,
    )


@router.post(
    "/parse/components",
    response_model=ParseComponentsResponse,
    summary="The catalogue components a text names, with quantities (nothing stored)",
)
def parse_components(body: ParseComponentsRequest, principal: Reader) -> ParseComponentsResponse:
    """Find the components ("roof", "twelve windows", "20 squares of shingles") in text."""
    return ParseComponentsResponse(
        components=[
            ComponentRead(
                component=f.component,
                component_key=f.component_key,
                component_name=f.component_name,
                quantity=f.quantity,
                unit=f.unit,
                notes=f.notes,
            )
            for f in service.parse_components(body.text)
        ]
    )
