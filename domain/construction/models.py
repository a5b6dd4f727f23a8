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

from pydantic import ConfigDict, field_validator
from sqlalchemy import Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from core.clock import DEFAULT_TIMEZONE
from domain.construction.enums import (
    BidSource,
    BidStatus,
    ExpenseCategory,
    PhotoPhase,
    ProjectStatus,
    TaskStatus,
)
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "construction_service"


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
        # A deal has one rehab project: the deal subscribers and POST /projects both rely on it.
        Index(
            "uq_projects_org_deal",
            "org_id",
            "deal_id",
            unique=True,
            postgresql_where=text("deal_id IS NOT NULL"),
        ),
        {"schema": SCHEMA},
    )

    completed_on: dt.date | None = None
    scope_source: str | None = Field(
        default=None,
        sa_type=Text,  # type: ignore[call-overload]
        description="where the scope and its budgeted costs came from",
    )


class ProjectCreate(ProjectBase):
    """Body of ``POST /projects``."""

    @field_validator("budget")
    @classmethod
    def _budget_not_negative(cls, value: Decimal | None) -> Decimal | None:
        # A 422 on create, as PATCH gives ("budget cannot be negative").
        if value is not None and value < 0:
            raise ValueError("budget cannot be negative")
        return value


class ProjectUpdate(SQLModel):
    """Changes to a project: only the fields given change."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str | None = Field(default=None, max_length=200)
    status: ProjectStatus | None = None
    budget: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    start_date: dt.date | None = None
    target_end_date: dt.date | None = None
    completed_on: dt.date | None = None
    close_open_tasks: bool = Field(
        default=False,
        description=(
            "with status completed: cancel the tasks still open (todo, in_progress, blocked); "
            "without it, completing a project with open tasks is a 409"
        ),
    )


class ProjectRead(ProjectBase):
    """A project as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    completed_on: dt.date | None
    scope_source: str | None = None
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


class ScopeItemCreate(SQLModel):
    """One scope line to add to a project (component, quantity, budgeted cost)."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    component: str = Field(min_length=1, max_length=100, description='e.g. "roof", "furnace"')
    description: str | None = Field(default=None, max_length=2000)
    quantity: Decimal | None = Field(default=None, ge=0, max_digits=10, decimal_places=2)
    unit: str | None = Field(default=None, max_length=50, description="squares, sqft, each ...")
    budgeted_cost: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)


class ScopeItemRead(ScopeItemCreate):
    """A scope line as the API returns it."""

    model_config = ConfigDict(extra="ignore")  # type: ignore[assignment]

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class ProjectCreateBody(ProjectCreate):
    """Body of ``POST /projects``: the project and, optionally, its scope lines."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    scope: list[ScopeItemCreate] = Field(
        default_factory=list,
        description="scope lines; none given and a deal named: taken from the deal's estimate",
    )


RATING_STEP = Decimal("0.1")
RATING_DESCRIPTION = "0 to 5 in steps of 0.1 (one decimal place; 4.25 is refused)"


def rating_step(value: Decimal | None) -> Decimal | None:
    """A contractor rating with its one decimal place, as the database stores it."""
    return None if value is None else value.quantize(RATING_STEP)


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
    rating: Decimal | None = Field(  # type: ignore[call-overload]  # a Decimal step, exact
        default=None,
        max_digits=2,
        decimal_places=1,
        ge=0,
        le=5,
        multiple_of=RATING_STEP,
        description=RATING_DESCRIPTION,
    )
    notes: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]

    @field_validator("rating")
    @classmethod
    def _one_decimal(cls, value: Decimal | None) -> Decimal | None:
        """A rating reads as stored: one decimal place (3 is answered as 3.0)."""
        return rating_step(value)


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

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class ContractorUpdate(SQLModel):
    """Changes to a contractor: only the fields given change."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

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
    rating: Decimal | None = Field(  # type: ignore[call-overload]  # a Decimal step, exact
        default=None,
        max_digits=2,
        decimal_places=1,
        ge=0,
        le=5,
        multiple_of=RATING_STEP,
        description=RATING_DESCRIPTION,
    )
    notes: str | None = None

    @field_validator("rating")
    @classmethod
    def _one_decimal(cls, value: Decimal | None) -> Decimal | None:
        """A rating reads as stored: one decimal place (3 is answered as 3.0)."""
        return rating_step(value)


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

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class BidRead(BidBase):
    """A bid as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    warnings: list[str] = Field(
        default_factory=list,
        description="why the new bid cannot be awarded as it stands (its lines are awarded)",
    )


