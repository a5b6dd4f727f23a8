"""Import sales and listings from rows of a CSV file (RESO Data Dictionary or our own names).

``import_records`` is the whole import; the CLI only opens the file and draws the progress bar.

- Columns are found by name, case and punctuation ignored (``ClosePrice``, ``close_price`` and
  ``Close Price`` are one name): first an explicit mapping (``{"close_price": "SalePrice"}``),
  then our own field name, then the RESO names in ``FIELD_COLUMNS``.
- A file without a column the kind needs (sales: close price, close date, and an address or
  latitude/longitude; listings: list price and an address or latitude/longitude) is refused
  up front with ``ImportColumnsError`` listing what is missing and what was found.
- Each row is checked on its own; a bad one is rejected with its line number and why, and the
  rest go in. A ``LivingArea`` or ``YearBuilt`` of 0 or blank is how RESO exports say
  "unknown": it is stored empty and the row goes in with a warning naming its line and column.
  Rows are committed in batches, so a crash loses nothing already committed and re-running
  the same file resumes (what was committed comes back "unchanged").
- Idempotent: a row is keyed by (source, source id): the ``ListingKey`` / ``ListingId`` /
  ``source_id`` column, or, when the file has none, a hash of the normalised address (or
  coordinates) and, for sales, the close date. A known key updates the property only where a
  value differs; re-importing an identical file changes nothing. A key twice in one file:
  the later row wins (a sorted export lists the newer one last), with a warning naming both
  lines.
- Re-import never clears: an export that leaves a cell blank (or ``NA``, a 0 living area or
  year built, 0,0 coordinates) or lacks the column does not say the value is gone, so a known
  key keeps its stored value and only filled cells update it (a row whose only differences
  are blanks counts as unchanged). The defaults a new row gets (a listing without a status
  is ``active``) are not applied to a known one either. "No longer" is said with a value, not
  a blank: a listing that left the market comes with a ``StandardStatus`` (Expired,
  Withdrawn, Canceled → ``off_market``; Closed → ``sold``), which updates the status and keeps
  its last list price, also when the row's list price is blank (a known listing keeps its
  stored price). A new listing without a list price (and a sale without its close price or
  date) is rejected. Clearing a value is an explicit ``null`` in ``PUT /properties/{id}``.
- A row with more cells than the header has columns is refused when an extra cell is filled
  (a comma inside an unquoted cell) or when a cell shift is plausible although the extra cells
  are empty: a money or area cell of one to three digits followed by a cell of exactly three
  digits (``$185,000`` unquoted reads as ``$185`` and ``000``). A sale price below $1,000
  (``MIN_SALE_PRICE``) is refused: no arm's-length sale is that cheap, and a split number or a
  price in thousands reads so.
- A header that names a column twice (``City`` ... ``City``), or two columns that are one name
  once case, spaces and punctuation are ignored (``Close Price`` and ``ClosePrice``), refuses
  the file when that name feeds a field; ``--map`` picks one of two differently written names.
- Events: by default a listings import publishes ``property.created``/``property.updated`` for
  each property it creates or changes (new listings are candidate deals that subscribers
  value), and a sales import publishes none (closed sales are comps: thousands of them would
  only queue valuations nobody asked for). ``publish_events`` overrides either default.
  A sales import that inserted or updated rows also publishes one ``market.data.updated``
  (whatever ``publish_events`` says), naming the ZIPs and neighbourhoods it touched, with the
  final commit: the valuation module refreshes those areas' market insights.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from domain.auth.service import record_audit
from domain.property import service
from domain.property.enums import ImportKind, PropertyStatus, PropertyType
from domain.property.errors import ImportColumnsError, PropertyError, PropertyValidationError
from domain.property.models import Property, PropertyCreate
from store.outbox import publish

DEFAULT_BATCH_SIZE = 500
# The lowest sale price believed: below it a sale is a typo, a price in thousands, a number an
# unquoted comma split (``$185,000`` read as ``$185``) or not an arm's-length sale (a $10 deed).
MIN_SALE_PRICE = Decimal(1000)
ACRE_SQFT = Decimal(43560)
# No US state or territory lies south of American Samoa (14.3 degrees S): a point further
# south with a US state is the usual export slip of latitude and longitude in each other's place.
MIN_US_LATITUDE = -15.0

# field → accepted column names, in order of preference (our name first, then RESO's).
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "source_id": ("source_id", "ListingKey", "ListingKeyNumeric", "ListingId"),
    "mls_number": ("mls_number", "ListingId"),
    "list_price": ("list_price", "ListPrice"),
    "close_price": ("close_price", "ClosePrice"),
    "close_date": ("close_date", "CloseDate"),
    "list_date": ("list_date", "ListingContractDate", "OnMarketDate"),
    "square_feet": ("square_feet", "LivingArea"),
    "bedrooms": ("bedrooms", "BedroomsTotal"),
    "bathrooms": ("bathrooms", "BathroomsTotalInteger", "BathroomsTotalDecimal"),
    "bathrooms_full": ("bathrooms_full", "BathroomsFull"),
    "bathrooms_half": ("bathrooms_half", "BathroomsHalf"),
    "year_built": ("year_built", "YearBuilt"),
    "lot_size": ("lot_size", "LotSizeSquareFeet", "LotSizeArea"),
    "lot_size_units": ("lot_size_units", "LotSizeUnits"),
    "latitude": ("latitude", "Latitude"),
    "longitude": ("longitude", "Longitude"),
    "address_line": ("address_line", "UnparsedAddress", "address", "street_address"),
    "street_number": ("street_number", "StreetNumber"),
    "street_dir_prefix": ("street_dir_prefix", "StreetDirPrefix"),
    "street_name": ("street_name", "StreetName"),
    "street_suffix": ("street_suffix", "StreetSuffix"),
    "street_dir_suffix": ("street_dir_suffix", "StreetDirSuffix"),
    "unit_number": ("unit_number", "UnitNumber"),
    "city": ("city", "City"),
    "state": ("state", "StateOrProvince"),
    "zip_code": ("zip_code", "PostalCode", "zip"),
    "property_type": ("property_type", "PropertySubType", "PropertyType"),
    "status": ("status", "StandardStatus"),
    "neighborhood": ("neighborhood", "SubdivisionName"),
    "section8_approved": ("section8_approved",),
    "target_rent": ("target_rent",),
    "fmr_compliant": ("fmr_compliant",),
    "quality_rating": ("quality_rating",),
    "condition_rating": ("condition_rating",),
}

# Fields that become Property columns as they are (the rest are combined below).
_DIRECT_FIELDS = (
    "mls_number",
    "list_price",
    "close_price",
    "close_date",
    "list_date",
    "square_feet",
    "bedrooms",
    "year_built",
    "latitude",
    "longitude",
    "city",
    "state",
    "zip_code",
    "neighborhood",
    "section8_approved",
    "target_rent",
    "fmr_compliant",
    "quality_rating",
    "condition_rating",
)
_DECIMAL_FIELDS = {"list_price", "close_price", "target_rent", "lot_size", "bathrooms"}
_INT_FIELDS = {
    "square_feet",
    "bedrooms",
    "year_built",
    "quality_rating",
    "condition_rating",
    "bathrooms_full",
    "bathrooms_half",
}
_FLOAT_FIELDS = {"latitude", "longitude"}
_DATE_FIELDS = {"close_date", "list_date"}
_BOOL_FIELDS = {"section8_approved", "fmr_compliant"}
_STREET_PARTS = (
    "street_number",
    "street_dir_prefix",
    "street_name",
    "street_suffix",
    "street_dir_suffix",
)

# RESO StandardStatus (and common MLS wording) → our status.
_STATUS_VALUES: dict[str, PropertyStatus] = {
    "active": PropertyStatus.active,
    "comingsoon": PropertyStatus.active,
    "activeundercontract": PropertyStatus.pending,
    "pending": PropertyStatus.pending,
    "undercontract": PropertyStatus.pending,
    "closed": PropertyStatus.sold,
    "sold": PropertyStatus.sold,
    "expired": PropertyStatus.off_market,
    "withdrawn": PropertyStatus.off_market,
    "canceled": PropertyStatus.off_market,
    "cancelled": PropertyStatus.off_market,
    "hold": PropertyStatus.off_market,
    "offmarket": PropertyStatus.off_market,
    "owned": PropertyStatus.owned,
    "rented": PropertyStatus.rented,
}
# RESO PropertyType / PropertySubType (and common wording) → our type; others are "other".
_TYPE_VALUES: dict[str, PropertyType] = {
    "singlefamily": PropertyType.single_family,
    "singlefamilyresidence": PropertyType.single_family,
    "singlefamilydetached": PropertyType.single_family,
    "sfr": PropertyType.single_family,
    "residential": PropertyType.single_family,
    "detached": PropertyType.single_family,
    "condominium": PropertyType.condo,
    "condo": PropertyType.condo,
    "townhouse": PropertyType.townhouse,
    "townhome": PropertyType.townhouse,
    "attached": PropertyType.townhouse,
    "duplex": PropertyType.multi_family,
    "triplex": PropertyType.multi_family,
    "quadruplex": PropertyType.multi_family,
    "multifamily": PropertyType.multi_family,
    "residentialincome": PropertyType.multi_family,
    "land": PropertyType.land,
    "farm": PropertyType.land,
}
_EMPTY = {"", "na", "n/a", "null", "none", "nan", "-"}
# Fields a RESO export leaves 0 (or blank) when it does not know them: stored empty, with a warning.
_UNKNOWN_WHEN_ZERO: dict[str, str] = {"square_feet": "living area", "year_built": "year built"}
# How that warning ends for a new row; a re-imported row says which stored value it kept.
_STORED_EMPTY = "(stored empty)"
# Columns that cannot be NULL: a blank cell leaves the field out (the default, or what is stored).
_NOT_NULL_FIELDS = {"section8_approved"}
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%B %d %Y",
)
# A date then a time of day, as spreadsheets write a date-time cell: ``3/15/2024 0:00``.
_DATE_TIME = re.compile(
    r"(?P<date>[^\s]+(?: [0-9]{1,2},? [0-9]{4})?)"
    r"[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?: ?[AaPp]\.?[Mm]\.?)?"
)
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def column_key(name: str) -> str:
    """A column name without case, spaces or punctuation: ``Close Price`` → ``closeprice``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


