"""Walkthroughs: store a voice note, transcribe it, extract conditions, price the rehab.

The path of a walkthrough (each step its own transaction, so a later failure never undoes an
earlier result):

1. ``start_walkthrough`` checks the property and the recording (a ``voice_note`` document)
   and adds the walkthrough row as ``queued`` with the id its transcription job will have.
   The caller commits and then enqueues the job.
2. The job calls ``claim_transcription`` (``queued`` → ``transcribing``, attempts + 1), then
   ``transcribe_recording`` (Whisper, outside any transaction), then ``record_transcript``
   (``transcribed``; ``transcription.completed``).
3. ``extract_and_estimate`` runs the deterministic extractor over the timed segments, stores
   one ``extracted_conditions`` row per component, prices the components with
   ``pricing_service.estimate_rehab`` (the organisation's cost book) and stores the estimate
   on the walkthrough (``conditions.extracted``, then ``completed`` and
   ``walkthrough.completed``).
4. A recording that cannot be transcribed (corrupt, too long, silent, not audio) ends
   ``failed`` with the reason in ``error`` and ``error_code``; ``record_failure`` stores it.

The extractor is deterministic by default (``extraction_method = "deterministic"``); an LLM
is not used even when one is configured (it may be added behind the same ``Finding`` shape).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, delete, select

from domain.analysis.models import ObservedConditions
from domain.audio import extraction
from domain.audio.enums import AudioErrorCode, WalkthroughStatus
from domain.audio.extraction import Finding, NarratedArea, NotPriced, Segment
from domain.audio.models import ExtractedCondition, Walkthrough
from domain.audio.whisper import AudioError, Transcript, WhisperModelError, transcribe
from domain.auth.enums import Role
from domain.auth.service import Principal, record_audit
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.documents.models import Document
from domain.pricing import service as pricing_service
from domain.pricing.enums import Condition as PricingCondition
from domain.pricing.enums import CostUnit, RehabAction
from domain.pricing.models import ComponentInput
from domain.property import service as property_service
from domain.property.errors import PropertyNotFoundError
from store.base import utcnow
from store.outbox import publish

ENTITY = "walkthrough"
EXTRACTION_METHOD = extraction.METHOD
ERROR_MAX_CHARS = 2000
# A "transcribing" walkthrough whose job has been silent this long was lost with its worker.
STALE_CLAIM_S = 900

# Re-exported so callers need only this module.
__all__ = [
    "AudioError",
    "WhisperModelError",
    "WalkthroughNotFound",
    "InvalidWalkthroughInput",
    "EvidenceNotPermitted",
    "check_may_add_evidence",
    "start_walkthrough",
    "store_recording",
    "claim_transcription",
    "transcribe_recording",
    "record_transcript",
    "record_failure",
    "extract_and_estimate",
    "get_walkthrough",
    "list_conditions",
    "parse_components",
    "extract_from_text",
    "estimate_from_text",
    "walkthrough_from_text",
    "report_findings",
]


class AudioServiceError(Exception):
    """Base class of the errors this module raises."""


class WalkthroughNotFound(AudioServiceError, LookupError):
    """No walkthrough (transcript) with that id in this organisation."""


class InvalidWalkthroughInput(AudioServiceError, ValueError):
    """A walkthrough request that cannot be started (no such property or recording ...)."""


class PropertyMissing(InvalidWalkthroughInput, LookupError):
    """The property named does not exist in this organisation."""


class RecordingMissing(InvalidWalkthroughInput, LookupError):
    """The recording named does not exist in this organisation."""


class EvidenceOfAnotherProperty(InvalidWalkthroughInput):
    """A stored recording (or photo) that belongs to another property than the one named."""


class EvidenceNotPermitted(AudioServiceError, PermissionError):
    """The caller may not add evidence (a photo, a voice note, notes) of this property (403)."""


# --- starting ----------------------------------------------------------------------------


def new_job_id(walkthrough_id: uuid.UUID) -> str:
    """A fresh id for one transcription job of this walkthrough."""
    return f"transcribe-{walkthrough_id}-{uuid.uuid4().hex[:8]}"


def store_recording(
    *,
    session: Session,
    org_id: uuid.UUID,
    data: bytes,
    filename: str | None,
    content_type: str | None,
    property_id: uuid.UUID,
    uploaded_by: uuid.UUID | None = None,
    source: DocumentSource = DocumentSource.upload,
) -> Document:
    """Store a voice note through the documents service (checked from its bytes).

    Raises ``documents_service.DocumentRejected`` for a file that is not audio, too large ...
    """
    _require_property(session=session, org_id=org_id, property_id=property_id)
    return documents_service.store_document(
        session=session,
        org_id=org_id,
        data=data,
        filename=filename,
        declared_content_type=content_type,
        kind=DocumentKind.voice_note,
        source=source,
        entity_type="property",
        entity_id=property_id,
        uploaded_by=uploaded_by,
    )


def _require_property(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> Any:
    try:
        return property_service.require(session=session, org_id=org_id, property_id=property_id)
    except PropertyNotFoundError as exc:
        raise PropertyMissing(f"No property {property_id} in your organisation.") from exc


def document_property_id(
    *, session: Session, org_id: uuid.UUID, document: Document
) -> uuid.UUID | None:
    """The property a stored document belongs to: by its link, or its deal's or project's.

    None for a document linked to no property (nor to a deal or project of one).
    """
    if document.entity_id is None:
        return None
    if document.entity_type == "property":
        return document.entity_id
    if document.entity_type == "deal":
        from domain.deal.models import Deal

        deal = session.get(Deal, document.entity_id)
        return deal.property_id if deal is not None and deal.org_id == org_id else None
    if document.entity_type == "project":
        from domain.construction.models import Project

        project = session.get(Project, document.entity_id)
        return project.property_id if project is not None and project.org_id == org_id else None
    return None


def claim_evidence(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, document: Document, what: str
) -> None:
    """Refuse a stored voice note or photo of another property as evidence for this one.

    A document of ``property_id`` (or of its deal or project) is its evidence; one linked to
    no property is linked to ``property_id`` now, so it cannot later be evidence for another
    house too. Raises ``EvidenceOfAnotherProperty`` (a 422) for one of another property.
    """
    owner = document_property_id(session=session, org_id=org_id, document=document)
    if owner is None:
        if document.entity_id is None:
            document.entity_type, document.entity_id = "property", property_id
            session.add(document)
        return
    if owner != property_id:
        raise EvidenceOfAnotherProperty(
            f"{what} {document.id} belongs to another property ({owner}), not to property "
            f"{property_id}: use a {what} of this property, or upload it for this one."
        )


def check_may_add_evidence(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal | None,
    property_id: uuid.UUID,
    what: str,
) -> None:
    """Refuse (``EvidenceNotPermitted``) evidence of a property the caller may not change.

    A photo, voice note or texted walkthrough note of a property sets its component
    conditions, so its rehab, maximum offer and PDF cover: adding one is storing evidence
    about the property, under the rule of storing a valuation of it
    (``valuation_service.check_may_store``): an investor only for a property on no deal or on
    deals they own or are on; admins and analysts any; contractors none (their photos are
    progress photos of their project). ``what`` names the evidence in the message ("photos").
    No principal (a subscriber, a job acting for nobody): no rule to apply.
    """
    if principal is None:
        return
    from domain.valuation import service as valuation_service  # late: keeps the modules apart

    if principal.role == Role.contractor:
        raise EvidenceNotPermitted(
            f"contractors do not add {what} of a property's condition: send progress photos "
            "and updates of your project instead"
        )
    try:
        valuation_service.check_may_store(
            session=session, org_id=org_id, principal=principal, property_id=property_id
        )
    except valuation_service.ValuationPermissionError as exc:
        raise EvidenceNotPermitted(
            f"property {property_id} is on a deal you are not on: only that deal's owner and "
            f"team, admins and analysts add {what} of it"
        ) from exc


def start_walkthrough(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    document_id: uuid.UUID,
    actor: Principal | None = None,
    source_event_id: uuid.UUID | None = None,
    started_walkthrough_id: uuid.UUID | None = None,
) -> Walkthrough:
    """Queue a walkthrough for a stored voice note; the caller commits, then enqueues its job.

    With ``started_walkthrough_id`` (a walkthrough recorded as ``started``) the recording is
    attached to it; otherwise a new walkthrough is added. The job id is chosen here
    (``job_id``), so the row names its job before the job exists. With an ``actor`` the
    rule of adding evidence applies (``check_may_add_evidence``: ``EvidenceNotPermitted``).
    """
    _require_property(session=session, org_id=org_id, property_id=property_id)
    check_may_add_evidence(
        session=session,
        org_id=org_id,
        principal=actor,
        property_id=property_id,
        what="walkthrough voice notes",
    )
    document = documents_service.get_document(
        session=session, org_id=org_id, document_id=document_id
    )
    if document is None:
        raise RecordingMissing(f"No document {document_id} in your organisation.")
    if document.kind != DocumentKind.voice_note or not document.content_type.startswith("audio/"):
        raise InvalidWalkthroughInput(
            f"Document {document_id} is a {document.kind} ({document.content_type}), not a "
            "voice note: upload the walkthrough recording as kind voice_note."
        )
    claim_evidence(
        session=session,
        org_id=org_id,
        property_id=property_id,
        document=document,
        what="voice note",
    )
    walkthrough: Walkthrough | None = None
    if started_walkthrough_id is not None:
        walkthrough = session.get(Walkthrough, started_walkthrough_id)
        if (
            walkthrough is None
            or walkthrough.org_id != org_id
            or walkthrough.status != WalkthroughStatus.started
        ):
            walkthrough = None  # not one awaiting a recording: start a new one
    if walkthrough is None:
        walkthrough = Walkthrough(
            org_id=org_id, property_id=property_id, source_event_id=source_event_id
        )
    walkthrough.property_id = property_id
    walkthrough.document_id = document_id
    walkthrough.audio_url = f"/api/v1/documents/{document_id}/content"
    walkthrough.status = WalkthroughStatus.queued
    walkthrough.uploaded_by = actor.user_id if actor else document.uploaded_by
    walkthrough.job_id = new_job_id(walkthrough.id)
    session.add(walkthrough)
    session.flush()
    record_audit(
        session=session,
        principal=actor,
        org_id=org_id,
        actor=None if actor else "audio.subscriber",
        action="create",
        entity=ENTITY,
        entity_id=walkthrough.id,
        changes={"property_id": property_id, "document_id": document_id, "status": "queued"},
    )
    return walkthrough


def record_started(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    source_event_id: uuid.UUID | None = None,
) -> Walkthrough | None:
    """Record an announced walkthrough awaiting its recording (None: no such property)."""
    if property_service.get(session=session, org_id=org_id, property_id=property_id) is None:
        return None
    walkthrough = Walkthrough(
        org_id=org_id,
        property_id=property_id,
        status=WalkthroughStatus.started,
        source_event_id=source_event_id,
    )
    session.add(walkthrough)
    session.flush()
    return walkthrough


def find_by_source_event(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID
) -> Walkthrough | None:
    """The walkthrough an ``audio.uploaded`` event already started, if any."""
    return session.exec(
        select(Walkthrough).where(
            Walkthrough.org_id == org_id, Walkthrough.source_event_id == event_id
        )
    ).first()


# --- reading -----------------------------------------------------------------------------


def get_walkthrough(
    *, session: Session, org_id: uuid.UUID, walkthrough_id: uuid.UUID, lock: bool = False
) -> Walkthrough:
    """The organisation's walkthrough; ``WalkthroughNotFound`` otherwise."""
    query = select(Walkthrough).where(
        Walkthrough.id == walkthrough_id, Walkthrough.org_id == org_id
    )
    if lock:
        query = query.with_for_update()
    found = session.exec(query.execution_options(populate_existing=True)).first()
    if found is None:
        raise WalkthroughNotFound(f"No transcript {walkthrough_id} in your organisation.")
    return found


