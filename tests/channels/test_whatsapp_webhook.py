"""The WhatsApp webhook: Twilio signatures, storing once per MessageSid, unknown numbers, routes."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from channels import signing
from domain.auth.enums import Role
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.whatsapp.models import Message, UnlinkedMessage
from tests.factories import auth_headers, make_org, make_user, override_settings

TOKEN = "test-twilio-auth-token-123"
PATH = "/api/v1/webhook/whatsapp"
PUBLIC = "https://dealdesk.example.com"


def form(phone: str = "+13135550100", body: str = "hello", **extra: str) -> dict[str, str]:
    """Twilio's WhatsApp webhook fields."""
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "1" * 32,
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def signed(params: dict[str, str], url: str = PUBLIC + PATH, token: str = TOKEN) -> dict[str, str]:
    """Headers with the signature Twilio's own validator computes."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


@pytest.fixture
def twilio_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured auth token and a public https URL (a TLS proxy in front of the app)."""
    override_settings(monkeypatch, twilio_auth_token=SecretStr(TOKEN), public_base_url=PUBLIC)


def test_a_correctly_signed_post_is_stored_and_answered_with_empty_twiml(
    client: TestClient, db: Session, twilio_settings: None, redis: object
) -> None:
    org = make_org(db)
    make_user(db, org, role=Role.investor, phone_number="+13135550100")
    params = form(body="1234 Elm St, Detroit")
    # The app sees http://testserver; Twilio signed the public https URL.
    response = client.post(PATH, data=params, headers=signed(params))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Response/>" in response.text
    stored = db.exec(select(Message).where(Message.message_sid == params["MessageSid"])).one()
    assert stored.content == "1234 Elm St, Detroit"
    assert stored.org_id == org.id


def test_a_signature_with_the_default_port_is_accepted(
    client: TestClient, db: Session, twilio_settings: None, redis: object
) -> None:
    params = form()
    response = client.post(PATH, data=params, headers=signed(params, url=PUBLIC + ":443" + PATH))
    assert response.status_code == 200


def test_forged_missing_and_wrong_url_signatures_get_403(
    client: TestClient, db: Session, twilio_settings: None
) -> None:
    params = form()
    forged = signed(params, token="not-the-token")
    assert client.post(PATH, data=params, headers=forged).status_code == 403
    assert client.post(PATH, data=params).status_code == 403
    # Signed for the URL the app sees behind the proxy, not the public one Twilio calls.
    internal = signed(params, url="http://testserver" + PATH)
    assert client.post(PATH, data=params, headers=internal).status_code == 403
    tampered = dict(params, Body="send me everyone's deals")
    assert client.post(PATH, data=tampered, headers=signed(params)).status_code == 403
    assert db.exec(select(Message)).all() == []


def test_without_a_token_the_webhook_refuses_outside_development(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, twilio_auth_token=None, environment="production")
    params = form()
    response = client.post(PATH, data=params, headers=signed(params, token="anything"))
    assert response.status_code == 403
    assert "not configured" in response.json()["detail"]


def test_development_checks_the_documented_dev_token(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch, redis: object
) -> None:
    from core.config import DEV_TWILIO_AUTH_TOKEN

    override_settings(
        monkeypatch, twilio_auth_token=None, environment="development", public_base_url=PUBLIC
    )
    params = form()
    assert client.post(PATH, data=params).status_code == 403  # still never unsigned
    good = signed(params, token=DEV_TWILIO_AUTH_TOKEN)
    assert client.post(PATH, data=params, headers=good).status_code == 200


def test_a_retried_delivery_is_stored_and_enqueued_once(
    client: TestClient, db: Session, twilio_settings: None, redis: object
) -> None:
    from workers.queues import get_queue

    org = make_org(db)
    make_user(db, org, role=Role.investor, phone_number="+13135550100")
    params = form()
    for _ in range(3):
        assert client.post(PATH, data=params, headers=signed(params)).status_code == 200
    rows = db.exec(select(Message).where(Message.message_sid == params["MessageSid"])).all()
    assert len(rows) == 1
    jobs = [
        j
        for j in get_queue("default").get_jobs()
        if (j.func_name or "").endswith("process_inbound")
    ]
    assert [list(j.args) for j in jobs] == [[str(rows[0].id)]]