class RowRejected(Exception):
    """A row that cannot be imported; the message says why."""


@dataclass(frozen=True)
class ImportRejection:
    """A rejected row: its line in the file (header = line 1), its source id and why."""

    line: int
    reason: str
    source_id: str | None = None
    row: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RowWarning:
    """A row imported with a caveat: its line (header = line 1), the column and what was done."""

    line: int
    message: str
    column: str | None = None
    source_id: str | None = None


@dataclass
class ImportSummary:
    """What an import did: rows read, inserted, updated, unchanged, rejected (and why)."""

    kind: ImportKind
    source: str
    columns: dict[str, str]
    publish_events: bool
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[ImportRejection] = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)
    batches_committed: int = 0
    # The ZIPs and neighbourhoods of the rows inserted or updated.
    zip_codes: set[str] = field(default_factory=set)
    neighborhoods: set[str] = field(default_factory=set)

    @property
    def rejected(self) -> int:
        """How many rows were rejected."""
        return len(self.rejections)

    def counts(self) -> dict[str, int]:
        """The counts as a dict (for logs, audit and JSON output)."""
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }

    def lines(self, max_rejections: int = 10, max_warnings: int | None = None) -> list[str]:
        """A human summary: the counts, the first rejections, then the first warnings.

        ``max_warnings`` defaults to ``max_rejections``.
        """
        max_warnings = max_rejections if max_warnings is None else max_warnings
        headline = (
            f"{self.kind.value} import from source {self.source!r}: {self.rows} rows, "
            f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        if self.warnings:
            headline += f", {len(self.warnings)} warnings"
        out = [headline]
        for rejection in self.rejections[:max_rejections]:
            out.append(f"  line {rejection.line}: {rejection.reason}")
        if self.rejected > max_rejections:
            out.append(f"  ... and {self.rejected - max_rejections} more rejected rows")
        if self.rows == 0:
            out.append("  the file has a header row but no data rows: nothing to import")
        for warning in self.warnings[:max_warnings]:
            out.append(f"  line {warning.line}: warning: {warning.message}")
        if len(self.warnings) > max_warnings:
            out.append(f"  ... and {len(self.warnings) - max_warnings} more warnings")
        return out


# --- the file ----------------------------------------------------------------------------

# The first bytes of files people send instead of a CSV, and what they are.
_NOT_CSV_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a spreadsheet workbook (Excel .xlsx, Numbers or OpenDocument)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
)


