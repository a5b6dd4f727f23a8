"""The OpenAPI schema documents what the middleware adds to every operation.

Before, no operation documented 401 (only the routes' own answers were listed), nor 429,
413 or the Idempotency-Key header that every write accepts, so a generated client could not
know about them.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app import API_PREFIX, app


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = app.openapi()
    return [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith(API_PREFIX)
    ]


def test_every_secured_operation_documents_401_and_every_api_call_429() -> None:
    operations = _operations()
    secured = [(p, m, op) for p, m, op in operations if op.get("security")]
    assert len(secured) > 100
    for path, method, op in secured:
        unauthorised = op["responses"].get("401")
        assert unauthorised is not None, (method, path)
        assert "WWW-Authenticate" in unauthorised.get("headers", {}), (method, path)
    for path, method, op in operations:
        if "/webhook/" in path:  # Twilio's webhooks are not rate-limited
            assert "429" not in op["responses"], (method, path)
        else:
            assert "429" in op["responses"], (method, path)
        if "requestBody" in op:
            assert "413" in op["responses"], (method, path)


def test_writes_document_the_idempotency_key_and_sign_in_and_webhooks_do_not() -> None:
    for path, method, op in _operations():
        keyed = any(p.get("name") == "Idempotency-Key" for p in op.get("parameters", []))
        is_write = method in {"post", "put", "patch", "delete"}
        client_write = is_write and op.get("security") and not path.startswith(f"{API_PREFIX}/auth")
        assert keyed == bool(client_write), (method, path)
        if client_write:
            assert "409" in op["responses"], (method, path)


def test_the_served_schema_is_the_documented_one(client: TestClient) -> None:
    served = client.get("/openapi.json").json()
    deals = served["paths"][f"{API_PREFIX}/deals"]
    assert "401" in deals["get"]["responses"]
    assert "Retry-After" in deals["get"]["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" for p in deals["post"]["parameters"])
    assert served["components"]["schemas"]["ErrorDetail"]["required"] == ["detail"]
