"""The worker entry point: preload heavy models once, then work the RQ queues.

Two kinds of worker. The ``transcribe`` queue is worked by a worker that does not fork: Whisper
(CTranslate2) hangs in a child forked from a process that loaded it, so that worker loads the
model once in its own process and runs every job there. The other queues are worked by a
forking worker (each job in a fresh work horse), which preloads YOLO and the agent's imports
before it forks. ``dealdesk run`` starts one of each.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from redis import Redis
from redis.exceptions import LockError
from rq import Queue, SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.scripts import release_lock
from rq.serializers import JSONSerializer
from rq.worker.base import BaseWorker
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

from core.observability import job_context, mask
from store.db import get_engine
from store.redis_client import get_redis
from workers.queues import QUEUE_NAMES, get_queue

log = logging.getLogger(__name__)

# Dotted paths of functions that load heavy models (Whisper, YOLO) or imports before the first
# job, and the queues whose jobs need them: a worker runs those of the queues it works.
PRELOADERS: dict[str, frozenset[str]] = {
    "workers.audio.preload": frozenset({"transcribe"}),
    "workers.vision.preload": frozenset({"vision"}),
    "workers.whatsapp.preload": frozenset({"default"}),
    "workers.voice.preload": frozenset({"default"}),
    # Imports the market monitor and keeps its scheduler tick scheduled.
    "workers.monitor.preload": frozenset({"default"}),
}
# Queues whose jobs must run in the worker's own process (a model that cannot cross a fork).
NO_FORK_QUEUES = frozenset({"transcribe"})
# The queues `dealdesk run` gives its forking worker, in priority order (the rest: NO_FORK_QUEUES).
FORKING_QUEUES = ("default", "events", "reports", "vision")


def preload_models(queues: Sequence[str] = QUEUE_NAMES) -> list[str]:
    """Run the preloaders the queues need; return the names that loaded (failures are logged)."""
    loaded = []
    for dotted, needed_by in PRELOADERS.items():
        if needed_by.isdisjoint(queues):
            continue
        module_name, _, func_name = dotted.rpartition(".")
        try:
            getattr(importlib.import_module(module_name), func_name)()
            loaded.append(dotted)
        except Exception:
            log.exception(
                "preloading failed; jobs that need it will report why", extra={"preloader": dotted}
            )
    return loaded


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """In a forked child on Linux: get ``sig`` when the parent dies, even by SIGKILL.

    Exits at once when the parent is already gone (it died before the request took effect).
    Elsewhere (no prctl) it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1  # from <sys/prctl.h>
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0) != 0:
        log.warning("cannot follow the parent process", extra={"errno": ctypes.get_errno()})
    elif os.getppid() != parent_pid:
        os._exit(0)  # orphaned already: hold nothing (locks, the parent's sockets)


class DealdeskScheduler(RQScheduler):
    """RQ's scheduler process, which dies with the worker that forked it.

    RQ forks the scheduler from the worker. Without this, a worker killed with SIGKILL left
    its scheduler running as an orphan (parent 1): it kept the scheduler locks (so new workers
    scheduled nothing) and the worker's Redis socket, on which it swallowed the reply of the
    dead worker's BLPOP, a job lost for good. With the death signal (SIGTERM) the scheduler
    stops within a second and releases its locks, and it closes its copies of the worker's
    Redis sockets first, so a dead worker's connection closes with the worker.
    """

    _parent_pid = 0
    worker_pool: Any = None  # the worker's connection pool, whose sockets the fork inherits
    _inherited: tuple[Any, ...] = ()

    def start(self) -> Any:
        """Remember the worker's pid and Redis connections, then fork the scheduler process."""
        self._parent_pid = os.getpid()
        pool = self.worker_pool
        self._inherited = (
            *getattr(pool, "_available_connections", ()),
            *getattr(pool, "_in_use_connections", ()),
        )
        return super().start()

    def work(self) -> None:
        """In the forked process: follow the worker's death, drop its sockets, schedule."""
        if self._parent_pid:
            die_with_parent(self._parent_pid)
        for connection in self._inherited:
            try:
                connection.disconnect()  # in another pid: closes our copy only, no shutdown
            except Exception:  # noqa: BLE001 - an already closed socket
                log.debug("could not close an inherited redis socket", exc_info=True)
        super().work()