def not_csv_reason(name: str, head: bytes) -> str | None:
    """Why a file that starts with ``head`` is not a CSV file (or None when it may be one)."""
    for magic, what in _NOT_CSV_MAGIC:
        if head.startswith(magic):
            return (
                f"{name} is {what}, not a CSV file: open it and save or download the sheet "
                "as CSV (Excel: File > Save As > CSV UTF-8; Google Sheets: File > Download > "
                "Comma-separated values), then import that"
            )
    return None


# --- columns -----------------------------------------------------------------------------


def resolve_columns(
    columns: Sequence[str], mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Which file column feeds each field: ``{"close_price": "ClosePrice", ...}``.

    Raises ``ImportColumnsError`` for a mapping that names an unknown field or a column the
    file does not have.
    """
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(column_key(column), column)
    resolved: dict[str, str] = {}
    mapping = dict(mapping or {})
    unknown = sorted(name for name in mapping if name not in FIELD_COLUMNS)
    if unknown:
        raise ImportColumnsError(
            f"unknown field(s) in the column mapping: {', '.join(unknown)}; "
            f"fields are: {', '.join(sorted(FIELD_COLUMNS))}",
            missing=unknown,
            found=list(columns),
        )
    absent = []
    for name, column in mapping.items():
        # The name as written first: ``--map close_price=ClosePrice`` beside ``Close Price``.
        found = column if column in columns else by_key.get(column_key(column))
        if found is None:
            absent.append(f"{column} (mapped to {name})")
        else:
            resolved[name] = found
    if absent:
        raise ImportColumnsError(
            f"the file has no column {', '.join(absent)}; "
            f"found columns: {', '.join(columns) or '(none)'}",
            missing=absent,
            found=list(columns),
        )
    for name, aliases in FIELD_COLUMNS.items():
        if name in resolved:
            continue
        for alias in aliases:
            found = by_key.get(column_key(alias))
            if found is not None:
                resolved[name] = found
                break
    return resolved


def check_duplicate_columns(
    columns: Sequence[str], resolved: Mapping[str, str], mapping: Mapping[str, str] | None = None
) -> None:
    """Refuse a header that names a column feeding a field twice (nothing is imported).

    ``csv.DictReader`` keeps only the last of two cells under one name, so ``City`` twice
    would silently store the later column's value. Two names that differ only in case, spaces
    or punctuation (``Close Price`` and ``ClosePrice``) are one name to ``resolve_columns``:
    which one feeds the field would be a guess, unless ``mapping`` names one of them exactly.
    A repeated column that feeds no field is harmless and allowed.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for position, column in enumerate(columns, start=1):
        if column and column.strip():
            groups.setdefault(column_key(column), []).append((position, column))
    chosen = set((mapping or {}).values())
    problems: list[str] = []
    for key, found in groups.items():
        if len(found) < 2:
            continue
        fields = sorted(name for name, column in resolved.items() if column_key(column) == key)
        if not fields:
            continue
        names = [column for _, column in found]
        shown = " and ".join(f"{column!r} (column {position})" for position, column in found)
        feeds = ", ".join(fields)
        if len(set(names)) < len(names):
            problems.append(
                f"{shown} have the same name, so the later would silently replace the "
                f"earlier ({feeds}): rename or delete one of them in the file"
            )
        elif not chosen.intersection(names):
            example = ",".join(f"{name}={names[-1]}" for name in fields)
            problems.append(
                f"{shown} are the same column name once case, spaces and punctuation are "
                f"ignored, so which one feeds {feeds} would be a guess: delete one, or choose "
                f"with --map {example}"
            )
    if problems:
        raise ImportColumnsError(
            "the file names a column twice: " + "; ".join(problems),
            missing=[],
            found=list(columns),
        )


def _has_location(resolved: Mapping[str, str]) -> bool:
    """True when the columns can give an address or a point."""
    return (
        "address_line" in resolved
        or ("street_number" in resolved and "street_name" in resolved)
        or ("latitude" in resolved and "longitude" in resolved)
    )


def _describe(name: str) -> str:
    """A field and its RESO column name, for messages: ``close_price (ClosePrice)``."""
    aliases = [a for a in FIELD_COLUMNS[name] if a != name]
    return f"{name} ({'/'.join(aliases)})" if aliases else name


def check_required_columns(
    kind: ImportKind, columns: Sequence[str], resolved: Mapping[str, str]
) -> None:
    """Refuse a file that lacks a column every row of ``kind`` needs (nothing is imported)."""
    needed = ("close_price", "close_date") if kind == ImportKind.sales else ("list_price",)
    missing = [_describe(name) for name in needed if name not in resolved]
    if not _has_location(resolved):
        missing.append(
            "an address: address_line (UnparsedAddress), or StreetNumber + StreetName, "
            "or latitude + longitude (Latitude/Longitude)"
        )
    if missing:
        raise ImportColumnsError(
            f"the {kind.value} file is missing required columns: {'; '.join(missing)}. "
            f"Found columns: {', '.join(columns) or '(none)'}. "
            "Map other names with --map field=Column (e.g. --map close_price=SalePrice).",
            missing=missing,
            found=list(columns),
        )


# --- one row -----------------------------------------------------------------------------


def _cell(raw: Mapping[str, Any], resolved: Mapping[str, str], name: str) -> str | None:
    """The trimmed text of field ``name`` in a row, or None when absent or empty."""
    column = resolved.get(name)
    if column is None:
        return None
    value = raw.get(column)
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _EMPTY else text


# A US number as spreadsheets and MLS exports write it: ``-$1,250,000.50``, ``(1,250)``.
_NUMBER = re.compile(
    r"(?P<sign>[-+]?)\s*\$?\s*(?P<sign2>[-+]?)\s*(?P<whole>[0-9][0-9,]*)?(?:\.(?P<frac>[0-9]*))?"
)
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})*|[0-9]+")
_SHORTHAND = re.compile(r"\$?\s*[0-9][0-9.,]*\s*(?:k|m|mm|b|bn)", re.IGNORECASE)
_SCIENTIFIC = re.compile(r"[-+]?[0-9]*\.?[0-9]+e[-+]?[0-9]+", re.IGNORECASE)


