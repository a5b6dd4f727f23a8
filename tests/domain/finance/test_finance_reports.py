"""P&L, cash flow and Schedule E against hand-computed figures; CSV export; route order.

The worked ledger (``_book``): a flip (deal A) and a rental (deal B), one checking and one
savings account.

    2023-12-20  income    rents_received      1,000.00  B  (before the range)
    2023-12-28  expense   insurance             200.00  B  (before the range)
    2024-01-05  income    rents_received      1,200.00  B
    2024-01-12  expense   purchase           50,000.00  A
    2024-02-03  expense   rehab_materials     3,000.00  A
    2024-02-20  payment   rehab_labour        4,500.00  A
    2024-03-01  refund    rehab_materials       250.00  A
    2024-03-15  transfer  checking -> savings   500.00
    2024-04-05  income    rents_received      1,200.00  B
    2024-04-18  expense   repairs               350.25  B
    2024-05-30  income    sale_proceeds      72,000.00  A
    2024-06-02  expense   selling_costs       4,320.00  A
    2024-07-01  income    rents_received      1,200.00  B  (after the range)

The range is 2024-01-01 to 2024-06-30.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.finance import service
from domain.finance.enums import ReportGrouping
from tests.factories import (
    auth_headers,
    make_account,
    make_deal,
    make_org,
    make_transaction,
    make_user,
)

START, END = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
D = Decimal


def _book(db: Session) -> dict[str, Any]:
    org = make_org(db)
    flip = make_deal(db, org, strategy="flip")
    rental = make_deal(db, org, strategy="rental")
    checking = make_account(db, org, "Checking", type="checking")
    savings = make_account(db, org, "Savings", type="savings")
    rows = [
        ("2023-12-20", "income", "rents_received", "1000.00", rental),
        ("2023-12-28", "expense", "insurance", "200.00", rental),
        ("2024-01-05", "income", "rents_received", "1200.00", rental),
        ("2024-01-12", "expense", "purchase", "50000.00", flip),
        ("2024-02-03", "expense", "rehab_materials", "3000.00", flip),
        ("2024-02-20", "payment", "rehab_labour", "4500.00", flip),
        ("2024-03-01", "refund", "rehab_materials", "250.00", flip),
        ("2024-04-05", "income", "rents_received", "1200.00", rental),
        ("2024-04-18", "expense", "repairs", "350.25", rental),
        ("2024-05-30", "income", "sale_proceeds", "72000.00", flip),
        ("2024-06-02", "expense", "selling_costs", "4320.00", flip),
        ("2024-07-01", "income", "rents_received", "1200.00", rental),
    ]
    for date, kind, category, amount, deal in rows:
        make_transaction(
            db,
            org,
            type=kind,
            category=category,
            amount=amount,
            date=date,
            deal_id=deal.id,
            account_id=checking.id,
        )
    make_transaction(
        db,
        org,
        type="transfer",
        category=None,
        amount="500.00",
        date="2024-03-15",
        account_id=checking.id,
        to_account_id=savings.id,
    )
    return {"org": org, "flip": flip, "rental": rental, "checking": checking, "savings": savings}


def test_pnl_totals_by_category(db: Session) -> None:
    book = _book(db)
    report = service.pnl(session=db, org_id=book["org"].id, start=START, end=END)
    assert report.total.income == {"rents_received": D("2400.00"), "sale_proceeds": D("72000.00")}
    assert report.total.expenses == {
        "purchase": D("50000.00"),
        "rehab_labour": D("4500.00"),
        "rehab_materials": D("2750.00"),  # 3,000.00 less the 250.00 refund
        "repairs": D("350.25"),
        "selling_costs": D("4320.00"),
    }
    assert report.total.total_income == D("74400.00")
    assert report.total.total_expenses == D("61920.25")
    assert report.total.net == D("12479.75")
    assert report.groups == []


def test_pnl_by_deal_and_by_quarter(db: Session) -> None:
    book = _book(db)
    org_id = book["org"].id
    by_deal = service.pnl(session=db, org_id=org_id, start=START, end=END, group_by="deal")
    nets = {g.key: (g.total_income, g.total_expenses, g.net) for g in by_deal.groups}
    assert nets == {
        # A: 72,000 in; 50,000 + 2,750 + 4,500 + 4,320 out.
        str(book["flip"].id): (D("72000.00"), D("61570.00"), D("10430.00")),
        # B: 2 x 1,200 in; 350.25 out (December's insurance is before the range).
        str(book["rental"].id): (D("2400.00"), D("350.25"), D("2049.75")),
    }
    by_quarter = service.pnl(
        session=db, org_id=org_id, start=START, end=END, group_by=ReportGrouping.quarter
    )
    assert [(g.key, g.net) for g in by_quarter.groups] == [
        ("2024-Q1", D("-56050.00")),  # 1,200 - (50,000 + 3,000 + 4,500 - 250)
        ("2024-Q2", D("68529.75")),  # (1,200 + 72,000) - (350.25 + 4,320)
    ]
    one_deal = service.pnl(
        session=db, org_id=org_id, start=START, end=END, deal_id=book["rental"].id
    )
    assert one_deal.total.net == D("2049.75")


def test_cashflow_by_month_with_opening_and_closing(db: Session) -> None:
    book = _book(db)
    report = service.cashflow(session=db, org_id=book["org"].id, start=START, end=END)
    rows = [
        (r.key, r.opening_balance, r.inflows, r.outflows, r.net, r.closing_balance)
        for r in report.rows
    ]
    assert rows == [
        # opening 800.00 = 1,000.00 rent - 200.00 insurance in December
        ("2024-01", D("800.00"), D("1200.00"), D("50000.00"), D("-48800.00"), D("-48000.00")),
        ("2024-02", D("-48000.00"), D("0.00"), D("7500.00"), D("-7500.00"), D("-55500.00")),
        # the refund is an inflow; the transfer between own accounts is left out
        ("2024-03", D("-55500.00"), D("250.00"), D("0.00"), D("250.00"), D("-55250.00")),
        ("2024-04", D("-55250.00"), D("1200.00"), D("350.25"), D("849.75"), D("-54400.25")),
        ("2024-05", D("-54400.25"), D("72000.00"), D("0.00"), D("72000.00"), D("17599.75")),
        ("2024-06", D("17599.75"), D("0.00"), D("4320.00"), D("-4320.00"), D("13279.75")),
    ]
    assert (report.opening_balance, report.inflows, report.outflows, report.closing_balance) == (
        D("800.00"),
        D("74650.00"),
        D("62170.25"),
        D("13279.75"),
    )


def test_cashflow_of_an_account_ends_at_its_balance(db: Session) -> None:
    book = _book(db)
    org_id = book["org"].id
    through_july = dt.date(2024, 7, 31)
    checking = service.cashflow(
        session=db, org_id=org_id, start=START, end=through_july, account_id=book["checking"].id
    )
    march = next(r for r in checking.rows if r.key == "2024-03")
    assert (march.inflows, march.outflows) == (D("250.00"), D("500.00"))  # the transfer out
    db.refresh(book["checking"])
    # 13,279.75 - 500.00 transferred + 1,200.00 July rent
    assert checking.closing_balance == book["checking"].balance == D("13979.75")
    savings = service.cashflow(
        session=db, org_id=org_id, start=START, end=through_july, account_id=book["savings"].id
    )
    assert savings.closing_balance == D("500.00")


def test_cashflow_by_deal(db: Session) -> None:
    book = _book(db)
    report = service.cashflow(
        session=db, org_id=book["org"].id, start=START, end=END, group_by="deal"
    )
    rows = {
        r.key: (r.opening_balance, r.inflows, r.outflows, r.closing_balance) for r in report.rows
    }
    assert rows == {
        str(book["flip"].id): (D("0.00"), D("72250.00"), D("61820.00"), D("10430.00")),
        str(book["rental"].id): (D("800.00"), D("2400.00"), D("350.25"), D("2849.75")),
    }


def test_schedule_e_for_the_rental(db: Session) -> None:
    book = _book(db)
    summary = service.schedule_e(
        session=db, org_id=book["org"].id, year=2024, deal_id=book["rental"].id
    )
    lines = {line.line: line.amount for line in summary.lines}
    assert lines[3] == D("3600.00")  # three months of rent in 2024
    assert lines[14] == D("350.25")
    assert lines[9] == D("0.00")  # the insurance was paid in 2023
    assert summary.total_expenses == D("350.25")
    assert summary.income_or_loss == D("3249.75")


def test_end_before_start_is_refused(db: Session) -> None:
    org = make_org(db)
    try:
        service.pnl(session=db, org_id=org.id, start=END, end=START)
    except ValueError as exc:
        assert "is before start" in str(exc)
    else:
        raise AssertionError("an inverted range was accepted")


# --- the API -------------------------------------------------------------------------------


def test_investors_get_reports_of_their_own_deals_only(db: Session, client: TestClient) -> None:
    book = _book(db)
    investor = make_user(db, book["org"], role=Role.investor)
    headers = auth_headers(db, investor)
    dates = {"start": "2024-01-01", "end": "2024-06-30"}
    for path in ("/api/v1/reports/pnl", "/api/v1/reports/cashflow"):
        refused = client.get(path, params=dates, headers=headers)
        assert refused.status_code == 403, path
        assert "one of their own deals: pass deal_id" in refused.json()["detail"]
    assert client.get("/api/v1/accounts", headers=headers).status_code == 403
    # A deal they are on: its P&L; someone else's deal: not found.
    own = make_deal(db, book["org"], owner=investor)
    mine = client.get(
        "/api/v1/reports/pnl", params={**dates, "deal_id": str(own.id)}, headers=headers
    )
    assert mine.status_code == 200, mine.text
    theirs = client.get(
        "/api/v1/reports/pnl",
        params={**dates, "deal_id": str(make_deal(db, book["org"]).id)},
        headers=headers,
    )
    assert theirs.status_code == 404
    flow = client.get(
        "/api/v1/reports/cashflow", params={**dates, "deal_id": str(own.id)}, headers=headers
    )
    assert flow.status_code == 200, flow.text


def test_pnl_csv_parses_back_to_the_same_figures(db: Session, client: TestClient) -> None:
    book = _book(db)
    headers = auth_headers(db, make_user(db, book["org"], role=Role.analyst))
    response = client.get(
        "/api/v1/reports/pnl",
        params={"start": "2024-01-01", "end": "2024-06-30", "group_by": "quarter", "format": "csv"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "group",
        "start",
        "end",
        "section",
        "category",
        "schedule_e_line",
        "amount",
    ]
    total = [r for r in rows if r["group"] == "total"]
    income = sum(D(r["amount"]) for r in total if r["section"] == "income")
    expenses = sum(D(r["amount"]) for r in total if r["section"] == "expense")
    figures = {r["section"]: D(r["amount"]) for r in total}
    assert (income, expenses) == (figures["total_income"], figures["total_expenses"])
    assert figures["net"] == D("12479.75")
    rents = next(r for r in total if r["category"] == "rents_received")
    assert rents["schedule_e_line"] == "3"
    q1_net = next(r for r in rows if r["group"] == "2024-Q1" and r["section"] == "net")
    assert D(q1_net["amount"]) == D("-56050.00")


def test_cashflow_csv_by_accept_header(db: Session, client: TestClient) -> None:
    book = _book(db)
    headers = auth_headers(db, make_user(db, book["org"], role=Role.analyst))
    response = client.get(
        "/api/v1/reports/cashflow",
        params={"start": "2024-01-01", "end": "2024-06-30"},
        headers={**headers, "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["group"] for r in rows] == [
        "2024-01",
        "2024-02",
        "2024-03",
        "2024-04",
        "2024-05",
        "2024-06",
        "total",
    ]
    assert rows[-1]["opening_balance"] == "800.00"
    assert rows[-1]["closing_balance"] == rows[-2]["closing_balance"] == "13279.75"
    json_response = client.get(
        "/api/v1/reports/cashflow",
        params={"start": "2024-01-01", "end": "2024-06-30"},
        headers=headers,
    )
    assert D(json_response.json()["net"]) == D("12479.75")


def test_reports_are_scoped_and_validated(db: Session, client: TestClient) -> None:
    book = _book(db)
    stranger = make_org(db, "Stranger")
    headers = auth_headers(db, make_user(db, stranger))
    response = client.get(
        "/api/v1/reports/pnl", params={"start": "2024-01-01", "end": "2024-06-30"}, headers=headers
    )
    assert response.status_code == 200
    assert D(response.json()["total"]["net"]) == D("0")  # none of the other org's ledger
    by_their_deal = client.get(
        "/api/v1/reports/pnl", params={"deal_id": str(book["flip"].id)}, headers=headers
    )
    assert by_their_deal.status_code == 404
    inverted = client.get(
        "/api/v1/reports/cashflow",
        params={"start": "2024-06-30", "end": "2024-01-01"},
        headers=headers,
    )
    assert inverted.status_code == 422
    assert "before start" in inverted.json()["detail"]
    contractor = auth_headers(db, make_user(db, book["org"], role=Role.contractor))
    assert client.get("/api/v1/reports/pnl", headers=contractor).status_code == 403


def _report_route_indexes(app: FastAPI) -> tuple[int, int, list[int]]:
    # The OpenAPI paths come out in routing order (FastAPI walks the mounted routers in
    # order for both); app.routes no longer lists an included router's routes flat.
    paths = list(app.openapi()["paths"])
    parameterised = [i for i, path in enumerate(paths) if path.startswith("/api/v1/reports/{")]
    return (
        paths.index("/api/v1/reports/pnl"),
        paths.index("/api/v1/reports/cashflow"),
        parameterised,
    )


def test_report_routes_come_before_any_reports_id_route(db: Session, client: TestClient) -> None:
    from app import app

    pnl_at, cashflow_at, parameterised = _report_route_indexes(app)
    # The WhatsApp module's GET /reports/{reportId} is mounted, and after finance's routes.
    assert parameterised, "expected the WhatsApp module's /reports/{reportId} route"
    assert all(pnl_at < i and cashflow_at < i for i in parameterised), (
        "a /reports/{...} route is mounted before finance's /reports/pnl or /reports/cashflow"
    )
    book = _book(db)
    headers = auth_headers(db, make_user(db, book["org"], role=Role.analyst))
    response = client.get(
        "/api/v1/reports/pnl", params={"start": "2024-01-01", "end": "2024-06-30"}, headers=headers
    )
    assert response.status_code == 200
    assert D(response.json()["total"]["net"]) == D("12479.75")
    cashflow = client.get(
        "/api/v1/reports/cashflow",
        params={"start": "2024-01-01", "end": "2024-06-30"},
        headers=headers,
    )
    assert cashflow.status_code == 200
    assert [row["key"] for row in cashflow.json()["rows"]][:2] == ["2024-01", "2024-02"]
