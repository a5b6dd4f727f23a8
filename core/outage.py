"""A 503 with ``Retry-After``, not a text/plain 500, while PostgreSQL or Redis is unreachable.

When the database is stopped every route fails on its first query with SQLAlchemy's
``OperationalError`` (connection refused, the server closed the connection); without a handler
that is Starlette's plain-text 500 and a stack trace per request in the log. These handlers
answer ``503 {"detail": "the database is unavailable; try again shortly"}`` (or the job
queue's sentence for Redis) with ``Retry-After``, and log one line per request, without the
trace. Errors that are not about reaching the server (an ``IntegrityError``, a bad statement)
are not caught here and stay what they were.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
DATABASE_DETAIL = "the database is unavailable; try again shortly"
QUEUE_DETAIL = "the job queue is unavailable; try again shortly"


def database_unreachable(exc: BaseException) -> bool:
    """True for an error that means the database cannot be reached (not a bad statement)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        # SQLAlchemy recognised a disconnect and invalidated the connection.
        return bool(exc.connection_invalidated) or isinstance(
            exc.orig, psycopg.OperationalError | psycopg.InterfaceError
        )
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def _summary(exc: BaseException) -> str:
    """The error's type and first line (connection errors can run to several lines)."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first[:300]}"


def _unavailable(request: Request, detail: str, what: str, exc: BaseException) -> JSONResponse:
    """The 503 answer, logged once (one line, no stack trace)."""
    log.warning(
        "%s unavailable: %s %s answered 503 (%s)",
        what,
        request.method,
        request.url.path,
        _summary(exc),
        extra={"dependency": what, "error": _summary(exc)},
    )
    return JSONResponse(
        status_code=503,
        content={"detail": detail},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 for a database that cannot be reached; any other database error is raised again."""
    if not database_unreachable(exc):
        raise exc
    return _unavailable(request, DATABASE_DETAIL, "database", exc)


async def redis_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 for a Redis (the job queue) that cannot be reached."""
    return _unavailable(request, QUEUE_DETAIL, "redis", exc)


def add_outage_handlers(application: FastAPI) -> None:
    """Register the handlers: SQLAlchemy's and psycopg's connection errors, Redis's."""
    for db_error in (DBAPIError, psycopg.OperationalError, psycopg.InterfaceError):
        application.add_exception_handler(db_error, database_error_handler)
    for redis_error in (RedisConnectionError, RedisTimeoutError):
        application.add_exception_handler(redis_error, redis_error_handler)
