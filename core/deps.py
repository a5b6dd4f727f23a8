"""FastAPI dependency aliases: the session, the calling principal, role checks, the org id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.service import Principal
from store.db import get_session

SessionDep = Annotated[Session, Depends(get_session)]

# auto_error=False: we answer a missing token ourselves, with 401 and WWW-Authenticate.
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An access token from POST /api/v1/auth/token, or an API token (dd_...).",
)


def _unauthorised(detail: str, *, invalid: bool) -> HTTPException:
    """A 401 that tells the client to authenticate with a bearer token."""
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": challenge},
    )


def get_current_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    """The caller behind the request's bearer token; 401 when it is missing or not valid."""
    if credentials is None or not credentials.credentials:
        raise _unauthorised(
            "Not authenticated: send 'Authorization: Bearer <token>'", invalid=False
        )
    principal = auth_service.resolve_token(session=session, token=credentials.credentials)
    if principal is None:
        raise _unauthorised("The token is invalid, expired or revoked", invalid=True)
    # Keep the token's last use even when the route itself changes nothing.
    session.commit()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through callers with one of ``roles`` (and admins); 403 otherwise.

    An admin may do everything, so admins always pass; list the roles besides admin that may.
    """
    allowed = ", ".join(sorted({Role.admin.value, *(role.value for role in roles)}))

    def _check_role(principal: CurrentPrincipal) -> Principal:
        if principal.is_admin or principal.has_role(*roles):
            return principal
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"This needs one of the roles: {allowed} (you are {principal.role.value})",
        )

    return _check_role


def get_org_id(principal: CurrentPrincipal) -> uuid.UUID:
    """The caller's organisation: every query of the request is scoped to it."""
    return principal.org_id


OrgId = Annotated[uuid.UUID, Depends(get_org_id)]
AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.admin))]
# The two access levels most routes use (admins always pass ``require_roles``).
Reader = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]
"""Team members and investors: read and analyse (contractors are refused)."""
Writer = Annotated[Principal, Depends(require_roles(Role.analyst))]
"""Admins and analysts: change the company's data."""
