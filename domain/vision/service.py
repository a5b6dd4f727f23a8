"""Photo condition analysis: accept photos, run the classifier, store and compare results.

The life of an analysis: ``submit_photos`` stores each photo through the documents service and
adds one ``queued`` analysis per photo (a photo the documents service refuses gets a ``failed``
analysis carrying the refusal); ``run_analysis`` (a ``vision`` job, or inline) reads the photo,
classifies it and completes the analysis with a component condition, or records why it could
not: ``not_configured`` when no model is configured (never an invented condition), ``failed``
with the reason for an unreadable photo or an unusable model. Every finished analysis publishes
``photo.analysis.completed`` (its ``status`` says how it ended); every assessed component
publishes ``condition.assessed``.

How a condition and the model's confidence become a component condition (``assess``):

- score = 50 + (anchor − 50) × confidence, anchors excellent 100, good 80, fair 50, poor 10:
  a sure verdict sits at its anchor, an unsure one is pulled toward the middle;
- replacement needed: poor with confidence ≥ 0.60;
- repair priority: poor → high (medium when confidence < 0.60), fair → medium, good and
  excellent → low.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import Session, col, select

from core.clock import local_day
from domain.analysis.models import ObservedConditions
from domain.auth.service import Principal, record_audit
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.pricing.models import ComponentInput
from domain.property import service as property_service
from domain.property.errors import PropertyNotFoundError
from domain.vision import model
from domain.vision.enums import AnalysisStatus, Condition, ConditionChange, RepairPriority
from domain.vision.models import (
    BeforeAfterComparison,
    BeforeAfterRequest,
    ComponentComparison,
    ComponentCondition,
    ComponentConditionRead,
    ComponentSnapshot,
    PropertyAnalysis,
    PropertyAnalysisRead,
    PropertyVisionReport,
)
from store.base import utcnow
from store.outbox import publish

log = logging.getLogger(__name__)

ENTITY = "property_analysis"
MAX_PHOTOS_PER_REQUEST = 20
SCORE_ANCHORS = {
    Condition.excellent: 100,
    Condition.good: 80,
    Condition.fair: 50,
    Condition.poor: 10,
}
CONDITION_RANK = {Condition.poor: 0, Condition.fair: 1, Condition.good: 2, Condition.excellent: 3}
REPLACEMENT_CONFIDENCE = 0.60
LOW_CONFIDENCE = 0.50

ClassifierLoader = Callable[[], model.ConditionClassifier]


class VisionError(Exception):
    """Base class of the vision module's errors."""


class VisionNotFoundError(VisionError, LookupError):
    """No such property, analysis or document in this organisation."""


class VisionValidationError(VisionError, ValueError):
    """The request cannot be analysed as given; the message says why."""


class VisionPermissionError(VisionError, PermissionError):
    """The caller may not add photos of this property (403); the message says why."""


