"""Opportunities by list price: "any flips in 48201 under 40k?".

Before, the price was dropped: neither the REST list, the agent's tool nor the planner could
narrow opportunities by price, so "under 40k" listed every opportunity.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session

from agent.planner import Conversation, plan_for
from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_sold_market,
    make_user,
    run_market_scan,
)


def test_the_list_price_bounds_narrow_the_rest_list(client: TestClient, db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(
        db,
        org,
        [
            listing_row(1500, ListPrice=30000),
            listing_row(1510, ListPrice=38000),
            listing_row(1520, ListPrice=45000),
        ],
    )
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    everything = client.get("/api/v1/opportunities/latest", headers=headers)
    assert everything.status_code == 200, everything.text
    prices = sorted(Decimal(o["listing"]["list_price"]) for o in everything.json())
    assert len(prices) >= 2, "the sold market makes these cheap houses opportunities"

    cheap = client.get(
        "/api/v1/opportunities/latest", params={"max_price": "40000"}, headers=headers
    )
    assert cheap.status_code == 200, cheap.text
    got = [Decimal(o["listing"]["list_price"]) for o in cheap.json()]
    assert got and all(p <= 40000 for p in got)
    assert cheap.headers["X-Total-Count"] == str(len([p for p in prices if p <= 40000]))
    dear = client.get(
        "/api/v1/opportunities/latest", params={"min_price": "40000"}, headers=headers
    )
    assert all(Decimal(o["listing"]["list_price"]) >= 40000 for o in dear.json())
    bad = client.get("/api/v1/opportunities/latest", params={"max_price": "-1"}, headers=headers)
    assert bad.status_code == 422


def test_under_a_price_in_chat_is_the_list_price_bound(committed_db: Session) -> None:
    plan = plan_for(
        Conversation(text="any good flips in 48201 under 40k?", history=[], this_turn=[])
    )
    assert (plan.tool, dict(plan.args)) == (
        "latest_opportunities",
        {"strategy": "flip", "zip_code": "48201", "max_price": "40000"},
    )
    org = make_org(committed_db)
    make_sold_market(committed_db, org)
    run_market_scan(
        committed_db, org, [listing_row(1500, ListPrice=30000), listing_row(1520, ListPrice=45000)]
    )
    analyst = make_user(committed_db, org, Role.analyst)
    committed_db.commit()
    turn = checked_turn(analyst, "latest opportunities under 40k", f"web:{uuid.uuid4().hex}")
    [call] = turn.tool_calls
    assert call.name == "latest_opportunities" and call.args == {"max_price": "40000"}
    assert "1500 Subject Ave" in turn.reply and "1520 Subject Ave" not in turn.reply
