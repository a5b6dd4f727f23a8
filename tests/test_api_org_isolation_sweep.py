"""No REST endpoint lets one organisation read or change another organisation's data.

Organisation A gets at least one of every resource the API addresses by id. An admin of
organisation B then calls every ``/api/v1`` operation whose path names an id, with A's ids:
each must answer 404 (403 only where the operation documents a 403), and none of A's rows
may change. Every list and search endpoint, called as B (also with A's ids as filters), must
not show any of A's ids. The tables below name every id-bearing operation explicitly, and a
test fails on any operation they do not know, so a new endpoint cannot slip past untested.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

from core.clock import local_today
from domain.audio import service as audio_service
from domain.audio.enums import WalkthroughStatus
from domain.audio.models import Walkthrough
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import AuditLog, Organisation, User
from domain.chat import service as chat_service
from domain.chat.enums import ChatRole
from domain.construction import service as construction_service
from domain.construction.models import BidCreate, ExpenseCreate, MilestoneCreate, TaskCreate
from domain.deal import service as deal_service
from domain.deal.models import OfferCreate
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from domain.finance import service as finance_service
from domain.finance.enums import TransactionCategory
from domain.finance.models import BudgetCreate
from domain.inbox import service as inbox_service
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.models import AlertCriteriaIn, MarketStat
from domain.market.trends import TXHOUSING
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentCostUpdate
from domain.property import service as property_service
from domain.property.enums import MarketDataType
from domain.property.models import MarketDataCreate, PropertyImageCreate, Section8Fmr
from domain.valuation import service as valuation_service
from domain.vision.enums import AnalysisStatus, Condition
from domain.vision.models import ComponentCondition, PropertyAnalysis
from domain.voice import service as voice_service
from domain.voice.enums import CallPurpose, Speaker
from domain.voice.models import CallTranscript
from domain.whatsapp import service as whatsapp_service
from tests.factories import (
    ANALYSIS_MARKET_CENTRE,
    auth_headers,
    listing_row,
    make_account,
    make_api_token,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_sold_market,
    make_subject_property,
    make_transaction,
    make_user,
    principal_for,
    run_market_scan,
)

API = "/api/v1"
A_PHONE = "+13135550142"  # organisation A's WhatsApp contact
A_CLOSED_MONTH = "2023-06"  # a month organisation A has closed (B has not)
A_STATS_AREA = "Isolationville"  # an area only organisation A has market statistics for
A_MARKER = "Zanzibar Isolation Roofing"  # a name only organisation A's data carries


def _png() -> bytes:
    """A small PNG that decodes (construction photos are checked with Pillow)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclasses.dataclass
class Sweep:
    """Organisation A (the victim) with one of everything; organisation B (the caller)."""

    db: Session
    org_a: Organisation
    a: dict[str, str]
    org_b: Organisation
    admin_b: User
    b: dict[str, str]

    admin_a: User

    def headers(self, user: User | None = None) -> dict[str, str]:
        """B's admin's bearer token (or ``user``'s)."""
        return auth_headers(self.db, user or self.admin_b)


