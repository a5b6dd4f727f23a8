"""Fixtures for the operations tests: captured JSON logs, broken dependencies, metric parsing."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import get_settings
from core.observability import setup_logging
from core.ops import reset_probes
from store.redis_client import reset_redis


class JsonLogs:
    """Log lines written by the real JSON handler into a buffer."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def raw(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw()]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """Install the application's logging on a buffer (at DEBUG), restore stderr afterwards."""
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    yield JsonLogs(stream)
    setup_logging("INFO")


def _clear_cached_connections() -> None:
    get_settings.cache_clear()
    reset_redis()
    reset_probes()


@pytest.fixture
def point_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Temporarily set an environment setting (DATABASE_URL, REDIS_URL) and drop cached clients."""

    def _set(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        _clear_cached_connections()

    yield _set
    monkeypatch.undo()
    _clear_cached_connections()


@pytest.fixture
def closed_redis_url(tmp_path: Path) -> str:
    """A unix socket path where nothing listens any more (connection refused)."""
    path = tmp_path / "closed-redis.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return f"unix://{path}"


class Exposition:
    """Prometheus text parsed for lookups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the first sample called ``name`` with these labels, or None."""
        for family in self.families:
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return None

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample called ``name``."""
        return [
            dict(sample.labels)
            for family in self.families
            for sample in family.samples
            if sample.name == name
        ]


@pytest.fixture
def scrape() -> Callable[[Any], Exposition]:
    """GET /metrics through a TestClient and parse it."""

    def _scrape(client: Any) -> Exposition:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return Exposition(response.text)

    return _scrape
