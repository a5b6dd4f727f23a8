"""The market tools called as the agent's tools node calls them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from domain.auth.enums import Role
from domain.market import alerts as alert_service
from tests.factories import listing_row, make_org, make_sold_market, make_user, run_market_scan
from tests.tools.helpers import call_tool, context_for
from tools.market import TOOLS, configure_alerts, latest_opportunities, market_trends, my_alerts


def test_every_market_tool_has_a_docstring_the_model_reads() -> None:
    assert [t.name for t in TOOLS] == [
        "latest_opportunities",
        "configure_alerts",
        "my_alerts",
        "market_trends",
    ]
    for t in TOOLS:
        assert t.description and "Args" not in t.description
        assert "runtime" not in t.args  # injected, never a model argument


def test_latest_opportunities_lists_the_orgs_opportunities_with_reasons(db: Session) -> None:
    org, other = make_org(db), make_org(db, "Rival LLC")
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500)])
    investor = make_user(db, org, role=Role.investor)
    result = call_tool(latest_opportunities, context_for(db, investor))
    assert result["count"] == 1
    (row,) = result["opportunities"]
    assert row["address"] == "1500 Subject Ave, Detroit 48201"
    assert row["list_price"] == "$45,000"
    assert row["why"] and "as-is value" in row["why"][0]
    rival = make_user(db, other, role=Role.investor)
    assert call_tool(latest_opportunities, context_for(db, rival))["count"] == 0
    # Arguments out of range are refused before the tool runs (the tools node reports it).
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        call_tool(latest_opportunities, context_for(db, investor), limit=0)


def test_configure_alerts_sets_the_callers_own_criteria(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor, phone_number="+13135550123")
    result = call_tool(
        configure_alerts,
        context_for(db, investor),
        zip_codes=["48201"],
        max_price="60000",
        quiet_hours_start="21:00",
        quiet_hours_end="07:00",
        timezone="America/Detroit",
    )
    assert result["saved"] is True
    assert result["quiet_hours"] == "21:00-07:00 America/Detroit"
    saved = alert_service.get_criteria(session=db, org_id=org.id, user_id=investor.id)
    assert saved is not None and saved.zip_codes == ["48201"]
    refused = call_tool(
        configure_alerts, context_for(db, investor), quiet_hours_start="late", quiet_hours_end="7"
    )
    assert refused == {"error": "quiet_hours_start must be a time like 21:00, not 'late'"}
    bad_zone = call_tool(configure_alerts, context_for(db, investor), timezone="Nowhere/Land")
    assert "is not a time zone" in bad_zone["error"]


def test_market_trends_reads_txhousing(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.investor)
    result = call_tool(
        market_trends, context_for(db, user), area="Austin", source="txhousing", months=3
    )
    assert result["period"] == ["2015-05", "2015-07"]
    assert [m["month"] for m in result["months"]] == ["2015-05", "2015-06", "2015-07"]
    assert "txhousing" in result["where_from"]
    unknown = call_tool(market_trends, context_for(db, user), area="Gotham", source="txhousing")
    assert "txhousing has no area 'Gotham'" in unknown["error"]


def test_my_alerts_shows_the_callers_own_settings_and_alerts_only(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy = make_user(db, org, role=Role.investor, phone_number="+13135550123")
    nobody = make_user(db, org, role=Role.investor, phone_number=None)
    olaf = make_user(db, org, role=Role.investor, phone_number="+13135550124")
    for user in (ivy, nobody):
        call_tool(configure_alerts, context_for(db, user), zip_codes=["48201"])
    run_market_scan(db, org, [listing_row(1500)])

    mine = call_tool(my_alerts, context_for(db, ivy))
    assert mine["settings"]["zip_codes"] == ["48201"] and mine["settings"]["active"] is True
    assert mine["count"] == 1
    (alert,) = mine["alerts"]
    assert (alert["address"], alert["list_price"], alert["status"]) == (
        "1500 Subject Ave, Detroit 48201",
        "$45,000",
        "queued",
    )
    assert "not_sent_because" not in alert
    (unsent,) = call_tool(my_alerts, context_for(db, nobody))["alerts"]
    assert unsent["status"] == "no_phone"
    assert unsent["not_sent_because"] == "the investor has no phone number on their account"
    # Olaf set nothing: no settings and no alerts, and never Ivy's.
    assert call_tool(my_alerts, context_for(db, olaf)) | {"source": None} == {
        "settings": None,
        "count": 0,
        "alerts": [],
        "source": None,
    }
