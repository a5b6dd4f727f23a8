"""QA pass over property data and the market monitor: messy CSVs, coordinates, trends, alerts.

Each test pins a defect found by probing with real-world data (an analyst's exports from MLS
systems, Excel and HUD) against the real database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.market import service as market_service
from domain.market import trends
from domain.market.sources import parse_feed
from domain.property import service
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property, PropertySearch
from domain.section8 import hud_import
from domain.valuation import service as valuation_service
from tests.factories import auth_headers, make_org, make_property, make_user

REPO = Path(__file__).resolve().parents[1]
SALES_HEADER = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,"
    "LivingArea,BathroomsTotalDecimal,Latitude,Longitude"
)


def _import_csv(db: Session, org_id: object, text: str, kind: str = "sales") -> ImportSummary:
    """Import CSV text the way the CLI does: a ``csv.DictReader`` over the file."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return import_records(
        session=db,
        org_id=org_id,  # type: ignore[arg-type]
        rows=reader,
        kind=kind,
        source="qa",
        columns=list(reader.fieldnames or []),
    )


def _by_key(db: Session, org_id: object, key: str) -> Property:
    prop = service.get_by_source(session=db, org_id=org_id, source="qa", source_id=key)  # type: ignore[arg-type]
    assert prop is not None, key
    return prop


def test_rejected_rows_name_their_file_line_past_blank_lines_and_multiline_cells(
    db: Session,
) -> None:
    org = make_org(db)
    text = (
        f"{SALES_HEADER}\r\n"
        "\r\n"  # line 2: blank (Excel leaves these)
        "K1,1 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2,,\r\n"  # line 3
        "\r\n"  # line 4: blank
        "K2,2 Main St,Detroit,MI,48201,abc,2024-01-02,1000,2,,\r\n"  # line 5: bad price
        'K3,"3 Main St\r\nrear house",Detroit,MI,48201,100000,2024-01-02,1000,2,,\r\n'  # 6-7
        "K4,4 Main St,Detroit,MI,48201,,2024-01-02,1000,2,,\r\n"  # line 8: no price
    )
    summary = _import_csv(db, org.id, text)
    reasons = {r.line: r.reason for r in summary.rejections}
    assert 5 in reasons and "'abc' is not a number" in reasons[5]
    assert 8 in reasons and "needs a close price" in reasons[8]
    assert all(r.line in (5, 6, 8) for r in summary.rejections), reasons


def test_zero_prices_are_not_sales_or_listings(db: Session) -> None:
    org = make_org(db)
    sales = _import_csv(
        db,
        org.id,
        f"{SALES_HEADER}\n"
        "K1,1 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2,,\n"
        'K2,2 Main St,Detroit,MI,48201,"$0",2024-01-03,1000,2,,\n',
    )
    assert (sales.inserted, sales.rejected) == (1, 1)
    assert sales.rejections[0].line == 3
    assert "not a sale price" in sales.rejections[0].reason
    listings = _import_csv(
        db,
        org.id,
        "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice\n"
        "L1,5 Main St,Detroit,MI,48201,0\n",
        kind="listings",
    )
    assert listings.rejected == 1 and "above $0" in listings.rejections[0].reason


def test_zero_zero_coordinates_are_no_coordinates(db: Session) -> None:
    org = make_org(db)
    summary = _import_csv(
        db,
        org.id,
        f"{SALES_HEADER}\n"
        "K1,1 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2,0,0\n"  # address: kept
        "K2,,,,,100000,2024-01-02,1000,2,0.0,0.0\n",  # nothing else to locate it by
    )
    assert (summary.inserted, summary.rejected) == (1, 1)
    k1 = _by_key(db, org.id, "K1")
    assert (k1.latitude, k1.longitude) == (None, None)
    assert "cannot be located" in summary.rejections[0].reason


def test_swapped_latitude_and_longitude_of_a_us_house_are_refused(db: Session) -> None:
    org = make_org(db)
    summary = _import_csv(
        db,
        org.id,
        f"{SALES_HEADER}\n"
        "K1,1 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2,-83.0458,42.3314\n"
        "K2,2 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2,42.3314,-83.0458\n"
        # Honolulu: far west and south, still a US point the right way round.
        "K3,1 Kalakaua Ave,Honolulu,HI,96815,100000,2024-01-02,1000,2,21.2766,-157.8271\n",
    )
    assert (summary.inserted, summary.rejected) == (2, 1)
    assert summary.rejections[0].line == 2
    assert "swapped" in summary.rejections[0].reason
    assert _by_key(db, org.id, "K2").latitude == 42.3314


def test_reso_decimal_bathrooms_with_three_quarter_baths_are_kept(db: Session) -> None:
    org = make_org(db)
    summary = _import_csv(
        db,
        org.id,
        f"{SALES_HEADER}\n"
        "K1,1 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2.75,,\n"
        "K2,2 Main St,Detroit,MI,48201,100000,2024-01-02,1000,2.5,,\n",
    )
    assert (summary.inserted, summary.rejected) == (2, 0), summary.lines()
    assert _by_key(db, org.id, "K1").bathrooms == Decimal("2.8")
    assert _by_key(db, org.id, "K2").bathrooms == Decimal("2.5")


