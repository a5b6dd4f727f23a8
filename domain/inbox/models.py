"""The team's inbox (schema ``inbox``): action items from contractors' calls and messages.

One row per item of an ``action.items.created`` event: unique per (event, position), so the
relay delivering the event twice stores each item once. ``project_id``, ``contractor_id``,
``bid_id`` and ``call_id`` point at other modules' rows as plain UUIDs, not foreign keys.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import ConfigDict
from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.inbox.enums import ActionItemSource, ActionItemStatus
from store.base import OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "inbox"
MAX_NOTE = 2000


class ActionItem(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """Something the team should act on, as a call or a contractor's message left it."""

    __tablename__ = "action_items"
    __table_args__ = (
        UniqueConstraint("event_id", "position", name="uq_action_items_event_position"),
        Index("ix_action_items_org_status_created", "org_id", "status", "created_at"),
        {"schema": SCHEMA},
    )

    event_id: uuid.UUID = Field(description="events.outbox id of the action.items.created event")
    position: int = Field(ge=0, description="the item's place in the event's list")
    project_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.projects.id"
    )
    contractor_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.contractors.id"
    )
    bid_id: uuid.UUID | None = Field(default=None, description="construction_service.bids.id")
    call_id: uuid.UUID | None = Field(default=None, description="voice_service.calls.id")
    source: ActionItemSource = Field(sa_type=String(20))  # type: ignore[call-overload]
    channel: str | None = Field(default=None, max_length=40, description="whatsapp, web ...")
    kind: str = Field(max_length=50)
    text: str = Field(sa_type=Text)  # type: ignore[call-overload]
    facts: dict[str, Any] = jsonb(description="what the item rests on: amount, date ...")
    status: ActionItemStatus = Field(default=ActionItemStatus.open, sa_type=String(20))  # type: ignore[call-overload]
    resolved_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    resolved_at: dt.datetime | None = tstz()
    resolution_note: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]


class ActionItemRead(SQLModel):
    """An action item as the API returns it, with its project and contractor named."""

    id: uuid.UUID
    project_id: uuid.UUID | None
    project: str | None = Field(default=None, description="the project's address (or name)")
    contractor_id: uuid.UUID | None
    contractor: str | None = Field(default=None, description="the contractor's name")
    bid_id: uuid.UUID | None
    call_id: uuid.UUID | None
    source: ActionItemSource
    channel: str | None
    kind: str
    text: str
    facts: dict[str, Any]
    status: ActionItemStatus
    created_at: dt.datetime
    resolved_by: uuid.UUID | None
    resolved_at: dt.datetime | None
    resolution_note: str | None


class ResolveRequest(SQLModel):
    """Close an open action item: done (acted on) or dismissed (nothing to do)."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    status: Literal["done", "dismissed"] = Field(description="done or dismissed")
    note: str | None = Field(default=None, max_length=MAX_NOTE, description="what was done")
