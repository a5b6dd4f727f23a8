"""The ledger: balances equal the sum of transactions, closed periods, bad input, org scoping."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from domain.finance import service
from domain.finance.enums import TransactionCategory, TransactionType
from domain.finance.models import Account, Transaction, TransactionCreate
from store.outbox import OutboxEvent
from tests.factories import make_account, make_deal, make_org, make_transaction


def _count(db: Session, org_id: uuid.UUID) -> int:
    return db.execute(
        select(func.count()).select_from(Transaction).where(Transaction.org_id == org_id)
    ).scalar_one()


def _events(db: Session, org_id: uuid.UUID, name: str) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent)
            .where(OutboxEvent.org_id == org_id, OutboxEvent.name == name)
            .order_by(col(OutboxEvent.created_at))
        ).all()
    )


def test_balance_is_the_signed_sum_of_the_ledger(db: Session) -> None:
    org = make_org(db)
    checking = make_account(db, org, "Checking", type="checking")
    savings = make_account(db, org, "Savings", type="savings")
    # +1500.00 rent, -250.75 repairs, -99.99 payment, +20.00 refund, 300.00 moved to savings.
    make_transaction(
        db,
        org,
        type="income",
        category="rents_received",
        amount="1500.00",
        account_id=checking.id,
    )
    make_transaction(db, org, amount="250.75", account_id=checking.id)
    make_transaction(
        db, org, type="payment", category="utilities", amount="99.99", account_id=checking.id
    )
    make_transaction(
        db, org, type="refund", category="repairs", amount="20.00", account_id=checking.id
    )
    make_transaction(
        db,
        org,
        type="transfer",
        category=None,
        amount="300.00",
        account_id=checking.id,
        to_account_id=savings.id,
    )
    db.refresh(checking)
    db.refresh(savings)
    # 1500.00 - 250.75 - 99.99 + 20.00 - 300.00 = 869.26
    assert checking.balance == Decimal("869.26")
    assert savings.balance == Decimal("300.00")
    for account in (checking, savings):
        result = service.reconcile_account(session=db, org_id=org.id, account_id=account.id)
        assert result.balanced and result.ledger_balance == account.balance
    assert (
        service.reconcile_account(
            session=db, org_id=org.id, account_id=checking.id
        ).transaction_count
        == 5
    )


def test_reconcile_reports_and_fixes_drift(db: Session) -> None:
    org = make_org(db)
    account = make_account(db, org)
    make_transaction(
        db,
        org,
        type="income",
        category="rents_received",
        amount="1000.00",
        account_id=account.id,
    )
    # Someone edits the balance behind the ledger's back.
    db.execute(
        text("UPDATE financial_service.accounts SET balance = 1234.56 WHERE id = :id"),
        {"id": account.id},
    )
    report = service.reconcile_account(session=db, org_id=org.id, account_id=account.id)
    assert (report.recorded_balance, report.ledger_balance, report.drift) == (
        Decimal("1234.56"),
        Decimal("1000.00"),
        Decimal("234.56"),
    )
    assert not report.balanced and not report.fixed
    fixed = service.reconcile_account(session=db, org_id=org.id, account_id=account.id, fix=True)
    assert fixed.fixed
    assert service.reconcile_account(session=db, org_id=org.id, account_id=account.id).balanced


def test_concurrent_inserts_keep_the_balance_exact(committed_db: Session, engine: Engine) -> None:
    org = make_org(committed_db)
    account = make_account(committed_db, org)
    committed_db.commit()
    threads_n, per_thread = 8, 15
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with Session(engine, expire_on_commit=False) as session:
                    income = (worker + i) % 2 == 0
                    service.record_transaction(
                        session=session,
                        org_id=org.id,
                        transaction_in=TransactionCreate.model_validate(
                            {
                                "type": "income" if income else "expense",
                                "category": "rents_received" if income else "repairs",
                                "amount": Decimal("10.01") if income else Decimal("3.33"),
                                "date": "2024-05-01",
                                "account_id": account.id,
                            }
                        ),
                    )
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 120 inserts: worker+i even for 60 of them (+10.01 each), odd for 60 (-3.33 each).
    expected = 60 * Decimal("10.01") - 60 * Decimal("3.33")  # 400.80
    with Session(engine) as fresh:
        stored = fresh.get(Account, account.id)
        assert stored is not None and stored.balance == expected == Decimal("400.80")
        report = service.reconcile_account(session=fresh, org_id=org.id, account_id=account.id)
        assert report.balanced and report.transaction_count == 120


def test_closed_period_refuses_the_booking_and_writes_nothing(db: Session) -> None:
    org = make_org(db)
    account = make_account(db, org)
    service.close_period(session=db, org_id=org.id, month=dt.date(2024, 3, 1))
    with pytest.raises(service.ClosedPeriodError, match="March 2024 are closed.*2024-03-31"):
        make_transaction(db, org, date="2024-03-31", account_id=account.id)
    assert _count(db, org.id) == 0
    db.refresh(account)
    assert account.balance == Decimal("0.00")
    assert _events(db, org.id, "transaction.created") == []
    # The neighbouring months are open.
    make_transaction(db, org, date="2024-04-01", account_id=account.id)
    make_transaction(db, org, date="2024-02-29", account_id=account.id)
    assert _count(db, org.id) == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("10.005"), "more than two decimal places"),
        (Decimal("-5.00"), "greater than zero"),
        (Decimal("0"), "greater than zero"),
        (Decimal("10000000000.00"), "larger than"),
    ],
)
def test_bad_amounts_are_refused(db: Session, amount: Decimal, message: str) -> None:
    org = make_org(db)
    # model_construct skips the request model's checks: this is what the agent's tools or an
    # import could hand the service directly, and the service must refuse it on its own.
    transaction_in = TransactionCreate.model_construct(
        type=TransactionType.expense,
        category=TransactionCategory.repairs,
        amount=amount,
        date=dt.date(2024, 1, 1),
        deal_id=None,
        account_id=None,
        to_account_id=None,
        receipt_document_id=None,
        description=None,
        counterparty=None,
        receipt_url=None,
        project_id=None,
    )
    with pytest.raises(service.FinanceValidationError, match=message):
        service.record_transaction(session=db, org_id=org.id, transaction_in=transaction_in)
    assert _count(db, org.id) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "income", "category": "repairs"}, "repairs is an expense category"),
        ({"type": "expense", "category": "rents_received"}, "is an income category"),
        ({"type": "expense", "category": None}, "needs a category"),
        ({"type": "transfer", "category": None}, "needs account_id and to_account_id"),
    ],
)
def test_type_and_category_must_agree(db: Session, fields: dict[str, object], message: str) -> None:
    org = make_org(db)
    with pytest.raises(service.FinanceValidationError, match=message):
        make_transaction(db, org, **fields)  # type: ignore[arg-type]
    assert _count(db, org.id) == 0


def test_another_orgs_deal_or_account_is_not_found(db: Session) -> None:
    ours, theirs = make_org(db, "Ours"), make_org(db, "Theirs")
    their_deal = make_deal(db, theirs, strategy="flip")
    their_account = make_account(db, theirs)
    with pytest.raises(service.NotFoundError, match="Deal .* not found"):
        make_transaction(db, ours, deal_id=their_deal.id)
    with pytest.raises(service.NotFoundError, match="Account .* not found"):
        make_transaction(db, ours, account_id=their_account.id)
    assert _count(db, ours.id) == 0
    db.refresh(their_account)
    assert their_account.balance == Decimal("0.00")


def test_transaction_and_payment_events(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    make_transaction(db, org, deal_id=deal.id, amount="80.00")
    paid = make_transaction(
        db,
        org,
        type="payment",
        category="rehab_labour",
        amount="2500.00",
        deal_id=deal.id,
        counterparty="Ace Roofing",
    )
    created = _events(db, org.id, "transaction.created")
    assert len(created) == 2
    assert created[0].payload["signed_amount"] == "-80.00"
    processed = _events(db, org.id, "payment.processed")
    assert len(processed) == 1
    assert processed[0].payload["transaction_id"] == str(paid.id)
    assert processed[0].payload["amount"] == "2500.00"
    assert processed[0].payload["counterparty"] == "Ace Roofing"
    assert processed[0].payload["deal_id"] == str(deal.id)


def test_list_transactions_filters_and_pages(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    account = make_account(db, org)
    for day in range(1, 6):
        make_transaction(db, org, date=f"2024-06-0{day}", deal_id=deal.id, account_id=account.id)
    make_transaction(db, org, type="income", category="rents_received", date="2024-07-01")
    make_transaction(db, org, category="utilities", date="2024-06-15")
    page = service.list_transactions(session=db, org_id=org.id, deal_id=deal.id, limit=2, offset=1)
    assert page.total == 5
    assert [t.date.isoformat() for t in page.items] == ["2024-06-04", "2024-06-03"]
    by_category = service.list_transactions(session=db, org_id=org.id, category="utilities")
    assert by_category.total == 1
    ranged = service.list_transactions(
        session=db,
        org_id=org.id,
        start=dt.date(2024, 6, 2),
        end=dt.date(2024, 6, 30),
    )
    assert ranged.total == 5  # 06-02..06-05 and 06-15
    assert service.list_transactions(session=db, org_id=org.id, account_id=account.id).total == 5
    income = service.list_transactions(session=db, org_id=org.id, type=TransactionType.income)
    assert income.total == 1
    other_org = make_org(db, "Other")
    assert service.list_transactions(session=db, org_id=other_org.id).total == 0
