"""Request body limits: a body too large for any endpoint is refused before it is held.

FastAPI reads a JSON or form body whole, into memory, before a route's dependencies (the
bearer token check among them) run, and the ``Idempotency-Key`` middleware reads it too; so
without a ceiling anyone could make the server hold gigabytes. This pure ASGI middleware
answers ``413`` to a request whose ``Content-Length`` is over the limit, and stops a body
sent without one (chunked) as soon as it passes the limit.

- JSON, form and other bodies: ``MAX_BODY_BYTES`` (1 MiB; the largest real one is a few kB).
- ``multipart/form-data`` uploads (spooled to disk by the parser): room for
  ``MAX_UPLOAD_FILES`` files of ``MAX_UPLOAD_BYTES`` each, plus ``MAX_BODY_BYTES`` for the
  form fields. Each upload endpoint still applies its own, smaller per-file limits.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.asgi import send_json_error
from core.config import get_settings

MAX_BODY_BYTES = 1024 * 1024
# The most files one request carries (photo analysis takes up to 20 photos).
MAX_UPLOAD_FILES = 20


class _BodyTooLarge(Exception):
    """The request body passed its limit while it was being read."""


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header, if sent."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def body_limit(scope: Scope) -> int:
    """The most bytes this request's body may have."""
    content_type = (_header(scope, b"content-type") or "").lower()
    if content_type.startswith("multipart/form-data"):
        return get_settings().max_upload_bytes * MAX_UPLOAD_FILES + MAX_BODY_BYTES
    return MAX_BODY_BYTES


class BodySizeLimitMiddleware:
    """Answer ``413`` to a request whose body is larger than ``body_limit`` allows."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an oversized body up front (by its length) or as it streams in."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = (_header(scope, b"content-length") or "").strip()
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # Whatever the app made of a body it never got whole (FastAPI says 400).
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        """Answer 413 with a JSON error naming the limit."""
        await send_json_error(
            send,
            413,
            f"The request body is too large: at most {limit} bytes are accepted.",
            [(b"connection", b"close")],
        )