def test_an_unknown_number_is_kept_apart_from_every_organisation(
    client: TestClient, db: Session, twilio_settings: None, redis: object
) -> None:
    make_org(db)
    params = form(phone="+13135550199", body="what deals do you have?")
    assert client.post(PATH, data=params, headers=signed(params)).status_code == 200
    assert db.exec(select(Message)).all() == []
    unlinked = db.exec(select(UnlinkedMessage)).one()
    assert unlinked.phone_number == "+13135550199"
    assert unlinked.reply_status == "pending"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"From": ""}, 400),
        ({"From": "whatsapp:not-a-number"}, 400),
        ({"MessageSid": ""}, 400),
        ({"Body": ""}, 200),
        ({"Body": "🏠🔥👍"}, 200),
        ({"Body": "a" * 10_000}, 200),
    ],
)
def test_bad_input_gets_a_4xx_or_is_stored_never_a_500(
    client: TestClient,
    db: Session,
    twilio_settings: None,
    redis: object,
    changes: dict[str, str],
    expected: int,
) -> None:
    org = make_org(db)
    make_user(db, org, role=Role.investor, phone_number="+13135550100")
    params = {k: v for k, v in (form() | changes).items()}
    response = client.post(PATH, data=params, headers=signed(params))
    assert response.status_code == expected
    if expected == 200:
        stored = db.exec(select(Message).where(Message.message_sid == params["MessageSid"])).one()
        assert stored.content == changes["Body"]  # kept in full, even 10,000 characters


def test_the_conversation_api_shows_messages_to_the_team_only(
    client: TestClient, db: Session, twilio_settings: None, redis: object
) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor, phone_number="+13135550100")
    analyst = make_user(db, org, role=Role.analyst)
    other_org_admin = make_user(db, make_org(db, "Other"), role=Role.admin)
    params = form(body="first")
    client.post(PATH, data=params, headers=signed(params))
    url = "/api/v1/conversations/+13135550100"
    response = client.get(url, headers=auth_headers(db, analyst))
    assert response.status_code == 200
    body = response.json()
    assert [m["content"] for m in body["messages"]] == ["first"]
    assert body["window_open"] is True
    assert client.get(url, headers=auth_headers(db, investor)).status_code == 403
    assert client.get(url, headers=auth_headers(db, other_org_admin)).status_code == 404
    bad = client.get("/api/v1/conversations/12345", headers=auth_headers(db, analyst))
    assert bad.status_code == 422


def _stored_report(db: Session, org_id: uuid.UUID, filename: str = "report.pdf") -> uuid.UUID:
    document = documents_service.store_document(
        session=db,
        org_id=org_id,
        data=b"%PDF-1.4\n% a tiny report\n%%EOF\n",
        filename=filename,
        declared_content_type="application/pdf",
        kind=DocumentKind.report,
        source=DocumentSource.worker,
    )
    db.flush()
    return document.id


def test_a_signed_report_link_serves_the_pdf_until_it_expires(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    report_id = _stored_report(db, org.id)
    link = signing.report_url(report_id, org_id=org.id, ttl_s=60)
    assert link.url.startswith("http://127.0.0.1:8000/api/v1/reports/")
    path = link.url.removeprefix("http://127.0.0.1:8000")
    response = client.get(path)  # no bearer token: WhatsApp fetches it like this
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")

    expired = signing.report_url(report_id, org_id=org.id, ttl_s=-1)
    assert client.get(expired.url.removeprefix("http://127.0.0.1:8000")).status_code == 403
    tampered = path.replace(f"exp={link.expires_at}", f"exp={link.expires_at + 3600}")
    assert client.get(tampered).status_code == 403
    other = make_org(db, "Other")
    cross = path.replace(f"org={org.id}", f"org={other.id}")
    assert client.get(cross).status_code == 403
    assert client.get(f"/api/v1/reports/{report_id}").status_code == 401  # no link, no token


def test_a_team_member_reads_a_report_with_a_bearer_token(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    report_id = _stored_report(db, org.id)
    response = client.get(f"/api/v1/reports/{report_id}", headers=auth_headers(db, analyst))
    assert response.status_code == 200
    stranger = make_user(db, make_org(db, "Other"), role=Role.admin)
    response = client.get(f"/api/v1/reports/{report_id}", headers=auth_headers(db, stranger))
    assert response.status_code == 404


def test_a_report_named_outside_latin_1_is_served(client: TestClient, db: Session) -> None:
    """A header cannot carry "Đ" or a quote raw: the name is sent as ASCII plus UTF-8."""
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    report_id = _stored_report(db, org.id, filename='Đồng "Main" St report.pdf')
    response = client.get(f"/api/v1/reports/{report_id}", headers=auth_headers(db, analyst))
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline; ")
    assert "filename*=UTF-8''" in disposition and '"Main"' not in disposition


def test_reports_pnl_is_still_the_finance_report(client: TestClient, db: Session) -> None:
    analyst = make_user(db, make_org(db), role=Role.analyst)
    response = client.get("/api/v1/reports/pnl", headers=auth_headers(db, analyst))
    # The finance router answers (JSON, not a 403 or 422 from GET /reports/{reportId}).
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")


def test_generate_report_needs_a_known_property(client: TestClient, db: Session) -> None:
    analyst = make_user(db, make_org(db), role=Role.analyst)
    headers = auth_headers(db, analyst)
    missing = client.post(
        "/api/v1/reports/generate", json={"property_id": str(uuid.uuid4())}, headers=headers
    )
    assert missing.status_code == 404
    empty = client.post("/api/v1/reports/generate", json={}, headers=headers)
    assert empty.status_code == 422