def parse_number(text: str) -> Decimal:
    """A number written the US way, as a Decimal; ``ValueError`` saying why not.

    Accepted: ``125000``, ``125,000.00``, ``$125,000``, ``-$5``, ``(1,250)`` (accounting
    negative), ``.5``. Refused, because the value would be a guess: a comma that is not a
    thousands separator (``125,00``, ``1.250,00``: a decimal comma), shorthand (``$125K``,
    ``1.2M``: rounded), scientific notation (``1.25E+05``: Excel's display of a number
    in a narrow column, often rounded).
    """
    cleaned = " ".join(text.split())
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    if negative:
        cleaned = cleaned[1:-1].strip()
    if _SHORTHAND.fullmatch(cleaned):
        raise ValueError(
            "is shorthand, not an exact amount: write the whole number (e.g. 125000 for 125K)"
        )
    if _SCIENTIFIC.fullmatch(cleaned):
        raise ValueError(
            "is in scientific notation (Excel shows a number so in a narrow column and may "
            "have rounded it): format the column as a number and export again"
        )
    decimal_comma = ValueError(
        "has a comma that is not a thousands separator (a decimal comma?): write "
        "numbers as 1250000.50 or 1,250,000.50"
    )
    match = _NUMBER.fullmatch(cleaned)
    if match is None or (match["whole"] is None and not match["frac"]):
        if "," in cleaned and cleaned.rfind(",") > cleaned.rfind(".") > -1:
            raise decimal_comma  # 1.250,00
        raise ValueError("is not a number")
    if match["sign"] and match["sign2"]:
        raise ValueError("is not a number")
    whole = match["whole"] or "0"
    if not _GROUPED.fullmatch(whole):
        raise decimal_comma
    value = Decimal(whole.replace(",", "") + (f".{match['frac']}" if match["frac"] else ""))
    if negative or "-" in (match["sign"], match["sign2"]):
        value = -value
    return value


def _parse_decimal(text: str, column: str) -> Decimal:
    """A number such as ``$185,000.00`` as a Decimal (see ``parse_number``)."""
    try:
        return parse_number(text)
    except ValueError as exc:
        raise RowRejected(f"{column}: {text!r} {exc}") from None


def _parse_int(text: str, column: str) -> int:
    """A whole number (``3`` or ``3.0``)."""
    value = _parse_decimal(text, column)
    if value != value.to_integral_value():
        raise RowRejected(f"{column}: {text!r} is not a whole number")
    return int(value)


def parse_date_text(text: str) -> dt.date:
    """A date as exports write it; ``ValueError`` saying why not.

    Accepted: ISO ``2024-03-15`` (also a timestamp ``2024-03-15T00:00:00Z``: the date as
    written, never shifted by its time zone), US ``03/15/2024`` / ``3/15/24`` / ``03-15-2024``
    (month first; a two-digit year 00-68 is 20xx), either with a time of day
    (``3/15/2024 0:00``, as Excel and Google Sheets write a date-time cell), ``2024/03/15``,
    ``15-Mar-2024``,
    ``Mar 15, 2024``. Refused: an Excel serial day number (``45366``: the day it means
    depends on the workbook's 1900 or 1904 date system) and day-first dates (``15/03/2024``).
    """
    candidate = " ".join(text.split())
    with suppress(ValueError):
        return dt.date.fromisoformat(candidate)
    with suppress(ValueError):
        return dt.datetime.fromisoformat(candidate).date()
    timed = _DATE_TIME.fullmatch(candidate)
    if timed is not None:
        candidate = timed["date"]
    for fmt in _DATE_FORMATS:
        with suppress(ValueError):
            return dt.datetime.strptime(candidate, fmt).date()
    if re.fullmatch(r"[0-9]{5}(?:\.[0-9]+)?", candidate):
        raise ValueError(
            "looks like an Excel serial day number, not a date: format the column as a date "
            "(YYYY-MM-DD) in the spreadsheet and export again"
        )
    day_first = re.fullmatch(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2}|[0-9]{4})", candidate)
    if day_first is not None and int(day_first[1]) > 12 and int(day_first[2]) <= 12:
        raise ValueError("is day-first: dates are read month first (MM/DD/YYYY); write YYYY-MM-DD")
    raise ValueError("is not a date (write YYYY-MM-DD or MM/DD/YYYY)")


def _parse_date(text: str, column: str) -> dt.date:
    """A date cell (see ``parse_date_text``); ``RowRejected`` naming the column when not."""
    try:
        return parse_date_text(text)
    except ValueError as exc:
        raise RowRejected(f"{column}: {text!r} {exc}") from None


def _parse_bool(text: str, column: str) -> bool:
    """``true``/``yes``/``1`` or ``false``/``no``/``0``."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowRejected(f"{column}: {text!r} is not true or false")


def _parse(name: str, text: str, column: str) -> Any:
    """The value of field ``name`` from its cell text."""
    if name in _DECIMAL_FIELDS:
        return _parse_decimal(text, column)
    if name in _INT_FIELDS:
        return _parse_int(text, column)
    if name in _FLOAT_FIELDS:
        return float(_parse_decimal(text, column))
    if name in _DATE_FIELDS:
        return _parse_date(text, column)
    if name in _BOOL_FIELDS:
        return _parse_bool(text, column)
    return text


def _street_line(cells: Mapping[str, str | None]) -> str | None:
    """``UnparsedAddress``, or the street line put together from RESO's address parts."""
    if cells.get("address_line"):
        return cells["address_line"]
    if not (cells.get("street_number") and cells.get("street_name")):
        return None
    line = " ".join(part for name in _STREET_PARTS if (part := cells.get(name)))
    unit = cells.get("unit_number")
    return f"{line} #{unit.lstrip('#').strip()}" if unit else line


