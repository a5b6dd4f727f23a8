"""Organisations, users, sign-in, API tokens and the audit log.

Every function is keyword-only and takes a session; everything that reads or changes an
organisation's rows takes its ``org_id`` and never returns another organisation's rows.
Functions flush, never commit: the caller owns the transaction, and audit rows are written in
it, so a change and its audit entry are saved or lost together.
"""

from __future__ import annotations

import contextvars
import hmac
import importlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from core.paging import count_rows
from domain.auth import security
from domain.auth.enums import Role
from domain.auth.models import (
    ApiToken,
    AuditLog,
    Organisation,
    RevokedAccessToken,
    RoleDefinition,
    User,
    UserCreate,
    UserUpdate,
    normalise_email,
)
from store.base import utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# A token's last use is written at most this often, so busy tokens do not write every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keys whose values never go into the audit log.
_SECRET_KEYS = {"password", "hashed_password", "token", "token_hash", "secret"}
MAX_AUDIT_LIMIT = 500
MAX_LIST_LIMIT = 200  # users (or API tokens) on one page of a list
# The unique index on an organisation's slug (revision 0001).
ORGANISATION_SLUG_INDEX = "ix_auth_organisations_slug"


class AuthError(Exception):
    """Base class of the errors this module raises."""


class NotFoundError(AuthError, LookupError):
    """The row does not exist in the caller's organisation."""


class ConflictError(AuthError):
    """The change would break a uniqueness or consistency rule."""


class EmailTakenError(ConflictError):
    """Another user already has this email address (in this organisation or another)."""


class PhoneNumberTakenError(ConflictError):
    """Another user already has this phone number (in this organisation or another)."""


# Emails and phone numbers are unique across organisations (sign-in is by email, a WhatsApp
# sender is found by number), so the refusal must not say whether the holder is in the
# caller's organisation: that would tell an admin which addresses another company uses.
_EMAIL_TAKEN = (
    "this email address can't be used for a new user; if they already have an account in "
    "your organisation, find them in GET /users"
)
_PHONE_TAKEN = (
    "this phone number can't be used for this user; if its owner already has an account in "
    "your organisation, find them in GET /users"
)


class LastAdminError(ConflictError):
    """The change would leave the organisation without an active admin."""


class NotAnAccessTokenError(AuthError, ValueError):
    """Signing out needs the access token (JWT) of a sign-in, not an API token."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user of one organisation, with their role."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role
    email: str

    def has_role(self, *roles: Role) -> bool:
        """True when the caller holds one of ``roles`` (exact: admin implies nothing here)."""
        return self.role in roles

    @property
    def is_admin(self) -> bool:
        """True for an organisation admin."""
        return self.role == Role.admin

    @classmethod
    def from_user(cls, user: User) -> Principal:
        """The principal a user acts as."""
        return cls(user_id=user.id, org_id=user.org_id, role=Role(user.role), email=user.email)


# --- organisations -----------------------------------------------------------------------


def _slugify(name: str) -> str:
    """A lower-case, dash-separated slug of ``name``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:80] or "org"


def create_organisation(*, session: Session, name: str, slug: str | None = None) -> Organisation:
    """Create an organisation; a slug is derived from the name (made unique) when not given."""
    name = name.strip()
    if not name:
        raise ValueError("an organisation needs a name")
    base = _slugify(slug or name)
    candidate = base
    while session.exec(select(Organisation.id).where(Organisation.slug == candidate)).first():
        if slug is not None:
            raise ConflictError(f"the organisation slug {candidate!r} is taken")
        candidate = f"{base}-{secrets.token_hex(3)}"
    organisation = Organisation(name=name, slug=candidate)
    while True:
        try:
            with session.begin_nested():
                session.add(organisation)
                session.flush()
            break
        except IntegrityError as exc:
            # A concurrent create took the slug between the check and the insert.
            if _violated_constraint(exc) != ORGANISATION_SLUG_INDEX:
                raise
            if slug is not None:
                raise ConflictError(f"the organisation slug {candidate!r} is taken") from exc
            organisation = Organisation(name=name, slug=f"{base}-{secrets.token_hex(3)}")
    record_audit(
        session=session,
        principal=None,
        org_id=organisation.id,
        action="create",
        entity="organisation",
        entity_id=organisation.id,
        changes={"name": organisation.name, "slug": organisation.slug},
    )
    return organisation


