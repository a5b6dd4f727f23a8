"""POST /section8/rent-analysis with a property and no target rent checks nothing.

Was (REST QA): with only ``property_id`` and no target rent on file, REST filled
``target_rent`` with the voucher's own maximum (1329) and answered ``fmr_compliant: true``,
while the chat said "No target rent on file". Now both say there is none: ``target_rent`` and
``fmr_compliant`` are null, a note says so, and the FMR and payment standard are still given
(money with two places). Saving then stores no made-up target rent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.property.models import Property
from domain.section8 import service
from tests.factories import auth_headers, make_org, make_property, make_user

API = "/api/v1"


def _detroit_house(db: Session, **fields: Any) -> tuple[Organisation, Property]:
    org = make_org(db, "Section 8 REST Org")
    values: dict[str, Any] = {
        "address_line": "14500 Kercheval Ave",
        "city": "Detroit",
        "state": "MI",
        "zip_code": "48215",
        "bedrooms": 3,
    }
    values.update(fields)
    return org, make_property(db, org, **values)


def test_no_target_rent_is_not_made_compliant(client: TestClient, db: Session) -> None:
    org, prop = _detroit_house(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))

    response = client.post(
        f"{API}/section8/rent-analysis", json={"property_id": str(prop.id)}, headers=headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["target_rent"] is None and body["fmr_compliant"] is None
    assert body["headroom"] is None
    assert body["fmr"] == "1329.00" and body["payment_standard"] == "1329.00"
    assert body["max_contract_rent"] == "1329.00" and body["recommended_rent"] == "1329.00"
    assert any(service.NO_TARGET_RENT in note for note in body["assumptions"])

    # Saving stores no target rent the owner never set.
    saved = client.post(
        f"{API}/section8/rent-analysis",
        json={"property_id": str(prop.id), "save": True},
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["saved"] is True and saved.json()["target_rent"] is None
    db.expire_all()
    db.refresh(prop)
    assert prop.target_rent is None and prop.fmr_compliant is None


def test_a_target_rent_on_file_or_given_is_still_checked(client: TestClient, db: Session) -> None:
    org, prop = _detroit_house(db, target_rent=Decimal("1400"))
    headers = auth_headers(db, make_user(db, org, Role.analyst))

    on_file = client.post(
        f"{API}/section8/rent-analysis", json={"property_id": str(prop.id)}, headers=headers
    ).json()
    assert on_file["target_rent"] == "1400.00" and on_file["fmr_compliant"] is False
    assert on_file["headroom"] == "-71.00"

    given = client.post(
        f"{API}/section8/rent-analysis",
        json={"property_id": str(prop.id), "target_rent": 1250},
        headers=headers,
    ).json()
    assert given["target_rent"] == "1250.00" and given["fmr_compliant"] is True


def test_the_service_says_the_same_as_the_chat(db: Session) -> None:
    org, prop = _detroit_house(db)
    result = service.assess_property_rent(
        session=db, org_id=org.id, property_id=prop.id, save=False
    )
    assert result.target_rent_source == "none"
    assert result.analysis.target_rent is None and result.analysis.fmr_compliant is None
    assert result.analysis.max_contract_rent == Decimal("1329.00")
