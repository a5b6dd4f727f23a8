"""Redis connection: the configured ``REDIS_URL`` or the embedded server."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis

from core.config import get_settings
from store import embedded


def redis_url() -> str:
    """The configured ``REDIS_URL``, or the embedded server's ``unix://`` URL."""
    settings = get_settings()
    if settings.redis_url:
        return settings.redis_url
    return embedded.start_redis(settings.data_path)


@lru_cache
def get_redis() -> Redis:
    """The process-wide Redis client (bytes responses, as RQ expects)."""
    return Redis.from_url(redis_url(), socket_timeout=10, health_check_interval=30)


def reset_redis() -> None:
    """Drop the cached client (after settings change)."""
    get_redis.cache_clear()
