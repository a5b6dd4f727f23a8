"""QA 12 REST and security fixes: $0 bids, organisation-wide budgets, enum reprs in 422s,
forwarded headers, cross-tenant user existence, phones in the audit log, huge pictures."""

from __future__ import annotations

import asyncio
import enum
import importlib
import io
import pkgutil
import typing
import zlib
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel
from sqlmodel import Session, select

import domain
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import AuditLog
from domain.construction import service as construction_service
from domain.construction.models import ProjectPhoto
from domain.documents.models import Document
from domain.vision.models import PropertyAnalysis
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
    override_settings,
)

API = "/api/v1"


# --- 3. a $0 bid is refused ---------------------------------------------------------------------


def test_a_zero_bid_is_refused_and_a_free_line_in_a_priced_bid_is_not(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    project = make_project(db, org)
    roof, furnace = construction_service.list_scope_items(
        session=db, org_id=org.id, project_id=project.id
    )
    contractor = make_contractor(db, org)
    url = f"{API}/projects/{project.id}/bids"
    for body in (
        {"total_amount": "0"},
        {"total_amount": "0.00"},
        {"line_items": [{"scope_item_id": str(roof.id), "amount": "0"}]},
    ):
        refused = client.post(
            url, json={"contractor_id": str(contractor.id), **body}, headers=headers
        )
        assert refused.status_code == 422, (body, refused.text)
        assert "more than 0" in refused.json()["detail"]
    included = client.post(
        url,
        json={
            "contractor_id": str(contractor.id),
            "line_items": [
                {"scope_item_id": str(roof.id), "amount": "9100"},
                {"scope_item_id": str(furnace.id), "amount": "0"},  # "furnace included"
            ],
        },
        headers=headers,
    )
    assert included.status_code == 201, included.text
    assert included.json()["total_amount"] == "9100.00"
    with pytest.raises(construction_service.ConstructionInputError, match="more than 0"):
        construction_service.update_bid(
            session=db, org_id=org.id, bid_id=included.json()["id"], total_amount=Decimal(0)
        )


# --- 4. organisation-wide budget lines can be read ---------------------------------------------


def test_organisation_wide_budget_lines_can_be_read(db: Session, client: TestClient) -> None:
    """The seed's budgets.deal_id may be null: such lines are created, and read with no deal_id."""
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    deal = make_deal(db, org)
    for category, amount in (("utilities", "300"), ("insurance", "1200")):
        made = client.post(
            f"{API}/budgets",
            json={"category": category, "allocated_amount": amount},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    on_deal = client.post(
        f"{API}/budgets",
        json={"deal_id": str(deal.id), "category": "utilities", "allocated_amount": "99"},
        headers=headers,
    )
    assert on_deal.status_code == 201, on_deal.text
    spent = client.post(
        f"{API}/expenses",
        json={
            "category": "utilities",
            "amount": "40",
            "date": local_today().isoformat(),
            "deal_id": str(deal.id),
        },
        headers=headers,
    )
    assert spent.status_code == 201, spent.text

    company = client.get(f"{API}/budgets", headers=headers)
    assert company.status_code == 200, company.text
    body = company.json()
    assert body["deal_id"] is None
    lines = {line["category"]: line for line in body["lines"]}
    assert set(lines) == {"utilities", "insurance"}
    assert all(line["deal_id"] is None for line in body["lines"])
    assert lines["utilities"]["spent"] == "40.00"  # the company line counts every deal
    assert body["total_allocated"] == "1500.00"
    # A deal's budget is unchanged: its own line only.
    status_ = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=headers)
    assert status_.status_code == 200
    assert [line["allocated"] for line in status_.json()["lines"]] == ["99.00"]
    # An investor sees none of the company's overhead; another organisation sees its own.
    investor = auth_headers(db, make_user(db, org, Role.investor))
    assert client.get(f"{API}/budgets", headers=investor).status_code == 403
    stranger = auth_headers(db, make_user(db, make_org(db, "Other"), Role.analyst))
    assert client.get(f"{API}/budgets", headers=stranger).json()["lines"] == []


# --- 5. no enum reprs in 422 messages ----------------------------------------------------------


def test_a_refused_deal_status_lists_plain_values(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    prop = make_property(db, org)
    answer = client.post(
        f"{API}/deals", json={"property_id": str(prop.id), "status": "closed"}, headers=headers
    )
    assert answer.status_code == 422
    message = str(answer.json()["detail"])
    assert "<DealStatus" not in message
    assert "'lead' or 'analyzing'" in message


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for module_info in pkgutil.walk_packages(domain.__path__, "domain."):
        if not module_info.name.endswith((".models", ".api")):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def _enum_literals(annotation: Any) -> list[Any]:
    """Enum members used as ``Literal`` values anywhere inside ``annotation``."""
    if typing.get_origin(annotation) is typing.Literal:
        return [arg for arg in typing.get_args(annotation) if isinstance(arg, enum.Enum)]
    return [leak for arg in typing.get_args(annotation) for leak in _enum_literals(arg)]


def test_no_request_model_uses_enum_members_as_literal_values() -> None:
    """An enum member in a Literal makes pydantic's 422 read "<DealStatus.lead: 'lead'>"."""
    models = _models()
    assert len(models) > 50
    leaks = {
        f"{model.__module__}.{model.__qualname__}.{name}": _enum_literals(field.annotation)
        for model in models
        for name, field in model.model_fields.items()
        if _enum_literals(field.annotation)
    }
    assert leaks == {}


# --- 6. forwarded headers only from trusted proxies --------------------------------------------


def _client_seen(config: Any, peer: str, forwarded_for: str) -> str:
    """The client address the app sees behind uvicorn's config, for one request."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    config.load()
    if not isinstance(config.loaded_app, ProxyHeadersMiddleware):
        return peer  # nothing rewrites the connection's address
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    config.loaded_app.app = app  # the app:app it wraps is not called
    scope: Any = {
        "type": "http",
        "scheme": "http",
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
        "path": "/",
        "query_string": b"",
    }
    nothing: Any = None  # the recording app neither reads nor sends
    asyncio.run(config.loaded_app(scope, nothing, nothing))
    return str(seen["client"][0])


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli.main import _uvicorn_config

    override_settings(monkeypatch, trusted_proxies="")
    config = _uvicorn_config("127.0.0.1", 8000)
    assert config.proxy_headers is False
    assert _client_seen(config, "127.0.0.1", "203.0.113.9") == "127.0.0.1"

    override_settings(monkeypatch, trusted_proxies="10.0.0.5, 172.16.0.0/12")
    trusted = _uvicorn_config("127.0.0.1", 8000)
    assert _client_seen(trusted, "10.0.0.5", "203.0.113.9") == "203.0.113.9"
    assert _client_seen(_uvicorn_config("127.0.0.1", 8000), "172.20.1.1", "198.51.100.7") == (
        "198.51.100.7"
    )
    # A local process is not a proxy unless listed.
    assert _client_seen(_uvicorn_config("127.0.0.1", 8000), "127.0.0.1", "203.0.113.9") == (
        "127.0.0.1"
    )


def test_a_trusted_proxy_setting_must_be_addresses() -> None:
    from core.config import Settings

    with pytest.raises(ValueError, match="DEALDESK_TRUSTED_PROXIES"):
        Settings(DEALDESK_TRUSTED_PROXIES="*")  # type: ignore[call-arg]
    assert Settings(DEALDESK_TRUSTED_PROXIES="10.0.0.5,::1").trusted_proxy_list == [  # type: ignore[call-arg]
        "10.0.0.5",
        "::1",
    ]


# --- 7. no cross-tenant existence oracle -------------------------------------------------------


def test_a_taken_email_or_phone_does_not_say_where_it_is_taken(
    db: Session, client: TestClient
) -> None:
    org_a, org_b = make_org(db, "A"), make_org(db, "B")
    make_user(db, org_a, Role.analyst, email="ann@a.example", phone_number="+13135550101")
    admin_b = auth_headers(db, make_user(db, org_b, Role.admin))
    email = client.post(f"{API}/users", json={"email": "ann@a.example"}, headers=admin_b)
    phone = client.post(
        f"{API}/users",
        json={"email": "new@b.example", "phone_number": "+13135550101"},
        headers=admin_b,
    )
    assert email.status_code == 409 and phone.status_code == 409
    assert email.json()["detail"] == (
        "this email address can't be used for a new user; if they already have an account "
        "in your organisation, find them in GET /users"
    )
    assert "ann@a.example" not in email.text and "already exists" not in email.text
    assert "can't be used" in phone.json()["detail"]
    assert "3135550101" not in phone.text and "already exists" not in phone.text


# --- 8. phone numbers masked in the audit log --------------------------------------------------


def test_audit_entries_mask_phone_numbers(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    created = client.post(
        f"{API}/users",
        json={"email": "phone.user@example.com", "phone_number": "+1 313 555 0199"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    changed = client.patch(
        f"{API}/users/{user_id}", json={"phone_number": "+13135550142"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    entries = db.exec(
        select(AuditLog).where(AuditLog.org_id == org.id, AuditLog.entity_id == user_id)
    ).all()
    text = str([entry.changes for entry in entries])
    assert len(entries) == 2
    assert "3135550199" not in text and "3135550142" not in text
    assert "0199" in text and "0142" in text  # the last four digits tell numbers apart
    create = next(entry for entry in entries if entry.action == "create")
    assert create.changes["email"] == "phone.user@example.com"  # other fields as they are


# --- 9. one pixel limit on every photo upload --------------------------------------------------


def _huge_png(width: int = 30000, height: int = 30000) -> bytes:
    """A one-colour PNG of width x height pixels: small on disk, huge once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_huge_picture_is_refused_as_too_large_on_every_upload_route(
    db: Session, client: TestClient
) -> None:
    huge = _huge_png()
    assert len(huge) < 1_000_000
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    prop = make_property(db, org)
    project = make_project(db, org, property_id=prop.id)
    file = ("huge.png", huge, "image/png")
    answers = {
        "project photos": client.post(
            f"{API}/projects/{project.id}/photos", files={"files": file}, headers=headers
        ),
        "documents": client.post(
            f"{API}/documents", files={"file": file}, data={"kind": "photo"}, headers=headers
        ),
        "analysis": client.post(
            f"{API}/analyze/property-photos",
            files={"files": file},
            data={"property_id": str(prop.id)},
            headers=headers,
        ),
    }
    for route, answer in answers.items():
        assert answer.status_code == 422, (route, answer.text)
        detail = answer.json()["detail"]
        assert "too large (900 megapixels; at most 50)" in detail, (route, detail)
        assert "corrupt" not in detail
    assert answers["documents"].json()["reason"] == "too_many_pixels"
    assert db.exec(select(Document).where(Document.org_id == org.id)).all() == []
    assert db.exec(select(ProjectPhoto).where(ProjectPhoto.org_id == org.id)).all() == []
    assert db.exec(select(PropertyAnalysis).where(PropertyAnalysis.org_id == org.id)).all() == []
    # An ordinary photo still goes through each route.
    small = ("small.png", _small_png(), "image/png")
    fine = client.post(
        f"{API}/documents", files={"file": small}, data={"kind": "photo"}, headers=headers
    )
    assert fine.status_code == 201, fine.text
    ok_photos = client.post(
        f"{API}/projects/{project.id}/photos", files={"files": small}, headers=headers
    )
    assert ok_photos.status_code == 201, ok_photos.text
