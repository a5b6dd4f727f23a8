"""Import HUD's published Fair Market Rent table (CSV) into the shared FMR rows.

HUD publishes FMRs one row per area (``FY2024_FMRs.xlsx``, ``FMR2024_final_revised.csv`` ...),
with a column per bedroom count. Accepted layout, headings matched case-insensitively with
spaces, dashes and underscores alike:

- area name: ``hud_area_name``, ``areaname``, ``area_name``, ``area`` or ``countyname``
  (with ``state_alpha`` / ``state`` appended when present: "Wayne County, MI");
- FMRs, monthly dollars: ``fmr_0`` ... ``fmr_4`` (also ``fmr0`` ... ``fmr4``), or
  ``Efficiency``, ``One-Bedroom``, ``Two-Bedroom``, ``Three-Bedroom``, ``Four-Bedroom``;
- year: ``fmr_year``, ``year`` or ``fy`` per row, or ``--year`` for rows without one.

Other columns (fips, metro, population ...) are ignored. Amounts may carry ``$`` and
thousands separators, read as the property importer reads numbers (a decimal comma or ``1.2K``
rejects the row). The file may be separated by ``,``, ``;``, tab or ``|``. Rows are
upserted as shared HUD rows (``org_id`` NULL) keyed by area,
year and bedrooms, with the payment standard equal to the FMR (housing authorities set their
own, in their organisation's rows) and ``effective_date`` October 1 of the year before the
fiscal year (HUD's FY starts then); a utility allowance already on a row is kept. A row with a
missing or invalid figure is rejected with its reason; the others go in. The same area appearing
again with the same figures (HUD's county-level files repeat a metro area per county) is counted
once; with different figures it is rejected. Re-importing the same file changes nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from domain.property.importer import not_csv_reason, parse_number
from domain.property.models import Section8Fmr
from store.reference_data import section8_fmr_id

AREA_COLUMNS = ("hud_area_name", "areaname", "area_name", "area", "countyname", "county_name")
STATE_COLUMNS = ("state_alpha", "state_abbr", "state")
YEAR_COLUMNS = ("fmr_year", "year", "fy")
BEDROOM_COLUMNS: dict[int, tuple[str, ...]] = {
    0: ("fmr_0", "fmr0", "efficiency", "studio", "zero_bedroom"),
    1: ("fmr_1", "fmr1", "one_bedroom"),
    2: ("fmr_2", "fmr2", "two_bedroom"),
    3: ("fmr_3", "fmr3", "three_bedroom"),
    4: ("fmr_4", "fmr4", "four_bedroom"),
}
MAX_FMR = Decimal("99999")
MIN_YEAR, MAX_YEAR = 1983, 2100  # HUD's FMR history starts in 1983
MAX_AREA_LENGTH = 200
# Delimiters a "CSV" comes with: Excel writes ";" where "," is the decimal comma.
_DELIMITERS = (",", ";", "\t", "|")


class FmrFileError(ValueError):
    """The file cannot be imported at all (unreadable, or required columns missing)."""


@dataclass(frozen=True)
class RowRejection:
    """A file row that was not imported, and why."""

    row_number: int  # the line in the file, header = 1
    area: str | None
    reason: str


@dataclass
class FmrImportSummary:
    """What an import did."""

    rows_read: int = 0
    areas: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repeated: int = 0
    years: set[int] = field(default_factory=set)
    rejected: list[RowRejection] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A human summary, one line each."""
        years = ", ".join(str(y) for y in sorted(self.years)) or "-"
        out = [
            f"read {self.rows_read} rows: {self.areas} area-years (FY {years}); "
            f"FMR rows inserted {self.inserted}, updated {self.updated}, "
            f"unchanged {self.unchanged}; repeated areas {self.repeated}; "
            f"rejected {len(self.rejected)}"
        ]
        out += [f"  row {r.row_number} ({r.area or 'no area'}): {r.reason}" for r in self.rejected]
        return out


