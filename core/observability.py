"""JSON-line logs with a correlation id and masking, and the request-context middleware.

Every log line is one JSON object: ``timestamp`` (ISO-8601 UTC), ``level``, ``logger``,
``message``, ``correlation_id``, ``service`` and any ``extra`` fields. Phone numbers, WhatsApp
addresses, bearer tokens, JWTs, our ``dd_`` API tokens, Twilio account SIDs and auth tokens,
``password=``/``token=``/``secret`` values and Authorization headers are masked twice: in the
extra values before rendering (by key and by pattern) and in the whole rendered line.

The correlation id comes from the request's ``X-Request-ID`` / ``X-Correlation-ID`` header (if
well-formed) or a fresh uuid4; jobs set it with ``job_context(job_id)``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.metrics import UNMATCHED_ROUTE, record_http_request

SERVICE_NAME = "dealdesk"
MASK = "***"

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

access_log = logging.getLogger("dealdesk.access")

# --------------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------------

_PHONE_DIGITS = re.compile(r"\d")

# E.164 (optionally URL-encoded "+": %2B), e.g. +12025551234, whatsapp:+447911123456.
_E164 = re.compile(r"(?:(?<![\w+])\+|%2[Bb])\d{8,15}(?!\d)")
# North-American numbers written with separators: (202) 555-1234, 202.555.1234, +1 202 555 1234.
_US_SEPARATED = re.compile(
    r"(?<![\w+.\-])(?:(?:\+|%2[Bb])?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?![\w.\-]?\d)"
)
# Bare 10-digit NANP numbers (area code and exchange start 2-9; epoch seconds start with 1),
# standing alone: digits that run into letters are part of an id (a request id's hex
# "6502959131ca4b..." is not a phone number).
_US_BARE = re.compile(r"(?<![\w+.\-])1?[2-9]\d{2}[2-9]\d{6}(?!\w)(?![.\-]\d)")

_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*){0,2}")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]{6,}=*")
_BASIC = re.compile(r"(?i)\b(basic)(\s+)[A-Za-z0-9+/]{8,}=*")
# "Authorization: <anything>" as a header line, a dict/JSON member or a form field.
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\*\*\*)"
    r"([^\s\"'\\,;&}][^\"'\\\r\n,;&}]*)"
)
_URL_CREDENTIALS = re.compile(r"(://[^:/\s@\"']+:)[^@\s/\"']+@")
_DD_TOKEN = re.compile(r"(?<![A-Za-z0-9_])dd_[A-Za-z0-9_\-]{16,}")
_TWILIO_SID = re.compile(r"\b(AC|SK)[0-9a-fA-F]{32}\b")
# ``sig`` is a signed report link's signature: with it anyone can fetch the PDF until it expires.
_SENSITIVE_KEY = (
    r"(?:[\w.\-]*(?:password|passwd|pwd|secret[\w.\-]*|token|api[_\-]?key|signature|cookie)"
    r"|sig)"
)
# key=value in query strings, form bodies and "k=v" log text.
_KEY_VALUE = re.compile(rf"(?i)(?<![\w.\-])({_SENSITIVE_KEY})=(?!\*\*\*)([^&\s\"'\\,;]+)")
# "key": "value" / 'key': 'value' (JSON, dict reprs, also JSON-escaped inside a JSON string).
_QUOTED_KEY_VALUE = re.compile(
    rf"(?i)(\\?[\"'])({_SENSITIVE_KEY})(\\?[\"']\s*:\s*)(\\?[\"'])(?!\*\*\*)(.*?)(\4)"
)
# Extra keys whose whole value is masked, whatever it is.
_SENSITIVE_FIELD = re.compile(
    r"(?i)(password|passwd|secret|authorization|cookie|api[_\-]?key|signature|"
    r"^token$|[_\-]token$|^auth$|^sig$)"
)

_secret_literals: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears (configured auth tokens, keys)."""
    if value and len(value) >= 8:
        _secret_literals.add(value)


def _mask_phone(match: re.Match[str]) -> str:
    """Star every digit but the last four (and the country digit after a leading ``+``)."""
    text = match.group(0)
    digit_positions = [m.start() for m in _PHONE_DIGITS.finditer(text)]
    keep = set(digit_positions[-4:])
    if text.startswith(("+", "%2B", "%2b")) and digit_positions:
        first = digit_positions[0]
        # In "%2B1..." the "2" of the escape is not part of the number.
        if text.startswith("%2"):
            first = digit_positions[1] if len(digit_positions) > 1 else first
            keep.add(digit_positions[0])
        keep.add(first)
    return "".join("*" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(text))


