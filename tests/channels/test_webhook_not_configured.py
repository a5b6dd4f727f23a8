"""Without TWILIO_AUTH_TOKEN (outside development) every Twilio webhook refuses with 403 and a
message that fits both channels (the voice webhooks said "The WhatsApp webhook is not
configured")."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.factories import override_settings


@pytest.mark.parametrize(
    "path", ["/api/v1/webhook/whatsapp", f"/api/v1/webhook/voice/{uuid.uuid4()}/answer"]
)
def test_an_unconfigured_webhook_names_twilio_not_one_channel(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    override_settings(monkeypatch, environment="production", twilio_auth_token=None)
    answer = client.post(path, data={"CallSid": "CA1", "From": "+13135550100"})
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "Twilio webhooks are not configured here (TWILIO_AUTH_TOKEN is not set)"
    )
