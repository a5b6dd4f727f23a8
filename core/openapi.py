"""What every operation answers because of the middleware, written into the OpenAPI schema.

The routes document their own answers; the middleware around them adds answers no route
declares, which a client must still plan for: ``401`` on every secured operation (no,
expired or revoked token), ``429`` when over the rate limit (``RateLimitMiddleware``), ``413``
for an oversized body (``BodySizeLimitMiddleware``), and on writes the optional
``Idempotency-Key`` header with its ``409`` (the first request with that key is still running)
and ``Idempotent-Replayed`` answer header (``IdempotencyMiddleware``).
"""

from __future__ import annotations

from typing import Any

from core.idempotency import EXCLUDED_SUFFIXES, METHODS
from core.ratelimit import EXCLUDED_PREFIXES

ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}
ERROR_SCHEMA = {
    "title": "ErrorDetail",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}

UNAUTHORISED = {
    "description": "No token, or one that is invalid, expired or revoked (sign in again)",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    "content": ERROR_BODY,
}
TOO_MANY = {
    "description": "Over the rate limit (RATE_LIMIT_PER_MINUTE per token, "
    "RATE_LIMIT_IP_PER_MINUTE per address)",
    "headers": {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "seconds until the window ends",
        }
    },
    "content": ERROR_BODY,
}
TOO_LARGE = {"description": "The request body is larger than allowed", "content": ERROR_BODY}
STILL_RUNNING = {
    "description": "A request with this Idempotency-Key is still running; retry later",
    "content": ERROR_BODY,
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any 1-200 visible characters (a UUID is typical): a repeat of this write "
    "with the same key, body and caller gets the first answer again (with "
    "`Idempotent-Replayed: true`) instead of running twice; the same key with another "
    "request is a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[\x21-\x7e]+$"},
}


def document_middleware(schema: dict[str, Any], *, prefix: str) -> dict[str, Any]:
    """Add the middleware's answers and headers to ``schema``'s operations (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorDetail"] = ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(prefix):
            continue
        limited = not path.startswith(tuple(EXCLUDED_PREFIXES))
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if operation.get("security"):
                responses.setdefault("401", UNAUTHORISED)
            if limited:
                responses.setdefault("429", TOO_MANY)
            if "requestBody" in operation:
                responses.setdefault("413", TOO_LARGE)
            # Idempotency is for API clients: not sign-in (tokens are never stored) nor
            # Twilio's webhooks (Twilio sends no key; those are idempotent per message or call).
            client_write = operation.get("security") and not path.removeprefix(prefix).startswith(
                EXCLUDED_SUFFIXES
            )
            if method.upper() in METHODS and client_write:
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == IDEMPOTENCY_KEY["name"] for p in parameters):
                    parameters.append(IDEMPOTENCY_KEY)
                responses.setdefault("409", STILL_RUNNING)
    return schema
