"""Walkthrough recordings and the conditions extracted from them (schema ``audio_service``).

``walkthroughs.property_id`` points at ``property_service.properties`` and ``document_id`` at
``documents.documents`` as plain indexed UUIDs, not foreign keys, so the audio module can be
split out without a data migration.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as ApiField
from sqlalchemy import String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from domain.audio.enums import AudioErrorCode, Condition, WalkthroughStatus
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "audio_service"


class Walkthrough(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A voice recording of a property walkthrough, its transcript and what was heard in it."""

    __tablename__ = "walkthroughs"
    __table_args__ = {"schema": SCHEMA}

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    document_id: uuid.UUID | None = Field(
        default=None, index=True, description="documents.documents.id of the recording"
    )
    audio_url: str | None = Field(default=None, max_length=500)
    transcript: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    segments: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{start, end, text}] in seconds from the start"
    )
    duration_seconds: int | None = None
    language: str | None = Field(default=None, max_length=16)
    model: str | None = Field(default=None, max_length=100, description="e.g. whisper base int8")
    status: WalkthroughStatus = Field(
        default=WalkthroughStatus.uploaded,
        sa_type=String(20),  # type: ignore[call-overload]
    )
    error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    error_code: AudioErrorCode | None = Field(default=None, sa_type=String(30))  # type: ignore[call-overload]
    attempts: int = Field(default=0, description="transcription attempts started")
    job_id: str | None = Field(default=None, max_length=100)
    extraction_method: str | None = Field(default=None, max_length=30)
    rehab_estimate: dict[str, Any] | None = Field(
        default=None,
        sa_type=JSONB,  # type: ignore[call-overload]
        description="summary of the rehab estimate priced from the extracted conditions",
    )
    source_event_id: uuid.UUID | None = Field(
        default=None, unique=True, description="the audio.uploaded event that started it"
    )
    uploaded_by: uuid.UUID | None = None
    started_at: datetime | None = tstz()
    completed_at: datetime | None = tstz()


class ExtractedCondition(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A component condition heard in a walkthrough ("roof is shot, about 20 squares")."""

    __tablename__ = "extracted_conditions"
    __table_args__ = {"schema": SCHEMA}

    walkthrough_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.walkthroughs.id", index=True, ondelete="CASCADE"
    )
    component: str | None = Field(default=None, max_length=100)
    component_key: str | None = Field(
        default=None, max_length=100, description="pricing catalogue key (roof_shingles ...)"
    )
    condition: Condition | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    quantity: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    unit: str | None = Field(default=None, max_length=50, description="sqft, unit, linear ft")
    notes: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    confidence: Decimal | None = Field(default=None, max_digits=3, decimal_places=2)
    timestamp_seconds: int | None = None
    position: int = Field(default=0, description="order in which the component was first heard")
    cues: list[str] = jsonb(default_factory=list, description="the words that set the condition")


# --- API shapes --------------------------------------------------------------------------


class TranscriptSegment(BaseModel):
    """One timed stretch of speech."""

    start: float = ApiField(description="seconds from the start of the recording")
    end: float
    text: str


class ConditionRead(BaseModel):
    """A stored extracted condition."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    component: str | None
    component_key: str | None
    condition: Condition | None
    quantity: Decimal | None
    unit: str | None
    notes: str | None
    confidence: Decimal | None
    timestamp_seconds: int | None
    cues: list[str]


class WalkthroughRead(BaseModel):
    """A walkthrough with its transcript, segments, conditions and rehab estimate summary."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    property_id: uuid.UUID
    document_id: uuid.UUID | None
    status: WalkthroughStatus
    error: str | None = ApiField(description="why it failed (or why it is being retried)")
    error_code: AudioErrorCode | None
    transcript: str | None
    segments: list[TranscriptSegment]
    duration_seconds: int | None
    language: str | None
    model: str | None
    attempts: int
    job_id: str | None
    extraction_method: str | None
    conditions: list[ConditionRead] = ApiField(default_factory=list)
    rehab_estimate: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class ExtractConditionsRequest(BaseModel):
    """Body of ``POST /extract/conditions``: a stored transcript's id, or text."""

    model_config = ConfigDict(extra="forbid")

    transcript_id: uuid.UUID | None = ApiField(
        default=None, description="a walkthrough id: re-extract and store its conditions"
    )
    text: str | None = ApiField(
        default=None, min_length=1, max_length=20000, description="narration to extract from"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ExtractConditionsRequest:
        if (self.transcript_id is None) == (self.text is None):
            raise ValueError("give exactly one of transcript_id or text")
        return self


class ParseComponentsRequest(BaseModel):
    """Body of ``POST /parse/components``."""

    model_config = ConfigDict(extra="forbid")

    text: str = ApiField(min_length=1, max_length=20000, description="narration to read")
