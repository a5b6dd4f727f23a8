"""Three lists that answered every row now page: P&L groups, a deal's timeline, a WhatsApp chat.

Each is an object (the report, the timeline, the conversation) with an envelope's fields:
``items`` (the page; the old name ``groups``/``entries``/``messages`` holds the same page),
``limit``, ``offset`` and a count over all pages. The P&L's ``total`` stays the P&L of every
group, never of the page; its number of groups is ``group_count``. Callers that need every row
(the agent's P&L tool, the CSV download) get them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.deal import service as deal_service
from domain.deal.enums import DealEventKind
from domain.finance import service as finance_service
from domain.whatsapp import service as whatsapp_service
from tests.factories import (
    auth_headers,
    make_account,
    make_deal,
    make_org,
    make_transaction,
    make_user,
)

VENDORS = 105  # over the default page of 100
PNL = "/api/v1/reports/pnl"
RANGE = {"start": "2024-01-01", "end": "2024-12-31"}
PHONE = "+13135550177"


def _headers(db: Session, org: Organisation, role: Role = Role.admin) -> dict[str, str]:
    return auth_headers(db, make_user(db, org, role=role))


def _book_vendors(db: Session, org: Organisation) -> None:
    """One $1.00 expense to each of VENDORS payees, and a $500.00 rent income."""
    account = make_account(db, org)
    for n in range(VENDORS):
        make_transaction(
            db,
            org,
            amount="1.00",
            date="2024-03-01",
            counterparty=f"Vendor {n:03d}",
            account_id=account.id,
        )
    make_transaction(
        db,
        org,
        type="income",
        category="rents_received",
        amount="500.00",
        date="2024-03-02",
        counterparty="Tenant",
        account_id=account.id,
    )


# --- P&L ---------------------------------------------------------------------------------


def test_pnl_by_counterparty_pages_its_groups_and_totals_every_group(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    _book_vendors(db, org)
    headers = _headers(db, org)
    params = {**RANGE, "group_by": "counterparty"}

    first = client.get(PNL, params=params, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (len(body["items"]), body["group_count"], body["limit"], body["offset"]) == (
        100,
        VENDORS + 1,
        100,
        0,
    )
    assert body["groups"] == body["items"]
    # The totals are the whole report's, not the page's.
    assert body["total"]["total_expenses"] == "105.00"
    assert body["total"]["total_income"] == "500.00"
    assert body["total"]["transaction_count"] == VENDORS + 1

    second = client.get(PNL, params={**params, "offset": 100}, headers=headers).json()
    assert len(second["items"]) == VENDORS + 1 - 100
    assert second["total"] == body["total"]
    keys = [g["key"] for g in body["items"] + second["items"]]
    assert keys == sorted({*(f"Vendor {n:03d}" for n in range(VENDORS)), "Tenant"})

    past_the_end = client.get(PNL, params={**params, "offset": 500}, headers=headers).json()
    assert past_the_end["items"] == [] and past_the_end["group_count"] == VENDORS + 1


def test_pnl_by_deal_pages_in_key_order(client: TestClient, db: Session) -> None:
    org = make_org(db)
    account = make_account(db, org)
    deals = [make_deal(db, org, strategy="flip") for _ in range(3)]
    for n, deal in enumerate(deals, start=1):
        make_transaction(
            db, org, amount=f"{n}00.00", date="2024-02-01", deal_id=deal.id, account_id=account.id
        )
    headers = _headers(db, org)
    params: dict[str, str | int] = {**RANGE, "group_by": "deal", "limit": 2}

    first = client.get(PNL, params=params, headers=headers).json()
    rest = client.get(PNL, params={**params, "offset": 2}, headers=headers).json()
    assert [len(first["items"]), len(rest["items"])] == [2, 1]
    assert first["group_count"] == rest["group_count"] == 3
    keys = [g["key"] for g in first["items"] + rest["items"]]
    assert keys == sorted(str(d.id) for d in deals)
    assert all(g["address"] for g in first["items"] + rest["items"])
    assert first["total"]["total_expenses"] == rest["total"]["total_expenses"] == "600.00"


def test_pnl_csv_and_the_service_without_a_limit_keep_every_group(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    _book_vendors(db, org)
    response = client.get(
        PNL,
        params={**RANGE, "group_by": "counterparty", "format": "csv"},
        headers=_headers(db, org),
    )
    assert response.status_code == 200
    groups = {row["group"] for row in csv.DictReader(io.StringIO(response.text))}
    assert len(groups) == VENDORS + 2  # every counterparty, and the "total" group

    # The agent's P&L tool calls the service without a limit: every group, as before.
    report = finance_service.pnl(
        session=db,
        org_id=org.id,
        start=dt.date(2024, 1, 1),
        end=dt.date(2024, 12, 31),
        group_by="counterparty",
    )
    assert len(report.groups) == report.group_count == VENDORS + 1
    assert report.limit is None
    assert report.total.total_expenses == Decimal("105.00")


# --- the deal timeline -------------------------------------------------------------------


def test_the_timeline_pages_oldest_first_without_repeating_an_entry(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for n in range(110):
        # Pairs share an instant: their recorded order breaks the tie.
        deal_service.record_event(
            session=db,
            deal=deal,
            kind=DealEventKind.updated,
            summary=f"note {n:03d}",
            actor="system",
            occurred_at=start + dt.timedelta(minutes=n // 2),
        )
    headers = _headers(db, org)
    url = f"/api/v1/deals/{deal.id}/timeline"
    everything = deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id)
    assert everything.total == len(everything.entries) >= 111

    first = client.get(url, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (len(body["items"]), body["total"], body["limit"], body["offset"]) == (
        100,
        everything.total,
        100,
        0,
    )
    assert body["entries"] == body["items"]
    rest = client.get(url, params={"offset": 100}, headers=headers).json()
    assert len(rest["items"]) == everything.total - 100
    summaries = [e["summary"] for e in body["items"] + rest["items"]]
    assert summaries == [e.summary for e in everything.entries]
    notes = [s for s in summaries if s.startswith("note ")]
    assert notes == [f"note {n:03d}" for n in range(110)]  # oldest first, ties in order
    instants = [e["at"] for e in body["items"] + rest["items"]]
    assert instants == sorted(instants)


# --- the WhatsApp conversation -----------------------------------------------------------


def test_the_conversation_pages_back_from_the_newest_message(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    conversation = whatsapp_service.get_or_create_conversation(
        session=db, org_id=org.id, phone_number=PHONE
    )
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    stored = []
    for n in range(VENDORS):
        message = whatsapp_service.queue_reply(
            session=db, conversation=conversation, body=f"message {n:03d}", key=f"paging-{n}"
        )
        message.created_at = start + dt.timedelta(seconds=n // 3)  # threes share a timestamp
        db.add(message)
        stored.append(message)
    db.flush()
    # Oldest first; messages sharing a timestamp by id (the tie-breaker).
    every = [m.content for m in sorted(stored, key=lambda m: (m.created_at, m.id))]
    headers = _headers(db, org, Role.analyst)
    url = f"/api/v1/conversations/{PHONE}"

    newest = client.get(url, headers=headers)
    assert newest.status_code == 200, newest.text
    body = newest.json()
    assert (len(body["items"]), body["total"], body["limit"], body["offset"]) == (
        100,
        VENDORS,
        100,
        0,
    )
    assert body["messages"] == body["items"]
    older = client.get(url, params={"offset": 100}, headers=headers).json()
    assert len(older["items"]) == VENDORS - 100

    def contents(page: dict[str, Any]) -> list[str]:
        return [m["content"] for m in page["items"]]

    # Each page oldest first; the earlier page before the newer one: the whole chat, once.
    assert contents(older) == every[:5]
    assert contents(body) == every[5:]

    small = client.get(url, params={"limit": 2, "offset": 1}, headers=headers).json()
    assert contents(small) == every[-3:-1]


# --- bad paging is a 422 everywhere ------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"offset": -1},
        {"offset": 1_000_000_001},
    ],
)
def test_bad_limit_or_offset_is_a_422(
    client: TestClient, db: Session, query: dict[str, Any]
) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    whatsapp_service.get_or_create_conversation(session=db, org_id=org.id, phone_number=PHONE)
    headers = _headers(db, org)
    for url in (PNL, f"/api/v1/deals/{deal.id}/timeline", f"/api/v1/conversations/{PHONE}"):
        response = client.get(url, params=query, headers=headers)
        assert response.status_code == 422, (url, query, response.text)
        name = next(iter(query))
        errors = [d for d in response.json()["detail"] if d["loc"] == ["query", name]]
        assert errors, url
        # A bound of the parameter, not the guard's refusal of a parameter it does not know.
        assert not any("Unknown query parameter" in d["msg"] for d in errors), errors
        edge = client.get(url, params={"limit": 500, "offset": 1_000_000_000}, headers=headers)
        assert edge.status_code == 200, (url, edge.text)
