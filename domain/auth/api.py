"""Sign-in, users, API tokens and the audit log (mounted under ``/api/v1``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, Security, status
from fastapi.security import HTTPAuthorizationCredentials, OAuth2PasswordRequestForm
from pydantic import BaseModel

from core import ratelimit
from core.config import get_settings
from core.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    SessionDep,
    bearer_scheme,
    require_roles,
)
from core.location import LOCATION_201, CreatedLocation
from core.paging import Offset, send_total, total_count
from domain.auth import service
from domain.auth.enums import Role
from domain.auth.models import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    AuditLogRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from domain.auth.service import Principal

router = APIRouter()

AuditReader = Annotated[Principal, Depends(require_roles(Role.analyst))]
# The bearer credentials themselves (``CurrentPrincipal`` has already checked them).
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]


class AccessTokenResponse(BaseModel):
    """An OAuth2 bearer token response."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class RoleRead(BaseModel):
    """A role and what it is for."""

    name: str
    description: str
    permissions: list[str]


def _not_found(what: str) -> HTTPException:
    """A 404 for a row that does not exist in the caller's organisation."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def _conflict(error: service.ConflictError) -> HTTPException:
    """A 409 carrying the service's explanation."""
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error))


_USER_NOT_FOUND: dict[int | str, dict[str, str]] = {
    404: {"description": "No such user in your organisation"}
}
_CONFLICT: dict[int | str, dict[str, str]] = {
    409: {"description": "The email or phone number is taken, or no admin would be left"}
}


@router.post(
    "/auth/token",
    response_model=AccessTokenResponse,
    tags=["auth"],
    summary="Sign in: exchange an email and password for a bearer access token",
    responses={
        401: {"description": "Incorrect email or password"},
        429: {"description": "Too many failed sign-ins for this account from this address"},
    },
)
def login_for_access_token(
    request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> AccessTokenResponse:
    """Exchange an email (as ``username``) and password for a bearer access token.

    After ``LOGIN_FAILURES_ALLOWED`` wrong passwords for one account from one address, its
    sign-ins there get 429 (whatever the password) until the window ends.
    """
    address = ratelimit.client_address(request.scope)
    retry_after = ratelimit.login_retry_after(form.username, address)
    if retry_after:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many failed sign-ins: try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    user = service.authenticate(session=session, email=form.username, password=form.password)
    if user is None:
        ratelimit.record_login_failure(form.username, address)
        service.record_failed_sign_in(
            session=session,
            email=form.username,
            address=address,
            # This failure reached the limit: sign-ins there are refused from now on.
            locked_for_s=ratelimit.login_retry_after(form.username, address),
        )
        session.commit()
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect email or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    service.record_audit(
        session=session,
        principal=Principal.from_user(user),
        action="login",
        entity="user",
        entity_id=user.id,
    )
    session.commit()
    ratelimit.clear_login_failures(form.username, address)
    return AccessTokenResponse(
        access_token=service.issue_access_token(user=user),
        expires_in=get_settings().access_token_minutes * 60,
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Sign out: this access token stops working",
    responses={400: {"description": "The bearer is an API token (revoke it instead)"}},
)
def logout(
    session: SessionDep, principal: CurrentPrincipal, credentials: BearerCredentials
) -> Response:
    """Sign out: the access token of this request stops working at once (audit-logged).

    Other sign-ins of the same user and API tokens are untouched; an API token gets 400
    (revoke it with ``DELETE /auth/tokens/{token_id}``).
    """
    if credentials is None:  # CurrentPrincipal has already answered 401
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Not authenticated")
    try:
        service.sign_out(session=session, token=credentials.credentials, principal=principal)
    except service.NotAnAccessTokenError as error:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(error)) from error
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Sign out everywhere: every access token of the caller ends",
)
def logout_all(session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Sign out everywhere: every access token of the caller ends, this one too (audited).

    API tokens keep working (revoke them one by one); a new sign-in works as before.
    """
    try:
        service.sign_out_everywhere(session=session, principal=principal)
    except service.NotFoundError as error:
        raise _not_found("User") from error
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/auth/roles",
    response_model=list[RoleRead],
    tags=["auth"],
    summary="The roles a user can hold and what each is for",
)
def list_roles(session: SessionDep, principal: CurrentPrincipal) -> list[RoleRead]:
    """The roles a user can hold and what each is for."""
    return [
        RoleRead(name=role.name, description=role.description, permissions=role.permissions)
        for role in service.list_roles(session=session)
    ]


@router.get("/users/me", response_model=UserRead, tags=["users"], summary="The signed-in user")
def read_me(session: SessionDep, principal: CurrentPrincipal) -> UserRead:
    """The signed-in user."""
    user = service.get_user(session=session, org_id=principal.org_id, user_id=principal.user_id)
    if user is None:
        raise _not_found("User")
    return UserRead.model_validate(user)


@router.get(
    "/users",
    response_model=list[UserRead],
    tags=["users"],
    summary="List the organisation's users (admins; X-Total-Count gives the number)",
    responses=total_count("users"),
)
def list_users(
    response: Response,
    session: SessionDep,
    principal: AdminPrincipal,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[UserRead]:
    """The users of the caller's organisation by email (admin only)."""
    users = service.list_users(session=session, org_id=principal.org_id, limit=limit, offset=offset)
    send_total(response, service.count_users(session=session, org_id=principal.org_id))
    return [UserRead.model_validate(user) for user in users]


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    summary="Add a user to the organisation (admins)",
    responses={**_CONFLICT, **LOCATION_201},
)
def create_user(
    session: SessionDep, principal: AdminPrincipal, user_in: UserCreate, location: CreatedLocation
) -> UserRead:
    """Add a user to the caller's organisation (admin only; audit-logged)."""
    try:
        user = service.create_user(
            session=session, org_id=principal.org_id, user_in=user_in, actor=principal
        )
    except service.ConflictError as error:
        raise _conflict(error) from error
    session.commit()
    location.created(user.id)
    return UserRead.model_validate(user)


