"""Security QA findings: alerts for contractors, backdated/foreign ARVs, document links,
sessions after deactivation, failed sign-ins in the audit log."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import AuditLog, User
from domain.construction.models import Bid
from domain.market import alerts as alert_service
from domain.market.enums import AlertStatus
from domain.market.models import AlertCriteriaIn, MarketAlert
from domain.valuation.models import Valuation
from domain.whatsapp import service as whatsapp_service
from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    bearer,
    listing_row,
    make_api_token,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_sold_market,
    make_subject_property,
    make_user,
    principal_for,
    run_market_scan,
)

API = "/api/v1"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


# --- 1. alerts only for roles that may see opportunities -----------------------------------


def test_alerts_cannot_be_configured_for_a_contractor(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    contractor = make_user(db, org, role=Role.contractor, phone_number="+13135550177")
    response = client.post(
        f"{API}/alerts/configure",
        json={"user_id": str(contractor.id), "zip_codes": ["48201"]},
        headers=auth_headers(db, analyst),
    )
    assert response.status_code == 422, response.text
    assert "may not see the company's opportunities" in response.json()["detail"]
    assert alert_service.get_criteria(session=db, org_id=org.id, user_id=contractor.id) is None


def test_a_user_who_became_a_contractor_is_never_sent_an_alert(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    user = make_user(db, org, role=Role.investor, phone_number="+13135550178")
    alert_service.configure_alerts(
        session=db,
        org_id=org.id,
        principal=principal_for(user),
        criteria_in=AlertCriteriaIn(zip_codes=["48201"]),  # type: ignore[call-arg]
    )
    user.role = Role.contractor
    db.add(user)
    db.flush()
    run_market_scan(db, org, [listing_row(1500)])
    (alert,) = db.exec(select(MarketAlert).where(MarketAlert.user_id == user.id)).all()
    assert alert.status == AlertStatus.skipped
    assert "contractor" in (alert.status_reason or "")
    assert whatsapp_service.list_outbox(session=db, org_id=org.id) == []


# --- 2. the ARV a projection uses ------------------------------------------------------------


def test_a_backdated_valuation_is_not_the_latest(client: TestClient, db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    current = client.post(
        f"{API}/valuations/arv", json={"property_id": str(subject.id)}, headers=headers
    )
    assert current.status_code == 201, current.text
    row = db.get(Valuation, uuid.UUID(current.json()["id"]))
    assert row is not None
    # Stored later, valued as of 2008 (what a backdated request stores).
    old = Valuation(
        org_id=org.id,
        property_id=subject.id,
        kind=row.kind,
        value=Decimal("1"),
        low=Decimal("1"),
        high=Decimal("1"),
        confidence=row.confidence,
        as_of=dt.date(2008, 6, 1),
        method=row.method,
        version=row.version,
        inputs={},
        comps=[],
        created_at=row.created_at + dt.timedelta(minutes=1),
    )
    db.add(old)
    db.flush()
    deal = make_deal(
        db, org, property_id=subject.id, strategy="flip", purchase_price=Decimal("45000")
    )
    projection = client.get(f"{API}/projections/{deal.id}", headers=headers)
    assert projection.status_code == 200, projection.text
    assert projection.json()["arv_source"]["valuation_id"] == str(row.id)
    latest = client.get(f"{API}/valuations/{subject.id}", headers=headers).json()
    assert latest["latest_arv"]["id"] == str(row.id)


def test_an_investor_stores_valuations_only_on_deals_they_are_on(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    owner = make_user(db, org, role=Role.investor)
    other = make_user(db, org, role=Role.investor)
    make_deal(db, org, owner=owner, property_id=subject.id, strategy="flip")
    body = {"property_id": str(subject.id)}
    refused = client.post(f"{API}/valuations/arv", json=body, headers=auth_headers(db, other))
    assert refused.status_code == 403, refused.text
    assert "deal you are not on" in refused.json()["detail"]
    assert db.exec(select(Valuation).where(Valuation.property_id == subject.id)).all() == []
    mine = client.post(f"{API}/valuations/arv", json=body, headers=auth_headers(db, owner))
    assert mine.status_code == 201, mine.text


# --- 3. document links and kind=report -------------------------------------------------------


def _upload(
    client: TestClient, user: User, db: Session, kind: str = "photo", **form: str
) -> tuple[int, str]:
    response = client.post(
        f"{API}/documents",
        headers=auth_headers(db, user),
        files={"file": ("a.png", PNG, "image/png")},
        data={"kind": kind, **form},
    )
    return response.status_code, response.text


def test_uploads_link_only_to_projects_and_properties_the_caller_can_see(
    client: TestClient, db: Session
) -> None:
    org, rival = make_org(db), make_org(db, "Rival Docs LLC")
    owner = make_user(db, org, role=Role.investor)
    stranger = make_user(db, org, role=Role.investor)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org)
    deal = make_deal(db, org, owner=owner, property_id=prop.id)
    project = make_project(db, org, deal_id=deal.id, property_id=prop.id)
    other_project = make_project(db, org)
    contractor = make_contractor(db, org, phone="+13135550190")
    worker = make_user(db, org, role=Role.contractor, phone_number="+13135550190")
    db.add(Bid(org_id=org.id, project_id=project.id, contractor_id=contractor.id))
    db.flush()
    foreign = make_property(db, rival)

    def link(kind: str, entity_id: uuid.UUID) -> dict[str, str]:
        return {"entity_type": kind, "entity_id": str(entity_id)}

    # The caller may not see it, or it is not there: not found (never kept).
    assert _upload(client, stranger, db, **link("project", project.id))[0] == 404
    assert _upload(client, stranger, db, **link("property", prop.id))[0] == 404
    assert _upload(client, worker, db, **link("project", other_project.id))[0] == 404
    assert _upload(client, analyst, db, **link("property", uuid.uuid4()))[0] == 404
    assert _upload(client, analyst, db, **link("property", foreign.id))[0] == 404
    assert _upload(client, analyst, db, **link("project", uuid.uuid4()))[0] == 404
    status, text = _upload(client, worker, db, **link("property", prop.id))
    assert status == 403 and "project of their bid" in text
    # Their own: allowed.
    assert _upload(client, owner, db, **link("project", project.id))[0] == 201
    assert _upload(client, owner, db, **link("property", prop.id))[0] == 201
    assert _upload(client, worker, db, **link("project", project.id))[0] == 201
    assert _upload(client, analyst, db, **link("project", other_project.id))[0] == 201


def test_report_is_not_an_upload_kind(client: TestClient, db: Session) -> None:
    org = make_org(db)
    response = client.post(
        f"{API}/documents",
        headers=auth_headers(db, make_user(db, org, role=Role.investor)),
        files={"file": ("r.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n", "application/pdf")},
        data={"kind": "report"},
    )
    assert response.status_code == 422, response.text
    assert "kind=report is kept for the reports dealdesk generates" in response.json()["detail"]


# --- 4. deactivation ends sessions -----------------------------------------------------------


def test_deactivation_ends_sessions_and_api_tokens_for_good(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    admin = make_user(db, org)
    user = make_user(db, org, role=Role.analyst)
    old_jwt = auth_headers(db, user)
    _, api_token = make_api_token(db, user)
    assert client.get(f"{API}/users/me", headers=old_jwt).status_code == 200
    admin_headers = auth_headers(db, admin)
    for active in (False, True):
        response = client.patch(
            f"{API}/users/{user.id}", json={"is_active": active}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
    assert client.get(f"{API}/users/me", headers=old_jwt).status_code == 401
    assert client.get(f"{API}/users/me", headers=bearer(api_token)).status_code == 401
    assert client.get(f"{API}/users/me", headers=auth_headers(db, user)).status_code == 200
    entry = db.exec(
        select(AuditLog).where(AuditLog.entity_id == str(user.id), AuditLog.action == "update")
    ).first()
    assert entry is not None and entry.changes["api_tokens_revoked"] == 1


# --- 5. failed sign-ins and lockouts in the audit log ----------------------------------------


def _sign_in(client: TestClient, email: str, password: str) -> int:
    response = client.post(f"{API}/auth/token", data={"username": email, "password": password})
    return response.status_code


def test_failed_sign_ins_and_the_lockout_are_audited(client: TestClient, db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.investor, password=DEFAULT_PASSWORD)
    typed = f"  {user.email.upper()}"
    assert [_sign_in(client, typed, "wrong") for _ in range(10)] == [401] * 10
    assert _sign_in(client, user.email, DEFAULT_PASSWORD) == 429
    entries = db.exec(
        select(AuditLog)
        .where(AuditLog.org_id == org.id, AuditLog.entity_id == str(user.id))
        .order_by(AuditLog.created_at)  # type: ignore[arg-type]
    ).all()
    failed = [e for e in entries if e.action == "login_failed"]
    locked = [e for e in entries if e.action == "login_locked"]
    assert len(failed) == 10 and len(locked) == 1
    assert failed[0].changes["email"] == typed.strip()
    assert failed[0].changes["ip"]
    assert locked[0].changes["locked_for_s"] > 0


def test_a_failed_sign_in_for_an_unknown_phone_is_a_masked_warning(
    client: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(db.exec(select(AuditLog)).all())
    with caplog.at_level(logging.WARNING, logger="domain.auth.service"):
        assert _sign_in(client, "+13135550199", "wrong") == 401
    assert len(db.exec(select(AuditLog)).all()) == before
    lines = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert lines and "+13135550199" not in lines[0] and "0199" in lines[0]
