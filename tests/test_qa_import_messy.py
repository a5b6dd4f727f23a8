"""QA: the CSV imports fed the messy files users really have (MLS, Excel, Google Sheets).

Decisions these tests pin (see the README's import sections):

- Money and numbers are read the US way only: ``$125,000``, ``125,000.00``, ``(1,250)``.
  A comma that is not a thousands separator (``125,00``, ``125.000,00``: a decimal comma),
  shorthand (``$125K``) and scientific notation (``1.25E+05``) are refused with a reason: the
  old reading silently stored 12,500 for ``125,00`` and 125 for ``125.000,00``.
- Dates: ISO (also timestamps, the date as written), US month-first with or without a time of
  day, ``Mar 15, 2024``. An Excel serial day number (``45366``) is refused (1900 vs 1904 date
  systems), as is a day-first date (``15/03/2024``) and trailing junk after an ISO date.
- A row of empty cells (``,,,,``) is skipped like a blank line. A row with more filled cells
  than the header is refused (an unquoted comma shifts every later cell); empty extra cells
  are ignored.
- An empty file, a spreadsheet workbook or a UTF-16 export get a clear answer, no traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from domain.auth import service as auth_service
from domain.auth.models import Organisation
from domain.property.errors import ImportColumnsError
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property, Section8Fmr
from domain.section8 import hud_import
from tests.factories import make_org

REPO = Path(__file__).resolve().parents[1]
HEADER = "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate"


def _import(
    db: Session, org: Organisation, text: str, kind: str = "sales", **kwargs: Any
) -> ImportSummary:
    """Import CSV text the way the CLI reads a file (a DictReader: the file's line numbers)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return import_records(
        session=db,
        org_id=org.id,
        rows=reader,
        kind=kind,
        source="messy",
        columns=list(reader.fieldnames or []),
        **kwargs,
    )


def _by_key(db: Session, org: Organisation, key: str) -> Property:
    return db.exec(
        select(Property).where(Property.org_id == org.id, Property.source_id == key)
    ).one()


def _count(db: Session, org: Organisation) -> int:
    statement = select(func.count()).select_from(Property).where(Property.org_id == org.id)
    return int(db.exec(statement).one())


def _reasons(summary: ImportSummary) -> dict[int, str]:
    return {rejection.line: rejection.reason for rejection in summary.rejections}


# --- money and areas ---------------------------------------------------------------------


def test_money_and_areas_accept_us_formats_and_refuse_guesses_with_a_reason(
    db: Session,
) -> None:
    org = make_org(db)
    rows = [
        'M1,1 Money St,Detroit,MI,48201,"$125,000",2024-03-15,"1,250"',  # line 2
        'M2,2 Money St,Detroit,MI,48201,"125,000.00",2024-03-15,1250',  # line 3
        "M3,3 Money St,Detroit,MI,48201,$ 99500.50,2024-03-15,",  # line 4
        "M4,4 Money St,Detroit,MI,48201,$125K,2024-03-15,1250",  # line 5: shorthand
        'M5,5 Money St,Detroit,MI,48201,"125,00",2024-03-15,1250',  # line 6: decimal comma
        "M6,6 Money St,Detroit,MI,48201,125.000,2024-03-15,1250",  # line 7: 125 is a price
        'M7,7 Money St,Detroit,MI,48201,"125.000,00",2024-03-15,1250',  # line 8
        "M8,8 Money St,Detroit,MI,48201,1.25E+05,2024-03-15,1250",  # line 9: Excel display
        "M9,9 Money St,Detroit,MI,48201,-125000,2024-03-15,1250",  # line 10: negative
        'M10,10 Money St,Detroit,MI,48201,"(125,000)",2024-03-15,1250',  # line 11
        "M11,11 Money St,Detroit,MI,48201,0,2024-03-15,1250",  # line 12
        'M12,12 Money St,Detroit,MI,48201,90000,2024-03-15,"1,25"',  # line 13: area
    ]
    summary = _import(db, org, "\n".join([f"{HEADER},LivingArea", *rows]) + "\n")

    assert (summary.rows, summary.inserted) == (12, 3), summary.lines()
    assert _by_key(db, org, "M1").close_price == Decimal("125000")
    assert _by_key(db, org, "M1").square_feet == 1250
    assert _by_key(db, org, "M2").close_price == Decimal("125000")
    assert _by_key(db, org, "M3").close_price == Decimal("99500.50")
    reasons = _reasons(summary)
    # 125.000 reads as $125 (US), below the $1,000 floor of a sale price: refused, not stored.
    assert set(reasons) == {5, 6, 7, 8, 9, 10, 11, 12, 13}
    assert reasons[5] == (
        "ClosePrice: '$125K' is shorthand, not an exact amount: write the whole number "
        "(e.g. 125000 for 125K)"
    )
    assert "'125,00' has a comma that is not a thousands separator (a decimal comma?)" in reasons[6]
    assert "'125.000,00' has a comma that is not a thousands separator" in reasons[8]
    assert "'1.25E+05' is in scientific notation" in reasons[9]
    for line in (10, 11, 12):
        assert "is not a sale price (a sale needs a close price above $0)" in reasons[line]
    assert reasons[13].startswith("LivingArea: '1,25' has a comma that is not a thousands")


