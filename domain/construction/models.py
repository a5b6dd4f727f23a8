"""Rehab projects, scope, contractors, bids, tasks, photos, milestones (``construction_service``).

The seed gives this module endpoints and events but no SQL; the tables are designed from them:
a project belongs to a deal and a property (plain indexed UUIDs, not foreign keys, so the module
can be split out), is priced line by line in ``scope_items``, bid on by ``contractors`` (often
through AI phone calls, so contact windows, time zone and opt-out live on the contractor), and
tracked through ``tasks``, ``photos`` and ``milestones``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from domain.construction.enums import BidSource, BidStatus, PhotoPhase, ProjectStatus, TaskStatus
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "construction_service"
DEFAULT_TIMEZONE = "America/Detroit"


class ProjectBase(SQLModel):
    """Fields a caller may set on a project."""

    deal_id: uuid.UUID | None = Field(default=None, index=True, description="deal_service.deals.id")
    property_id: uuid.UUID | None = Field(
        default=None, index=True, description="property_service.properties.id"
    )
    name: str = Field(max_length=200)
    status: ProjectStatus = Field(default=ProjectStatus.planning, sa_type=String(50))  # type: ignore[call-overload]
    budget: Decimal | None = money()
    start_date: dt.date | None = None
    target_end_date: dt.date | None = None


class Project(UUIDPrimaryKey, OrgScoped, Timestamps, ProjectBase, table=True):
    """A rehab project on one property."""

    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_org_status", "org_id", "status"),
        {"schema": SCHEMA},
    )

    completed_on: dt.date | None = None


class ProjectCreate(ProjectBase):
    """Body of ``POST /projects``."""


class ProjectUpdate(SQLModel):
    """Changes to a project: only the fields given change."""

    name: str | None = Field(default=None, max_length=200)
    status: ProjectStatus | None = None
    budget: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    start_date: dt.date | None = None
    target_end_date: dt.date | None = None
    completed_on: dt.date | None = None


class ProjectRead(ProjectBase):
    """A project as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    completed_on: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ScopeItem(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """One line of a project's scope of work ("roof: tear-off and reshingle, 22 squares")."""

    __tablename__ = "scope_items"
    __table_args__ = {"schema": SCHEMA}

    project_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )
    component: str = Field(max_length=100)
    description: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    quantity: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    unit: str | None = Field(default=None, max_length=50, description="sqft, unit, linear ft")
    budgeted_cost: Decimal | None = money()


class ContractorBase(SQLModel):
    """Fields a caller may set on a contractor."""

    name: str = Field(max_length=200)
    company: str | None = Field(default=None, max_length=200)
    trades: list[str] = jsonb(default_factory=list, description='e.g. ["roofing", "plumbing"]')
    phone: str | None = Field(default=None, max_length=20, description="E.164")
    email: str | None = Field(default=None, max_length=320)
    service_area: str | None = Field(default=None, max_length=200)
    license_number: str | None = Field(default=None, max_length=50)
    license_expires_on: dt.date | None = None
    insurance_expires_on: dt.date | None = None
    preferred_contact_start: dt.time | None = Field(
        default=None, description="earliest local time to call"
    )
    preferred_contact_end: dt.time | None = Field(
        default=None, description="latest local time to call"
    )
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        max_length=64,
        sa_column_kwargs={"server_default": DEFAULT_TIMEZONE},
        description="IANA name",
    )
    opted_out: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": text("false")},
        description="asked not to be called; calls must not be placed",
    )
    rating: Decimal | None = Field(default=None, max_digits=2, decimal_places=1, ge=0, le=5)
    notes: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]


class Contractor(UUIDPrimaryKey, OrgScoped, Timestamps, ContractorBase, table=True):
    """A tradesperson or firm the company hires and calls for bids."""

    __tablename__ = "contractors"
    __table_args__ = (
        # One phone number is one contractor, so an inbound call or reply finds its owner.
        UniqueConstraint("org_id", "phone", name="uq_contractors_org_phone"),
        Index("ix_contractors_trades", "trades", postgresql_using="gin"),
        {"schema": SCHEMA},
    )


