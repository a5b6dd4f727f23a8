"""Settings: every one documented in .env.example; placeholder secrets refused in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import DEV_SECRET_KEY, Settings

REPO = Path(__file__).resolve().parents[2]

# The settings the foundation issue names explicitly.
REQUIRED = {
    "DATABASE_URL",
    "REDIS_URL",
    "OPENAI_API_KEY",
    "LLM_BASE_URL",
    "LLM_MODEL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_WHATSAPP_FROM",
    "TWILIO_VOICE_FROM",
    "PUBLIC_BASE_URL",
    "WHISPER_MODEL",
    "VISION_MODEL",
    "SECRET_KEY",
    "DEALDESK_DATA_DIR",
}


def _example_names() -> set[str]:
    names = set()
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0])
    return names


def test_every_setting_is_in_env_example() -> None:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    assert REQUIRED <= aliases
    assert aliases - _example_names() == set(), "add these to .env.example"
    assert _example_names() - aliases == set(), ".env.example names settings that do not exist"


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("REDIS_URL", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url is None and settings.redis_url is None


def test_production_refuses_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALDESK_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-of-sufficient-length-0123456789")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() != DEV_SECRET_KEY
