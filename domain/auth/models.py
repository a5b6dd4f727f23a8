"""Organisations, users, roles, API tokens and the audit log (schema ``auth``)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.auth.enums import Role
from domain.auth.passwords import weak_password_reason
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "auth"

# E.164: a plus sign, a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Separators people type inside phone numbers; removed before validating.
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
# Deliberately loose: one @, no spaces, a dot in the domain. Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_phone_number(value: str) -> str:
    """Return ``value`` in E.164 form (``+13135550101``) or raise ``ValueError``."""
    compact = _PHONE_SEPARATORS.sub("", value.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise ValueError(
            f"phone number {value!r} is not in E.164 form (a + and the country code, "
            "e.g. +13135550101)"
        )
    return compact


def normalise_email(value: str) -> str:
    """Return ``value`` trimmed and lower-cased, or raise ``ValueError`` if it is not an email."""
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise ValueError(f"{value!r} is not an email address")
    return email


class Organisation(UUIDPrimaryKey, Timestamps, table=True):
    """A company using dealdesk; the root of all data scoping."""

    __tablename__ = "organisations"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(max_length=200)
    slug: str = Field(max_length=100, unique=True, index=True)


class OrganisationRead(SQLModel):
    """An organisation as the API returns it."""

    id: uuid.UUID
    name: str
    slug: str


class RoleDefinition(SQLModel, table=True):
    """A role a user can hold, with what it may do (reference data seeded by migrations)."""

    __tablename__ = "roles"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(primary_key=True, max_length=20)
    description: str = Field(max_length=300)
    permissions: list[str] = jsonb(default_factory=list)


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

    role: Role = Field(
        default=Role.analyst,
        sa_type=String(20),  # type: ignore[call-overload]
        foreign_key="auth.roles.name",
    )
    hashed_password: str | None = Field(default=None, max_length=255)
    session_epoch: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0", "nullable": False},
        description="raised by 'sign out everywhere': access tokens carrying an older one end",
    )


def _not_weak(password: str | None) -> str | None:
    """A password that is not among the most guessable (``weak_password_reason``), else 422."""
    if password is not None and (reason := weak_password_reason(password)):
        raise ValueError(reason)
    return password


class UserCreate(UserBase):
    """What a caller sends to create a user; email and phone number are normalised."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    password: str | None = Field(default=None, min_length=8, max_length=256)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return _not_weak(value)

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalise_phone_number(value)


class UserUpdate(SQLModel):
    """What a caller may change on a user; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    full_name: str | None = Field(default=None, max_length=200)
    phone_number: str | None = Field(default=None, max_length=20)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)

    @field_validator("phone_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalise_phone_number(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return _not_weak(value)


class UserRead(SQLModel):
    """A user as the API returns it (never the password hash)."""

    id: uuid.UUID
    org_id: uuid.UUID
    email: str
    full_name: str | None
    phone_number: str | None
    role: Role
    is_active: bool
    created_at: datetime


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


class ApiTokenCreate(SQLModel):
    """What a caller sends to create an API token for themselves."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="None: the token never expires"
    )


class ApiTokenRead(SQLModel):
    """An API token as the API lists it: its prefix, never the token or its hash."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenRead):
    """A freshly created API token, with its plaintext value (shown once, never again)."""

    token: str


class RevokedAccessToken(OrgScoped, CreatedAt, table=True):
    """An access token (JWT) signed out before it expired; kept until then, then pruned."""

    __tablename__ = "revoked_access_tokens"
    __table_args__ = {"schema": SCHEMA}

    revocation_key: str = Field(
        primary_key=True, max_length=80, description="'jti:<jti>', or 'sha256:<digest>'"
    )
    user_id: uuid.UUID = Field(foreign_key="auth.users.id", index=True, ondelete="CASCADE")
    expires_at: datetime = tstz(nullable=False, index=True)


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


class AuditLogRead(SQLModel):
    """An audit entry as the API returns it."""

    id: uuid.UUID
    created_at: datetime
    actor_user_id: uuid.UUID | None
    actor: str
    action: str
    entity: str
    entity_id: str | None
    changes: dict[str, Any]
    correlation_id: str | None