def test_fmr_rejections_name_their_file_line_past_blank_lines(db: Session) -> None:
    text = (
        "areaname,fmr_0,fmr_1,fmr_2,fmr_3,fmr_4\n"
        "\n"
        "QA Blank Line Metro FMR Area,900,1000,1200,1500,1700\n"  # line 3
        "\n"
        "QA Second Metro FMR Area,900,abc,1200,1500,1700\n"  # line 5
    )
    summary = hud_import.import_fmr_csv(session=db, text=text, year=2024)
    assert [r.row_number for r in summary.rejected] == [5]


def test_market_feed_rejections_name_their_file_line_past_blank_lines() -> None:
    data = (
        b"ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice\r\n"
        b"\r\n"
        b"L1,1 Main St,Detroit,MI,48201,45000\r\n"  # line 3
        b"\r\n"
        b"L2,2 Main St,Detroit,MI,48201,0\r\n"  # line 5: price on request
    )
    parsed = market_service.parse_rows(parse_feed(data, label="qa feed"))
    assert [listing.line for listing in parsed.listings] == [3]
    assert [r["line"] for r in parsed.rejections] == [5]


def test_quiet_hours_with_a_utc_offset_are_refused_not_silently_dropped(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor, phone_number="+13135550123")
    response = client.post(
        "/api/v1/alerts/configure",
        headers=auth_headers(db, investor),
        json={
            "zip_codes": ["48201"],
            "quiet_hours_start": "22:00+02:00",
            "quiet_hours_end": "07:00",
            "timezone": "America/Detroit",
        },
    )
    assert response.status_code == 422, response.text
    assert "UTC offset" in response.text


def test_sales_trends_show_months_without_sales(db: Session) -> None:
    org = make_org(db)
    summary = _import_csv(
        db,
        org.id,
        f"{SALES_HEADER}\n"
        "K1,1 Main St,Detroit,MI,48201,100000,2024-01-10,1000,2,,\n"
        "K2,2 Main St,Detroit,MI,48201,110000,2024-04-03,1000,2,,\n",
    )
    assert summary.inserted == 2
    valuation_service.reindex_comps(session=db, org_id=org.id)
    result = trends.market_trends(session=db, org_id=org.id, area="48201", source="sales", months=6)
    months = [(m.month, m.sales) for m in result.months]
    assert len(months) == 6 and months[-1][0] == result.period_end == "2024-04"
    assert ("2024-02", 0) in months and ("2024-03", 0) in months
    assert ("2024-01", 1) in months and ("2024-04", 1) in months
    labels = [dt.date.fromisoformat(f"{m}-01") for m, _ in months]
    assert all(
        (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1
        for a, b in zip(labels, labels[1:], strict=False)
    )


def _dealdesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_imports_an_excel_csv_with_semicolons_in_windows_1252(
    committed_db: Session, tmp_path: Path
) -> None:
    org = auth_service.create_organisation(session=committed_db, name="QA Excel", slug="qa-xl")
    committed_db.commit()
    text = (
        "ListingKey;UnparsedAddress;City;StateOrProvince;PostalCode;ClosePrice;CloseDate\r\n"
        "K1;14 Café St;Detroit;MI;48201;85000;03/15/2024\r\n"
        "\r\n"
        "K2;16 Café St;Detroit;MI;48201;abc;03/16/2024\r\n"  # line 4
    )
    path = tmp_path / "sales.csv"
    path.write_bytes(text.encode("cp1252"))
    rejects = tmp_path / "rejects.csv"
    result = _dealdesk(
        "import", "sales", str(path), "--org", "qa-xl", "--source", "qa",
        "--rejects", str(rejects),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 rows, 1 inserted, 0 updated, 0 unchanged, 1 rejected" in result.stderr
    with rejects.open() as handle:
        assert [row["line"] for row in csv.DictReader(handle)] == ["4"]
    committed_db.expire_all()
    prop = committed_db.exec(select(Property).where(Property.org_id == org.id)).one()
    assert prop.address_line == "14 Café St" and prop.close_price == Decimal("85000")


def test_free_text_finds_features_a_house_has_not_those_it_lacks(db: Session) -> None:
    org = make_org(db)
    without = make_property(db, org, features={"pool": False, "garage": "2 car detached"})
    with_pool = make_property(db, org, features={"pool": True})
    on_pool_rd = make_property(
        db, org, address_line="2 Pool Rd", city="Detroit", state="MI", zip_code="48201"
    )

    def found(text: str) -> set[object]:
        result = service.search(session=db, org_id=org.id, query=PropertySearch(text=text))
        assert result.total == len(result.hits)
        return {hit.property.id for hit in result.hits}

    assert found("pool") == {with_pool.id, on_pool_rd.id}
    assert found("false") == set()
    assert found("detached garage") == {without.id}
