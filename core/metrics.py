"""Prometheus metrics: HTTP traffic, RQ queues and workers, outbox lag, business counters.

Everything lives in one ``REGISTRY`` that ``GET /metrics`` renders. HTTP metrics are recorded
by ``core.observability.RequestContextMiddleware``. ``redis_up``, queue depth, failed jobs, live
workers per queue, outbox lag and outbox delivery counts are read at scrape time by
``RuntimeCollector``, which skips (and logs) whatever it cannot reach, so a scrape never fails
because Redis or the database is down (``redis_up`` then says 0).
Modules declare their business counters with ``business_counter("properties_created_total",
"...")``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time spent handling HTTP requests, by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# Route label for requests that matched no route (keeps label cardinality bounded).
UNMATCHED_ROUTE = "unmatched"


def record_http_request(method: str, route: str, status: int, duration_s: float) -> None:
    """Count one handled request and observe its duration."""
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(duration_s)


_business_lock = threading.Lock()
_business_counters: dict[str, tuple[Counter, tuple[str, ...]]] = {}


def business_counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """Declare (or fetch) a business counter such as ``properties_created_total``.

    Calling it again with the same name returns the same counter, so a module can declare its
    counters at import time without caring about re-imports; a different label set is an error.
    """
    if not name.endswith("_total"):
        raise ValueError(f"business counter {name!r} must end with _total")
    labels = tuple(labelnames)
    with _business_lock:
        existing = _business_counters.get(name)
        if existing is not None:
            counter, existing_labels = existing
            if existing_labels != labels:
                raise ValueError(
                    f"business counter {name!r} already declared with labels {existing_labels}"
                )
            return counter
        counter = Counter(name, documentation, labels, registry=REGISTRY)
        _business_counters[name] = (counter, labels)
        return counter


_REDIS_UP_DOC = "1 when Redis answers a PING, 0 when it does not (then no rq_* series)."
_RQ_WORKERS_DOC = "Live RQ workers serving each queue (0: its jobs wait until one starts)."


def _queue_families() -> list[Metric]:
    """``redis_up``, then ``rq_queue_depth``, ``rq_failed_jobs``, ``rq_workers`` per queue.

    With Redis down only ``redis_up`` (0) is there, so an alert can fire on it rather than
    on series that vanished.
    """
    from core.ops import probe_redis, redis_reachable
    from workers.main import live_workers_by_queue
    from workers.queues import QUEUE_NAMES, get_queue, queue_depths

    up = GaugeMetricFamily("redis_up", _REDIS_UP_DOC)
    # A fast PING first: the shared client waits up to its socket timeout on a dead Redis.
    reachable, reason = redis_reachable()
    if not reachable:
        log.warning("rq metrics skipped: redis unreachable", extra={"reason": reason})
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    depth = GaugeMetricFamily("rq_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
    failed = GaugeMetricFamily(
        "rq_failed_jobs", "Jobs in each RQ queue's failed-job registry.", labels=["queue"]
    )
    workers = GaugeMetricFamily("rq_workers", _RQ_WORKERS_DOC, labels=["queue"])
    try:
        for queue, count in queue_depths().items():
            depth.add_metric([queue], count)
        for queue in QUEUE_NAMES:
            failed.add_metric([queue], get_queue(queue).failed_job_registry.count)
        for queue, count in live_workers_by_queue(probe_redis()).items():
            workers.add_metric([queue], count)
    except Exception as exc:
        log.warning("rq metrics skipped: %s", type(exc).__name__, extra={"reason": str(exc)})
        return [up]
    return [up, depth, failed, workers]


_OUTBOX_LAG_DOC = "Age in seconds of the oldest event not yet delivered to every subscriber."
_OUTBOX_DELIVERIES_DOC = "Outbox deliveries (event x subscriber) in each status."


def _outbox_families() -> list[Metric]:
    """``outbox_lag_seconds`` and ``outbox_deliveries{status}``; absent when unknown."""
    try:
        from store import outbox
    except ImportError as exc:
        log.warning("outbox metrics skipped: store.outbox unavailable", extra={"reason": str(exc)})
        return []
    lag_seconds = getattr(outbox, "lag_seconds", None)
    delivery_counts = getattr(outbox, "delivery_counts", None)
    if lag_seconds is None:
        log.warning("outbox_lag_seconds skipped: store.outbox.lag_seconds is not available")
        return []
    from sqlmodel import Session

    from core.ops import probe_engine

    families: list[Metric] = []
    try:
        with Session(probe_engine()) as session:
            lag = lag_seconds(session)
            counts = delivery_counts(session) if delivery_counts is not None else {}
    except Exception as exc:
        log.warning("outbox metrics skipped: %s", type(exc).__name__, extra={"reason": str(exc)})
        return []
    value = 0.0 if lag is None else float(lag)
    if not math.isnan(value):
        lag_family = GaugeMetricFamily("outbox_lag_seconds", _OUTBOX_LAG_DOC)
        lag_family.add_metric([], value)
        families.append(lag_family)
    if counts:
        deliveries = GaugeMetricFamily(
            "outbox_deliveries", _OUTBOX_DELIVERIES_DOC, labels=["status"]
        )
        for status, count in sorted(counts.items()):
            deliveries.add_metric([str(status)], float(count))
        families.append(deliveries)
    return families


class RuntimeCollector(Collector):
    """Reads queue depth, failed jobs and outbox lag when Prometheus scrapes."""

    def describe(self) -> Iterator[Metric]:
        """Declare the metric names this collector owns (no samples, no I/O)."""
        yield GaugeMetricFamily(
            "rq_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        yield GaugeMetricFamily(
            "rq_failed_jobs", "Jobs in each RQ queue's failed-job registry.", labels=["queue"]
        )
        yield GaugeMetricFamily("redis_up", _REDIS_UP_DOC)
        yield GaugeMetricFamily("rq_workers", _RQ_WORKERS_DOC, labels=["queue"])
        yield GaugeMetricFamily("outbox_lag_seconds", _OUTBOX_LAG_DOC)
        yield GaugeMetricFamily("outbox_deliveries", _OUTBOX_DELIVERIES_DOC, labels=["status"])

    def collect(self) -> Iterator[Metric]:
        """Yield the live families; anything unreachable is skipped and logged, never raised."""
        yield from _queue_families()
        yield from _outbox_families()


REGISTRY.register(RuntimeCollector())


def render_latest() -> tuple[bytes, str]:
    """Render the registry in Prometheus text format; return it with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
