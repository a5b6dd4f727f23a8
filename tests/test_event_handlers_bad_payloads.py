"""Every event subscriber survives a bad event and never touches another organisation's data.

Each registered subscriber gets, the way the relay delivers (``handler(session, event)`` in a
savepoint, then a flush), a series of bad events: an empty payload, each field it reads
missing in turn, wrong types, ids that do not exist, ids of ANOTHER organisation's rows (with
``event.org_id`` this organisation's), ``org_id`` None and huge strings. A handler may return
having done nothing harmful, or raise its module's typed error (or a ``ValueError`` naming
the event), which the relay records as the delivery's ``last_error``. It must never raise a
bare ``KeyError``/``TypeError``/``AttributeError``/... from sloppy payload reading, nor a
database error, and never change a row of the other organisation.
"""

from __future__ import annotations

import decimal
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy.exc
from PIL import Image
from sqlmodel import Session, select

from core.clock import local_today
from domain.audio.enums import WalkthroughStatus
from domain.audio.models import Walkthrough
from domain.auth.enums import Role
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from domain.market import alerts as alert_service
from domain.market.models import AlertCriteria, AlertCriteriaIn
from domain.voice import service as voice_service
from domain.voice.enums import CallPurpose
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.models import ReportRequest
from store import events
from store.base import utcnow
from store.events import Event
from tests.factories import (
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_user,
    principal_for,
)
from tests.seed import seed_lines
from tests.test_api_org_isolation_sweep import a_ids, build_org_a, snapshot
from workers.events import _error_text

HUGE = "x" * 200_000
NOT_A_UUID = "not-a-uuid"

# Field kinds: "id:<resource>" names a row (resources below), "ids:<resource>" a list of them.
Spec = dict[str, str]

