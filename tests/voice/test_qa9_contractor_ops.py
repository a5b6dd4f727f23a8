"""QA 9: what the operator's console shows: no full phone in the demo banner, and the TwiML
URLs of `dealdesk calls` on the base the server uses (``GET /calls``), not always :8000."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from core.config import get_settings
from domain.demo.service import DEMO_INVESTOR_PHONE, seed_demo
from domain.voice.enums import CallPurpose
from domain.voice.models import Call
from store import embedded
from tests.factories import make_contractor, make_org


def test_the_demo_banner_masks_the_investors_phone(db: Session, tmp_path: Path) -> None:
    summary = seed_demo(session=db, data_dir=tmp_path)
    banner = "\n".join(summary.lines())
    assert DEMO_INVESTOR_PHONE not in banner
    assert "investor@demo.dealdesk.dev (WhatsApp +1******0100)" in banner


@pytest.fixture
def no_public_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings read afresh with no PUBLIC_BASE_URL (an override elsewhere marks it as set)."""
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_dealdesk_calls_prints_twiml_urls_on_the_servers_base(
    committed_db: Session, monkeypatch: pytest.MonkeyPatch, no_public_url: None
) -> None:
    monkeypatch.setattr(embedded, "stop_all", lambda: None)  # the test's servers stay up
    org = make_org(committed_db)
    contractor = make_contractor(committed_db, org)
    call = Call(
        org_id=org.id,
        contractor_id=contractor.id,
        purpose=CallPurpose.bid_request,
        to_number=contractor.phone,
        note="no Twilio account: recorded in the outbox",
    )
    committed_db.add(call)
    committed_db.commit()
    run = CliRunner().invoke(
        app, ["calls", "--org", org.slug, "--url", "http://127.0.0.1:8712"], catch_exceptions=False
    )
    assert run.exit_code == 0, run.output
    assert f"TwiML: http://127.0.0.1:8712/api/v1/webhook/voice/{call.id}/answer" in run.output
    assert "127.0.0.1:8000" not in run.output