@dataclass(frozen=True)
class PhotoUpload:
    """A photo as received: its bytes, the sender's file name and declared content type."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


def refuse_oversized_photos(uploads: Sequence[PhotoUpload]) -> None:
    """``VisionValidationError`` (422) when a photo is over the documents' pixel limit.

    For an upload made through the API: refused at once, naming the photo, rather than
    queued to fail in the worker (``documents_service.check_image_pixels``, the check every
    photo upload runs).
    """
    for upload in uploads:
        try:
            documents_service.check_image_pixels(upload.data)
        except documents_service.DocumentRejected as exc:
            raise VisionValidationError(f"{upload.filename or 'photo'}: {exc.message}") from exc


# --- assessment (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """A component condition derived from a condition and a confidence, with how it was derived."""

    condition: Condition
    confidence: float
    condition_score: int
    replacement_needed: bool
    repair_priority: RepairPriority
    explanation: str


def assess(condition: Condition, confidence: float) -> Assessment:
    """Score a condition verdict 0-100 and decide replacement and repair priority."""
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    condition = Condition(condition)  # rows read back hold plain strings
    anchor = SCORE_ANCHORS[condition]
    score = int(
        (Decimal(50) + (Decimal(anchor) - 50) * Decimal(str(confidence))).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )
    sure = confidence >= REPLACEMENT_CONFIDENCE
    replacement = condition == Condition.poor and sure
    if condition == Condition.poor:
        priority = RepairPriority.high if sure else RepairPriority.medium
    elif condition == Condition.fair:
        priority = RepairPriority.medium
    else:
        priority = RepairPriority.low
    explanation = (
        f"{condition.value} at confidence {confidence:.2f}: score = 50 + ({anchor} − 50) × "
        f"{confidence:.2f} = {score}; replacement needed: {'yes' if replacement else 'no'} "
        f"(poor at confidence ≥ {REPLACEMENT_CONFIDENCE:.2f}); repair priority {priority.value}"
    )
    return Assessment(condition, confidence, score, replacement, priority, explanation)


def issues_for(component: str, condition: Condition, confidence: float) -> list[dict[str, Any]]:
    """The issues a verdict implies: wear or failure, and a low-confidence flag."""
    issues: list[dict[str, Any]] = []
    name = component.replace("_", " ")
    if condition == Condition.poor:
        issues.append(
            {
                "issue": "poor_condition",
                "component": component,
                "detail": f"The {name} looks in poor condition: replacement or major repair.",
            }
        )
    elif condition == Condition.fair:
        issues.append(
            {
                "issue": "wear",
                "component": component,
                "detail": f"The {name} shows wear: repair likely.",
            }
        )
    if confidence < LOW_CONFIDENCE:
        issues.append(
            {
                "issue": "low_confidence",
                "component": component,
                "detail": f"The model is unsure ({confidence:.2f}); have a person check the photo.",
            }
        )
    return issues


def _confidence_decimal(confidence: float) -> Decimal:
    """A probability as the stored DECIMAL(3,2)."""
    return Decimal(str(confidence)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- reading --------------------------------------------------------------------------------


def _require_property(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> None:
    """Raise ``VisionNotFoundError`` unless the organisation has this property."""
    try:
        property_service.require(session=session, org_id=org_id, property_id=property_id)
    except PropertyNotFoundError as exc:
        raise VisionNotFoundError(f"property {property_id} not found") from exc


def get_analysis(
    *, session: Session, org_id: uuid.UUID, analysis_id: uuid.UUID
) -> PropertyAnalysis | None:
    """The organisation's analysis with this id, or None."""
    return session.exec(
        select(PropertyAnalysis).where(
            PropertyAnalysis.id == analysis_id, PropertyAnalysis.org_id == org_id
        )
    ).first()