# subscriber name -> the payload fields its handler (and the service it calls) reads.
SPECS: dict[str, Spec] = {
    "domain.audio.subscribers.record_started_walkthrough": {"property_id": "id:property"},
    "domain.audio.subscribers.transcribe_uploaded_audio": {
        "document_id": "id:audio",
        "property_id": "id:property",
        "walkthrough_id": "id:walkthrough",
    },
    "domain.construction.subscribers.open_project_for_new_deal": {
        "deal_id": "id:deal",
        "status": "str:under_contract",
    },
    "domain.construction.subscribers.open_project_when_under_contract": {
        "deal_id": "id:deal",
        "from": "str:offer_made",
        "to": "str:under_contract",
    },
    "domain.construction.subscribers.mirror_finance_transaction_on_project": {
        "transaction_id": "id:random",
        "project_id": "id:project",
    },
    "domain.construction.subscribers.record_contractor_response": {
        "contractor_id": "id:contractor",
        "project_id": "id:project",
        "call_id": "id:call",
        "total_amount": "money",
        "scope_item_id": "id:scope_item",
        "start_date": "date",
        "duration_days": "int",
        "summary": "str:Can start Monday",
    },
    "domain.construction.subscribers.record_inspection": {
        "project_id": "id:project",
        "name": "str:roof",
        "passed": "bool",
        "notes": "str:flashing loose",
        "reinspection_date": "date",
    },
    # No "bid" resource here: an unknown bid id means nobody is told (tests/construction
    # test_qa9_bids_levelling covers the real award).
    "domain.construction.subscribers.tell_contractors_about_award": {
        "bid_id": "id:random",
        "project_id": "id:project",
        "contractor_id": "id:contractor",
        "rejected_bid_ids": "ids:random",
        "start_date": "date",
        "total_amount": "money",
    },
    "domain.deal.subscribers.on_document_generated": {
        "deal_id": "id:deal",
        "document_id": "id:document",
        "document_type": "str:inspection",
        "url": "str:https://files.example.com/r.pdf",
        "status": "str:received",
    },
    "domain.deal.subscribers.on_payment_completed": {
        "deal_id": "id:deal",
        "amount": "money",
        "payee": "str:Title Co",
        "transaction_id": "id:random",
    },
    # The deal's rehab line follows the project's budget, read from the project (not payload).
    "domain.finance.subscribers.follow_new_project_budget": {
        "project_id": "id:project",
        "deal_id": "id:deal",
        "budget": "money",
    },
    "domain.finance.subscribers.follow_awarded_project_budget": {
        "project_id": "id:project",
        "deal_id": "id:deal",
        "bid_id": "id:random",
    },
    "domain.finance.subscribers.follow_changed_project_budget": {
        "project_id": "id:project",
        "deal_id": "id:deal",
        "budget": "money",
    },
    "domain.finance.subscribers.book_construction_expense": {
        "amount": "money",
        "category": "str:materials",
        "date": "date",
        "deal_id": "id:deal",
        "project_id": "id:project",
        "description": "str:Shingles",
        "contractor": "str:Ray's Roofing",
    },
    "domain.finance.subscribers.book_construction_expense_void": {
        "amount": "money",
        "category": "str:labour",
        "date": "date",
        "deal_id": "id:deal",
        "project_id": "id:project",
        "description": "str:void of expense",
        "contractor": "str:Ray's Roofing",
    },
    "domain.finance.subscribers.book_construction_expense_refund": {
        "amount": "money",
        "category": "str:materials",
        "date": "date",
        "deal_id": "id:deal",
        "project_id": "id:project",
        "description": "str:refund: returned tile",
        "vendor": "str:Home Depot",
    },
    "domain.finance.subscribers.open_deal_budget": {
        "deal_id": "id:deal",
        "estimated_repairs": "money",
    },
    # "items" is a list of objects; no field kind here builds one, so the good payload's
    # string is skipped (tests/inbox covers real items): the ids are what is checked here.
    "domain.inbox.subscribers.store_action_items": {
        "contractor_id": "id:contractor",
        "project_id": "id:project",
        "call_id": "id:call",
        "items": "str:Review the bid",
    },
    "domain.market.subscribers.on_analysis_completed": {
        "property_id": "id:property",
        "as_is_value": "money",
        "arv": "money",
        "rehab_total": "money",
        "rent_monthly": "money",
    },
    "domain.market.subscribers.on_monitor_configured": {"criteria_id": "id:criteria"},
    "domain.property.subscribers.record_market_update": {
        "property_ids": "ids:property",
        "data_type": "str:rent_estimate",
        "source": "str:rentometer",
        "rent": "money",
    },
    "domain.property.subscribers.store_valuation_summary": {
        "property_id": "id:property",
        "value": "money",
        "method": "str:comps",
        "confidence": "int",
    },
    "domain.valuation.subscribers.drop_deleted_property": {"property_id": "id:property"},
    "domain.valuation.subscribers.index_new_property": {"property_id": "id:property"},
    "domain.valuation.subscribers.reindex_updated_property": {"property_id": "id:property"},
    "domain.valuation.subscribers.revalue_after_market_update": {
        "property_ids": "ids:property",
        "zip_code": "str:48201",
        "neighborhood": "str:Midtown",
    },
    "domain.valuation.subscribers.revalue_after_walkthrough": {"property_id": "id:property"},
    "domain.vision.subscribers.analyse_requested_property": {
        "property_id": "id:property",
        "document_ids": "ids:photo",
    },
    "domain.vision.subscribers.analyse_uploaded_photos": {
        "property_id": "id:property",
        "document_id": "id:photo",
    },
    "domain.voice.subscribers.on_contractor_call_requested": {
        "contractor_id": "id:contractor",
        "project_id": "id:project",
        "purpose": "str:bid_request",
        "requested_by": "id:user",
        "trade": "str:roofing",
        "count": "int",
    },
    "domain.voice.subscribers.on_lead_qualification_needed": {
        "phone": "str:+13135550177",
        "name": "str:Sam Seller",
        "address": "str:1 Lead St, Detroit, MI",
        "lead_id": "str:lead-1",
        "timezone": "str:America/Detroit",
        "consent_to_call": "bool",
        "consent_source": "str:web form",
        "requested_by": "id:user",
    },
    "domain.whatsapp.subscribers.on_analysis_completed": {
        "report_id": "id:report_document",
        "request_id": "id:report",
        "property_id": "id:property",
    },
    "domain.whatsapp.subscribers.on_report_ready": {
        "document_id": "id:report_document",
        "request_id": "id:report",
        "property_id": "id:property",
    },
}

# Exceptions that say "the handler read its payload carelessly" (or hit the database with
# it): the relay would record them, but the text would not tell anyone what was wrong.
SLOPPY = (
    KeyError,
    TypeError,
    AttributeError,
    AssertionError,
    IndexError,
    NameError,
    decimal.InvalidOperation,
    sqlalchemy.exc.SQLAlchemyError,
    RecursionError,
)

_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 200, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav() -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 1600)
    return buffer.getvalue()


def _resources(db: Session, org_id: uuid.UUID, ids: dict[str, str]) -> dict[str, str]:
    """Organisation A's rows, by resource kind, for the "another organisation" cases."""
    project_scope = db.exec(select(ReportRequest).where(ReportRequest.org_id == org_id)).first()
    assert project_scope is not None and project_scope.document_id is not None
    criteria = db.exec(select(AlertCriteria).where(AlertCriteria.org_id == org_id)).first()
    assert criteria is not None
    from domain.construction import service as construction_service

    scope = construction_service.list_scope_items(
        session=db, org_id=org_id, project_id=uuid.UUID(ids["project"])
    )
    return {
        "property": ids["property"],
        "deal": ids["deal"],
        "project": ids["project"],
        "contractor": ids["contractor"],
        "call": ids["call"],
        "document": ids["document"],
        "photo": ids["document"],
        "audio": ids["document"],
        "walkthrough": ids["walkthrough"],
        "report": ids["report"],
        "report_document": str(project_scope.document_id),
        "criteria": str(criteria.id),
        "user": ids["admin"],
        "scope_item": str(scope[0].id),
        "random": str(uuid.uuid4()),
    }