# --- dates -------------------------------------------------------------------------------


def test_dates_as_exports_write_them_and_refused_ones_say_why(db: Session) -> None:
    org = make_org(db)
    dates = [
        "2024-03-15",  # line 2
        "03/15/2024",  # line 3
        "3/15/24",  # line 4
        "2024-03-15T00:00:00Z",  # line 5
        "3/15/2024 0:00",  # line 6: Excel date-time cell
        "3/15/2024 12:00:00 AM",  # line 7: Google Sheets
        '"Mar 15, 2024"',  # line 8
        "45366",  # line 9: Excel serial for 2024-03-15
        "15/03/2024",  # line 10: day first
        "2024-03-15abc",  # line 11
    ]
    rows = [f"D{i},{i} Date St,Detroit,MI,48201,90000,{d}" for i, d in enumerate(dates)]
    summary = _import(db, org, "\n".join([HEADER, *rows]) + "\n")

    assert summary.inserted == 7, summary.lines()
    for i in range(7):
        assert _by_key(db, org, f"D{i}").close_date == dt.date(2024, 3, 15)
    reasons = _reasons(summary)
    assert reasons == {
        9: "CloseDate: '45366' looks like an Excel serial day number, not a date: format the "
        "column as a date (YYYY-MM-DD) in the spreadsheet and export again",
        10: "CloseDate: '15/03/2024' is day-first: dates are read month first (MM/DD/YYYY); "
        "write YYYY-MM-DD",
        11: "CloseDate: '2024-03-15abc' is not a date (write YYYY-MM-DD or MM/DD/YYYY)",
    }


# --- rows and cells ----------------------------------------------------------------------


def test_empty_rows_are_skipped_and_an_unquoted_comma_is_refused(db: Session) -> None:
    org = make_org(db)
    text = (
        f"{HEADER}\r\n"
        "R1,1 Row St,Detroit,MI,48201,90000,2024-03-15,,\r\n"  # line 2: empty extra cells
        ",,,,,,\r\n"  # line 3: a row of empty cells (Excel)
        "R2,2 Row St, Apt 4,Detroit,MI,48201,91000,2024-03-15\r\n"  # line 4: unquoted comma
        'R3,"3 Row St, Apt 4",Detroit,MI,48201,"$92,000",2024-03-15\r\n'  # line 5: quoted
        'R4,"4 Row St\r\nApt 5",Detroit,MI,48201,93000,2024-03-15\r\n'  # lines 6-7
        "R5,5 Row St,Detroit,MI,48201,,2024-03-15\r\n"  # line 8: no price
        ",,,,,,\r\n"
        "\r\n"
    )
    summary = _import(db, org, text)

    assert (summary.rows, summary.inserted, summary.rejected) == (5, 3, 2), summary.lines()
    reasons = _reasons(summary)
    assert reasons[4] == (
        "the row has 8 cells but the header has 7 columns (extra: '2024-03-15'): a comma "
        "inside an unquoted cell? Put that cell in double quotes"
    )
    assert reasons[8] == "ClosePrice: a sale needs a close price"
    assert _by_key(db, org, "R3").address_line == "3 Row St #4"  # the comma was data
    assert _by_key(db, org, "R4").close_price == Decimal("93000")
    assert _count(db, org) == 3


