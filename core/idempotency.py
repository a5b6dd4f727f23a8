"""``Idempotency-Key`` for the REST API's writes: a retried request is answered, not redone.

A client that times out on ``POST /projects/{id}/expenses`` (or any other write) and retries
would book the expense twice. With an ``Idempotency-Key`` header (any string of 1-200
visible characters; a UUID is typical) on a ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` under
the API prefix, the first request runs and its response (status, content type, body) is kept
in Redis for ``IDEMPOTENCY_TTL_S``; a repeat with the same key, caller, method, path and
body gets that stored response again (its ``Location`` too), with ``Idempotent-Replayed:
true``, and nothing runs twice. The key is scoped to the caller: the organisation and user
the bearer token names (so the same user's retry after signing in again, or from another
device, is still a repeat), else the client address; one caller's keys never answer another's.
The token is checked as the routes check it (``auth_service.resolve_token``: signed out,
signed out everywhere, a new password, a deactivated user): a token that is no longer valid
gets nothing replayed, and its request goes on to the route, which answers ``401``. A JSON
body is compared as canonical JSON (keys sorted, spacing ignored), so the same content sent
with its keys in another order is the same request; a multipart body (an upload) by its
parts (field names, file names, content types and a hash of each part's bytes), whatever
boundary the client picked; the body's media type counts too. A ``401`` is not kept (the
retry with a valid token runs). ``/auth`` routes are left out: their
responses carry tokens, which are never stored. A repeat while the first is still
running gets ``409``; the response is kept before its last byte is sent, so a retry made once
the answer arrived is always replayed. The same key with a different request gets ``422``.
Responses of 500 and above, and answers the app did not finish, are not kept (the retry runs
again). A pure ASGI middleware (streaming responses
pass through untouched when no key is sent). When Redis cannot be reached the request runs
without the guarantee, and a warning is logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

from python_multipart.multipart import parse_options_header
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.asgi import send_response
from core.config import get_settings
from core.ratelimit import bearer_token, client_address
from domain.auth import service as auth_service
from store.db import get_session
from store.redis_client import get_redis

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
# Never kept: responses that carry credentials (tokens) must not sit in Redis.
EXCLUDED_SUFFIXES = ("/auth",)
KEY_PREFIX = "idempotency"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
# How long a request may hold its key before a repeat may run it again (a crashed worker).
IN_FLIGHT_TTL_S = 300
MAX_STORED_BODY = 1024 * 1024
# Response headers kept with the answer and sent again on a replay (besides its content type).
REPLAYED_HEADERS = (b"location",)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _sessions(scope: Scope) -> Iterator[Session]:
    """A database session as the routes get theirs (the app's ``get_session``, or its override)."""
    app = scope.get("app")
    overrides = getattr(app, "dependency_overrides", None) or {}
    source = overrides.get(get_session, get_session)
    return cast(Iterator[Session], source())


def _token_owner(scope: Scope, token: str) -> tuple[str, str] | None:
    """The organisation and user of a bearer token that is still valid; None otherwise.

    Checked as the routes check it (``auth_service.resolve_token``, as ``core.deps`` does): a
    signed-out token, one of a user who signed out everywhere, changed password or was
    deactivated names nobody, so no answer is replayed to it. Read only: the session is
    closed without a commit, which rolls back an API token's "last used" stamp (the route
    stamps it).
    """
    sessions = _sessions(scope)
    try:
        principal = auth_service.resolve_token(session=next(sessions), token=token)
        return (str(principal.org_id), str(principal.user_id)) if principal else None
    except SQLAlchemyError:
        log.warning("idempotency: token owner not found: database error", exc_info=True)
        return None
    finally:
        close = getattr(sessions, "close", None)
        if close is not None:
            close()


def _caller(scope: Scope) -> str | None:
    """Whose keys these are: the token's organisation and user, else the address.

    Keyed by the principal, not the token, so the same user's retry with a fresh sign-in
    (or from another device) finds the first answer rather than booking the write again.
    None for a bearer token that is not (or no longer) valid: nothing is replayed to it.
    """
    token = bearer_token(scope)
    if token is None:
        return "a:" + client_address(scope)
    owner = _token_owner(scope, token)
    return f"p:{owner[0]}:{owner[1]}" if owner is not None else None


def _tagged_number(value: object) -> object:
    """A JSON number (parsed as a Decimal) in canonical JSON: its text, apart from strings.

    Its key, a lone NUL, cannot clash with a client's: text with NUL is refused before this.
    """
    if isinstance(value, Decimal):
        return {"\u0000": str(value)}
    raise TypeError(f"{type(value).__name__} is not JSON")


def _media_type(scope: Scope) -> str:
    """The request's media type (``application/json``), lower case; empty without one."""
    return (_header(scope, b"content-type") or "").split(";")[0].strip().lower()


def _multipart_parts(scope: Scope, body: bytes) -> bytes | None:
    """A multipart body as its parts, whatever its boundary; None when it cannot be read.

    Each part as its field name, file name, content type and a hash of its bytes, in order:
    every client picks a new boundary, so the same upload retried differs byte for byte.
    """
    _, params = parse_options_header(_header(scope, b"content-type") or "")
    boundary = params.get(b"boundary")
    if not boundary:
        return None
    pieces = body.split(b"--" + boundary)
    parts: list[list[str | None]] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):  # the closing delimiter: the rest is the epilogue
            return json.dumps(parts).encode()
        if not piece.startswith(b"\r\n"):
            return None
        if piece[2:].startswith(b"\r\n"):  # a part without headers
            head, separator, content = b"", b"\r\n", piece[4:]
        else:
            head, separator, content = piece[2:].partition(b"\r\n\r\n")
        if not separator:
            return None
        headers: dict[str, str] = {}
        for line in filter(None, head.split(b"\r\n")):
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                return None
            headers[name.strip().lower()] = value.strip()
        _, disposition = parse_options_header(headers.get("content-disposition", ""))

        def text(value: bytes | None) -> str | None:
            return value.decode("latin-1") if value is not None else None

        parts.append(
            [
                text(disposition.get(b"name")),
                text(disposition.get(b"filename", disposition.get(b"filename*"))),
                headers.get("content-type", "").lower() or None,
                hashlib.sha256(content.removesuffix(b"\r\n")).hexdigest(),
            ]
        )
    return None  # no closing delimiter


