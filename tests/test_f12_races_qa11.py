"""Concurrent requests that gave 500s, duplicates or a broken history (QA round 11, F12).

Each race is reproduced against the real PostgreSQL, deterministically: a first session does
its write and holds it uncommitted; a second session, in a thread, makes the same request and
runs into the first one's lock (or, on the old code, slips past the check); the first commits,
and the second's answer is what a request arriving a moment later gets: a conflict, not a
crash, not a second row.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import User, UserCreate
from domain.construction import service as construction_service
from domain.construction.enums import ExpenseCategory
from domain.construction.models import ExpenseCreate
from domain.deal import service as deal_service
from domain.deal.enums import DealStrategy
from domain.deal.models import Deal, DealCreate
from domain.finance import service as finance_service
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentCostUpdate, CostHistory
from domain.voice import service as voice_service
from domain.voice.enums import CallPurpose
from domain.voice.models import Call
from tests.factories import (
    auth_headers,
    make_contractor,
    make_org,
    make_project,
    make_property,
    make_user,
    override_settings,
)
from tests.voice.helpers import zone_with_local_hour


def _wait_until_blocked(engine: Engine, worker: threading.Thread, timeout_s: float = 10) -> None:
    """Return once another backend waits on a lock, or the worker finished (no lock to wait on)."""
    deadline = time.monotonic() + timeout_s
    with engine.connect() as conn:
        while time.monotonic() < deadline and worker.is_alive():
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.02)


def _race(
    engine: Engine, first: Callable[[Session], Any], second: Callable[[Session], Any]
) -> dict[str, Any]:
    """Run ``first`` uncommitted, ``second`` in its own session and thread, then commit both.

    Returns ``first`` (its result) and ``second`` or ``error`` (the second's result or error).
    """
    outcome: dict[str, Any] = {}
    with Session(engine, expire_on_commit=False) as session_a:
        outcome["first"] = first(session_a)

        def run_second() -> None:
            with Session(engine, expire_on_commit=False) as session_b:
                try:
                    outcome["second"] = second(session_b)
                    session_b.commit()
                except Exception as exc:
                    session_b.rollback()
                    outcome["error"] = exc

        worker = threading.Thread(target=run_second)
        worker.start()
        _wait_until_blocked(engine, worker)
        session_a.commit()
        worker.join(30)
        assert not worker.is_alive(), "the second request never finished"
    return outcome


@pytest.fixture
def world(committed_db: Session) -> dict[str, Any]:
    """An organisation with an admin, committed (the racing sessions must see them)."""
    org = make_org(committed_db)
    admin = make_user(committed_db, org, role=Role.admin)
    committed_db.commit()
    return {"org": org, "admin": admin}


# --- 1. POST /users with the same email (or phone number) at once -------------------------


@pytest.mark.parametrize("field", ["email", "phone_number"])
def test_two_users_with_one_email_or_phone_at_once_second_is_a_conflict(
    engine: Engine, committed_db: Session, world: dict[str, Any], field: str
) -> None:
    """The loser gets the same EmailTaken/PhoneNumberTaken (409) as one a moment later."""
    org = world["org"]
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    phone = "+13135550142"

    def create(session: Session) -> User:
        user_in = UserCreate(
            email=email if field == "email" else f"other-{uuid.uuid4().hex[:8]}@example.com",
            phone_number=phone if field == "phone_number" else None,
            role=Role.analyst,
        )
        return auth_service.create_user(session=session, org_id=org.id, user_in=user_in)

    outcome = _race(engine, create, create)

    expected = (
        auth_service.EmailTakenError if field == "email" else auth_service.PhoneNumberTakenError
    )
    assert isinstance(outcome.get("error"), expected), outcome
    assert "can't be used for" in str(outcome["error"])  # the generic message (no tenant named)
    column = User.email if field == "email" else User.phone_number
    value = email if field == "email" else phone
    assert len(committed_db.exec(select(User).where(column == value)).all()) == 1


# --- 2. POST /closed-periods for one month at once -----------------------------------------


def test_closing_one_month_twice_at_once_second_is_a_conflict(
    engine: Engine, committed_db: Session, world: dict[str, Any]
) -> None:
    """The loser gets "already closed" (409), not the unique constraint (500)."""
    org = world["org"]

    def close(session: Session) -> Any:
        return finance_service.close_period(
            session=session, org_id=org.id, month=dt.date(2025, 1, 1)
        )

    outcome = _race(engine, close, close)

    assert isinstance(outcome.get("error"), finance_service.ConflictError), outcome
    assert str(outcome["error"]) == "January 2025 is already closed"


# --- 3. PUT /component-costs/{id} at once ---------------------------------------------------


def test_two_cost_edits_at_once_chain_the_history(
    engine: Engine, committed_db: Session, world: dict[str, Any]
) -> None:
    """The second edit's history entry starts from the first edit's new cost."""
    org = world["org"]
    row = pricing_service.ensure_catalogue(session=committed_db, org_id=org.id)[0]
    original = row.total_cost
    committed_db.commit()

    def edit(material: str, labour: str) -> Callable[[Session], Any]:
        def run(session: Session) -> Any:
            return pricing_service.update_cost(
                session=session,
                org_id=org.id,
                cost_id=row.id,
                cost_in=ComponentCostUpdate(
                    material_cost=Decimal(material), labor_cost=Decimal(labour), reason="race"
                ),
                updated_by="qa",
            )

        return run

    outcome = _race(engine, edit("100.00", "200.00"), edit("101.00", "201.00"))

    assert "error" not in outcome, outcome
    history = committed_db.exec(
        select(CostHistory)
        .where(CostHistory.component_id == row.id)
        .order_by(col(CostHistory.created_at))
    ).all()
    assert [(h.old_cost, h.new_cost) for h in history] == [
        (original, Decimal("300.00")),
        (Decimal("300.00"), Decimal("302.00")),
    ]


# --- 4. POST /calls/initiate at once, and again -----------------------------------------------


@pytest.fixture
def callable_contractor(
    committed_db: Session, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A contractor inside their calling hours and a project, committed; calls only recorded."""
    override_settings(
        monkeypatch,
        twilio_auth_token=SecretStr("test-voice-auth-token-42"),
        twilio_account_sid=None,
        public_base_url="https://dealdesk.example.com",
    )
    org = world["org"]
    contractor = make_contractor(committed_db, org, timezone=zone_with_local_hour(12))
    other = make_contractor(
        committed_db, org, name="Other Roofing", timezone=zone_with_local_hour(12)
    )
    project = make_project(committed_db, org)
    committed_db.commit()
    return {"org": org, "contractor": contractor, "other": other, "project": project}


def _request(org_id: uuid.UUID, contractor_id: uuid.UUID, project_id: uuid.UUID) -> Any:
    def run(session: Session) -> voice_service.CallRequestResult:
        return voice_service.request_call(
            session=session,
            org_id=org_id,
            contractor_id=contractor_id,
            project_id=project_id,
            purpose=CallPurpose.bid_request,
        )

    return run


def test_the_same_call_asked_for_twice_at_once_is_placed_once(
    engine: Engine, committed_db: Session, callable_contractor: dict[str, Any]
) -> None:
    """The second request is a conflict naming the queued call; one call is queued."""
    org, contractor, project = (
        callable_contractor["org"],
        callable_contractor["contractor"],
        callable_contractor["project"],
    )
    ask = _request(org.id, contractor.id, project.id)

    outcome = _race(engine, ask, ask)

    first_call = outcome["first"].call
    assert first_call is not None
    error = outcome.get("error")
    assert isinstance(error, voice_service.ScheduleConflict), outcome
    assert str(first_call.id) in str(error)
    calls = committed_db.exec(select(Call).where(Call.contractor_id == contractor.id)).all()
    assert [c.id for c in calls] == [first_call.id]


def test_call_slots_are_counted_with_the_other_request_committed(
    engine: Engine,
    committed_db: Session,
    callable_contractor: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one call slot, two calls asked for at once: one is placed, one waits (scheduled)."""
    override_settings(monkeypatch, voice_max_concurrent_calls=1)
    org, project = callable_contractor["org"], callable_contractor["project"]

    outcome = _race(
        engine,
        _request(org.id, callable_contractor["contractor"].id, project.id),
        _request(org.id, callable_contractor["other"].id, project.id),
    )

    assert outcome["first"].call is not None
    second = outcome.get("second")
    assert second is not None, outcome
    assert second.call is None and second.schedule is not None
    assert "call slots are busy" in (second.reason or "")
    queued = committed_db.exec(select(Call).where(Call.org_id == org.id)).all()
    assert len(queued) == 1


def test_initiating_the_same_call_again_is_a_409_naming_the_call(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests one after the other: 201, then 409 with the first call's id; one call."""
    override_settings(
        monkeypatch,
        twilio_auth_token=SecretStr("test-voice-auth-token-42"),
        twilio_account_sid=None,
        public_base_url="https://dealdesk.example.com",
    )
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    contractor = make_contractor(db, org, timezone=zone_with_local_hour(12))
    project = make_project(db, org)
    body = {
        "contractor_id": str(contractor.id),
        "project_id": str(project.id),
        "purpose": "bid_request",
    }
    headers = auth_headers(db, admin)

    first = client.post("/api/v1/calls/initiate", json=body, headers=headers)
    second = client.post("/api/v1/calls/initiate", json=body, headers=headers)

    assert first.status_code == 201, first.text
    call_id = first.json()["call"]["id"]
    assert second.status_code == 409, second.text
    assert call_id in second.json()["detail"]
    calls = db.exec(select(Call).where(Call.contractor_id == contractor.id)).all()
    assert len(calls) == 1
    # Another purpose is another call.
    other = client.post(
        "/api/v1/calls/initiate", json=body | {"purpose": "follow_up"}, headers=headers
    )
    assert other.status_code == 201, other.text


# --- 5. POST /deals on one house at once -----------------------------------------------------


def test_two_deals_on_one_house_at_once_second_is_refused(
    engine: Engine, committed_db: Session, world: dict[str, Any]
) -> None:
    """The second create sees the first's open deal (409 DuplicateDeal), not a second lead."""
    org = world["org"]
    prop = make_property(committed_db, org)
    committed_db.commit()
    principal = auth_service.Principal.from_user(world["admin"])

    def create(session: Session) -> Deal:
        return deal_service.create_deal(
            session=session,
            org_id=org.id,
            deal_in=DealCreate(property_id=prop.id, strategy=DealStrategy.rental),
            principal=principal,
            refuse_open_duplicate=True,
        )

    outcome = _race(engine, create, create)

    error = outcome.get("error")
    assert isinstance(error, deal_service.DuplicateDealError), outcome
    deals = committed_db.exec(select(Deal).where(Deal.property_id == prop.id)).all()
    assert [d.id for d in deals] == [outcome["first"].id]
    # allow_duplicate still opens a second one.
    with Session(engine, expire_on_commit=False) as session:
        deal_service.create_deal(
            session=session,
            org_id=org.id,
            deal_in=DealCreate(property_id=prop.id, strategy=DealStrategy.flip),
            principal=principal,
        )
        session.commit()
    assert len(committed_db.exec(select(Deal).where(Deal.property_id == prop.id)).all()) == 2


# --- 6. A ledger refund on a project follows the project's refund rule -----------------------


def test_a_ledger_refund_on_a_project_may_not_take_its_spent_below_zero(
    client: TestClient, db: Session
) -> None:
    """Dated before any spending: 422 with construction's wording; on or after it: 201."""
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    project = make_project(db, org)
    today = local_today()
    construction_service.add_expense(
        session=db,
        org_id=org.id,
        project_id=project.id,
        expense_in=ExpenseCreate(
            amount=Decimal("100.00"), category=ExpenseCategory.materials, spent_on=today
        ),
    )
    headers = auth_headers(db, admin)
    refund = {
        "type": "refund",
        "category": "rehab_materials",
        "amount": "30.00",
        "project_id": str(project.id),
    }

    early = client.post(
        "/api/v1/transactions",
        json=refund | {"date": (today - dt.timedelta(days=9)).isoformat()},
        headers=headers,
    )
    too_much = client.post(
        "/api/v1/transactions",
        json=refund | {"date": today.isoformat(), "amount": "130.00"},
        headers=headers,
    )
    fine = client.post(
        "/api/v1/transactions", json=refund | {"date": today.isoformat()}, headers=headers
    )

    assert early.status_code == 422, early.text
    assert early.json()["detail"] == (
        f"a refund of 30.00 dated {(today - dt.timedelta(days=9)).isoformat()} is more than "
        f"the 0.00 net spent on project '{project.name}' by that day: a refund cannot take "
        "the project's spent below zero on any day (date it on or after the expense it "
        "refunds)"
    )
    assert too_much.status_code == 422, too_much.text
    assert "cannot take the project's spent below zero" in too_much.json()["detail"]
    assert fine.status_code == 201, fine.text


# --- Also: POST /properties with one MLS number at once (same check-then-insert) -------------


def test_two_properties_with_one_mls_number_at_once_second_is_a_conflict(
    engine: Engine, committed_db: Session, world: dict[str, Any]
) -> None:
    """The loser gets the PropertyConflictError (409) naming the first property, not a 500."""
    from domain.property import service as property_service
    from domain.property.models import PropertyCreate

    org = world["org"]

    def create(session: Session) -> Any:
        return property_service.create(
            session=session,
            org_id=org.id,
            property_in=PropertyCreate(
                address_line=f"{uuid.uuid4().int % 9000 + 100} Race St",
                city="Detroit",
                state="MI",
                zip_code="48201",
                mls_number="MLS-RACE-1",
            ),
        )

    outcome = _race(engine, create, create)

    error = outcome.get("error")
    assert isinstance(error, property_service.PropertyConflictError), outcome
    assert str(outcome["first"].id) in str(error)
