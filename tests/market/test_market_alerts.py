"""Alerts: criteria, one alert per investor and opportunity, quiet hours, the WhatsApp outbox."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.market import alerts as alert_service
from domain.market.enums import AlertStatus
from domain.market.models import AlertCriteria, AlertCriteriaIn, MarketAlert, Opportunity
from domain.market.subscribers import on_monitor_configured
from domain.whatsapp import service as whatsapp_service
from store.base import utcnow
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_sold_market,
    make_user,
    principal_for,
    run_market_scan,
)

URL = "/api/v1/alerts/configure"


def _investor(db: Session, org: Organisation, phone: str | None = "+13135550123") -> User:
    return make_user(db, org, role=Role.investor, phone_number=phone)


def _configure(db: Session, user: User, **values: object) -> AlertCriteria:
    return alert_service.configure_alerts(
        session=db,
        org_id=user.org_id,
        principal=principal_for(user),
        criteria_in=AlertCriteriaIn(**values),  # type: ignore[arg-type]
    )


def _alerts(db: Session, user: User) -> list[MarketAlert]:
    return list(db.exec(select(MarketAlert).where(MarketAlert.user_id == user.id)).all())


def test_an_investor_configures_their_alerts_through_the_api(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor = _investor(db, org)
    body = {
        "zip_codes": ["48201"],
        "max_price": "60000",
        "min_score": "50",
        "strategies": ["flip", "brrrr"],
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "07:30",
        "timezone": "America/Detroit",
    }
    response = client.post(URL, json=body, headers=auth_headers(db, investor))
    assert response.status_code == 200, response.text
    saved = response.json()
    assert (saved["user_id"], saved["zip_codes"], saved["strategies"]) == (
        str(investor.id),
        ["48201"],
        ["flip", "brrrr"],
    )
    assert (saved["quiet_hours_start"], saved["timezone"]) == ("21:00:00", "America/Detroit")
    # Saving again replaces the criteria (one set per investor) and announces each change.
    again = client.post(URL, json={"cities": ["detroit"]}, headers=auth_headers(db, investor))
    assert again.json()["id"] == saved["id"]
    assert again.json()["cities"] == ["DETROIT"]
    assert again.json()["zip_codes"] == []
    events = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "monitor.configured"
        )
    ).all()
    assert [e.payload["criteria_id"] for e in events] == [saved["id"], saved["id"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"zip_codes": ["4820"]}, "'4820' is not a ZIP code"),
        ({"min_price": "90000", "max_price": "50000"}, "min_price must not be more than max_price"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a time zone"),
        ({"quiet_hours_start": "22:00"}, "give both quiet_hours_start and quiet_hours_end"),
        ({"strategies": ["hold forever"]}, "Input should be 'flip', 'rental', 'brrrr'"),
        ({"min_score": "120"}, "less than or equal to 100"),
    ],
)
def test_bad_criteria_are_refused_with_a_message(
    client: TestClient, db: Session, body: dict[str, object], message: str
) -> None:
    org = make_org(db)
    response = client.post(URL, json=body, headers=auth_headers(db, _investor(db, org)))
    assert response.status_code == 422
    assert message in response.text


def test_only_the_team_configures_someone_elses_alerts(client: TestClient, db: Session) -> None:
    org, other = make_org(db), make_org(db, "Rival LLC")
    investor, colleague = _investor(db, org), _investor(db, org, phone="+13135550124")
    analyst = make_user(db, org, role=Role.analyst)
    body = {"user_id": str(colleague.id), "zip_codes": ["48201"]}
    refused = client.post(URL, json=body, headers=auth_headers(db, investor))
    assert refused.status_code == 403
    allowed = client.post(URL, json=body, headers=auth_headers(db, analyst))
    assert allowed.status_code == 200
    outsider = make_user(db, other, role=Role.analyst)
    unknown = client.post(URL, json=body, headers=auth_headers(db, outsider))
    assert unknown.status_code == 404  # the colleague is not in the rival's organisation


def test_a_new_matching_opportunity_alerts_each_investor_once_on_whatsapp(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy, olaf = _investor(db, org), _investor(db, org, phone="+13135550124")
    far = _investor(db, org, phone="+13135550125")
    _configure(db, ivy, zip_codes=["48201"], max_price=Decimal("60000"))
    _configure(db, olaf, cities=["Detroit"], min_score=Decimal("50"))
    _configure(db, far, zip_codes=["50010"])  # Ames only: no match

    scan = run_market_scan(db, org, [listing_row(1500)])
    assert scan.counts["alerts"] == 2
    opp = db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).one()
    assert opp.alert_sent is True
    for user, phone in ((ivy, "+13135550123"), (olaf, "+13135550124")):
        (alert,) = _alerts(db, user)
        assert (alert.status, alert.opportunity_id) == (AlertStatus.queued, opp.id)
        (entry,) = whatsapp_service.list_outbox(session=db, org_id=org.id, phone_number=phone)
        assert entry.status == "queued"
        assert entry.body is not None
        assert "1500 Subject Ave, Detroit 48201, listed at $45,000" in entry.body
        assert f"score {opp.score}/100" in entry.body
        assert [str(entry.id)] == alert.outbox_message_ids
    assert _alerts(db, far) == []

    # Found again (a re-run, a price change): no second alert to anyone.
    run_market_scan(db, org, [listing_row(1500, ListPrice=43000)])
    assert len(_alerts(db, ivy)) == len(_alerts(db, olaf)) == 1
    assert len(whatsapp_service.list_outbox(session=db, org_id=org.id)) == 2


def test_alerts_in_quiet_hours_are_held_and_sent_when_they_end(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy = _investor(db, org)
    # Quiet from an hour ago to two hours from now, Detroit time (wrapping midnight or not).
    local = utcnow().astimezone(ZoneInfo("America/Detroit"))
    end = (local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    criteria = _configure(
        db,
        ivy,
        quiet_hours_start=(local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_hours_end=end,
        timezone="America/Detroit",
    )
    ends = alert_service.quiet_until(criteria, utcnow())
    assert ends is not None
    assert ends.astimezone(ZoneInfo("America/Detroit")).time() == end
    run_market_scan(db, org, [listing_row(1500)])
    (alert,) = _alerts(db, ivy)
    assert alert.status == AlertStatus.held
    assert alert.send_after == ends
    assert whatsapp_service.list_outbox(session=db, org_id=org.id) == []

    assert alert_service.release_held_alerts(session=db, now=ends - dt.timedelta(seconds=1)) == 0
    assert alert_service.release_held_alerts(session=db, now=ends) == 1
    db.refresh(alert)
    assert alert.status == AlertStatus.queued
    (entry,) = whatsapp_service.list_outbox(session=db, org_id=org.id)
    assert entry.to == "+13135550123"


def test_quiet_hours_wrap_midnight_in_the_investors_time_zone() -> None:
    criteria = AlertCriteria(
        org_id=None,  # type: ignore[arg-type]
        user_id=None,  # type: ignore[arg-type]
        quiet_hours_start=dt.time(22, 0),
        quiet_hours_end=dt.time(7, 0),
        timezone="America/Detroit",
    )
    # 03:00 UTC on 1 July is 23:00 in Detroit (EDT, UTC-4): quiet until 07:00 EDT = 11:00 UTC.
    assert alert_service.quiet_until(criteria, dt.datetime(2025, 7, 1, 3, tzinfo=dt.UTC)) == (
        dt.datetime(2025, 7, 1, 11, tzinfo=dt.UTC)
    )
    # 10:00 UTC is 06:00 in Detroit: quiet until 11:00 UTC the same day.
    assert alert_service.quiet_until(criteria, dt.datetime(2025, 7, 1, 10, tzinfo=dt.UTC)) == (
        dt.datetime(2025, 7, 1, 11, tzinfo=dt.UTC)
    )
    # 16:00 UTC is noon in Detroit: not quiet.
    assert alert_service.quiet_until(criteria, dt.datetime(2025, 7, 1, 16, tzinfo=dt.UTC)) is None


def test_an_investor_without_a_phone_number_gets_the_alert_recorded_but_not_sent(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    nobody = _investor(db, org, phone=None)
    _configure(db, nobody, zip_codes=["48201"])
    run_market_scan(db, org, [listing_row(1500)])
    (alert,) = _alerts(db, nobody)
    assert alert.status == AlertStatus.no_phone
    assert alert.status_reason == "the investor has no phone number on their account"
    assert "1500 Subject Ave" in alert.message
    assert whatsapp_service.list_outbox(session=db, org_id=org.id) == []


def test_new_criteria_alert_existing_matches_once_however_often_delivered(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500), listing_row(1502, ListPrice=200000)])
    ivy = _investor(db, org)
    criteria = _configure(db, ivy, zip_codes=["48201"])
    (published,) = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "monitor.configured"
        )
    ).all()
    event = Event(
        id=published.id,
        org_id=org.id,
        name="monitor.configured",
        payload=published.payload,
        created_at=published.created_at,
    )
    assert event.payload["criteria_id"] == str(criteria.id)
    on_monitor_configured(db, event)
    on_monitor_configured(db, event)
    (alert,) = _alerts(db, ivy)  # the one open opportunity; the overpriced house is none
    assert alert.source_event_id == event.id
    assert len(whatsapp_service.list_outbox(session=db, org_id=org.id)) == 1


def test_held_alerts_that_went_stale_are_skipped_with_the_reason_not_sent(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    local = utcnow().astimezone(ZoneInfo("America/Detroit"))
    quiet = {
        "quiet_hours_start": (local - dt.timedelta(hours=1))
        .time()
        .replace(second=0, microsecond=0),
        "quiet_hours_end": (local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0),
        "timezone": "America/Detroit",
    }
    ivy, olaf = _investor(db, org), _investor(db, org, phone="+13135550124")
    _configure(db, ivy, **quiet)
    _configure(db, olaf, **quiet)
    rows = [listing_row(1500), listing_row(1502)]
    run_market_scan(db, org, rows)
    assert [a.status for a in _alerts(db, ivy) + _alerts(db, olaf)] == [AlertStatus.held] * 4
    # While they are held: 1500 goes under contract (its opportunity closes), and Olaf now
    # wants nothing above $40,000 (both houses are listed at $45,000).
    run_market_scan(db, org, [listing_row(1500, StandardStatus="Pending"), rows[1]])
    _configure(db, olaf, max_price="40000", **quiet)

    ends = max(a.send_after for a in _alerts(db, ivy) if a.send_after)
    assert alert_service.release_held_alerts(session=db, now=ends) == 1
    db.expire_all()
    by_house = {
        (user.id, a.message.split(",")[0].split(": ")[-1]): a
        for user in (ivy, olaf)
        for a in _alerts(db, user)
    }
    assert by_house[(ivy.id, "1502 Subject Ave")].status == AlertStatus.queued
    for key, reason in (
        ((ivy.id, "1500 Subject Ave"), "the opportunity was closed while the alert was held"),
        ((olaf.id, "1500 Subject Ave"), "the opportunity was closed while the alert was held"),
        ((olaf.id, "1502 Subject Ave"), "the opportunity no longer matches the investor's"),
    ):
        assert by_house[key].status == AlertStatus.skipped
        assert (by_house[key].status_reason or "").startswith(reason)
        assert "Not sent" not in by_house[key].message  # the message is what would have gone
    (sent,) = whatsapp_service.list_outbox(session=db, org_id=org.id)
    assert "1502 Subject Ave" in (sent.body or "") and sent.to == "+13135550123"


def test_investors_see_their_own_alerts_and_criteria_and_admins_see_anyones(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy, nobody = _investor(db, org), _investor(db, org, phone=None)
    admin = make_user(db, org, role=Role.admin)
    other_org_admin = make_user(db, make_org(db, "Other Co"), role=Role.admin)
    _configure(db, ivy, zip_codes=["48201"])
    _configure(db, nobody, zip_codes=["48201"])
    run_market_scan(db, org, [listing_row(1500)])

    mine = client.get("/api/v1/alerts", headers=auth_headers(db, ivy))
    assert mine.status_code == 200, mine.text
    (alert,) = mine.json()
    assert (alert["user_id"], alert["status"], alert["status_reason"]) == (
        str(ivy.id),
        "queued",
        None,
    )
    assert "1500 Subject Ave" in alert["message"]
    (unsent,) = client.get("/api/v1/alerts", headers=auth_headers(db, nobody)).json()
    assert (unsent["status"], unsent["status_reason"]) == (
        "no_phone",
        "the investor has no phone number on their account",
    )
    # An investor may not read another investor's alerts or criteria.
    peek = client.get(f"/api/v1/alerts?user_id={ivy.id}", headers=auth_headers(db, nobody))
    assert peek.status_code == 403
    assert "only admins and analysts" in peek.json()["detail"]
    peek = client.get(f"/api/v1/alerts/criteria?user_id={ivy.id}", headers=auth_headers(db, nobody))
    assert peek.status_code == 403
    # Admins see everyone's, one user's, or one status.
    everyone = client.get("/api/v1/alerts", headers=auth_headers(db, admin)).json()
    assert sorted(a["user_id"] for a in everyone) == sorted([str(ivy.id), str(nobody.id)])
    only = client.get("/api/v1/alerts?status=no_phone", headers=auth_headers(db, admin)).json()
    assert [a["user_id"] for a in only] == [str(nobody.id)]
    criteria = client.get(
        f"/api/v1/alerts/criteria?user_id={ivy.id}", headers=auth_headers(db, admin)
    )
    assert criteria.status_code == 200 and criteria.json()["zip_codes"] == ["48201"]
    own = client.get("/api/v1/alerts/criteria", headers=auth_headers(db, ivy)).json()
    assert own["user_id"] == str(ivy.id)
    # No criteria yet: 404 saying how to set them; another organisation sees nothing.
    none = client.get("/api/v1/alerts/criteria", headers=auth_headers(db, admin))
    assert none.status_code == 404 and "POST /alerts/configure" in none.json()["detail"]
    assert client.get("/api/v1/alerts", headers=auth_headers(db, other_org_admin)).json() == []
    stranger = client.get(
        f"/api/v1/alerts/criteria?user_id={ivy.id}", headers=auth_headers(db, other_org_admin)
    )
    assert stranger.status_code == 404
    bad = client.get("/api/v1/alerts?status=lost&limit=0", headers=auth_headers(db, admin))
    assert bad.status_code == 422