def _own_resources(db: Session) -> tuple[uuid.UUID, dict[str, str]]:
    """This organisation with one of each row a handler looks up."""
    org = make_org(db, "Receiving Realty B")
    admin = make_user(db, org, Role.admin)
    deal = make_deal(db, org, strategy="flip")
    contractor = make_contractor(db, org)
    project = make_project(db, org, deal_id=deal.id, property_id=deal.property_id)
    from domain.construction import service as construction_service

    scope = construction_service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    call = voice_service.request_call(
        session=db,
        org_id=org.id,
        contractor_id=contractor.id,
        project_id=project.id,
        purpose=CallPurpose.bid_request,
        ignore_hours=True,
    ).call
    assert call is not None

    def store(data: bytes, name: str, kind: DocumentKind, content_type: str) -> str:
        document = documents_service.store_document(
            session=db,
            org_id=org.id,
            data=data,
            filename=name,
            declared_content_type=content_type,
            kind=kind,
            entity_type="property",
            entity_id=deal.property_id,
        )
        return str(document.id)

    walkthrough = Walkthrough(
        org_id=org.id, property_id=deal.property_id, status=WalkthroughStatus.started
    )
    db.add(walkthrough)
    report_document = store(_PDF, "report.pdf", DocumentKind.report, "application/pdf")
    report = whatsapp_service.request_report(
        session=db, org_id=org.id, property_id=deal.property_id
    )
    report.document_id = uuid.UUID(report_document)
    criteria = alert_service.configure_alerts(
        session=db, org_id=org.id, principal=principal_for(admin), criteria_in=AlertCriteriaIn()
    )
    db.flush()
    return org.id, {
        "property": str(deal.property_id),
        "deal": str(deal.id),
        "project": str(project.id),
        "contractor": str(contractor.id),
        "call": str(call.id),
        "document": store(_png(), "front.png", DocumentKind.photo, "image/png"),
        "photo": store(_png(), "back.png", DocumentKind.photo, "image/png"),
        "audio": store(_wav(), "walk.wav", DocumentKind.voice_note, "audio/wav"),
        "walkthrough": str(walkthrough.id),
        "report": str(report.id),
        "report_document": report_document,
        "criteria": str(criteria.id),
        "user": str(admin.id),
        "scope_item": str(scope[0].id),
        "random": str(uuid.uuid4()),
    }


def _value(kind: str, rows: dict[str, str]) -> Any:
    """A good value of a field's kind, its ids taken from ``rows``."""
    if kind.startswith("id:"):
        return rows[kind[3:]]
    if kind.startswith("ids:"):
        return [rows[kind[4:]]]
    if kind.startswith("str:"):
        return kind[4:]
    return {
        "money": "1250.00",
        "int": 3,
        "bool": True,
        "date": local_today().isoformat(),
    }[kind]


def _wrong(kind: str) -> list[Any]:
    """Values of the wrong type (or shape) for a field's kind."""
    if kind.startswith("id:"):
        return [NOT_A_UUID, 12345, [str(uuid.uuid4())], {"id": str(uuid.uuid4())}, True]
    if kind.startswith("ids:"):
        return [NOT_A_UUID, {"a": 1}, [NOT_A_UUID, 7, None, [1]], 42]
    if kind == "money":
        return ["lots", [1], {"amount": "x"}, "NaN", "-Infinity", "1e999999", True]
    if kind == "int":
        return ["three", [3], {"n": 3}, -5, 10**30, 2.5]
    if kind == "bool":
        return ["maybe", [True], {"b": 1}, 7]
    if kind == "date":
        return ["yesterday", 20240115, ["2024-01-15"], {"d": 1}, "2024-13-45"]
    return [12345, ["a", "b"], {"nested": {"deep": [1]}}, False]


@dataclass
class Case:
    """One bad delivery: what it is, the event's organisation, its payload."""

    label: str
    org_id: uuid.UUID | None
    payload: dict[str, Any]


