"""Photo analyses and component condition assessments (schema ``cv_service``).

``property_id`` points at ``property_service.properties`` as a plain indexed UUID, not a foreign
key, so the vision module can be split out without a data migration.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field

from domain.vision.enums import Condition, RepairPriority
from store.base import CreatedAt, OrgScoped, UUIDPrimaryKey, jsonb

SCHEMA = "cv_service"


class PropertyAnalysis(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """The model's verdict on one photo: which component, what condition, how sure."""

    __tablename__ = "property_analyses"
    __table_args__ = (
        Index("ix_property_analyses_org_property", "org_id", "property_id"),
        {"schema": SCHEMA},
    )

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    photo_url: str | None = Field(default=None, max_length=500)
    component: str | None = Field(default=None, max_length=100)
    condition: Condition | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    confidence_score: Decimal | None = Field(default=None, max_digits=3, decimal_places=2)
    issues_detected: list[Any] = jsonb(default_factory=list)


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