def _canonical_body(scope: Scope, body: bytes) -> bytes:
    """The body as compared: its media type, then its content.

    JSON as canonical JSON (keys sorted, no spacing; numbers keep their text: ``1.50`` and
    ``1.5`` stay apart, as the money parser may tell), multipart by its parts
    (``_multipart_parts``), anything else as sent. The media type counts: a body sent without
    its ``Content-Type`` (refused) is not the same request as its corrected retry.
    """
    media_type = _media_type(scope)
    canonical = body
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            parsed = json.loads(body, parse_float=Decimal, parse_int=Decimal)
            canonical = json.dumps(
                parsed,
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
                default=_tagged_number,
            ).encode("utf-8", "surrogatepass")
        except (ValueError, TypeError, RecursionError):
            canonical = body
    elif media_type.startswith("multipart/"):
        canonical = _multipart_parts(scope, body) or body
    return media_type.encode("latin-1") + b"\0" + canonical


def _json_response(status: int, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"detail": detail}).encode()
    return status, [(b"content-type", b"application/json")], body


class IdempotencyMiddleware:
    """Answer a repeated write that carries the same ``Idempotency-Key`` from storage."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/v1") -> None:
        """Wrap ``app`` for writes under ``prefix``."""
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Replay, refuse or run (and remember) a keyed write; pass everything else on."""
        key = _header(scope, HEADER) if scope["type"] == "http" else None
        if (
            key is None
            or scope["method"] not in METHODS
            or not scope["path"].startswith(self.prefix)
            or scope["path"].removeprefix(self.prefix).startswith(EXCLUDED_SUFFIXES)
        ):
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            await self._send(
                send, *_json_response(422, "Idempotency-Key must be 1-200 visible ASCII characters")
            )
            return
        body, replay_receive = await self._read_body(receive)
        fingerprint = hashlib.sha256(
            b"\0".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    _canonical_body(scope, body),
                ]
            )
        ).hexdigest()
        caller = await run_in_threadpool(_caller, scope)  # the token is checked
        if caller is None:  # a token no longer valid: the route answers it (401)
            await self.app(scope, replay_receive, send)
            return
        redis_key = f"{KEY_PREFIX}:{caller}:{hashlib.sha256(key.encode()).hexdigest()}"
        try:
            outcome = await run_in_threadpool(self._claim, redis_key, fingerprint)
        except (RedisError, OSError):
            log.warning("idempotency skipped: redis unavailable", exc_info=True)
            await self.app(scope, replay_receive, send)
            return
        if outcome is not None:
            await self._send(send, *outcome)
            return
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}
        remembered = False

        async def remember(outcome: dict[str, Any]) -> None:
            nonlocal remembered
            remembered = True
            try:
                await run_in_threadpool(self._remember, redis_key, fingerprint, outcome)
            except (RedisError, OSError):
                log.warning("idempotent response not stored: redis unavailable", exc_info=True)

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
                if not message.get("more_body", False) and not remembered:
                    # Kept before the client sees the end of the answer: a retry sent the
                    # moment it arrives is replayed, never told it is "still being processed".
                    await remember(captured)
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            if not remembered:
                # No whole answer was sent (the app failed): the key is freed, a retry runs.
                await remember({**captured, "status": 500})

    @staticmethod
    async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
        """The whole request body, and a ``receive`` that hands it to the app again."""
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return body, replay

    @staticmethod
    def _claim(
        redis_key: str, fingerprint: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """None when this request may run; else the response to send instead."""
        redis = get_redis()
        marker = json.dumps({"state": "running", "fingerprint": fingerprint})
        if redis.set(redis_key, marker, nx=True, ex=IN_FLIGHT_TTL_S):
            return None
        raw = redis.get(redis_key)
        if raw is None:  # expired between the two calls: run it
            redis.set(redis_key, marker, ex=IN_FLIGHT_TTL_S)
            return None
        stored = json.loads(raw)
        if stored.get("fingerprint") != fingerprint:
            return _json_response(
                422,
                "This Idempotency-Key was used for a different request (method, path or body); "
                "use a new key for a new request",
            )
        if stored.get("state") == "running":
            return _json_response(
                409, "A request with this Idempotency-Key is still being processed; retry shortly"
            )
        headers = (
            [(b"content-type", stored["content_type"].encode())]
            if stored.get("content_type")
            else []
        )
        headers.extend(
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in stored.get("headers", [])
        )
        headers.append((b"idempotent-replayed", b"true"))
        return int(stored["status"]), headers, base64.b64decode(stored["body"])

    @staticmethod
    def _remember(redis_key: str, fingerprint: str, captured: dict[str, Any]) -> None:
        """Keep the response for repeats (not a 401 or 5xx, nor a body too large: those run again).

        A 401 is not kept: the retry with a token that is still valid must run, not be told
        again that the old one was not.
        """
        redis = get_redis()
        status, body = int(captured["status"]), bytes(captured["body"])
        if status >= 500 or status == 401 or len(body) > MAX_STORED_BODY:
            redis.delete(redis_key)
            return
        content_type = next(
            (v.decode("latin-1") for k, v in captured["headers"] if k == b"content-type"), None
        )
        redis.set(
            redis_key,
            json.dumps(
                {
                    "state": "done",
                    "fingerprint": fingerprint,
                    "status": status,
                    "content_type": content_type,
                    "headers": [
                        [k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in captured["headers"]
                        if k.lower() in REPLAYED_HEADERS
                    ],
                    "body": base64.b64encode(body).decode(),
                }
            ),
            ex=get_settings().idempotency_ttl_s,
        )

    @staticmethod
    async def _send(
        send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        await send_response(send, status, body, headers)