class ContractorCreate(ContractorBase):
    """Body of ``POST /contractors``."""


class ContractorUpdate(SQLModel):
    """Changes to a contractor: only the fields given change."""

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    trades: list[str] | None = None
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=320)
    service_area: str | None = Field(default=None, max_length=200)
    license_number: str | None = Field(default=None, max_length=50)
    license_expires_on: dt.date | None = None
    insurance_expires_on: dt.date | None = None
    preferred_contact_start: dt.time | None = None
    preferred_contact_end: dt.time | None = None
    timezone: str | None = Field(default=None, max_length=64)
    opted_out: bool | None = None
    rating: Decimal | None = Field(default=None, max_digits=2, decimal_places=1, ge=0, le=5)
    notes: str | None = None


class ContractorRead(ContractorBase):
    """A contractor as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class BidBase(SQLModel):
    """Fields a caller may set on a bid."""

    contractor_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.contractors.id", index=True, ondelete="CASCADE"
    )
    total_amount: Decimal | None = money()
    line_items: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{scope_item_id, amount, note}] per scope item"
    )
    exclusions: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    start_date: dt.date | None = None
    duration_days: int | None = Field(default=None, ge=0)
    status: BidStatus = Field(default=BidStatus.received, sa_type=String(20))  # type: ignore[call-overload]
    source: BidSource = Field(default=BidSource.manual, sa_type=String(20))  # type: ignore[call-overload]
    call_id: uuid.UUID | None = Field(
        default=None, index=True, description="voice_service.calls.id when taken on a call"
    )


class Bid(UUIDPrimaryKey, OrgScoped, Timestamps, BidBase, table=True):
    """A contractor's price for (part of) a project's scope."""

    __tablename__ = "bids"
    __table_args__ = {"schema": SCHEMA}

    project_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )


class BidCreate(BidBase):
    """Body of ``POST /projects/{id}/bids``."""


class BidRead(BidBase):
    """A bid as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskBase(SQLModel):
    """Fields a caller may set on a task."""

    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    status: TaskStatus = Field(default=TaskStatus.todo, sa_type=String(20))  # type: ignore[call-overload]
    assignee_contractor_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.contractors.id", index=True, ondelete="SET NULL"
    )
    scope_item_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.scope_items.id", index=True, ondelete="SET NULL"
    )
    due_date: dt.date | None = None
    depends_on: list[uuid.UUID] = Field(
        default_factory=list,
        sa_type=ARRAY(Uuid()),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": text("'{}'")},
        description="ids of tasks that must be done first",
    )


class Task(UUIDPrimaryKey, OrgScoped, Timestamps, TaskBase, table=True):
    """A piece of work on a project, optionally assigned to a contractor."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_project_status", "project_id", "status"),
        {"schema": SCHEMA},
    )

    project_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )
    completed_at: dt.datetime | None = tstz()


class TaskCreate(TaskBase):
    """Body of ``POST /projects/{id}/tasks``."""


class TaskRead(TaskBase):
    """A task as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProjectPhoto(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A progress photo of a project; the bytes live in the documents module."""

    __tablename__ = "photos"
    __table_args__ = {"schema": SCHEMA}

    project_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )
    document_id: uuid.UUID = Field(index=True, description="documents.documents.id")
    caption: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    phase: PhotoPhase | None = Field(default=None, sa_type=String(20))  # type: ignore[call-overload]
    taken_at: dt.datetime | None = tstz()


class Milestone(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A named point in a project (demo done, rough-in inspection passed ...) and when reached."""

    __tablename__ = "milestones"
    __table_args__ = {"schema": SCHEMA}

    project_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )
    name: str = Field(max_length=200)
    target_date: dt.date | None = None
    reached_at: dt.datetime | None = tstz()
