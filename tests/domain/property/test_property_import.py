"""Importing sales and listings from CSV: RESO names, per-row rejections, idempotent re-import."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from domain.auth import service as auth_service
from domain.auth.models import Organisation
from domain.property import service
from domain.property.errors import ImportColumnsError
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property
from domain.valuation.models import CompFeature
from store.outbox import OutboxEvent
from tests.factories import make_org

REPO = Path(__file__).resolve().parents[3]

HEADER = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,ListPrice,"
    "LivingArea,BedroomsTotal,BathroomsFull,BathroomsHalf,YearBuilt,LotSizeArea,LotSizeUnits,"
    "Latitude,Longitude,PropertyType,SubdivisionName"
)
SALES_ROWS = [
    # line 2: a good sale, RESO style ($ and thousands separators, lot size in acres)
    'K1,14500 Kercheval Ave,Detroit,MI,48215,"$85,000",2024-03-15,89900,1150,3,1,1,1924,'
    "0.11,Acres,42.3751,-82.9712,Residential,Jefferson Chalmers",
    # line 3: good, lot in square feet, no coordinates
    "K2,200 Woodward Ave,Detroit,MI,48201,210000,2024-04-01,,1500,3,2,0,1960,5000,Square Feet,"
    ",,Condominium,Downtown",
    # line 4: the address cannot be read and there is no point
    "K3,somewhere near the river,Detroit,MI,48201,100000,2024-04-01,,900,2,1,0,1950,,,,,,",
    # line 5: a price that is not a number
    "K4,1 Main St,Detroit,MI,48201,abc,2024-04-01,,900,2,1,0,1950,,,,,,",
    # line 6: no close price
    "K5,2 Main St,Detroit,MI,48201,,2024-04-01,,900,2,1,0,1950,,,,,,",
    # line 7: 25 bedrooms
    "K6,3 Main St,Detroit,MI,48201,99000,2024-04-01,,900,25,1,0,1950,,,,,,",
    # line 8: coordinates only (like the Ames data): accepted
    "K7,,,,,150000,2024-05-20,,1300,3,2,0,1999,,,42.0308,-93.6319,Single Family Residence,",
    # line 9: negative living area
    "K8,4 Main St,Detroit,MI,48201,99000,2024-04-01,,-10,2,1,0,1950,,,,,,",
    # line 10: a sale dated in the future
    "K9,5 Main St,Detroit,MI,48201,99000,2099-01-01,,900,2,1,0,1950,,,,,,",
]


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of CSV text, as the CLI reads a file."""
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def _import(
    db: Session, org: Organisation, text: str, kind: str = "sales", **kwargs: Any
) -> ImportSummary:
    columns, rows = _rows(text)
    return import_records(
        session=db,
        org_id=org.id,
        rows=rows,
        kind=kind,
        source=kwargs.pop("source", "testmls"),
        columns=columns,
        **kwargs,
    )


def _sales_csv(rows: list[str] | None = None) -> str:
    return "\n".join([HEADER, *(SALES_ROWS if rows is None else rows)]) + "\n"


def _count(db: Session, org: Organisation) -> int:
    return int(
        db.exec(select(func.count()).select_from(Property).where(Property.org_id == org.id)).one()
    )


