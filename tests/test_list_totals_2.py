"""The rest of the REST lists page with ``limit``/``offset`` and say how many rows match.

Users, accounts and contractors were not paged at all, and the audit log, alerts, scheduled
calls, opportunities and a property's market data took only ``limit``: a client could not
reach a row past the first page, nor tell the last page from a full one. Each list now pages
in a stable order (two pages cover every row exactly once, even when rows tie on the sort
key) and ``X-Total-Count`` counts only what the caller may see: never another organisation's
rows, and only an investor's own alerts.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session

from app import app
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.chat import service as chat_service
from domain.deal import service as deal_service
from domain.finance import service as finance_service
from domain.market import alerts as alert_service
from domain.market.models import AlertCriteriaIn
from domain.pricing import service as pricing_service
from domain.property import service as property_service
from domain.property.enums import MarketDataType
from domain.property.models import MarketDataCreate
from domain.voice.enums import CallPurpose, ScheduleStatus
from domain.voice.models import CallSchedule
from tests.factories import (
    auth_headers,
    listing_row,
    make_account,
    make_api_token,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_sold_market,
    make_transaction,
    make_user,
    principal_for,
    run_market_scan,
)

API = "/api/v1"


def _two_pages(
    client: TestClient, path: str, headers: dict[str, str], expected: int, **params: Any
) -> list[str]:
    """Read ``path`` in two pages; both say ``expected`` rows and together hold each once."""
    assert expected >= 2, "two pages need at least two rows"
    size = math.ceil(expected / 2)
    seen: list[str] = []
    for offset in (0, size):
        answer = client.get(
            path, params={**params, "limit": size, "offset": offset}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Total-Count"] == str(expected), (offset, answer.headers)
        seen += [row["id"] for row in answer.json()]
    past_the_end = client.get(
        path, params={**params, "limit": size, "offset": expected}, headers=headers
    )
    assert past_the_end.json() == []
    assert past_the_end.headers["X-Total-Count"] == str(expected)
    assert len(seen) == expected and len(set(seen)) == expected, seen
    return seen


def _refuses_bad_paging(
    client: TestClient, path: str, headers: dict[str, str], *, template: str | None = None
) -> None:
    """limit 0, limit past its documented maximum, a negative offset and words are each 422."""
    spec = app.openapi()["paths"][template or path]["get"]
    (maximum,) = [p["schema"]["maximum"] for p in spec["parameters"] if p["name"] == "limit"]
    for params in (
        {"limit": 0},
        {"limit": maximum + 1},
        {"offset": -1},
        {"limit": "ten"},
        {"offset": "next"},
    ):
        answer = client.get(path, params=params, headers=headers)
        assert answer.status_code == 422, (path, params, answer.text)
        (name,) = params
        assert any(e["loc"] == ["query", name] for e in answer.json()["detail"]), answer.text


@pytest.fixture
def orgs(db: Session) -> tuple[Organisation, Organisation]:
    """Our organisation and another one whose rows must never be listed or counted."""
    return make_org(db, name="Paging Two LLC"), make_org(db, name="Someone Else Inc")


def test_users_page_and_count_only_the_organisations(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    admin = make_user(db, ours, Role.admin)
    for role in (Role.analyst, Role.investor, Role.investor):
        make_user(db, ours, role)
    make_user(db, theirs, Role.admin)
    headers = auth_headers(db, admin)
    ids = _two_pages(client, f"{API}/users", headers, expected=4)
    assert str(admin.id) in ids
    _refuses_bad_paging(client, f"{API}/users", headers)


def test_the_audit_log_pages_and_counts_what_its_filters_match(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    analyst = make_user(db, ours, Role.analyst)
    for org, entity, times in ((ours, "deal", 5), (ours, "project", 2), (theirs, "deal", 3)):
        for _ in range(times):  # written in one transaction: they tie on created_at
            auth_service.record_audit(
                session=db, principal=None, action="update", entity=entity, org_id=org.id,
                actor="paging test",
            )  # fmt: skip
    db.flush()
    headers = auth_headers(db, analyst)
    everything = auth_service.count_audit(session=db, org_id=ours.id)
    assert everything >= 7  # the users made above may have written their own entries
    _two_pages(client, f"{API}/audit-log", headers, expected=everything)
    _two_pages(client, f"{API}/audit-log", headers, expected=5, entity="deal")
    _refuses_bad_paging(client, f"{API}/audit-log", headers)


def test_accounts_page_and_are_the_teams_only(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    for name in ("Operating", "Operating", "Escrow", "Reserve", "Payroll"):  # names may repeat
        make_account(db, ours, name=name)
    make_account(db, theirs, name="Escrow")
    db.flush()
    headers = auth_headers(db, make_user(db, ours, Role.analyst))
    _two_pages(client, f"{API}/accounts", headers, expected=5)
    _refuses_bad_paging(client, f"{API}/accounts", headers)
    investor = client.get(
        f"{API}/accounts", headers=auth_headers(db, make_user(db, ours, Role.investor))
    )
    assert investor.status_code == 403


def test_contractors_page_and_count_with_their_filters(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    for trades, opted_out in (
        (["roofing"], False), (["roofing"], True), (["roofing", "hvac"], False),
        (["plumbing"], False),
    ):  # fmt: skip
        make_contractor(db, ours, name="Same Name Builders", trades=trades, opted_out=opted_out)
    make_contractor(db, theirs, trades=["roofing"])
    db.flush()
    headers = auth_headers(db, make_user(db, ours, Role.admin))
    _two_pages(client, f"{API}/contractors", headers, expected=4)
    _two_pages(client, f"{API}/contractors", headers, expected=3, trade="roofing")
    _two_pages(
        client, f"{API}/contractors", headers, expected=2, trade="roofing", include_opted_out=False
    )
    _refuses_bad_paging(client, f"{API}/contractors", headers)


def test_scheduled_calls_page_and_count_with_their_filters(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    when = dt.datetime(2030, 1, 6, 15, 0, tzinfo=dt.UTC)  # every row at the same time
    for org, purpose, times in (
        (ours, CallPurpose.bid_request, 4), (ours, CallPurpose.follow_up, 1),
        (theirs, CallPurpose.bid_request, 2),
    ):  # fmt: skip
        for _ in range(times):
            contractor = make_contractor(db, org)
            db.add(
                CallSchedule(
                    org_id=org.id, contractor_id=contractor.id, purpose=purpose,
                    scheduled_for=when, status=ScheduleStatus.scheduled,
                )
            )  # fmt: skip
    db.flush()
    headers = auth_headers(db, make_user(db, ours, Role.analyst))
    _two_pages(client, f"{API}/calls/schedules", headers, expected=5)
    _two_pages(client, f"{API}/calls/schedules", headers, expected=4, purpose="bid_request")
    _refuses_bad_paging(client, f"{API}/calls/schedules", headers)


def _investor(db: Session, org: Organisation, phone: str) -> User:
    """An investor with alert criteria for the sold market's zip code."""
    investor = make_user(db, org, Role.investor, phone_number=phone)
    alert_service.configure_alerts(
        session=db, org_id=org.id, principal=principal_for(investor),
        criteria_in=AlertCriteriaIn(zip_codes=["48201"]),
    )  # fmt: skip
    return investor