def build_org_a(db: Session) -> tuple[Organisation, User, dict[str, str]]:
    """Organisation A with at least one of every resource the API addresses by id."""
    org = make_org(db, "Victim Holdings A")
    admin = make_user(db, org, Role.admin, phone_number=A_PHONE, full_name="Alice A")
    principal = principal_for(admin)
    analyst = make_user(db, org, Role.analyst)
    token, _ = make_api_token(db, admin)
    ids: dict[str, str] = {"user": str(analyst.id), "token": str(token.id)}
    # A signed-out access token of A's analyst (auth.revoked_access_tokens).
    auth_service.sign_out(
        session=db,
        token=auth_service.issue_access_token(user=analyst),
        principal=principal_for(analyst),
    )

    # Properties, comps, valuations, images, market data.
    make_sold_market(db, org, sales=16)
    prop = make_subject_property(db, org)
    ids["property"] = str(prop.id)
    property_service.add_image(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        image_in=PropertyImageCreate(url="https://img.example.com/a.jpg"),
    )
    property_service.add_market_data(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        data_in=MarketDataCreate(
            data_type=MarketDataType.rent_estimate, value={"rent_monthly": 1200}
        ),
    )
    valuation_service.value_property(
        session=db, org_id=org.id, property_id=prop.id, as_of=dt.date(2025, 1, 1)
    )

    # Deals and offers.
    deal = make_deal(db, org, property_id=prop.id, purchase_price=Decimal("45000"))
    ids["deal"] = str(deal.id)
    offer = deal_service.make_offer(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        offer_in=OfferCreate(offer_amount=Decimal("40000")),
        principal=principal,
    )
    ids["offer"] = str(offer.id)

    # Finance: an account, a transaction, a budget, a closed month.
    account = make_account(db, org, name="A Operating")
    ids["account"] = str(account.id)
    ids["transaction"] = str(make_transaction(db, org, deal_id=deal.id, account_id=account.id).id)
    finance_service.set_budget(
        session=db,
        org_id=org.id,
        budget_in=BudgetCreate(
            deal_id=deal.id, category=TransactionCategory.repairs, allocated_amount=Decimal("5000")
        ),
    )
    finance_service.close_period(
        session=db, org_id=org.id, month=dt.date.fromisoformat(f"{A_CLOSED_MONTH}-01")
    )

    # Construction: contractor, project, scope, bid, task, milestone, expense, photo.
    contractor = make_contractor(db, org, name=A_MARKER)
    ids["contractor"] = str(contractor.id)
    project = make_project(db, org, deal_id=deal.id, property_id=prop.id)
    ids["project"] = str(project.id)
    bid = construction_service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate(contractor_id=contractor.id, total_amount=Decimal("12000")),
    )
    ids["bid"] = str(bid.id)
    task = construction_service.create_task(
        session=db, org_id=org.id, project_id=project.id, task_in=TaskCreate(title="Tear off")
    )
    ids["task"] = str(task.id)
    milestone = construction_service.create_milestone(
        session=db,
        org_id=org.id,
        project_id=project.id,
        milestone_in=MilestoneCreate(name="Roof done"),
    )
    ids["milestone"] = str(milestone.id)
    expense = construction_service.add_expense(
        session=db,
        org_id=org.id,
        project_id=project.id,
        expense_in=ExpenseCreate(amount=Decimal("250")),
    )
    ids["expense"] = str(expense.id)
    construction_service.add_photos(
        session=db,
        org_id=org.id,
        project_id=project.id,
        uploads=[construction_service.PhotoUpload(_png(), "roof.png", "image/png")],
    )

    # Calls: one placed (with a transcript turn), one scheduled.
    call = voice_service.request_call(
        session=db,
        org_id=org.id,
        contractor_id=contractor.id,
        project_id=project.id,
        purpose=CallPurpose.bid_request,
        ignore_hours=True,
    ).call
    assert call is not None
    ids["call"] = str(call.id)
    # The team's inbox: an action item from that call.
    (item,) = inbox_service.record_items(
        session=db,
        org_id=org.id,
        event_id=uuid.uuid4(),
        payload={"call_id": str(call.id), "contractor_id": str(contractor.id),
                 "project_id": str(project.id), "items": [{"kind": "question", "text": "Hi"}]},
    )  # fmt: skip
    ids["action_item"] = str(item.id)
    db.add(CallTranscript(org_id=org.id, call_id=call.id, turn=0, speaker=Speaker.agent, text="Hi"))
    voice_service.request_call(
        session=db,
        org_id=org.id,
        contractor_id=contractor.id,
        project_id=None,
        purpose=CallPurpose.availability,
        at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
    )

    # Documents, walkthrough transcripts, photo analyses, reports.
    document = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=_png(),
        filename="front.png",
        declared_content_type="image/png",
        kind=DocumentKind.photo,
        entity_type="property",
        entity_id=prop.id,
    )
    ids["document"] = str(document.id)
    walkthrough = Walkthrough(
        org_id=org.id,
        property_id=prop.id,
        status=WalkthroughStatus.completed,
        transcript="The roof is shot.",
        segments=[{"start": 0.0, "end": 2.0, "text": "The roof is shot."}],
    )
    db.add(walkthrough)
    db.flush()
    ids["walkthrough"] = str(walkthrough.id)
    audio_service.extract_and_estimate(session=db, org_id=org.id, walkthrough_id=walkthrough.id)
    db.add(
        PropertyAnalysis(
            org_id=org.id,
            property_id=prop.id,
            document_id=document.id,
            component="roof",
            condition=Condition.poor,
            confidence_score=Decimal("0.90"),
            status=AnalysisStatus.completed,
        )
    )
    db.add(
        ComponentCondition(
            org_id=org.id, property_id=prop.id, component_name="roof", condition_score=20
        )
    )
    report_document = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=_PDF,
        filename="report.pdf",
        declared_content_type="application/pdf",
        kind=DocumentKind.report,
    )
    report = whatsapp_service.request_report(session=db, org_id=org.id, property_id=prop.id)
    report.document_id = report_document.id
    ids["report"] = str(report.id)

    # Conversations: web chat and WhatsApp.
    chat = chat_service.create_conversation(session=db, org_id=org.id, user_id=admin.id)
    chat_service.add_message(
        session=db, org_id=org.id, conversation=chat, role=ChatRole.user, content="Our P&L?"
    )
    ids["chat"] = str(chat.id)
    whatsapp = whatsapp_service.get_or_create_conversation(
        session=db, org_id=org.id, phone_number=A_PHONE, user_id=admin.id
    )
    whatsapp_service.queue_text(session=db, conversation=whatsapp, text="Hello A", key="a-hello")
    ids["phone"] = A_PHONE

    # Market monitor: a scan with listings and opportunities; alert settings.
    run_market_scan(db, org, [listing_row(1500), listing_row(1502, ListPrice=40000)])
    ids["opportunity"] = str(market_service.list_opportunities(session=db, org_id=org.id)[0][0].id)
    criteria = alert_service.configure_alerts(
        session=db, org_id=org.id, principal=principal, criteria_in=AlertCriteriaIn()
    )
    alert_service.alert_existing_opportunities(
        session=db, org_id=org.id, criteria_id=criteria.id, event_id=None
    )
    ids["admin"] = str(admin.id)

    db.add(
        MarketStat(
            org_id=org.id,
            source=TXHOUSING,
            area=A_STATS_AREA,
            month=dt.date(2015, 1, 1),
            sales=12,
            median_price=Decimal("150000"),
        )
    )
    # A's own Section 8 payment standard (HUD's rows are shared; this one is A's alone).
    db.add(
        Section8Fmr(
            org_id=org.id,
            area=A_STATS_AREA,
            year=2024,
            bedrooms=3,
            fmr_amount=Decimal("1400"),
            payment_standard=Decimal("1540"),
        )
    )

    # The cost book (per organisation) with a changed row, so it has history.
    cost = pricing_service.ensure_catalogue(session=db, org_id=org.id)[0]
    pricing_service.update_cost(
        session=db,
        org_id=org.id,
        cost_id=cost.id,
        cost_in=ComponentCostUpdate(labor_cost=Decimal("11"), reason="A's supplier"),
        actor=principal,
    )
    ids["component_cost"] = str(cost.id)

    ids["month"] = A_CLOSED_MONTH
    db.flush()
    entry = db.exec(select(AuditLog).where(AuditLog.org_id == org.id)).first()
    assert entry is not None
    ids["audit_entry"] = str(entry.id)
    return org, admin, ids


