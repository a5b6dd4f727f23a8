"""Rate limits on the REST API: per token and per client address, counted in Redis."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from core.ratelimit import EXCLUDED_PREFIXES, KEY_PREFIX, Limit, check_limits
from domain.auth.enums import Role
from tests.factories import (
    auth_headers,
    bearer,
    make_api_token,
    make_org,
    make_user,
    override_settings,
)

API = "/api/v1"


def _assert_rate_limited(response_status: int, headers: dict[str, str], body: dict) -> None:
    assert response_status == 429
    assert 1 <= int(headers["retry-after"]) <= 60
    assert "Rate limit exceeded" in body["detail"]


def test_a_token_over_its_limit_gets_429_while_other_tokens_continue(
    client: TestClient, db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, rate_limit_per_minute=2, rate_limit_ip_per_minute=1000)
    org = make_org(db)
    busy = auth_headers(db, make_user(db, org, role=Role.analyst))
    calm = auth_headers(db, make_user(db, org, role=Role.analyst))

    statuses = [client.get(f"{API}/users/me", headers=busy).status_code for _ in range(2)]
    refused = client.get(f"{API}/users/me", headers=busy)

    assert statuses == [200, 200]
    _assert_rate_limited(refused.status_code, dict(refused.headers), refused.json())
    assert "per token" in refused.json()["detail"]
    assert refused.headers["x-request-id"]  # refused inside the request context, so traceable
    assert client.get(f"{API}/users/me", headers=calm).status_code == 200


def test_a_client_address_over_its_limit_gets_429_whatever_token_it_uses(
    client: TestClient, db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, rate_limit_per_minute=1000, rate_limit_ip_per_minute=3)
    org = make_org(db)
    tokens = [auth_headers(db, make_user(db, org)) for _ in range(3)]

    statuses = [client.get(f"{API}/users/me", headers=h).status_code for h in tokens]
    anonymous = client.get(f"{API}/users/me")
    fresh_token = client.get(f"{API}/users/me", headers=auth_headers(db, make_user(db, org)))

    assert statuses == [200, 200, 200]
    _assert_rate_limited(anonymous.status_code, dict(anonymous.headers), anonymous.json())
    _assert_rate_limited(fresh_token.status_code, dict(fresh_token.headers), fresh_token.json())
    assert "per client address" in fresh_token.json()["detail"]


def test_sign_in_attempts_are_limited_per_client_address(
    client: TestClient, db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, rate_limit_ip_per_minute=2)
    form = {"username": "nobody@example.com", "password": "guess-number-n"}

    statuses = [client.post(f"{API}/auth/token", data=form).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_operations_and_webhook_paths_are_not_limited(
    client: TestClient, db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, rate_limit_ip_per_minute=1, rate_limit_per_minute=1)
    headers = auth_headers(db, make_user(db, make_org(db)))
    excluded = ["/health", "/ready", "/metrics", "/webhook/whatsapp", f"{API}/webhook/whatsapp"]

    for path in excluded:
        for _ in range(3):
            assert client.get(path, headers=headers).status_code != 429, path
    # Nothing was counted: the first API call still has its whole allowance.
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200
    assert client.get(f"{API}/users/me", headers=headers).status_code == 429
    assert {"/health", "/ready", "/metrics", "/webhook"} <= set(EXCLUDED_PREFIXES)


def test_redis_never_holds_a_token_in_plaintext(
    client: TestClient, db: Session, redis: Redis
) -> None:
    user = make_user(db, make_org(db))
    _, api_token = make_api_token(db, user)
    jwt_headers = auth_headers(db, user)
    jwt_token = jwt_headers["Authorization"].removeprefix("Bearer ")

    assert client.get(f"{API}/users/me", headers=bearer(api_token)).status_code == 200
    assert client.get(f"{API}/users/me", headers=jwt_headers).status_code == 200

    keys = [key.decode() for key in redis.scan_iter(f"{KEY_PREFIX}:*")]
    token_keys = [key for key in keys if key.startswith(f"{KEY_PREFIX}:token:")]
    assert len(token_keys) == 2  # one counter per token
    dump = " ".join(keys) + " ".join(str(redis.get(key)) for key in keys)
    for secret in (api_token, api_token[3:], jwt_token, jwt_token.split(".")[2]):
        assert secret not in dump


def test_a_new_window_starts_a_new_count(redis: Redis) -> None:
    limits = [Limit(kind="token", key=f"{KEY_PREFIX}:test:window", per_window=2)]
    window_start = 1_800_000_000.0 - (1_800_000_000.0 % 60)

    first = [check_limits(redis, limits, now=window_start + s).allowed for s in (1, 2, 3)]
    refused = check_limits(redis, limits, now=window_start + 50)
    next_window = check_limits(redis, limits, now=window_start + 61)

    assert first == [True, True, False]
    assert refused.retry_after_seconds == 10
    assert next_window.allowed
