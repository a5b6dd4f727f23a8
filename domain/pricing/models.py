"""The component cost book and its change history (schema ``pricing_service``)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import DateTime, Index, String, Text, func
from sqlmodel import Field

from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, money, utcnow

SCHEMA = "pricing_service"


class ComponentCost(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """What one unit of a component costs (materials plus labour), from a vendor or estimate."""

    __tablename__ = "component_costs"
    __table_args__ = (
        Index("ix_component_costs_org_component", "org_id", "component_name"),
        {"schema": SCHEMA},
    )

    component_name: str = Field(max_length=100)
    unit: str | None = Field(
        default=None,
        sa_type=String(50),  # type: ignore[call-overload]
        description="sqft, unit, linear ft (see domain.pricing.enums.CostUnit)",
    )
    material_cost: Decimal | None = money(digits=10)
    labor_cost: Decimal | None = money(digits=10)
    total_cost: Decimal | None = money(digits=10)
    vendor: str | None = Field(default=None, max_length=200)
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