def mask(text: str) -> str:
    """Mask phone numbers, tokens, SIDs and secrets in free text (idempotent)."""
    for literal in _secret_literals:
        if literal in text:
            text = text.replace(literal, MASK)
    text = _JWT.sub("eyJ" + MASK, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _BASIC.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + "@", text)
    text = _QUOTED_KEY_VALUE.sub(
        lambda m: m.group(1) + m.group(2) + m.group(3) + m.group(4) + MASK + m.group(6), text
    )
    text = _KEY_VALUE.sub(lambda m: m.group(1) + "=" + MASK, text)
    text = _DD_TOKEN.sub("dd_" + MASK, text)
    text = _TWILIO_SID.sub(lambda m: m.group(1) + MASK, text)
    text = _E164.sub(_mask_phone, text)
    text = _US_SEPARATED.sub(_mask_phone, text)
    return _US_BARE.sub(_mask_phone, text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """Mask an extra field's value: wholly when its key is sensitive, else by pattern."""
    if key is not None and _SENSITIVE_FIELD.search(key):
        return MASK if value is not None else None
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {str(k): mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask(str(value))


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_RESERVED = {"timestamp", "level", "logger", "message", "correlation_id", "service"}
# Extras that only duplicate the message (uvicorn's ANSI-coloured copy).
_DROPPED_EXTRAS = {"color_message"}


def _timestamp(created: float) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """Render a record as one masked JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object: the standard fields, the correlation id, extras; then masked."""
        payload: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None) or correlation_id.get(),
            "service": SERVICE_NAME,
        }
        for key, value in record.__dict__.items():
            skipped = key in _RECORD_ATTRS or key in _DROPPED_EXTRAS or key == "correlation_id"
            if skipped or key.startswith("_"):
                continue
            name = key if key not in _RESERVED else f"extra_{key}"
            payload[name] = mask_value(value, key)
        if record.exc_info:
            payload["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        line = json.dumps(payload, default=str, ensure_ascii=False)
        return mask(line)


class _DealdeskHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``setup_logging`` installs (calling it again replaces it).

    Without an explicit stream it writes to whatever ``sys.stderr`` is at emit time, so a
    replaced stderr (pytest's capture, a daemonised worker) never leaves it writing to a
    closed file.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        # StreamHandler.__init__ pinned sys.stderr; keep only what the caller gave.
        self._explicit_stream = stream

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        """The explicit stream, else the current ``sys.stderr``."""
        return self._explicit_stream or sys.stderr

    @stream.setter
    def stream(self, value: IO[str] | None) -> None:
        self._explicit_stream = value


def setup_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> None:
    """Send every log record, as a masked JSON line, to ``stream`` (stderr by default)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _DealdeskHandler) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = _DealdeskHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn's own handlers print plain text: route its records through ours instead, and
    # drop its access log (ours has the correlation id and masks the query string).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    _register_configured_secrets()


def _register_configured_secrets() -> None:
    """Mask the literal values of configured secrets (Twilio auth token, API keys)."""
    from core.config import get_settings

    settings = get_settings()
    for secret in (
        settings.twilio_auth_token,
        settings.openai_api_key,
        settings.s3_secret_access_key,
        settings.secret_key,
    ):
        if secret is not None:
            register_secret(secret.get_secret_value())


# --------------------------------------------------------------------------------------------
# Correlation ids
# --------------------------------------------------------------------------------------------

_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
REQUEST_ID_HEADERS = (b"x-request-id", b"x-correlation-id")


def get_correlation_id() -> str | None:
    """Return the current request's or job's correlation id (None outside both)."""
    return correlation_id.get()


def new_correlation_id() -> str:
    """Make a fresh correlation id (uuid4 hex)."""
    return uuid.uuid4().hex


def accept_correlation_id(value: str | None) -> str | None:
    """Return the id if it is well-formed (1-64 of ``[A-Za-z0-9._:-]``), else None."""
    if value and _WELL_FORMED_ID.fullmatch(value):
        return value
    return None


@contextmanager
def job_context(job_id: str, correlation: str | None = None) -> Iterator[str]:
    """Set the correlation id for one job (the enqueuing request's id, else the job id)."""
    value = accept_correlation_id(correlation) or accept_correlation_id(job_id)
    value = value or new_correlation_id()
    token = correlation_id.set(value)
    try:
        yield value
    finally:
        correlation_id.reset(token)


# --------------------------------------------------------------------------------------------
# Middleware
# --------------------------------------------------------------------------------------------

# Probes and scrapes: logged at DEBUG so they do not drown the access log.
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def _request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Return the first well-formed X-Request-ID / X-Correlation-ID header value."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in REQUEST_ID_HEADERS and lowered not in found:
            found[lowered] = value.decode("latin-1").strip()
    for name in REQUEST_ID_HEADERS:
        accepted = accept_correlation_id(found.get(name))
        if accepted:
            return accepted
    return None


def route_template(scope: Scope, root_path: str = "") -> str:
    """Return the matched route's path template (``/api/v1/users/{id}``) or ``unmatched``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED_ROUTE
    # FastAPI >= 0.16x keeps included routers nested: scope["route"] is the route as declared
    # on its own router (no prefix); the full template is on the effective route context.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        effective = fastapi_scope.get("effective_route_context")
        full = getattr(effective, "path_format", None)
        if isinstance(full, str) and full.endswith(template):
            template = full
    # Inside a Mount, the route's template is relative to the mount point.
    mounted_at = str(scope.get("root_path", ""))
    if mounted_at.startswith(root_path):
        template = mounted_at[len(root_path) :] + template
    return template or "/"


class RequestContextMiddleware:
    """Pure ASGI middleware: correlation id, ``X-Request-ID`` echo, HTTP metrics, access log."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request (other ASGI scopes pass straight through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id_from(scope.get("headers", ())) or new_correlation_id()
        token = correlation_id.set(request_id)
        root_path = str(scope.get("root_path", ""))
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers.append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            if not response_started:
                status = 500
            access_log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            raise
        finally:
            duration_s = time.perf_counter() - started
            method = str(scope.get("method", ""))
            path = str(scope.get("path", ""))
            record_http_request(method, route_template(scope, root_path), status, duration_s)
            level = logging.DEBUG if path in _QUIET_PATHS and status < 500 else logging.INFO
            if status >= 500:
                level = logging.ERROR
            access_log.log(
                level,
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "query": scope.get("query_string", b"").decode("latin-1") or None,
                    "status": status,
                    "duration_ms": round(duration_s * 1000, 2),
                },
            )
            correlation_id.reset(token)
