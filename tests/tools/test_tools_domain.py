"""The tools called directly (as the tools node calls them), inside the test's transaction."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, func, select

from agent.context import Context
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentInput
from domain.property import service as property_service
from domain.property.models import Property, PropertyCreate
from tests.factories import make_deal, make_org, make_property, make_user
from tests.tools.helpers import call_tool, context_for
from tools._common import ToolError, money, run_tool
from tools.deal import change_deal_status, create_deal, list_deals, make_offer
from tools.finance import pnl
from tools.pricing import estimate_rehab
from tools.property import find_property
from tools.section8 import section8_rent
from tools.valuation import get_comps

CENTRE = (42.36, -82.98)


def _market(db: Session, org: Organisation) -> Property:
    """24 sales priced 100 $/sqft x 1.05^(condition - 5) and a subject among them."""
    for i in range(24):
        sqft, condition = 1200 + 100 * (i % 10), 4 + i % 4
        property_service.create(
            session=db,
            org_id=org.id,
            property_in=PropertyCreate(
                latitude=CENTRE[0] + 0.0005 * (i % 7),
                longitude=CENTRE[1] + 0.002 * i,
                zip_code="48215",
                square_feet=sqft,
                bedrooms=3,
                bathrooms=Decimal("1.5"),
                year_built=1950,
                condition_rating=condition,
                close_price=Decimal(round(100 * sqft * 1.05 ** (condition - 5))),
                close_date=dt.date(2023 + i // 12, i % 12 + 1, 15),
                source="test",
                source_id=uuid.uuid4().hex,
            ),
        )
    return make_property(
        db,
        org,
        address_line="14500 Kercheval Ave",
        city="Detroit",
        state="MI",
        zip_code="48215",
        latitude=CENTRE[0] + 0.001,
        longitude=CENTRE[1] + 0.011,
        square_feet=1500,
        bedrooms=3,
        bathrooms=Decimal("1.5"),
        year_built=1950,
        condition_rating=4,
    )


def test_find_property_reads_any_common_format(db: Session) -> None:
    org = make_org(db)
    ctx = context_for(db, make_user(db, org, Role.investor))
    prop = make_property(
        db, org, address_line="14500 Kercheval Ave #2", city="Detroit", state="MI", zip_code="48215"
    )
    for text in ("14500 kercheval avenue apt 2", "14500 Kercheval Ave Unit 2, Detroit MI"):
        result = call_tool(find_property, ctx, address=text)
        assert result["matches"][0]["property_id"] == str(prop.id), text
    assert "no property at" in call_tool(find_property, ctx, address="1 Nowhere Rd")["error"]
    assert "could not read" in call_tool(find_property, ctx, address="just some words")["error"]
    # Another organisation's property is never found.
    other_ctx = context_for(db, make_user(db, make_org(db, "Other"), Role.admin))
    assert "error" in call_tool(find_property, other_ctx, address="14500 Kercheval Ave #2")


def test_drop_comps_recomputes_the_reconciled_value(db: Session) -> None:
    org = make_org(db)
    ctx = context_for(db, make_user(db, org, Role.analyst))
    subject = _market(db, org)
    full = call_tool(get_comps, ctx, property_id=str(subject.id))
    assert "comps" in full, full
    assert len(full["comps"]) >= 5 and "dropped" not in full
    highest = max(
        full["comps"], key=lambda c: Decimal(c["adjusted_price"].strip("$").replace(",", ""))
    )
    fewer = call_tool(get_comps, ctx, property_id=str(subject.id), exclude=[highest["n"]])
    assert [c["n"] for c in fewer["dropped"]] == [highest["n"]]
    assert fewer["comps_kept"] == len(full["comps"]) - 1
    as_number = lambda text: Decimal(text.strip("$").replace(",", ""))  # noqa: E731
    # Leaving out the comp with the highest adjusted price can only lower the value.
    assert as_number(fewer["value_without_dropped"]) < as_number(full["value"])
    # The same arithmetic on all comps gives the valuation's own value (to the dollar).
    weights = [c["weight_pct"] for c in full["comps"]]
    logs = [math.log(float(as_number(c["adjusted_price"]))) for c in full["comps"]]
    recomputed = math.exp(sum(w * x for w, x in zip(weights, logs, strict=True)) / sum(weights))
    assert abs(recomputed - float(as_number(full["value"]))) / recomputed < 0.002
    bad = call_tool(get_comps, ctx, property_id=str(subject.id), exclude=[99])
    assert bad["error"].startswith("there is no comp 99")
    too_many = call_tool(
        get_comps, ctx, property_id=str(subject.id), exclude=list(range(1, len(full["comps"]) - 1))
    )
    assert too_many == {"error": "at least 3 comps must remain to value the property"}


def test_estimate_rehab_prices_from_the_cost_book(db: Session) -> None:
    org = make_org(db)
    ctx = context_for(db, make_user(db, org, Role.investor))
    items: list[dict[str, Any]] = [
        {"component": "furnace", "condition": "poor"},
        {"component": "windows", "condition": "poor", "quantity": 12},
        {"component": "unobtainium", "condition": "poor"},
    ]
    result = call_tool(estimate_rehab, ctx, components=items)
    expected = pricing_service.estimate_rehab(
        session=db, org_id=org.id, items=[ComponentInput(**i) for i in items]
    )
    assert result["total"] == money(expected.total)
    assert [line["component"] for line in result["line_items"]] == ["furnace", "windows"]
    assert len(result["unpriced"]) == 1 and "unobtainium" in result["unpriced"][0]


def test_section8_rent_needs_a_bedroom_count(db: Session) -> None:
    org = make_org(db)
    ctx = context_for(db, make_user(db, org, Role.investor))
    prop = make_property(db, org, address_line="1 Main St", city="Detroit", state="MI")
    result = call_tool(section8_rent, ctx, property_id=str(prop.id))
    assert result == {"error": "the property has no bedroom count: give bedrooms"}
    three = make_property(db, org, address_line="2 Main St", city="Detroit", state="MI", bedrooms=3)
    fits = call_tool(section8_rent, ctx, property_id=str(three.id), target_rent=Decimal("1400"))
    # HUD FY2024 Detroit 3-bedroom: FMR and payment standard $1,329; $1,400 is over it.
    assert (fits["fmr"], fits["payment_standard"], fits["fits_voucher"]) == (
        "$1,329",
        "$1,329",
        False,
    )


def test_team_deal_tools_open_move_and_offer(db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, Role.analyst)
    ctx = context_for(db, analyst)
    prop = make_property(db, org, address_line="77 Elm St", city="Detroit", state="MI")
    created = call_tool(create_deal, ctx, address="77 elm street", strategy="flip")
    assert created["created"] is True and created["status"] == "lead"
    moved = call_tool(change_deal_status, ctx, deal=created["deal_id"], status="analyzing")
    assert (moved["previous_status"], moved["status"]) == ("lead", "analyzing")
    offer = call_tool(make_offer, ctx, deal="77 Elm St", offer_amount=Decimal("52000"))
    assert (offer["offer_amount"], offer["offer_status"], offer["status"]) == (
        "$52,000",
        "submitted",
        "offer_made",
    )
    prefix = created["deal_id"].replace("-", "")[:8]
    listed = call_tool(list_deals, ctx)
    assert [d["deal_id"] for d in listed["deals"]] == [created["deal_id"]]
    bad = call_tool(change_deal_status, ctx, deal=prefix, status="lead")
    assert "error" in bad  # offer_made → lead is not a pipeline move
    assert prop.id is not None


def test_write_tools_refuse_an_investor_even_if_called(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, Role.investor)
    ctx = context_for(db, investor)
    make_property(db, org, address_line="77 Elm St", city="Detroit", state="MI")
    result = call_tool(create_deal, ctx, address="77 Elm St")
    assert result == {"error": "changing deals needs the role admin or analyst (you are investor)"}


def test_org_wide_pnl_is_for_the_team(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, Role.investor)
    deal = make_deal(db, org, owner=investor)
    ctx = context_for(db, investor)
    assert call_tool(pnl, ctx) == {
        "error": "say which of your deals (its id or its property's address)"
    }
    own = call_tool(pnl, ctx, deal=str(deal.id))
    assert own["deal_id"] == str(deal.id) and own["net"] == "$0"
    team = call_tool(pnl, context_for(db, make_user(db, org, Role.analyst)))
    assert team["scope"] == "the whole organisation"


def test_a_failed_tool_leaves_nothing_written(db: Session) -> None:
    org = make_org(db)
    ctx: Context = context_for(db, make_user(db, org, Role.admin))

    def half_done(session: Session) -> dict[str, str]:
        make_property(session, org, address_line="5 Half Way", city="Detroit", state="MI")
        raise ToolError("stopped halfway")

    assert run_tool(ctx, "test", half_done) == {"error": "stopped halfway"}

    def crash(session: Session) -> dict[str, str]:
        raise RuntimeError("boom")

    assert run_tool(ctx, "crashy", crash) == {
        "error": "crashy failed unexpectedly (RuntimeError); try again later"
    }
    count = db.exec(select(func.count()).select_from(Property).where(Property.org_id == org.id))
    assert count.one() == 0


def test_invalid_arguments_are_rejected_before_the_tool_runs(db: Session) -> None:
    org = make_org(db)
    ctx = context_for(db, make_user(db, org, Role.analyst))
    with pytest.raises(ValueError, match="at most 300 characters"):
        call_tool(find_property, ctx, address="9" * 301)
    with pytest.raises(ValueError, match="greater than 0"):
        call_tool(make_offer, ctx, deal="x", offer_amount=Decimal("-5"))


def test_comps_can_be_dropped_by_comp_id(db: Session) -> None:
    org = make_org(db)
    ctx = context_for(db, make_user(db, org, Role.analyst))
    subject = _market(db, org)
    full = call_tool(get_comps, ctx, property_id=str(subject.id))
    second = full["comps"][1]
    by_id = call_tool(get_comps, ctx, property_id=str(subject.id), exclude=[second["comp_id"]])
    by_number = call_tool(get_comps, ctx, property_id=str(subject.id), exclude=[2])
    assert by_id["dropped"] == by_number["dropped"] == [second]
    assert by_id["value_without_dropped"] == by_number["value_without_dropped"]