@router.get(
    "/users/{user_id}",
    response_model=UserRead,
    tags=["users"],
    summary="Read one user (admins)",
    responses=_USER_NOT_FOUND,
)
def read_user(session: SessionDep, principal: AdminPrincipal, user_id: uuid.UUID) -> UserRead:
    """One user of the caller's organisation (admin only)."""
    user = service.get_user(session=session, org_id=principal.org_id, user_id=user_id)
    if user is None:
        raise _not_found("User")
    return UserRead.model_validate(user)


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    tags=["users"],
    summary="Change a user's details, role, status or password (admins)",
    responses=_USER_NOT_FOUND | _CONFLICT,
)
def update_user(
    session: SessionDep, principal: AdminPrincipal, user_id: uuid.UUID, user_in: UserUpdate
) -> UserRead:
    """Change a user's details, role, status or password (admin only; audit-logged)."""
    try:
        user = service.update_user(
            session=session,
            org_id=principal.org_id,
            user_id=user_id,
            user_in=user_in,
            actor=principal,
        )
    except service.NotFoundError as error:
        raise _not_found("User") from error
    except service.ConflictError as error:
        raise _conflict(error) from error
    session.commit()
    return UserRead.model_validate(user)


def _token_owner_filter(principal: Principal) -> uuid.UUID | None:
    """Admins manage every token of their organisation; everyone else only their own."""
    return None if principal.is_admin else principal.user_id


@router.get(
    "/auth/tokens",
    response_model=list[ApiTokenRead],
    tags=["auth"],
    summary="List live API tokens (yours; an admin's: the organisation's), never their values",
    responses=total_count("API tokens"),
)
def list_api_tokens(
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[ApiTokenRead]:
    """The caller's API tokens (an admin sees the whole organisation's); never their values.

    A revoked token is not listed; an expired one is (its ``expires_at`` in the past) until it
    is revoked.
    """
    owner = _token_owner_filter(principal)
    tokens = service.list_api_tokens(
        session=session, org_id=principal.org_id, user_id=owner, limit=limit, offset=offset
    )
    total = service.count_api_tokens(session=session, org_id=principal.org_id, user_id=owner)
    send_total(response, total)
    return [ApiTokenRead.model_validate(token) for token in tokens]


@router.post(
    "/auth/tokens",
    response_model=ApiTokenCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["auth"],
    summary="Create an API token (its value is shown once)",
)
def create_api_token(
    session: SessionDep, principal: CurrentPrincipal, token_in: ApiTokenCreate
) -> ApiTokenCreated:
    """Create an API token for the caller; its value is in this response and never again."""
    token, plaintext = service.create_api_token(
        session=session,
        org_id=principal.org_id,
        user_id=principal.user_id,
        name=token_in.name,
        expires_in_days=token_in.expires_in_days,
        actor=principal,
    )
    session.commit()
    return ApiTokenCreated.model_validate(token, update={"token": plaintext})


@router.delete(
    "/auth/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Revoke an API token",
    responses={
        404: {"description": "No such API token that you may revoke, or it is already revoked"}
    },
)
def revoke_api_token(
    session: SessionDep, principal: CurrentPrincipal, token_id: uuid.UUID
) -> Response:
    """Revoke an API token at once (your own; an admin any of the organisation's).

    A revoked token is gone: it leaves ``GET /auth/tokens``, and revoking it again is a 404.
    """
    try:
        service.revoke_api_token(
            session=session,
            org_id=principal.org_id,
            token_id=token_id,
            user_id=_token_owner_filter(principal),
            actor=principal,
        )
    except service.NotFoundError as error:
        raise _not_found("API token") from error
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/audit-log",
    response_model=list[AuditLogRead],
    tags=["audit"],
    summary="The organisation's audit log, newest first (X-Total-Count gives the number)",
    responses=total_count("audit entries"),
)
def list_audit_log(
    response: Response,
    session: SessionDep,
    principal: AuditReader,
    entity: Annotated[str | None, Query(max_length=100)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_AUDIT_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[AuditLogRead]:
    """The organisation's audit log, newest first (admins and analysts)."""
    entries = service.list_audit(
        session=session, org_id=principal.org_id, entity=entity, entity_id=entity_id,
        limit=limit, offset=offset,
    )  # fmt: skip
    total = service.count_audit(
        session=session, org_id=principal.org_id, entity=entity, entity_id=entity_id
    )
    send_total(response, total)
    return [AuditLogRead.model_validate(entry) for entry in entries]


@router.get(
    "/audit-log/{entry_id}",
    response_model=AuditLogRead,
    tags=["audit"],
    summary="Read one audit entry (admins and analysts)",
    responses={404: {"description": "No such audit entry in your organisation"}},
)
def read_audit_entry(
    session: SessionDep, principal: AuditReader, entry_id: uuid.UUID
) -> AuditLogRead:
    """One audit entry of the organisation (admins and analysts)."""
    entry = service.get_audit_entry(session=session, org_id=principal.org_id, entry_id=entry_id)
    if entry is None:
        raise _not_found("Audit entry")
    return AuditLogRead.model_validate(entry)
