"""QA pass 9 of the market monitor (WhatsApp investor): what the monitor sees reaches the rest.

- a price cut (and a status change) a scan sees updates the property record too;
- analysing a monitored house does not change its opportunity score (Section 8 fit kept);
- a held alert goes out with the figures of when it is sent, not of when it was held;
- the address an alert gives can be analysed by text (the opportunity has a property record);
- alert criteria default to the company's time zone, and a save that leaves the time zone
  out keeps the saved one (it never becomes UTC);
- one money formatting (half up) in alerts, scores and chat, and sums that add up;
- "market trends ... over the last 200 months" is capped at 120 with a plain answer, and an
  empty trend names its period and points to the monitored listings;
- "my alerts" says when a held alert goes out in the investor's own time zone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from agent.planner import reply_for
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.enums import AlertStatus, ListingSource
from domain.market.models import (
    AlertCriteria,
    AlertCriteriaIn,
    MarketAlert,
    Opportunity,
    TrackedListing,
)
from domain.market.scoring import Figure, ListingFacts, ScoreInputs, score_listing
from domain.property.models import Property
from domain.whatsapp import service as whatsapp_service
from store.base import utcnow
from store.outbox import OutboxEvent, publish
from tests.agent.turns import checked_turn
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_property,
    make_sold_market,
    make_user,
    principal_for,
    run_market_scan,
)
from tests.tools.helpers import call_tool, context_for
from tools.market import configure_alerts, market_trends, my_alerts

DETROIT = ZoneInfo("America/Detroit")


def _listing(db: Session, org: Organisation) -> TrackedListing:
    return db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).one()


def _opportunity(db: Session, org: Organisation) -> Opportunity:
    return db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).one()


def _investor(db: Session, org: Organisation, phone: str = "+13135550191") -> User:
    return make_user(db, org, role=Role.investor, phone_number=phone)


def _quiet_now(db: Session, user: User, **values: object) -> AlertCriteria:
    """Criteria whose quiet hours cover the next two hours in Detroit."""
    local = utcnow().astimezone(DETROIT)
    return alert_service.configure_alerts(
        session=db,
        org_id=user.org_id,
        principal=principal_for(user),
        criteria_in=AlertCriteriaIn(
            quiet_hours_start=(local - dt.timedelta(hours=1))
            .time()
            .replace(second=0, microsecond=0),
            quiet_hours_end=(local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0),
            timezone="America/Detroit",
            **values,  # type: ignore[arg-type]
        ),
    )


# --- 1. the property record follows the listing ---------------------------------------------


def test_a_price_cut_and_a_sale_the_monitor_sees_reach_the_property_record(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_property(
        db,
        org,
        address_line="1500 Subject Avenue",
        city="Detroit",
        state="MI",
        zip_code="48201",
        list_price=Decimal("58000"),
        status="active",
    )
    run_market_scan(db, org, [listing_row(1500, ListPrice=58000)])
    cut = run_market_scan(db, org, [listing_row(1500, ListPrice=52000)])
    assert cut.counts["price_cuts"] == 1
    db.refresh(prop)
    assert prop.list_price == Decimal("52000.00")  # chat, REST and PDF read this
    updates = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "property.updated"
        )
    ).all()
    assert any(
        e.payload["property_id"] == str(prop.id)
        and Decimal(e.payload["changes"]["list_price"]["from"]) == Decimal("58000")
        and Decimal(e.payload["changes"]["list_price"]["to"]) == Decimal("52000")
        for e in updates
    ), [e.payload for e in updates]
    run_market_scan(db, org, [listing_row(1500, ListPrice=52000, StandardStatus="Pending")])
    db.refresh(prop)
    assert str(prop.status) == "pending"
    # Another organisation's house at the same address is never touched.
    other = make_org(db, "Rival LLC")
    theirs = make_property(
        db, other, address_line="1500 Subject Ave", city="Detroit", state="MI", zip_code="48201"
    )
    run_market_scan(db, org, [listing_row(1500, ListPrice=50000, StandardStatus="Pending")])
    db.refresh(theirs)
    assert theirs.list_price is None


# --- 2. the score does not depend on who asked ----------------------------------------------


def test_analysing_a_monitored_house_keeps_its_section8_points_and_score(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)  # Detroit comps and a Section 8 rent
    make_property(
        db, org, address_line="1500 Subject Ave", city="Detroit", state="MI", zip_code="48201"
    )
    run_market_scan(db, org, [listing_row(1500)])
    listing = _listing(db, org)
    before = listing.score
    figures = listing.score_details["figures"]
    fit = next(c for c in listing.score_details["components"] if c["name"] == "section8_fit")
    assert fit["points"] is not None
    # The analysis found the same figures the monitor used, the Section 8 rent included.
    payload = {
        "property_id": str(_property_of(db, org, listing).id),
        "as_is_value": figures["as_is_value"]["amount"],
        "arv": figures["arv"]["amount"],
        "rehab_total": figures["rehab"]["amount"],
        "rent_monthly": figures["rent"]["amount"],
    }
    event_id = publish(db, org_id=org.id, name="analysis.completed", payload=payload)
    market_service.apply_analysis(
        session=db,
        org_id=org.id,
        property_id=uuid.UUID(payload["property_id"]),
        payload=payload,
        event_id=event_id,
    )
    db.refresh(listing)
    after = next(c for c in listing.score_details["components"] if c["name"] == "section8_fit")
    assert after["points"] == fit["points"], after["explanation"]
    assert "no Section 8 rent" not in after["explanation"]
    assert listing.score == before


def _property_of(db: Session, org: Organisation, listing: TrackedListing) -> Property:
    """The organisation's property at the listing's address."""
    return db.exec(
        select(Property).where(
            Property.org_id == org.id, Property.address_key == listing.address_key
        )
    ).one()


# --- 3. held alerts say the figures of when they go out ---------------------------------------


def test_a_held_alert_is_sent_with_the_figures_of_when_it_goes_out(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    investor = _investor(db, org)
    _quiet_now(db, investor, zip_codes=["48201"])
    run_market_scan(db, org, [listing_row(1500)])
    (alert,) = db.exec(select(MarketAlert).where(MarketAlert.user_id == investor.id)).all()
    assert alert.status == AlertStatus.held and "listed at $45,000" in alert.message
    # Re-scored while it waited (a price cut).
    run_market_scan(db, org, [listing_row(1500, ListPrice=43000)])
    opp = _opportunity(db, org)
    assert alert.send_after is not None
    released = alert_service.release_held_alerts(
        session=db, now=alert.send_after + dt.timedelta(minutes=1)
    )
    assert released == 1
    db.refresh(alert)
    assert alert.status == AlertStatus.queued
    (entry,) = whatsapp_service.list_outbox(session=db, org_id=org.id)
    assert entry.body is not None
    assert "listed at $43,000" in entry.body and "$45,000" not in entry.body
    assert f"score {opp.score}/100" in entry.body


# --- 4. the address an alert gives can be analysed --------------------------------------------


def test_texting_the_address_from_an_alert_gives_the_analysis(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    investor = _investor(db, org, phone="+13135550192")
    db.commit()
    run_market_scan(db, org, [listing_row(1500)])
    db.commit()
    listing = _listing(db, org)
    prop = _property_of(db, org, listing)
    assert (prop.source, prop.source_id, prop.list_price) == ("mls", "L-1500", Decimal("45000.00"))
    assert (prop.square_feet, prop.bedrooms) == (1500, 3)
    db.commit()  # no transaction of ours open while the turn runs

    turn = checked_turn(
        investor, "1500 Subject Ave, Detroit, MI 48201", f"whatsapp:{uuid.uuid4().hex[:12]}"
    )
    assert "is on file" not in turn.reply, turn.reply
    assert "$45,000" in turn.reply, turn.reply


def test_a_listing_that_is_no_opportunity_gets_no_property_record(db: Session) -> None:
    org = make_org(db)  # no sold market: nothing to value it with, so no opportunity
    run_market_scan(db, org, [listing_row(1500)])
    assert db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).all() == []
    assert db.exec(select(Property).where(Property.org_id == org.id)).all() == []


# --- 5. one time zone default; quiet hours are not wiped --------------------------------------


def test_alert_criteria_default_to_the_company_time_zone_and_never_move_to_utc(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor = _investor(db, org, phone="+13135550193")
    url = "/api/v1/alerts/configure"
    quiet = {"quiet_hours_start": "21:00", "quiet_hours_end": "07:00"}
    headers = auth_headers(db, investor)
    first = client.post(url, json={"zip_codes": ["48201"], **quiet}, headers=headers)
    assert first.status_code == 200, first.text
    # Quiet hours without a zone are the company's hours, as the chat saves them.
    assert first.json()["timezone"] == "America/Detroit"
    chicago = client.post(url, json={**quiet, "timezone": "America/Chicago"}, headers=headers)
    assert chicago.json()["timezone"] == "America/Chicago"
    # A save that leaves the zone out replaces the criteria (documented) but keeps the zone.
    again = client.post(url, json={"zip_codes": ["48215"], **quiet}, headers=headers).json()
    assert (again["zip_codes"], again["quiet_hours_start"], again["timezone"]) == (
        ["48215"],
        "21:00:00",
        "America/Chicago",
    )
    bare = client.post(url, json={"zip_codes": ["48215"]}, headers=headers).json()
    assert (bare["quiet_hours_start"], bare["timezone"]) == (None, "America/Chicago")
    # The chat tool leaves the zone out unless the investor names one: kept as well.
    result = call_tool(
        configure_alerts,
        context_for(db, investor),
        zip_codes=["48201"],
        quiet_hours_start="22:00",
        quiet_hours_end="06:00",
    )
    assert result["quiet_hours"] == "22:00-06:00 America/Chicago"
    # A new investor's criteria saved by the chat are in the company's zone.
    other = _investor(db, org, phone="+13135550197")
    fresh = call_tool(
        configure_alerts,
        context_for(db, other),
        zip_codes=["48201"],
        quiet_hours_start="22:00",
        quiet_hours_end="06:00",
    )
    assert fresh["quiet_hours"] == "22:00-06:00 America/Detroit"


# --- 6. one money format ------------------------------------------------------------------------


def test_alerts_scores_and_chat_round_money_the_same_way_and_sums_add_up() -> None:
    result = score_listing(
        ScoreInputs(
            listing=ListingFacts(list_price=Decimal("62000")),
            as_is=Figure(Decimal("90000"), "test"),
            arv=Figure(Decimal("141985"), "test"),
            rehab=Figure(Decimal("13832.50"), "test"),
        ),
        underwrite=False,
    )
    spread = next(c for c in result.components if c.name == "arv_spread")
    assert "ARV $141,985 - price $62,000 - rehab $13,833 = $66,152," in spread.explanation
    opp = Opportunity(
        org_id=uuid.uuid4(),
        listing_id=uuid.uuid4(),
        score=Decimal("80"),
        rehab_estimate=Decimal("13832.50"),
        as_is_value=Decimal("90000.50"),
        arv=Decimal("141985"),
        details={},
    )
    listing = TrackedListing(
        org_id=opp.org_id,
        source=ListingSource.mls,
        external_id="L-1",
        address={},
        address_line="2310 Duff Ave",
        city="Ames",
        zip_code="50010",
        list_price=Decimal("62000"),
    )
    text = alert_service.alert_text(opp, listing)
    assert "rehab ~$13,833, as-is $90,001" in text  # as the chat's money() writes them


# --- 7. market trends: capped, and an empty one says what it looked at -----------------------


def test_a_trend_over_200_months_is_capped_at_120_and_an_empty_one_points_to_listings(
    db: Session,
) -> None:
    org = make_org(db)
    run_market_scan(db, org, [listing_row(1500, PostalCode="48215")])
    investor = _investor(db, org, phone="+13135550194")
    result = call_tool(market_trends, context_for(db, investor), area="48215", months=200)
    assert "error" not in result, result
    assert (result["months_requested"], result["months_asked"]) == (120, 200)
    assert result["listings_in_area"] == 1
    reply = reply_for([("market_trends", {"area": "48215", "months": 200}, result)])
    assert "ToolInvocationError" not in reply
    assert "in the last 120 months" in reply
    assert "at most 120 months, 10 years" in reply
    assert "'market trends for 48215 listings'" in reply
    # The listings trend is there to read.
    listings = call_tool(
        market_trends, context_for(db, investor), area="48215", source="listings", months=120
    )
    assert listings["months"] and "listings_in_area" not in listings


def test_asking_for_200_months_of_trends_by_text_gets_a_plain_answer(
    committed_db: Session,
) -> None:
    db = committed_db
    org = make_org(db)
    investor = _investor(db, org, phone="+13135550196")
    db.commit()
    run_market_scan(db, org, [listing_row(1500, PostalCode="48215")])
    db.commit()
    turn = checked_turn(investor, "market trends for 48215 over the last 200 months")
    assert "Error invoking tool" not in turn.reply and "fix your mistakes" not in turn.reply
    assert turn.reply.startswith("No sales data for 48215 in the last 120 months"), turn.reply
    assert "'market trends for 48215 listings'" in turn.reply


# --- 8. "my alerts" in the investor's own time zone ------------------------------------------


def test_my_alerts_says_when_a_held_alert_goes_out_in_local_time(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    investor = _investor(db, org, phone="+13135550195")
    _quiet_now(db, investor, zip_codes=["48201"])
    run_market_scan(db, org, [listing_row(1500)])
    alert = db.exec(select(MarketAlert).where(MarketAlert.user_id == investor.id)).one()
    assert alert.status == AlertStatus.held and alert.send_after is not None
    result = call_tool(my_alerts, context_for(db, investor))
    (row,) = result["alerts"]
    local = alert.send_after.astimezone(DETROIT)
    assert row["held_until"] == local.isoformat(timespec="minutes")
    reply = reply_for([("my_alerts", {}, result)])
    assert "UTC" not in reply and "+00:00" not in reply
    clock = f"{local.hour % 12 or 12}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'}"
    assert f"held for your quiet hours until {clock} " in reply
    assert "(America/Detroit)" in reply


def test_local_time_text_names_today_tomorrow_or_the_day() -> None:
    now = dt.datetime(2026, 11, 28, 23, 0, tzinfo=dt.UTC)  # 6 pm in Detroit
    seven = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)  # 7 am Detroit the next day
    assert (
        alert_service.local_time_text(seven, "America/Detroit", now)
        == "7:00 am tomorrow (America/Detroit)"
    )
    assert (
        alert_service.local_time_text(now, "America/Detroit", now)
        == "6:00 pm today (America/Detroit)"
    )
    later = seven + dt.timedelta(days=3)
    assert alert_service.local_time_text(later, "America/Detroit", now) == (
        "7:00 am Wed 2 Dec (America/Detroit)"
    )


def test_my_alerts_says_what_the_outbox_did_with_an_alert(db: Session) -> None:
    """Was "sent on WhatsApp" for every queued alert, though with no Twilio credentials the
    outbox only records the message (nothing is sent)."""
    from domain.whatsapp.enums import MessageStatus
    from domain.whatsapp.models import Message

    org = make_org(db)
    make_sold_market(db, org)
    investor = _investor(db, org, phone="+13135550194")
    call_tool(configure_alerts, context_for(db, investor), zip_codes=["48201"])
    run_market_scan(db, org, [listing_row(1500)])
    alert = db.exec(select(MarketAlert).where(MarketAlert.user_id == investor.id)).one()
    assert alert.status == AlertStatus.queued and alert.outbox_message_ids
    for status, said in (
        (MessageStatus.recorded, "kept in the outbox, not sent (WhatsApp sending is not set up)"),
        (MessageStatus.sent, "sent on WhatsApp"),
        (MessageStatus.failed, "WhatsApp could not deliver it"),
    ):
        for message_id in alert.outbox_message_ids:
            message = db.get(Message, uuid.UUID(message_id))
            assert message is not None
            message.status = status
            db.add(message)
        db.flush()
        result = call_tool(my_alerts, context_for(db, investor))
        assert result["alerts"][0]["whatsapp"] == str(status)
        assert said in reply_for([("my_alerts", {}, result)])
