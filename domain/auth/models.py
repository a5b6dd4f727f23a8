"""Organisations, users, roles, API tokens and the audit log (schema ``auth``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.auth.enums import Role
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "auth"


class Organisation(UUIDPrimaryKey, Timestamps, table=True):
    """A company using dealdesk; the root of all data scoping."""

    __tablename__ = "organisations"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(max_length=200)
    slug: str = Field(max_length=100, unique=True, index=True)


class UserBase(SQLModel):
    """Fields a caller may set on a user."""

    email: str = Field(max_length=320)
    full_name: str | None = Field(default=None, max_length=200)
    phone_number: str | None = Field(default=None, max_length=20, description="E.164")
    role: Role = Field(default=Role.analyst, sa_type=String(20))  # type: ignore[call-overload]
    is_active: bool = True


class User(UUIDPrimaryKey, OrgScoped, Timestamps, UserBase, table=True):
    """A person who uses dealdesk, in exactly one organisation."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email", name="uq_users_email"),
        # An investor's phone number maps to exactly one user.
        UniqueConstraint("phone_number", name="uq_users_phone_number"),
        {"schema": SCHEMA},
    )

    hashed_password: str | None = Field(default=None, max_length=255)


class ApiToken(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A long-lived API token; only its hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = {"schema": SCHEMA}

    user_id: uuid.UUID = Field(foreign_key="auth.users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, index=True, description="first characters, for display")
    token_hash: str = Field(max_length=128, unique=True)
    expires_at: datetime | None = tstz()
    last_used_at: datetime | None = tstz()
    revoked_at: datetime | None = tstz()


class AuditLog(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """Who changed what, when."""

    __tablename__ = "audit_log"
    __table_args__ = {"schema": SCHEMA}

    actor_user_id: uuid.UUID | None = Field(default=None, index=True)
    actor: str = Field(max_length=200, description="user email, 'system', or a job name")
    action: str = Field(max_length=50, description="create, update, delete, login ...")
    entity: str = Field(max_length=100, index=True)
    entity_id: str | None = Field(default=None, max_length=100, index=True)
    changes: dict[str, Any] = jsonb()
    correlation_id: str | None = Field(default=None, max_length=64)
