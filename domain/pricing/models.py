"""The component cost book, its change history and rehab estimates (schema ``pricing_service``).

Each organisation has its own copy of the cost book (``component_costs``), made from the
default catalogue (``domain.pricing.catalogue``) the first time the organisation uses it, so an
organisation's edits never change another's estimates and every row keeps the business-table
rule ``org_id NOT NULL``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as ApiField
from sqlalchemy import DateTime, Index, Numeric, String, Text, UniqueConstraint, func
from sqlmodel import Field, SQLModel

from domain.pricing.enums import Condition, CostUnit, RehabAction, UnpricedReason
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, money, utcnow

SCHEMA = "pricing_service"
MAX_UNIT_COST = Decimal("99999999.99")  # NUMERIC(10, 2)


class ComponentCost(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """What one unit of a component costs (materials plus labour), from a vendor or estimate."""

    __tablename__ = "component_costs"
    __table_args__ = (
        Index("ix_component_costs_org_component", "org_id", "component_name"),
        # One row per catalogue component per organisation: copying the default catalogue
        # twice (two first requests at once) inserts nothing the second time.
        UniqueConstraint("org_id", "component_key", name="uq_component_costs_org_key"),
        {"schema": SCHEMA},
    )

    component_key: str = Field(max_length=60, description="stable catalogue key, e.g. furnace")
    component_name: str = Field(max_length=100)
    category: str | None = Field(default=None, max_length=50)
    unit: str | None = Field(
        default=None,
        sa_type=String(50),  # type: ignore[call-overload]
        description="sqft, square, linear ft, each, job (see domain.pricing.enums.CostUnit)",
    )
    material_cost: Decimal | None = money(digits=10)
    labor_cost: Decimal | None = money(digits=10)
    total_cost: Decimal | None = money(digits=10)
    repair_fraction: Decimal = Field(
        default=Decimal("0"),
        max_digits=4,
        decimal_places=3,
        sa_type=Numeric(4, 3),  # type: ignore[call-overload]
        description="share of the replacement cost a fair-condition repair costs",
    )
    repair_scope: str | None = Field(default=None, max_length=200)
    vendor: str | None = Field(default=None, max_length=200)
    basis: str | None = Field(
        default=None,
        sa_type=Text,  # type: ignore[call-overload]
        description="where the figure comes from",
    )
    last_updated: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
        description="when the price itself last changed",
    )


class CostHistory(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """One change to a cost-book price: old, new, why and by whom."""

    __tablename__ = "cost_history"
    __table_args__ = {"schema": SCHEMA}

    component_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.component_costs.id", index=True, ondelete="CASCADE"
    )
    old_cost: Decimal | None = money(digits=10)
    new_cost: Decimal | None = money(digits=10)
    reason: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    updated_by: str | None = Field(default=None, max_length=100)


class ComponentCostRead(SQLModel):
    """A cost-book row as the API returns it."""

    id: uuid.UUID
    component_key: str
    component_name: str
    category: str | None
    unit: str | None
    material_cost: Decimal | None
    labor_cost: Decimal | None
    total_cost: Decimal | None
    repair_fraction: Decimal
    repair_scope: str | None
    vendor: str | None
    basis: str | None
    last_updated: dt.datetime


class ComponentCostUpdate(BaseModel):
    """Body of ``PUT /component-costs/{id}``: new unit costs and why they changed."""

    model_config = ConfigDict(extra="forbid")

    material_cost: Decimal | None = ApiField(
        default=None, ge=0, le=MAX_UNIT_COST, description="per unit, dollars"
    )
    labor_cost: Decimal | None = ApiField(
        default=None, ge=0, le=MAX_UNIT_COST, description="per unit, dollars"
    )
    vendor: str | None = ApiField(default=None, max_length=200)
    reason: str = ApiField(min_length=1, max_length=2000, description="why the price changed")

    @field_validator("reason")
    @classmethod
    def _reason_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason for the change is required")
        return value.strip()


class CostHistoryRead(SQLModel):
    """One recorded change to a cost-book row."""

    id: uuid.UUID
    component_id: uuid.UUID
    old_cost: Decimal | None
    new_cost: Decimal | None
    reason: str | None
    updated_by: str | None
    created_at: dt.datetime


# Free-ish condition words (from walkthrough narration or photo labels) and the grade they mean.
CONDITION_SYNONYMS: dict[str, Condition] = {
    "new": Condition.excellent,
    "like new": Condition.excellent,
    "great": Condition.excellent,
    "ok": Condition.good,
    "okay": Condition.good,
    "average": Condition.fair,
    "worn": Condition.fair,
    "dated": Condition.fair,
    "needs repair": Condition.fair,
    "repair": Condition.fair,
    "bad": Condition.poor,
    "broken": Condition.poor,
    "failed": Condition.poor,
    "missing": Condition.poor,
    "damaged": Condition.poor,
    "needs replacement": Condition.poor,
    "replace": Condition.poor,
}


class ComponentInput(BaseModel):
    """One component to price: its (free-ish) name, condition and, optionally, quantity."""

    model_config = ConfigDict(extra="forbid")

    component: str = ApiField(min_length=1, max_length=100, description='e.g. "roof", "hvac"')
    condition: Condition | None = ApiField(
        default=None,
        description="poor: replace; fair: repair; good/excellent: nothing; absent: replace",
    )
    quantity: Decimal | None = ApiField(default=None, gt=0, le=Decimal("1000000"))
    unit: CostUnit | None = ApiField(
        default=None, description="the quantity's unit, if not the book's"
    )
    notes: str | None = ApiField(default=None, max_length=1000)

    @field_validator("condition", mode="before")
    @classmethod
    def _condition_synonyms(cls, value: object) -> object:
        if isinstance(value, str):
            word = " ".join(value.strip().lower().replace("_", " ").split())
            if word in CONDITION_SYNONYMS:
                return CONDITION_SYNONYMS[word]
            return word or None
        return value


class RehabLineItem(BaseModel):
    """One priced line of a rehab estimate, with the catalogue row it came from."""

    component: str = ApiField(description="as the caller named it")
    component_key: str
    component_name: str
    condition: Condition | None
    action: RehabAction
    quantity: Decimal
    unit: str
    quantity_source: str = ApiField(description="given, converted, or the default rule used")
    unit_material: Decimal
    unit_labour: Decimal
    unit_total: Decimal
    line_total: Decimal
    repair_fraction: Decimal | None = ApiField(description="applied when the action is repair")
    catalogue_id: uuid.UUID
    notes: str | None = None


class UnpricedComponent(BaseModel):
    """A requested component that got no line, and why (never silently dropped)."""

    component: str
    reason: UnpricedReason
    message: str


class RehabEstimate(BaseModel):
    """A rehab budget: line items, subtotal, contingency, total, and how it was reached."""

    line_items: list[RehabLineItem]
    unpriced: list[UnpricedComponent]
    subtotal: Decimal
    contingency_pct: Decimal
    contingency: Decimal
    total: Decimal
    square_feet: int | None
    stories: int
    assumptions: list[str]
    basis: str = ApiField(description="where the unit costs come from")


class RehabEstimateRequest(BaseModel):
    """Body of ``POST /valuations/component-costs``."""

    model_config = ConfigDict(extra="forbid")

    items: list[ComponentInput] = ApiField(min_length=1, max_length=200)
    square_feet: int | None = ApiField(
        default=None, gt=0, le=100000, description="living area, for default quantities"
    )
    stories: int | None = ApiField(default=None, ge=1, le=5, description="for roof area; default 1")
    contingency_pct: Decimal = ApiField(default=Decimal("10"), ge=0, le=100)
