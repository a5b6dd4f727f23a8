"""The worker entry point: preload heavy models once, then work the RQ queues."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from core.observability import job_context
from store.db import get_engine
from store.redis_client import get_redis
from workers.queues import QUEUE_NAMES, get_queue

log = logging.getLogger(__name__)

# Dotted paths of functions that load heavy models (Whisper, YOLO) before the first job, so
# forked work horses share them. Modules add theirs as they land.
PRELOADERS: list[str] = [
    "workers.audio.preload",
    "workers.vision.preload",
    "workers.whatsapp.preload",
]


def preload_models() -> list[str]:
    """Run every registered preloader; return the names that loaded (failures are logged)."""
    loaded = []
    for dotted in PRELOADERS:
        module_name, _, func_name = dotted.rpartition(".")
        try:
            getattr(importlib.import_module(module_name), func_name)()
            loaded.append(dotted)
        except Exception:
            log.exception(
                "preloading failed; jobs that need it will report why", extra={"preloader": dotted}
            )
    return loaded


class DealdeskWorker(Worker):
    """An RQ worker that runs each job under its enqueuer's correlation id."""

    def perform_job(self, job: Job, *args: Any, **kwargs: Any) -> bool:
        """Run the job inside a logging context carrying its correlation id."""
        with job_context(job.id, correlation=(job.meta or {}).get("correlation_id")):
            return super().perform_job(job, *args, **kwargs)


def build_worker(queues: Sequence[str] = QUEUE_NAMES) -> Worker:
    """A forking RQ worker on the named queues with the JSON serializer."""
    return DealdeskWorker(
        [get_queue(name) for name in queues],
        connection=get_redis(),
        serializer=JSONSerializer,
    )


def run_worker(
    queues: Sequence[str] = QUEUE_NAMES, *, burst: bool = False, with_scheduler: bool = True
) -> bool:
    """Preload models and work the queues until stopped (or until empty with ``burst``)."""
    preload_models()
    # Connect before forking: work horses inherit the engine (and the embedded server's
    # handle) instead of each registering its own.
    get_engine()
    worker = build_worker(queues)
    return worker.work(burst=burst, with_scheduler=with_scheduler)
