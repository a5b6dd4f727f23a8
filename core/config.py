"""Application settings: one ``Settings`` object read from the environment and ``.env``."""

from __future__ import annotations

import datetime as dt
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Placeholder secrets that must never reach production.
_PLACEHOLDER_SECRETS = {"", "changethis", "dev-secret-change-me"}
DEV_SECRET_KEY = "dev-secret-change-me"
# Signs and checks simulated Twilio webhooks in development when TWILIO_AUTH_TOKEN is unset
# (`dealdesk simulate whatsapp` signs with it). Never accepted outside development.
DEV_TWILIO_AUTH_TOKEN = "dev-twilio-auth-token"


class Settings(BaseSettings):
    """Every setting dealdesk reads; each one is documented in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    environment: Literal["development", "test", "production"] = Field(
        default="development", alias="DEALDESK_ENV"
    )
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    llm_base_url: str | None = Field(default=None, alias="LLM_BASE_URL")
    llm_model: str = Field(default="gpt-4o-mini", alias="LLM_MODEL")
    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    twilio_whatsapp_from: str | None = Field(default=None, alias="TWILIO_WHATSAPP_FROM")
    twilio_voice_from: str | None = Field(default=None, alias="TWILIO_VOICE_FROM")
    # Approved WhatsApp template (ContentSid) sent outside the 24-hour session window.
    twilio_template_content_sid: str | None = Field(
        default=None, alias="TWILIO_TEMPLATE_CONTENT_SID"
    )
    twilio_timeout_s: float = Field(default=10.0, gt=0, alias="TWILIO_TIMEOUT_S")
    # How long a signed report link (sent on WhatsApp) stays valid.
    report_url_ttl_s: int = Field(default=7 * 24 * 3600, gt=0, alias="REPORT_URL_TTL_S")
    public_base_url: str = Field(default="http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")
    whisper_model: str = Field(default="base", alias="WHISPER_MODEL")
    audio_max_duration_s: int = Field(default=900, gt=0, alias="AUDIO_MAX_DURATION_S")
    vision_model: str | None = Field(default=None, alias="VISION_MODEL")
    # The company's time zone: what "today", "yesterday" and "last month" mean (IANA name).
    timezone: str = Field(default="America/Detroit", alias="DEALDESK_TIMEZONE")
    secret_key: SecretStr = Field(default=SecretStr(DEV_SECRET_KEY), alias="SECRET_KEY")
    data_dir: Path = Field(default=Path(".data"), alias="DEALDESK_DATA_DIR")

    # Auth and API limits.
    access_token_minutes: int = Field(default=60, alias="ACCESS_TOKEN_MINUTES")
    rate_limit_per_minute: int = Field(default=600, alias="RATE_LIMIT_PER_MINUTE")
    rate_limit_ip_per_minute: int = Field(default=1200, alias="RATE_LIMIT_IP_PER_MINUTE")
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, e.g. "10.0.0.5,172.16.0.0/12"). Default none: the client address
    # is the connection's, so a forged header cannot dodge the sign-in lockout or the per-address
    # rate limit, nor write a chosen address into the audit log.
    trusted_proxies: str = Field(default="", alias="DEALDESK_TRUSTED_PROXIES")

    # Object storage: local directory unless an S3-compatible bucket is configured.
    s3_bucket: str | None = Field(default=None, alias="S3_BUCKET")
    s3_endpoint_url: str | None = Field(default=None, alias="S3_ENDPOINT_URL")
    s3_access_key_id: str | None = Field(default=None, alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(default=None, alias="S3_SECRET_ACCESS_KEY")
    s3_region: str = Field(default="us-east-1", alias="S3_REGION")
    max_upload_bytes: int = Field(default=16 * 1024 * 1024, alias="MAX_UPLOAD_BYTES")

    # Market monitor: URL feeds only from these hosts (comma-separated; empty: no URL feeds),
    # their timeout and size cap; how many listings a scan values with full comps; the score
    # an opportunity needs; how often the scheduler looks for due feeds and held alerts.
    monitor_feed_allowed_hosts: str = Field(default="", alias="MONITOR_FEED_ALLOWED_HOSTS")
    monitor_feed_timeout_s: float = Field(default=15.0, gt=0, alias="MONITOR_FEED_TIMEOUT_S")
    monitor_feed_max_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, alias="MONITOR_FEED_MAX_BYTES"
    )
    monitor_shortlist_size: int = Field(default=25, ge=0, le=1000, alias="MONITOR_SHORTLIST_SIZE")
    monitor_opportunity_min_score: float = Field(
        default=50.0, ge=0, le=100, alias="MONITOR_OPPORTUNITY_MIN_SCORE"
    )
    monitor_tick_s: int = Field(default=60, ge=5, alias="MONITOR_TICK_S")

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # How long a write's response is kept for repeats with the same Idempotency-Key.
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60, alias="IDEMPOTENCY_TTL_S")

    # Contractor calls (the voice agent).
    voice_callback_number: str | None = Field(default=None, alias="VOICE_CALLBACK_NUMBER")
    voice_call_window_start: dt.time = Field(default=dt.time(8, 0), alias="VOICE_CALL_WINDOW_START")
    voice_call_window_end: dt.time = Field(default=dt.time(20, 0), alias="VOICE_CALL_WINDOW_END")
    voice_max_attempts: int = Field(default=3, ge=1, le=10, alias="VOICE_MAX_ATTEMPTS")
    voice_retry_backoff_minutes: int = Field(default=30, ge=1, alias="VOICE_RETRY_BACKOFF_MINUTES")
    voice_max_concurrent_calls: int = Field(
        default=3, ge=1, le=100, alias="VOICE_MAX_CONCURRENT_CALLS"
    )
    voice_bids_per_request: int = Field(default=3, ge=1, le=10, alias="VOICE_BIDS_PER_REQUEST")
    voice_record_calls: bool = Field(default=False, alias="VOICE_RECORD_CALLS")

    @model_validator(mode="after")
    def _reject_placeholder_secrets(self) -> Settings:
        """Refuse to run in production with a placeholder secret key."""
        if (
            self.environment == "production"
            and self.secret_key.get_secret_value() in _PLACEHOLDER_SECRETS
        ):
            raise ValueError("SECRET_KEY must be set to a real secret when DEALDESK_ENV=production")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        """Each entry must be an IP address or network ("*" would trust anyone: refused)."""
        for entry in _split_list(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"DEALDESK_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from exc
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The proxies whose forwarded headers are believed (empty: none), normalised.

        A network written with host bits (``10.0.0.5/24``) becomes the network it names
        (``10.0.0.0/24``): uvicorn reads networks strictly and would otherwise take the entry
        as a literal that no address matches, silently trusting nobody. Addresses stay
        addresses (``10.0.0.5``).
        """
        return [_proxy_entry(entry) for entry in _split_list(self.trusted_proxies)]

    @property
    def data_path(self) -> Path:
        """The data directory as an absolute path (embedded servers, uploads, reports)."""
        return self.data_dir.expanduser().resolve()

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI key or an OpenAI-compatible base URL is set."""
        return bool(self.openai_api_key) or bool(self.llm_base_url)

    @property
    def webhook_auth_token(self) -> str | None:
        """The token Twilio webhooks are signed with; the dev token only in development."""
        if self.twilio_auth_token is not None and self.twilio_auth_token.get_secret_value():
            return self.twilio_auth_token.get_secret_value()
        return DEV_TWILIO_AUTH_TOKEN if self.environment == "development" else None

    @property
    def twilio_configured(self) -> bool:
        """True when Twilio credentials are set; otherwise messages go to the outbox only."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)


