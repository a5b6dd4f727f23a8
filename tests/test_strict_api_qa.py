"""REST QA: the API refuses what it used to ignore silently, and documents what it answers.

- Every JSON request body forbids unknown fields (422 naming the field, nothing written):
  ``purchase_prise`` on ``POST /deals`` used to give a deal without a price.
- Every ``/api/v1`` operation refuses an unknown query parameter (``?statuss=closed`` used to
  list every deal); Twilio's webhooks are exempt.
- Every operation with a role check documents its 403; ``GET /transactions`` its 404.
- ``GET /reports/{reportId}`` without a link or a token is a 401 (as every secured operation).
- A contractor's rating reads the same from a write as from a later read; a revoked API token
  is gone (not listed, a second revoke is a 404).
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlmodel import Session, func, select

from channels import signing
from domain.auth.enums import Role
from domain.deal.models import Deal, OfferTerms
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.finance.models import Transaction
from domain.property.models import Property
from tests.factories import (
    auth_headers,
    bearer,
    make_api_token,
    make_contractor,
    make_deal,
    make_org,
    make_property,
    make_user,
)

API = "/api/v1"
# Free-form by design: an offer's terms keep keys beyond the known ones (documented there).
FREE_FORM_MODELS: set[type[BaseModel]] = {OfferTerms}


def _api_routes() -> Iterator[tuple[str, str, APIRoute]]:
    from app import app

    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path_format
        if isinstance(route, APIRoute) and path and path.startswith(API):
            for method in sorted(context.methods or ()):
                yield method, path, route


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from _models(argument)


def _with_nested(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen or model in FREE_FORM_MODELS:
        return
    seen.add(model)
    for field in model.model_fields.values():
        for nested in _models(field.annotation):
            _with_nested(nested, seen)


def test_every_json_body_model_of_the_api_forbids_unknown_fields() -> None:
    body_models: dict[type[BaseModel], str] = {}
    for method, path, route in _api_routes():
        for param in route.dependant.body_params:
            for model in _models(param.field_info.annotation):
                body_models.setdefault(model, f"{method} {path}")
    assert len(body_models) >= 40  # the sweep found the bodies (forms are not models)
    checked: set[type[BaseModel]] = set()
    for model in body_models:
        _with_nested(model, checked)
    lax = sorted(
        f"{model.__module__}.{model.__name__} ({body_models.get(model, 'nested')})"
        for model in checked
        if model.model_config.get("extra") != "forbid"
    )
    assert lax == [], f"body models that ignore unknown fields: {lax}"


@pytest.mark.parametrize(
    ("path", "body", "typo"),
    [
        ("/deals", {"strategy": "flip", "purchase_prise": 100000}, "purchase_prise"),
        ("/transactions", {"type": "income", "category": "rents_received", "deal": "x"}, "deal"),
        ("/expenses", {"category": "repairs", "enforce_budgets": True}, "enforce_budgets"),
        ("/properties", {"city": "Detroit", "list_prise": 90000}, "list_prise"),
    ],
)
def test_a_misspelt_body_field_is_a_422_naming_it_and_nothing_is_written(
    client: TestClient, db: Session, path: str, body: dict[str, Any], typo: str
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))
    prop = make_property(db, org)
    payload: dict[str, Any] = dict(body)
    if path == "/deals":
        payload["property_id"] = str(prop.id)
    if path in ("/transactions", "/expenses"):
        payload.update(amount="100.00", date="2024-01-15")
    if path == "/properties":
        payload.update(address_line="77 Typo St", state="MI", zip_code="48201")
    counts = [_count(db, table, org.id) for table in (Deal, Transaction, Property)]

    response = client.post(f"{API}{path}", json=payload, headers=headers)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", ["body", typo])]
    assert [_count(db, table, org.id) for table in (Deal, Transaction, Property)] == counts
    # The same body spelt right is accepted (the check is about the typo, nothing else).
    payload.pop(typo)
    if path == "/properties":
        payload["list_price"] = 90000
    assert client.post(f"{API}{path}", json=payload, headers=headers).status_code == 201


def _count(db: Session, table: Any, org_id: uuid.UUID) -> int:
    return int(db.exec(select(func.count()).select_from(table).where(table.org_id == org_id)).one())


def test_an_unknown_query_parameter_is_a_422_naming_it(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))
    make_deal(db, org)

    refused = client.get(f"{API}/deals", params={"statuss": "closed"}, headers=headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["detail"][0]
    assert error["type"] == "extra_forbidden" and error["loc"] == ["query", "statuss"]
    assert "'statuss'" in error["msg"]
    # ... and lists what the operation accepts ("status" among them, not only in "statuss").
    assert "status" in error["msg"].split("accepts: ")[1].rstrip(")").split(", ")
    # Declared parameters (filters, paging) still work; an operation with none refuses any.
    ok = client.get(f"{API}/deals", params={"status": "closed", "limit": 5}, headers=headers)
    assert ok.status_code == 200 and ok.json() == []
    me = client.get(f"{API}/users/me", params={"verbose": "1"}, headers=headers)
    assert me.status_code == 422 and me.json()["detail"][0]["loc"] == ["query", "verbose"]
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200

    from core.query_guard import declared_query_params

    routes = {(method, path): route for method, path, route in _api_routes()}
    # A query model's fields are the operation's parameters (GET /projections/{dealId}).
    assert {"arv", "hold_months"} <= declared_query_params(
        routes["GET", f"{API}/projections/{{dealId}}"]
    )
    assert {"sig", "exp", "org"} <= declared_query_params(
        routes["GET", f"{API}/reports/{{reportId}}"]
    )
    # A Twilio webhook with a query string is not refused for it (it fails its signature).
    webhook = client.post(f"{API}/webhook/whatsapp?source=twilio", data={"Body": "hi"})
    assert webhook.status_code != 422


def test_every_operation_with_a_role_check_documents_its_403(
    client: TestClient, db: Session
) -> None:
    schema = client.get("/openapi.json").json()
    missing = []
    checked = 0
    for method, path, route in _api_routes():
        if not _has_role_check(route.dependant):
            continue
        checked += 1
        responses = schema["paths"][path][method.lower()]["responses"]
        if "403" not in responses:
            missing.append(f"{method} {path}")
    assert checked >= 90
    assert missing == []
    deals = schema["paths"][f"{API}/deals"]["get"]["responses"]["403"]["description"]
    assert "admin, analyst, investor" in deals
    users = schema["paths"][f"{API}/users"]["get"]["responses"]["403"]["description"]
    assert "roles: admin" in users and "investor" not in users
    assert "404" in schema["paths"][f"{API}/transactions"]["get"]["responses"]
    # Every checked operation documents the 422 an unknown query parameter gets.
    assert "422" in schema["paths"][f"{API}/users/me"]["get"]["responses"]

    # ... and they happen: a role refusal, and a filter naming an unknown deal.
    org = make_org(db)
    contractor = auth_headers(db, make_user(db, org, role=Role.contractor))
    admin = auth_headers(db, make_user(db, org))
    refused = client.get(f"{API}/deals", headers=contractor)
    assert refused.status_code == 403 and "needs one of the roles" in refused.json()["detail"]
    unknown = client.get(
        f"{API}/transactions", params={"deal_id": str(uuid.uuid4())}, headers=admin
    )
    assert unknown.status_code == 404


def _has_role_check(dependant: Dependant) -> bool:
    return any(
        getattr(sub.call, "__name__", "") == "_check_role" or _has_role_check(sub)
        for sub in dependant.dependencies
    )


def test_a_report_without_a_link_or_a_token_is_a_401(client: TestClient, db: Session) -> None:
    org = make_org(db)
    document = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=b"%PDF-1.4\n% a tiny report\n%%EOF\n",
        filename="report.pdf",
        declared_content_type="application/pdf",
        kind=DocumentKind.report,
        source=DocumentSource.worker,
    )
    db.flush()
    path = f"{API}/reports/{document.id}"

    anonymous = client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    invalid = client.get(path, headers=bearer("dd_not-a-token"))
    assert invalid.status_code == 401
    contractor = make_user(db, org, role=Role.contractor)
    assert client.get(path, headers=auth_headers(db, contractor)).status_code == 403
    link = signing.report_url(document.id, org_id=org.id, ttl_s=60)
    good = link.url[link.url.index("/api/v1/") :]
    assert client.get(good).status_code == 200
    bad = good.replace("sig=", "sig=0")
    assert client.get(bad).status_code == 403
    analyst = make_user(db, org, role=Role.analyst)
    assert client.get(path, headers=auth_headers(db, analyst)).status_code == 200


def test_a_contractor_rating_reads_the_same_from_a_write_and_a_read(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))
    contractor = make_contractor(db, org)
    path = f"{API}/contractors/{contractor.id}"

    written = client.patch(path, json={"rating": 3}, headers=headers)
    assert written.status_code == 200, written.text
    assert written.json()["rating"] == client.get(path, headers=headers).json()["rating"]
    assert str(written.json()["rating"]) == "3.0"
    too_fine = client.patch(path, json={"rating": "4.25"}, headers=headers)
    assert too_fine.status_code == 422
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    rating = schema["ContractorUpdate"]["properties"]["rating"]
    assert any(choice.get("multipleOf") == 0.1 for choice in rating["anyOf"])
    assert "0.1" in rating["description"]


def test_a_revoked_api_token_is_gone(client: TestClient, db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, user)
    revoked, _ = make_api_token(db, user, name="old")
    live, _ = make_api_token(db, user, name="live")

    assert client.delete(f"{API}/auth/tokens/{revoked.id}", headers=headers).status_code == 204
    again = client.delete(f"{API}/auth/tokens/{revoked.id}", headers=headers)
    assert again.status_code == 404
    listed = client.get(f"{API}/auth/tokens", headers=headers)
    assert [row["id"] for row in listed.json()] == [str(live.id)]
    assert listed.headers["X-Total-Count"] == "1"
