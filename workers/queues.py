"""The RQ queues, built in one place: JSON serializer, a timeout and retries on every enqueue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rq import Queue, Retry
from rq.serializers import JSONSerializer

from core.observability import get_correlation_id
from store.redis_client import get_redis

QUEUE_NAMES = ("default", "transcribe", "vision", "reports", "events")

# Per-queue defaults: how long a job may run and how it is retried.
JOB_TIMEOUTS_S = {"default": 300, "transcribe": 900, "vision": 900, "reports": 300, "events": 120}
RETRY_INTERVALS_S = [10, 60, 300]


def get_queue(name: str = "default") -> Queue:
    """A named queue on the configured Redis, with the JSON serializer (never pickle)."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; expected one of {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=get_redis(), serializer=JSONSerializer)


def enqueue(
    func: Callable[..., Any],
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    **kwargs: Any,
) -> Any:
    """Enqueue a job with ids (not objects) as arguments, a timeout and retries.

    The caller's correlation id travels in the job's meta, so the job logs under it.
    """
    meta = {"correlation_id": get_correlation_id()}
    return get_queue(queue).enqueue(
        func,
        *args,
        job_id=job_id,
        job_timeout=JOB_TIMEOUTS_S[queue],
        retry=Retry(max=len(RETRY_INTERVALS_S), interval=RETRY_INTERVALS_S),
        meta=meta,
        **kwargs,
    )


def queue_depths() -> dict[str, int]:
    """Number of jobs waiting in each queue (for /metrics)."""
    return {name: len(get_queue(name)) for name in QUEUE_NAMES}
