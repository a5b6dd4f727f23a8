"""QA 12 (bookkeeper): a sold rental's performance, what we paid from the ledger, a refund's
category from the vendor's purchases, and the transactions CSV export."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import ExpenseCategory
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_transaction,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools.deal_questions import what_we_paid

API = "/api/v1"
D = Decimal


def _book(db: Session, org: Any, deal: Any, rows: Any) -> None:
    for kind, category, amount, date in rows:
        make_transaction(db, org, type=kind, category=category, amount=amount, date=date,
                         deal_id=deal.id)  # fmt: skip


def _close(db: Session, org: Any, deal: Any) -> None:
    for status in (DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed):
        deal_service.change_status(session=db, org_id=org.id, deal_id=deal.id, status=status)


def _lines(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in body["lines"]}


# --- 1. a rental that was sold is realised ------------------------------------------------------


def test_a_section8_rental_sold_without_rent_shows_the_realised_result(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org, strategy="section8_rental", purchase_price=D("100000"))
    _close(db, org, deal)
    _book(db, org, deal, (
        ("expense", "purchase", "100000.00", "2024-05-01"),
        ("expense", "closing_costs", "2000.00", "2024-05-01"),
        ("expense", "rehab_labour", "10000.00", "2024-06-01"),
        ("expense", "selling_costs", "9000.00", "2024-09-30"),
        ("income", "sale_proceeds", "150000.00", "2024-09-30"),
    ))  # fmt: skip
    response = client.get(f"{API}/deals/{deal.id}/performance", headers=auth_headers(db, analyst))
    assert response.status_code == 200, response.text
    body = response.json()
    lines = _lines(body)
    assert body["state"] == "realised"
    assert not any("no rent received" in item for item in body["open_items"])
    assert lines["sale_price"]["actual"] == "150000.00"
    assert lines["selling_costs"]["actual"] == "9000.00"
    assert lines["purchase_price"]["actual"] == "100000.00"
    assert lines["buy_closing_costs"]["actual"] == "2000.00"
    assert lines["rehab"]["actual"] == "10000.00"
    # 150,000 − 100,000 − 2,000 − 10,000 − 9,000, as the P&L nets it.
    assert lines["profit"]["actual"] == "29000.00" == body["ledger"]["net"]
    assert lines["profit"]["actual_source"] == "ledger P&L net (income − expenses)"
    assert "rents_collected" not in lines  # none was received: no rent lines to fill
    roc = {r["key"]: r for r in body["returns"]}["return_on_cost"]
    assert D(roc["actual_pct"]) == D("24.0")  # 29,000 / 121,000


def test_a_rental_held_then_sold_shows_rent_sale_and_profit(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org, bedrooms=3, target_rent=D("1200"))
    deal = make_deal(db, org, property_id=prop.id, strategy="rental",
                     purchase_price=D("80000"), estimated_repairs=D("10000"))  # fmt: skip
    _book(db, org, deal, (
        ("expense", "purchase", "80000.00", "2024-01-05"),
        ("expense", "rehab_materials", "9000.00", "2024-01-20"),
        ("expense", "taxes", "400.00", "2024-02-01"),  # before the first rent: holding
        ("income", "rents_received", "1200.00", "2024-03-01"),
        ("income", "rents_received", "1200.00", "2024-04-01"),
        ("expense", "repairs", "300.00", "2024-04-10"),  # after it: operating
        ("payment", "mortgage_interest", "500.00", "2024-04-15"),
        ("expense", "selling_costs", "6000.00", "2024-04-30"),
        ("income", "sale_proceeds", "110000.00", "2024-04-30"),
    ))  # fmt: skip
    response = client.get(f"{API}/deals/{deal.id}/performance", headers=auth_headers(db, analyst))
    assert response.status_code == 200, response.text
    body = response.json()
    lines = _lines(body)
    assert body["state"] == "realised" and body["operating_start"] == "2024-03-01"
    assert not any("keeps running" in item for item in body["open_items"])
    assert lines["rents_collected"]["actual"] == "2400.00"
    assert lines["operating_expenses"]["actual"] == "300.00"  # the selling costs are not opex
    assert lines["holding_costs"]["actual"] == "400.00"
    assert lines["sale_price"]["actual"] == "110000.00"
    assert lines["selling_costs"]["actual"] == "6000.00"
    # 112,400 − (80,000 + 9,000 + 400 + 300 + 500 + 6,000) = 16,200.
    assert lines["profit"]["actual"] == "16200.00" == body["ledger"]["net"]
    # The lines add up to the profit: sale − costs + cash flow from renting.
    cash = D(lines["cash_flow"]["actual"])
    costs = sum(D(lines[k]["actual"]) for k in
                ("purchase_price", "rehab", "holding_costs", "selling_costs"))  # fmt: skip
    assert D(lines["sale_price"]["actual"]) - costs + cash == D("16200.00")
    # Renting ran from the first rent to the sale: 61 days, not to today.
    assert any("61 days" in note for note in body["notes"])


# --- 2. what we paid reads the purchase booked in the ledger ------------------------------------


def test_what_we_paid_reads_the_ledger_purchase_on_a_lead_deal(db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, strategy="section8_rental", purchase_price=D("100000"))
    _book(db, org, deal, (
        ("expense", "purchase", "100000.00", "2024-05-01"),
        ("expense", "closing_costs", "2000.00", "2024-05-01"),
        ("expense", "selling_costs", "9000.00", "2024-09-30"),
        ("income", "sale_proceeds", "150000.00", "2024-09-30"),
    ))  # fmt: skip
    db.flush()
    result = call_tool(what_we_paid, context_for(db, admin), property_id=str(deal.property_id))
    assert result["basis"] == "paid", result  # was "expected": "Nothing is agreed or paid"
    assert result["purchase_price"] == "$100,000"
    assert (
        result["purchase_source"]
        == "ledger: purchase booked on the deal (1 transaction, 2024-05-01)"
    )
    assert result["all_in"] == "$102,000"
    assert result["sold_for"] == "$150,000" and result["selling_costs"] == "$9,000"
    assert result["sold_for_source"].startswith("ledger: sale_proceeds")
    assert any("still lead" in note for note in result["notes"])


def test_what_we_paid_finds_a_purchase_booked_on_a_deal_without_a_price(db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, strategy="flip")
    _book(db, org, deal, (("expense", "purchase", "95000.50", "2024-05-01"),))
    db.flush()
    result = call_tool(what_we_paid, context_for(db, admin), property_id=str(deal.property_id))
    assert result["has_price"] is True, result
    assert result["purchase_price"] == "$95,000.50" and result["deal_price"] is None
    assert result["closing_costs"] is None
    assert (
        result["closing_costs_source"] == "ledger: nothing booked under closing_costs on the deal"
    )


def test_what_we_paid_without_a_purchase_booked_says_the_price_is_the_deals(db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, strategy="flip", purchase_price=D("70000"))
    db.flush()
    result = call_tool(what_we_paid, context_for(db, admin), property_id=str(deal.property_id))
    assert result["basis"] == "expected" and result["purchase_price"] == "$70,000"
    assert result["purchase_source"].startswith("the deal's purchase price (expected")


# --- 4. a refund takes the category of the vendor's purchases -----------------------------------


def _spend(db: Session, org: Any, project: Any, amount: str, **kw: Any) -> Any:
    return construction_service.book_expense(
        session=db, org_id=org.id, project_id=project.id, amount=D(amount), **kw
    )


def test_a_refund_with_no_category_takes_the_vendors_purchase_category(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    _spend(db, org, project, "45.50", vendor="Home Depot", category=ExpenseCategory.supplies)
    _spend(db, org, project, "60.00", vendor="Home Depot", category=ExpenseCategory.supplies)
    _spend(db, org, project, "99.00", vendor="Lowe's", category=ExpenseCategory.materials)
    refund = _spend(db, org, project, "20.00", vendor="home depot", refund=True)
    assert refund.expense.category == ExpenseCategory.supplies
    assert refund.expense.amount == D("-20.00")
    assert any("supplies" in n and "purchases from home depot" in n for n in refund.notes)


def test_a_refund_from_a_vendor_bought_from_in_several_categories_keeps_the_default(
    db: Session,
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    _spend(db, org, project, "45.50", vendor="Home Depot", category=ExpenseCategory.supplies)
    _spend(db, org, project, "300.00", vendor="Home Depot", category=ExpenseCategory.permits)
    refund = _spend(db, org, project, "20.00", vendor="Home Depot", refund=True)
    assert refund.expense.category == ExpenseCategory.materials  # a store's default
    assert any("several categories (permits, supplies)" in n for n in refund.notes)
    # With nothing bought from the vendor, the default applies without a word about it.
    other = _spend(db, org, project, "5.00", vendor="Menards", refund=True)
    assert other.expense.category == ExpenseCategory.materials and other.notes == []


# --- 5. the transactions CSV export -------------------------------------------------------------


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_transactions_export_as_csv_every_matching_row_escaped(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    deal = make_deal(db, org, strategy="flip")
    for day in range(1, 61):  # more than a page (50)
        make_transaction(db, org, category="repairs", amount="10.10",
                         date=f"2024-03-{(day - 1) % 28 + 1:02d}", deal_id=deal.id)  # fmt: skip
    make_transaction(db, org, category="repairs", amount="1234.57", date="2024-03-30",
                     deal_id=deal.id, counterparty='=HYPERLINK("http://x","y")',
                     description="-2+3 @home")  # fmt: skip
    make_transaction(db, org, category="repairs", amount="5.00", date="2024-03-30")  # no deal
    response = client.get(
        f"{API}/transactions", params={"deal_id": str(deal.id), "format": "csv"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-total-count"] == "61"
    rows = _csv_rows(response.text)
    assert len(rows) == 61  # every matching row, not a page of 50
    first = rows[0]  # newest first
    assert first["counterparty"] == '\'=HYPERLINK("http://x","y")'
    assert first["description"] == "'-2+3 @home"
    assert (first["amount"], first["signed_amount"]) == ("1234.57", "-1234.57")  # not escaped
    assert sum(D(r["amount"]) for r in rows) == D("1234.57") + 60 * D("10.10")
    assert {r["deal_id"] for r in rows} == {str(deal.id)}
    # Accept: text/csv gives the same download; JSON stays a page.
    by_accept = client.get(
        f"{API}/transactions", params={"deal_id": str(deal.id)},
        headers={**headers, "Accept": "text/csv"},
    )  # fmt: skip
    assert by_accept.status_code == 200 and len(_csv_rows(by_accept.text)) == 61
    page = client.get(f"{API}/transactions", params={"deal_id": str(deal.id)}, headers=headers)
    assert page.status_code == 200 and len(page.json()) == 50


EVIL = '=HYPERLINK("http://evil.example/","x")'


def test_the_p_and_l_export_escapes_formulas_in_payee_names(
    client: TestClient, db: Session
) -> None:
    """Was: a counterparty "=HYPERLINK(...)" or "@SUM(1+1)" went into the P&L CSV as typed, a
    live formula in the spreadsheet the export is opened in."""
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org, strategy="flip")
    make_transaction(db, org, category="utilities", amount="123.45", date="2024-03-20",
                     deal_id=deal.id, counterparty=EVIL)  # fmt: skip
    make_transaction(db, org, category="repairs", amount="10.00", date="2024-03-21",
                     deal_id=deal.id, counterparty="@SUM(1+1)")  # fmt: skip
    window = {"start": "2024-01-01", "end": "2024-12-31", "format": "csv"}
    pnl = client.get(
        f"{API}/reports/pnl", params=window | {"group_by": "counterparty"}, headers=headers
    )
    assert pnl.status_code == 200, pnl.text
    keys = {row["group"] for row in _csv_rows(pnl.text)}
    assert f"'{EVIL}" in keys and "'@SUM(1+1)" in keys
    assert not any(key.startswith(("=", "@", "+", "-")) for key in keys)
