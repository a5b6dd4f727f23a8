"""Walkthrough recordings and the conditions extracted from them (schema ``audio_service``).

``walkthroughs.property_id`` points at ``property_service.properties`` as a plain indexed UUID,
not a foreign key, so the audio module can be split out without a data migration.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import String, Text
from sqlmodel import Field

from domain.audio.enums import Condition, WalkthroughStatus
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey

SCHEMA = "audio_service"


class Walkthrough(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A voice recording of a property walkthrough and its transcript."""

    __tablename__ = "walkthroughs"
    __table_args__ = {"schema": SCHEMA}

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    audio_url: str | None = Field(default=None, max_length=500)
    transcript: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    duration_seconds: int | None = None
    status: WalkthroughStatus = Field(
        default=WalkthroughStatus.uploaded,
        sa_type=String(20),  # type: ignore[call-overload]
    )


class ExtractedCondition(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A component condition heard in a walkthrough ("roof is shot, about 20 squares")."""

    __tablename__ = "extracted_conditions"
    __table_args__ = {"schema": SCHEMA}

    walkthrough_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.walkthroughs.id", index=True, ondelete="CASCADE"
    )
    component: str | None = Field(default=None, max_length=100)
    condition: Condition | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    quantity: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    unit: str | None = Field(default=None, max_length=50, description="sqft, unit, linear ft")
    notes: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    confidence: Decimal | None = Field(default=None, max_digits=3, decimal_places=2)
    timestamp_seconds: int | None = None
