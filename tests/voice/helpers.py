"""Shared helpers of the voice tests: Twilio-signed webhooks, time zones, call setup."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from domain.auth.enums import Role
from tests.factories import (
    auth_headers,
    make_contractor,
    make_org,
    make_project,
    make_user,
    override_settings,
)

TOKEN = "test-voice-auth-token-42"
PUBLIC = "https://dealdesk.example.com"
WEBHOOK = "/api/v1/webhook/voice"


def voice_settings(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    """A webhook token and a public https URL; no Twilio account (calls go to the outbox)."""
    override_settings(
        monkeypatch,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_account_sid=None,
        public_base_url=PUBLIC,
        voice_callback_number="+13135550199",
        **extra,
    )


def zone_with_local_hour(hour: int, now: dt.datetime | None = None) -> str:
    """A fixed-offset IANA zone (``Etc/GMT-5`` is UTC+5) whose local hour is ``hour`` now."""
    now = now or dt.datetime.now(dt.UTC)
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    """The header Twilio would send for ``params`` posted to ``url``."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def post_signed(client: TestClient, url: str, params: dict[str, str], token: str = TOKEN) -> Any:
    """Post ``params`` to a public URL (as Twilio would), signed, through the test client."""
    assert url.startswith(PUBLIC), url
    return client.post(url[len(PUBLIC) :], data=params, headers=sign(url, params, token))


def poster(client: TestClient) -> Any:
    """A ``simulate_conversation`` poster that goes through the test client."""

    def post(url: str, data: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(url[len(PUBLIC) :], data=data, headers=headers)
        return response.status_code, response.text

    return post


def call_params(call_sid: str, **extra: str) -> dict[str, str]:
    """The fields Twilio posts with every voice webhook."""
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+13135550199",
        "To": "+13125550100",
        "Direction": "outbound-api",
        **extra,
    }


class World:
    """An organisation with an analyst, a contractor callable now, and a roof + furnace project."""

    def __init__(self, db: Session, *, local_hour: int = 12, **contractor: Any) -> None:
        self.db = db
        self.org = make_org(db)
        self.analyst = make_user(db, self.org, Role.analyst)
        values: dict[str, Any] = {"timezone": zone_with_local_hour(local_hour)}
        values.update(contractor)
        self.contractor = make_contractor(db, self.org, **values)
        self.project = make_project(db, self.org)
        from domain.construction import service as construction_service

        self.scope = construction_service.list_scope_items(
            session=db, org_id=self.org.id, project_id=self.project.id
        )
        self.roof, self.furnace = self.scope

    def headers(self) -> dict[str, str]:
        """The analyst's bearer token."""
        return auth_headers(self.db, self.analyst)

    def initiate(self, client: TestClient, **body: Any) -> Any:
        """``POST /calls/initiate`` for a bid on the project."""
        payload = {
            "contractor_id": str(self.contractor.id),
            "project_id": str(self.project.id),
            "purpose": "bid_request",
            **body,
        }
        return client.post("/api/v1/calls/initiate", json=payload, headers=self.headers())


def new_call_sid() -> str:
    """A made-up Twilio CallSid."""
    return "CA" + uuid.uuid4().hex