def _validation_message(error: ValidationError) -> str:
    """A pydantic error as one line: ``bedrooms: bedrooms must be at most 20 (got 25)``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()))
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def row_values(
    raw: Mapping[str, Any],
    resolved: Mapping[str, str],
    kind: ImportKind,
    warnings: list[tuple[str, str]] | None = None,
    defaults: set[str] | None = None,
    blank_price: list[str] | None = None,
) -> dict[str, Any]:
    """The property fields of one row, validated; raises ``RowRejected`` saying why not.

    A listing with a blank list price is rejected, unless ``blank_price`` is a list: then the
    reason a new listing would be rejected is appended to it and the caller decides (a known
    listing keeps its stored price).

    A living area or year built of 0 or blank is read as unknown (None); each such cell adds
    ``(column, message)`` to ``warnings`` when a list is given. A blank cell gives None (or
    nothing, for a field that cannot be empty); the names of fields given a default for a new
    property (a listing's status) are added to ``defaults`` when a set is given.
    """
    cells = {name: _cell(raw, resolved, name) for name in resolved}
    values: dict[str, Any] = {}
    for name in _DIRECT_FIELDS:
        if name in resolved:
            text = cells[name]
            if text is None and name in _NOT_NULL_FIELDS:
                continue
            values[name] = _parse(name, text, resolved[name]) if text is not None else None
            if name in _UNKNOWN_WHEN_ZERO and not values[name]:
                values[name] = None
                if warnings is not None:
                    shown = "blank" if text is None else f"{text!r}"
                    warnings.append(
                        (
                            resolved[name],
                            f"{resolved[name]}: {shown} read as an unknown "
                            f"{_UNKNOWN_WHEN_ZERO[name]} {_STORED_EMPTY}",
                        )
                    )

    if kind == ImportKind.sales:
        for name in ("close_price", "close_date"):
            if values.get(name) is None:
                raise RowRejected(f"{resolved[name]}: a sale needs a {name.replace('_', ' ')}")
        if values["close_date"] > service.today():
            raise RowRejected(f"{resolved['close_date']}: {values['close_date']} is in the future")
        if values["close_price"] <= 0:
            raise RowRejected(
                f"{resolved['close_price']}: {cells['close_price']!r} is not a sale price "
                "(a sale needs a close price above $0)"
            )
        if values["close_price"] < MIN_SALE_PRICE:
            raise RowRejected(
                f"{resolved['close_price']}: {cells['close_price']!r} is below "
                f"${MIN_SALE_PRICE:,}, not a believable sale price (a number split by an "
                "unquoted comma, a price in thousands, or a sale that is no comp): write "
                "the whole price"
            )
    elif values.get("list_price") is None:
        if blank_price is None:
            raise RowRejected(f"{resolved['list_price']}: a listing needs a list price")
        # A known listing keeps its stored price; the caller rejects the row if it is new.
        blank_price.append(f"{resolved['list_price']}: a new listing needs a list price")
    elif values["list_price"] <= 0:
        # "$0" is how feeds say "price on request" (the market monitor refuses it too).
        raise RowRejected(
            f"{resolved['list_price']}: {cells['list_price']!r} is not a price "
            "(a listing needs a list price above $0)"
        )
    if values.get("latitude") == 0 and values.get("longitude") == 0:
        # 0,0 is in the Gulf of Guinea: exports write it for "no coordinates".
        values["latitude"] = values["longitude"] = None

    # Bathrooms: full + half/2 when the file splits them, else the total column.
    full, half = cells.get("bathrooms_full"), cells.get("bathrooms_half")
    if full is not None or half is not None:
        full_n = _parse_int(full, resolved["bathrooms_full"]) if full is not None else 0
        half_n = _parse_int(half, resolved["bathrooms_half"]) if half is not None else 0
        values["bathrooms"] = Decimal(full_n) + Decimal(half_n) / 2
    elif "bathrooms" in resolved:
        text = cells["bathrooms"]
        values["bathrooms"] = (
            _parse_decimal(text, resolved["bathrooms"]) if text is not None else None
        )
    if values.get("bathrooms") is not None:
        # RESO's BathroomsTotalDecimal counts a three-quarter bath as .75; we keep one decimal.
        with suppress(InvalidOperation):
            values["bathrooms"] = values["bathrooms"].quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )

    if "lot_size" in resolved:
        text = cells["lot_size"]
        lot = _parse_decimal(text, resolved["lot_size"]) if text is not None else None
        units = (cells.get("lot_size_units") or "").lower()
        if lot is not None and column_key(resolved["lot_size"]) == "lotsizearea":
            if units.startswith("acre"):
                lot = (lot * ACRE_SQFT).quantize(Decimal("0.01"))
            elif units and not units.startswith(("square f", "sq", "sf")):
                raise RowRejected(f"LotSizeUnits: {units!r} is not square feet or acres")
        values["lot_size"] = lot

    if "property_type" in resolved:
        text = cells["property_type"]
        values["property_type"] = _property_type(text) if text is not None else None
    if kind == ImportKind.sales:
        values["status"] = PropertyStatus.sold
    else:
        text = cells.get("status")
        if text is None:
            values["status"] = PropertyStatus.active
            if defaults is not None:
                defaults.add("status")
        else:
            status = _STATUS_VALUES.get(column_key(text))
            if status is None:
                raise RowRejected(f"{resolved['status']}: unknown status {text!r}")
            values["status"] = status

    line = _street_line(cells)
    has_point = values.get("latitude") is not None and values.get("longitude") is not None
    if line is None and not has_point:
        raise RowRejected("no address and no latitude/longitude: the property cannot be located")
    if line is not None:
        values["address_line"] = line
    try:
        checked = PropertyCreate(**values)
    except ValidationError as exc:
        raise RowRejected(_validation_message(exc)) from None
    values = checked.model_dump(include=set(values))
    # Read the address now so a bad one rejects the row; the service stores it as given.
    try:
        where = service.resolve_address(
            address_line=values.get("address_line"),
            city=values.get("city"),
            state=values.get("state"),
            zip_code=values.get("zip_code"),
        )
    except PropertyValidationError as exc:
        raise RowRejected(str(exc)) from None
    latitude = values.get("latitude")
    if where["state"] and latitude is not None and latitude < MIN_US_LATITUDE:
        raise RowRejected(
            f"{resolved['latitude']}: {latitude} is south of every US state and territory "
            f"({where['state']}): are Latitude and Longitude swapped?"
        )
    return values


def _filled(value: Any) -> bool:
    """True for a cell (or DictReader's list of extra cells) with something in it."""
    if isinstance(value, list):
        return any(_filled(item) for item in value)
    return value is not None and bool(str(value).strip())


# Fields whose values are often 1,000 or more, so an unquoted thousands separator splits them.
_THOUSANDS_FIELDS = {"list_price", "close_price", "target_rent", "square_feet", "lot_size"}
# The head of a number an unquoted comma split (``$185`` of ``$185,000``) and its next group.
_SPLIT_HEAD = re.compile(r"\(?[-+]?\s*\$?\s*[-+]?[0-9]{1,3}")
_SPLIT_GROUP = re.compile(r"[0-9]{3}(?:\.[0-9]*)?\)?")


def _split_number(
    raw: Mapping[Any, Any], header: Sequence[str], resolved: Mapping[str, str], extra: list[Any]
) -> tuple[str, str] | None:
    """The two cells of a number an unquoted comma seems to have split, or None.

    A cell of a money or area column (or any cell starting with ``$``) of one to three digits,
    followed by a cell of exactly three digits: ``$185`` then ``000``. Only asked of a row that
    has more cells than the header, where such a split is the likely cause.
    """
    numeric = {resolved[name] for name in _THOUSANDS_FIELDS if name in resolved}
    cells = [str(raw.get(column) or "").strip() for column in header]
    cells += [str(cell or "").strip() for cell in extra]
    for index, column in enumerate(header):
        head, group = cells[index], cells[index + 1]
        if (
            (column in numeric or head.lstrip("(+-").lstrip().startswith("$"))
            and _SPLIT_HEAD.fullmatch(head)
            and _SPLIT_GROUP.fullmatch(group)
        ):
            return head, group
    return None


def _check_extra_cells(
    raw: Mapping[Any, Any], header: Sequence[str], resolved: Mapping[str, str]
) -> None:
    """Refuse a row with more cells than the header has columns, unless that is harmless.

    ``csv.DictReader`` keeps them under the key None. Filled extra cells are nearly always a
    comma inside an unquoted cell (``12 Main St, Apt 4``), which shifts every later cell into
    the wrong column. Empty extra cells (trailing commas) are ignored unless a shift is still
    plausible: an unquoted ``$185,000`` makes two cells, ``$185`` and ``000``, and when the
    row's last cell was blank the extra cell is empty too (``_split_number``).
    """
    extra = raw.get(None)
    if extra is None:
        return
    cells = extra if isinstance(extra, list) else [extra]
    if not cells:
        return
    columns = len(header)
    split = _split_number(raw, header, resolved, cells)
    if split is not None:
        head, group = split
        raise RowRejected(
            f"the row has {columns + len(cells)} cells but the header has {columns} columns: "
            f"{head!r} then {group!r} looks like one number ({head},{group}) split by an "
            "unquoted comma, which shifts every later cell into the wrong column. Put numbers "
            "with thousands separators in double quotes (or write them without the commas)"
        )
    if not _filled(cells):
        return
    shown = ", ".join(repr(str(cell)) for cell in cells[:3])
    raise RowRejected(
        f"the row has {columns + len(cells)} cells but the header has {columns} columns "
        f"(extra: {shown}): a comma inside an unquoted cell? Put that cell in double quotes"
    )


def record_line(reader: csv.DictReader[str], row: Mapping[str, Any]) -> int:
    """The file line the record ``reader`` has just read starts on (header = line 1).

    ``csv.DictReader`` skips blank lines and a quoted cell may hold line breaks, so a row's
    index does not give its line: ``reader.line_num`` (the record's last line) less the line
    breaks inside its cells does.
    """
    breaks = 0
    for value in row.values():
        cells = value if isinstance(value, list) else [value]
        breaks += sum(cell.count("\n") for cell in cells if isinstance(cell, str))
    return reader.line_num - breaks


def _property_type(text: str) -> PropertyType:
    """Our property type for a RESO ``PropertyType``/``PropertySubType`` value or our own."""
    key = column_key(text)
    for kind in PropertyType:
        if key == column_key(kind.value):
            return kind
    return _TYPE_VALUES.get(key, PropertyType.other)


def synthetic_source_id(kind: ImportKind, values: Mapping[str, Any]) -> str:
    """A stable id for a row with none: its address (or point) and, for a sale, close date."""
    resolved = service.resolve_address(
        address_line=values.get("address_line"),
        city=values.get("city"),
        state=values.get("state"),
        zip_code=values.get("zip_code"),
    )
    if resolved["address_key"]:
        where = f"{resolved['address_key']}|{resolved['zip_code'] or ''}"
    else:
        where = f"{values['latitude']:.6f},{values['longitude']:.6f}"
    when = values.get("close_date") if kind == ImportKind.sales else ""
    digest = hashlib.sha1(f"{kind.value}|{where}|{when}".encode()).hexdigest()
    return f"auto-{digest[:24]}"


# --- the import --------------------------------------------------------------------------


@dataclass
class _Pending:
    """A validated row waiting for its batch."""

    line: int
    source_id: str
    values: dict[str, Any]
    raw: dict[str, Any]
    warnings: list[RowWarning] = field(default_factory=list)
    # Fields given a default for a new property, not read from a cell (see ``row_values``).
    defaults: frozenset[str] = frozenset()
    # The file's column for each field (``resolve_columns``).
    columns: Mapping[str, str] = field(default_factory=dict)
    # The key was made from the address (the file has no source id column or a blank cell).
    synthetic: bool = False
    # Why the row is rejected if its key is new (a listing without a list price), else None.
    new_rejected: str | None = None


def _reimport_changes(pending: _Pending) -> dict[str, Any]:
    """What a row changes on a property it already imported: its filled cells only.

    A blank cell (None) or a new property's default says nothing about the stored value, so
    it is left out and the stored value kept; a column absent from the file was never in
    ``values``.
    """
    return {
        name: value
        for name, value in pending.values.items()
        if value is not None and name not in pending.defaults
    }


def _note_kept_values(pending: _Pending, prop: Property) -> None:
    """Reword a row's "stored empty" warnings for the unknown cells whose stored value it kept."""
    for name, label in _UNKNOWN_WHEN_ZERO.items():
        column = pending.columns.get(name)
        stored = getattr(prop, name)
        if column is None or pending.values.get(name) is not None or stored is None:
            continue
        pending.warnings = [
            replace(
                warning,
                message=warning.message.replace(
                    _STORED_EMPTY, f"(kept the stored {label} {stored})"
                ),
            )
            if warning.column == column and warning.message.endswith(_STORED_EMPTY)
            else warning
            for warning in pending.warnings
        ]


def _existing(
    session: Session, org_id: uuid.UUID, source: str, source_ids: Iterable[str]
) -> dict[str, Property]:
    """The properties already imported from ``source`` with these ids."""
    ids = sorted(set(source_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Property).where(
            Property.org_id == org_id,
            Property.source == source,
            col(Property.source_id).in_(ids),
        )
    ).all()
    return {str(prop.source_id): prop for prop in rows}


def _same_house_other_key(
    session: Session, org_id: uuid.UUID, source: str, kind: ImportKind, values: Mapping[str, Any]
) -> Property | None:
    """The one property imported from ``source`` under another address key for this row's house.

    An address key (``synthetic_source_id``) includes the ZIP, so an export that leaves the
    ZIP blank, or fills one an earlier export left blank, would make a new key for a house
    already imported. This finds it: the same source, an address key (not a source id) of the
    same street line and unit, a ZIP and city that agree where both are known, and for a sale
    the same close date. None when no property or more than one fits (then the row is new).
    """
    resolved = service.resolve_address(
        address_line=values.get("address_line"),
        city=values.get("city"),
        state=values.get("state"),
        zip_code=values.get("zip_code"),
    )
    if not resolved["address_key"]:
        return None
    query = select(Property).where(
        Property.org_id == org_id,
        Property.source == source,
        col(Property.source_id).startswith("auto-"),
        Property.address_key == resolved["address_key"],
    )
    if kind == ImportKind.sales:
        query = query.where(Property.close_date == values.get("close_date"))
    if resolved["zip_code"]:
        query = query.where(
            or_(col(Property.zip_code).is_(None), Property.zip_code == resolved["zip_code"])
        )
    if resolved["city"]:
        query = query.where(
            or_(
                col(Property.city).is_(None),
                func.upper(Property.city) == str(resolved["city"]).upper(),
            )
        )
    if resolved["state"]:
        query = query.where(or_(col(Property.state).is_(None), Property.state == resolved["state"]))
    found = session.exec(query.limit(2)).all()
    return found[0] if len(found) == 1 else None


@dataclass
class _BatchOutcome:
    """What one batch did, merged into the summary only once the batch is committed."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[ImportRejection] = field(default_factory=list)
    # The areas of the rows inserted or changed (``market.data.updated`` names them).
    zip_codes: set[str] = field(default_factory=set)
    neighborhoods: set[str] = field(default_factory=set)

    def touched(self, prop: Property) -> None:
        """Note the area of a property this batch inserted or changed."""
        if prop.zip_code:
            self.zip_codes.add(prop.zip_code)
        if prop.neighborhood:
            self.neighborhoods.add(prop.neighborhood)


def _apply_batch(
    *,
    session: Session,
    org_id: uuid.UUID,
    source: str,
    kind: ImportKind,
    batch: list[_Pending],
    publish_events: bool,
    savepoints: bool,
) -> _BatchOutcome:
    """Insert or update each row; with ``savepoints``, a database error rejects only its row.

    The service's own checks (address, uniqueness) raise before anything is written, so a row
    they refuse leaves nothing behind even without a savepoint.
    """
    outcome = _BatchOutcome()
    known = _existing(session, org_id, source, (p.source_id for p in batch))
    for pending in batch:
        try:
            with session.begin_nested() if savepoints else nullcontext():
                prop = known.get(pending.source_id)
                if prop is None and pending.synthetic:
                    prop = _same_house_other_key(session, org_id, source, kind, pending.values)
                    if prop is not None:
                        known[pending.source_id] = prop
                if prop is None and pending.new_rejected is not None:
                    outcome.rejections.append(
                        ImportRejection(
                            line=pending.line,
                            reason=pending.new_rejected,
                            source_id=pending.source_id,
                            row=pending.raw,
                        )
                    )
                    continue
                if prop is None:
                    known[pending.source_id] = service.create(
                        session=session,
                        org_id=org_id,
                        property_in=PropertyCreate(
                            **pending.values, source=source, source_id=pending.source_id
                        ),
                        publish_event=publish_events,
                        source_checked=True,
                    )
                    outcome.inserted += 1
                    outcome.touched(known[pending.source_id])
                    continue
                changed = service.apply_changes(
                    session=session,
                    org_id=org_id,
                    prop=prop,
                    changes=_reimport_changes(pending),
                    publish_event=publish_events,
                )
                _note_kept_values(pending, prop)
            if changed:
                outcome.updated += 1
                outcome.touched(prop)
            else:
                outcome.unchanged += 1
        except (PropertyError, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not savepoints:
                raise
            reason = str(exc).splitlines()[0]
            if isinstance(exc, DBAPIError):
                reason = f"the database refused the row: {str(exc.orig).splitlines()[0]}"
            outcome.rejections.append(
                ImportRejection(
                    line=pending.line,
                    reason=reason,
                    source_id=pending.source_id,
                    row=pending.raw,
                )
            )
    return outcome


def _write_batch(
    *,
    session: Session,
    org_id: uuid.UUID,
    source: str,
    batch: list[_Pending],
    summary: ImportSummary,
) -> None:
    """Write a batch and commit it; counts reach the summary only once it is committed.

    The fast path writes the rows in one savepoint (one round trip per row). If the database
    refuses one of them, that savepoint is rolled back and the batch replayed with a savepoint
    per row, so the bad row is rejected and the others still go in.
    """
    args: dict[str, Any] = {
        "session": session,
        "org_id": org_id,
        "source": source,
        "kind": summary.kind,
        "batch": batch,
        "publish_events": summary.publish_events,
    }
    try:
        # One savepoint for the batch: a database error undoes this batch and nothing else.
        with session.begin_nested():
            outcome = _apply_batch(**args, savepoints=False)
    except DBAPIError:
        outcome = _apply_batch(**args, savepoints=True)
    session.commit()
    summary.inserted += outcome.inserted
    summary.updated += outcome.updated
    summary.unchanged += outcome.unchanged
    summary.rejections.extend(outcome.rejections)
    summary.zip_codes |= outcome.zip_codes
    summary.neighborhoods |= outcome.neighborhoods
    refused = {rejection.line for rejection in outcome.rejections}
    for pending in batch:
        if pending.line not in refused:
            summary.warnings.extend(pending.warnings)
    summary.batches_committed += 1


def _duplicate_warning(
    *, line: int, earlier: int, source_id: str, column: str | None, kind: ImportKind
) -> RowWarning:
    """The warning for a row whose key an earlier row of the same file had (the later wins)."""
    if column is not None:
        what = f"{column} {source_id!r} is also on line {earlier}"
    else:
        same = "address and close date" if kind == ImportKind.sales else "address"
        what = f"same {same} as line {earlier} (the file has no listing key)"
    return RowWarning(
        line=line,
        message=f"{what}: line {line}, the later row, replaces line {earlier}",
        column=column,
        source_id=source_id,
    )


def import_records(
    *,
    session: Session,
    org_id: uuid.UUID,
    rows: Iterable[Mapping[str, Any]],
    kind: ImportKind | str,
    mapping: Mapping[str, str] | None = None,
    source: str = "mls",
    progress: Callable[[int], None] | None = None,
    columns: Sequence[str] | None = None,
    publish_events: bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    first_line: int = 2,
) -> ImportSummary:
    """Import sales or listings from ``rows`` (dicts keyed by column name) into ``org_id``.

    ``columns`` is the file's header (by default the first row's keys); a row's line number
    is ``first_line`` plus its index (a CSV with a header: line 2 is the first row), or,
    when ``rows`` is a ``csv.DictReader``, the line the reader read it from (blank lines and
    line breaks inside quoted cells counted).
    ``progress`` is called with the number of rows handled so far. Commits every
    ``batch_size`` rows and at the end. Raises ``ImportColumnsError`` before importing
    anything when a required column is missing.
    """
    kind = ImportKind(kind)
    source = source.strip()
    if not source:
        raise PropertyValidationError("an import needs a source name (e.g. the MLS it came from)")
    if len(source) > 50:
        raise PropertyValidationError("the source name is longer than 50 characters")
    reader = rows if isinstance(rows, csv.DictReader) else None
    iterator = iter(rows)
    first: Mapping[str, Any] | None = next(iterator, None)
    header = list(columns) if columns is not None else list(first.keys() if first else [])
    if not any(column and column.strip() for column in header):
        raise ImportColumnsError(
            "the file is empty: it has no header row (the first line names the columns, "
            "e.g. ListingKey,UnparsedAddress,ClosePrice,CloseDate)",
            missing=[],
            found=[],
        )
    resolved = resolve_columns(header, mapping)
    check_duplicate_columns(header, resolved, mapping)
    check_required_columns(kind, header, resolved)
    events = (kind == ImportKind.listings) if publish_events is None else publish_events
    summary = ImportSummary(kind=kind, source=source, columns=resolved, publish_events=events)

    def all_rows() -> Iterable[Mapping[str, Any]]:
        if first is not None:
            yield first
        yield from iterator

    batch: list[_Pending] = []
    # The line of the row each key was last accepted from: a key twice in one file is warned of.
    key_lines: dict[str, int] = {}
    for index, raw in enumerate(all_rows()):
        if not any(_filled(value) for value in raw.values()):
            # A row of empty cells (",,,,"): Excel leaves them below the data, like blank lines.
            if progress is not None:
                progress(summary.rows)
            continue
        line = record_line(reader, raw) if reader is not None else first_line + index
        summary.rows += 1
        source_id = _cell(raw, resolved, "source_id")
        try:
            _check_extra_cells(raw, header, resolved)
            cell_warnings: list[tuple[str, str]] = []
            defaults: set[str] = set()
            blank_price: list[str] = []
            values = row_values(raw, resolved, kind, cell_warnings, defaults, blank_price)
            synthetic = source_id is None
            if source_id is None:
                source_id = synthetic_source_id(kind, values)
            elif len(source_id) > 100:
                raise RowRejected(f"{resolved['source_id']}: longer than 100 characters")
            notes = [
                RowWarning(line=line, message=message, column=column, source_id=source_id)
                for column, message in cell_warnings
            ]
            if source_id in key_lines:
                notes.append(
                    _duplicate_warning(
                        line=line,
                        earlier=key_lines[source_id],
                        source_id=source_id,
                        column=None if synthetic else resolved["source_id"],
                        kind=kind,
                    )
                )
            key_lines[source_id] = line
            batch.append(
                _Pending(
                    line=line,
                    source_id=source_id,
                    values=values,
                    raw=dict(raw),
                    warnings=notes,
                    defaults=frozenset(defaults),
                    columns=resolved,
                    synthetic=synthetic,
                    new_rejected=blank_price[0] if blank_price else None,
                )
            )
        except RowRejected as exc:
            summary.rejections.append(
                ImportRejection(line=line, reason=str(exc), source_id=source_id, row=dict(raw))
            )
        if len(batch) >= batch_size:
            _write_batch(
                session=session, org_id=org_id, source=source, batch=batch, summary=summary
            )
            batch = []
        if progress is not None:
            progress(summary.rows)
    if batch:
        _write_batch(session=session, org_id=org_id, source=source, batch=batch, summary=summary)
    record_audit(
        session=session,
        principal=None,
        org_id=org_id,
        actor=f"import:{source}",
        action="import",
        entity="property",
        changes={
            "kind": kind.value,
            **summary.counts(),
            "warnings": len(summary.warnings),
            "columns": resolved,
        },
    )
    if kind == ImportKind.sales and (summary.inserted or summary.updated):
        # Sold prices are the area's market data: one event for the whole import (whatever
        # ``publish_events`` says about per-property events), naming the areas it touched.
        publish(
            session,
            org_id=org_id,
            name="market.data.updated",
            payload=service.market_data_payload(
                origin="import",
                zip_codes=summary.zip_codes,
                neighborhoods=summary.neighborhoods,
                source=f"import:{source}",
                kind=kind.value,
                counts=summary.counts(),
            ),
        )
    session.commit()
    return summary
