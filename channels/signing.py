"""Signed, expiring report links: WhatsApp fetches the PDF without a bearer token.

A link names the organisation, the report (a ``documents`` row) and an expiry time, and
carries an HMAC-SHA256 over the three, keyed by a key derived from ``SECRET_KEY``. Changing
any of them, or waiting past the expiry, makes the link worthless; the secret never leaves
the server, so links cannot be made up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from core.config import get_settings

API_PREFIX = "/api/v1"
# Keeps these signatures apart from anything else SECRET_KEY signs (JWTs).
_CONTEXT = b"dealdesk:report-url:v1"


@dataclass(frozen=True)
class ReportLink:
    """A signed report link and what it grants."""

    url: str
    org_id: uuid.UUID
    document_id: uuid.UUID
    expires_at: int


def _key() -> bytes:
    """The signing key: SECRET_KEY narrowed to report links."""
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, _CONTEXT, hashlib.sha256).digest()


def sign(*, org_id: uuid.UUID, document_id: uuid.UUID, expires_at: int) -> str:
    """The URL-safe signature of (organisation, document, expiry)."""
    message = f"{org_id}:{document_id}:{expires_at}".encode()
    digest = hmac.new(_key(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def report_path(document_id: uuid.UUID) -> str:
    """The report route's path for a document (without the query)."""
    return f"{API_PREFIX}/reports/{document_id}"


def report_url(
    document_id: uuid.UUID,
    *,
    org_id: uuid.UUID,
    ttl_s: int | None = None,
    now: float | None = None,
) -> ReportLink:
    """An absolute link on PUBLIC_BASE_URL to the report, valid for ``ttl_s`` seconds."""
    settings = get_settings()
    ttl = settings.report_url_ttl_s if ttl_s is None else ttl_s
    expires_at = int((time.time() if now is None else now) + ttl)
    query = urlencode(
        {
            "org": str(org_id),
            "exp": str(expires_at),
            "sig": sign(org_id=org_id, document_id=document_id, expires_at=expires_at),
        }
    )
    base = settings.public_base_url.rstrip("/")
    return ReportLink(
        url=f"{base}{report_path(document_id)}?{query}",
        org_id=org_id,
        document_id=document_id,
        expires_at=expires_at,
    )


def verify(
    *,
    org_id: uuid.UUID,
    document_id: uuid.UUID,
    expires_at: int,
    signature: str,
    now: float | None = None,
) -> bool:
    """True when the signature matches and the link has not expired."""
    if expires_at < (time.time() if now is None else now):
        return False
    expected = sign(org_id=org_id, document_id=document_id, expires_at=expires_at)
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str (a 500 for "sig=é").
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass"))
