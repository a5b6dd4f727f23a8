"""Importing HUD's FMR table: its layout, per-row rejections, idempotent re-import, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from domain.property.models import Section8Fmr
from domain.section8 import hud_import, service
from store.reference_data import DETROIT_FMR_AREA
from tests.factories import make_org

REPO = Path(__file__).resolve().parents[3]

# HUD's FY2025 county-level file layout (FY25_FMRs.xlsx saved as CSV): one row per county,
# the metro area's name repeated for each of its counties, extra columns ignored.
HUD_CSV = (
    "\n".join(
        [
            "stusps,state,hud_area_code,countyname,hud_area_name,"
            "fmr_0,fmr_1,fmr_2,fmr_3,fmr_4,pop2020,fmr_year",
            f'MI,26,METRO19820M19820,Wayne County,"{DETROIT_FMR_AREA}",'
            '"$1,000",$1020,1210,1550,1780,1793561,2025',
            f'MI,26,METRO19820M19820,Oakland County,"{DETROIT_FMR_AREA}",'
            "1000,1020,1210,1550,1780,1274395,2025",
            'MI,26,METRO11460M11460,Washtenaw County,"Ann Arbor, MI MSA",'
            "1210,1305,1555,1960,2195,372258,2025",
            'MI,26,METRO24340M24340,Kent County,"Grand Rapids-Wyoming, MI HUD Metro FMR Area",'
            "990,1070,1300,1690,1850,657974,2025",
            "MI,26,NCNTY26001N26001,Alcona County,,700,760,900,1150,1250,10167,2025",
            'MI,26,NCNTY26003N26003,Alger County,"Alger County, MI",'
            "720,n/a,910,1180,1260,8842,2025",
            'MI,26,METRO24340M24340,Ottawa County,"Grand Rapids-Wyoming, MI HUD Metro FMR Area",'
            "995,1070,1300,1690,1850,296200,2025",
            'MI,26,NCNTY26005N26005,Allegan County,"Allegan County, MI",'
            "810,880,1050,1330,-5,120502,2025",
        ]
    )
    + "\n"
)


def _write(tmp_path: Path, text: str, name: str = "fmr.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _shared_rows(db: Session, area: str, year: int) -> dict[int, Decimal | None]:
    rows = db.exec(
        select(Section8Fmr).where(
            col(Section8Fmr.org_id).is_(None), Section8Fmr.area == area, Section8Fmr.year == year
        )
    ).all()
    return {row.bedrooms: row.fmr_amount for row in rows}


def test_import_hud_layout_rejects_bad_rows_and_is_idempotent(db: Session) -> None:
    summary = hud_import.import_fmr_csv(session=db, text=HUD_CSV)
    # Detroit (Wayne + Oakland repeat it), Ann Arbor, Grand Rapids (Kent) -> 3 area-years.
    assert (summary.rows_read, summary.areas, summary.inserted) == (8, 3, 15)
    assert (summary.updated, summary.unchanged, summary.repeated) == (0, 0, 1)
    assert summary.years == {2025}
    rejected = {r.row_number: r.reason for r in summary.rejected}
    assert set(rejected) == {6, 7, 8, 9}
    assert rejected[6] == "the area name is empty"
    assert "fmr_1 'n/a' is not a number" in rejected[7]
    assert "different FMRs than row 5" in rejected[8]  # Ottawa's 0-bedroom FMR differs
    assert "fmr_4 -5 must be a positive amount" in rejected[9]

    assert _shared_rows(db, DETROIT_FMR_AREA, 2025) == {
        0: Decimal("1000.00"),
        1: Decimal("1020.00"),
        2: Decimal("1210.00"),
        3: Decimal("1550.00"),
        4: Decimal("1780.00"),
    }
    assert _shared_rows(db, "Alger County, MI", 2025) == {}  # a bad row writes nothing
    row = db.exec(
        select(Section8Fmr).where(
            Section8Fmr.area == "Ann Arbor, MI MSA", Section8Fmr.bedrooms == 2
        )
    ).one()
    assert row.payment_standard == row.fmr_amount == Decimal("1555.00")
    assert row.effective_date is not None and row.effective_date.isoformat() == "2024-10-01"
    # The seed's 2024 Detroit rows are untouched; the latest year is now 2025.
    assert _shared_rows(db, DETROIT_FMR_AREA, 2024)[3] == Decimal("1329.00")
    org = make_org(db)
    assert service.rent_analysis(session=db, org_id=org.id, bedrooms=3).fmr == Decimal("1550")
    assert service.rent_analysis(session=db, org_id=org.id, bedrooms=3, year=2024).fmr == 1329

    count = db.exec(select(func.count()).select_from(Section8Fmr)).one()
    again = hud_import.import_fmr_csv(session=db, text=HUD_CSV)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 15)
    assert db.exec(select(func.count()).select_from(Section8Fmr)).one() == count

    changed = HUD_CSV.replace("1960,2195", "1975,2195")
    third = hud_import.import_fmr_csv(session=db, text=changed)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 14)
    assert _shared_rows(db, "Ann Arbor, MI MSA", 2025)[3] == Decimal("1975.00")
    assert (
        service.rent_analysis(session=db, org_id=org.id, bedrooms=3, area="Ann Arbor").fmr == 1975
    )


def test_bedroom_headings_area_name_and_year_option(db: Session) -> None:
    text = (
        "Areaname,Efficiency,One-Bedroom,Two-Bedroom,Three-Bedroom,Four-Bedroom\n"
        "Flint MI MSA,640,720,905,1150,1290\n"
    )
    summary = hud_import.import_fmr_csv(session=db, text=text, year=2023)
    assert (summary.inserted, summary.rejected) == (5, [])
    assert _shared_rows(db, "Flint MI MSA", 2023)[4] == Decimal("1290.00")


def test_county_names_get_their_state(db: Session) -> None:
    text = "countyname,state_alpha,fmr_0,fmr_1,fmr_2,fmr_3,fmr_4\nWayne County,MI,1,2,3,4,5\n"
    hud_import.import_fmr_csv(session=db, text=text, year=2022)
    assert len(_shared_rows(db, "Wayne County, MI", 2022)) == 5


@pytest.mark.parametrize(
    ("text", "year", "message"),
    [
        ("hud_area_name,fmr_0,fmr_1,fmr_2,fmr_3\nX,1,2,3,4\n", 2024, "4-bedroom FMR"),
        ("fips,fmr_0,fmr_1,fmr_2,fmr_3,fmr_4\n1,1,2,3,4,5\n", 2024, "an area name"),
        ("hud_area_name,fmr_0,fmr_1,fmr_2,fmr_3,fmr_4\nX,1,2,3,4,5\n", None, "--year"),
        ("", 2024, "empty"),
        ("hud_area_name,fmr_0,fmr_1,fmr_2,fmr_3,fmr_4\nX,1,2,3,4,5\n", 1900, "outside"),
    ],
)
def test_unusable_files_are_refused_whole(
    db: Session, text: str, year: int | None, message: str
) -> None:
    before = db.exec(select(func.count()).select_from(Section8Fmr)).one()
    with pytest.raises(hud_import.FmrFileError, match=message):
        hud_import.import_fmr_csv(session=db, text=text, year=year)
    assert db.exec(select(func.count()).select_from(Section8Fmr)).one() == before


def test_spreadsheet_files_are_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(hud_import.FmrFileError, match="save the sheet as CSV"):
        hud_import.read_text(_write(tmp_path, "x", "FY25_FMRs.xlsx"))


def test_latin1_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "fmr.csv"
    path.write_bytes("hud_area_name\nDoña Ana County, NM\n".encode("latin-1"))
    assert "Doña Ana" in hud_import.read_text(path)


def test_dealdesk_import_fmr_command(committed_db: Session, tmp_path: Path) -> None:
    area = "Testville-CLI, MI HUD Metro FMR Area"
    path = _write(
        tmp_path,
        "hud_area_name,fmr_0,fmr_1,fmr_2,fmr_3,fmr_4\n"
        f'"{area}",701,802,903,1104,1205\n'
        '"Broken Row Area",701,,903,1104,1205\n',
    )
    try:
        for attempt in range(2):
            done = subprocess.run(
                [sys.executable, "-m", "cli.main", "import", "fmr", str(path), "--year", "2031"],
                cwd=REPO,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            assert "rejected 1" in done.stderr
            assert "row 3 (Broken Row Area): fmr_1 is empty" in done.stderr
            expected = "inserted 5, updated 0, unchanged 0" if attempt == 0 else "unchanged 5"
            assert expected in done.stderr
        committed_db.expire_all()
        assert _shared_rows(committed_db, area, 2031)[3] == Decimal("1104.00")

        missing = subprocess.run(
            [sys.executable, "-m", "cli.main", "import", "fmr", str(path)],
            cwd=REPO,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert missing.returncode != 0 and "--year" in missing.stderr
    finally:
        # Shared FMR rows survive test truncation (reference data): remove ours.
        committed_db.exec(delete(Section8Fmr).where(col(Section8Fmr.year) == 2031))  # type: ignore[call-overload]
        committed_db.commit()