@pytest.fixture
def sweep(db: Session) -> Sweep:
    """Both organisations; B has a deal, a project and a contractor of its own."""
    org_a, admin_a, a = build_org_a(db)
    org_b = make_org(db, "Curious Capital B")
    admin_b = make_user(db, org_b, Role.admin)
    make_sold_market(db, org_b, sales=16)  # the same street as A's sales: comps must be B's
    deal_b = make_deal(db, org_b)
    b = {
        "property": str(deal_b.property_id),
        "deal": str(deal_b.id),
        "project": str(make_project(db, org_b, deal_id=deal_b.id).id),
        "contractor": str(make_contractor(db, org_b).id),
    }
    alert_service.configure_alerts(
        session=db, org_id=org_b.id, principal=principal_for(admin_b), criteria_in=AlertCriteriaIn()
    )
    db.flush()
    return Sweep(db=db, org_a=org_a, a=a, org_b=org_b, admin_b=admin_b, b=b, admin_a=admin_a)


# --- organisation A's data, read straight from the database ----------------------------------


def _org_tables() -> list[Any]:
    """Every table whose rows belong to an organisation (they carry ``org_id``)."""
    return [t for t in SQLModel.metadata.sorted_tables if "org_id" in t.columns]


def snapshot(db: Session, org_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the organisation in every table, re-read from the database."""
    db.flush()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table in _org_tables():
        result = db.connection().execute(sa_select(table).where(table.c.org_id == org_id))
        rows[table.fullname] = sorted((tuple(r) for r in result), key=repr)
    return rows


def a_ids(db: Session, org_id: uuid.UUID) -> set[str]:
    """The ids of every row organisation A owns, and A's own id, as strings."""
    found = {str(org_id)}
    for table in _org_tables():
        if "id" in table.columns:
            result = db.connection().execute(sa_select(table.c.id).where(table.c.org_id == org_id))
            found.update(str(value) for (value,) in result)
    return found


# --- every operation with an id in its path ----------------------------------------------------

# A request body from the caller's own resources (so only the path names the other org's).
Body = Callable[[dict[str, str]], dict[str, Any]]


def _json(value: dict[str, Any] | list[Any]) -> Body:
    return lambda _: {"json": value}


def _twilio(_: dict[str, str]) -> dict[str, Any]:
    # Unsigned, as a caller without Twilio's token would send it.
    return {"data": {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32}}


@dataclasses.dataclass(frozen=True)
class Op:
    """How to call one operation: which of A's resources each path parameter names, the body."""

    params: dict[str, str]
    body: Body | None = None
    query: dict[str, str] = dataclasses.field(default_factory=dict)


ID_OPERATIONS: dict[str, Op] = {
    # chat (channels/web.py)
    "GET /api/v1/chat/{conversation_id}/messages": Op({"conversation_id": "chat"}),
    "POST /api/v1/chat/{conversation_id}/messages": Op(
        {"conversation_id": "chat"}, _json({"text": "What is our P&L?"})
    ),
    # auth
    "GET /api/v1/users/{user_id}": Op({"user_id": "user"}),
    "PATCH /api/v1/users/{user_id}": Op({"user_id": "user"}, _json({"full_name": "Taken Over"})),
    "DELETE /api/v1/auth/tokens/{token_id}": Op({"token_id": "token"}),
    "GET /api/v1/audit-log/{entry_id}": Op({"entry_id": "audit_entry"}),
    # documents
    "GET /api/v1/documents/{document_id}": Op({"document_id": "document"}),
    "DELETE /api/v1/documents/{document_id}": Op({"document_id": "document"}),
    "GET /api/v1/documents/{document_id}/content": Op({"document_id": "document"}),
    # properties
    "GET /api/v1/properties/{id}": Op({"id": "property"}),
    "PUT /api/v1/properties/{id}": Op({"id": "property"}, _json({"bedrooms": 9})),
    "DELETE /api/v1/properties/{id}": Op({"id": "property"}),
    "GET /api/v1/properties/{id}/images": Op({"id": "property"}),
    "POST /api/v1/properties/{id}/images": Op(
        {"id": "property"}, _json({"url": "https://img.example.com/b.jpg"})
    ),
    "GET /api/v1/properties/{id}/market-data": Op({"id": "property"}),
    "POST /api/v1/properties/{id}/market-data": Op(
        {"id": "property"}, _json({"data_type": "rent_estimate", "value": {"rent_monthly": 1}})
    ),
    # valuation
    "GET /api/v1/properties/{id}/comps": Op({"id": "property"}),
    "POST /api/v1/properties/{id}/analysis": Op({"id": "property"}, _json({})),
    "GET /api/v1/valuations/{propertyId}": Op({"propertyId": "property"}),
    "GET /api/v1/properties/{id}/valuation": Op({"id": "property"}),
    # pricing
    "PUT /api/v1/component-costs/{id}": Op(
        {"id": "component_cost"}, _json({"labor_cost": "1", "reason": "B's price"})
    ),
    "GET /api/v1/component-costs/{id}/history": Op({"id": "component_cost"}),
    # deals
    "GET /api/v1/deals/{id}": Op({"id": "deal"}),
    "PUT /api/v1/deals/{id}": Op({"id": "deal"}, _json({"purchase_price": "1"})),
    "PUT /api/v1/deals/{id}/status": Op({"id": "deal"}, _json({"status": "dead"})),
    "POST /api/v1/deals/{id}/offers": Op({"id": "deal"}, _json({"offer_amount": "1000"})),
    "GET /api/v1/deals/{id}/offers": Op({"id": "deal"}),
    "PUT /api/v1/deals/{id}/offers/{offer_id}/status": Op(
        {"id": "deal", "offer_id": "offer"}, _json({"status": "withdrawn"})
    ),
    "GET /api/v1/deals/{id}/timeline": Op({"id": "deal"}),
    "GET /api/v1/deals/{id}/performance": Op({"id": "deal"}, query={"arv": "90000"}),
    "GET /api/v1/projections/{dealId}": Op(
        {"dealId": "deal"}, query={"strategy": "flip", "arv": "90000"}
    ),
    # finance
    "POST /api/v1/accounts/{account_id}/reconcile": Op(
        {"account_id": "account"}, query={"fix": "true"}
    ),
    "DELETE /api/v1/closed-periods/{month}": Op({"month": "month"}),
    # construction
    "GET /api/v1/projects/{id}": Op({"id": "project"}),
    "PATCH /api/v1/projects/{id}": Op({"id": "project"}, _json({"name": "Hijacked"})),
    "POST /api/v1/projects/{id}/scope": Op({"id": "project"}, _json([{"component": "roof"}])),
    "GET /api/v1/projects/{id}/progress": Op({"id": "project"}),
    "POST /api/v1/projects/{id}/bids": Op(
        {"id": "project"},
        lambda own: {"json": {"contractor_id": own["contractor"], "total_amount": "1"}},
    ),
    "GET /api/v1/projects/{id}/bids": Op({"id": "project"}),
    "POST /api/v1/projects/{id}/bids/{bidId}/award": Op({"id": "project", "bidId": "bid"}),
    "POST /api/v1/projects/{id}/bids/{bidId}/reschedule": Op(
        {"id": "project", "bidId": "bid"},
        lambda _: {"json": {"start_date": (local_today() + dt.timedelta(days=30)).isoformat()}},
    ),
    "POST /api/v1/projects/{id}/tasks": Op({"id": "project"}, _json({"title": "Sneak"})),
    "GET /api/v1/projects/{id}/tasks": Op({"id": "project"}),
    "PATCH /api/v1/projects/{id}/tasks/{taskId}": Op(
        {"id": "project", "taskId": "task"}, _json({"title": "Renamed"})
    ),
    "GET /api/v1/projects/{id}/milestones": Op({"id": "project"}),
    "POST /api/v1/projects/{id}/milestones": Op({"id": "project"}, _json({"name": "Sneak"})),
    "POST /api/v1/projects/{id}/milestones/{milestoneId}/reach": Op(
        {"id": "project", "milestoneId": "milestone"}
    ),
    "POST /api/v1/projects/{id}/photos": Op(
        {"id": "project"}, lambda _: {"files": [("files", ("x.png", _png(), "image/png"))]}
    ),
    "GET /api/v1/projects/{id}/photos": Op({"id": "project"}),
    "POST /api/v1/projects/{id}/expenses": Op({"id": "project"}, _json({"amount": "10"})),
    "GET /api/v1/projects/{id}/expenses": Op({"id": "project"}),
    "POST /api/v1/projects/{id}/expenses/{expenseId}/void": Op(
        {"id": "project", "expenseId": "expense"}, _json({"reason": "hijack"})
    ),
    "POST /api/v1/transactions/{transaction_id}/void": Op(
        {"transaction_id": "transaction"}, _json({"reason": "hijack"})
    ),
    "GET /api/v1/contractors/{id}": Op({"id": "contractor"}),
    "PATCH /api/v1/contractors/{id}": Op({"id": "contractor"}, _json({"name": "Renamed"})),
    # market monitor
    "GET /api/v1/opportunities/{opportunity_id}": Op({"opportunity_id": "opportunity"}),
    # audio, vision
    "GET /api/v1/transcripts/{id}": Op({"id": "walkthrough"}),
    "GET /api/v1/analysis/{propertyId}": Op({"propertyId": "property"}),
    # voice: the API and Twilio's webhooks (documented 403 without Twilio's signature)
    "GET /api/v1/calls/{id}/transcript": Op({"id": "call"}),
    "GET /api/v1/action-items/{id}": Op({"id": "action_item"}),
    "POST /api/v1/action-items/{id}/resolve": Op({"id": "action_item"}, _json({"status": "done"})),
    "POST /api/v1/webhook/voice/{callId}/answer": Op({"callId": "call"}, _twilio),
    "POST /api/v1/webhook/voice/{callId}/gather": Op({"callId": "call"}, _twilio, {"turn": "1"}),
    "POST /api/v1/webhook/voice/{callId}/status": Op({"callId": "call"}, _twilio),
    "POST /api/v1/webhook/voice/{callId}/recording": Op({"callId": "call"}, _twilio),
    # whatsapp channel
    "GET /api/v1/conversations/{phoneNumber}": Op({"phoneNumber": "phone"}),
    "GET /api/v1/reports/{reportId}": Op({"reportId": "report"}),
}

# Operations whose child id sits under a parent: B's own parent with A's child must not reach it.
CHILD_OPERATIONS: dict[str, tuple[str, str]] = {
    "PUT /api/v1/deals/{id}/offers/{offer_id}/status": ("id", "deal"),
    "POST /api/v1/projects/{id}/bids/{bidId}/award": ("id", "project"),
    "POST /api/v1/projects/{id}/bids/{bidId}/reschedule": ("id", "project"),
    "PATCH /api/v1/projects/{id}/tasks/{taskId}": ("id", "project"),
    "POST /api/v1/projects/{id}/milestones/{milestoneId}/reach": ("id", "project"),
}


def _operations() -> dict[str, dict[str, Any]]:
    """Every operation of the app under /api/v1, as "METHOD path" -> its OpenAPI entry."""
    from app import app

    found = {}
    for path, methods in app.openapi()["paths"].items():
        if path.startswith(API):
            for method, operation in methods.items():
                found[f"{method.upper()} {path}"] = operation
    return found


def _path_params(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}


def test_the_sweep_knows_every_operation_with_an_id_in_its_path() -> None:
    with_ids = {key: op for key, op in _operations().items() if _path_params(op)}
    unknown = sorted(set(with_ids) - set(ID_OPERATIONS))
    assert not unknown, f"add these operations to ID_OPERATIONS: {unknown}"
    gone = sorted(set(ID_OPERATIONS) - set(with_ids))
    assert not gone, f"these operations no longer exist: {gone}"
    for key, op in ID_OPERATIONS.items():
        assert set(op.params) == _path_params(with_ids[key]), key
    assert set(CHILD_OPERATIONS) <= set(ID_OPERATIONS)


def _call(
    client: TestClient, sweep: Sweep, key: str, ids: dict[str, str], as_user: User | None = None
) -> Any:
    method, template = key.split(" ", 1)
    op = ID_OPERATIONS[key]
    path = template
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    own = sweep.a if as_user is sweep.admin_a else sweep.b
    extra = op.body(own) if op.body else {}
    return client.request(method, path, params=op.query, headers=sweep.headers(as_user), **extra)


def _allowed(key: str) -> set[int]:
    """404 everywhere; 403 too where the operation documents one."""
    documented = set(_operations()[key]["responses"])
    return {404, 403} if "403" in documented else {404}


@pytest.mark.parametrize("key", sorted(ID_OPERATIONS))
def test_another_organisations_id_is_not_found(
    key: str, sweep: Sweep, client: TestClient, db: Session
) -> None:
    before = snapshot(db, sweep.org_a.id)
    ids = {name: sweep.a[resource] for name, resource in ID_OPERATIONS[key].params.items()}

    response = _call(client, sweep, key, ids)

    assert response.status_code in _allowed(key), (response.status_code, response.text[:500])
    assert snapshot(db, sweep.org_a.id) == before, "organisation A's data changed"


# Twilio's webhooks answer 403 to anyone without Twilio's signature, the owner included.
UNSIGNED_403 = {key for key in ID_OPERATIONS if key.startswith("POST /api/v1/webhook/")}


@pytest.mark.parametrize("key", sorted(ID_OPERATIONS))
def test_the_same_call_by_the_owner_finds_it(key: str, sweep: Sweep, client: TestClient) -> None:
    """The control: A's admin making the same call is not told 404, so the 404s above mean
    "not yours", not a wrong path, body or id."""
    ids = {name: sweep.a[resource] for name, resource in ID_OPERATIONS[key].params.items()}

    response = _call(client, sweep, key, ids, as_user=sweep.admin_a)

    expected = {403} if key in UNSIGNED_403 else set(range(200, 300))
    if key == "DELETE /api/v1/properties/{id}":
        # The sweep's property has a deal and a project on it: deleting it is refused (409),
        # which still says the property was found (another organisation's is a 404).
        expected = {409}
    if key == "POST /api/v1/projects/{id}/bids/{bidId}/reschedule":
        expected = {409}  # the sweep's bid is open, not awarded: found, and refused
    assert response.status_code in expected, (response.status_code, response.text[:500])


@pytest.mark.parametrize("key", sorted(CHILD_OPERATIONS))
def test_another_organisations_child_under_your_own_parent_is_not_found(
    key: str, sweep: Sweep, client: TestClient, db: Session
) -> None:
    parent_name, parent_resource = CHILD_OPERATIONS[key]
    ids = {name: sweep.a[resource] for name, resource in ID_OPERATIONS[key].params.items()}
    ids[parent_name] = sweep.b[parent_resource]
    before = snapshot(db, sweep.org_a.id)

    response = _call(client, sweep, key, ids)

    assert response.status_code == 404, (response.status_code, response.text[:500])
    assert snapshot(db, sweep.org_a.id) == before, "organisation A's data changed"


# --- lists and searches ---------------------------------------------------------------------

Request = Callable[[Sweep], dict[str, Any]]

_SUBJECT_NEAR_A = {
    "subject": {
        "latitude": ANALYSIS_MARKET_CENTRE[0],
        "longitude": ANALYSIS_MARKET_CENTRE[1] + 0.01,
        "square_feet": 1500,
        "bedrooms": 3,
        "bathrooms": "1.5",
        "year_built": 1950,
        "zip_code": "48201",
    }
}

# Every list or search endpoint, as B: none of A's ids may appear in the answer.
LIST_OPERATIONS: dict[str, Request] = {
    "GET /api/v1/chat/conversations": lambda _: {},
    "GET /api/v1/auth/roles": lambda _: {},
    "GET /api/v1/users/me": lambda _: {},
    "GET /api/v1/users": lambda _: {},
    "GET /api/v1/auth/tokens": lambda _: {},
    "GET /api/v1/audit-log": lambda _: {},
    "GET /api/v1/events": lambda _: {},
    "GET /api/v1/documents": lambda _: {},
    "GET /api/v1/properties": lambda _: {},
    "POST /api/v1/properties/search": lambda _: {"json": {}},
    "POST /api/v1/comparables/analyze": lambda _: {"json": _SUBJECT_NEAR_A},
    "GET /api/v1/market/analysis": lambda _: {"params": {"zip": "48201"}},
    "GET /api/v1/component-costs": lambda _: {},
    "GET /api/v1/section8/fmr": lambda _: {"params": {"area": A_STATS_AREA}},
    "GET /api/v1/deals": lambda _: {},
    "GET /api/v1/accounts": lambda _: {},
    "GET /api/v1/transactions": lambda _: {},
    "GET /api/v1/budgets": lambda s: {"params": {"deal_id": s.b["deal"]}},
    "GET /api/v1/closed-periods": lambda _: {},
    "GET /api/v1/reports/pnl": lambda _: {"params": {"start": "2020-01-01"}},
    "GET /api/v1/reports/cashflow": lambda _: {"params": {"start": "2020-01-01"}},
    "GET /api/v1/monitor/status": lambda _: {},
    "GET /api/v1/alerts": lambda _: {},
    "GET /api/v1/alerts/criteria": lambda _: {},
    "GET /api/v1/opportunities/latest": lambda _: {"params": {"include_closed": "true"}},
    "GET /api/v1/market/trends": lambda _: {"params": {"area": A_STATS_AREA}},
    "GET /api/v1/projects": lambda _: {},
    "GET /api/v1/projects/starts": lambda _: {},
    "GET /api/v1/contractors": lambda _: {"params": {"include_opted_out": "true"}},
    "GET /api/v1/calls": lambda _: {},
    "GET /api/v1/calls/schedules": lambda _: {},
    "GET /api/v1/agents/availability": lambda _: {},
    "GET /api/v1/action-items": lambda _: {},
}

# The same lists filtered by one of A's ids: nothing of A's, or 404.
FILTERED_LISTS: dict[str, Request] = {
    "GET /api/v1/audit-log?entity_id": lambda s: {"params": {"entity_id": s.a["deal"]}},
    "GET /api/v1/events?entity_id": lambda s: {"params": {"entity_id": s.a["property"]}},
    "GET /api/v1/documents?entity_id": lambda s: {"params": {"entity_id": s.a["property"]}},
    "GET /api/v1/deals?property_id": lambda s: {"params": {"property_id": s.a["property"]}},
    "GET /api/v1/projects/starts?project_id": lambda s: {"params": {"project_id": s.a["project"]}},
    "GET /api/v1/transactions?deal_id": lambda s: {"params": {"deal_id": s.a["deal"]}},
    "GET /api/v1/transactions?account_id": lambda s: {"params": {"account_id": s.a["account"]}},
    "GET /api/v1/budgets?deal_id": lambda s: {"params": {"deal_id": s.a["deal"]}},
    "GET /api/v1/reports/pnl?deal_id": lambda s: {
        "params": {"start": "2020-01-01", "deal_id": s.a["deal"]}
    },
    "GET /api/v1/reports/cashflow?deal_id": lambda s: {
        "params": {"start": "2020-01-01", "deal_id": s.a["deal"]}
    },
    "GET /api/v1/reports/cashflow?account_id": lambda s: {
        "params": {"start": "2020-01-01", "account_id": s.a["account"]}
    },
    "GET /api/v1/alerts?user_id": lambda s: {"params": {"user_id": s.a["admin"]}},
    "GET /api/v1/alerts/criteria?user_id": lambda s: {"params": {"user_id": s.a["admin"]}},
    "GET /api/v1/projects?deal_id": lambda s: {"params": {"deal_id": s.a["deal"]}},
    "GET /api/v1/projects?property_id": lambda s: {"params": {"property_id": s.a["property"]}},
    "GET /api/v1/calls?contractor_id": lambda s: {"params": {"contractor_id": s.a["contractor"]}},
    "GET /api/v1/calls?project_id": lambda s: {"params": {"project_id": s.a["project"]}},
    "GET /api/v1/calls/schedules?project_id": lambda s: {"params": {"project_id": s.a["project"]}},
    "GET /api/v1/action-items?project_id": lambda s: {"params": {"project_id": s.a["project"]}},
}


def _is_list(key: str, operation: dict[str, Any]) -> bool:
    return key.startswith("GET ") and not _path_params(operation)


def test_the_sweep_knows_every_list_endpoint() -> None:
    lists = {key for key, op in _operations().items() if _is_list(key, op)}
    unknown = sorted(lists - set(LIST_OPERATIONS))
    assert not unknown, f"add these list endpoints to LIST_OPERATIONS: {unknown}"
    assert set(LIST_OPERATIONS) <= set(_operations())
    for key in FILTERED_LISTS:
        assert key.split("?")[0] in LIST_OPERATIONS, key


def _leaked(body: str, ids: set[str]) -> list[str]:
    found = sorted(i for i in ids if i in body)
    if A_MARKER in body:
        found.append(A_MARKER)
    return found


@pytest.mark.parametrize("key", sorted(LIST_OPERATIONS))
def test_lists_show_nothing_of_another_organisation(
    key: str, sweep: Sweep, client: TestClient, db: Session
) -> None:
    method, path = key.split(" ", 1)
    response = client.request(method, path, headers=sweep.headers(), **LIST_OPERATIONS[key](sweep))

    assert response.status_code < 300, (response.status_code, response.text[:500])
    assert _leaked(response.text, a_ids(db, sweep.org_a.id)) == []


@pytest.mark.parametrize("key", sorted(FILTERED_LISTS))
def test_lists_filtered_by_another_organisations_id_show_nothing(
    key: str, sweep: Sweep, client: TestClient, db: Session
) -> None:
    method, path = key.split("?")[0].split(" ", 1)
    response = client.request(method, path, headers=sweep.headers(), **FILTERED_LISTS[key](sweep))

    assert response.status_code == 404 or response.status_code < 300, (
        response.status_code,
        response.text[:500],
    )
    request_ids = {str(v) for v in FILTERED_LISTS[key](sweep)["params"].values()}
    assert _leaked(response.text, a_ids(db, sweep.org_a.id) - request_ids) == []


# --- writes that name another organisation's id in their body --------------------------------

Refer = Callable[[Sweep], tuple[str, dict[str, Any]]]


# Each names one of A's ids in a request body or form, all else being B's own (and valid):
# 404, and A's data unchanged.
BODY_REFERENCES: dict[str, Refer] = {
    "POST /deals property_id": lambda s: (
        "/api/v1/deals",
        {"json": {"property_id": s.a["property"]}},
    ),
    "PUT /deals/{own} owner_user_id": lambda s: (
        f"/api/v1/deals/{s.b['deal']}",
        {"json": {"owner_user_id": s.a["user"]}},
    ),
    "POST /transactions deal_id": lambda s: (
        "/api/v1/transactions",
        {
            "json": {
                "type": "expense",
                "category": "repairs",
                "amount": "1",
                "date": "2024-02-01",
                "deal_id": s.a["deal"],
            }
        },
    ),
    "POST /transactions account_id": lambda s: (
        "/api/v1/transactions",
        {
            "json": {
                "type": "income",
                "category": "rents_received",
                "amount": "1",
                "date": "2024-02-01",
                "account_id": s.a["account"],
            }
        },
    ),
    "POST /transactions project_id": lambda s: (
        "/api/v1/transactions",
        {
            "json": {
                "type": "expense",
                "category": "repairs",
                "amount": "1",
                "date": "2024-02-01",
                "project_id": s.a["project"],
            }
        },
    ),
    "POST /transactions receipt_document_id": lambda s: (
        "/api/v1/transactions",
        {
            "json": {
                "type": "expense",
                "category": "repairs",
                "amount": "1",
                "date": "2024-02-01",
                "receipt_document_id": s.a["document"],
            }
        },
    ),
    "POST /expenses deal_id": lambda s: (
        "/api/v1/expenses",
        {
            "json": {
                "category": "repairs",
                "amount": "1",
                "date": "2024-02-01",
                "deal_id": s.a["deal"],
            }
        },
    ),
    "POST /expenses project_id": lambda s: (
        "/api/v1/expenses",
        {
            "json": {
                "category": "repairs",
                "amount": "1",
                "date": "2024-02-01",
                "project_id": s.a["project"],
            }
        },
    ),
    "POST /budgets deal_id": lambda s: (
        "/api/v1/budgets",
        {"json": {"deal_id": s.a["deal"], "allocated_amount": "1"}},
    ),
    "POST /projects deal_id": lambda s: (
        "/api/v1/projects",
        {"json": {"name": "Mine", "deal_id": s.a["deal"]}},
    ),
    "POST /projects property_id": lambda s: (
        "/api/v1/projects",
        {"json": {"name": "Mine", "property_id": s.a["property"]}},
    ),
    "POST /projects/{own}/bids contractor_id": lambda s: (
        f"/api/v1/projects/{s.b['project']}/bids",
        {"json": {"contractor_id": s.a["contractor"], "total_amount": "1"}},
    ),
    "POST /projects/{own}/tasks assignee_contractor_id": lambda s: (
        f"/api/v1/projects/{s.b['project']}/tasks",
        {"json": {"title": "Mine", "assignee_contractor_id": s.a["contractor"]}},
    ),
    "POST /projects/{own}/tasks depends_on": lambda s: (
        f"/api/v1/projects/{s.b['project']}/tasks",
        {"json": {"title": "Mine", "depends_on": [s.a["task"]]}},
    ),
    "POST /projects/{own}/expenses contractor_id": lambda s: (
        f"/api/v1/projects/{s.b['project']}/expenses",
        {"json": {"amount": "1", "contractor_id": s.a["contractor"]}},
    ),
    "POST /calls/initiate contractor_id": lambda s: (
        "/api/v1/calls/initiate",
        {"json": {"contractor_id": s.a["contractor"], "purpose": "availability"}},
    ),
    "POST /calls/initiate project_id": lambda s: (
        "/api/v1/calls/initiate",
        {"json": {"contractor_id": s.b["contractor"], "project_id": s.a["project"]}},
    ),
    "POST /calls/leads property_id": lambda s: (
        "/api/v1/calls/leads",
        {"json": {"phone": "+13135550177", "address": "1 A St", "property_id": s.a["property"]}},
    ),
    "POST /calls/leads deal_id": lambda s: (
        "/api/v1/calls/leads",
        {"json": {"phone": "+13135550178", "address": "1 A St", "deal_id": s.a["deal"]}},
    ),
    "POST /calls/schedule contractor_id": lambda s: (
        "/api/v1/calls/schedule",
        {
            "json": {
                "contractor_id": s.a["contractor"],
                "purpose": "availability",
                "scheduled_for": (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat(),
            }
        },
    ),
    "POST /valuations/calculate property_id": lambda s: (
        "/api/v1/valuations/calculate",
        {"json": {"property_id": s.a["property"]}},
    ),
    "POST /valuations/arv property_id": lambda s: (
        "/api/v1/valuations/arv",
        {"json": {"property_id": s.a["property"]}},
    ),
    "POST /comparables/analyze property_id": lambda s: (
        "/api/v1/comparables/analyze",
        {"json": {"property_id": s.a["property"]}},
    ),
    "POST /section8/rent-analysis property_id": lambda s: (
        "/api/v1/section8/rent-analysis",
        {"json": {"property_id": s.a["property"]}},
    ),
    "POST /extract/conditions transcript_id": lambda s: (
        "/api/v1/extract/conditions",
        {"json": {"transcript_id": s.a["walkthrough"]}},
    ),
    "POST /reports/generate property_id": lambda s: (
        "/api/v1/reports/generate",
        {"json": {"property_id": s.a["property"]}},
    ),
    "POST /compare/before-after property_id": lambda s: (
        "/api/v1/compare/before-after",
        {"json": {"property_id": s.a["property"]}},
    ),
    "POST /transcribe/walkthrough property_id": lambda s: (
        "/api/v1/transcribe/walkthrough",
        {"data": {"property_id": s.a["property"], "document_id": s.a["document"]}},
    ),
    "POST /analyze/property-photos property_id": lambda s: (
        "/api/v1/analyze/property-photos",
        {
            "data": {"property_id": s.a["property"]},
            "files": [("files", ("x.png", _png(), "image/png"))],
        },
    ),
    "POST /analyze/property-photos document_ids": lambda s: (
        "/api/v1/analyze/property-photos",
        {"data": {"property_id": s.b["property"], "document_ids": [s.a["document"]]}},
    ),
    "POST /analyze/component-condition property_id": lambda s: (
        "/api/v1/analyze/component-condition",
        {
            "data": {"property_id": s.a["property"]},
            "files": {"file": ("x.png", _png(), "image/png")},
        },
    ),
    "POST /monitor/start document_id": lambda s: (
        "/api/v1/monitor/start",
        {"json": {"feed": "file", "document_id": s.a["document"]}},
    ),
    "POST /alerts/configure user_id": lambda s: (
        "/api/v1/alerts/configure",
        {"json": {"user_id": s.a["admin"]}},
    ),
}


@pytest.mark.parametrize("key", sorted(BODY_REFERENCES))
def test_writes_naming_another_organisations_id_are_refused(
    key: str, sweep: Sweep, client: TestClient, db: Session
) -> None:
    path, extra = BODY_REFERENCES[key](sweep)
    before = snapshot(db, sweep.org_a.id)

    response = client.request(key.split(" ")[0], path, headers=sweep.headers(), **extra)

    assert response.status_code == 404, (response.status_code, response.text[:500])
    assert snapshot(db, sweep.org_a.id) == before, "organisation A's data changed"


def test_the_fixture_gives_a_one_of_everything(sweep: Sweep, db: Session) -> None:
    """The sweep is only as good as A's data: every org table the API reads has A's rows."""
    rows = snapshot(db, sweep.org_a.id)
    empty = sorted(name for name, found in rows.items() if not found)
    # Rows written only by flows the sweep does not need (alerts sent, imports, runs ...).
    assert set(empty) <= NOT_SEEDED, (
        f"give organisation A rows in: {sorted(set(empty) - NOT_SEEDED)}"
    )


# Tables A has no rows in, and why that does not weaken the sweep: no endpoint addresses
# their rows by id, and their lists are covered through the tables they are built from.
NOT_SEEDED: set[str] = {
    "agent.runs",  # agent run records: no REST endpoint reads them
    "deal_service.deal_documents",  # written by the report subscriber; read via GET /deals/{id}
    "market_monitor.feeds",  # a scheduled feed (POST /monitor/start); status lists them
    "voice_service.do_not_call",  # numbers that refused calls: no REST endpoint reads them
}
