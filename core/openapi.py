"""What every operation answers because of the middleware, written into the OpenAPI schema.

The routes document their own answers; the middleware around them adds answers no route
declares, which a client must still plan for: ``401`` on every secured operation (no,
expired or revoked token), ``429`` when over the rate limit (``RateLimitMiddleware``), ``413``
for an oversized body (``BodySizeLimitMiddleware``), and on writes the optional
``Idempotency-Key`` header with its ``409`` (the first request with that key is still running)
and ``Idempotent-Replayed`` answer header (``IdempotencyMiddleware``).

``document_role_refusals`` adds what the routes' dependencies answer: ``403`` on every
operation with a role check (``require_roles``), naming the roles it lets through, and ``422``
on every operation for an unknown query parameter (``core.query_guard``).

``document_error_bodies`` (run last) gives every documented 4xx a JSON body: ``ErrorDetail``
(``{"detail": "..."}``), and for a 422 ``oneOf`` that and FastAPI's ``HTTPValidationError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from core.idempotency import EXCLUDED_SUFFIXES, METHODS
from core.query_guard import EXEMPT_PREFIXES
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
    return document_error_bodies(schema)


# FastAPI's list of field errors, and our own answers' ``{"detail": "..."}``: a 422 is either
# (a body or parameter that fails its declared type, or a value a service refuses).
INVALID_BODY = {
    "application/json": {
        "schema": {
            "oneOf": [
                {"$ref": "#/components/schemas/ErrorDetail"},
                {"$ref": "#/components/schemas/HTTPValidationError"},
            ]
        }
    }
}
_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
# FastAPI's own schemas, added when no route declared a body or parameter (none here today).
_FASTAPI_VALIDATION_SCHEMAS: dict[str, Any] = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            }
        },
    },
}


def _json_schema(response: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a documented answer already has, if any."""
    content = response.get("content")
    if not isinstance(content, dict):
        return None
    body = content.get("application/json")
    if not isinstance(body, dict) or not body.get("schema"):
        return None
    schema: dict[str, Any] = body["schema"]
    return schema


def document_error_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every documented 4xx answer a JSON body (in place; shared answers are copied).

    A route's ``responses={404: {"description": ...}}`` documents the status but no body, so a
    generated client could not read the message: every 4xx without one gets ``ErrorDetail``
    (``{"detail": "..."}``, what ``HTTPException`` answers), and every 422 gets ``oneOf``
    that and FastAPI's ``HTTPValidationError`` (a list of field errors), since a 422 is either.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorDetail", ERROR_SCHEMA)
    for name, definition in _FASTAPI_VALIDATION_SCHEMAS.items():
        components.setdefault(name, definition)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            for code, response in list(responses.items()):
                if not (str(code).startswith("4") and isinstance(response, dict)):
                    continue
                existing = _json_schema(response)
                other = response.get("content") or {}
                if str(code) == "422":
                    if existing is None or existing.get("$ref") == _VALIDATION_REF:
                        responses[code] = {**response, "content": {**other, **INVALID_BODY}}
                elif existing is None:
                    responses[code] = {**response, "content": {**other, **ERROR_BODY}}
    return schema


VALIDATION_ERROR = {
    "description": "Invalid input: a bad or unknown body field or query parameter (each named)",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


def _role_checks(dependant: Dependant) -> Iterator[str]:
    """The roles each ``require_roles`` check among ``dependant``'s dependencies lets through."""
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and getattr(call, "__name__", "") == "_check_role":
            allowed = inspect.getclosurevars(call).nonlocals.get("allowed")
            if isinstance(allowed, str):
                yield allowed
        yield from _role_checks(sub)


def role_refusal(allowed: Sequence[str]) -> dict[str, Any]:
    """The documented ``403`` of an operation that lets through only the roles ``allowed``."""
    roles = "; ".join(allowed)
    investor = any("investor" in check.split(", ") for check in allowed)
    scope = "; an investor is also refused what lies outside their own deals" if investor else ""
    return {
        "description": f"Refused for the caller's role: this needs one of the roles: {roles}"
        f"{scope}",
        "content": ERROR_BODY,
    }


def document_role_refusals(
    schema: dict[str, Any], routes: Sequence[BaseRoute], *, prefix: str
) -> dict[str, Any]:
    """Add ``403`` to operations with a role check and ``422`` for unknown query parameters."""
    paths: dict[str, Any] = schema.get("paths", {})
    for context in iter_route_contexts(routes):
        route = context.original_route
        path = context.path_format
        if not isinstance(route, APIRoute) or not path or path not in paths:
            continue
        if not path.startswith(prefix):
            continue
        allowed = list(dict.fromkeys(_role_checks(route.dependant)))
        checked = not path.startswith(EXEMPT_PREFIXES)
        for method in context.methods or ():
            operation = paths[path].get(method.lower())
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if allowed:
                responses.setdefault("403", role_refusal(allowed))
            if checked:
                responses.setdefault("422", VALIDATION_ERROR)
    return schema
