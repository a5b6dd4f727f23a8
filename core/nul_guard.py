r"""Refuse text with NUL characters (and JSON text that is not Unicode) before it is used.

PostgreSQL ``text`` and ``jsonb`` cannot hold U+0000, so a name, note or search word with one
(``{"name": "a\u0000b"}``, ``?city=%00``) used to fail deep in the write with a 500 (and a
dropped keep-alive connection). This pure ASGI middleware answers ``422`` first, for:

- a query string with ``%00`` (or a raw NUL);
- a JSON body with the escape ``\u0000`` (a raw NUL byte is not valid JSON: FastAPI says 422);
- a form body (``application/x-www-form-urlencoded``, the sign-in form) with ``%00``.

File uploads (``multipart/form-data``) are binary and pass untouched. Twilio's webhooks
(``/webhook/...``) are signed as sent, so they pass too: ``twilio_form`` checks the signature
on the text as sent and stores it with each NUL shown as U+FFFD, so nothing Twilio delivers is
refused. Bodies are already capped by ``BodySizeLimitMiddleware`` (which runs outside this
one), so holding one whole to look at it is bounded.

A JSON body (``application/json`` or ``application/*+json``, what FastAPI parses) must also be
UTF-8 (``{"name": "caf\xe9"}`` in Latin-1 used to be a 400 "error parsing the body") and may
not hold a lone UTF-16 surrogate (``"\ud800x"``: it cannot be stored or even echoed in an
error, and used to be a 500 with a reset connection). Both are a ``422`` saying so. A
surrogate *pair* (``"\ud83c\udfe0"``, one emoji) is a single character and passes.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.asgi import send_json_error

NUL_DETAIL = (
    "Text may not contain the NUL character (U+0000, \\u0000 or %00): remove it and send the "
    "request again."
)
# ``\u0000`` in JSON, but not ``\\u0000`` (an escaped backslash followed by the letters).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
SURROGATE_DETAIL = (
    "Text may not contain a lone UTF-16 surrogate (\\ud800-\\udfff without its pair, e.g. "
    '"\\ud800"): it is not a character. Send the text as UTF-8, or escape a character outside '
    'the basic plane as its full pair ("\\ud83c\\udfe0").'
)
# A ``\uD800``-``\uDFFF`` escape (after an even run of backslashes): maybe a lone surrogate.
_JSON_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _has_nul(content_type: str, body: bytes) -> bool:
    """Whether a request body of ``content_type`` carries a NUL character."""
    if content_type.startswith("multipart/"):
        return False
    if b"\x00" in body:
        return True
    if "json" in content_type:
        return _JSON_NUL.search(body) is not None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return b"%00" in body
    return False


def _is_json(content_type: str) -> bool:
    """Whether FastAPI parses a ``content_type`` body as JSON (``application/json``, ``+json``)."""
    media_type = content_type.split(";", 1)[0].strip()
    maintype, _, subtype = media_type.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _has_lone_surrogate(text: str) -> bool:
    """Whether the JSON ``text`` holds a string (or key) with an unpaired surrogate escape."""
    try:
        document = json.loads(text.removeprefix("\ufeff"))  # FastAPI allows a UTF-8 BOM
    except (ValueError, RecursionError):
        return False  # not JSON: FastAPI answers its own 422 (json_invalid), echoing nothing
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_text_error(body: bytes) -> str | None:
    """Why a JSON ``body`` cannot be read as text (not UTF-8, a lone surrogate), or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            "The request body must be UTF-8 encoded JSON: byte "
            f"0x{body[exc.start]:02X} at position {exc.start} is not valid UTF-8 (encode the text "
            'as UTF-8, or escape non-ASCII characters: "caf\\u00e9").'
        )
    if _JSON_SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(text):
        return SURROGATE_DETAIL
    return None


class NulTextMiddleware:
    """Answer ``422`` to a request whose query or text body holds a NUL (or bad JSON text)."""

    def __init__(self, app: ASGIApp, exempt_prefix: str) -> None:
        """Wrap ``app``; paths under ``exempt_prefix`` (Twilio's webhooks) pass untouched."""
        self.app = app
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Look at the query and body; refuse a NUL, else hand the request on unchanged."""
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        query = bytes(scope.get("query_string", b""))
        if b"%00" in query or b"\x00" in query:
            await send_json_error(send, 422, NUL_DETAIL)
            return
        content_type = _header(scope, b"content-type").lower()
        if content_type.startswith("multipart/") or scope.get("method") in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending the whole body: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _has_nul(content_type, body):
            await send_json_error(send, 422, NUL_DETAIL)
            return
        if body and _is_json(content_type) and (problem := json_text_error(body)) is not None:
            await send_json_error(send, 422, problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
