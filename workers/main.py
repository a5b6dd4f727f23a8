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
from collections.abc import Sequence
from typing import Any

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker.base import BaseWorker

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


class _CorrelatedJobs(BaseWorker):
    """Runs each job under its enqueuer's correlation id (mixed into both worker kinds)."""

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
