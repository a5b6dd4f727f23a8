"""QA: re-importing an MLS export with blank cells or fewer columns never clears stored values.

Decisions these tests pin (README, "Importing sales and listings", Idempotent):

- A known (source, source id) keeps its stored value where this export's cell is blank (or
  ``NA``, or a 0 living area / year built, the RESO "unknown") and where the file lacks the
  column; a filled cell still updates. A row whose only differences are blanks is counted
  ``unchanged`` (the old code cleared the values and counted the row ``updated``).
- A new listing with no status is ``active``; that default is not applied to a known one, so a
  pending, off-market or sold property is not put back on the market by a blank status cell
  or a file without a status column. "No longer" is said by a filled status (Withdrawn →
  off_market), which updates the status and keeps the last list price.
- A blank ``section8_approved`` cell no longer rejects the row (the column cannot be empty).
- ``PUT /properties/{id}`` is unchanged: an explicit ``null`` clears a field, an omitted one
  is kept.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_org, make_user

REPO = Path(__file__).resolve().parents[1]
SALES_HEADER = (
    "ListingKey,ListingId,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,"
    "ListPrice,LivingArea,YearBuilt,BedroomsTotal,BathroomsTotalDecimal,LotSizeSquareFeet,"
    "Latitude,Longitude,SubdivisionName,PropertySubType,section8_approved"
)
# Every optional cell filled.
S1_FULL = (
    "S1,M-1,1 Blank St,Detroit,MI,48201,90000,2024-03-15,95000,1400,1925,3,1.5,4800,"
    "42.35,-83.05,East English Village,Single Family Residence,true"
)
S2_FULL = (
    "S2,M-2,2 Blank St,Detroit,MI,48201,91000,2024-03-16,96000,1500,1930,4,2,5000,"
    "42.36,-83.06,Morningside,Single Family Residence,false"
)
S3_FULL = (
    "S3,M-3,3 Blank St,Detroit,MI,48201,92000,2024-03-17,97000,1600,1940,3,1,5200,"
    "42.37,-83.07,Cornerstone,Single Family Residence,false"
)


def _import(
    db: Session, org: Organisation, lines: list[str], kind: str = "sales", **kwargs: Any
) -> ImportSummary:
    """Import CSV lines the way the CLI reads a file."""
    reader = csv.DictReader(io.StringIO("\n".join(lines) + "\n", newline=""))
    return import_records(
        session=db,
        org_id=org.id,
        rows=reader,
        kind=kind,
        source="blanks",
        columns=list(reader.fieldnames or []),
        **kwargs,
    )


def _by_key(db: Session, org: Organisation, key: str) -> Property:
    prop = db.exec(
        select(Property).where(Property.org_id == org.id, Property.source_id == key)
    ).one()
    db.refresh(prop)
    return prop


def _facts(prop: Property) -> tuple[Any, ...]:
    return (
        prop.mls_number,
        prop.list_price,
        prop.square_feet,
        prop.year_built,
        prop.bedrooms,
        prop.bathrooms,
        prop.lot_size,
        prop.latitude,
        prop.longitude,
        prop.neighborhood,
        prop.property_type,
        prop.section8_approved,
        prop.city,
        prop.zip_code,
    )


S1_FACTS = (
    "M-1",
    Decimal("95000"),
    1400,
    1925,
    3,
    Decimal("1.5"),
    Decimal("4800"),
    42.35,
    -83.05,
    "East English Village",
    "single_family",
    True,
    "Detroit",
    "48201",
)


def test_blank_cells_keep_stored_values_and_filled_cells_update(db: Session) -> None:
    org = make_org(db)
    first = _import(db, org, [SALES_HEADER, S1_FULL, S2_FULL, S3_FULL])
    assert (first.inserted, first.rejected) == (3, 0)
    assert _facts(_by_key(db, org, "S1")) == S1_FACTS

    again = _import(
        db,
        org,
        [
            SALES_HEADER,
            # S1: every optional cell blank (or NA / 0 / 0,0, the exports' "unknown").
            "S1,,1 Blank St,,,,90000,2024-03-15,,0,,NA,,,0,0,,,true",
            # S2: a filled living area updates; the blank year built is kept.
            "S2,M-2,2 Blank St,Detroit,MI,48201,91000,2024-03-16,96000,1550,,4,2,5000,"
            "42.36,-83.06,Morningside,Single Family Residence,false",
            S3_FULL,  # identical
        ],
    )

    assert again.counts() == {
        "rows": 3, "inserted": 0, "updated": 1, "unchanged": 2, "rejected": 0
    }  # fmt: skip
    assert _facts(_by_key(db, org, "S1")) == S1_FACTS
    s2 = _by_key(db, org, "S2")
    assert (s2.square_feet, s2.year_built) == (1550, 1930)
    # The "unknown" warnings say the stored value was kept, not that it was stored empty.
    text = "\n".join(again.lines(max_warnings=20))
    assert "line 2: warning: LivingArea: '0' read as an unknown living area" in text
    assert "(kept the stored living area 1400)" in text
    assert "(kept the stored year built 1925)" in text
    assert "line 3: warning: YearBuilt: blank read as an unknown year built" in text
    assert "stored empty" not in text


def test_a_file_without_the_columns_clears_nothing_and_counts_unchanged(db: Session) -> None:
    org = make_org(db)
    full = _import(db, org, [f"{SALES_HEADER},StandardStatus", f"{S1_FULL},Pending"], "listings")
    assert full.inserted == 1
    narrow_header = "ListingKey,UnparsedAddress,ListPrice"
    narrow = _import(db, org, [narrow_header, "S1,1 Blank St,95000"], "listings")
    assert (narrow.updated, narrow.unchanged, narrow.rejected) == (0, 1, 0)
    s1 = _by_key(db, org, "S1")
    assert _facts(s1) == S1_FACTS and s1.status == "pending"
    assert s1.close_price == Decimal("90000")
    # A narrow file with a new list price still updates that one field.
    cut = _import(db, org, [narrow_header, "S1,1 Blank St,89000"], "listings")
    assert (cut.updated, cut.unchanged) == (1, 0)
    s1 = _by_key(db, org, "S1")
    assert s1.list_price == Decimal("89000") and s1.status == "pending"
    assert _facts(s1)[2:] == S1_FACTS[2:]


def test_a_blank_section8_cell_is_not_a_rejection_and_keeps_the_flag(db: Session) -> None:
    org = make_org(db)
    header = "ListingKey,UnparsedAddress,ListPrice,section8_approved"
    fresh = _import(
        db, org, [header, "E1,5 Voucher St,60000,", "E2,7 Voucher St,61000,yes"], "listings"
    )
    assert (fresh.inserted, fresh.rejected) == (2, 0), fresh.lines()
    assert _by_key(db, org, "E1").section8_approved is False  # the column's default
    again = _import(db, org, [header, "E2,7 Voucher St,61000,"], "listings")
    assert (again.unchanged, again.rejected) == (1, 0), again.lines()
    assert _by_key(db, org, "E2").section8_approved is True


LISTINGS_HEADER = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice,StandardStatus"
)


def test_listing_status_is_kept_unless_a_filled_cell_changes_it(db: Session) -> None:
    org = make_org(db)
    row = "L1,9 Status St,Detroit,MI,48201,75000,{status}"
    created = _import(db, org, [LISTINGS_HEADER, row.format(status="Pending")], kind="listings")
    assert created.inserted == 1 and _by_key(db, org, "L1").status == "pending"
    # A new listing without a status is active, as before.
    fresh = _import(
        db, org, [LISTINGS_HEADER, "L2,11 Status St,Detroit,MI,48201,60000,"], "listings"
    )
    assert fresh.inserted == 1 and _by_key(db, org, "L2").status == "active"

    blank = _import(db, org, [LISTINGS_HEADER, row.format(status="")], kind="listings")
    no_column = _import(
        db, org, ["ListingKey,UnparsedAddress,ListPrice", "L1,9 Status St,75000"], "listings"
    )
    for summary in (blank, no_column):
        assert (summary.updated, summary.unchanged) == (0, 1)
    assert _by_key(db, org, "L1").status == "pending"

    # Off the market is a filled status: it updates, and the last list price is kept.
    withdrawn = _import(db, org, [LISTINGS_HEADER, row.format(status="Withdrawn")], "listings")
    assert (withdrawn.updated, withdrawn.unchanged) == (1, 0)
    l1 = _by_key(db, org, "L1")
    assert (l1.status, l1.list_price) == ("off_market", Decimal("75000"))
    updated = db.exec(select(OutboxEvent).where(OutboxEvent.name == "property.updated")).all()
    assert [event.payload["changes"] for event in updated] == [
        {"status": {"from": "pending", "to": "off_market"}}
    ]
    # A known listing with a blank list price keeps its stored price (blank never clears).
    no_price = _import(
        db, org, [LISTINGS_HEADER, "L1,9 Status St,Detroit,MI,48201,,Active"], "listings"
    )
    assert (no_price.updated, no_price.rejected) == (1, 0), no_price.lines()
    l1 = _by_key(db, org, "L1")
    assert (l1.status, l1.list_price) == ("active", Decimal("75000"))

    # The listing sells; a stale listings file without statuses does not put it back on sale.
    _import(
        db,
        org,
        ["ListingKey,UnparsedAddress,ClosePrice,CloseDate", "L1,9 Status St,70000,2024-05-01"],
    )
    stale = _import(
        db, org, ["ListingKey,UnparsedAddress,ListPrice", "L1,9 Status St,75000"], "listings"
    )
    assert stale.unchanged == 1
    l1 = _by_key(db, org, "L1")
    assert (l1.status, l1.close_price) == ("sold", Decimal("70000"))


def test_rest_put_null_still_clears_what_a_blank_cell_keeps(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    _import(db, org, [SALES_HEADER, S1_FULL])
    blank = (
        "S1,M-1,1 Blank St,Detroit,MI,48201,90000,2024-03-15,95000,,,3,1.5,4800,42.35,-83.05,,,true"
    )
    assert _import(db, org, [SALES_HEADER, blank]).unchanged == 1
    prop_id = _by_key(db, org, "S1").id

    # An explicit null in a REST body clears the field; a field left out is kept.
    response = client.put(
        f"/api/v1/properties/{prop_id}", json={"square_feet": None}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["square_feet"] is None and body["year_built"] == 1925
    assert body["neighborhood"] == "East English Village"

    # After that, a blank cell leaves it cleared and a filled one sets it again.
    assert _import(db, org, [SALES_HEADER, blank]).unchanged == 1
    assert _by_key(db, org, "S1").square_feet is None
    assert _import(db, org, [SALES_HEADER, S1_FULL]).updated == 1
    assert _by_key(db, org, "S1").square_feet == 1400


def _dealdesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())  # rich may wrap long lines, in a box


def test_cli_reimport_of_an_export_with_blank_cells_keeps_the_stored_values(
    committed_db: Session, tmp_path: Path
) -> None:
    org = auth_service.create_organisation(
        session=committed_db, name="Blank Cells", slug="blank-cells"
    )
    committed_db.commit()
    march = tmp_path / "march.csv"
    march.write_text(f"{SALES_HEADER}\n{S1_FULL}\n")
    april = tmp_path / "april.csv"
    april.write_text(
        f"{SALES_HEADER}\nS1,M-1,1 Blank St,Detroit,MI,48201,90000,2024-03-15,,,,,,,,,,,true\n"
    )

    first = _dealdesk("import", "sales", str(march), "--org", "blank-cells", "--source", "mls")
    assert first.returncode == 0, first.stderr
    again = _dealdesk("import", "sales", str(april), "--org", "blank-cells", "--source", "mls")
    assert again.returncode == 0, again.stderr
    assert "1 rows, 0 inserted, 0 updated, 1 unchanged, 0 rejected" in _flat(again.stderr)
    assert "(kept the stored living area 1400)" in _flat(again.stderr)

    committed_db.expire_all()
    assert _facts(_by_key(committed_db, org, "S1")) == S1_FACTS
