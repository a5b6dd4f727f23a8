"""Placeholder; replaced by the observability work (logging, correlation ids, metrics)."""

import logging

from starlette.middleware.base import BaseHTTPMiddleware


def setup_logging(level: str = "INFO") -> None:
    """Configure logging."""
    logging.basicConfig(level=level)


class RequestContextMiddleware(BaseHTTPMiddleware):
    """Placeholder middleware."""
