"""Password hashing (argon2), JWT access tokens (HS256) and API tokens (hashed at rest)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.config import get_settings
from domain.auth.enums import Role
from store.base import utcnow

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"
API_TOKEN_PREFIX = "dd_"
# The longest ``jti`` accepted (ours are 32 hex characters).
MAX_TOKEN_ID_CHARS = 64
# 30 random bytes are 40 url-safe base64 characters.
_API_TOKEN_BYTES = 30
API_TOKEN_LENGTH = len(API_TOKEN_PREFIX) + 40
# How much of a token is kept for display ("dd_AbCd1234"): enough to tell tokens apart,
# far too little to guess the rest.
API_TOKEN_DISPLAY_CHARS = len(API_TOKEN_PREFIX) + 8


@lru_cache
def _hasher() -> PasswordHasher:
    """The argon2id hasher with argon2-cffi's recommended parameters."""
    return PasswordHasher()


def hash_password(password: str) -> str:
    """Hash ``password`` with argon2id (salted; the parameters are kept in the hash)."""
    return _hasher().hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """True when ``password`` matches ``hashed``; False for a wrong password or no hash."""
    if not hashed:
        return False
    try:
        return _hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(hashed: str) -> bool:
    """True when ``hashed`` was made with weaker parameters than the current ones."""
    return _hasher().check_needs_rehash(hashed)


@lru_cache
def dummy_password_hash() -> str:
    """A hash to verify against when no user matches, so a login takes the same time."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AccessTokenClaims:
    """What a valid access token says about its bearer."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role
    expires_at: datetime
    password_fingerprint: str | None = None
    token_id: str | None = None
    """The ``jti`` claim: names this token alone, so signing out can revoke just it."""
    session_epoch: int = 0
    """The ``sep`` claim: the user's session epoch at sign-in (0 for tokens made without it)."""


def signing_key(secret: str | None = None) -> bytes:
    """The access-token signing key, derived from ``secret`` (default: ``SECRET_KEY``).

    Derived rather than used as is, so SECRET_KEY's other uses never share a key with token
    signing, and the HMAC key is a full 32 bytes whatever the secret's length.
    """
    if secret is None:
        secret = get_settings().secret_key.get_secret_value()
    return hmac.new(secret.encode(), b"dealdesk access token v1", hashlib.sha256).digest()


def password_fingerprint(hashed_password: str | None, *, secret: str | None = None) -> str:
    """A short keyed digest of a user's password hash (or of none), carried in access tokens.

    A new password changes the hash, so every access token issued before stops working.
    """
    digest = hmac.new(signing_key(secret), (hashed_password or "").encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def create_access_token(
    *,
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    role: Role,
    expires_delta: timedelta | None = None,
    secret: str | None = None,
    password_fingerprint: str | None = None,
    session_epoch: int | None = None,
) -> str:
    """Sign a JWT (HS256) for a user.

    Claims: ``sub``, ``org``, ``role``, ``iat``, ``exp``, a random ``jti`` (two sign-ins in
    the same second still get different tokens, and each can be signed out alone), and,
    when given, ``pwd`` (password fingerprint) and ``sep`` (the user's session epoch).
    """
    now = utcnow()
    if expires_delta is None:
        expires_delta = timedelta(minutes=get_settings().access_token_minutes)
    payload: dict[str, object] = {
        "sub": str(user_id),
        "org": str(org_id),
        "role": role.value,
        "typ": ACCESS_TOKEN_TYPE,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + expires_delta,
    }
    if password_fingerprint is not None:
        payload["pwd"] = password_fingerprint
    if session_epoch is not None:
        payload["sep"] = session_epoch
    return jwt.encode(payload, signing_key(secret), algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, *, secret: str | None = None) -> AccessTokenClaims | None:
    """The claims of a valid, unexpired access token; None for anything else."""
    try:
        payload = jwt.decode(
            token,
            signing_key(secret),
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "org", "role", "exp"]},
        )
        if payload.get("typ") != ACCESS_TOKEN_TYPE:
            return None
        token_id = payload.get("jti")
        session_epoch = payload.get("sep", 0)
        # A claim of the wrong type is a malformed token, not a missing claim.
        if token_id is not None and (
            not isinstance(token_id, str) or not 0 < len(token_id) <= MAX_TOKEN_ID_CHARS
        ):
            return None
        if isinstance(session_epoch, bool) or not isinstance(session_epoch, int):
            return None
        return AccessTokenClaims(
            user_id=uuid.UUID(payload["sub"]),
            org_id=uuid.UUID(payload["org"]),
            role=Role(payload["role"]),
            expires_at=datetime.fromtimestamp(payload["exp"], tz=utcnow().tzinfo),
            password_fingerprint=payload["pwd"] if isinstance(payload.get("pwd"), str) else None,
            token_id=token_id,
            session_epoch=session_epoch,
        )
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def access_token_revocation_key(token: str, claims: AccessTokenClaims) -> str:
    """The key a signed-out access token is remembered by: its ``jti``.

    Tokens issued before ``jti`` existed have none; they are keyed by a digest of the whole
    token instead, so signing out ends them too.
    """
    if claims.token_id is not None:
        return "jti:" + claims.token_id
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def generate_api_token() -> str:
    """A new random API token: ``dd_`` and 40 url-safe characters."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(_API_TOKEN_BYTES)


def is_api_token(token: str) -> bool:
    """True when ``token`` has the shape of an API token (not a JWT)."""
    return token.startswith(API_TOKEN_PREFIX) and len(token) == API_TOKEN_LENGTH


def hash_api_token(token: str) -> str:
    """The sha256 hex digest stored for an API token (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_display_prefix(token: str) -> str:
    """The first characters of a token, kept to tell tokens apart in listings."""
    return token[:API_TOKEN_DISPLAY_CHARS]
