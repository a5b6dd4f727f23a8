"""No word of an address is silently dropped: it is kept, or the input is refused naming it."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.property import service
from domain.property.address import parse_address
from domain.property.errors import AddressParseError
from domain.property.importer import import_records
from tests.factories import auth_headers, make_org, make_user

API = "/api/v1/properties"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # "Ext" after the suffix (usaddress: StreetNamePostModifier) was dropped.
        ("12 N Main St Ext Apt 3", "12 N MAIN ST EXT #3"),
        # The building (SubaddressType/Identifier) was dropped: two buildings' "#2" collided.
        ("12 Main St Building 4 Apt 2", "12 MAIN ST BLDG 4 #2"),
        ("12 Main St Bldg C Unit 5", "12 MAIN ST BLDG C #5"),
        # A unit that needs no number was read as the city.
        ("12 Main St Rear", "12 MAIN ST REAR"),
        # usaddress labels "Plaza" a second street name: the street line is kept as typed.
        ("77 Park Avenue South Plaza", "77 PARK AVENUE SOUTH PLAZA"),
    ],
)
def test_every_word_of_the_street_line_is_in_the_key(text: str, key: str) -> None:
    parsed = parse_address(text, strict=True)
    assert parsed.address_key == key
    assert parsed.raw == text


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("12 Main St Attn Bob", "'Attn'"),
        ("123 Main St PO Box 5", "'Box'"),
        ("100 Main St & Elm St", "'Elm'"),
        ("12 Main St Apt", "'Apt'"),
        ("12 Main St Suite 100 Floor 2", "'Suite 100', 'Floor 2'"),
        ("123 Main St Apt 4B #2", "'4B # 2'"),
        ("12 Main St, Detroit, MI 48215, Canada", "'Canada'"),
    ],
)
def test_words_an_address_cannot_hold_are_refused_by_name(text: str, named: str) -> None:
    with pytest.raises(AddressParseError) as error:
        parse_address(text, strict=True)
    assert named in str(error.value)


def test_a_city_in_the_text_that_differs_from_the_one_given_is_refused() -> None:
    # usaddress reads "Lane Court" as the city; with Detroit given, one of the two was lost.
    with pytest.raises(AddressParseError, match="'Lane Court'"):
        parse_address("12 Circle Drive Lane Court", city="Detroit", strict=True)
    same = parse_address("12 Main St, detroit, Michigan 48215", city="Detroit", state="MI")
    assert (same.city, same.state, same.zip_code) == ("DETROIT", "MI", "48215")


@pytest.fixture
def headers(db: Session) -> dict[str, str]:
    org = make_org(db, "No Loss Realty")
    return auth_headers(db, make_user(db, org, role=Role.analyst))


def test_api_keeps_the_whole_street_and_finds_it_by_the_same_text(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {"address_line": "77 Park Avenue South Plaza", "city": "New York", "state": "NY"}
    created = client.post(API, json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["address_line"] == "77 Park Avenue South Plaza"
    assert created.json()["address_key"] == "77 PARK AVENUE SOUTH PLAZA"
    found = client.get(API, params={"address": "77 park avenue south plaza"}, headers=headers)
    assert [item["id"] for item in found.json()["items"]] == [created.json()["id"]]

    ext = client.post(API, json={"address_line": "12 N Main St Ext Apt 3"}, headers=headers)
    assert ext.status_code == 201, ext.text
    assert ext.json()["address_line"] == "12 N Main St Ext #3"
    # Typed another way, the same unit still matches (and the street without "Ext" does not).
    same = client.get(API, params={"address": "12 North Main St Ext #3"}, headers=headers)
    assert [item["id"] for item in same.json()["items"]] == [ext.json()["id"]]
    other = client.get(API, params={"address": "12 N Main St #3"}, headers=headers)
    assert other.json()["items"] == []

    # The documented pair still shares one key.
    kercheval = client.post(
        API, json={"address_line": "14500 kercheval avenue apt 2"}, headers=headers
    )
    assert kercheval.json()["address_key"] == "14500 KERCHEVAL AVE #2"
    again = client.get(API, params={"address": "14500 Kercheval Ave #2"}, headers=headers)
    assert [item["id"] for item in again.json()["items"]] == [kercheval.json()["id"]]


def test_api_refuses_words_it_would_lose_with_422_naming_them(
    client: TestClient, headers: dict[str, str]
) -> None:
    refused = client.post(
        API,
        json={"address_line": "12 Circle Drive Lane Court", "city": "Detroit", "state": "MI"},
        headers=headers,
    )
    assert refused.status_code == 422, refused.text
    assert "Lane Court" in refused.text
    attn = client.post(API, json={"address_line": "12 Main St Attn Bob"}, headers=headers)
    assert attn.status_code == 422 and "'Attn'" in attn.text


def test_csv_import_keeps_the_street_or_rejects_the_row_saying_why(db: Session) -> None:
    org = make_org(db)
    text = (
        "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,"
        "LivingArea,BedroomsTotal,BathroomsFull,YearBuilt\n"
        "N1,12 Main St Building 4 Apt 2,Detroit,MI,48201,90000,2024-04-01,900,2,1,1950\n"
        "N2,12 Main St Attn Bob,Detroit,MI,48201,90000,2024-04-01,900,2,1,1950\n"
    )
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    summary = import_records(
        session=db,
        org_id=org.id,
        rows=rows,
        kind="sales",
        source="testmls",
        columns=list(reader.fieldnames or []),
    )
    kept = service.get_by_source(session=db, org_id=org.id, source="testmls", source_id="N1")
    assert kept is not None and kept.address_key == "12 MAIN ST BLDG 4 #2"
    reasons = {r.line: r.reason for r in summary.rejections}
    assert list(reasons) == [3] and "'Attn'" in reasons[3]