def test_an_empty_file_and_a_header_only_file_say_so(db: Session) -> None:
    org = make_org(db)
    with pytest.raises(ImportColumnsError, match="the file is empty: it has no header row"):
        _import(db, org, "")
    summary = _import(db, org, HEADER + "\r\n\r\n")
    assert summary.rows == 0
    assert summary.lines()[1] == "  the file has a header row but no data rows: nothing to import"


def test_reimport_with_a_broken_row_keeps_what_was_stored_and_duplicates_nothing(
    db: Session,
) -> None:
    org = make_org(db)
    first = "\n".join(
        [
            HEADER,
            "P1,1 Keep St,Detroit,MI,48201,90000,2024-03-15",
            "P2,2 Keep St,Detroit,MI,48201,91000,2024-03-15",
            "P3,3 Keep St,Detroit,MI,48201,92000,2024-03-15",
        ]
    )
    assert _import(db, org, first + "\n").inserted == 3
    second = "\n".join(
        [
            HEADER,
            'P1,1 Keep St,Detroit,MI,48201,"90,00",2024-03-15',  # broken now: decimal comma
            "P2,2 Keep St,Detroit,MI,48201,95000,2024-03-15",  # changed
            "P3,3 Keep St,Detroit,MI,48201,92000,2024-03-15",  # same
        ]
    )
    again = _import(db, org, second + "\n", batch_size=1)

    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 1, 1, 1)
    assert _count(db, org) == 3
    assert _by_key(db, org, "P1").close_price == Decimal("90000")  # untouched
    assert _by_key(db, org, "P2").close_price == Decimal("95000")


# --- HUD FMR -----------------------------------------------------------------------------


FMR_HEADER = "hud_area_name;fmr_0;fmr_1;fmr_2;fmr_3;fmr_4;fmr_year"


def test_fmr_semicolon_file_with_decimal_commas_and_empty_rows(db: Session) -> None:
    text = (
        f"{FMR_HEADER}\r\n"
        "Messy Metro A;$812;$901;1.150,00;$1,460;$1,600;2024\r\n"  # line 2: decimal comma
        "Messy Metro B;$812;$901;$1,150;$1,460;1.6K;2024\r\n"  # line 3: shorthand
        "Messy Metro C;812;901;1150;1460;1600;2024\r\n"  # line 4
        ";;;;;;\r\n"
    )
    summary = hud_import.import_fmr_csv(session=db, text=text)

    assert (summary.rows_read, summary.areas, summary.inserted) == (3, 1, 5), summary.lines()
    assert [(r.row_number, r.area) for r in summary.rejected] == [
        (2, "Messy Metro A"),
        (3, "Messy Metro B"),
    ]
    assert "fmr_2 '1.150,00' has a comma that is not a thousands separator" in (
        summary.rejected[0].reason
    )
    assert "fmr_4 '1.6K' is shorthand" in summary.rejected[1].reason
    stored = db.exec(
        select(Section8Fmr).where(
            col(Section8Fmr.org_id).is_(None), Section8Fmr.area.startswith("Messy Metro")
        )
    ).all()
    assert {row.area for row in stored} == {"Messy Metro C"}


