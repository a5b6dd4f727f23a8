"""Vision API: analyse property photos, read a property's analyses, compare before and after.

Every route needs a signed-in admin, analyst or investor (contractors have no access).
Investors may submit photos as well as read results: they are the ones who text photos from
a walkthrough, and the agent submits them through the same service functions. Submitting is
audit-logged. An investor submits photos only of a property on no deal or on deals they own or
are on (403 otherwise, the rule of storing a valuation), and only stored photos they can read
(404 otherwise).

``POST /analyze/property-photos`` stores the photos, answers 202 with one queued analysis per
photo and leaves the work to a ``vision`` job. ``POST /analyze/component-condition`` analyses
one photo while the request waits (a nano classifier reads a photo in milliseconds; the model
is loaded once per API process, on first use) and answers 200 with the outcome; with
``wait=false`` it queues the photo like the batch route and answers 202. Either way the
outcome is stored: ``completed`` with a condition, ``not_configured`` when no model is set
(the message says how to set or train one), or ``failed`` with the reason (a photo that is
too large, not really an image, or damaged).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Response,
    UploadFile,
    status,
)

from core.config import get_settings
from core.deps import SessionDep, require_roles
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.vision import service
from domain.vision.enums import AnalysisStatus
from domain.vision.models import (
    BeforeAfterComparison,
    BeforeAfterRequest,
    ComponentConditionRead,
    ComponentConditionResult,
    PhotoAnalysisSubmission,
    PropertyAnalysisRead,
    PropertyVisionReport,
)
from workers.vision import enqueue_analyses

router = APIRouter(tags=["vision"])

Member = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]

_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such property, analysis or photo in your organisation"},
    422: {"description": "The request cannot be analysed as given; the message says why"},
}
_SUBMIT_ERRORS: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    403: {"description": "An investor named a property on a deal they are not on"},
}


def _http_error(error: service.VisionError) -> HTTPException:
    """404 for an unknown property, analysis or photo; 403 or 422 for a refused submission.

    403: a photo the caller may not add (``service.submit_photos`` with the principal: an
    investor's photo of another's deal's property); 422 for anything else.
    """
    if isinstance(error, service.VisionNotFoundError):
        return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error))
    if isinstance(error, service.VisionPermissionError):
        return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=str(error))
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error))


def _read_uploads(files: list[UploadFile]) -> list[service.PhotoUpload]:
    """Read each file, one byte past the limit: enough to know a file is too large.

    A refused photo (too large, not an image) becomes a failed analysis saying why, so each
    photo of a request has its stored outcome.
    """
    limit = get_settings().max_upload_bytes
    return [
        service.PhotoUpload(
            data=upload.file.read(limit + 1),
            filename=upload.filename,
            content_type=upload.content_type,
        )
        for upload in files
    ]


@router.post(
    "/analyze/property-photos",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PhotoAnalysisSubmission,
    summary="Queue photos of a property for condition analysis (upload or stored photo ids)",
    responses=_SUBMIT_ERRORS,
)
def analyze_property_photos(
    session: SessionDep,
    principal: Member,
    property_id: Annotated[uuid.UUID, Form(description="The property the photos show")],
    files: Annotated[
        list[UploadFile] | None, File(description="Photos: JPEG, PNG, WEBP or GIF, 5 MB each")
    ] = None,
    document_ids: Annotated[
        list[uuid.UUID] | None, Form(description="Ids of photos already stored as documents")
    ] = None,
) -> PhotoAnalysisSubmission:
    """Store the photos and queue one analysis each; a refused photo's analysis says why."""
    files = files or []
    uploads = _read_uploads(files)
    try:
        service.refuse_oversized_photos(uploads)
        analyses = service.submit_photos(
            session=session,
            org_id=principal.org_id,
            property_id=property_id,
            uploads=uploads,
            document_ids=document_ids or [],
            principal=principal,
        )
    except service.VisionError as exc:
        raise _http_error(exc) from exc
    session.commit()
    queued = [a.id for a in analyses if a.status == AnalysisStatus.queued]
    job_id = enqueue_analyses(principal.org_id, queued)
    return PhotoAnalysisSubmission(
        property_id=property_id,
        batch_id=analyses[0].batch_id or uuid.uuid4(),
        job_id=job_id,
        analyses=[PropertyAnalysisRead.model_validate(a) for a in analyses],
    )


@router.post(
    "/analyze/component-condition",
    response_model=ComponentConditionResult,
    summary="Assess one photo's component condition now (or queue it with wait=false)",
    responses={
        **_SUBMIT_ERRORS,
        202: {"model": ComponentConditionResult, "description": "Queued (wait=false)"},
    },
)
def analyze_component_condition(
    response: Response,
    session: SessionDep,
    principal: Member,
    property_id: Annotated[uuid.UUID, Form(description="The property the photo shows")],
    file: Annotated[UploadFile | None, File(description="One photo (5 MB at most)")] = None,
    document_id: Annotated[
        uuid.UUID | None, Form(description="Or the id of a photo already stored")
    ] = None,
    wait: Annotated[
        bool, Query(description="Analyse while the request waits (default) or queue it")
    ] = True,
) -> ComponentConditionResult:
    """Analyse one photo and return the component, condition, score and repair priority."""
    if (file is None) == (document_id is None):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="Send exactly one photo: a file or a document_id.",
        )
    uploads = _read_uploads([file]) if file is not None else []
    try:
        # As every photo upload: over the pixel limit is a 422, with nothing stored.
        service.refuse_oversized_photos(uploads)
        analyses = service.submit_photos(
            session=session,
            org_id=principal.org_id,
            property_id=property_id,
            uploads=uploads,
            document_ids=[document_id] if document_id is not None else [],
            principal=principal,
        )
        analysis = analyses[0]
        if wait:
            analysis = service.run_analysis(
                session=session, org_id=principal.org_id, analysis_id=analysis.id
            )
    except service.VisionError as exc:
        raise _http_error(exc) from exc
    session.commit()
    job_id = None
    if analysis.status == AnalysisStatus.queued:
        job_id = enqueue_analyses(principal.org_id, [analysis.id])
        response.status_code = status.HTTP_202_ACCEPTED
    condition = service.condition_for_analysis(
        session=session, org_id=principal.org_id, analysis_id=analysis.id
    )
    return ComponentConditionResult(
        analysis=PropertyAnalysisRead.model_validate(analysis),
        component_condition=ComponentConditionRead.model_validate(condition) if condition else None,
        job_id=job_id,
    )


@router.get(
    "/analysis/{propertyId}",
    response_model=PropertyVisionReport,
    summary="A property's photo analyses and component conditions, newest first",
    responses=_ERRORS,
)
def property_analysis(
    property_id: Annotated[uuid.UUID, Path(alias="propertyId", description="The property")],
    session: SessionDep,
    principal: Member,
) -> PropertyVisionReport:
    """Every analysis and component condition of the property, and the latest per component."""
    try:
        return service.property_report(
            session=session, org_id=principal.org_id, property_id=property_id
        )
    except service.VisionError as exc:
        raise _http_error(exc) from exc


@router.post(
    "/compare/before-after",
    response_model=BeforeAfterComparison,
    summary="Which components improved, worsened or stayed the same between two photo sets",
    responses=_ERRORS,
)
def compare_before_after(
    body: BeforeAfterRequest, session: SessionDep, principal: Member
) -> BeforeAfterComparison:
    """Compare before and after photos of one property (construction progress)."""
    try:
        return service.compare_before_after(session=session, org_id=principal.org_id, request=body)
    except service.VisionError as exc:
        raise _http_error(exc) from exc
