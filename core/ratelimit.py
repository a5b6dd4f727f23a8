"""Rate limiting for the REST API: per bearer token and per client address, counted in Redis.

A pure ASGI middleware (not ``BaseHTTPMiddleware``, which buffers streaming responses) that
counts requests under the API prefix in fixed one-minute windows. A request over either limit
gets ``429`` with a JSON error and ``Retry-After`` (seconds until the window ends). Tokens are
never written to Redis: a key holds a keyed hash of the token. When Redis cannot be reached
the request goes through (availability over strictness) and a warning is logged.

Sign-in has a tighter limit of its own (``login_retry_after`` and friends, used by
``POST /auth/token``): ``LOGIN_FAILURES_ALLOWED`` wrong passwords per account and client
address, then ``429`` until ``LOGIN_FAILURE_WINDOW_SECONDS`` have passed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from core.asgi import send_json_error
from core.config import get_settings
from store.redis_client import get_redis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
KEY_PREFIX = "ratelimit"
# Paths never limited, whatever the API prefix: operations endpoints and Twilio webhooks,
# which Twilio retries and which must answer within its 15 s.
EXCLUDED_PREFIXES: list[str] = ["/health", "/ready", "/metrics", "/webhook", "/api/v1/webhook"]


@dataclass(frozen=True)
class Limit:
    """One counter to check: what it counts, its Redis key and its allowance per window."""

    kind: str
    key: str
    per_window: int


@dataclass(frozen=True)
class Decision:
    """The outcome of counting a request."""

    allowed: bool
    kind: str | None = None
    limit: int = 0
    retry_after_seconds: int = 0


def token_fingerprint(token: str, secret: str) -> str:
    """A keyed hash of a bearer token: stable for counting, useless for authenticating."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]


def bearer_token(scope: Scope) -> str | None:
    """The bearer token of an HTTP request, if it sent one."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    return None


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (uvicorn's --proxy-headers rewrites it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def check_limits(redis: Redis, limits: list[Limit], *, now: float | None = None) -> Decision:
    """Count one request against every limit; refuse when any is over its allowance."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    pipe = redis.pipeline(transaction=True)
    for limit in limits:
        key = f"{limit.key}:{window}"
        pipe.incr(key)
        # A little past the window, so a slow clock on another process still finds the key.
        pipe.expire(key, WINDOW_SECONDS + 5)
    counts = pipe.execute()[0::2]
    for limit, count in zip(limits, counts, strict=True):
        if int(count) > limit.per_window:
            return Decision(
                allowed=False,
                kind=limit.kind,
                limit=limit.per_window,
                retry_after_seconds=retry_after,
            )
    return Decision(allowed=True)


def _count(limits: list[Limit]) -> Decision:
    """Count a request against ``limits`` in the configured Redis."""
    return check_limits(get_redis(), limits)


class RateLimitMiddleware:
    """Refuse API requests over ``RATE_LIMIT_PER_MINUTE`` per token or per client address."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str = "/api/v1",
        excluded_prefixes: list[str] | None = None,
    ) -> None:
        """Wrap ``app``, limiting paths under ``prefix`` except the excluded ones."""
        self.app = app
        self.prefix = prefix
        self.excluded_prefixes = tuple(
            EXCLUDED_PREFIXES if excluded_prefixes is None else excluded_prefixes
        )

    def applies_to(self, path: str) -> bool:
        """True when requests to ``path`` are rate limited."""
        return path.startswith(self.prefix) and not path.startswith(self.excluded_prefixes)

    def limits_for(self, scope: Scope) -> list[Limit]:
        """The counters a request is checked against (a limit of 0 or less is off)."""
        settings = get_settings()
        limits: list[Limit] = []
        if settings.rate_limit_ip_per_minute > 0:
            limits.append(
                Limit(
                    kind="client address",
                    key=f"{KEY_PREFIX}:ip:{client_address(scope)}",
                    per_window=settings.rate_limit_ip_per_minute,
                )
            )
        token = bearer_token(scope)
        if token is not None and settings.rate_limit_per_minute > 0:
            fingerprint = token_fingerprint(token, settings.secret_key.get_secret_value())
            limits.append(
                Limit(
                    kind="token",
                    key=f"{KEY_PREFIX}:token:{fingerprint}",
                    per_window=settings.rate_limit_per_minute,
                )
            )
        return limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request and answer 429 when it is over a limit; otherwise pass it on."""
        if scope["type"] != "http" or not self.applies_to(scope["path"]):
            await self.app(scope, receive, send)
            return
        limits = self.limits_for(scope)
        if limits:
            try:
                # Off the event loop: the Redis client is synchronous.
                decision = await run_in_threadpool(_count, limits)
            except (RedisError, OSError):
                log.warning("rate limiting skipped: redis unavailable", exc_info=True)
                decision = Decision(allowed=True)
            if not decision.allowed:
                await self._refuse(decision, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(decision: Decision, send: Send) -> None:
        """Answer 429 with a JSON error and ``Retry-After``."""
        await send_json_error(
            send,
            429,
            f"Rate limit exceeded: {decision.limit} requests per minute per "
            f"{decision.kind}. Retry in {decision.retry_after_seconds} s.",
            [
                (b"retry-after", str(decision.retry_after_seconds).encode()),
                (b"x-ratelimit-limit", str(decision.limit).encode()),
            ],
        )


# --- failed sign-ins ------------------------------------------------------------------------

# Wrong passwords allowed for one account from one client address before its sign-ins are
# refused (right password or not) until the window ends: guessing drops from the address
# limit (RATE_LIMIT_IP_PER_MINUTE, 1,200 a minute) to 10 per 15 minutes per account. Keyed on
# the pair, so a stranger elsewhere cannot lock a user out by failing on purpose.
LOGIN_FAILURES_ALLOWED = 10
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60


def _login_key(username: str, address: str) -> str:
    """The Redis key counting failed sign-ins of one account from one address (hashed)."""
    secret = get_settings().secret_key.get_secret_value()
    identity = f"{username.strip().lower()}\0{address}"
    return f"{KEY_PREFIX}:login:{token_fingerprint(identity, secret)}"


def login_retry_after(username: str, address: str) -> int:
    """Seconds until this account may try again from ``address``; 0 when it may now."""
    key = _login_key(username, address)
    try:
        redis = get_redis()
        failures = int(redis.get(key) or 0)
        if failures < LOGIN_FAILURES_ALLOWED:
            return 0
        return max(1, int(redis.ttl(key)))
    except (RedisError, OSError):
        log.warning("sign-in throttling skipped: redis unavailable", exc_info=True)
        return 0


def record_login_failure(username: str, address: str) -> None:
    """Count a wrong password; the window starts at the first failure."""
    key = _login_key(username, address)
    try:
        pipe = get_redis().pipeline(transaction=True)
        # SET NX starts the window (EXPIRE ... NX needs Redis 7; the embedded one is 6.2).
        pipe.set(key, 0, ex=LOGIN_FAILURE_WINDOW_SECONDS, nx=True)
        pipe.incr(key)
        pipe.execute()
    except (RedisError, OSError):
        log.warning("sign-in failure not counted: redis unavailable", exc_info=True)


def clear_login_failures(username: str, address: str) -> None:
    """Forget the failures of an account at an address once it signs in."""
    try:
        get_redis().delete(_login_key(username, address))
    except (RedisError, OSError):
        log.warning("sign-in failures not cleared: redis unavailable", exc_info=True)