def test_alerts_and_opportunities_page_and_count_what_the_caller_may_see(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    for org in orgs:
        make_sold_market(db, org)
    ivy = _investor(db, ours, "+13135550141")
    _investor(db, ours, "+13135550142")
    _investor(db, theirs, "+13135550143")
    run_market_scan(db, ours, [listing_row(n) for n in (1500, 1510, 1520)])
    run_market_scan(db, theirs, [listing_row(1500), listing_row(1530)])
    admin_headers = auth_headers(db, make_user(db, ours, Role.admin))

    found = _two_pages(client, f"{API}/opportunities/latest", admin_headers, expected=3)
    ivy_headers = auth_headers(db, ivy)
    assert _two_pages(client, f"{API}/opportunities/latest", ivy_headers, expected=3) == found
    _refuses_bad_paging(client, f"{API}/opportunities/latest", admin_headers)

    # Two investors, three matches each: the team sees six, an investor only their own three.
    _two_pages(client, f"{API}/alerts", admin_headers, expected=6)
    mine = _two_pages(client, f"{API}/alerts", ivy_headers, expected=3)
    _two_pages(client, f"{API}/alerts", admin_headers, expected=3, user_id=str(ivy.id))
    listed = client.get(f"{API}/alerts", params={"limit": 50}, headers=ivy_headers).json()
    assert sorted(a["id"] for a in listed) == sorted(mine)
    assert {a["user_id"] for a in listed} == {str(ivy.id)}
    _refuses_bad_paging(client, f"{API}/alerts", admin_headers)


def test_market_data_pages_and_counts_one_propertys_rows(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    house = make_property(db, ours, address_line="9 Ledger Ln", zip_code="48201")
    neighbour = make_property(db, ours, address_line="11 Ledger Ln", zip_code="48201")
    elsewhere = make_property(db, theirs, address_line="9 Ledger Ln", zip_code="48201")
    recorded = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)  # every row ties on the sort key
    rent, comp = MarketDataType.rent_estimate, MarketDataType.comparable_sale
    for prop, data_type, times in (
        (house, rent, 4), (house, comp, 1), (neighbour, rent, 2), (elsewhere, comp, 2),
    ):  # fmt: skip
        for n in range(times):
            property_service.add_market_data(
                session=db, org_id=prop.org_id, property_id=prop.id,
                data_in=MarketDataCreate(
                    data_type=data_type, value={"n": n, "rent_monthly": 1000 + n},
                    source="paging test", recorded_at=recorded,
                ),
            )  # fmt: skip
    db.flush()
    headers = auth_headers(db, make_user(db, ours, Role.investor))
    path = f"{API}/properties/{house.id}/market-data"
    _two_pages(client, path, headers, expected=5)
    _two_pages(client, path, headers, expected=4, data_type="rent_estimate")
    _refuses_bad_paging(client, path, headers, template=f"{API}/properties/{{id}}/market-data")
    stranger = client.get(f"{API}/properties/{elsewhere.id}/market-data", headers=headers)
    assert stranger.status_code == 404


def test_api_tokens_page_and_a_non_admin_counts_only_their_own(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    admin, analyst = make_user(db, ours, Role.admin), make_user(db, ours, Role.analyst)
    for user, times in ((admin, 2), (analyst, 3), (make_user(db, theirs, Role.admin), 2)):
        for n in range(times):
            make_api_token(db, user, name=f"token {n}")
    path = f"{API}/auth/tokens"
    everyone = _two_pages(client, path, auth_headers(db, admin), expected=5)
    own = _two_pages(client, path, auth_headers(db, analyst), expected=3)
    assert set(own) < set(everyone)
    _refuses_bad_paging(client, path, auth_headers(db, analyst))


def test_closed_months_page_and_count_only_the_organisations(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    for org, months in ((ours, (1, 2, 3, 4, 5)), (theirs, (1, 2))):
        for month in months:
            finance_service.close_period(session=db, org_id=org.id, month=dt.date(2024, month, 1))
    db.flush()
    headers = auth_headers(db, make_user(db, ours, Role.investor))
    _two_pages(client, f"{API}/closed-periods", headers, expected=5)
    _refuses_bad_paging(client, f"{API}/closed-periods", headers)


def test_conversations_page_and_count_only_the_callers(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, _ = orgs
    analyst, colleague = make_user(db, ours, Role.analyst), make_user(db, ours, Role.analyst)
    for user, times in ((analyst, 3), (colleague, 2)):
        for _ in range(times):
            chat_service.create_conversation(session=db, org_id=ours.id, user_id=user.id)
    db.flush()
    headers = auth_headers(db, analyst)
    _two_pages(client, f"{API}/chat/conversations", headers, expected=3)
    _refuses_bad_paging(client, f"{API}/chat/conversations", headers)


def test_a_cost_rows_history_pages_and_counts_that_row(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    headers = auth_headers(db, make_user(db, ours, Role.analyst))
    first, second = pricing_service.list_costs(session=db, org_id=ours.id)[:2]
    for row, times in ((first, 3), (second, 1)):
        for n in range(times):
            changed = client.put(
                f"{API}/component-costs/{row.id}",
                json={"material_cost": str(100 + n), "reason": f"quote {n}"},
                headers=headers,
            )
            assert changed.status_code == 200, changed.text
    path = f"{API}/component-costs/{first.id}/history"
    _two_pages(client, path, headers, expected=3)
    _refuses_bad_paging(client, path, headers, template=f"{API}/component-costs/{{id}}/history")
    theirs_row = pricing_service.list_costs(session=db, org_id=theirs.id)[0]
    stranger = client.get(f"{API}/component-costs/{theirs_row.id}/history", headers=headers)
    assert stranger.status_code == 404


def test_a_propertys_images_page_and_count_that_property(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, theirs = orgs
    headers = auth_headers(db, make_user(db, ours, Role.analyst))
    house = make_property(db, ours, address_line="3 Picture Pl", zip_code="48201")
    other = make_property(db, ours, address_line="5 Picture Pl", zip_code="48201")
    db.flush()
    for prop, times in ((house, 3), (other, 1)):
        for n in range(times):  # the same display order: the id decides
            image = {"url": f"https://img.example.com/{prop.id}/{n}.jpg", "order_index": 0}
            added = client.post(f"{API}/properties/{prop.id}/images", json=image, headers=headers)
            assert added.status_code == 201, added.text
    path = f"{API}/properties/{house.id}/images"
    _two_pages(client, path, headers, expected=3)
    _refuses_bad_paging(client, path, headers, template=f"{API}/properties/{{id}}/images")
    elsewhere = make_property(db, theirs, address_line="3 Picture Pl", zip_code="48201")
    db.flush()
    assert client.get(f"{API}/properties/{elsewhere.id}/images", headers=headers).status_code == 404


def test_a_deals_offers_page_and_an_investor_sees_only_their_deals(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    ours, _ = orgs
    analyst, investor = make_user(db, ours, Role.analyst), make_user(db, ours, Role.investor)
    mine, not_mine = make_deal(db, ours, owner=investor), make_deal(db, ours, owner=analyst)
    team = auth_headers(db, analyst)
    for deal, times in ((mine, 3), (not_mine, 2)):
        for n in range(times):
            offer = {"offer_amount": str(50000 + n), "status": "draft"}
            made = client.post(f"{API}/deals/{deal.id}/offers", json=offer, headers=team)
            assert made.status_code == 201, made.text
    investor_headers = auth_headers(db, investor)
    path = f"{API}/deals/{mine.id}/offers"
    assert _two_pages(client, path, investor_headers, expected=3) == _two_pages(
        client, path, team, expected=3
    )
    _refuses_bad_paging(client, path, team, template=f"{API}/deals/{{id}}/offers")
    hidden = client.get(f"{API}/deals/{not_mine.id}/offers", headers=investor_headers)
    assert hidden.status_code == 404


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 90, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("what", ["tasks", "milestones", "photos", "expenses"])
def test_a_projects_lists_page_and_an_investor_sees_only_their_projects(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation], what: str
) -> None:
    ours, _ = orgs
    analyst, investor = make_user(db, ours, Role.analyst), make_user(db, ours, Role.investor)
    team = auth_headers(db, analyst)
    projects = [
        make_project(db, ours, deal_id=make_deal(db, ours, owner=owner).id, name=f"Rehab {n}")
        for n, owner in enumerate((investor, analyst))
    ]
    db.flush()
    for project, times in zip(projects, (3, 1), strict=True):
        url = f"{API}/projects/{project.id}/{what}"
        if what == "photos":  # one upload: the rows share their time
            files = [("files", (f"p{n}.png", _png(), "image/png")) for n in range(times)]
            made = client.post(url, files=files, headers=team)
            assert made.status_code == 201, made.text
            continue
        for n in range(times):
            body: dict[str, Any] = {
                "tasks": {"title": f"Task {n}"},
                "milestones": {"name": f"Milestone {n}"},
                "expenses": {"amount": "100.00", "spent_on": "2024-03-01"},  # the same day
            }[what]
            made = client.post(url, json=body, headers=team)
            assert made.status_code == 201, made.text
    path = f"{API}/projects/{projects[0].id}/{what}"
    investor_headers = auth_headers(db, investor)
    assert _two_pages(client, path, investor_headers, expected=3) == _two_pages(
        client, path, team, expected=3
    )
    _refuses_bad_paging(client, path, team, template=f"{API}/projects/{{id}}/{what}")
    hidden = client.get(f"{API}/projects/{projects[1].id}/{what}", headers=investor_headers)
    assert hidden.status_code == 404


def test_an_investors_projects_and_transactions_count_every_deal_they_may_see(
    client: TestClient, db: Session, orgs: tuple[Organisation, Organisation]
) -> None:
    """Visibility followed only the first page (200) of an investor's deals: an older deal's
    project and transactions were neither listed nor counted, and the project was a 404."""
    ours, _ = orgs
    investor = make_user(db, ours, Role.investor)
    house = make_property(db, ours, address_line="1 Many Deals Way", zip_code="48201")
    oldest = make_deal(db, ours, owner=investor, property_id=house.id)
    project = make_project(db, ours, deal_id=oldest.id, name="Rehab on the oldest deal")
    account = make_account(db, ours)
    make_transaction(db, ours, account_id=account.id, deal_id=oldest.id)
    for _ in range(deal_service.MAX_LIST_LIMIT):  # newer deals push the oldest off page one
        make_deal(db, ours, owner=investor, property_id=house.id)
    db.flush()
    headers = auth_headers(db, investor)
    projects = client.get(f"{API}/projects", headers=headers)
    assert [p["id"] for p in projects.json()] == [str(project.id)]
    assert projects.headers["X-Total-Count"] == "1"
    tasks = client.get(f"{API}/projects/{project.id}/tasks", headers=headers)
    assert tasks.status_code == 200, tasks.text
    booked = client.get(f"{API}/transactions", headers=headers)
    assert booked.headers["X-Total-Count"] == "1"
    assert [t["deal_id"] for t in booked.json()] == [str(oldest.id)]