def list_analyses(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> list[PropertyAnalysis]:
    """A property's photo analyses, newest first."""
    return list(
        session.exec(
            select(PropertyAnalysis)
            .where(PropertyAnalysis.org_id == org_id, PropertyAnalysis.property_id == property_id)
            .order_by(col(PropertyAnalysis.created_at).desc(), col(PropertyAnalysis.id))
        ).all()
    )


def list_component_conditions(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> list[ComponentCondition]:
    """A property's component condition assessments, newest first."""
    return list(
        session.exec(
            select(ComponentCondition)
            .where(
                ComponentCondition.org_id == org_id, ComponentCondition.property_id == property_id
            )
            .order_by(col(ComponentCondition.created_at).desc(), col(ComponentCondition.id))
        ).all()
    )


def property_report(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> PropertyVisionReport:
    """Everything known about a property's photos: analyses, conditions, latest per component."""
    _require_property(session=session, org_id=org_id, property_id=property_id)
    conditions = list_component_conditions(session=session, org_id=org_id, property_id=property_id)
    latest: dict[str, ComponentCondition] = {}
    for row in conditions:  # newest first: the first seen of each component is its latest
        if row.component_name is not None:
            latest.setdefault(row.component_name, row)
    return PropertyVisionReport(
        property_id=property_id,
        model_configured=model.is_configured(),
        analyses=[
            PropertyAnalysisRead.model_validate(a)
            for a in list_analyses(session=session, org_id=org_id, property_id=property_id)
        ],
        component_conditions=[ComponentConditionRead.model_validate(c) for c in conditions],
        latest_by_component=[
            ComponentConditionRead.model_validate(c)
            for c in sorted(latest.values(), key=lambda c: c.component_name or "")
        ],
    )


# --- submitting -----------------------------------------------------------------------------


def _photo_url(document_id: uuid.UUID) -> str:
    """Where the API serves the photo's bytes."""
    return f"/api/v1/documents/{document_id}/content"


def _photo_document(
    *,
    session: Session,
    org_id: uuid.UUID,
    document_id: uuid.UUID,
    principal: Principal | None = None,
) -> Any:
    """The organisation's stored image with this id; not found or not an image raise.

    With a ``principal``, a photo they cannot read (``GET /documents/{id}`` is 404) is not
    found either.
    """
    document = documents_service.get_document(
        session=session, org_id=org_id, document_id=document_id, principal=principal
    )
    if document is None:
        raise VisionNotFoundError(f"document {document_id} not found")
    if not document.content_type.startswith("image/"):
        raise VisionValidationError(
            f"document {document_id} is {document.content_type}, not a photo; only images "
            "can be analysed"
        )
    return document


def submit_photos(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    uploads: Sequence[PhotoUpload] = (),
    document_ids: Sequence[uuid.UUID] = (),
    principal: Principal | None = None,
    source: DocumentSource = DocumentSource.upload,
    source_event_id: uuid.UUID | None = None,
) -> list[PropertyAnalysis]:
    """Store new photos and add one queued analysis per photo (caller commits and enqueues).

    Stored photos named by ``document_ids`` are analysed as they are. A new photo the documents
    service refuses (too large, not really an image ...) gets a ``failed`` analysis with the
    refusal, so the caller learns about each photo; unknown document ids refuse the request.

    With a ``principal`` (a person submitting: REST, WhatsApp) the rule of adding evidence
    applies (``audio_service.check_may_add_evidence``): an investor only of a property on no
    deal or on deals they own or are on, contractors never (``VisionPermissionError``), and
    only stored photos the principal can read (``VisionNotFoundError`` otherwise), each of
    this property (``audio_service.claim_evidence``: ``VisionValidationError`` for one of
    another property; one linked to none is linked to this one).
    """
    from domain.audio import service as audio_service  # late: keeps the modules apart

    _require_property(session=session, org_id=org_id, property_id=property_id)
    try:
        audio_service.check_may_add_evidence(
            session=session,
            org_id=org_id,
            principal=principal,
            property_id=property_id,
            what="photos",
        )
    except audio_service.EvidenceNotPermitted as exc:
        raise VisionPermissionError(str(exc)) from exc
    document_ids = list(dict.fromkeys(document_ids))
    if not uploads and not document_ids:
        raise VisionValidationError("Send at least one photo or the id of a stored photo.")
    if len(uploads) + len(document_ids) > MAX_PHOTOS_PER_REQUEST:
        raise VisionValidationError(
            f"At most {MAX_PHOTOS_PER_REQUEST} photos per request; "
            f"this one has {len(uploads) + len(document_ids)}."
        )
    documents = [
        _photo_document(
            session=session, org_id=org_id, document_id=document_id, principal=principal
        )
        for document_id in document_ids
    ]
    if principal is not None:
        for document in documents:
            try:
                audio_service.claim_evidence(
                    session=session,
                    org_id=org_id,
                    property_id=property_id,
                    document=document,
                    what="photo",
                )
            except audio_service.EvidenceOfAnotherProperty as exc:
                raise VisionValidationError(str(exc)) from exc
    batch_id = uuid.uuid4()
    analyses: list[PropertyAnalysis] = []

    def queued(document: Any) -> PropertyAnalysis:
        return PropertyAnalysis(
            org_id=org_id,
            property_id=property_id,
            document_id=document.id,
            photo_url=_photo_url(document.id),
            batch_id=batch_id,
            source_event_id=source_event_id,
            status=AnalysisStatus.queued,
        )

    analyses.extend(queued(document) for document in documents)
    for upload in uploads:
        try:
            document = documents_service.store_document(
                session=session,
                org_id=org_id,
                data=upload.data,
                filename=upload.filename,
                declared_content_type=upload.content_type,
                kind=DocumentKind.photo,
                source=source,
                entity_type="property",
                entity_id=property_id,
                uploaded_by=principal.user_id if principal else None,
            )
        except documents_service.DocumentRejected as exc:
            refused = PropertyAnalysis(
                org_id=org_id,
                property_id=property_id,
                batch_id=batch_id,
                source_event_id=source_event_id,
            )
            _finish(
                session,
                refused,
                status=AnalysisStatus.failed,
                error=f"{upload.filename or 'photo'}: {exc.message}",
            )
            analyses.append(refused)
        else:
            analyses.append(queued(document))
    session.add_all(analyses)
    session.flush()
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="submit_photos",
            entity=ENTITY,
            entity_id=batch_id,
            changes={
                "property_id": str(property_id),
                "analysis_ids": [str(a.id) for a in analyses],
                "document_ids": [str(a.document_id) for a in analyses if a.document_id],
            },
        )
    return analyses


# --- running --------------------------------------------------------------------------------


def _finish(
    session: Session,
    analysis: PropertyAnalysis,
    *,
    status: AnalysisStatus,
    error: str | None = None,
) -> None:
    """Close an analysis with its outcome and publish ``photo.analysis.completed``."""
    analysis.status = status
    analysis.error = error
    analysis.completed_at = utcnow()
    session.add(analysis)
    session.flush()
    publish(
        session,
        org_id=analysis.org_id,
        name="photo.analysis.completed",
        payload={
            "analysis_id": analysis.id,
            "property_id": analysis.property_id,
            "document_id": analysis.document_id,
            "batch_id": analysis.batch_id,
            "status": status.value,
            "component": analysis.component,
            "condition": Condition(analysis.condition).value if analysis.condition else None,
            "confidence_score": analysis.confidence_score,
            "error": error,
            "model": analysis.model_ref,
        },
    )


def _complete(
    session: Session, analysis: PropertyAnalysis, result: model.Classification
) -> ComponentCondition:
    """Record a classification on the analysis and the component condition it implies."""
    top = result.top
    assessment = assess(top.condition, top.confidence)
    analysis.component = top.component
    analysis.condition = top.condition
    analysis.confidence_score = _confidence_decimal(top.confidence)
    analysis.issues_detected = issues_for(top.component, top.condition, top.confidence)
    analysis.predictions = [p.as_dict() for p in result.predictions]
    analysis.model_ref = result.model_ref
    condition = ComponentCondition(
        org_id=analysis.org_id,
        property_id=analysis.property_id,
        analysis_id=analysis.id,
        component_name=top.component,
        condition=top.condition,
        condition_score=assessment.condition_score,
        replacement_needed=assessment.replacement_needed,
        repair_priority=assessment.repair_priority,
        notes=f"From photo analysis {analysis.id} ({result.model_ref}): {assessment.explanation}.",
    )
    session.add(condition)
    _finish(session, analysis, status=AnalysisStatus.completed)
    publish(
        session,
        org_id=analysis.org_id,
        name="condition.assessed",
        payload={
            "component_condition_id": condition.id,
            "analysis_id": analysis.id,
            "property_id": analysis.property_id,
            "component_name": condition.component_name,
            "condition": top.condition.value,
            "confidence_score": analysis.confidence_score,
            "condition_score": condition.condition_score,
            "replacement_needed": condition.replacement_needed,
            "repair_priority": assessment.repair_priority.value,
        },
    )
    return condition


def run_analysis(
    *,
    session: Session,
    org_id: uuid.UUID,
    analysis_id: uuid.UUID,
    load_classifier: ClassifierLoader = model.get_classifier,
) -> PropertyAnalysis:
    """Analyse one queued photo and store the outcome; an analysis already finished is returned.

    Bad photos and unusable models end as a ``failed`` analysis with the reason (no exception);
    database errors propagate so the job is retried.
    """
    analysis = session.exec(
        select(PropertyAnalysis)
        .where(PropertyAnalysis.id == analysis_id, PropertyAnalysis.org_id == org_id)
        .with_for_update()
    ).first()
    if analysis is None:
        raise VisionNotFoundError(f"analysis {analysis_id} not found")
    if analysis.status != AnalysisStatus.queued:
        return analysis
    if analysis.document_id is None:
        _finish(session, analysis, status=AnalysisStatus.failed, error="The analysis has no photo.")
        return analysis
    try:
        data = documents_service.read_document_bytes(
            session=session, org_id=org_id, document_id=analysis.document_id
        )
        image = model.decode_image(data)
    except documents_service.DocumentNotFound:
        _finish(
            session,
            analysis,
            status=AnalysisStatus.failed,
            error=f"The photo (document {analysis.document_id}) is no longer stored.",
        )
        return analysis
    except documents_service.DocumentCorrupted as exc:
        error = f"The photo is damaged: {exc}"
        _finish(session, analysis, status=AnalysisStatus.failed, error=error)
        return analysis
    except model.UnreadableImage as exc:
        _finish(session, analysis, status=AnalysisStatus.failed, error=str(exc))
        return analysis
    try:
        classifier = load_classifier()
    except model.ModelNotConfigured as exc:
        _finish(session, analysis, status=AnalysisStatus.not_configured, error=str(exc))
        return analysis
    except model.ModelLoadError as exc:
        _finish(session, analysis, status=AnalysisStatus.failed, error=str(exc))
        return analysis
    try:
        result = classifier.classify(image)
    except Exception as exc:  # a model that breaks on this photo: record it, keep working
        log.exception("classification failed", extra={"analysis_id": str(analysis.id)})
        _finish(
            session,
            analysis,
            status=AnalysisStatus.failed,
            error=f"The model could not classify the photo: {type(exc).__name__}: {exc}",
        )
        return analysis
    _complete(session, analysis, result)
    return analysis


def run_queued(
    *,
    session: Session,
    org_id: uuid.UUID,
    analyses: Iterable[PropertyAnalysis],
    load_classifier: ClassifierLoader = model.get_classifier,
) -> list[PropertyAnalysis]:
    """Run every queued analysis of ``analyses`` in this session (inline, no job)."""
    return [
        run_analysis(
            session=session, org_id=org_id, analysis_id=a.id, load_classifier=load_classifier
        )
        if a.status == AnalysisStatus.queued
        else a
        for a in analyses
    ]


# --- events ---------------------------------------------------------------------------------


def analyses_for_event(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID
) -> list[PropertyAnalysis]:
    """The analyses an event has already asked for (the idempotency key)."""
    return list(
        session.exec(
            select(PropertyAnalysis).where(
                PropertyAnalysis.org_id == org_id, PropertyAnalysis.source_event_id == event_id
            )
        ).all()
    )


def unanalysed_photo_ids(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> list[uuid.UUID]:
    """Ids of the property's stored photos that no analysis has read yet, oldest first."""
    photos = documents_service.list_documents(
        session=session,
        org_id=org_id,
        kind=DocumentKind.photo,
        entity_type="property",
        entity_id=property_id,
        limit=200,
    )
    seen = set(
        session.exec(
            select(PropertyAnalysis.document_id).where(
                PropertyAnalysis.org_id == org_id,
                PropertyAnalysis.property_id == property_id,
                col(PropertyAnalysis.document_id).is_not(None),
            )
        ).all()
    )
    return [d.id for d in reversed(photos) if d.id not in seen]


def analyse_for_event(
    *,
    session: Session,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    property_id: uuid.UUID,
    document_ids: Sequence[uuid.UUID],
    load_classifier: ClassifierLoader = model.get_classifier,
) -> list[PropertyAnalysis]:
    """Analyse the named photos for an event, once per event id; in the caller's transaction.

    A document that is unknown or not an image gets a ``failed`` analysis saying so, rather
    than failing the whole event (retrying would not make it appear).
    """
    done = analyses_for_event(session=session, org_id=org_id, event_id=event_id)
    if done:
        return done
    _require_property(session=session, org_id=org_id, property_id=property_id)
    good: list[uuid.UUID] = []
    refused: list[PropertyAnalysis] = []
    for document_id in dict.fromkeys(document_ids):
        try:
            _photo_document(session=session, org_id=org_id, document_id=document_id)
        except VisionError as exc:
            analysis = PropertyAnalysis(
                org_id=org_id,
                property_id=property_id,
                source_event_id=event_id,
                document_id=None,
            )
            session.add(analysis)
            _finish(session, analysis, status=AnalysisStatus.failed, error=str(exc))
            refused.append(analysis)
        else:
            good.append(document_id)
    analyses: list[PropertyAnalysis] = []
    for start in range(0, len(good), MAX_PHOTOS_PER_REQUEST):
        analyses += submit_photos(
            session=session,
            org_id=org_id,
            property_id=property_id,
            document_ids=good[start : start + MAX_PHOTOS_PER_REQUEST],
            source_event_id=event_id,
        )
    return refused + run_queued(
        session=session, org_id=org_id, analyses=analyses, load_classifier=load_classifier
    )


# --- before / after -------------------------------------------------------------------------


def _resolve_set(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    analysis_ids: Sequence[uuid.UUID],
    document_ids: Sequence[uuid.UUID],
    label: str,
) -> list[PropertyAnalysis]:
    """The completed analyses a before or after set names (by analysis id or photo id)."""
    found: dict[uuid.UUID, PropertyAnalysis] = {}
    for analysis_id in analysis_ids:
        analysis = get_analysis(session=session, org_id=org_id, analysis_id=analysis_id)
        if analysis is None:
            raise VisionNotFoundError(f"analysis {analysis_id} not found")
        found[analysis.id] = analysis
    for document_id in document_ids:
        if (
            documents_service.get_document(session=session, org_id=org_id, document_id=document_id)
            is None
        ):
            raise VisionNotFoundError(f"document {document_id} not found")
        latest = session.exec(
            select(PropertyAnalysis)
            .where(
                PropertyAnalysis.org_id == org_id,
                PropertyAnalysis.property_id == property_id,
                PropertyAnalysis.document_id == document_id,
                PropertyAnalysis.status == AnalysisStatus.completed,
            )
            .order_by(col(PropertyAnalysis.completed_at).desc())
        ).first()
        if latest is None:
            raise VisionValidationError(
                f"photo {document_id} has no completed analysis for this property yet; "
                "analyse it first (POST /analyze/property-photos)"
            )
        found[latest.id] = latest
    if not found:
        raise VisionValidationError(f"the {label} set is empty: name analyses or photos")
    other = [str(a.id) for a in found.values() if a.property_id != property_id]
    if other:
        raise VisionValidationError(
            f"{label} analyses of another property: {', '.join(other)}; compare one property"
        )
    unfinished = [
        f"{a.id} ({AnalysisStatus(a.status).value})"
        for a in found.values()
        if a.status != AnalysisStatus.completed
    ]
    if unfinished:
        raise VisionValidationError(
            f"{label} analyses without a condition cannot be compared: {', '.join(unfinished)}"
        )
    return list(found.values())


def _snapshots(analyses: list[PropertyAnalysis]) -> dict[str, ComponentSnapshot]:
    """Per component, the most confident analysis of a set (ties: the newest)."""
    best: dict[str, PropertyAnalysis] = {}
    for analysis in analyses:
        assert analysis.component is not None and analysis.confidence_score is not None
        current = best.get(analysis.component)
        key = (analysis.confidence_score, analysis.completed_at or analysis.created_at)
        if current is None or key > (
            current.confidence_score or Decimal(0),
            current.completed_at or current.created_at,
        ):
            best[analysis.component] = analysis
    snapshots = {}
    for component, analysis in best.items():
        assert analysis.condition is not None and analysis.confidence_score is not None
        snapshots[component] = ComponentSnapshot(
            condition=analysis.condition,
            condition_score=assess(
                analysis.condition, float(analysis.confidence_score)
            ).condition_score,
            confidence_score=analysis.confidence_score,
            analysis_id=analysis.id,
            document_id=analysis.document_id,
        )
    return snapshots


def compare_before_after(
    *, session: Session, org_id: uuid.UUID, request: BeforeAfterRequest
) -> BeforeAfterComparison:
    """Which components improved, worsened or stayed the same between two photo sets."""
    _require_property(session=session, org_id=org_id, property_id=request.property_id)
    before = _resolve_set(
        session=session,
        org_id=org_id,
        property_id=request.property_id,
        analysis_ids=request.before_analysis_ids,
        document_ids=request.before_document_ids,
        label="before",
    )
    after = _resolve_set(
        session=session,
        org_id=org_id,
        property_id=request.property_id,
        analysis_ids=request.after_analysis_ids,
        document_ids=request.after_document_ids,
        label="after",
    )
    overlap = {a.id for a in before} & {a.id for a in after}
    if overlap:
        raise VisionValidationError(
            "the same analysis is in both sets: " + ", ".join(sorted(str(i) for i in overlap))
        )
    before_by, after_by = _snapshots(before), _snapshots(after)
    components: list[ComponentComparison] = []
    for component in sorted(set(before_by) & set(after_by)):
        was, now = before_by[component], after_by[component]
        delta = CONDITION_RANK[now.condition] - CONDITION_RANK[was.condition]
        change = (
            ConditionChange.improved
            if delta > 0
            else ConditionChange.worsened
            if delta < 0
            else ConditionChange.unchanged
        )
        components.append(
            ComponentComparison(
                component=component,
                change=change,
                before=was,
                after=now,
                score_change=now.condition_score - was.condition_score,
            )
        )
    return BeforeAfterComparison(
        property_id=request.property_id,
        components=components,
        improved=[c.component for c in components if c.change is ConditionChange.improved],
        worsened=[c.component for c in components if c.change is ConditionChange.worsened],
        unchanged=[c.component for c in components if c.change is ConditionChange.unchanged],
        only_before=sorted(set(before_by) - set(after_by)),
        only_after=sorted(set(after_by) - set(before_by)),
        before_analysis_ids=[a.id for a in before],
        after_analysis_ids=[a.id for a in after],
    )


def condition_for_analysis(
    *, session: Session, org_id: uuid.UUID, analysis_id: uuid.UUID
) -> ComponentCondition | None:
    """The component condition assessed from this analysis, if it completed."""
    return session.exec(
        select(ComponentCondition).where(
            ComponentCondition.org_id == org_id, ComponentCondition.analysis_id == analysis_id
        )
    ).first()


@dataclass(frozen=True)
class DailyVerdict:
    """The verdict a day's photos give one component: its most confident assessment."""

    row: ComponentCondition
    confidence: Decimal | None
    observed_at: dt.datetime
    """when the chosen photo was assessed: a look is never dated later than its verdict."""


def _daily_verdicts(
    *, session: Session, org_id: uuid.UUID, rows: Sequence[ComponentCondition]
) -> list[DailyVerdict]:
    """Per component and company-local day, the most confident assessment; newest day first.

    Photos of one day (one batch or several messages) are one look at the house: the verdict
    the model is surest of wins (ties: the newest), as in a before/after set, so the order
    the photos happened to be processed in never decides. A later day's verdict replaces an
    earlier day's. The verdict is dated at its own photo's time, not the day's last photo's:
    a walkthrough between the two is newer than the verdict, so it wins that component.
    """
    ids = {row.analysis_id for row in rows if row.analysis_id is not None}
    confidence: dict[uuid.UUID, Decimal | None] = {}
    if ids:
        confidence = {
            analysis.id: analysis.confidence_score
            for analysis in session.exec(
                select(PropertyAnalysis).where(
                    PropertyAnalysis.org_id == org_id, col(PropertyAnalysis.id).in_(ids)
                )
            ).all()
        }
    days: dict[tuple[str, dt.date], list[ComponentCondition]] = {}
    for row in rows:
        if row.component_name and row.condition is not None:
            day = local_day(row.created_at)
            days.setdefault((row.component_name, day), []).append(row)

    def sureness(row: ComponentCondition) -> tuple[Decimal, dt.datetime, str]:
        known = confidence.get(row.analysis_id) if row.analysis_id is not None else None
        return (known if known is not None else Decimal(-1), row.created_at, str(row.id))

    verdicts = [
        DailyVerdict(
            row=(best := max(group, key=sureness)),
            confidence=confidence.get(best.analysis_id) if best.analysis_id else None,
            observed_at=best.created_at,
        )
        for group in days.values()
    ]
    return sorted(
        verdicts,
        key=lambda v: (v.observed_at, v.row.component_name or ""),
        reverse=True,
    )


def photo_observations(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> list[ObservedConditions]:
    """Each component's verdict per day of photos, as separate observations, newest first.

    One ``ObservedConditions`` per component and day (``_daily_verdicts``), its ``source``
    naming the photo analysis, so the property analysis can combine them with walkthroughs
    component by component (the newest observation of a component wins).
    """
    rows = list_component_conditions(session=session, org_id=org_id, property_id=property_id)
    return [
        ObservedConditions(
            source=f"photo analysis {v.row.analysis_id}"
            if v.row.analysis_id is not None
            else f"photo assessment {v.row.id}",
            observed_at=v.observed_at,
            components=[_scope_item(v.row.component_name or "", v.row, v.confidence)],
        )
        for v in _daily_verdicts(session=session, org_id=org_id, rows=rows)
    ]


def latest_component_conditions(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> ObservedConditions | None:
    """The photo-assessed condition of each component, for pricing the rehab; or None.

    Per component, the newest day's most confident verdict (``_daily_verdicts``); each line's
    notes start with the photo analysis and the day it came from.
    """
    latest: dict[str, ObservedConditions] = {}
    for observed in photo_observations(session=session, org_id=org_id, property_id=property_id):
        latest.setdefault(observed.components[0].component, observed)  # newest first
    if not latest:
        return None
    components = []
    for _, observed in sorted(latest.items(), key=lambda pair: pair[0]):
        item = observed.components[0]
        day = local_day(observed.observed_at).isoformat()
        components.append(
            item.model_copy(update={"notes": f"{observed.source} ({day}): {item.notes}"[:1000]})
        )
    return ObservedConditions(
        source=f"photo analysis of {len(latest)} component(s)",
        observed_at=max(observed.observed_at for observed in latest.values()),
        components=components,
    )


UNSURE_POOR_NOTE = "poor but the model is unsure, so priced as a repair: have a person check"


def _scope_item(
    name: str, row: ComponentCondition, confidence: Decimal | None = None
) -> ComponentInput:
    """A photo's condition as a rehab line: a poor verdict the model is unsure of is a repair.

    ``assess`` says such a photo needs no replacement (and gives it medium priority, as fair),
    so the budget prices what the assessment says, not a replacement.
    """
    notes = f"score {row.condition_score}/100"
    if confidence is not None:
        notes += f", confidence {confidence:.2f}"
    condition = str(row.condition)
    if row.condition == Condition.poor and row.replacement_needed is False:
        condition = Condition.fair.value
        notes += f"; {UNSURE_POOR_NOTE}"
    return ComponentInput(component=name, condition=condition, notes=notes)
