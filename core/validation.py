r"""The 422 for a request that fails validation, safe for any text the request carried.

FastAPI's own handler echoes each error's ``input``; a string there with a lone UTF-16
surrogate (``"\ud800"``, which Python's JSON parser accepts but is not a character) cannot be
encoded as UTF-8, so the error page itself failed with a 500 and a reset connection.
``core.nul_guard`` refuses such JSON bodies first; this handler answers the same shape as
FastAPI's (``{"detail": [{"type", "loc", "msg", "input", ...}]}``) with every lone surrogate
in it shown as U+FFFD, so the 422 is sent whatever reaches validation.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(value: Any) -> Any:
    """``value`` (JSON-ready) with each lone surrogate in its strings and keys made U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


async def request_validation_handler(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a ``RequestValidationError``, encodable whatever its inputs hold."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": printable(jsonable_encoder(errors))})