def _heading(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class _Layout:
    area: str
    state: str | None
    year: str | None
    bedrooms: dict[int, str]


def _layout(headings: Iterable[str]) -> _Layout:
    by_norm: dict[str, str] = {}
    for heading in headings:
        by_norm.setdefault(_heading(heading), heading)

    def first(options: Iterable[str]) -> str | None:
        return next((by_norm[o] for o in options if o in by_norm), None)

    area = first(AREA_COLUMNS)
    bedrooms = {b: first(names) for b, names in BEDROOM_COLUMNS.items()}
    missing = []
    if area is None:
        missing.append("an area name (hud_area_name, areaname or countyname)")
    missing += [
        f"the {b}-bedroom FMR ({' or '.join(BEDROOM_COLUMNS[b][:3])})"
        for b, column in bedrooms.items()
        if column is None
    ]
    if missing:
        raise FmrFileError("The file lacks " + "; ".join(missing))
    state = first(STATE_COLUMNS) if _heading(area or "") in ("countyname", "county_name") else None
    return _Layout(
        area=area or "",
        state=state,
        year=first(YEAR_COLUMNS),
        bedrooms={b: c for b, c in bedrooms.items() if c is not None},
    )


def _amount(raw: str | None) -> Decimal:
    text = (raw or "").strip()
    if not text:
        raise ValueError("is empty")
    try:
        # The property importer's reading: "$1,234" yes; "1.234,00" or "1.2K" refused.
        value = parse_number(text)
    except ValueError as exc:
        raise ValueError(f"'{raw}' {exc}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{raw} must be a positive amount")
    if value > MAX_FMR:
        raise ValueError(f"{raw} is above {MAX_FMR}, not a monthly rent")
    return value.quantize(Decimal("0.01"))


def _year(raw: str | None, default: int | None) -> int:
    text = (raw or "").strip()
    if not text:
        if default is None:
            raise ValueError("no fmr_year in the row and no --year given")
        year = default
    else:
        # HUD writes "2024" or, in some files, "FY2024".
        digits = re.sub(r"^fy", "", text.lower())
        try:
            year = int(digits)
        except ValueError:
            raise ValueError(f"year '{raw}' is not a year") from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    return year


def read_text(path: Path) -> str:
    """A CSV file's text, in the first encoding that reads it all.

    UTF-8 (with or without BOM), UTF-16 with a BOM, Windows-1252 (as Excel saves it), else
    Latin-1 (as older HUD files are).
    """
    if path.suffix.lower() in (".xlsx", ".xls"):
        raise FmrFileError(
            f"{path.name} is a spreadsheet: open it and save the sheet as CSV, then import that"
        )
    data = path.read_bytes()
    problem = not_csv_reason(path.name, data[:16])
    if problem is not None:
        raise FmrFileError(problem)
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _delimiter(text: str) -> str:
    """The header line's delimiter: the most frequent of , ; tab | (comma when none)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def import_fmr_csv(
    *,
    session: Session,
    text: str,
    year: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FmrImportSummary:
    """Upsert HUD's FMR rows from CSV text as shared rows; reject bad rows with a reason.

    The caller commits. ``progress`` is called with the number of rows read so far.
    """
    if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
        raise FmrFileError(f"--year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    if not reader.fieldnames:
        raise FmrFileError("The file is empty (no header row)")
    layout = _layout(reader.fieldnames)
    if layout.year is None and year is None:
        raise FmrFileError("The file has no fmr_year column: give the year with --year")

    summary = FmrImportSummary()
    wanted: dict[tuple[str, int], tuple[int, dict[int, Decimal]]] = {}
    for record in reader:
        if not any(isinstance(value, str) and value.strip() for value in record.values()):
            continue  # a row of empty cells (",,,,"), as Excel leaves below the data
        # The record's first line: blank lines are skipped and quoted cells may span lines.
        row_number = reader.line_num - sum(
            value.count("\n") for value in record.values() if isinstance(value, str)
        )
        summary.rows_read += 1
        if progress is not None:
            progress(summary.rows_read)
        area = " ".join((record.get(layout.area) or "").split())
        if area and layout.state:
            state = (record.get(layout.state) or "").strip()
            if state and not area.endswith(f", {state}"):
                area = f"{area}, {state}"
        if not area:
            summary.rejected.append(RowRejection(row_number, None, "the area name is empty"))
            continue
        if len(area) > MAX_AREA_LENGTH:
            summary.rejected.append(
                RowRejection(row_number, area[:60], f"the area name is over {MAX_AREA_LENGTH}")
            )
            continue
        problems: list[str] = []
        try:
            row_year = _year(record.get(layout.year) if layout.year else None, year)
        except ValueError as exc:
            problems.append(str(exc))
            row_year = 0
        amounts: dict[int, Decimal] = {}
        for bedrooms, column in layout.bedrooms.items():
            try:
                amounts[bedrooms] = _amount(record.get(column))
            except ValueError as exc:
                problems.append(f"{column} {exc}")
        if problems:
            summary.rejected.append(RowRejection(row_number, area, "; ".join(problems)))
            continue
        key = (area, row_year)
        if key in wanted:
            first_row, first_amounts = wanted[key]
            if first_amounts == amounts:
                summary.repeated += 1
            else:
                summary.rejected.append(
                    RowRejection(
                        row_number,
                        area,
                        f"different FMRs than row {first_row} for the same area and year",
                    )
                )
            continue
        wanted[key] = (row_number, amounts)

    summary.areas = len(wanted)
    summary.years = {y for _, y in wanted}
    _upsert(session=session, wanted=wanted, summary=summary)
    return summary


def _upsert(
    *,
    session: Session,
    wanted: dict[tuple[str, int], tuple[int, dict[int, Decimal]]],
    summary: FmrImportSummary,
) -> None:
    if not wanted:
        return
    existing: dict[tuple[str, int, int], Decimal | None] = {}
    areas = sorted({a for a, _ in wanted})
    chunk = 1000
    for start in range(0, len(areas), chunk):
        # Columns, not entities: the upsert below must not leave stale objects in the session.
        for area, area_year, bedrooms, amount in session.exec(
            select(
                Section8Fmr.area,
                Section8Fmr.year,
                Section8Fmr.bedrooms,
                col(Section8Fmr.fmr_amount),
            ).where(
                col(Section8Fmr.org_id).is_(None),
                col(Section8Fmr.area).in_(areas[start : start + chunk]),
                col(Section8Fmr.year).in_(summary.years),
            )
        ).all():
            existing[(area, area_year, bedrooms)] = amount
    values = []
    for (area, area_year), (_, amounts) in wanted.items():
        for bedrooms, amount in amounts.items():
            key = (area, area_year, bedrooms)
            if key not in existing:
                summary.inserted += 1
            elif existing[key] != amount:
                summary.updated += 1
            else:
                summary.unchanged += 1
                continue
            values.append(
                {
                    "id": section8_fmr_id(area, area_year, bedrooms),
                    "org_id": None,
                    "area": area,
                    "year": area_year,
                    "bedrooms": bedrooms,
                    "fmr_amount": amount,
                    "payment_standard": amount,
                    "effective_date": dt.date(area_year - 1, 10, 1),
                }
            )
    for start in range(0, len(values), chunk):
        statement = insert(Section8Fmr).values(values[start : start + chunk])
        session.execute(
            statement.on_conflict_do_update(
                constraint="uq_section8_fmr_org_area_year_bedrooms",
                set_={
                    "fmr_amount": statement.excluded.fmr_amount,
                    "payment_standard": statement.excluded.payment_standard,
                    "effective_date": statement.excluded.effective_date,
                },
            )
        )
    session.flush()