def test_reso_sales_import_rejects_bad_rows_with_reasons(db: Session) -> None:
    org = make_org(db)
    progress: list[int] = []
    summary = _import(db, org, _sales_csv(), progress=progress.append)
    assert summary.counts() == {
        "rows": 9, "inserted": 3, "updated": 0, "unchanged": 0, "rejected": 6
    }  # fmt: skip
    assert progress[-1] == 9
    reasons = {r.line: r.reason for r in summary.rejections}
    assert set(reasons) == {4, 5, 6, 7, 9, 10}
    assert "house number" in reasons[4]
    assert reasons[5] == "ClosePrice: 'abc' is not a number"
    assert reasons[6] == "ClosePrice: a sale needs a close price"
    assert "bedrooms must be at most 20 (got 25)" in reasons[7]
    assert "square_feet must be greater than 0" in reasons[9]
    assert "2099-01-01 is in the future" in reasons[10]
    assert summary.lines(max_rejections=2)[-1] == "  ... and 4 more rejected rows"

    k1 = service.get_by_source(session=db, org_id=org.id, source="testmls", source_id="K1")
    assert k1 is not None
    assert k1.address_line == "14500 Kercheval Ave" and k1.zip_code == "48215"
    assert k1.close_price == Decimal("85000") and str(k1.close_date) == "2024-03-15"
    assert k1.list_price == Decimal("89900") and k1.status == "sold"
    assert k1.bathrooms == Decimal("1.5")  # one full bath and one half bath
    assert k1.lot_size == Decimal("4791.60")  # 0.11 acres * 43,560 sq ft
    assert k1.property_type == "single_family" and k1.neighborhood == "Jefferson Chalmers"
    k2 = service.get_by_source(session=db, org_id=org.id, source="testmls", source_id="K2")
    assert k2 is not None and k2.property_type == "condo" and k2.lot_size == Decimal("5000")
    k7 = service.get_by_source(session=db, org_id=org.id, source="testmls", source_id="K7")
    assert k7 is not None and k7.address_key is None and k7.latitude == pytest.approx(42.0308)
    # The imported sale is found by its address typed another way.
    found = service.find_by_address(session=db, org_id=org.id, text="14500 kercheval avenue")
    assert [p.id for p in found] == [k1.id]
    # A sales import publishes no events by default (comps are reference data).
    assert db.exec(select(OutboxEvent).where(OutboxEvent.name == "property.created")).all() == []


def test_reimport_is_idempotent_and_updates_what_changed(db: Session) -> None:
    org = make_org(db)
    _import(db, org, _sales_csv())
    assert _count(db, org) == 3

    again = _import(db, org, _sales_csv())
    assert again.counts() == {
        "rows": 9, "inserted": 0, "updated": 0, "unchanged": 3, "rejected": 6
    }  # fmt: skip
    assert _count(db, org) == 3

    repriced = [SALES_ROWS[0].replace('"$85,000"', "86500"), *SALES_ROWS[1:]]
    changed = _import(db, org, _sales_csv(repriced))
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 2)
    k1 = service.get_by_source(session=db, org_id=org.id, source="testmls", source_id="K1")
    assert k1 is not None and k1.close_price == Decimal("86500")
    assert _count(db, org) == 3

    # Another source with the same keys is a different set of properties.
    other = _import(db, org, _sales_csv(), source="othermls")
    assert other.inserted == 3 and _count(db, org) == 6


def test_missing_required_columns_refuse_the_whole_file(db: Session) -> None:
    org = make_org(db)
    text = "ListingKey,UnparsedAddress,ClosePrice\nK1,1 Main St,100000\n"
    with pytest.raises(ImportColumnsError) as caught:
        _import(db, org, text)
    message = str(caught.value)
    assert "missing required columns: close_date (CloseDate)" in message
    assert "Found columns: ListingKey, UnparsedAddress, ClosePrice" in message
    no_place = "ListingKey,ClosePrice,CloseDate\nK1,100000,2024-01-01\n"
    with pytest.raises(ImportColumnsError, match="an address"):
        _import(db, org, no_place)
    with pytest.raises(ImportColumnsError, match="list_price"):
        _import(db, org, "ListingKey,UnparsedAddress\nK1,1 Main St\n", kind="listings")
    assert _count(db, org) == 0


