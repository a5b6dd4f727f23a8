"""Budgets: spent kept in step, budget.exceeded once per crossing, and the finance subscribers."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from domain.finance import service, subscribers
from domain.finance.enums import TransactionCategory
from domain.finance.models import (
    Budget,
    BudgetCreate,
    ExpenseCreate,
    Transaction,
    TransactionCreate,
)
from store import events
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import make_deal, make_org, make_project, make_transaction


def _exceeded(db: Session, org_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.name == "budget.exceeded")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [row.payload for row in rows]


def _budget(db: Session, org: Any, deal: Any, allocated: str, category: str | None) -> Budget:
    budget, _ = service.set_budget(
        session=db,
        org_id=org.id,
        budget_in=BudgetCreate.model_validate(
            {"deal_id": deal.id, "category": category, "allocated_amount": allocated}
        ),
    )
    return budget


def test_budget_exceeded_is_published_once_per_crossing(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    budget = _budget(db, org, deal, "1000.00", "rehab_materials")

    def spend(amount: str, kind: str = "expense") -> None:
        make_transaction(
            db, org, type=kind, category="rehab_materials", amount=amount, deal_id=deal.id
        )

    spend("600.00")  # spent 600.00: under
    assert _exceeded(db, org.id) == []
    spend("500.00")  # spent 1100.00: crosses over
    spend("50.00")  # spent 1150.00: still over, no new event
    events_now = _exceeded(db, org.id)
    assert len(events_now) == 1
    assert events_now[0]["spent_amount"] == "1100.00"
    assert events_now[0]["over_by"] == "100.00"
    assert events_now[0]["budget_id"] == str(budget.id)
    spend("200.00", "refund")  # spent 950.00: back under
    db.refresh(budget)
    assert (budget.spent_amount, budget.exceeded) == (Decimal("950.00"), False)
    assert len(_exceeded(db, org.id)) == 1
    spend("100.00")  # spent 1050.00: a new crossing
    assert [e["spent_amount"] for e in _exceeded(db, org.id)] == ["1100.00", "1050.00"]


def test_an_allocation_edit_can_uncross_and_recross(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    _budget(db, org, deal, "500.00", "rehab_labour")
    make_transaction(db, org, category="rehab_labour", amount="700.00", deal_id=deal.id)
    assert len(_exceeded(db, org.id)) == 1  # 700 > 500
    raised, created = service.set_budget(
        session=db,
        org_id=org.id,
        budget_in=BudgetCreate.model_validate(
            {"deal_id": deal.id, "category": "rehab_labour", "allocated_amount": "1000.00"}
        ),
    )
    assert not created and raised.exceeded is False
    assert len(_exceeded(db, org.id)) == 1
    _budget(db, org, deal, "600.00", "rehab_labour")  # lowered under the 700 spent
    assert len(_exceeded(db, org.id)) == 2
    assert _exceeded(db, org.id)[1]["reason"] == "allocation changed"
    lines = db.exec(select(Budget).where(Budget.deal_id == deal.id)).all()
    assert len(lines) == 1  # the same line was edited, not duplicated


def test_a_budget_counts_spending_booked_before_it(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    make_transaction(db, org, category="repairs", amount="300.00", deal_id=deal.id)
    make_transaction(db, org, category="repairs", amount="45.50", deal_id=deal.id)
    make_transaction(db, org, category="repairs", amount="999.00")  # no deal: not this budget
    budget = _budget(db, org, deal, "1000.00", "repairs")
    assert budget.spent_amount == Decimal("345.50")


def test_rehab_budget_counts_every_rehab_category(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    rehab = _budget(db, org, deal, "5000.00", None)
    make_transaction(db, org, category="rehab_labour", amount="2000.00", deal_id=deal.id)
    make_transaction(db, org, category="rehab_materials", amount="1500.00", deal_id=deal.id)
    make_transaction(db, org, category="repairs", amount="250.00", deal_id=deal.id)
    make_transaction(db, org, category="utilities", amount="80.00", deal_id=deal.id)
    db.refresh(rehab)
    assert rehab.spent_amount == Decimal("3750.00")  # 2000 + 1500 + 250; utilities are not rehab
    status = service.budget_status(session=db, org_id=org.id, deal_id=deal.id)
    assert status.total_allocated == Decimal("5000.00")
    assert status.total_remaining == Decimal("1250.00")
    assert status.over_budget is False
    assert status.unbudgeted_spending == {"utilities": Decimal("80.00")}
    assert status.lines[0].label.startswith("Rehab")


def test_enforced_budget_refuses_the_expense_and_writes_nothing(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    budget = _budget(db, org, deal, "100.00", "supplies")
    expense = ExpenseCreate.model_validate(
        {
            "category": "supplies",
            "amount": "100.01",
            "date": "2024-02-02",
            "deal_id": deal.id,
            "enforce_budget": True,
        }
    )
    with pytest.raises(service.BudgetWouldBeExceededError, match="100.01 against .* 100.00"):
        service.record_expense(session=db, org_id=org.id, expense_in=expense)
    db.refresh(budget)
    assert budget.spent_amount == Decimal("0.00")
    assert db.exec(select(Transaction).where(Transaction.org_id == org.id)).all() == []
    result = service.record_expense(
        session=db,
        org_id=org.id,
        expense_in=expense.model_copy(update={"amount": Decimal("100.00")}),
    )
    assert [(b.spent, b.remaining, b.over_budget) for b in result.budgets] == [
        (Decimal("100.00"), Decimal("0.00"), False)
    ]


def test_concurrent_spending_crosses_once(committed_db: Session, engine: Engine) -> None:
    org = make_org(committed_db)
    deal = make_deal(committed_db, org, strategy="flip")
    _budget(committed_db, org, deal, "100.00", "supplies")
    committed_db.commit()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def spend() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                with Session(engine) as session:
                    service.record_transaction(
                        session=session,
                        org_id=org.id,
                        transaction_in=TransactionCreate.model_validate(
                            {
                                "type": "expense",
                                "category": "supplies",
                                "amount": "7.00",
                                "date": "2024-03-03",
                                "deal_id": deal.id,
                            }
                        ),
                    )
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=spend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as fresh:
        budget = fresh.exec(select(Budget).where(Budget.deal_id == deal.id)).one()
        assert budget.spent_amount == Decimal("210.00")  # 30 x 7.00
        # 15 expenses reach 105.00 > 100.00: exactly one crossing, however they interleaved.
        assert len(_exceeded(fresh, org.id)) == 1


# --- subscribers ---------------------------------------------------------------------------


def test_finance_subscribes_to_its_catalogue_events() -> None:
    events.load_subscribers()
    served = {sub.event_name for sub in events.all_subscribers() if sub.domain_module == "finance"}
    assert served == {
        "deal.created",
        "construction.expense.added",
        "construction.expense.voided",
        "construction.expense.refunded",
        "project.created",
        "bid.awarded",
        "project.budget.changed",
    }


def _as_event(row: OutboxEvent) -> Event:
    return Event(id=row.id, org_id=row.org_id, name=row.name, payload=row.payload)


def test_deal_created_opens_the_rehab_budget_once(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip", estimated_repairs=Decimal("25000.00"))
    db.flush()
    row = db.exec(
        select(OutboxEvent).where(OutboxEvent.org_id == org.id, OutboxEvent.name == "deal.created")
    ).one()
    subscribers.open_deal_budget(db, _as_event(row))
    subscribers.open_deal_budget(db, _as_event(row))  # delivered twice
    lines = db.exec(select(Budget).where(Budget.deal_id == deal.id)).all()
    assert len(lines) == 1
    assert lines[0].category is None
    assert lines[0].allocated_amount == Decimal("25000.00")
    assert lines[0].source == f"deal.created:{row.id}"


def _construction_event(org_id: uuid.UUID, **payload: Any) -> Event:
    return Event(id=uuid.uuid4(), org_id=org_id, name="construction.expense.added", payload=payload)


def test_construction_expense_is_booked_once_per_event(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    rehab = _budget(db, org, deal, "1000.00", None)
    project_id = make_project(db, org).id
    event = _construction_event(
        org.id,
        deal_id=str(deal.id),
        project_id=str(project_id),
        amount="1250.00",
        category="labor",
        date="2024-04-10",
        description="Framing, second floor",
    )
    subscribers.book_construction_expense(db, event)
    subscribers.book_construction_expense(db, event)  # at-least-once: delivered again
    booked = db.exec(select(Transaction).where(Transaction.org_id == org.id)).all()
    assert len(booked) == 1
    assert booked[0].source_event_id == event.id
    assert booked[0].category == TransactionCategory.rehab_labour
    assert booked[0].amount == Decimal("1250.00")
    assert booked[0].project_id == project_id
    db.refresh(rehab)
    assert rehab.spent_amount == Decimal("1250.00")
    assert len(_exceeded(db, org.id)) == 1  # 1250 > 1000, published once


def test_a_construction_expense_never_links_another_organisations_project(
    db: Session,
) -> None:
    org, other = make_org(db), make_org(db, "Other Co")
    theirs = make_project(db, other)
    event = _construction_event(
        org.id, project_id=str(theirs.id), amount="75.00", category="labor", date="2024-04-10"
    )
    subscribers.book_construction_expense(db, event)
    (booked,) = db.exec(select(Transaction).where(Transaction.org_id == org.id)).all()
    assert booked.project_id is None and booked.amount == Decimal("75.00")
    assert f"project {theirs.id} not found in this organisation" in (booked.description or "")


def test_construction_expense_in_a_closed_month_lands_in_the_next_open_one(db: Session) -> None:
    org = make_org(db)
    service.close_period(session=db, org_id=org.id, month=dt.date(2024, 4, 1))
    service.close_period(session=db, org_id=org.id, month=dt.date(2024, 5, 1))
    event = _construction_event(
        org.id, amount="80.00", category="drywall", date="2024-04-20", description="Mud"
    )
    subscribers.book_construction_expense(db, event)
    booked = db.exec(select(Transaction).where(Transaction.org_id == org.id)).one()
    assert booked.date == dt.date(2024, 6, 1)
    assert booked.category == TransactionCategory.other
    assert booked.description == (
        "Mud (construction category 'drywall'; dated 2024-04-20, in a closed month)"
    )


def test_duplicate_source_event_is_refused_by_the_database(db: Session) -> None:
    org = make_org(db)
    event_id = uuid.uuid4()
    service.record_transaction(
        session=db,
        org_id=org.id,
        transaction_in=TransactionCreate.model_validate(
            {"type": "expense", "category": "repairs", "amount": "1.00", "date": "2024-01-01"}
        ),
        source_event_id=event_id,
    )
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.begin_nested():
        service.record_transaction(
            session=db,
            org_id=org.id,
            transaction_in=TransactionCreate.model_validate(
                {"type": "expense", "category": "repairs", "amount": "1.00", "date": "2024-01-01"}
            ),
            source_event_id=event_id,
        )
    count = db.execute(
        select(func.count()).select_from(Transaction).where(Transaction.source_event_id == event_id)
    ).scalar_one()
    assert count == 1


def test_events_flow_through_the_relay_into_the_ledger(
    committed_db: Session, engine: Engine
) -> None:
    from store.outbox import publish
    from workers import events as relay

    events.load_subscribers()
    org = make_org(committed_db)
    deal = make_deal(committed_db, org, strategy="flip", estimated_repairs=Decimal("2000.00"))
    committed_db.commit()
    relay.relay_once(inline=True)
    event_id = publish(
        committed_db,
        org_id=org.id,
        name="construction.expense.added",
        payload={"deal_id": deal.id, "amount": "2100.00", "category": "materials"},
    )
    committed_db.commit()
    relay.relay_once(inline=True)
    relay.relay_once(inline=True)  # a second pass delivers nothing again
    with Session(engine) as fresh:
        rehab = fresh.exec(select(Budget).where(Budget.deal_id == deal.id)).one()
        assert (rehab.allocated_amount, rehab.spent_amount, rehab.exceeded) == (
            Decimal("2000.00"),
            Decimal("2100.00"),
            True,
        )
        booked = fresh.exec(select(Transaction).where(Transaction.org_id == org.id)).one()
        assert booked.source_event_id == event_id
        assert booked.category == TransactionCategory.rehab_materials
        assert len(_exceeded(fresh, org.id)) == 1
