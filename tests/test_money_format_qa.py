"""Money in API responses is a decimal string with two places, the same from a write as a read.

Was (REST QA): ``POST /valuations/calculate`` answered ``value "139831"`` while ``GET
/properties/{id}/valuation`` read back ``"139831.00"``; comps' prices and adjustments, market
volumes and medians (``"11184429.0"``), opportunity figures (``"99300"``), the analysis's and
projection's dollar assumptions (``"25000"``, ``"200000"``) had no cents. And ``GET
/market/analysis?zip_code=...`` was refused with "give a zip_code or a neighborhood" though the
parameter is ``zip``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from core.money import format_money_keys, money_str
from domain.auth.enums import Role
from tests.factories import (
    auth_headers,
    listing_row,
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
    run_market_scan,
)

API = "/api/v1"
CENTS = re.compile(r"^-?\d+\.\d{2}$")


def _cents(value: Any, where: str) -> None:
    assert isinstance(value, str) and CENTS.match(value), f"{where}: {value!r}"


def _comps_have_cents(comps: list[dict[str, Any]], where: str) -> None:
    assert comps, where
    for comp in comps:
        for key in ("sale_price", "adjusted_price", "net_adjustment", "gross_adjustment"):
            _cents(comp[key], f"{where} {key}")
        assert comp["lines"], where
        for line in comp["lines"]:
            _cents(line["amount"], f"{where} line {line['line']}")


def _setup(db: Session) -> tuple[Any, Any, dict[str, str]]:
    org = make_org(db, "Money Format Org")
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    return org, subject, headers


def test_money_str_and_keys() -> None:
    assert money_str(Decimal("139831")) == "139831.00"
    assert money_str(Decimal("1E+5")) == "100000.00"
    assert money_str(Decimal("-2315")) == "-2315.00"
    assert money_str(Decimal("-0.001")) == "0.00"
    assert money_str(Decimal("0.005")) == "0.01"
    data = {"a": {"amount": "99300", "note": "x"}, "amount": None, "list": [{"amount": 5}]}
    assert format_money_keys(data, ["amount"]) == {
        "a": {"amount": "99300.00", "note": "x"},
        "amount": None,
        "list": [{"amount": "5.00"}],
    }


def test_a_valuation_reads_back_as_it_was_written(client: TestClient, db: Session) -> None:
    _, subject, headers = _setup(db)
    written = {}
    for path in ("/valuations/calculate", "/valuations/arv"):
        response = client.post(
            f"{API}{path}", json={"property_id": str(subject.id)}, headers=headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        for key in ("value", "low", "high"):
            _cents(body[key], f"{path} {key}")
        for key in ("value", "low", "high"):
            _cents(body["inputs"]["reconciliation"][key], f"{path} reconciliation {key}")
        _comps_have_cents(body["comps"], path)
        written[body["id"]] = body

    history = client.get(f"{API}/properties/{subject.id}/valuation", headers=headers).json()
    assert {v["id"] for v in history} == set(written)
    for read in history:
        wrote = written[read["id"]]
        assert {k: read[k] for k in ("value", "low", "high", "comps", "inputs")} == {
            k: wrote[k] for k in ("value", "low", "high", "comps", "inputs")
        }

    summary = client.get(f"{API}/valuations/{subject.id}", headers=headers).json()
    for read in summary["history"]:
        _comps_have_cents(read["comps"], "/valuations/{pid} history")
        assert read["value"] == written[read["id"]]["value"]


def test_comps_have_cents(client: TestClient, db: Session) -> None:
    _, subject, headers = _setup(db)
    for response in (
        client.post(
            f"{API}/comparables/analyze", json={"property_id": str(subject.id)}, headers=headers
        ),
        client.get(f"{API}/properties/{subject.id}/comps", headers=headers),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        for key in ("value", "low", "high"):
            _cents(body[key], key)
        _comps_have_cents(body["comps"], str(response.url))


def test_market_analysis_and_trends_have_cents(client: TestClient, db: Session) -> None:
    _, subject, headers = _setup(db)
    # A valuation brings the organisation's comp index (the market's sales) up to date.
    assert client.get(f"{API}/properties/{subject.id}/comps", headers=headers).status_code == 200
    response = client.get(f"{API}/market/analysis", params={"zip": "48201"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sales"] > 0
    for key in ("total_volume", "median_price", "median_price_per_sqft"):
        _cents(body[key], key)
    for month in body["trend"]:
        _cents(month["median_price"], "trend median_price")
        _cents(month["dollar_volume"], "trend dollar_volume")
    # Each month's sale dollars (was missing: null in every month of /market/trends).
    assert sum(Decimal(m["dollar_volume"]) for m in body["trend"]) == Decimal(body["total_volume"])

    # zip_code (the name the body echoes) works too.
    same = client.get(f"{API}/market/analysis", params={"zip_code": "48201"}, headers=headers)
    assert same.status_code == 200, same.text
    assert same.json()["total_volume"] == body["total_volume"]

    trends = client.get(
        f"{API}/market/trends", params={"area": "48201", "source": "sales"}, headers=headers
    )
    assert trends.status_code == 200, trends.text
    months = [m for m in trends.json()["months"] if m["median_price"] is not None]
    assert months
    for month in months:
        _cents(month["median_price"], "trends median_price")
        _cents(month["dollar_volume"], "trends dollar_volume")
    _cents(trends.json()["inputs"]["total_volume"], "trends total_volume")


def test_market_analysis_names_the_real_parameter(client: TestClient, db: Session) -> None:
    _, _, headers = _setup(db)
    response = client.get(f"{API}/market/analysis", headers=headers)
    assert response.status_code == 422
    assert "zip" in response.json()["detail"] and "zip_code" not in response.json()["detail"]
    both = client.get(
        f"{API}/market/analysis", params={"zip": "48201", "zip_code": "50010"}, headers=headers
    )
    assert both.status_code == 422 and "one of them" in both.json()["detail"]


def test_opportunity_figures_have_cents(client: TestClient, db: Session) -> None:
    org, _, headers = _setup(db)
    run_market_scan(db, org, [listing_row(1500, OriginalListPrice=99300, ListPrice=45000)])
    db.commit()
    response = client.get(f"{API}/opportunities/latest", headers=headers)
    assert response.status_code == 200, response.text
    [opportunity] = response.json()
    details = opportunity["details"]
    for name, figure in details["figures"].items():
        if isinstance(figure, dict) and "amount" in figure:
            _cents(figure["amount"], f"figure {name}")
    cuts = next(c for c in details["components"] if c["name"] == "price_cuts")
    _cents(cuts["inputs"]["original_price"], "original_price")
    _cents(cuts["inputs"]["list_price"], "list_price")
    _cents(details["underwriting"]["thresholds"]["flip_min_profit"], "flip_min_profit")
    listing = opportunity["listing"]
    _cents(listing["list_price"], "listing list_price")
    _cents(listing["property_data"]["original_list_price"], "original_list_price")
    for price in listing["property_data"]["price_by_source"].values():
        _cents(price, "price_by_source")


def test_analysis_and_projection_assumptions_have_cents(client: TestClient, db: Session) -> None:
    org, subject, headers = _setup(db)
    response = client.post(f"{API}/properties/{subject.id}/analysis", json={}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    _cents(body["thresholds"]["flip_min_profit"], "flip_min_profit")
    _cents(body["assumptions"]["utilities_while_holding_monthly"], "utilities")
    _cents(body["flip"]["inputs"]["target_profit"], "flip target_profit")
    _cents(body["flip"]["inputs"]["buy_closing_cost"], "flip buy_closing_cost")
    _cents(body["max_offer"]["amount"], "max_offer")
    _cents(body["subject"]["list_price"], "list_price")
    assert body["assumptions"]["mao_rule_pct"] == "70"  # percentages stay as they are

    deal = make_deal(
        db,
        org,
        property_id=subject.id,
        strategy="wholesale",
        purchase_price=Decimal("45000"),
        estimated_repairs=Decimal("30000"),
    )
    db.commit()
    projection = client.get(
        f"{API}/projections/{deal.id}", params={"arv": "200000"}, headers=headers
    )
    assert projection.status_code == 200, projection.text
    body = projection.json()
    for key in ("arv", "assignment_fee", "target_profit", "wholesale_costs"):
        _cents(body["assumptions"][key], f"assumptions {key}")
    _cents(body["analysis"]["inputs"]["arv"], "analysis inputs arv")
    _cents(body["arv_source"]["value"], "arv_source value")


def test_a_rent_estimate_without_rent_monthly_is_refused(client: TestClient, db: Session) -> None:
    """Was 201 and then ignored: the analysis reads only ``rent_monthly``."""
    org, subject, headers = _setup(db)
    path = f"{API}/properties/{subject.id}/market-data"
    bad = client.post(
        path, json={"data_type": "rent_estimate", "value": {"monthly_rent": 1400}}, headers=headers
    )
    assert bad.status_code == 422 and "rent_monthly" in bad.text, bad.text
    good = client.post(
        path, json={"data_type": "rent_estimate", "value": {"rent_monthly": 1400}}, headers=headers
    )
    assert good.status_code == 201, good.text
    assert org is not None