def test_column_mapping_and_rows_without_ids(db: Session) -> None:
    org = make_org(db)
    text = (
        "Sale Price,Sold On,Street,Town,Zip,Sq Ft\n"
        "120000,05/01/2024,9 Oak Street,Ames,50010,1400\n"
        "95000,2024-06-02,11 Oak Street,Ames,50010,1100\n"
    )
    mapping = {
        "close_price": "Sale Price",
        "close_date": "Sold On",
        "address_line": "Street",
        "city": "Town",
        "square_feet": "sq ft",  # case and spaces do not matter
    }
    first = _import(db, org, text, mapping=mapping)
    assert (first.inserted, first.rejected) == (2, 0)
    # "Zip" is one of our own names' aliases; no ids: re-import keys on address + close date.
    second = _import(db, org, text, mapping=mapping)
    assert (second.inserted, second.unchanged) == (0, 2)
    oak = service.find_by_address(session=db, org_id=org.id, text="9 Oak St, Ames IA 50010")
    assert len(oak) == 1 and oak[0].square_feet == 1400 and str(oak[0].close_date) == "2024-05-01"
    with pytest.raises(ImportColumnsError, match="unknown field"):
        _import(db, org, text, mapping={"price_of_tea": "Sale Price"})
    with pytest.raises(ImportColumnsError, match="no column Nope"):
        _import(db, org, text, mapping={"close_price": "Nope"})


def test_listings_publish_events_and_a_sale_closes_the_listing(db: Session) -> None:
    org = make_org(db)
    listings = (
        "ListingKey,ListingId,StreetNumber,StreetDirPrefix,StreetName,StreetSuffix,UnitNumber,"
        "City,StateOrProvince,PostalCode,ListPrice,StandardStatus,ListingContractDate\n"
        "L1,2240001,2345,W,Grand,Boulevard,3,Detroit,MI,48208,75000,Active Under Contract,"
        "2024-02-01\n"
        "L2,2240002,77,,Cedar,Terrace,,Detroit,MI,48214,55000,Active,2024-02-03\n"
        "L3,2240003,80,,Cedar,Terrace,,Detroit,MI,48214,55000,Dreaming,2024-02-03\n"
    )
    summary = _import(db, org, listings, kind="listings")
    assert (summary.inserted, summary.rejected) == (2, 1)
    assert "unknown status 'Dreaming'" in summary.rejections[0].reason
    l1 = service.get_by_source(session=db, org_id=org.id, source="testmls", source_id="L1")
    assert l1 is not None
    assert l1.address_line == "2345 W Grand Blvd #3" and l1.status == "pending"
    assert l1.mls_number == "2240001"
    created = db.exec(select(OutboxEvent).where(OutboxEvent.name == "property.created")).all()
    assert {e.payload["source_id"] for e in created} == {"L1", "L2"}

    cut = _import(db, org, listings.replace("75000", "69900"), kind="listings")
    assert (cut.updated, cut.unchanged) == (1, 1)
    updated = db.exec(select(OutboxEvent).where(OutboxEvent.name == "property.updated")).all()
    assert [e.payload["changed_fields"] for e in updated] == [["list_price"]]

    # The listing closes: a sales file from the same MLS updates the same property.
    sale = (
        "ListingKey,ClosePrice,CloseDate,UnparsedAddress\n"
        "L1,68000,2024-04-30,2345 W Grand Blvd #3\n"
    )
    closed = _import(db, org, sale)
    assert (closed.inserted, closed.updated) == (0, 1)
    db.refresh(l1)
    assert l1.status == "sold" and l1.close_price == Decimal("68000")
    assert l1.list_price == Decimal("69900")  # a column the sales file lacks is kept


def _failing_rows(rows: list[dict[str, str]], fail_after: int) -> Iterator[dict[str, str]]:
    """Yield rows, then fail as a crash would."""
    for index, row in enumerate(rows):
        if index == fail_after:
            raise RuntimeError("power cut")
        yield row