class _CorrelatedJobs(BaseWorker):
    """Runs each job under its enqueuer's correlation id (mixed into both worker kinds)."""

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "",
        log_format: str = "",
    ) -> None:
        """RQ's own ``_start_scheduler``, with a scheduler that dies with this worker."""
        from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT

        self.scheduler = DealdeskScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format or DEFAULT_LOGGING_DATE_FORMAT,
            log_format=log_format or DEFAULT_LOGGING_FORMAT,
            serializer=self.serializer,
        )
        self.scheduler.worker_pool = self.connection.connection_pool
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()

    def perform_job(self, job: Job, *args: Any, **kwargs: Any) -> bool:
        """Run the job inside a logging context carrying its correlation id."""
        with job_context(job.id, correlation=(job.meta or {}).get("correlation_id")):
            return super().perform_job(job, *args, **kwargs)

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> None:
        """Record the failure with phone numbers and tokens masked, as the logs have them.

        The failed-job registry keeps the traceback in Redis for whoever looks (``rq info``,
        a dashboard), so it must not carry what the logs are careful never to show.
        """
        if isinstance(kwargs.get("exc_string"), str):
            kwargs["exc_string"] = mask(kwargs["exc_string"])
        elif len(args) >= 2 and isinstance(args[1], str):  # (registry, exc_string, ...)
            args = (args[0], mask(args[1]), *args[2:])
        super().handle_job_failure(job, queue, *args, **kwargs)


class DealdeskWorker(_CorrelatedJobs, Worker):
    """A forking RQ worker: each job in a fresh work horse, under its correlation id."""


class DealdeskSimpleWorker(_CorrelatedJobs, SimpleWorker):
    """A non-forking RQ worker: jobs run in its own process, next to the preloaded models."""


def forks(queues: Sequence[str]) -> bool:
    """Whether a worker of these queues may fork (not when one needs a fork-unsafe model)."""
    return NO_FORK_QUEUES.isdisjoint(queues)


def build_worker(queues: Sequence[str] = QUEUE_NAMES, *, fork: bool | None = None) -> BaseWorker:
    """An RQ worker on the named queues (JSON serializer); forking unless the queues forbid it."""
    fork = forks(queues) if fork is None else fork and forks(queues)
    worker_class = DealdeskWorker if fork else DealdeskSimpleWorker
    return worker_class(
        [get_queue(name) for name in queues],
        connection=get_redis(),
        serializer=JSONSerializer,
    )


def run_worker(
    queues: Sequence[str] = QUEUE_NAMES,
    *,
    burst: bool = False,
    with_scheduler: bool = True,
    fork: bool | None = None,
) -> bool:
    """Preload models and work the queues until stopped (or until empty with ``burst``)."""
    preload_models(queues)
    # Connect before forking: work horses inherit the engine (and the embedded server's
    # handle) instead of each registering its own.
    get_engine()
    worker = build_worker(queues, fork=fork)
    return worker.work(burst=burst, with_scheduler=with_scheduler)


# --- liveness of workers, stale scheduler state, chains of self-rescheduling jobs ---------


