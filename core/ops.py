"""Operations endpoints: ``/health`` (liveness), ``/ready`` (readiness) and ``/metrics``.

They sit at the root (not under ``/api/v1``) and need no authentication. Readiness checks the
database (``SELECT 1``), Redis (``PING``), that the database is at the newest migration, and that
every RQ queue has a live worker (rq's worker registry, a local worker's process alive); each
check runs on a dedicated short-timeout connection and the whole probe has a deadline, so
``/ready`` answers within a few seconds even when a dependency hangs.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from redis import Redis
from sqlalchemy import Engine, create_engine, text

from core.metrics import render_latest

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

# Connect / statement / socket timeouts of the probe connections, and the probe's deadline.
DB_CONNECT_TIMEOUT_S = 2  # libpq's minimum
DB_STATEMENT_TIMEOUT_MS = 2000
REDIS_TIMEOUT_S = 1.0
READY_DEADLINE_S = 3.5

_probe_lock = threading.Lock()
_probe_engines: dict[str, Engine] = {}
_probe_redis: dict[str, Redis] = {}
_PROBE_THREAD_PREFIX = "ready-probe"
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix=_PROBE_THREAD_PREFIX)


class _QuietProbeFilter(logging.Filter):
    """Drop alembic's chatter ("Context impl ...") when a readiness probe reads the revision."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless it is INFO-or-below from a probe thread."""
        from_probe = (record.threadName or "").startswith(_PROBE_THREAD_PREFIX)
        return not (from_probe and record.levelno < logging.WARNING)


for _name in ("alembic.runtime.migration", "alembic.runtime.plugins"):
    logging.getLogger(_name).addFilter(_QuietProbeFilter())


def probe_engine() -> Engine:
    """Return a small engine on the configured database with short timeouts."""
    from store.db import database_url

    url = database_url()
    with _probe_lock:
        engine = _probe_engines.get(url)
        if engine is None:
            engine = create_engine(
                url,
                pool_size=1,
                max_overflow=2,
                pool_timeout=DB_CONNECT_TIMEOUT_S,
                pool_pre_ping=True,
                connect_args={
                    "connect_timeout": DB_CONNECT_TIMEOUT_S,
                    "options": f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
                },
            )
            _probe_engines[url] = engine
        return engine


def probe_redis() -> Redis:
    """Return a Redis client on the configured server with one-second timeouts."""
    from store.redis_client import redis_url

    url = redis_url()
    with _probe_lock:
        client = _probe_redis.get(url)
        if client is None:
            client = Redis.from_url(
                url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
            )
            _probe_redis[url] = client
        return client


def reset_probes() -> None:
    """Close the probe connections (after settings change, before dropping a database)."""
    with _probe_lock:
        for engine in _probe_engines.values():
            engine.dispose()
        for client in _probe_redis.values():
            client.close()
        _probe_engines.clear()
        _probe_redis.clear()


def _reason(exc: BaseException) -> str:
    """Summarise an exception in one line (its type and first message line)."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def redis_reachable() -> tuple[bool, str | None]:
    """PING the configured Redis quickly; (True, None) or (False, reason)."""
    try:
        probe_redis().ping()
    except Exception as exc:
        return False, _reason(exc)
    return True, None


@dataclass
class Check:
    """The outcome of one readiness check."""

    name: str
    ok: bool
    reason: str | None = None


def _check_database_and_migrations() -> list[Check]:
    """``SELECT 1``, then compare the database's revision with the code's newest one."""
    from store import migrate

    try:
        engine = probe_engine()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:
        return [
            Check("database", False, _reason(exc)),
            Check("migrations", False, "not checked: database unreachable"),
        ]
    database = Check("database", True)
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
    except Exception as exc:
        return [database, Check("migrations", False, _reason(exc))]
    if current != head:
        reason = f"database at {current}, code at {head} — run `dealdesk migrate`"
        return [database, Check("migrations", False, reason)]
    return [database, Check("migrations", True)]


def _check_redis_and_workers() -> list[Check]:
    """PING Redis, then count the live RQ workers of each queue (none: not ready)."""
    from workers.main import live_workers_by_queue

    ok, reason = redis_reachable()
    if not ok:
        return [Check("redis", False, reason), Check("workers", False, "not checked: redis down")]
    redis = Check("redis", True)
    try:
        counts = live_workers_by_queue(probe_redis())
    except Exception as exc:
        return [redis, Check("workers", False, _reason(exc))]
    idle = [queue for queue, count in counts.items() if not count]
    if idle:
        reason = f"no live worker for queue(s) {', '.join(idle)}: their jobs wait"
        return [redis, Check("workers", False, reason)]
    return [redis, Check("workers", True)]


def readiness() -> list[Check]:
    """Run every readiness check concurrently, each bounded by the probe's deadline."""
    groups = {
        ("database", "migrations"): _executor.submit(_check_database_and_migrations),
        ("redis", "workers"): _executor.submit(_check_redis_and_workers),
    }
    checks: list[Check] = []
    for names, future in groups.items():
        try:
            checks.extend(future.result(timeout=READY_DEADLINE_S))
        except FutureTimeout:
            reason = f"timed out after {READY_DEADLINE_S}s"
            checks.extend(Check(name, False, reason) for name in names)
        except Exception as exc:  # a check itself should never raise; report it if it does
            checks.extend(Check(name, False, _reason(exc)) for name in names)
    return checks


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process is up and serving (no dependencies are checked)."""
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        503: {
            "description": "A dependency is unreachable, migrations are behind, or a queue "
            "has no live worker"
        }
    },
)
def ready() -> JSONResponse:
    """Readiness: 200 when the database, Redis, migrations and workers are all good, else 503."""
    checks = readiness()
    ok = all(check.ok for check in checks)
    body: dict[str, Any] = {
        "status": "ready" if ok else "not ready",
        "checks": {
            check.name: asdict(check) | {"status": "ok" if check.ok else "failing"}
            for check in checks
        },
    }
    for check in body["checks"].values():
        del check["name"]
    if not ok:
        failing = {c.name: c.reason for c in checks if not c.ok}
        log.warning("not ready", extra={"failing": failing})
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    payload, content_type = render_latest()
    return Response(content=payload, media_type=content_type)