def list_conditions(
    *, session: Session, org_id: uuid.UUID, walkthrough_id: uuid.UUID
) -> list[ExtractedCondition]:
    """The conditions extracted from a walkthrough, in the order they were heard."""
    return list(
        session.exec(
            select(ExtractedCondition)
            .where(
                ExtractedCondition.org_id == org_id,
                ExtractedCondition.walkthrough_id == walkthrough_id,
            )
            .order_by(col(ExtractedCondition.position), col(ExtractedCondition.id))
        ).all()
    )


def list_walkthroughs(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID | None = None, limit: int = 50
) -> list[Walkthrough]:
    """The organisation's walkthroughs, newest first (optionally of one property)."""
    query = select(Walkthrough).where(Walkthrough.org_id == org_id)
    if property_id is not None:
        query = query.where(Walkthrough.property_id == property_id)
    query = query.order_by(col(Walkthrough.created_at).desc()).limit(limit)
    return list(session.exec(query).all())


# --- the transcription job's steps ------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What a transcription job is to do: transcribe, or only extract (already transcribed)."""

    walkthrough_id: uuid.UUID
    document_id: uuid.UUID | None
    stage: str  # "transcribe" or "extract"
    attempt: int


def claim_transcription(
    *,
    session: Session,
    org_id: uuid.UUID,
    walkthrough_id: uuid.UUID,
    job_id: str | None,
) -> Claim | None:
    """Take the walkthrough for this job, or None when there is nothing (left) to do.

    Claimable: ``queued``; ``failed`` with a transient error (a retry); ``transcribing`` by
    this same job (a retry after its worker died) or stale for ``STALE_CLAIM_S``;
    ``transcribed`` (only extraction is left). Finished and permanently failed walkthroughs,
    and one another live job holds, are left alone.
    """
    try:
        walkthrough = get_walkthrough(
            session=session, org_id=org_id, walkthrough_id=walkthrough_id, lock=True
        )
    except WalkthroughNotFound:
        return None
    status = WalkthroughStatus(walkthrough.status)
    retrying = (
        status is WalkthroughStatus.failed and walkthrough.error_code == AudioErrorCode.transient
    )
    if status in (WalkthroughStatus.transcribed, WalkthroughStatus.extracted) or (
        retrying and walkthrough.transcript
    ):
        # Transcribed already (a retry after extraction failed): only extraction is left.
        walkthrough.status = WalkthroughStatus.transcribed
        walkthrough.error = None
        walkthrough.error_code = None
        session.add(walkthrough)
        session.flush()
        return Claim(walkthrough.id, walkthrough.document_id, "extract", walkthrough.attempts)
    now = utcnow()
    claimable = status in (WalkthroughStatus.queued, WalkthroughStatus.uploaded) or retrying
    if status is WalkthroughStatus.transcribing:
        stale = walkthrough.started_at is None or walkthrough.started_at < now - timedelta(
            seconds=STALE_CLAIM_S
        )
        claimable = stale or (job_id is not None and walkthrough.job_id == job_id)
    if not claimable:
        return None
    walkthrough.status = WalkthroughStatus.transcribing
    walkthrough.attempts += 1
    walkthrough.started_at = now
    walkthrough.job_id = job_id or walkthrough.job_id
    walkthrough.error = None
    walkthrough.error_code = None
    session.add(walkthrough)
    session.flush()
    return Claim(walkthrough.id, walkthrough.document_id, "transcribe", walkthrough.attempts)