class TradeStartRead(SQLModel):
    """When one contractor starts on one open project, from their live bid."""

    project_id: uuid.UUID
    project: str = Field(description="the project's property address, or its name")
    contractor_id: uuid.UUID
    contractor: str
    trades: list[str]
    bid_id: uuid.UUID
    booked: bool = Field(description="true: an awarded bid (a booked date); false: an open bid")
    start_date: dt.date | None
    duration_days: int | None
    end_date: dt.date | None = Field(description="start date + duration, when both are known")
    total_amount: Decimal | None


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

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


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


# --- added with revision 0002 ---------------------------------------------------------------


class ProjectExpense(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """Money spent on a project, optionally against one scope line; finance books it too."""

    __tablename__ = "expenses"
    __table_args__ = {"schema": SCHEMA}

    project_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )
    scope_item_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.scope_items.id", index=True, ondelete="SET NULL"
    )
    contractor_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.contractors.id", index=True, ondelete="SET NULL"
    )
    amount: Decimal = money(nullable=False)
    category: ExpenseCategory = Field(
        default=ExpenseCategory.labour,
        sa_type=String(30),  # type: ignore[call-overload]
    )
    spent_on: dt.date
    description: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    vendor: str | None = Field(default=None, max_length=200)
    event_id: uuid.UUID | None = Field(
        default=None,
        description="the construction.expense.added (or .voided) event finance books it from",
    )
    created_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    voids_expense_id: uuid.UUID | None = Field(
        default=None,
        foreign_key=f"{SCHEMA}.expenses.id",
        unique=True,
        index=True,
        description="on a reversal: the expense it voids (an expense is voided at most once)",
    )


class ProjectActivity(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """Something that happened on a project, above all what other modules' events told us.

    ``source_event_id`` is unique: a subscriber that records its event here handles it once.
    """

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("source_event_id", name="uq_activities_source_event"),
        {"schema": SCHEMA},
    )

    project_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.projects.id", index=True, ondelete="CASCADE"
    )
    kind: str = Field(max_length=50)
    summary: str = Field(sa_type=Text)  # type: ignore[call-overload]
    details: dict[str, Any] = jsonb()
    source_event_id: uuid.UUID | None = None


# --- request and response shapes -------------------------------------------------------------


class BidLineItem(SQLModel):
    """One line of a bid: a price for one of the project's scope lines."""

    scope_item_id: uuid.UUID
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    note: str | None = Field(default=None, max_length=1000)


class TaskUpdate(SQLModel):
    """Changes to a task: only the fields given change."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    title: str | None = Field(default=None, max_length=200)
    description: str | None = None
    status: TaskStatus | None = None
    assignee_contractor_id: uuid.UUID | None = None
    scope_item_id: uuid.UUID | None = None
    due_date: dt.date | None = None
    depends_on: list[uuid.UUID] | None = None


class MilestoneCreate(SQLModel):
    """Body of ``POST /projects/{id}/milestones``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=200, description='e.g. "Rough-in inspection"')
    target_date: dt.date | None = None


class MilestoneRead(MilestoneCreate):
    """A milestone as the API returns it."""

    model_config = ConfigDict(extra="ignore")  # type: ignore[assignment]

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    reached_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ExpenseCreate(SQLModel):
    """Body of ``POST /projects/{id}/expenses``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    category: ExpenseCategory = ExpenseCategory.labour
    spent_on: dt.date | None = Field(
        default=None,
        description=(
            "default: today in the company's time zone (DEALDESK_TIMEZONE); at most 31 days "
            "ahead (422 beyond)"
        ),
    )
    scope_item_id: uuid.UUID | None = Field(default=None, description="the scope line it paid")
    contractor_id: uuid.UUID | None = None
    description: str | None = Field(default=None, max_length=2000)
    vendor: str | None = Field(default=None, max_length=200)
    refund: bool = Field(
        default=False,
        description=(
            "money back from the vendor or contractor (amount positive): booked as minus the "
            "amount on the line, and finance books a refund in the same category; 422 when it "
            "would take the line's or project's net spent below zero, 409 in a closed month"
        ),
    )


class ExpenseRead(SQLModel):
    """An expense as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    scope_item_id: uuid.UUID | None
    contractor_id: uuid.UUID | None
    amount: Decimal
    category: ExpenseCategory
    spent_on: dt.date
    description: str | None
    vendor: str | None
    event_id: uuid.UUID | None
    created_at: dt.datetime
    voids_expense_id: uuid.UUID | None = Field(
        default=None, description="on a reversal: the expense it voids"
    )
    voided_by_expense_id: uuid.UUID | None = Field(
        default=None, description="on a voided expense: the reversal that voids it"
    )