def _split_list(value: str) -> list[str]:
    """A comma-separated setting's entries, spaces trimmed, empty ones dropped."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _proxy_entry(entry: str) -> str:
    """A trusted proxy as uvicorn reads it: an address, or a network without host bits."""
    if "/" not in entry:
        try:
            return str(ipaddress.ip_address(entry))
        except ValueError:
            pass
    return str(ipaddress.ip_network(entry, strict=False))


LOCAL_HOSTS = frozenset({"127.0.0.1", "0.0.0.0", "localhost", "::", "::1", ""})


def local_base_url(host: str, port: int) -> str:
    """The URL a dealdesk served at ``host:port`` on this machine is reached at."""
    shown = "127.0.0.1" if host in LOCAL_HOSTS else host
    return f"http://{shown}:{port}"


def public_url_is_set(settings: Settings) -> bool:
    """Whether PUBLIC_BASE_URL was given (environment or .env), not left at its default."""
    return "public_base_url" in settings.model_fields_set


def signing_base_url(settings: Settings, target: str | None) -> str:
    """The base URL to sign simulated Twilio posts with, as the server at ``target`` checks them.

    A server started with ``--port`` and no PUBLIC_BASE_URL checks signatures (and writes its
    links) against ``http://127.0.0.1:<port>``, so a post to that port is signed the same way.
    """
    if target is None or public_url_is_set(settings):
        return settings.public_base_url
    parts = urlsplit(target)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return local_base_url(parts.hostname or "", port)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache to change them)."""
    return Settings()