def test_a_crash_keeps_committed_batches_and_rerun_resumes(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db, "Crash Test")
    db.commit()
    good = [row for row in SALES_ROWS if row.split(",")[0] in {"K1", "K2", "K7"}]
    extra = [
        f"X{n},{n} Elm St,Detroit,MI,48201,{90000 + n},2024-01-0{n},,1000,2,1,0,1950,,,,,,"
        for n in range(1, 5)
    ]
    columns, rows = _rows(_sales_csv(good + extra))  # 7 good rows
    with pytest.raises(RuntimeError, match="power cut"):
        import_records(
            session=db,
            org_id=org.id,
            rows=_failing_rows(rows, fail_after=5),
            kind="sales",
            source="crashmls",
            columns=columns,
            batch_size=2,
        )
    db.rollback()
    # Two full batches (4 rows) were committed before the crash; the fifth row was not.
    assert _count(db, org) == 4
    resumed = import_records(
        session=db, org_id=org.id, rows=rows, kind="sales", source="crashmls", columns=columns
    )
    assert (resumed.inserted, resumed.unchanged) == (3, 4)
    assert _count(db, org) == 7


def _dealdesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_import_sales(committed_db: Session, tmp_path: Path) -> None:
    org = auth_service.create_organisation(session=committed_db, name="CLI Imports", slug="cli-imp")
    committed_db.commit()
    path = tmp_path / "sales.csv"
    path.write_text(_sales_csv())
    rejects = tmp_path / "rejects.csv"

    first = _dealdesk(
        "import", "sales", str(path), "--org", "cli-imp", "--source", "cli",
        "--rejects", str(rejects), "--json",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "9 rows, 3 inserted, 0 updated, 0 unchanged, 6 rejected" in first.stderr
    assert "line 5: ClosePrice: 'abc' is not a number" in first.stderr
    assert '"inserted": 3' in first.stdout
    # The imported sales are in the comp index at once (bulk imports publish no events).
    assert "comp index refreshed: 3 properties" in first.stderr
    indexed = committed_db.exec(select(CompFeature).where(CompFeature.org_id == org.id)).all()
    assert len(indexed) == 3
    with rejects.open() as handle:
        written = list(csv.DictReader(handle))
    assert [row["line"] for row in written] == ["4", "5", "6", "7", "9", "10"]
    assert written[1]["ListingKey"] == "K4" and "not a number" in written[1]["reason"]

    again = _dealdesk("import", "sales", str(path), "--org", "cli-imp", "--source", "cli")
    assert again.returncode == 0, again.stderr
    assert "0 inserted, 0 updated, 3 unchanged, 6 rejected" in again.stderr
    assert _count(committed_db, org) == 3

    broken = tmp_path / "broken.csv"
    broken.write_text("ListingKey,ClosePrice\nK1,1\n")
    refused = _dealdesk("import", "sales", str(broken), "--org", "cli-imp")
    assert refused.returncode == 2
    assert "nothing imported" in refused.stderr and "close_date (CloseDate)" in refused.stderr
    unknown = _dealdesk("import", "listings", str(path), "--org", "no-such-org")
    assert unknown.returncode == 2 and "no organisation 'no-such-org'" in unknown.stderr


def test_a_row_the_database_refuses_is_rejected_alone(db: Session) -> None:
    org = make_org(db)
    rows = [
        "A1,1 Birch St,Detroit,MI,48201,90000,2024-01-05,,1000,2,1,0,1950,,,,,,",
        # A NUL character passes every field check, but PostgreSQL text cannot hold it.
        "A2,2 Birch\x00 St,Detroit,MI,48201,90000,2024-01-05,,1000,2,1,0,1950,,,,,,",
        "A3,3 Birch St,Detroit,MI,48201,90000,2024-01-05,,1000,2,1,0,1950,,,,,,",
        # 3 billion square feet would overflow the integer column: the range check says so.
        "A4,4 Birch St,Detroit,MI,48201,90000,2024-01-05,,3000000000,2,1,0,1950,,,,,,",
    ]
    summary = _import(db, org, _sales_csv(rows), batch_size=10)
    assert (summary.inserted, summary.rejected) == (2, 2)
    reasons = {r.line: r.reason for r in summary.rejections}
    assert sorted(reasons) == [3, 5]
    assert "the database refused the row" in reasons[3]
    assert "square_feet must be at most 10000000" in reasons[5]
    assert {p.source_id for p in db.exec(select(Property).where(Property.org_id == org.id))} == {
        "A1",
        "A3",
    }