def _local_pid_alive(pid: int) -> bool:
    """True when the process exists here and is not a zombie (a dead, unreaped child)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def worker_alive(connection: Redis, worker_key: str) -> bool:
    """Whether the RQ worker registered under ``worker_key`` is alive.

    Its registration (a hash whose TTL the worker's heartbeat renews) must exist and not
    record a death; a worker on this host must also still run (a worker killed with SIGKILL
    leaves its registration for minutes, until the TTL runs out). A worker on another host
    is trusted while its registration lives.
    """
    pid, hostname, death = (
        _text(v) for v in connection.hmget(worker_key, ["pid", "hostname", "death"])
    )
    if pid is None or death:
        return False
    if hostname == socket.gethostname():
        return _local_pid_alive(int(pid))
    return True


def live_workers_by_queue(connection: Redis | None = None) -> dict[str, int]:
    """How many live RQ workers serve each queue (rq's worker registry, checked for life)."""
    connection = connection or get_redis()
    counts = {}
    for name in QUEUE_NAMES:
        keys = {_text(k) or "" for k in connection.smembers(WORKERS_BY_QUEUE_KEY % name)}
        counts[name] = sum(worker_alive(connection, key) for key in keys)
    return counts


def _forget_dead_workers(connection: Redis) -> list[str]:
    """Drop the registrations of workers on this host that are gone; return their names."""
    forgotten = []
    local = socket.gethostname()
    for key in sorted(_text(k) or "" for k in connection.smembers(REDIS_WORKER_KEYS)):
        pid, hostname = (_text(v) for v in connection.hmget(key, ["pid", "hostname"]))
        if pid is not None and (hostname != local or _local_pid_alive(int(pid))):
            continue
        with connection.pipeline() as pipe:
            pipe.delete(key)
            pipe.srem(REDIS_WORKER_KEYS, key)
            for name in QUEUE_NAMES:
                pipe.srem(WORKERS_BY_QUEUE_KEY % name, key)
            pipe.execute()
        forgotten.append(key.removeprefix(Worker.redis_worker_namespace_prefix))
    return forgotten


def _orphaned_worker_child(pid: int) -> bool:
    """True for a process forked by a dealdesk worker (its scheduler) whose worker is gone."""
    import psutil

    try:
        process = psutil.Process(pid)
        cmdline = " ".join(process.cmdline())
        parent = process.parent()
        parent_cmdline = " ".join(parent.cmdline()) if parent is not None else ""
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    is_worker = "worker" in cmdline and ("cli.main" in cmdline or "dealdesk" in cmdline)
    return is_worker and (parent is None or parent.pid == 1 or "worker" not in parent_cmdline)


def _stop_process(pid: int, wait_s: float = 5.0) -> None:
    """SIGTERM a process, wait a little, then SIGKILL it."""
    import psutil

    try:
        process = psutil.Process(pid)
        process.terminate()
        process.wait(timeout=wait_s)
    except psutil.TimeoutExpired:
        process.kill()
    except psutil.NoSuchProcess:
        pass


def clear_stale_scheduler_locks(connection: Redis | None = None) -> list[str]:
    """Release the RQ scheduler locks no live scheduler holds; return their queues.

    A lock is stale when its scheduler's registration is gone, or the scheduler ran on this
    host and its process is gone or orphaned (its worker died; the orphan is stopped). Such a
    lock would otherwise keep every new worker's scheduler idle until it expired, and with an
    orphan holding it, for good: no retries, sweeps, dispatches or ticks.
    """
    connection = connection or get_redis()
    cleared = []
    local = socket.gethostname()
    for name in QUEUE_NAMES:
        lock_key = RQScheduler.get_locking_key(name)
        holder = _text(connection.get(lock_key))
        if holder is None:
            continue
        scheduler_key = SCHEDULER_KEY_TEMPLATE % holder
        pid, hostname = (_text(v) for v in connection.hmget(scheduler_key, ["pid", "hostname"]))
        if pid is not None and hostname != local:
            continue  # another host's live scheduler (its registration expires with it)
        if pid is not None and int(pid) > 0 and _local_pid_alive(int(pid)):
            if not _orphaned_worker_child(int(pid)):
                continue  # a live worker's scheduler here
            log.warning("stopping an orphaned RQ scheduler", extra={"pid": int(pid)})
            _stop_process(int(pid))
        release_lock(connection, lock_key, holder)
        cleared.append(name)
    return cleared


def clear_stale_worker_state(connection: Redis | None = None) -> dict[str, list[str]]:
    """Before workers start: release stale scheduler locks, forget dead workers here."""
    connection = connection or get_redis()
    return {
        "scheduler_locks": clear_stale_scheduler_locks(connection),
        "dead_workers": _forget_dead_workers(connection),
    }


CHAIN_KEY = "dealdesk:chain:{name}"
# The job states in which a chain's job will still run (started: if its worker lives).
_PENDING = (JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.DEFERRED)


def job_will_run(connection: Redis, job_id: str) -> bool:
    """Whether a job is still to run: scheduled, queued, deferred, or started by a live worker."""
    job = Job.fetch_many([job_id], connection=connection, serializer=JSONSerializer)[0]
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status in _PENDING:
        return True
    if status == JobStatus.STARTED and job.worker_name:
        return worker_alive(connection, Worker.redis_worker_namespace_prefix + job.worker_name)
    return False


def keep_chain(
    name: str,
    func: Callable[..., Any],
    interval_s: float,
    *,
    queue: str = "default",
    job_timeout: int = 120,
    current_job_id: str | None = None,
) -> bool:
    """Keep exactly one job of a self-rescheduling chain (a tick, a sweeper) scheduled.

    The chain's pending job id lives in Redis (``CHAIN_KEY``). Called without
    ``current_job_id`` (a worker starting, a webhook), it schedules a job only when the chain
    has none that will still run. Called from the chain's job with its own id, it schedules
    the next one, unless another job now holds the chain: then this chain (a duplicate left
    from before) ends. Returns whether a job was scheduled. Needs a worker with the scheduler.
    """
    connection = get_redis()
    key = CHAIN_KEY.format(name=name)
    lock = connection.lock(f"{key}:lock", timeout=10, blocking_timeout=5)
    try:
        locked = lock.acquire()
    except LockError:
        locked = False
    if not locked and current_job_id is None:
        return False  # someone else is scheduling this chain right now
    try:
        holder = _text(connection.get(key))
        if holder and holder != current_job_id and job_will_run(connection, holder):
            if current_job_id is not None:
                log.info(
                    "a duplicate job chain ends",
                    extra={"chain": name, "job_id": current_job_id, "kept": holder},
                )
            return False
        job_id = f"{name}-{uuid.uuid4().hex}"
        get_queue(queue).enqueue_in(
            timedelta(seconds=interval_s), func, job_timeout=job_timeout, job_id=job_id
        )
        connection.set(key, job_id)
        return True
    finally:
        if locked:
            try:
                lock.release()
            except LockError:
                log.debug("chain lock expired before release", extra={"chain": name})


def running_job_id() -> str | None:
    """The id of the RQ job running this code, if any."""
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else None