class ExpenseVoidBody(SQLModel):
    """Body of ``POST /projects/{id}/expenses/{expenseId}/void`` (optional)."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    reason: str | None = Field(default=None, max_length=500, description="why it is voided")


class PhotoRead(SQLModel):
    """A project photo as the API returns it (the bytes: ``GET /documents/{document_id}``)."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID
    document_id: uuid.UUID
    caption: str | None
    phase: PhotoPhase | None
    taken_at: dt.datetime | None
    created_at: dt.datetime
    width_px: int | None = None
    height_px: int | None = None


class ActivityRead(SQLModel):
    """A project activity entry as the API returns it."""

    id: uuid.UUID
    kind: str
    summary: str
    details: dict[str, Any]
    source_event_id: uuid.UUID | None
    created_at: dt.datetime


class ProjectDetail(ProjectRead):
    """A project with its scope, milestones, accepted bid and recent activity."""

    scope: list[ScopeItemRead]
    milestones: list[MilestoneRead]
    accepted_bid_id: uuid.UUID | None = Field(
        description="the first accepted bid (see accepted_bid_ids when awarded trade by trade)"
    )
    accepted_bid_ids: list[uuid.UUID] = Field(
        default_factory=list, description="every accepted bid, in the order they were received"
    )
    scope_total: Decimal = Field(description="sum of the scope lines' budgeted costs")
    activity: list[ActivityRead]


class LeveledLine(SQLModel):
    """One scope line of one bid, as leveling compares it."""

    scope_item_id: uuid.UUID
    component: str
    amount: Decimal
    source: str = Field(
        description=(
            "bid; else budgeted cost (the line's own budget) or, for a line with no budget, "
            "cost catalogue; none when neither prices it"
        )
    )
    flagged: bool = Field(description="the bid did not price this line; the amount is filled in")
    note: str | None = None
    outlier: bool = Field(
        default=False,
        description="the bid prices this line at more than 3x the line's budget: worth a "
        "second look (a typo, or a different job)",
    )


class LeveledBid(SQLModel):
    """One bid, leveled: its own total and the total with missing scope filled in."""

    bid_id: uuid.UUID
    contractor_id: uuid.UUID
    contractor_name: str | None
    status: BidStatus
    source: BidSource
    bid_total: Decimal | None
    itemised: bool = Field(description="false for a lump sum with no lines")
    complete: bool = Field(description="the bid prices every scope line (or is a lump sum)")
    missing_scope_item_ids: list[uuid.UUID]
    filled_in_amount: Decimal = Field(description="what the missing lines are priced at")
    leveled_total: Decimal = Field(description="bid total plus the filled-in missing lines")
    lines: list[LeveledLine]
    start_date: dt.date | None
    duration_days: int | None
    exclusions: str | None = Field(
        default=None, description="what the contractor left out (labour only, plus tax ...)"
    )
    awardable: bool = Field(
        default=True, description="the bid can still be awarded (only these can be lowest)"
    )
    not_awardable_reason: str | None = Field(
        default=None, description="why it cannot be awarded (already awarded, lines taken ...)"
    )
    outliers: list[str] = Field(
        default_factory=list, description="lines priced at more than 3x their budget"
    )
    withdrawal_reported: bool = Field(
        default=False,
        description="the contractor texted that they can no longer do the job (an open "
        "contractor_withdrew action item): never the lowest while that item is open",
    )
    withdrawal_reported_at: dt.datetime | None = Field(
        default=None, description="when they said so (the action item's date)"
    )
    withdrawal_action_item_id: uuid.UUID | None = Field(
        default=None, description="the open contractor_withdrew action item"
    )