def get_organisation(*, session: Session, org_id: uuid.UUID) -> Organisation | None:
    """The organisation with ``org_id``, or None."""
    return session.get(Organisation, org_id)


def get_organisation_by_slug(*, session: Session, slug: str) -> Organisation | None:
    """The organisation with this slug (normalised as ``create_organisation`` does), or None."""
    return session.exec(select(Organisation).where(Organisation.slug == _slugify(slug))).first()


# --- users -------------------------------------------------------------------------------


def get_user(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    """The user ``user_id`` of the organisation, or None (also for another organisation's)."""
    user = session.get(User, user_id)
    return user if user is not None and user.org_id == org_id else None


def get_user_by_email(*, session: Session, email: str) -> User | None:
    """The user with this email address in any organisation (emails are unique), or None."""
    try:
        normalised = normalise_email(email)
    except ValueError:
        return None
    return session.exec(select(User).where(User.email == normalised)).first()


def get_user_by_phone(*, session: Session, phone_number: str) -> User | None:
    """The user with this E.164 phone number, in whichever organisation it belongs to."""
    return session.exec(select(User).where(User.phone_number == phone_number)).first()


def _users_query(
    *, org_id: uuid.UUID, role: Role | None, active_only: bool
) -> SelectOfScalar[User]:
    """The organisation's users, filtered (no order, no paging)."""
    statement = select(User).where(User.org_id == org_id)
    if role is not None:
        statement = statement.where(User.role == role)
    if active_only:
        statement = statement.where(col(User.is_active).is_(True))
    return statement


def list_users(
    *,
    session: Session,
    org_id: uuid.UUID,
    role: Role | None = None,
    active_only: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[User]:
    """The organisation's users by email (a page of at most ``limit`` when given)."""
    statement = _users_query(org_id=org_id, role=role, active_only=active_only).order_by(
        col(User.email), col(User.id)
    )
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_LIST_LIMIT)))
    return list(session.exec(statement.offset(max(offset, 0))))


def count_users(
    *, session: Session, org_id: uuid.UUID, role: Role | None = None, active_only: bool = False
) -> int:
    """How many users ``list_users`` with these filters would list over all pages."""
    return count_rows(session, _users_query(org_id=org_id, role=role, active_only=active_only))


def _violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an insert or update broke, when PostgreSQL names one."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _flush_unique_user(*, session: Session, user: User) -> None:
    """Flush ``user`` in a savepoint: a concurrent writer's email or phone number is a 409.

    ``_ensure_unique`` answers one request at a time; two at once both pass it, and the
    database's unique constraints refuse the second, which gets the same conflict error.
    """
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        constraint = _violated_constraint(exc)
        if constraint == "uq_users_email":
            raise EmailTakenError(_EMAIL_TAKEN) from exc
        if constraint == "uq_users_phone_number":
            raise PhoneNumberTakenError(_PHONE_TAKEN) from exc
        raise


def _ensure_unique(
    *, session: Session, email: str | None, phone_number: str | None, user_id: uuid.UUID | None
) -> None:
    """Raise when another user already has ``email`` or ``phone_number``."""
    if email is not None:
        statement = select(User.id).where(User.email == email)
        if user_id is not None:
            statement = statement.where(User.id != user_id)
        if session.exec(statement).first():
            raise EmailTakenError(_EMAIL_TAKEN)
    if phone_number is not None:
        statement = select(User.id).where(User.phone_number == phone_number)
        if user_id is not None:
            statement = statement.where(User.id != user_id)
        if session.exec(statement).first():
            raise PhoneNumberTakenError(_PHONE_TAKEN)


def create_user(
    *, session: Session, org_id: uuid.UUID, user_in: UserCreate, actor: Principal | None = None
) -> User:
    """Create a user in the organisation (email and phone number unique); audit-logged."""
    _ensure_unique(
        session=session, email=user_in.email, phone_number=user_in.phone_number, user_id=None
    )
    user = User(
        org_id=org_id,
        email=user_in.email,
        full_name=user_in.full_name,
        phone_number=user_in.phone_number,
        role=user_in.role,
        is_active=user_in.is_active,
        hashed_password=security.hash_password(user_in.password) if user_in.password else None,
    )
    _flush_unique_user(session=session, user=user)
    record_audit(
        session=session,
        principal=actor,
        org_id=org_id,
        action="create",
        entity="user",
        entity_id=user.id,
        changes=user_in.model_dump(exclude={"password"}) | {"has_password": bool(user_in.password)},
    )
    return user