def transcribe_recording(
    *, session: Session, org_id: uuid.UUID, document_id: uuid.UUID, max_duration_s: int | None
) -> Transcript:
    """Read the stored recording and transcribe it (no database writes; may take a while).

    Raises ``AudioError`` (bad recording), ``WhisperModelError`` (no usable model) or the
    documents service's ``DocumentNotFound`` / ``DocumentCorrupted``.
    """
    data = documents_service.read_document_bytes(
        session=session, org_id=org_id, document_id=document_id
    )
    return transcribe(data, max_duration_s=max_duration_s)


def record_transcript(
    *, session: Session, org_id: uuid.UUID, walkthrough_id: uuid.UUID, transcript: Transcript
) -> Walkthrough:
    """Store the transcript, its timed segments, duration and language; ``transcribed``."""
    walkthrough = get_walkthrough(
        session=session, org_id=org_id, walkthrough_id=walkthrough_id, lock=True
    )
    walkthrough.transcript = transcript.text
    walkthrough.segments = [
        {"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments
    ]
    walkthrough.duration_seconds = int(round(transcript.duration_s))
    walkthrough.language = transcript.language
    walkthrough.model = transcript.model
    walkthrough.status = WalkthroughStatus.transcribed
    walkthrough.error = None
    walkthrough.error_code = None
    session.add(walkthrough)
    session.flush()
    publish(
        session,
        org_id=org_id,
        name="transcription.completed",
        payload={
            "walkthrough_id": walkthrough.id,
            "property_id": walkthrough.property_id,
            "document_id": walkthrough.document_id,
            "duration_seconds": walkthrough.duration_seconds,
            "language": walkthrough.language,
            "segments": len(walkthrough.segments),
            "model": walkthrough.model,
        },
    )
    return walkthrough


def record_failure(
    *,
    session: Session,
    org_id: uuid.UUID,
    walkthrough_id: uuid.UUID,
    code: AudioErrorCode,
    message: str,
) -> Walkthrough | None:
    """Mark the walkthrough ``failed`` with a plain message (None if it is gone)."""
    try:
        walkthrough = get_walkthrough(
            session=session, org_id=org_id, walkthrough_id=walkthrough_id, lock=True
        )
    except WalkthroughNotFound:
        return None
    walkthrough.status = WalkthroughStatus.failed
    walkthrough.error = message[:ERROR_MAX_CHARS]
    walkthrough.error_code = code
    walkthrough.completed_at = None if code is AudioErrorCode.transient else utcnow()
    session.add(walkthrough)
    session.flush()
    return walkthrough


def failure_for(exc: BaseException) -> tuple[AudioErrorCode, str] | None:
    """The permanent failure an exception means, or None for one worth retrying."""
    if isinstance(exc, AudioError):
        return AudioErrorCode(exc.code), exc.message
    if isinstance(exc, WhisperModelError):
        return AudioErrorCode.model_unavailable, str(exc)
    if isinstance(exc, documents_service.DocumentNotFound):
        return AudioErrorCode.document_missing, "The stored recording is gone; upload it again."
    if isinstance(exc, documents_service.DocumentCorrupted):
        return (
            AudioErrorCode.document_missing,
            "The stored recording no longer matches its checksum; upload it again.",
        )
    return None


# --- extraction and the rehab estimate ---------------------------------------------------


def segments_of(walkthrough: Walkthrough) -> list[Segment]:
    """The walkthrough's stored segments as extractor input (the transcript if none)."""
    if walkthrough.segments:
        return [
            Segment(start=float(s["start"]), end=float(s["end"]), text=str(s["text"]))
            for s in walkthrough.segments
        ]
    return [Segment(start=None, end=None, text=walkthrough.transcript or "")]


def extract_from_text(text: str) -> list[Finding]:
    """Conditions in plain narration (no storage)."""
    return extraction.extract_from_text(text)


def narrated_area_in_text(text: str) -> NarratedArea | None:
    """The living area plain narration gives the house ("about 1,100 square feet"), if any."""
    return extraction.narrated_living_area([Segment(start=None, end=None, text=text)])


def not_priced_in_text(text: str) -> list[NotPriced]:
    """What plain narration names that no catalogue line prices ("hot tub"), and why."""
    return extraction.heard_not_priced([Segment(start=None, end=None, text=text)])


def parse_components(text: str) -> list[Finding]:
    """The catalogue components a text mentions, with quantities (no storage)."""
    return extraction.extract_from_text(text)


def priceable_name(component: str, component_key: str | None) -> str:
    """The name to price a heard component by: as said, if the cost book reads it as that.

    A spoken form ("breaker box", "tub") may match nothing, or another row, in the cost
    book's own name matching; the catalogue key's name ("electrical panel") prices it.
    """
    if component_key is None:
        return component
    match = pricing_service.match_component(component)
    if match is not None and match.key == component_key:
        return component
    return component_key.replace("_", " ")


def rehab_items(
    findings: Sequence[Finding], *, square_feet: int | None = None
) -> list[ComponentInput]:
    """Estimate inputs for the findings that have a condition (quantities where usable).

    A share of the house ("half the house needs new flooring") is that share of
    ``square_feet``; without it the component's default quantity rule applies.
    """
    items = []
    for finding in findings:
        if finding.condition is None:
            continue
        priceable = finding.priceable_quantity_for(square_feet)
        items.append(
            ComponentInput(
                component=priceable_name(finding.component, finding.component_key),
                condition=PricingCondition(finding.condition.value),
                quantity=priceable[0] if priceable else None,
                unit=CostUnit(priceable[1]) if priceable else None,
                notes=finding.notes[:1000] or None,
            )
        )
    return items


def living_area_for(
    square_feet: int | None, narrated: NarratedArea | None
) -> tuple[int | None, str | None, list[str]]:
    """The living area to price on, where it came from, and the assumption saying so.

    The property's own stored area wins; the narrated one ("the house is about 1,100 square
    feet") is used when the property has none.
    """
    if square_feet is not None:
        if narrated is None or narrated.square_feet == square_feet:
            return square_feet, "property", []
        return (
            square_feet,
            "property",
            [
                f"living area {square_feet} sqft from the property record (the walkthrough "
                f'said {narrated.square_feet} sqft: "{narrated.said}")'
            ],
        )
    if narrated is None:
        return None, None, []
    return (
        narrated.square_feet,
        "narrated",
        [
            f"living area {narrated.square_feet} sqft as narrated in the walkthrough "
            f'("{narrated.said}"); the property has no living area on record'
        ],
    )


def estimate_for_findings(
    *,
    session: Session,
    org_id: uuid.UUID,
    findings: Sequence[Finding],
    square_feet: int | None = None,
    narrated_area: NarratedArea | None = None,
    not_priced: Sequence[NotPriced] = (),
) -> dict[str, Any]:
    """Price the findings against the organisation's cost book; a JSON-able summary.

    Components heard without a condition are listed under ``not_graded`` and not priced (a
    mention is not a diagnosis); things heard that no catalogue line prices ("hot tub")
    under ``not_priced``, each with why. Area-based quantities use ``square_feet`` (the property's),
    else the living area said in the narration (``narrated_area``); ``square_feet_source``
    says which.
    """
    square_feet, source, area_assumptions = living_area_for(square_feet, narrated_area)
    estimate = pricing_service.estimate_rehab(
        session=session,
        org_id=org_id,
        items=rehab_items(findings, square_feet=square_feet),
        square_feet=square_feet,
    )
    summary = estimate.model_dump(mode="json")
    summary["square_feet_source"] = source
    summary["assumptions"] += area_assumptions
    summary["assumptions"] += [
        said
        for f in findings
        if f.condition is not None and (said := f.quantity_assumption(square_feet))
    ]
    summary["not_graded"] = [f.component for f in findings if f.condition is None]
    summary["not_priced"] = [heard.line for heard in not_priced]
    summary["source"] = (
        "pricing_service.estimate_rehab over the conditions extracted from the walkthrough"
    )
    return summary


@dataclass(frozen=True)
class ExtractionResult:
    """The stored conditions and the rehab estimate summary of one extraction run."""

    walkthrough: Walkthrough
    conditions: list[ExtractedCondition]
    findings: list[Finding]
    rehab_estimate: dict[str, Any]
    method: str
    # The house's living area said in the narration, if any (priced on when the property
    # has none on record).
    narrated_living_area: NarratedArea | None = None
    # What the narration names that no catalogue line prices ("hot tub"), each with why.
    not_priced: tuple[NotPriced, ...] = ()


def extract_and_estimate(
    *,
    session: Session,
    org_id: uuid.UUID,
    walkthrough_id: uuid.UUID,
    actor: Principal | None = None,
    complete: bool = True,
) -> ExtractionResult:
    """Extract conditions from the stored transcript, price them, store both (replacing any).

    Publishes ``conditions.extracted``; with ``complete`` the walkthrough becomes
    ``completed`` and ``walkthrough.completed`` follows.
    """
    walkthrough = get_walkthrough(
        session=session, org_id=org_id, walkthrough_id=walkthrough_id, lock=True
    )
    if not walkthrough.transcript:
        raise InvalidWalkthroughInput(
            f"Transcript {walkthrough_id} has no text yet (status {walkthrough.status})."
        )
    segments = segments_of(walkthrough)
    findings = extraction.extract_conditions(segments)
    narrated = extraction.narrated_living_area(segments)
    not_priced = extraction.heard_not_priced(segments)
    prop = property_service.get(session=session, org_id=org_id, property_id=walkthrough.property_id)
    summary = estimate_for_findings(
        session=session,
        org_id=org_id,
        findings=findings,
        square_feet=prop.square_feet if prop is not None else None,
        narrated_area=narrated,
        not_priced=not_priced,
    )
    previous = len(list_conditions(session=session, org_id=org_id, walkthrough_id=walkthrough.id))
    session.execute(
        delete(ExtractedCondition).where(
            col(ExtractedCondition.org_id) == org_id,
            col(ExtractedCondition.walkthrough_id) == walkthrough.id,
        )
    )
    rows = [
        ExtractedCondition(
            org_id=org_id,
            walkthrough_id=walkthrough.id,
            component=f.component,
            component_key=f.component_key,
            condition=f.condition,
            quantity=f.quantity,
            unit=f.unit,
            notes=f.notes,
            confidence=f.confidence,
            timestamp_seconds=f.timestamp_seconds,
            position=position,
            cues=f.cue_texts,
        )
        for position, f in enumerate(findings)
    ]
    session.add_all(rows)
    walkthrough.rehab_estimate = summary
    walkthrough.extraction_method = extraction.METHOD
    walkthrough.status = WalkthroughStatus.completed if complete else WalkthroughStatus.extracted
    if complete:
        walkthrough.completed_at = utcnow()
    session.add(walkthrough)
    session.flush()
    publish(
        session,
        org_id=org_id,
        name="conditions.extracted",
        payload={
            "walkthrough_id": walkthrough.id,
            "property_id": walkthrough.property_id,
            "method": extraction.METHOD,
            "conditions": [
                {
                    "component": f.component,
                    "component_key": f.component_key,
                    "condition": f.condition.value if f.condition else None,
                    "quantity": str(f.quantity) if f.quantity is not None else None,
                    "unit": f.unit,
                    "confidence": str(f.confidence),
                }
                for f in findings
            ],
            "rehab_total": summary["total"],
        },
    )
    if complete:
        publish(
            session,
            org_id=org_id,
            name="walkthrough.completed",
            payload={
                "walkthrough_id": walkthrough.id,
                "property_id": walkthrough.property_id,
                "conditions": len(rows),
                "rehab_total": summary["total"],
            },
        )
    if actor is not None:
        record_audit(
            session=session,
            principal=actor,
            action="extract_conditions",
            entity=ENTITY,
            entity_id=walkthrough.id,
            changes={
                "conditions_before": previous,
                "conditions_after": len(rows),
                "rehab_total": summary["total"],
            },
        )
    return ExtractionResult(
        walkthrough, rows, findings, summary, extraction.METHOD, narrated, tuple(not_priced)
    )


# --- texted walkthrough notes and what became of each finding ----------------------------

# The longest walkthrough note taken as text (as ``POST /extract/conditions`` takes).
TEXT_MAX_CHARS = 20000


def _narration(text: str) -> str:
    """Texted notes as extractor input, or ``InvalidWalkthroughInput`` when empty or too long."""
    narration = (text or "").replace("\x00", " ").strip()
    if not narration:
        raise InvalidWalkthroughInput(
            "The walkthrough notes are empty: say what needs work, e.g. 'roof is shot, "
            "furnace is original, 12 windows need replacing'."
        )
    if len(narration) > TEXT_MAX_CHARS:
        raise InvalidWalkthroughInput(
            f"The walkthrough notes are {len(narration):,} characters; at most "
            f"{TEXT_MAX_CHARS:,} are read: send them in parts."
        )
    return narration


@dataclass(frozen=True)
class TextEstimate:
    """Conditions in texted notes and the rehab estimate they price to (nothing stored)."""

    findings: list[Finding]
    rehab_estimate: dict[str, Any]
    not_priced: tuple[NotPriced, ...]


def estimate_from_text(
    *, session: Session, org_id: uuid.UUID, text: str, square_feet: int | None = None
) -> TextEstimate:
    """Extract the conditions in ``text`` with the walkthrough extractor and price them.

    The same extractor and pricing as a walkthrough (``estimate_for_findings``); nothing is
    stored, so the property's analysis is unchanged (``walkthrough_from_text`` stores them).
    """
    narration = _narration(text)
    findings = extract_from_text(narration)
    not_priced = tuple(not_priced_in_text(narration))
    summary = estimate_for_findings(
        session=session,
        org_id=org_id,
        findings=findings,
        square_feet=square_feet,
        narrated_area=narrated_area_in_text(narration),
        not_priced=not_priced,
    )
    return TextEstimate(findings, summary, not_priced)


def walkthrough_from_text(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    text: str,
    actor: Principal | None = None,
    uploaded_by: uuid.UUID | None = None,
) -> ExtractionResult:
    """A texted walkthrough note, stored and priced exactly as a voice note's transcript.

    The text becomes the transcript of a new walkthrough of the property (no recording: one
    untimed segment, as ``segments_of`` reads a transcript without segments), and
    ``extract_and_estimate``, the step every transcribed voice note goes through, extracts
    and stores its conditions, prices them and completes the walkthrough, so the property's
    analysis and PDF price them (``latest_component_conditions``). Notes naming no component
    with a condition are refused with what was read, and nothing is stored (an empty
    walkthrough would hide an earlier one's conditions from the analysis). With an ``actor``
    the rule of adding evidence applies (``check_may_add_evidence``: ``EvidenceNotPermitted``).
    """
    narration = _narration(text)
    _require_property(session=session, org_id=org_id, property_id=property_id)
    check_may_add_evidence(
        session=session,
        org_id=org_id,
        principal=actor,
        property_id=property_id,
        what="walkthrough notes",
    )
    heard = extract_from_text(narration)
    if not any(f.condition is not None for f in heard):
        read = [f"{f.component} (no condition said)" for f in heard] + [
            n.line for n in not_priced_in_text(narration)
        ]
        raise InvalidWalkthroughInput(
            "No component with a condition in the walkthrough notes, so nothing was stored "
            "or priced"
            + (f"; read: {'; '.join(read)}" if read else "")
            + ". Say what needs work and how bad it is, e.g. 'roof is shot, furnace is "
            "original, 12 windows need replacing, the basement has water'."
        )
    walkthrough = Walkthrough(
        org_id=org_id,
        property_id=property_id,
        transcript=narration,
        segments=[],
        status=WalkthroughStatus.transcribed,
        uploaded_by=uploaded_by,
        started_at=utcnow(),
    )
    session.add(walkthrough)
    session.flush()
    record_audit(
        session=session,
        principal=actor,
        org_id=org_id,
        actor=None if actor else "audio.text",
        action="create",
        entity=ENTITY,
        entity_id=walkthrough.id,
        changes={"property_id": property_id, "source": "text", "status": "transcribed"},
    )
    return extract_and_estimate(
        session=session, org_id=org_id, walkthrough_id=walkthrough.id, actor=actor
    )


@dataclass(frozen=True)
class FindingOutcome:
    """A component read in the notes, and what the estimate did with it."""

    component: str
    component_key: str
    condition: str | None
    quantity: Decimal | None
    unit: str | None
    said: str  # the sentence it was read in (and why, for an implied line)
    cues: list[str]
    priced: bool  # a repair or replacement line with a cost
    action: str | None  # replace, repair, none (no work); None: no line
    cost: Decimal | None  # the line's total before contingency
    reason: str | None  # why it has no cost: no work needed, or not priced


@dataclass(frozen=True)
class NotPricedOutcome:
    """Something read that has no line in the estimate, and why."""

    what: str
    reason: str


@dataclass(frozen=True)
class FindingsReport:
    """Every finding with its outcome, and everything not priced (never silently dropped)."""

    findings: list[FindingOutcome]
    not_priced: list[NotPricedOutcome]


def _take(
    rows: list[dict[str, Any]], *, key: str | None = None, names: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Remove and return the first row of that catalogue key or component name (one each)."""
    for index, row in enumerate(rows):
        if (key is not None and row.get("component_key") == key) or row.get("component") in names:
            return rows.pop(index)
    return None


def report_findings(
    findings: Sequence[Finding],
    rehab_estimate: dict[str, Any],
    not_priced: Sequence[NotPriced] = (),
) -> FindingsReport:
    """Each finding with its line in ``rehab_estimate`` (``estimate_for_findings``'s summary).

    A finding without a condition, or one the cost book could not price (its ``unpriced``
    message), is listed under ``not_priced`` with why, as is what no catalogue line prices.
    """
    lines = [dict(line) for line in rehab_estimate.get("line_items", [])]
    gaps = [dict(gap) for gap in rehab_estimate.get("unpriced", [])]
    outcomes: list[FindingOutcome] = []
    missing: list[NotPricedOutcome] = []
    for f in findings:
        condition = f.condition.value if f.condition is not None else None
        action: str | None = None
        cost: Decimal | None = None
        reason: str | None = None
        if condition is None:
            reason = (
                "read without a condition (a mention is not a diagnosis): say how it is, "
                f"e.g. '{f.component} needs replacing', to price it"
            )
        else:
            name = priceable_name(f.component, f.component_key)
            line = _take(lines, key=f.component_key) or _take(lines, names=(name, f.component))
            if line is not None:
                action = str(line["action"])
                cost = Decimal(str(line["line_total"]))
                if action == RehabAction.NONE.value:
                    reason = f"no work priced ({line.get('quantity_source') or condition})"
            else:
                gap = _take(gaps, names=(name, f.component))
                reason = str(gap["message"]) if gap is not None else "the cost book gave it no line"
        outcome = FindingOutcome(
            component=f.component,
            component_key=f.component_key,
            condition=condition,
            quantity=f.quantity,
            unit=f.unit,
            said=f.notes,
            cues=f.cue_texts,
            priced=action is not None and action != RehabAction.NONE.value,
            action=action,
            cost=cost,
            reason=reason,
        )
        outcomes.append(outcome)
        if action is None:
            missing.append(NotPricedOutcome(what=f.component, reason=str(reason)))
    missing += [NotPricedOutcome(what=str(g["component"]), reason=str(g["message"])) for g in gaps]
    missing += [NotPricedOutcome(what=heard.said, reason=heard.reason) for heard in not_priced]
    return FindingsReport(outcomes, missing)


def rehab_total(walkthrough: Walkthrough) -> Decimal | None:
    """The walkthrough's rehab estimate total, if priced."""
    if not walkthrough.rehab_estimate:
        return None
    return Decimal(str(walkthrough.rehab_estimate["total"]))


def latest_component_conditions(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> ObservedConditions | None:
    """The conditions heard on the property's newest completed walkthrough; None if none."""
    walkthrough = session.exec(
        select(Walkthrough)
        .where(
            Walkthrough.org_id == org_id,
            Walkthrough.property_id == property_id,
            Walkthrough.status == WalkthroughStatus.completed,
        )
        .order_by(col(Walkthrough.completed_at).desc().nulls_last(), col(Walkthrough.id))
    ).first()
    if walkthrough is None:
        return None
    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    return walkthrough_observation(
        session=session,
        org_id=org_id,
        walkthrough=walkthrough,
        living_area=prop.square_feet if prop is not None else None,
    )


def walkthrough_observation(
    *, session: Session, org_id: uuid.UUID, walkthrough: Walkthrough, living_area: int | None
) -> ObservedConditions | None:
    """One walkthrough's graded conditions as priceable components; None if none is graded.

    Priced as the walkthrough's own estimate prices them (``rehab_items``' quantity rule):
    "twelve windows" is a count of 12, not the default. ``living_area`` is the property's
    (the narrated one is used when the property has none).
    """
    square_feet, _, _ = living_area_for(
        living_area, extraction.narrated_living_area(segments_of(walkthrough))
    )
    items = []
    for row in list_conditions(session=session, org_id=org_id, walkthrough_id=walkthrough.id):
        if row.component is None or row.condition is None:
            continue  # heard but not graded: nothing to price
        priceable = Finding(
            component=row.component,
            component_key=row.component_key or row.component,
            component_name=row.component,
            condition=None,
            confidence=Decimal(0),
            quantity=row.quantity,
            unit=row.unit,
        ).priceable_quantity_for(square_feet)
        items.append(
            ComponentInput(
                component=priceable_name(row.component, row.component_key),
                condition=PricingCondition(str(row.condition)),
                quantity=priceable[0] if priceable else None,
                unit=CostUnit(priceable[1]) if priceable else None,
                notes=row.notes[:1000] if row.notes else None,
            )
        )
    if not items:
        return None
    return ObservedConditions(
        source=f"walkthrough {walkthrough.id}",
        observed_at=walkthrough.completed_at or walkthrough.updated_at,
        components=items,
    )
