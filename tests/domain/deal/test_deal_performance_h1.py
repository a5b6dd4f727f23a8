"""GET /api/v1/deals/{id}/performance and the deal_performance tool: projected vs realised."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal.projection import ProjectionAssumptions
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_property,
    make_transaction,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools.deal import deal_performance

API = "/api/v1"
D = Decimal


def _flip(db: Session, org: Any, owner: Any = None) -> Any:
    deal = make_deal(
        db, org, owner=owner, strategy="flip", purchase_price=D("100000"),
        estimated_repairs=D("30000"),
    )  # fmt: skip
    for kind, category, amount, date in (
        ("expense", "purchase", "100000.00", "2024-01-10"),
        ("expense", "closing_costs", "2000.00", "2024-01-10"),
        ("expense", "rehab_labour", "20000.00", "2024-02-01"),
        ("expense", "rehab_materials", "8000.00", "2024-02-15"),
        ("refund", "rehab_materials", "500.00", "2024-02-20"),
        ("expense", "taxes", "1000.00", "2024-03-01"),
        ("payment", "mortgage_interest", "3000.00", "2024-04-01"),
        ("expense", "selling_costs", "10800.00", "2024-06-30"),
        ("income", "sale_proceeds", "180000.00", "2024-06-30"),
    ):
        make_transaction(db, org, type=kind, category=category, amount=amount, date=date,
                         deal_id=deal.id)  # fmt: skip
    return deal


def _lines(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in body["lines"]}


def test_a_sold_flip_shows_projected_and_realised_side_by_side(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = _flip(db, org)
    response = client.get(
        f"{API}/deals/{deal.id}/performance", params={"arv": "180000"},
        headers=auth_headers(db, analyst),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    projection = deal_service.deal_projection(
        session=db, org_id=org.id, deal_id=deal.id,
        assumptions=ProjectionAssumptions(arv=D("180000")),
    ).analysis  # fmt: skip
    lines = _lines(body)
    assert body["state"] == "realised" and body["period_start"] == "2024-01-10"
    # Ledger net: 180,000 − (100,000 + 2,000 + 27,500 + 1,000 + 3,000 + 10,800) = 35,700.
    assert body["ledger"]["net"] == "35700.00"
    profit = lines["profit"]
    assert profit["actual"] == "35700.00"
    assert profit["projected"] == f"{projection.profit:.2f}"  # type: ignore[union-attr]
    assert D(profit["difference"]) == D("35700.00") - projection.profit  # type: ignore[union-attr]
    rehab = lines["rehab"]
    assert (rehab["projected"], rehab["actual"], rehab["difference"]) == (
        "30000.00", "27500.00", "-2500.00",
    )  # fmt: skip
    assert rehab["difference_pct"] == "-8.3" and rehab["favourable"] is True
    assert "rehab_labour" in rehab["actual_source"]
    assert rehab["projected_source"].startswith("projection")
    assert lines["sale_price"]["actual"] == "180000.00"
    assert lines["financing_costs"]["actual"] == "3000.00"
    assert lines["selling_costs"]["actual"] == "10800.00"
    roc = {r["key"]: r for r in body["returns"]}["return_on_cost"]
    assert D(roc["actual_pct"]) == D("24.7")  # 35,700 / 144,300
    assert body["projection_sources"]["rehab_cost"] == "deal.estimated_repairs"


def test_an_unsold_flip_without_an_arv_says_what_is_missing_and_why(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org, strategy="flip", purchase_price=D("90000"),
                     estimated_repairs=D("20000"))  # fmt: skip
    make_transaction(db, org, category="purchase", amount="90000.00", deal_id=deal.id)
    response = client.get(f"{API}/deals/{deal.id}/performance", headers=auth_headers(db, analyst))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "realised so far"
    assert "needs an ARV" in body["projection_missing"]
    lines = _lines(body)
    assert lines["purchase_price"]["actual"] == "90000.00"
    assert lines["purchase_price"]["projected"] is None
    assert any("needs an ARV" in m for m in lines["purchase_price"]["missing"])
    assert lines["sale_price"]["actual"] is None
    assert any("sale_proceeds" in m for m in lines["sale_price"]["missing"])
    assert any("not sold" in item for item in body["open_items"])


def test_a_leased_rental_compares_rents_and_noi_to_date(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org, bedrooms=3, target_rent=D("1200"))
    deal = make_deal(db, org, property_id=prop.id, strategy="rental",
                     purchase_price=D("80000"), estimated_repairs=D("10000"))  # fmt: skip
    for kind, category, amount, date in (
        ("expense", "purchase", "80000.00", "2024-01-05"),
        ("expense", "repairs", "9000.00", "2024-01-20"),  # before the first rent: rehab
        ("income", "rents_received", "1200.00", "2024-03-01"),
        ("income", "rents_received", "1200.00", "2024-04-01"),
        ("expense", "repairs", "300.00", "2024-04-10"),  # after it: operating
        ("expense", "insurance", "200.00", "2024-04-15"),
    ):
        make_transaction(db, org, type=kind, category=category, amount=amount, date=date,
                         deal_id=deal.id)  # fmt: skip
    response = client.get(f"{API}/deals/{deal.id}/performance", headers=auth_headers(db, analyst))
    assert response.status_code == 200, response.text
    body = response.json()
    lines = _lines(body)
    assert body["state"] == "to date" and body["operating_start"] == "2024-03-01"
    assert lines["rehab"]["actual"] == "9000.00" and lines["rehab"]["projected"] == "10000.00"
    assert lines["rents_collected"]["actual"] == "2400.00"
    assert lines["operating_expenses"]["actual"] == "500.00"
    assert lines["noi"]["actual"] == "1900.00"
    assert lines["noi"]["projected"] is not None and lines["cash_flow"]["projected"] is not None


def test_investors_see_only_their_own_deals_and_other_orgs_get_404(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    ivy = make_user(db, org, role=Role.investor)
    olaf = make_user(db, org, role=Role.investor)
    deal = _flip(db, org, owner=ivy)
    url = f"{API}/deals/{deal.id}/performance"
    assert (
        client.get(url, params={"arv": "180000"}, headers=auth_headers(db, ivy)).status_code == 200
    )
    assert client.get(url, headers=auth_headers(db, olaf)).status_code == 404
    rival = make_user(db, make_org(db, "Rival"), role=Role.admin)
    assert client.get(url, headers=auth_headers(db, rival)).status_code == 404
    contractor = make_user(db, org, role=Role.contractor)
    assert client.get(url, headers=auth_headers(db, contractor)).status_code == 403


def test_the_tool_gives_the_comparison_as_money_strings(db: Session) -> None:
    org = make_org(db)
    ivy = make_user(db, org, role=Role.investor)
    deal = _flip(db, org, owner=ivy)
    result = call_tool(deal_performance, context_for(db, ivy), deal=str(deal.id))
    assert "error" not in result, result
    profit = {line["key"]: line for line in result["lines"]}["profit"]
    assert profit["actual"] == "$35,700"
    assert result["state"] == "realised"
    # No ARV stored: the projection is missing, and says why.
    assert "needs an ARV" in result["projection_missing"]
    olaf = make_user(db, org, role=Role.investor)
    refused = call_tool(deal_performance, context_for(db, olaf), deal=str(deal.id))
    assert "error" in refused