def _count_other_active_admins(*, session: Session, user: User) -> int:
    """How many active admins the user's organisation has besides ``user``."""
    statement = select(func.count()).where(
        User.org_id == user.org_id,
        User.role == Role.admin,
        col(User.is_active).is_(True),
        User.id != user.id,
    )
    return int(session.exec(statement).one())


def update_user(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    user_in: UserUpdate,
    actor: Principal | None = None,
) -> User:
    """Change a user's details, role, status or password; audit-logged with before and after."""
    user = get_user(session=session, org_id=org_id, user_id=user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    updates = user_in.model_dump(exclude_unset=True)
    password = updates.pop("password", None)
    for required in ("role", "is_active"):
        # An explicit null means "leave as is" for fields that cannot be empty.
        if updates.get(required, False) is None:
            del updates[required]
    if "phone_number" in updates:
        _ensure_unique(
            session=session, email=None, phone_number=updates["phone_number"], user_id=user.id
        )
    stays_admin = updates.get("role", user.role) == Role.admin and updates.get(
        "is_active", user.is_active
    )
    if user.role == Role.admin and user.is_active and not stays_admin:
        if _count_other_active_admins(session=session, user=user) == 0:
            raise LastAdminError("the organisation must keep at least one active admin")
    changes: dict[str, Any] = {}
    for field, new in updates.items():
        old = getattr(user, field)
        if old != new:
            changes[field] = {"from": old, "to": new}
            setattr(user, field, new)
    if password:
        user.hashed_password = security.hash_password(password)
        changes["password_changed"] = True
    if changes.get("is_active", {}).get("to") is False:
        # Deactivation ends every session for good: reactivating the user later must not
        # bring back the access tokens (session epoch) or API tokens (revoked) of before.
        user.session_epoch += 1
        changes["session_epoch"] = user.session_epoch
        changes["api_tokens_revoked"] = _revoke_user_api_tokens(session=session, user=user)
    if changes:
        _flush_unique_user(session=session, user=user)
        record_audit(
            session=session,
            principal=actor,
            org_id=org_id,
            action="update",
            entity="user",
            entity_id=user.id,
            changes=changes,
        )
    return user


def _revoke_user_api_tokens(*, session: Session, user: User) -> int:
    """Revoke every live API token of ``user`` at once; return how many."""
    revoked = session.execute(
        update(ApiToken)
        .where(
            col(ApiToken.org_id) == user.org_id,
            col(ApiToken.user_id) == user.id,
            col(ApiToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
        .returning(col(ApiToken.id))
    ).all()
    return len(revoked)


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, or None (same work either way)."""
    user = get_user_by_email(session=session, email=email)
    if user is None or not user.hashed_password:
        # Verify against a dummy hash so a missing user takes as long as a wrong password.
        security.verify_password(password, security.dummy_password_hash())
        return None
    if not security.verify_password(password, user.hashed_password):
        return None
    if not user.is_active:
        return None
    if security.password_needs_rehash(user.hashed_password):
        user.hashed_password = security.hash_password(password)
        session.add(user)
        session.flush()
    return user


def record_failed_sign_in(
    *, session: Session, email: str, address: str, locked_for_s: int = 0
) -> AuditLog | None:
    """Audit a failed sign-in (and, with ``locked_for_s``, the lockout it caused).

    The entry is in the organisation of the user the email names (action ``login_failed``,
    then ``login_locked`` when this failure reached the limit), with the email as typed
    (phone numbers masked) and the client's address. An email that names no user has no
    organisation to log to: a warning line (masked) says it instead. Returns the last entry.
    """
    masked = importlib.import_module("core.observability").mask(email.strip())[:200]
    user = get_user_by_email(session=session, email=email)
    if user is None:
        log.warning(
            "failed sign-in for an unknown email %s from %s%s",
            masked,
            address,
            f"; locked for {locked_for_s} s" if locked_for_s else "",
        )
        return None
    details = {"email": masked, "ip": address}
    entry = record_audit(
        session=session,
        principal=None,
        org_id=user.org_id,
        actor=masked,
        action="login_failed",
        entity="user",
        entity_id=user.id,
        changes=details,
    )
    if locked_for_s:
        entry = record_audit(
            session=session,
            principal=None,
            org_id=user.org_id,
            actor=masked,
            action="login_locked",
            entity="user",
            entity_id=user.id,
            changes={**details, "locked_for_s": locked_for_s},
        )
    return entry


def issue_access_token(*, user: User) -> str:
    """A signed access token (JWT) for ``user``, valid for ``ACCESS_TOKEN_MINUTES``.

    It carries a fingerprint of the user's password hash (a new password ends it at once), a
    random ``jti`` (signing out revokes it alone) and the user's session epoch ("sign out
    everywhere" ends it).
    """
    return security.create_access_token(
        user_id=user.id,
        org_id=user.org_id,
        role=Role(user.role),
        password_fingerprint=security.password_fingerprint(user.hashed_password),
        session_epoch=user.session_epoch,
    )


# --- signing out -------------------------------------------------------------------------


def prune_revoked_access_tokens(*, session: Session) -> int:
    """Forget signed-out access tokens that have expired anyway; return how many."""
    result = session.execute(
        delete(RevokedAccessToken).where(col(RevokedAccessToken.expires_at) <= utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _is_revoked(*, session: Session, token: str, claims: security.AccessTokenClaims) -> bool:
    """True when this access token was signed out."""
    key = security.access_token_revocation_key(token, claims)
    return session.get(RevokedAccessToken, key) is not None


def sign_out(*, session: Session, token: str, principal: Principal) -> None:
    """Revoke the access token ``token`` of ``principal`` at once; audit-logged.

    Other sign-ins of the same user and the user's API tokens are untouched. Signing out a
    token twice is harmless; expired revocations are pruned on the way.
    """
    if security.is_api_token(token):
        raise NotAnAccessTokenError(
            "this is an API token: revoke it with DELETE /api/v1/auth/tokens/{token_id}"
        )
    claims = security.decode_access_token(token)
    if claims is None or claims.user_id != principal.user_id or claims.org_id != principal.org_id:
        raise NotAnAccessTokenError("not a valid access token of the caller")
    key = security.access_token_revocation_key(token, claims)
    prune_revoked_access_tokens(session=session)
    # ON CONFLICT: two sign-outs of one token at once both succeed.
    session.execute(
        pg_insert(RevokedAccessToken)
        .values(
            revocation_key=key,
            org_id=principal.org_id,
            user_id=principal.user_id,
            expires_at=claims.expires_at,
        )
        .on_conflict_do_nothing(index_elements=["revocation_key"])
    )
    record_audit(
        session=session,
        principal=principal,
        action="logout",
        entity="user",
        entity_id=principal.user_id,
        changes={"session": key, "session_expires_at": claims.expires_at},
    )


def sign_out_everywhere(*, session: Session, principal: Principal) -> int:
    """End every access token of ``principal``'s user (API tokens stay); audit-logged.

    Raises the user's session epoch: tokens carry the epoch they were issued under, so all
    of them, the caller's included, stop working; a new sign-in gets the new epoch. Returns
    the new epoch.
    """
    epoch = session.execute(
        update(User)
        .where(col(User.id) == principal.user_id, col(User.org_id) == principal.org_id)
        .values(session_epoch=col(User.session_epoch) + 1)
        .returning(col(User.session_epoch))
    ).scalar_one_or_none()
    if epoch is None:
        raise NotFoundError(f"no user {principal.user_id}")
    user = session.get(User, principal.user_id)
    if user is not None:
        # The UPDATE bypassed the identity map: let the loaded row see the new epoch.
        session.refresh(user, attribute_names=["session_epoch"])
    # The epoch now ends these tokens too; their rows are no longer needed.
    session.execute(
        delete(RevokedAccessToken).where(col(RevokedAccessToken.user_id) == principal.user_id)
    )
    prune_revoked_access_tokens(session=session)
    record_audit(
        session=session,
        principal=principal,
        action="logout_all",
        entity="user",
        entity_id=principal.user_id,
        changes={"session_epoch": epoch},
    )
    return int(epoch)


# --- API tokens --------------------------------------------------------------------------


def create_api_token(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    expires_in_days: int | None = None,
    actor: Principal | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token for a user; return the row and the plaintext (shown only once)."""
    user = get_user(session=session, org_id=org_id, user_id=user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    plaintext = security.generate_api_token()
    token = ApiToken(
        org_id=org_id,
        user_id=user.id,
        name=name.strip(),
        prefix=security.api_token_display_prefix(plaintext),
        token_hash=security.hash_api_token(plaintext),
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    record_audit(
        session=session,
        principal=actor,
        org_id=org_id,
        action="create",
        entity="api_token",
        entity_id=token.id,
        changes={
            "name": token.name,
            "prefix": token.prefix,
            "user_id": user.id,
            "expires_at": token.expires_at,
        },
    )
    return token, plaintext


def get_api_token(
    *,
    session: Session,
    org_id: uuid.UUID,
    token_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
) -> ApiToken | None:
    """The organisation's token ``token_id`` (only ``user_id``'s when given), or None."""
    token = session.get(ApiToken, token_id)
    if token is None or token.org_id != org_id:
        return None
    if user_id is not None and token.user_id != user_id:
        return None
    return token


def _api_tokens_query(*, org_id: uuid.UUID, user_id: uuid.UUID | None) -> SelectOfScalar[ApiToken]:
    """The organisation's unrevoked API tokens (only ``user_id``'s when given; no paging).

    A revoked token is gone for its owner: not listed, and a second revoke is a 404. An expired
    one is still listed (its ``expires_at`` in the past) until it is revoked.
    """
    statement = select(ApiToken).where(
        ApiToken.org_id == org_id, col(ApiToken.revoked_at).is_(None)
    )
    if user_id is not None:
        statement = statement.where(ApiToken.user_id == user_id)
    return statement


def list_api_tokens(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ApiToken]:
    """The organisation's API tokens (only ``user_id``'s when given), newest first."""
    statement = _api_tokens_query(org_id=org_id, user_id=user_id).order_by(
        col(ApiToken.created_at).desc(), col(ApiToken.id)
    )
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_LIST_LIMIT)))
    return list(session.exec(statement.offset(max(offset, 0))))


def count_api_tokens(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> int:
    """How many tokens ``list_api_tokens`` would list over all pages."""
    return count_rows(session, _api_tokens_query(org_id=org_id, user_id=user_id))


def revoke_api_token(
    *,
    session: Session,
    org_id: uuid.UUID,
    token_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    actor: Principal | None = None,
) -> ApiToken:
    """Revoke a token at once, audit-logged; NotFoundError when unknown or already revoked."""
    token = get_api_token(session=session, org_id=org_id, token_id=token_id, user_id=user_id)
    if token is None:
        raise NotFoundError(f"no API token {token_id}")
    if token.revoked_at is not None:
        raise NotFoundError(f"API token {token_id} is already revoked")
    token.revoked_at = utcnow()
    session.add(token)
    session.flush()
    record_audit(
        session=session,
        principal=actor,
        org_id=org_id,
        action="revoke",
        entity="api_token",
        entity_id=token.id,
        changes={"name": token.name, "prefix": token.prefix, "user_id": token.user_id},
    )
    return token


def _resolve_api_token(*, session: Session, token: str) -> User | None:
    """The user behind a live API token (recording its use), or None."""
    row = session.exec(
        select(ApiToken).where(ApiToken.token_hash == security.hash_api_token(token))
    ).first()
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.org_id != row.org_id:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.add(row)
        session.flush()
    return user


def resolve_token(*, session: Session, token: str) -> Principal | None:
    """Who a bearer token (JWT or API token) belongs to; None if invalid, expired or revoked.

    The role comes from the database, so a changed role or a deactivated user takes effect
    at once, even for access tokens issued before; so does a new password (access tokens
    carry a fingerprint of the password hash they were issued under), signing out (the
    token's revocation is stored) and signing out everywhere (the user's session epoch).
    """
    if security.is_api_token(token):
        user = _resolve_api_token(session=session, token=token)
    else:
        claims = security.decode_access_token(token)
        if claims is None:
            return None
        user = session.get(User, claims.user_id)
        if user is not None and user.org_id != claims.org_id:
            user = None
        if user is not None and not hmac.compare_digest(
            claims.password_fingerprint or "", security.password_fingerprint(user.hashed_password)
        ):
            user = None
        if user is not None and claims.session_epoch != user.session_epoch:
            user = None  # ended by "sign out everywhere"
        if user is not None and _is_revoked(session=session, token=token, claims=claims):
            user = None  # signed out
    if user is None or not user.is_active:
        return None
    return Principal.from_user(user)


# --- roles -------------------------------------------------------------------------------


def list_roles(*, session: Session) -> list[RoleDefinition]:
    """The roles a user can hold, with their permissions."""
    return list(session.exec(select(RoleDefinition).order_by(col(RoleDefinition.name))))


# --- audit log ---------------------------------------------------------------------------


def current_correlation_id() -> str | None:
    """The request's or job's correlation id, when observability has set one."""
    try:
        observability = importlib.import_module("core.observability")
    except ImportError:
        return None
    var = getattr(observability, "correlation_id", None)
    if not isinstance(var, contextvars.ContextVar):
        return None
    value = var.get(None)
    return str(value)[:64] if value else None


def _masked_phone(value: Any) -> Any:
    """A phone number as the audit log keeps it: all but its last four digits starred."""
    if isinstance(value, dict):  # an update's {"from": ..., "to": ...}
        return {str(key): _masked_phone(item) for key, item in value.items()}
    if not isinstance(value, str):
        return to_jsonable_python(value)
    masked = str(importlib.import_module("core.observability").mask(value))
    if masked == value:  # a format the log masking does not know: star the digits anyway
        digits = [i for i, ch in enumerate(value) if ch.isdigit()]
        keep = set(digits[-4:])
        masked = "".join("*" if i in digits and i not in keep else ch for i, ch in enumerate(value))
    return masked


def _audit_safe(value: Any) -> Any:
    """``value`` as JSON, with secrets dropped and phone numbers masked.

    UUIDs, decimals and datetimes become strings. A value under a key naming a phone
    (``phone``, ``phone_number`` ...) keeps only its last four digits, as the logs do
    (``core.observability.mask``): the audit log is read by every admin.
    """
    if isinstance(value, dict):
        return {
            str(key): _masked_phone(item) if "phone" in str(key).lower() else _audit_safe(item)
            for key, item in value.items()
            if str(key) not in _SECRET_KEYS
        }
    return to_jsonable_python(value)


def record_audit(
    *,
    session: Session,
    principal: Principal | None,
    action: str,
    entity: str,
    entity_id: uuid.UUID | str | None = None,
    changes: dict[str, Any] | None = None,
    org_id: uuid.UUID | None = None,
    actor: str | None = None,
) -> AuditLog:
    """Write an audit entry in the caller's transaction.

    ``principal`` is who acted; None for the system or a job (name it with ``actor``), in
    which case ``org_id`` is required. With a principal, ``org_id`` defaults to theirs and
    must match it.
    """
    if principal is not None:
        if org_id is not None and org_id != principal.org_id:
            raise ValueError("an audit entry must be in the acting principal's organisation")
        org_id = principal.org_id
    if org_id is None:
        raise ValueError("record_audit needs a principal or an org_id")
    entry = AuditLog(
        org_id=org_id,
        actor_user_id=principal.user_id if principal else None,
        actor=(principal.email if principal else actor or SYSTEM_ACTOR)[:200],
        action=action,
        entity=entity,
        entity_id=str(entity_id) if entity_id is not None else None,
        changes=_audit_safe(changes or {}),
        correlation_id=current_correlation_id(),
    )
    session.add(entry)
    session.flush()
    return entry


def _audit_query(
    *, org_id: uuid.UUID, entity: str | None, entity_id: uuid.UUID | str | None
) -> SelectOfScalar[AuditLog]:
    """The organisation's audit entries, filtered (no order, no paging)."""
    statement = select(AuditLog).where(AuditLog.org_id == org_id)
    if entity is not None:
        statement = statement.where(AuditLog.entity == entity)
    if entity_id is not None:
        statement = statement.where(AuditLog.entity_id == str(entity_id))
    return statement


def list_audit(
    *,
    session: Session,
    org_id: uuid.UUID,
    entity: str | None = None,
    entity_id: uuid.UUID | str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditLog]:
    """The organisation's audit entries, newest first (at most ``limit``, capped at 500)."""
    statement = _audit_query(org_id=org_id, entity=entity, entity_id=entity_id).order_by(
        col(AuditLog.created_at).desc(), col(AuditLog.id).desc()
    )
    limit = max(1, min(limit, MAX_AUDIT_LIMIT))
    return list(session.exec(statement.limit(limit).offset(max(offset, 0))))


def count_audit(
    *,
    session: Session,
    org_id: uuid.UUID,
    entity: str | None = None,
    entity_id: uuid.UUID | str | None = None,
) -> int:
    """How many entries ``list_audit`` with these filters would list over all pages."""
    return count_rows(session, _audit_query(org_id=org_id, entity=entity, entity_id=entity_id))


def get_audit_entry(*, session: Session, org_id: uuid.UUID, entry_id: uuid.UUID) -> AuditLog | None:
    """The organisation's audit entry ``entry_id``, or None."""
    entry = session.get(AuditLog, entry_id)
    return entry if entry is not None and entry.org_id == org_id else None
