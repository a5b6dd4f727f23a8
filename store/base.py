"""Shared column conventions for every table: UUID keys, organisation scope, timestamps, money."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UUIDPrimaryKey(SQLModel):
    """A random UUID primary key."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)


class OrgScoped(SQLModel):
    """Every business row belongs to exactly one organisation."""

    org_id: uuid.UUID = Field(foreign_key="auth.organisations.id", index=True, ondelete="CASCADE")


class Timestamps(SQLModel):
    """Creation and last-update times, set by the database and refreshed on update."""

    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "onupdate": utcnow, "nullable": False},
    )


class CreatedAt(SQLModel):
    """Creation time only, for append-only rows."""

    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


def money(*, nullable: bool = True, digits: int = 12, **kwargs: Any) -> Any:
    """A ``NUMERIC(digits, 2)`` money column (``Decimal`` in Python, never float)."""
    return Field(
        default=None if nullable else Decimal("0"),
        max_digits=digits,
        decimal_places=2,
        sa_type=Numeric(digits, 2),  # type: ignore[call-overload]
        **kwargs,
    )


def jsonb(default_factory: Any = dict, **kwargs: Any) -> Any:
    """A JSONB column."""
    return Field(default_factory=default_factory, sa_type=JSONB, **kwargs)  # type: ignore[call-overload]


def tstz(*, nullable: bool = True, **kwargs: Any) -> Any:
    """A ``TIMESTAMP WITH TIME ZONE`` column."""
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"nullable": nullable},
        **kwargs,
    )
