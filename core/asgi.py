"""Answers sent straight from a pure ASGI middleware (before or instead of the app)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import Send


async def send_response(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send a whole response: ``headers`` plus its ``content-length``, then ``body``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json_error(
    send: Send, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``{"detail": ...}`` as JSON with ``status``, as FastAPI's HTTP errors look."""
    body = json.dumps({"detail": detail}).encode()
    await send_response(send, status, body, [(b"content-type", b"application/json"), *headers])