class BidLeveling(SQLModel):
    """Every bid on a project compared line by line, and the lowest complete one."""

    project_id: uuid.UUID
    scope: list[ScopeItemRead]
    bids: list[LeveledBid]
    lowest_complete_bid_id: uuid.UUID | None = Field(
        description="the lowest complete bid that can still be awarded"
    )
    lowest_leveled_bid_id: uuid.UUID | None = Field(
        description="the lowest leveled bid that can still be awarded"
    )
    basis: list[str] = Field(description="how missing lines were priced")


class AwardResult(SQLModel):
    """What awarding a bid changed."""

    project: ProjectRead
    bid: BidRead
    rejected_bid_ids: list[uuid.UUID]
    budget: Decimal
    scope_updated: list[ScopeItemRead]
    scope_not_in_bid: list[uuid.UUID] = Field(
        description="scope lines this bid does not price (empty for a lump sum)"
    )
    scope_not_awarded: list[uuid.UUID] = Field(
        default_factory=list,
        description="scope lines no accepted bid prices yet (still at their budgeted cost)",
    )
    accepted_bid_ids: list[uuid.UUID] = Field(
        default_factory=list, description="every accepted bid on the project after this award"
    )


class BidRescheduleBody(SQLModel):
    """Body of ``POST /projects/{id}/bids/{bidId}/reschedule``: the awarded bid's new start."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    start_date: dt.date = Field(description="the new start the contractor gave (today or later)")
    duration_days: int | None = Field(
        default=None, ge=0, description="a new duration in days, when it changed too"
    )
    reason: str | None = Field(
        default=None, max_length=500, description="why it moved (goes into the audit log)"
    )


class BidRescheduleResult(SQLModel):
    """What moving an awarded bid's start changed: the bid, and the project's dates with it."""

    project: ProjectRead
    bid: BidRead
    contractor: str = Field(description="the contractor's name")
    old_start_date: dt.date | None
    new_start_date: dt.date
    old_duration_days: int | None
    duration_days: int | None
    changed: bool = Field(description="false when the bid already had this start and duration")
    project_start_moved: bool
    project_start_before: dt.date | None
    project_start_after: dt.date | None
    target_end_before: dt.date | None
    target_end_after: dt.date | None
    project_dates_note: str | None = Field(
        default=None, description="why the project's dates stayed as they were, when they did"
    )
    action_items_resolved: list[uuid.UUID] = Field(
        default_factory=list,
        description="the contractor's open confirm_start action items on the project, closed",
    )


class LineProgress(SQLModel):
    """Spent against budget on one scope line."""

    scope_item_id: uuid.UUID
    component: str
    budgeted_cost: Decimal | None
    spent: Decimal
    remaining: Decimal | None
    percent_spent: Decimal | None
    over_budget: bool


class LateTask(SQLModel):
    """A task past its due date and not done."""

    task_id: uuid.UUID
    title: str
    due_date: dt.date
    days_late: int


class ProjectProgress(SQLModel):
    """How far a project has come: by tasks, by budget, per line, and against the calendar."""

    project_id: uuid.UUID
    as_of: dt.date
    status: ProjectStatus
    tasks_total: int = Field(description="tasks not cancelled")
    tasks_done: int
    percent_complete_by_tasks: Decimal | None
    budget: Decimal | None
    budget_source: str
    spent: Decimal
    remaining: Decimal | None
    percent_complete_by_budget: Decimal | None = Field(description="spent / budget x 100")
    unallocated_spent: Decimal = Field(description="expenses booked against no scope line")
    lines: list[LineProgress]
    target_end_date: dt.date | None
    days_late: int = Field(description="past target_end_date (0 when not late)")
    late_tasks: list[LateTask]
    schedule_slip_days: int = Field(description="the larger of days_late and the latest task's")
    milestones_reached: int
    milestones_total: int
    sources: list[str]


class ExpenseVoidRead(SQLModel):
    """A voided expense, its reversal, and the project's progress after the void."""

    voided: ExpenseRead
    reversal: ExpenseRead
    progress: ProjectProgress