def _cases(
    spec: Spec, own_org: uuid.UUID, own: dict[str, str], theirs: dict[str, str]
) -> list[Case]:
    good = {field: _value(kind, own) for field, kind in spec.items()}
    cases = [Case("good payload (baseline)", own_org, good), Case("empty payload", own_org, {})]
    for field in spec:
        cases.append(
            Case(f"{field} missing", own_org, {k: v for k, v in good.items() if k != field})
        )
    for field, kind in spec.items():
        for wrong in _wrong(kind):
            cases.append(Case(f"{field}={wrong!r:.40}", own_org, {**good, field: wrong}))
        cases.append(Case(f"{field} huge", own_org, {**good, field: HUGE}))
        cases.append(Case(f"{field} null", own_org, {**good, field: None}))
    missing = {
        field: (
            str(uuid.uuid4())
            if kind.startswith("id:")
            else [str(uuid.uuid4())]
            if kind.startswith("ids:")
            else good[field]
        )
        for field, kind in spec.items()
    }
    cases.append(Case("ids that do not exist", own_org, missing))
    foreign = {field: _value(kind, theirs) for field, kind in spec.items()}
    cases.append(Case("every id another organisation's", own_org, foreign))
    for field, kind in spec.items():
        if kind.startswith(("id:", "ids:")):
            cases.append(
                Case(
                    f"{field} another organisation's",
                    own_org,
                    {**good, field: _value(kind, theirs)},
                )
            )
    cases.append(Case("org_id None", None, good))
    cases.append(Case("org_id None, another organisation's ids", None, foreign))
    cases.append(Case("every value huge", own_org, dict.fromkeys(spec, HUGE)))
    cases.append(Case("payload is all wrong types", own_org, {f: [[{}]] for f in spec}))
    return cases


def _clear(exc: BaseException, event: Event) -> str | None:
    """Why ``exc`` is not a clear, recorded failure (None when it is)."""
    if isinstance(exc, SLOPPY):
        return f"sloppy {type(exc).__name__}"
    summary = _error_text(exc).splitlines()[0]
    if len(summary) > 1000:
        return f"unreadably long error ({len(summary)} characters)"
    if not str(exc).strip():
        return f"{type(exc).__name__} without a message"
    module = type(exc).__module__
    typed = module.startswith(("domain.", "store.", "core."))
    names_event = event.name in str(exc) or str(event.id) in str(exc)
    if not (typed or names_event):
        return f"untyped {type(exc).__name__} that names neither the event nor the field"
    return None


def _subscriber_names() -> set[str]:
    events.load_subscribers()
    return {sub.name for sub in events.all_subscribers()}


def test_every_seed_subscription_has_a_handler_and_every_handler_is_covered() -> None:
    _subscriber_names()
    seed = [
        (module, name)
        for module, verb, name in seed_lines("events.txt")
        if verb == "subscribes" and (module, verb, name) not in events.DROPPED_FROM_SEED
    ]
    served = {(sub.domain_module, sub.event_name) for sub in events.all_subscribers()}
    assert [pair for pair in seed if pair not in served] == []
    assert events.missing_subscriptions() == []
    assert _subscriber_names() == set(SPECS), "a subscriber is missing from (or extra in) SPECS"


def _deliver(
    db: Session, handler: Callable[[Session, Event], None], event: Event
) -> BaseException | None:
    """Run the handler as the relay does: in a savepoint, flushed; return what it raised."""
    try:
        with db.begin_nested():
            handler(db, event)
            db.flush()
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_bad_event_is_survived_and_another_organisation_untouched(name: str, db: Session) -> None:
    events.load_subscribers()
    found = [s for s in events.all_subscribers() if s.name == name]
    assert found, f"{name} is not registered"
    sub = found[0]
    org_a, _, a_rows = build_org_a(db)
    theirs = _resources(db, org_a.id, a_rows)
    own_org, own = _own_resources(db)

    theirs_all = {uuid.UUID(v) for v in a_ids(db, org_a.id)}
    problems: list[str] = []
    for case in _cases(SPECS[name], own_org, own, theirs):
        before = snapshot(db, org_a.id)
        own_before = snapshot(db, own_org)
        event = Event(
            id=uuid.uuid4(),
            org_id=case.org_id,
            name=sub.event_name,
            payload=case.payload,
            created_at=utcnow(),
        )
        exc = _deliver(db, sub.handler, event)
        if exc is not None and (why := _clear(exc, event)):
            problems.append(f"{case.label}: {why}: {_error_text(exc).splitlines()[0][:300]}")
        if snapshot(db, org_a.id) != before:
            problems.append(f"{case.label}: changed another organisation's rows")
        for table, rows in snapshot(db, own_org).items():
            for row in (r for r in rows if r not in own_before.get(table, [])):
                if linked := theirs_all.intersection(v for v in row if isinstance(v, uuid.UUID)):
                    problems.append(
                        f"{case.label}: a new {table} row points at another organisation's "
                        f"{sorted(map(str, linked))}"
                    )
    assert problems == [], "\n".join(problems)
