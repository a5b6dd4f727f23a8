"""Contractors: phone numbers as E.164 and unique per organisation, zones, hours, opt-out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.construction import service
from domain.construction.models import ContractorCreate, ContractorUpdate
from tests.factories import auth_headers, make_contractor, make_org, make_user


def test_phone_typed_any_way_is_stored_as_e164(db: Session) -> None:
    org = make_org(db)
    contractor = make_contractor(db, org, phone="(312) 555-0142")
    assert contractor.phone == "+13125550142"
    found = service.find_contractor_by_phone(session=db, org_id=org.id, phone="312.555.0142")
    assert found is not None and found.id == contractor.id


@pytest.mark.parametrize("phone", ["12345", "+1 555 555 0100", "call me", "+10005550100"])
def test_a_number_that_is_not_a_phone_is_refused(db: Session, phone: str) -> None:
    org = make_org(db)
    with pytest.raises(service.ConstructionInputError, match="phone"):
        make_contractor(db, org, phone=phone)


def test_one_phone_is_one_contractor_per_organisation(db: Session) -> None:
    org, other = make_org(db), make_org(db)
    make_contractor(db, org, phone="+13125550150")
    with pytest.raises(service.ConstructionConflictError, match=r"\+13125550150"):
        make_contractor(db, org, name="Someone Else", phone="312-555-0150")
    # Another organisation may know the same tradesperson.
    assert make_contractor(db, other, phone="+13125550150").phone == "+13125550150"


def test_timezone_must_be_an_iana_name(db: Session) -> None:
    org = make_org(db)
    with pytest.raises(service.ConstructionInputError, match="IANA"):
        make_contractor(db, org, timezone="Central Time")
    assert make_contractor(db, org, timezone=" America/Detroit ").timezone == "America/Detroit"


def test_contact_hours_must_be_a_window(db: Session) -> None:
    org = make_org(db)
    with pytest.raises(service.ConstructionInputError, match="before"):
        make_contractor(
            db, org, preferred_contact_start=dt.time(18), preferred_contact_end=dt.time(9)
        )
    with pytest.raises(service.ConstructionInputError, match="both"):
        make_contractor(db, org, preferred_contact_start=dt.time(9), preferred_contact_end=None)


def test_trades_filter_and_opted_out_contractors(db: Session) -> None:
    org = make_org(db)
    roofer = make_contractor(db, org, name="A Roofer", trades=["Roofing", "gutters"])
    plumber = make_contractor(db, org, name="B Plumber", trades=["plumbing"])
    assert roofer.trades == ["roofing", "gutters"]
    roofers = service.list_contractors(session=db, org_id=org.id, trade="roofing")
    assert [c.id for c in roofers] == [roofer.id]
    service.mark_contractor_opted_out(
        session=db, org_id=org.id, contractor_id=plumber.id, reason="said stop calling"
    )
    again = service.mark_contractor_opted_out(
        session=db, org_id=org.id, contractor_id=plumber.id, reason="twice"
    )
    assert again.opted_out is True
    assert again.notes is not None and again.notes.count("opted out") == 1
    assert "said stop calling" in again.notes
    callable_ = service.list_contractors(session=db, org_id=org.id, include_opted_out=False)
    assert [c.id for c in callable_] == [roofer.id]


def test_update_keeps_the_same_checks(db: Session) -> None:
    org = make_org(db)
    first = make_contractor(db, org, phone="+13125550160")
    second = make_contractor(db, org, phone="+13125550161")
    with pytest.raises(service.ConstructionConflictError):
        service.update_contractor(
            session=db,
            org_id=org.id,
            contractor_id=second.id,
            contractor_in=ContractorUpdate(phone="+1 312 555 0160"),
        )
    changed = service.update_contractor(
        session=db,
        org_id=org.id,
        contractor_id=first.id,
        contractor_in=ContractorUpdate(rating=Decimal("4.5"), email="RAY@Example.com"),
    )
    assert (str(changed.rating), changed.email) == ("4.5", "ray@example.com")


def test_contractor_api_validates_and_scopes_to_the_organisation(
    db: Session, client: TestClient
) -> None:
    org, other = make_org(db), make_org(db)
    analyst = make_user(db, org, Role.analyst)
    headers = auth_headers(db, analyst)
    body = {
        "name": "Tina's HVAC",
        "trades": ["hvac"],
        "phone": "(773) 555-0199",
        "timezone": "America/Chicago",
        "preferred_contact_start": "08:00",
        "preferred_contact_end": "17:30",
        "insurance_expires_on": "2027-03-31",
    }
    created = client.post("/api/v1/contractors", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "+17735550199"
    duplicate = client.post("/api/v1/contractors", json=body | {"name": "Dup"}, headers=headers)
    assert duplicate.status_code == 409
    assert "+17735550199" in duplicate.json()["detail"]
    bad_zone = client.post(
        "/api/v1/contractors",
        json=body | {"phone": "+17735550100", "timezone": "Mars/Olympus"},
        headers=headers,
    )
    assert bad_zone.status_code == 422
    assert "Mars/Olympus" in bad_zone.json()["detail"]
    bad_rating = client.post(
        "/api/v1/contractors", json=body | {"phone": "+17735550101", "rating": 7}, headers=headers
    )
    assert bad_rating.status_code == 422

    contractor_id = created.json()["id"]
    patched = client.patch(
        f"/api/v1/contractors/{contractor_id}", json={"opted_out": True}, headers=headers
    )
    assert patched.status_code == 200 and patched.json()["opted_out"] is True
    assert client.get(f"/api/v1/contractors/{contractor_id}", headers=headers).status_code == 200

    outsider = auth_headers(db, make_user(db, other, Role.admin))
    assert client.get(f"/api/v1/contractors/{contractor_id}", headers=outsider).status_code == 404
    assert client.get("/api/v1/contractors", headers=outsider).json() == []
    investor = auth_headers(db, make_user(db, org, Role.investor))
    assert client.post("/api/v1/contractors", json=body, headers=investor).status_code == 403
    contractor_user = auth_headers(db, make_user(db, org, Role.contractor))
    assert client.get("/api/v1/contractors", headers=contractor_user).status_code == 403


def test_create_contractor_from_the_service_as_the_voice_module_does(db: Session) -> None:
    org = make_org(db)
    contractor = service.create_contractor(
        session=db,
        org_id=org.id,
        contractor_in=ContractorCreate(name="Walk-in", phone="+13125550170"),
    )
    got = service.get_contractor(session=db, org_id=org.id, contractor_id=contractor.id)
    assert got.timezone == "America/Detroit"  # the model's default
    with pytest.raises(service.NotFoundError):
        service.get_contractor(session=db, org_id=make_org(db).id, contractor_id=contractor.id)


def test_the_trade_filter_takes_the_spoken_trade_name(client: TestClient, db: Session) -> None:
    """'electrician' finds the contractors filed under 'electrical' (it found none)."""
    org = make_org(db)
    sparky = make_contractor(db, org, name="Sparky", trades=["electrical"])
    make_contractor(db, org, name="Drips", trades=["plumbing"])
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    for said in ("electrician", "Electricians", "electrical"):
        found = client.get("/api/v1/contractors", params={"trade": said}, headers=headers)
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()] == [str(sparky.id)], said
        assert found.headers["X-Total-Count"] == "1"
