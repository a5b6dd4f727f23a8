"""QA round 11 (F8a): /ready and /metrics see dead RQ workers and a dead Redis.

Before: with both workers killed (`kill -9`, or Redis killed, after which they quit) /ready
stayed 200, and /metrics silently dropped the rq_* series when Redis was down.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY

from workers.queues import QUEUE_NAMES


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def register_worker(redis: Redis) -> Iterator[Callable[[str, int, tuple[str, ...]], None]]:
    """Register an RQ worker the way rq does (hash with pid and hostname, queue sets)."""
    keys: list[str] = []

    def _register(name: str, pid: int, queues: tuple[str, ...]) -> None:
        key = f"rq:worker:{name}"
        redis.hset(
            key, mapping={"pid": pid, "hostname": socket.gethostname(), "queues": ",".join(queues)}
        )
        redis.expire(key, 420)
        redis.sadd(REDIS_WORKER_KEYS, key)
        for queue in queues:
            redis.sadd(WORKERS_BY_QUEUE_KEY % queue, key)
        keys.append(key)

    yield _register
    for key in keys:
        redis.delete(key)


def test_ready_is_503_when_the_workers_were_killed(
    client: TestClient, register_worker: Callable[[str, int, tuple[str, ...]], None]
) -> None:
    # Both workers of a run, killed with SIGKILL: their registrations live on for minutes.
    register_worker("forking", _dead_pid(), ("default", "events", "reports", "vision"))
    register_worker("transcribe", _dead_pid(), ("transcribe",))

    response = client.get("/ready")

    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["workers"]["ok"] is False
    assert checks["workers"]["reason"] == (
        f"no live worker for queue(s) {', '.join(QUEUE_NAMES)}: their jobs wait"
    )
    assert checks["redis"]["ok"] is True and checks["database"]["ok"] is True


def test_ready_names_the_one_queue_without_a_worker(
    client: TestClient, register_worker: Callable[[str, int, tuple[str, ...]], None]
) -> None:
    register_worker("forking", os.getpid(), ("default", "events", "reports", "vision"))
    register_worker("transcribe", _dead_pid(), ("transcribe",))

    response = client.get("/ready")

    assert response.status_code == 503
    reason = response.json()["checks"]["workers"]["reason"]
    assert reason == "no live worker for queue(s) transcribe: their jobs wait"

    register_worker("transcribe-restarted", os.getpid(), ("transcribe",))
    assert client.get("/ready").status_code == 200


def test_metrics_count_live_workers_per_queue_and_say_redis_is_up(
    client: TestClient,
    register_worker: Callable[[str, int, tuple[str, ...]], None],
    scrape: Callable[[Any], Any],
) -> None:
    register_worker("forking", os.getpid(), ("default", "events", "reports", "vision"))
    register_worker("killed", _dead_pid(), ("default", "transcribe"))

    exposition = scrape(client)

    assert exposition.value("redis_up") == 1
    assert {name: exposition.value("rq_workers", queue=name) for name in QUEUE_NAMES} == {
        "default": 1,
        "events": 1,
        "reports": 1,
        "vision": 1,
        "transcribe": 0,
    }


def test_metrics_say_redis_is_down_instead_of_dropping_the_series(
    client: TestClient,
    point_settings: Callable[[str, str], None],
    closed_redis_url: str,
    scrape: Callable[[Any], Any],
) -> None:
    point_settings("REDIS_URL", closed_redis_url)

    exposition = scrape(client)

    assert exposition.value("redis_up") == 0
    assert exposition.label_sets("rq_workers") == []
    assert exposition.label_sets("rq_queue_depth") == []
