"""Photo analyses and component condition assessments (schema ``cv_service``).

``property_id`` points at ``property_service.properties`` and ``document_id`` at
``documents.documents`` as plain indexed UUIDs, not foreign keys, so the vision module can
be split out without a data migration.

Beyond the seed's columns, an analysis records where it stands (``status``, ``error``), the
photo it read (``document_id``), the model that judged it (``model_ref``: weights file name
and sha256 prefix) with its top predictions, the request it came with (``batch_id``) and the
event that asked for it (``source_event_id``, so a redelivered event analyses nothing twice).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from domain.vision.enums import AnalysisStatus, Condition, ConditionChange, RepairPriority
from store.base import CreatedAt, OrgScoped, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "cv_service"


class PropertyAnalysis(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """The model's verdict on one photo: which component, what condition, how sure."""

    __tablename__ = "property_analyses"
    __table_args__ = (
        Index("ix_property_analyses_org_property", "org_id", "property_id"),
        Index("ix_property_analyses_org_document", "org_id", "document_id"),
        Index("ix_property_analyses_org_event", "org_id", "source_event_id"),
        {"schema": SCHEMA},
    )

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    photo_url: str | None = Field(default=None, max_length=500)
    component: str | None = Field(default=None, max_length=100)
    condition: Condition | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    confidence_score: Decimal | None = Field(default=None, max_digits=3, decimal_places=2)
    issues_detected: list[Any] = jsonb(default_factory=list)

    status: AnalysisStatus = Field(
        default=AnalysisStatus.queued,
        sa_type=String(20),  # type: ignore[call-overload]
        index=True,
    )
    error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    document_id: uuid.UUID | None = Field(default=None, description="documents.documents.id")
    batch_id: uuid.UUID | None = Field(default=None, description="the request it came with")
    source_event_id: uuid.UUID | None = Field(default=None, description="the event that asked")
    model_ref: str | None = Field(default=None, max_length=200)
    predictions: list[Any] = jsonb(default_factory=list)
    completed_at: datetime | None = tstz()


class ComponentCondition(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A component's assessed condition on a property, scored 0-100, with repair priority."""

    __tablename__ = "component_conditions"
    __table_args__ = (
        Index("ix_component_conditions_org_property", "org_id", "property_id"),
        {"schema": SCHEMA},
    )

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    component_name: str | None = Field(default=None, max_length=100)
    condition_score: int | None = Field(default=None, ge=0, le=100, description="0-100")
    replacement_needed: bool | None = None
    repair_priority: RepairPriority | None = Field(default=None, sa_type=String(20))  # type: ignore[call-overload]
    notes: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    analysis_id: uuid.UUID | None = Field(
        default=None, index=True, description="the photo analysis it was assessed from"
    )
    condition: Condition | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]


# --- API shapes ---------------------------------------------------------------------------


class PropertyAnalysisRead(SQLModel):
    """A photo analysis as the API returns it."""

    id: uuid.UUID
    property_id: uuid.UUID
    document_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    status: AnalysisStatus
    error: str | None = PydanticField(
        description="why it failed, or how to configure a model when none is configured"
    )
    photo_url: str | None
    component: str | None
    condition: Condition | None
    confidence_score: Decimal | None
    issues_detected: list[Any]
    predictions: list[Any] = PydanticField(description="the model's top classes and confidences")
    model_ref: str | None = PydanticField(description="weights file name and sha256 prefix")
    created_at: datetime
    completed_at: datetime | None


class ComponentConditionRead(SQLModel):
    """A component condition assessment as the API returns it."""

    id: uuid.UUID
    property_id: uuid.UUID
    analysis_id: uuid.UUID | None
    component_name: str | None
    condition: Condition | None
    condition_score: int | None
    replacement_needed: bool | None
    repair_priority: RepairPriority | None
    notes: str | None
    created_at: datetime


class PhotoAnalysisSubmission(BaseModel):
    """What ``POST /analyze/property-photos`` accepted: one analysis per photo, queued."""

    property_id: uuid.UUID
    batch_id: uuid.UUID
    job_id: str | None = PydanticField(description="the vision job that will analyse them")
    analyses: list[PropertyAnalysisRead]


class ComponentConditionResult(BaseModel):
    """One photo's analysis and, when it completed, the component condition it gave."""

    analysis: PropertyAnalysisRead
    component_condition: ComponentConditionRead | None
    job_id: str | None = PydanticField(
        default=None, description="the vision job, when the analysis was queued"
    )


class PropertyVisionReport(BaseModel):
    """Everything the vision module knows about a property's photos, newest first."""

    property_id: uuid.UUID
    model_configured: bool
    analyses: list[PropertyAnalysisRead]
    component_conditions: list[ComponentConditionRead]
    latest_by_component: list[ComponentConditionRead] = PydanticField(
        description="the newest assessment of each component"
    )


class BeforeAfterRequest(BaseModel):
    """Two sets of photos of one property: name each set by analysis ids or document ids."""

    model_config = ConfigDict(extra="forbid")

    property_id: uuid.UUID
    before_analysis_ids: list[uuid.UUID] = PydanticField(default_factory=list, max_length=200)
    after_analysis_ids: list[uuid.UUID] = PydanticField(default_factory=list, max_length=200)
    before_document_ids: list[uuid.UUID] = PydanticField(default_factory=list, max_length=200)
    after_document_ids: list[uuid.UUID] = PydanticField(default_factory=list, max_length=200)


class ComponentSnapshot(BaseModel):
    """A component's condition in one photo set: the most confident analysis of it."""

    condition: Condition
    condition_score: int
    confidence_score: Decimal
    analysis_id: uuid.UUID
    document_id: uuid.UUID | None


class ComponentComparison(BaseModel):
    """How one component's condition moved from the before set to the after set."""

    component: str
    change: ConditionChange
    before: ComponentSnapshot
    after: ComponentSnapshot
    score_change: int = PydanticField(description="after score minus before score")


class BeforeAfterComparison(BaseModel):
    """Which components improved, worsened or stayed the same between two photo sets."""

    property_id: uuid.UUID
    components: list[ComponentComparison]
    improved: list[str]
    worsened: list[str]
    unchanged: list[str]
    only_before: list[str] = PydanticField(description="components seen only in the before set")
    only_after: list[str] = PydanticField(description="components seen only in the after set")
    before_analysis_ids: list[uuid.UUID]
    after_analysis_ids: list[uuid.UUID]
