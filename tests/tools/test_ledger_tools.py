"""Bookkeeping in chat: booking, voiding, and closing months, called as the tools node does.

Was: the only booking tool was ``record_expense`` (a rehab project's expense), so "paid DTE
92.10 for utilities on kellogg on 10/28", "got 1,100 rent from the tenant at 825 ridgewood",
"are the october books closed?", "close october" and "void the wrong DTE charge on kellogg"
were not understood. Real database, real finance and construction services, real outbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.construction import service as construction_service
from domain.finance import service as finance_service
from domain.finance import subscribers as finance_subscribers
from domain.finance.enums import TransactionType
from domain.finance.models import Transaction
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import (
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools import TOOLS_BY_NAME, tools_for_role
from tools.finance import (
    books_status,
    close_month,
    ledger_category,
    parse_month,
    record_transaction,
    reopen_month,
    void_transaction,
)

LEDGER_TOOLS = {
    "record_transaction",
    "void_transaction",
    "books_status",
    "close_month",
    "reopen_month",
}


def _last_month() -> dt.date:
    """The first day of last month (company-local): an open, past month to book in."""
    return (local_today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@dataclass
class Books:
    admin: User
    analyst: User
    ivy: User  # an investor on the kellogg rental
    org_id: uuid.UUID
    kellogg_id: uuid.UUID  # a rental on 1215 Kellogg Ave
    ridgewood_id: uuid.UUID  # a rental on 825 Ridgewood Ave
    day: dt.date  # the 28th of last month


@pytest.fixture
def books(db: Session) -> Books:
    org = make_org(db, "Ledger Tools Co")
    admin = make_user(db, org, role=Role.admin)
    analyst = make_user(db, org, role=Role.analyst)
    ivy = make_user(db, org, role=Role.investor)
    kellogg = make_property(
        db, org, address_line="1215 Kellogg Ave", city="Detroit", state="MI", zip_code="48207"
    )
    ridgewood = make_property(
        db, org, address_line="825 Ridgewood Ave", city="Detroit", state="MI", zip_code="48207"
    )
    kellogg_deal = make_deal(db, org, owner=ivy, property_id=kellogg.id, strategy="rental")
    ridgewood_deal = make_deal(db, org, property_id=ridgewood.id, strategy="rental")
    first = _last_month()
    return Books(
        admin=admin,
        analyst=analyst,
        ivy=ivy,
        org_id=org.id,
        kellogg_id=kellogg_deal.id,
        ridgewood_id=ridgewood_deal.id,
        day=first.replace(day=28),
    )


def _rows(db: Session, org_id: uuid.UUID) -> list[Transaction]:
    db.flush()
    return list(
        db.exec(
            select(Transaction)
            .where(Transaction.org_id == org_id)
            .order_by(col(Transaction.created_at))
        ).all()
    )


def _book(db: Session, user: User, **args: Any) -> Any:
    return call_tool(record_transaction, context_for(db, user), **args)


# --- record_transaction ------------------------------------------------------------------


def test_a_utility_bill_is_booked_on_the_rental_named_by_its_bare_street(
    db: Session, books: Books
) -> None:
    result = _book(
        db,
        books.analyst,
        amount="92.10",
        category="utilities",
        deal="kellogg",
        date=books.day.isoformat(),
        counterparty="DTE",
        said="paid DTE 92.10 for utilities on kellogg",
    )
    assert "error" not in result, result
    [row] = _rows(db, books.org_id)
    assert row.type == TransactionType.expense and row.category == "utilities"
    assert row.amount == Decimal("92.10") and row.date == books.day
    assert row.deal_id == books.kellogg_id and row.counterparty == "DTE"
    assert row.created_by == books.analyst.id
    assert result["transaction"] == row.id.hex[:8]
    assert result["amount"] == "$92.10" and result["category"] == "utilities"
    assert result["date"] == books.day.isoformat() and result["type"] == "expense"
    assert result["address"].startswith("1215 Kellogg Ave")
    assert result["warning"] is None and result["possible_duplicates"] == []
    assert "$92.10" in result["summary"] and books.day.isoformat() in result["summary"]


@pytest.mark.parametrize(
    ("word", "category", "kind"),
    [
        ("rent", "rents_received", "income"),
        ("property tax", "taxes", "expense"),
        ("tax", "taxes", "expense"),
        ("taxes", "taxes", "expense"),
        ("insurance", "insurance", "expense"),
        ("management", "management_fees", "expense"),
        ("repairs", "repairs", "expense"),
        ("HOA", "other", "expense"),
        ("other", "other", "expense"),
    ],
)
def test_everyday_category_words_book_the_ledger_category_and_its_direction(
    db: Session, books: Books, word: str, category: str, kind: str
) -> None:
    result = _book(db, books.admin, amount="1100", category=word, deal="825 ridgewood")
    assert "error" not in result, result
    [row] = _rows(db, books.org_id)
    assert (row.category, row.type) == (category, kind)
    assert row.deal_id == books.ridgewood_id
    # No date said: company-local today.
    assert row.date == local_today() and result["amount"] == "$1,100"


def test_income_said_in_an_expense_category_is_refused_by_the_ledger(
    db: Session, books: Books
) -> None:
    result = _book(db, books.admin, amount="50", category="utilities", type="income")
    assert "expense category" in result["error"] or "income needs" in result["error"]
    assert _rows(db, books.org_id) == []


def test_a_closed_month_refuses_the_booking_and_says_the_month_is_closed(
    db: Session, books: Books
) -> None:
    finance_service.close_period(session=db, org_id=books.org_id, month=books.day)
    result = _book(
        db, books.analyst, amount="620", category="insurance", deal="kellogg", date=books.day
    )
    assert "closed" in result["error"] and f"{books.day:%B %Y}" in result["error"]
    assert "Not booked" in result["error"]
    # Refused, not moved to the next open month.
    assert _rows(db, books.org_id) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"category": "groceries"}, "not a ledger category"),
        ({"category": "taxes", "date": "far"}, "days ahead"),
        ({"category": "taxes", "deal": "nowhere"}, "nowhere"),
    ],
)
def test_bad_input_is_refused_with_what_is_wrong(
    db: Session, books: Books, args: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"amount": "1840", **args}
    if values.get("date") == "far":
        values["date"] = (local_today() + dt.timedelta(days=32)).isoformat()
    result = _book(db, books.admin, **values)
    assert message in result["error"], result
    assert _rows(db, books.org_id) == []


@pytest.mark.parametrize("amount", ["0", "-5", "10.005"])
def test_an_amount_not_positive_with_two_places_is_refused_by_the_schema(
    db: Session, books: Books, amount: str
) -> None:
    with pytest.raises(ValidationError, match="amount"):
        _book(db, books.admin, amount=amount, category="taxes")
    assert _rows(db, books.org_id) == []


def test_a_repeat_booking_is_booked_with_a_warning_naming_the_first(
    db: Session, books: Books
) -> None:
    args = {"amount": "92.10", "category": "utilities", "deal": "kellogg", "counterparty": "DTE"}
    first = _book(db, books.analyst, date=books.day, **args)
    again = _book(db, books.analyst, date=books.day, **args)
    assert first["warning"] is None
    assert again["possible_duplicates"] == [first["transaction"]]
    assert again["warning"].startswith("Heads up: 1 other expense(s) of $92.10")
    assert first["transaction"] in again["warning"] and again["transaction"] in again["warning"]
    assert len(_rows(db, books.org_id)) == 2


def test_booking_and_voiding_are_for_the_team_only(db: Session, books: Books) -> None:
    refused = _book(db, books.ivy, amount="1100", category="rent", deal="kellogg")
    assert "not allowed for the investor role" in refused["error"]
    voided = call_tool(void_transaction, context_for(db, books.ivy), amount="1100")
    assert "not allowed for the investor role" in voided["error"]
    assert _rows(db, books.org_id) == []
    investor = {t.name for t in tools_for_role(Role.investor)}
    assert investor & LEDGER_TOOLS == {"books_status"}
    assert LEDGER_TOOLS <= {t.name for t in tools_for_role(Role.analyst)}
    assert LEDGER_TOOLS <= set(TOOLS_BY_NAME)
    assert not LEDGER_TOOLS & {t.name for t in tools_for_role(Role.contractor)}


# --- books_status, close_month, reopen_month -----------------------------------------------


def test_an_admin_closes_asks_about_and_reopens_a_month_by_its_name(
    db: Session, books: Books
) -> None:
    ctx = context_for(db, books.admin)
    name = f"{books.day:%B}".lower()
    before = call_tool(books_status, ctx, month=name)
    assert before["closed"] is False and before["month"] == f"{books.day:%Y-%m}"
    assert before["summary"] == f"The books for {books.day:%B %Y} are open."

    closed = call_tool(close_month, ctx, month=name, note="reconciled")
    assert closed["closed"] is True and closed["month"] == f"{books.day:%Y-%m}"
    assert finance_service.closed_month(session=db, org_id=books.org_id, day=books.day)

    asked = call_tool(books_status, context_for(db, books.ivy), month=f"{books.day:%Y-%m}")
    assert asked["closed"] is True and asked["note"] == "reconciled"
    assert asked["summary"].startswith(f"The books for {books.day:%B %Y} are closed")
    listed = call_tool(books_status, ctx)
    assert listed["closed_count"] == 1
    assert [m["month"] for m in listed["closed_months"]] == [f"{books.day:%Y-%m}"]

    twice = call_tool(close_month, ctx, month=name)
    assert "already closed" in twice["error"]

    reopened = call_tool(reopen_month, ctx, month=name)
    assert reopened["closed"] is False
    assert finance_service.closed_month(session=db, org_id=books.org_id, day=books.day) is None
    again = call_tool(reopen_month, ctx, month=name)
    assert "are not closed" in again["error"]


def test_an_analyst_may_not_close_or_reopen_a_month(db: Session, books: Books) -> None:
    ctx = context_for(db, books.analyst)
    refused = call_tool(close_month, ctx, month=f"{books.day:%Y-%m}")
    assert "not allowed for the analyst role" in refused["error"]
    assert finance_service.closed_month(session=db, org_id=books.org_id, day=books.day) is None
    finance_service.close_period(session=db, org_id=books.org_id, month=books.day)
    refused = call_tool(reopen_month, ctx, month=f"{books.day:%Y-%m}")
    assert "not allowed for the analyst role" in refused["error"]
    assert finance_service.closed_month(session=db, org_id=books.org_id, day=books.day)


@pytest.mark.parametrize(
    ("said", "today", "month"),
    [
        ("october", dt.date(2026, 11, 29), dt.date(2026, 10, 1)),
        ("the october books", dt.date(2026, 11, 29), dt.date(2026, 10, 1)),
        ("november", dt.date(2026, 11, 1), dt.date(2026, 11, 1)),
        ("december", dt.date(2026, 11, 29), dt.date(2025, 12, 1)),
        ("Oct 2025", dt.date(2026, 11, 29), dt.date(2025, 10, 1)),
        ("2026-09", dt.date(2026, 11, 29), dt.date(2026, 9, 1)),
        ("9/2026", dt.date(2026, 11, 29), dt.date(2026, 9, 1)),
        ("last month", dt.date(2026, 1, 5), dt.date(2025, 12, 1)),
    ],
)
def test_a_month_is_read_as_people_say_it(said: str, today: dt.date, month: dt.date) -> None:
    assert parse_month(said, today) == month


def test_a_month_that_is_none_is_refused() -> None:
    with pytest.raises(Exception, match="not a month"):
        parse_month("octember")
    assert ledger_category("property taxes").value == "taxes"


# --- void_transaction --------------------------------------------------------------------


def _void(db: Session, user: User, **args: Any) -> Any:
    return call_tool(void_transaction, context_for(db, user), **args)


def _voids_of(db: Session, org_id: uuid.UUID, row: Transaction) -> Transaction | None:
    return finance_service.find_void(session=db, org_id=org_id, transaction_id=row.id)


def _ledger_booking(db: Session, books: Books, **fields: Any) -> Transaction:
    values: dict[str, Any] = {
        "type": "expense",
        "category": "utilities",
        "amount": "870.43",
        "date": books.day.isoformat(),
        "deal_id": books.kellogg_id,
        "counterparty": "DTE Energy",
        **fields,
    }
    return finance_service.record_transaction(
        session=db,
        org_id=books.org_id,
        transaction_in=_transaction_in(values),
    )


def _transaction_in(values: dict[str, Any]) -> Any:
    from domain.finance.models import TransactionCreate

    return TransactionCreate.model_validate(values)


def test_the_charge_described_by_payee_deal_and_amount_is_voided(db: Session, books: Books) -> None:
    wrong = _ledger_booking(db, books)
    right = _ledger_booking(db, books, amount="92.10")
    result = _void(
        db,
        books.analyst,
        counterparty="dte",
        deal="kellogg",
        amount="870.43",
        said="void the wrong DTE charge on kellogg, the 870.43 one",
    )
    assert "error" not in result, result
    reversal = _voids_of(db, books.org_id, wrong)
    assert reversal is not None and reversal.type == TransactionType.refund
    assert _voids_of(db, books.org_id, right) is None
    assert result["voided"] == wrong.id.hex[:8] and result["reversal"] == reversal.id.hex[:8]
    assert result["amount"] == "$870.43" and result["address"].startswith("1215 Kellogg Ave")
    # No reason given: the user's words are kept as the reason.
    assert result["reason"] == "void the wrong DTE charge on kellogg, the 870.43 one"
    # A second time: the voided one and its void are no longer live.
    again = _void(db, books.analyst, counterparty="dte", amount="870.43")
    assert "no live transaction matches" in again["error"]


def test_the_zillow_ad_from_a_month_is_found_by_words_of_its_description(
    db: Session, books: Books
) -> None:
    ad = _ledger_booking(
        db,
        books,
        category="advertising",
        amount="39.99",
        counterparty=None,
        description="Zillow rental ad",
        deal_id=None,
    )
    first = books.day.replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    result = _void(
        db, books.admin, counterparty="zillow", category="ad", start=first, end=last,
        reason="listed twice",
    )  # fmt: skip
    assert "error" not in result, result
    assert result["voided"] == ad.id.hex[:8] and result["reason"] == "listed twice"
    assert _voids_of(db, books.org_id, ad) is not None


def test_several_matches_are_listed_and_nothing_is_voided(db: Session, books: Books) -> None:
    one = _ledger_booking(db, books)
    two = _ledger_booking(db, books, amount="92.10", description="October bill")
    result = _void(db, books.analyst, counterparty="DTE", deal="kellogg")
    error = result["error"]
    assert error.startswith("2 transactions match; say which to void")
    assert one.id.hex[:8] in error and two.id.hex[:8] in error
    assert "$870.43" in error and "$92.10" in error and "October bill" in error
    assert books.day.isoformat() in error
    assert _voids_of(db, books.org_id, one) is None and _voids_of(db, books.org_id, two) is None
    # Then by the short id the list gave.
    chosen = _void(db, books.analyst, transaction=two.id.hex[:8], reason="wrong amount")
    assert chosen["voided"] == two.id.hex[:8]
    assert _voids_of(db, books.org_id, two) is not None


def test_nothing_matching_says_so(db: Session, books: Books) -> None:
    _ledger_booking(db, books)
    result = _void(db, books.analyst, counterparty="consumers energy")
    assert "no live transaction matches that description" in result["error"]
    unknown = _void(db, books.analyst, transaction="abcdef12")
    assert "no live transaction matches that id" in unknown["error"]
    vague = _void(db, books.analyst)
    assert "say which transaction" in vague["error"]
    assert len(_rows(db, books.org_id)) == 1


def test_a_closed_months_transaction_is_refused(db: Session, books: Books) -> None:
    row = _ledger_booking(db, books)
    finance_service.close_period(session=db, org_id=books.org_id, month=books.day)
    result = _void(db, books.analyst, transaction=str(row.id), reason="wrong")
    assert "Not voided" in result["error"] and "closed" in result["error"]
    assert _voids_of(db, books.org_id, row) is None


def _deliver_project_expenses(db: Session, org_id: uuid.UUID) -> None:
    db.flush()
    for event in db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org_id, OutboxEvent.name == "construction.expense.added"
        )
    ).all():
        finance_subscribers.book_construction_expense(
            db, Event(id=event.id, org_id=event.org_id, name=event.name, payload=event.payload)
        )
    db.flush()


def test_a_project_expenses_ledger_row_is_refused_naming_the_project_expense(
    db: Session, books: Books
) -> None:
    project = make_project(db, _org(db, books), deal_id=books.kellogg_id)
    booked = construction_service.book_expense(
        session=db,
        org_id=books.org_id,
        project_id=project.id,
        amount=Decimal("870.43"),
        line="roof",
        vendor="DTE",
        spent_on=books.day,
    )
    _deliver_project_expenses(db, books.org_id)
    [row] = [r for r in _rows(db, books.org_id) if r.source_event_id is not None]
    assert row.amount == Decimal("870.43")
    result = _void(db, books.analyst, counterparty="dte", amount="870.43")
    error = result["error"]
    assert f"project expense {booked.expense.id.hex[:8]}" in error
    assert "say 'void expense" in error and project.id.hex[:8] in error
    assert "nothing was voided" in error
    assert _voids_of(db, books.org_id, row) is None


def _org(db: Session, books: Books) -> Any:
    from domain.auth.models import Organisation

    org = db.get(Organisation, books.org_id)
    assert org is not None
    return org


def test_an_insurance_refund_is_money_back_on_the_rental_from_the_payee(
    db: Session, books: Books
) -> None:
    """'state farm refunded 110 on duff for the insurance' was booked on another house's rehab."""
    result = _book(
        db, books.analyst, amount="110", category="insurance", type="refund", deal="kellogg",
        counterparty="State Farm", said="state farm refunded 110 on kellogg for the insurance",
    )  # fmt: skip
    assert "error" not in result, result
    [row] = _rows(db, books.org_id)
    assert row.type == TransactionType.refund and row.category == "insurance"
    assert row.deal_id == books.kellogg_id
    assert "refund from State Farm on 1215 Kellogg Ave" in result["summary"]


def test_the_month_in_progress_is_not_closed_without_a_reason(db: Session, books: Books) -> None:
    """Was: "close november" on November 29 closed it, and today's project expenses were then
    promised to the ledger on December 1."""
    ctx = context_for(db, books.admin)
    this_month = local_today().replace(day=1)
    name = f"{this_month:%Y-%m}"
    refused = call_tool(close_month, ctx, month=name)
    assert "is not over yet" in refused["error"]
    assert finance_service.closed_month(session=db, org_id=books.org_id, day=this_month) is None
    early = call_tool(close_month, ctx, month=name, note="year-end audit")
    assert early["closed"] is True