def test_fmr_files_that_are_not_csv_text_are_read_or_refused_clearly(tmp_path: Path) -> None:
    workbook = tmp_path / "FY25_FMRs.csv"  # a workbook renamed .csv
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(hud_import.FmrFileError, match="is a spreadsheet workbook"):
        hud_import.read_text(workbook)
    unicode_text = tmp_path / "fmr.txt"  # Excel's "Unicode Text": UTF-16, tab-separated
    unicode_text.write_bytes("hud_area_name\tfmr_0\nDoña Ana County, NM\t700\n".encode("utf-16"))
    assert hud_import.read_text(unicode_text).startswith("hud_area_name\tfmr_0\nDoña Ana")
    windows = tmp_path / "fmr-1252.csv"
    windows.write_bytes("hud_area_name\n\u201cPeña\u201d County\n".encode("cp1252"))
    assert "\u201cPeña\u201d County" in hud_import.read_text(windows)


# --- through the real CLI ----------------------------------------------------------------


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


def test_cli_imports_excel_and_sheets_exports_and_refuses_non_csv_clearly(
    committed_db: Session, tmp_path: Path
) -> None:
    org = auth_service.create_organisation(
        session=committed_db, name="Messy Imports", slug="messy-imp"
    )
    committed_db.commit()

    # UTF-8 with BOM, CRLF, header with stray spaces and other case, trailing empty rows.
    bom = tmp_path / "listings.csv"
    bom.write_bytes(
        (
            "\ufeff ListingKey , Address ,city,STATE,Zip, List Price ,Living Area\r\n"
            'B1,12 Peña St,Detroit,MI,48201,"$125,000","1,250"\r\n'
            ",,,,,,\r\n"
            "\r\n"
        ).encode("utf-8")
    )
    # Windows-1252 bytes, tab-separated.
    tabbed = tmp_path / "sales.tsv"
    tabbed.write_bytes(
        (
            HEADER.replace(",", "\t") + "\r\n"
            "T1\t14 Peña St\tDetroit\tMI\t48201\t$85,000.00\t3/15/2024 0:00\r\n"
        ).encode("cp1252")
    )
    # Excel "Unicode Text": UTF-16 with a BOM, tab-separated.
    utf16 = tmp_path / "sales.txt"
    utf16.write_bytes(
        (
            HEADER.replace(",", "\t") + "\r\n"
            "U1\t16 Peña St\tDetroit\tMI\t48201\t86000\t2024-03-15T00:00:00Z\r\n"
        ).encode("utf-16")
    )
    for kind, path in (("listings", bom), ("sales", tabbed), ("sales", utf16)):
        run = _dealdesk("import", kind, str(path), "--org", "messy-imp")
        assert run.returncode == 0, run.stderr
        assert "1 rows, 1 inserted, 0 updated, 0 unchanged, 0 rejected" in _flat(run.stderr)
    again = _dealdesk("import", "sales", str(tabbed), "--org", "messy-imp")
    assert "1 rows, 0 inserted, 0 updated, 1 unchanged, 0 rejected" in _flat(again.stderr)

    committed_db.expire_all()
    assert _count(committed_db, org) == 3
    b1 = _by_key(committed_db, org, "B1")
    assert (b1.address_line, b1.list_price, b1.square_feet) == (
        "12 Peña St",
        Decimal("125000"),
        1250,
    )
    assert _by_key(committed_db, org, "T1").address_line == "14 Peña St"
    assert _by_key(committed_db, org, "T1").close_date == dt.date(2024, 3, 15)
    assert _by_key(committed_db, org, "U1").address_line == "16 Peña St"

    workbook = tmp_path / "export.xlsx"
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused = {
        workbook: "nothing imported: export.xlsx is a spreadsheet workbook (Excel .xlsx, "
        "Numbers or OpenDocument), not a CSV file",
        empty: "nothing imported: the file is empty: it has no header row",
        tmp_path: "is a folder, not a CSV file",
    }
    for path, message in refused.items():
        run = _dealdesk("import", "sales", str(path), "--org", "messy-imp")
        assert run.returncode == 2, run.stderr
        assert message in _flat(run.stderr)
        assert "Traceback" not in run.stderr
    committed_db.expire_all()
    assert _count(committed_db, org) == 3
