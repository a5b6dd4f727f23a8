"""Section 8 rent analysis: HUD Fair Market Rent, payment standard and utility allowance.

The FMR table (``property_service.section8_fmr``) holds HUD's published figures as shared rows
(``org_id`` NULL) and, optionally, an organisation's own rows (its housing authority's payment
standard or utility allowance), which win over HUD's for that organisation. This module owns
that table's logic; the table model lives with the property module.

The voucher rules applied (HUD Housing Choice Voucher program, 24 CFR 982):

- the **payment standard** is what the housing authority pays up to for a unit's gross rent;
  a row's ``payment_standard``, or the FMR itself when the row has none (authorities may set
  90-110% of FMR);
- **gross rent** = contract rent + the **utility allowance** for utilities the tenant pays, so
  the highest contract rent the voucher supports is payment standard - utility allowance (no
  allowance when the owner includes all utilities in the rent);
- a target rent is ``fmr_compliant`` when it is at most that maximum contract rent;
- **rent reasonableness**: the housing authority also holds the rent to what comparable
  unassisted units rent for, so a target rent above the market rent is not ``rent_reasonable``
  (when a market rent is known) even inside the payment standard;
- a payment standard outside HUD's basic range (90-110% of FMR) needs an exception payment
  standard: it is used as on file, with a note;
- units with more than four bedrooms: HUD adds 15% of the four-bedroom FMR for each extra
  bedroom (5 bedrooms = 1.15 x, 6 = 1.30 x the 4-bedroom FMR), rounded to whole dollars as
  HUD publishes FMRs; the payment standard scales the same way, and the 4-bedroom utility
  allowance too (noted: housing authorities publish their own larger-unit allowances). A row
  on file for the exact bedroom count (an organisation's own) is used as it is.
- **multi-unit buildings**: FMRs are per unit. A property whose facts show two units (a
  ``Duplex`` or ``TwoFmCon`` building type and at least two kitchens in ``features``) is
  analysed as two units with its bedrooms split as evenly as possible (6 = 3 + 3, 5 = 3 + 2):
  the FMR, payment standard, utility allowance and maximum contract rent are the two units'
  sums, and a target or market rent is the building's (``building_units``,
  ``units_rent_analysis``; the assumptions say so).
- a target rent of $0 is not a rent: ``TARGET_RENT_NOT_POSITIVE`` (422 on every input path).

Honesty about the figures' basis:

- **FMR year**: HUD publishes new FMRs for every fiscal year (FY N starts October 1 of N-1).
  An analysis on a year older than the current one (``hud_fiscal_year`` of
  ``core.clock.local_today()``) carries a warning in ``warnings`` (``fmr_year_warning``):
  the newest year on file is out of date and the current table should be imported;
- **utility allowance**: ``utility_allowance_on_file`` is True only when the allowance came
  from a stored utility allowance schedule (an FMR row's); ``utility_allowance_source`` says
  where the allowance applied came from (the table, the request, none).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from core.clock import local_today
from core.money import MoneyOut
from domain.auth.service import Principal
from domain.property.enums import MarketDataType
from domain.property.models import Property, PropertyUpdate, Section8Fmr
from store.reference_data import DETROIT_FMR_AREA

DEFAULT_AREA = DETROIT_FMR_AREA
MAX_TABLE_BEDROOMS = 4
EXTRA_BEDROOM_SHARE = Decimal("0.15")
# HUD's basic range for a payment standard (24 CFR 982.503): 90-110% of the FMR.
PAYMENT_STANDARD_RANGE = (Decimal("90"), Decimal("110"))
MAX_BEDROOMS = 20
CENT = Decimal("0.01")
DOLLAR = Decimal("1")


class Section8Error(Exception):
    """Base class of the errors this module raises."""


TARGET_RENT_NOT_POSITIVE = "target rent must be more than 0"
"""The one message for a target rent of 0 or less (property create/update, rent analysis)."""
# Building types (Ames ``Bldg_Type``) of a two-family house: a duplex or a two-family conversion.
TWO_UNIT_BUILDING_TYPES = frozenset({"duplex", "twofmcon"})


class FmrNotFoundError(Section8Error, LookupError):
    """No FMR rows for the area (or none for a year at or before the one asked)."""


class RentAnalysisInputError(Section8Error, ValueError):
    """An invalid question: bedrooms out of range, negative rent, an ambiguous area."""


class FmrRowUsed(BaseModel):
    """The FMR table row behind an analysis, so its figures can be traced."""

    id: uuid.UUID
    area: str
    year: int
    bedrooms: int
    source: str = Field(description="HUD (shared) or the organisation's own row")
    effective_date: dt.date | None


NO_TARGET_RENT = "no target rent given or on file, so there is none to check"


class RentAnalysis(BaseModel):
    """What a Section 8 voucher supports for a unit, and how a target rent compares."""

    area: str
    year: int
    requested_year: int | None
    bedrooms: int
    fmr: MoneyOut = Field(description="HUD Fair Market Rent, monthly")
    payment_standard: MoneyOut = Field(description="most the voucher pays toward gross rent")
    payment_standard_pct_of_fmr: Decimal | None = Field(
        default=None, description="payment standard / FMR x 100 (HUD's basic range: 90-110)"
    )
    utilities_included: bool = Field(description="the owner pays all utilities")
    utility_allowance: MoneyOut = Field(description="allowance for tenant-paid utilities, applied")
    utility_allowance_on_file: bool = Field(
        default=True,
        description="True only when the allowance came from a stored utility allowance "
        "schedule (the FMR table); False when it was given in the request, the owner pays all "
        "utilities, or none is on file ($0 used)",
    )
    utility_allowance_source: str = Field(
        default="",
        description="where the utility allowance came from: the FMR table's schedule (area, "
        "year), the request, the owner paying all utilities, or none on file",
    )
    max_gross_rent: MoneyOut = Field(description="= payment standard")
    max_contract_rent: MoneyOut = Field(description="payment standard - utility allowance")
    target_rent: MoneyOut | None
    fmr_compliant: bool | None = Field(description="target rent <= max contract rent")
    headroom: MoneyOut | None = Field(description="max contract rent - target rent")
    market_rent: MoneyOut | None
    rent_reasonable: bool | None = Field(
        default=None,
        description="target rent <= market rent (HUD's rent reasonableness; None: no market rent)",
    )
    voucher_premium: MoneyOut | None = Field(
        description="max contract rent - market rent (positive: the voucher pays more)"
    )
    voucher_premium_pct: Decimal | None
    recommended_rent: MoneyOut = Field(
        description="max contract rent, capped at the market rent when one is given (HUD "
        "also requires the rent to be reasonable against unassisted units)"
    )
    fmr_row: FmrRowUsed
    assumptions: list[str]
    warnings: list[str] = Field(
        default_factory=list,
        description="what makes the figures unreliable: an FMR year older than HUD's current "
        "fiscal year (import the current table with `dealdesk import fmr`)",
    )


@dataclass(frozen=True)
class FmrAreaYear:
    """One area's FMRs for one year: amounts by bedroom count."""

    area: str
    year: int
    shared: bool
    fmr_by_bedrooms: dict[int, Decimal]
    payment_standard_by_bedrooms: dict[int, Decimal]
    utility_allowance_by_bedrooms: dict[int, Decimal]


def _visible(org_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Rows an organisation sees: HUD's shared rows and its own."""
    return or_(col(Section8Fmr.org_id).is_(None), col(Section8Fmr.org_id) == org_id)


def _dollars(value: Decimal) -> Decimal:
    return value.quantize(DOLLAR, rounding=ROUND_HALF_UP).quantize(CENT)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def resolve_area(*, session: Session, org_id: uuid.UUID, area: str | None) -> str:
    """The FMR area a name means: exact (any case), else the one area containing the words.

    Of several areas containing the words, the one with the newest FMR year wins (HUD renames
    metro areas between years: "Detroit-Warren-Livonia" FY2024, "Detroit-Warren-Dearborn"
    FY2025); only two areas of that same newest year are ambiguous.
    """
    return resolve_area_noted(session=session, org_id=org_id, area=area)[0]


def resolve_area_noted(
    *, session: Session, org_id: uuid.UUID, area: str | None, year: int | None = None
) -> tuple[str, str | None]:
    """``resolve_area`` and a note saying which area and year were chosen, when one was.

    No area: the newest area naming the default area's first city in its state (so a renamed
    Detroit area imported for a newer year is used), else ``DEFAULT_AREA``; the note starts
    "no area given". ``year``: areas are compared by their newest year at or before it.
    """
    if area is None or not area.strip():
        return _default_area(session, org_id, year)
    wanted = " ".join(area.split())
    exact = session.exec(
        select(Section8Fmr.area)
        .where(_visible(org_id), func.lower(Section8Fmr.area) == wanted.lower())
        .limit(1)
    ).first()
    if exact is not None:
        return exact, None
    candidates = _areas_containing(session, org_id, wanted, limit=11)
    if len(candidates) == 1:
        return candidates[0], None
    place = _CITY_STATE.fullmatch(wanted)
    if not candidates and place is not None:
        # "Detroit, MI", "Ames IA": the city in that state (never another state's area).
        return area_for_place_noted(
            session=session, org_id=org_id, city=place.group(1), state=place.group(2), year=year
        )
    if not candidates:
        raise FmrNotFoundError(
            f"No FMR area matches '{wanted}'{_on_file(session, org_id)} (import the "
            "area's HUD FMR table)"
        )
    newest, note = _newest(session, org_id, wanted, candidates, year)
    if len(newest) == 1:
        return newest[0], note
    shown = "; ".join(newest[:10])
    raise RentAnalysisInputError(f"'{wanted}' matches several FMR areas: {shown}")


def _area_years(
    session: Session, org_id: uuid.UUID, areas: list[str], year: int | None
) -> dict[str, int]:
    """Each area's newest year with an FMR on file (at or before ``year`` when given)."""
    statement = (
        select(Section8Fmr.area, func.max(Section8Fmr.year))
        .where(
            _visible(org_id),
            col(Section8Fmr.area).in_(areas),
            col(Section8Fmr.fmr_amount).is_not(None),
        )
        .group_by(Section8Fmr.area)
    )
    if year is not None:
        statement = statement.where(Section8Fmr.year <= year)
    return {name: int(newest) for name, newest in session.exec(statement).all()}


def _newest(
    session: Session, org_id: uuid.UUID, wanted: str, candidates: list[str], year: int | None
) -> tuple[list[str], str | None]:
    """The candidates of the newest FMR year, and a note when that leaves one of several."""
    if len(candidates) < 2:
        return candidates, None
    years = _area_years(session, org_id, candidates, year)
    if not years:
        return candidates, None
    newest_year = max(years.values())
    newest = [name for name in candidates if years.get(name) == newest_year]
    if len(newest) != 1:
        return newest, None
    older = "; ".join(
        f"{name} (FY{years[name]})" if name in years else name
        for name in candidates
        if name != newest[0]
    )
    return newest, (
        f"'{wanted}' matches FMR areas of different years (HUD renames areas): used "
        f"{newest[0]}, FY{newest_year}, the newest; not {older}"
    )


def _default_area(session: Session, org_id: uuid.UUID, year: int | None) -> tuple[str, str | None]:
    """The area used when none is given, and the "no area given" note saying which."""
    city = DEFAULT_AREA.rsplit(",", 1)[0].split("-")[0].strip()
    states = _area_states(DEFAULT_AREA)
    candidates = [
        name
        for name in _areas_containing(session, org_id, city, limit=50)
        if city.lower() in _area_places(name) and _area_states(name) & states
    ]
    newest, _ = _newest(session, org_id, city, candidates, year)
    if len(newest) != 1 or newest[0] == DEFAULT_AREA:
        return DEFAULT_AREA, f"no area given: {DEFAULT_AREA}"
    found_year = _area_years(session, org_id, newest, year).get(newest[0])
    return newest[0], (
        f"no area given: {newest[0]}, FY{found_year}, the newest {city} area on file "
        f"(rather than {DEFAULT_AREA})"
    )


_CITY_STATE = re.compile(r"(.*?[a-z].*?)\s*,?\s+([a-z]{2})\.?", re.I)


def _on_file(session: Session, org_id: uuid.UUID) -> str:
    """``"; areas on file: A; B"`` (at most five), or nothing when the table is empty."""
    names = list(
        session.exec(
            select(Section8Fmr.area).where(_visible(org_id)).distinct().order_by(Section8Fmr.area)
        ).all()
    )
    if not names:
        return "; no FMR areas are on file"
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return "; areas on file: " + "; ".join(names[:5]) + more


def _areas_containing(session: Session, org_id: uuid.UUID, wanted: str, *, limit: int) -> list[str]:
    """The FMR areas whose name contains ``wanted`` (case-insensitive, LIKE-escaped), A-Z."""
    escaped = wanted.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(
        session.exec(
            select(Section8Fmr.area)
            .where(_visible(org_id), func.lower(Section8Fmr.area).like(f"%{escaped}%"))
            .distinct()
            .order_by(Section8Fmr.area)
            .limit(limit)
        ).all()
    )


def _area_states(area: str) -> set[str]:
    """The state codes HUD writes after an area's last comma ("..., OH-KY-IN HUD Metro ...")."""
    if "," not in area:
        return set()
    words = area.rsplit(",", 1)[1].split()
    return set(words[0].upper().split("-")) if words else set()


def _area_places(area: str) -> set[str]:
    """The place names before an area's last comma ("Detroit-Warren-Livonia"), lower case."""
    names = area.rsplit(",", 1)[0] if "," in area else area
    return {" ".join(name.split()).lower() for name in names.split("-") if name.strip()}


def area_for_place(
    *, session: Session, org_id: uuid.UUID, city: str | None, state: str | None
) -> str:
    """The FMR area of a property's city in its state; the default area when it has no city.

    A city never borrows another state's FMR: "Warren, OH" does not resolve to the
    Detroit-Warren-Livonia, MI area. An area naming the city exactly is preferred to one that
    merely contains its name; of several, the one with the newest FMR year.
    """
    return area_for_place_noted(session=session, org_id=org_id, city=city, state=state)[0]


def area_for_place_noted(
    *,
    session: Session,
    org_id: uuid.UUID,
    city: str | None,
    state: str | None,
    year: int | None = None,
) -> tuple[str, str | None]:
    """``area_for_place`` and a note when the newest of several areas was chosen."""
    if city is None or not city.strip():
        return DEFAULT_AREA, None
    wanted = " ".join(city.split())
    candidates = _areas_containing(session, org_id, wanted, limit=50)
    code = (state or "").strip().upper()
    if len(code) == 2:
        candidates = [a for a in candidates if not _area_states(a) or code in _area_states(a)]
    named = [a for a in candidates if wanted.lower() in _area_places(a)]
    found = named or candidates
    place = f"{wanted}, {code}" if code else wanted
    if not found:
        raise FmrNotFoundError(
            f"No FMR area on file for {place}{_on_file(session, org_id)} (import the area's HUD "
            "FMR table)"
        )
    newest, note = _newest(session, org_id, place, found, year)
    if len(newest) > 1:
        shown = "; ".join(newest[:10])
        raise RentAnalysisInputError(f"{place} matches several FMR areas: {shown}; give area")
    return newest[0], note


def _pick_year(
    *, session: Session, org_id: uuid.UUID, area: str, year: int | None, bedrooms: int
) -> int:
    """The latest year with an FMR for the area and bedrooms at or before ``year``.

    Any year when ``year`` is None. An organisation's own row for one bedroom count in a newer
    year does not hide HUD's table for the other counts.
    """
    statement = select(func.max(Section8Fmr.year)).where(
        _visible(org_id),
        Section8Fmr.area == area,
        Section8Fmr.bedrooms == bedrooms,
        col(Section8Fmr.fmr_amount).is_not(None),
    )
    if year is not None:
        statement = statement.where(Section8Fmr.year <= year)
    found = session.exec(statement).one()
    if found is None:
        years = sorted(
            session.exec(
                select(Section8Fmr.year)
                .where(_visible(org_id), Section8Fmr.area == area)
                .distinct()
            ).all()
        )
        if not years:
            raise FmrNotFoundError(f"No FMR rows for '{area}'")
        if year is None:
            raise FmrNotFoundError(f"No {bedrooms}-bedroom FMR for '{area}' on file")
        raise FmrNotFoundError(
            f"No FMR rows for '{area}' in or before {year}; years available: "
            + ", ".join(str(y) for y in years)
        )
    return int(found)


def hud_fiscal_year(day: dt.date | None = None) -> int:
    """HUD's fiscal year on ``day`` (default: the company's today).

    FY N runs from October 1 of N-1 to September 30 of N.
    """
    day = local_today() if day is None else day
    return day.year + 1 if day.month >= 10 else day.year


FMR_IMPORT_HINT = (
    "HUD publishes new FMRs every year: import the current table with `dealdesk import fmr`"
)


def fmr_year_warning(
    *, area: str, used_year: int, newest_year: int | None = None, today: dt.date | None = None
) -> str | None:
    """The warning for FMRs of a year older than HUD's current fiscal year; None when current.

    ``newest_year``: the area's newest year on file (default ``used_year``); when an older year
    was asked for and a newer one is on file the warning says so instead of calling the year
    used the newest.
    """
    current = hud_fiscal_year(today)
    if used_year >= current:
        return None
    newest = used_year if newest_year is None else max(newest_year, used_year)
    if newest == used_year:
        return f"FMR FY{used_year} is the newest on file for {area}; {FMR_IMPORT_HINT}"
    if newest >= current:
        return f"FMR FY{used_year} used as asked, not the current FY{current} on file for {area}"
    return (
        f"FMR FY{used_year} used as asked; FY{newest} is the newest on file for {area}, and "
        f"older than the current FY{current}: {FMR_IMPORT_HINT}"
    )


def _has_row(
    session: Session, org_id: uuid.UUID, area: str, year: int | None, bedrooms: int
) -> bool:
    """Whether an FMR row for exactly ``bedrooms`` exists for the area (at or before ``year``)."""
    statement = select(Section8Fmr.id).where(
        _visible(org_id),
        Section8Fmr.area == area,
        Section8Fmr.bedrooms == bedrooms,
        col(Section8Fmr.fmr_amount).is_not(None),
    )
    if year is not None:
        statement = statement.where(Section8Fmr.year <= year)
    return session.exec(statement.limit(1)).first() is not None


def fmr_row(
    *, session: Session, org_id: uuid.UUID, area: str, year: int, bedrooms: int
) -> Section8Fmr | None:
    """The row for an area, year and bedroom count: the organisation's own before HUD's."""
    rows = session.exec(
        select(Section8Fmr)
        .where(
            _visible(org_id),
            Section8Fmr.area == area,
            Section8Fmr.year == year,
            Section8Fmr.bedrooms == bedrooms,
        )
        # An import in the same session may have changed the row under a cached object.
        .execution_options(populate_existing=True)
    ).all()
    own = [row for row in rows if row.org_id == org_id]
    chosen = own or list(rows)
    return chosen[0] if chosen else None


def rent_analysis(
    *,
    session: Session,
    org_id: uuid.UUID,
    bedrooms: int,
    area: str | None = None,
    year: int | None = None,
    target_rent: Decimal | None = None,
    market_rent: Decimal | None = None,
    utilities_included: bool = False,
    utility_allowance: Decimal | None = None,
) -> RentAnalysis:
    """FMR, payment standard and the most a voucher supports for a unit, vs. target and market.

    ``area`` defaults to Detroit's HUD Metro FMR Area; ``year`` to the latest on file (else the
    latest at or before it). ``utility_allowance`` overrides the table's allowance for
    tenant-paid utilities; with ``utilities_included`` the owner pays them and none applies.
    """
    if not 0 <= bedrooms <= MAX_BEDROOMS:
        raise RentAnalysisInputError(f"bedrooms must be 0 to {MAX_BEDROOMS}, not {bedrooms}")
    _check_rents(target_rent, market_rent, utility_allowance)
    resolved, area_note = resolve_area_noted(session=session, org_id=org_id, area=area, year=year)
    table_bedrooms = min(bedrooms, MAX_TABLE_BEDROOMS)
    if bedrooms > MAX_TABLE_BEDROOMS and _has_row(session, org_id, resolved, year, bedrooms):
        table_bedrooms = bedrooms  # a row for the exact size (a housing authority's own)
    used_year = _pick_year(
        session=session, org_id=org_id, area=resolved, year=year, bedrooms=table_bedrooms
    )
    row = fmr_row(
        session=session, org_id=org_id, area=resolved, year=used_year, bedrooms=table_bedrooms
    )
    if row is None or row.fmr_amount is None:
        raise FmrNotFoundError(f"No {table_bedrooms}-bedroom FMR for '{resolved}' in {used_year}")
    assumptions: list[str] = []
    if area_note is not None:
        assumptions.append(area_note)
    if year is not None and used_year != year:
        assumptions.append(f"no {year} FMR on file for this area: {used_year}, the latest before")
    newest_year = used_year
    if year is not None:
        newest_year = _pick_year(
            session=session, org_id=org_id, area=resolved, year=None, bedrooms=table_bedrooms
        )
    stale = fmr_year_warning(area=resolved, used_year=used_year, newest_year=newest_year)
    warnings = [stale] if stale else []
    scale = Decimal(1)
    if bedrooms > table_bedrooms:
        extra = bedrooms - MAX_TABLE_BEDROOMS
        scale = 1 + EXTRA_BEDROOM_SHARE * extra
        assumptions.append(
            f"{bedrooms} bedrooms: HUD rule, 4-bedroom FMR {_dollars(row.fmr_amount)} + 15% for "
            f"each of {extra} extra bedroom(s) = x{scale}, rounded to whole dollars"
        )
    fmr = _dollars(row.fmr_amount * scale)
    if row.payment_standard is not None:
        payment_standard = _dollars(row.payment_standard * scale)
    else:
        payment_standard = fmr
        assumptions.append("no payment standard on file: 100% of FMR")
    ps_pct = (
        (payment_standard / fmr * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if fmr > 0
        else None
    )
    low, high = PAYMENT_STANDARD_RANGE
    if ps_pct is not None and not low <= ps_pct <= high:
        assumptions.append(
            f"payment standard {payment_standard} is {ps_pct}% of the FMR, outside HUD's basic "
            f"{low}-{high}% range: only valid as an exception payment standard (check with the "
            "housing authority)"
        )
    # On file only when a stored schedule (the FMR row's allowance) supplied it.
    allowance_on_file = False
    if utilities_included:
        allowance = Decimal("0.00")
        allowance_source = "none: the owner pays all utilities"
        assumptions.append("owner pays all utilities: no utility allowance")
    elif utility_allowance is not None:
        allowance = _cents(utility_allowance)
        allowance_source = "as given in the request (not a stored utility allowance schedule)"
        assumptions.append(f"utility allowance {allowance} as given")
    elif row.utility_allowance is not None:
        allowance_on_file = True
        allowance = _cents(row.utility_allowance * scale)
        allowance_source = (
            f"utility allowance schedule on file: {row.area} FY{row.year}, "
            f"{row.bedrooms} bedrooms"
            + (" (HUD shared row)" if row.org_id is None else " (the organisation's own row)")
        )
        if scale != 1:
            assumptions.append(
                f"utility allowance: the 4-bedroom allowance {_cents(row.utility_allowance)} "
                f"x{scale}; the housing authority's schedule for {bedrooms} bedrooms may differ"
            )
    else:
        allowance = Decimal("0.00")
        allowance_source = "none on file: $0 used"
        assumptions.append(
            "tenant-paid utilities but no utility allowance on file: $0 used, so the maximum "
            "contract rent is an upper bound (give utility_allowance from the housing authority)"
        )
    max_contract = max(payment_standard - allowance, Decimal("0.00"))
    return RentAnalysis(
        area=resolved,
        year=used_year,
        requested_year=year,
        bedrooms=bedrooms,
        fmr=fmr,
        payment_standard=payment_standard,
        payment_standard_pct_of_fmr=ps_pct,
        utilities_included=utilities_included,
        utility_allowance=allowance,
        utility_allowance_on_file=allowance_on_file,
        utility_allowance_source=allowance_source,
        max_gross_rent=payment_standard,
        max_contract_rent=max_contract,
        **_compared(max_contract, target_rent, market_rent),
        fmr_row=FmrRowUsed(
            id=row.id,
            area=row.area,
            year=row.year,
            bedrooms=row.bedrooms,
            source=(
                f"HUD FMR FY{row.year} (shared)"
                if row.org_id is None
                else f"the organisation's own FY{row.year} payment standard row"
            ),
            effective_date=row.effective_date,
        ),
        assumptions=assumptions,
        warnings=warnings,
    )


def _check_rents(
    target_rent: Decimal | None, market_rent: Decimal | None, utility_allowance: Decimal | None
) -> None:
    """A target rent must be over $0; a market rent and a utility allowance not negative."""
    if target_rent is not None and target_rent <= 0:
        raise RentAnalysisInputError(TARGET_RENT_NOT_POSITIVE)
    for name, value in (("market_rent", market_rent), ("utility_allowance", utility_allowance)):
        if value is not None and value < 0:
            raise RentAnalysisInputError(f"{name} must not be negative")


def _compared(
    max_contract: Decimal, target_rent: Decimal | None, market_rent: Decimal | None
) -> dict[str, Decimal | bool | None]:
    """The target and market rent against the maximum contract rent (``RentAnalysis`` fields)."""
    premium = None if market_rent is None else _cents(max_contract - market_rent)
    return {
        "target_rent": None if target_rent is None else _cents(target_rent),
        "fmr_compliant": None if target_rent is None else _cents(target_rent) <= max_contract,
        "headroom": None if target_rent is None else _cents(max_contract - target_rent),
        "market_rent": None if market_rent is None else _cents(market_rent),
        "rent_reasonable": None
        if target_rent is None or market_rent is None
        else _cents(target_rent) <= _cents(market_rent),
        "voucher_premium": premium,
        "voucher_premium_pct": None
        if market_rent is None or market_rent == 0 or premium is None
        else (premium / market_rent * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        "recommended_rent": max_contract
        if market_rent is None
        else min(max_contract, _cents(market_rent)),
    }


def _feature_number(features: dict[str, object], name: str) -> float | None:
    try:
        value = float(str(features.get(name)))
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN is no number


def building_units(prop: Property, bedrooms: int) -> tuple[list[int], str | None]:
    """Each rentable unit's bedroom count, and a note when the building has more than one.

    Two units when the facts say so: building type ``Duplex`` or ``TwoFmCon`` (a two-family
    house or conversion) and at least two kitchens (``features``); the bedrooms split as
    evenly as possible, the larger share first (6: 3 + 3; 5: 3 + 2). Otherwise one unit.
    """
    features = prop.features if isinstance(prop.features, dict) else {}
    building = str(features.get("building_type") or "").strip()
    kitchens = _feature_number(features, "kitchens")
    if building.lower() in TWO_UNIT_BUILDING_TYPES and kitchens is None:
        # A two-family building type with no kitchen count: one unit, and say so.
        return [bedrooms], (
            f"building type {building} but no kitchen count on file: rented as one unit of "
            f"{bedrooms} bedrooms; record its kitchens (2 for two units) for per-unit FMRs"
        )
    if building.lower() not in TWO_UNIT_BUILDING_TYPES or kitchens is None or kitchens < 2:
        return [bedrooms], None
    units = [bedrooms - bedrooms // 2, bedrooms // 2]
    return units, (
        f"2 units (building type {building}, {kitchens:g} kitchens): HUD FMRs are per unit, so "
        f"the {bedrooms} bedrooms are split as evenly as possible, {units[0]} + {units[1]}, and "
        "each unit's FMR, payment standard and utility allowance are added up"
    )


def units_rent_analysis(
    *,
    session: Session,
    org_id: uuid.UUID,
    units: list[int],
    units_note: str | None = None,
    area: str | None = None,
    year: int | None = None,
    target_rent: Decimal | None = None,
    market_rent: Decimal | None = None,
    utilities_included: bool = False,
    utility_allowance: Decimal | None = None,
) -> RentAnalysis:
    """``rent_analysis`` for a building of one or more units (``building_units``).

    One unit is ``rent_analysis`` itself. Several: each unit's FMR, payment standard, utility
    allowance (``utility_allowance`` is per unit) and maximum contract rent, added up; the
    target and market rents are the building's and are compared with those sums; ``bedrooms``
    is the building's total and the FMR row the first unit's.
    """
    if len(units) == 1:
        return rent_analysis(
            session=session,
            org_id=org_id,
            bedrooms=units[0],
            area=area,
            year=year,
            target_rent=target_rent,
            market_rent=market_rent,
            utilities_included=utilities_included,
            utility_allowance=utility_allowance,
        )
    _check_rents(target_rent, market_rent, utility_allowance)
    parts = [
        rent_analysis(
            session=session,
            org_id=org_id,
            bedrooms=unit,
            area=area,
            year=year,
            utilities_included=utilities_included,
            utility_allowance=utility_allowance,
        )
        for unit in units
    ]
    fmr = sum((p.fmr for p in parts), Decimal("0.00"))
    payment_standard = sum((p.payment_standard for p in parts), Decimal("0.00"))
    max_contract = sum((p.max_contract_rent for p in parts), Decimal("0.00"))
    each = " + ".join(f"{_money(p.fmr)} ({p.bedrooms} bedrooms)" for p in parts)
    assumptions = [
        *([units_note] if units_note else []),
        f"FMR {each} = {_money(fmr)} for the building; maximum contract rent "
        + " + ".join(_money(p.max_contract_rent) for p in parts)
        + f" = {_money(max_contract)}",
        *dict.fromkeys(a for p in parts for a in p.assumptions),
    ]
    first = parts[0]
    return first.model_copy(
        update={
            "year": max(p.year for p in parts),
            "bedrooms": sum(units),
            "fmr": fmr,
            "payment_standard": payment_standard,
            "payment_standard_pct_of_fmr": (payment_standard / fmr * 100).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )
            if fmr > 0
            else None,
            "utility_allowance": sum((p.utility_allowance for p in parts), Decimal("0.00")),
            "utility_allowance_on_file": all(p.utility_allowance_on_file for p in parts),
            "utility_allowance_source": "; ".join(
                dict.fromkeys(p.utility_allowance_source for p in parts)
            ),
            "max_gross_rent": payment_standard,
            "max_contract_rent": max_contract,
            **_compared(max_contract, target_rent, market_rent),
            "assumptions": assumptions,
            "warnings": list(dict.fromkeys(w for p in parts for w in p.warnings)),
        }
    )


def _money(value: Decimal) -> str:
    return f"${value:,.2f}" if value != value.to_integral_value() else f"${value:,.0f}"


class PropertyRentResult(BaseModel):
    """A property's target rent checked against Section 8, and what was saved on it."""

    property_id: uuid.UUID
    analysis: RentAnalysis
    saved: bool
    target_rent_source: str = Field(
        default="given", description="given, on file, or none (then nothing is checked)"
    )
    market_rent_source: str | None = Field(
        default=None, description="where the market rent came from (given, or its estimate)"
    )


def assess_property_rent(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    bedrooms: int | None = None,
    target_rent: Decimal | None = None,
    area: str | None = None,
    year: int | None = None,
    market_rent: Decimal | None = None,
    utilities_included: bool = False,
    utility_allowance: Decimal | None = None,
    save: bool = True,
    principal: Principal | None = None,
) -> PropertyRentResult:
    """Analyse a property's rent by its bedroom count; save target rent and ``fmr_compliant``.

    ``bedrooms`` is used only when the property has no bedroom count; ``area`` defaults to
    the FMR area of the property's city and state (``area_for_place``; with no city, the city
    of the organisation's other properties in its ZIP code). The target rent defaults to the
    property's own; with none, ``target_rent`` and ``fmr_compliant`` are None and a note says
    so (saving then only clears the property's ``fmr_compliant``). The market rent (for HUD's rent
    reasonableness) defaults to the property's newest rent estimate on file.
    Saving goes through the property service (its event and audit entry).
    """
    from domain.property import service as property_service

    prop = property_service.require(session=session, org_id=org_id, property_id=property_id)
    if bedrooms is not None and prop.bedrooms is not None and bedrooms != prop.bedrooms:
        raise RentAnalysisInputError(
            f"the property has {prop.bedrooms} bedrooms, not {bedrooms}; leave bedrooms out"
        )
    unit_bedrooms = prop.bedrooms if prop.bedrooms is not None else bedrooms
    if unit_bedrooms is None:
        raise RentAnalysisInputError("the property has no bedroom count: give bedrooms")
    area_note = None
    if area is None:
        # The property's own area: never the default (Detroit's) for a house elsewhere.
        area, area_note = property_area(session=session, org_id=org_id, prop=prop)
    market_source = None if market_rent is None else "given"
    if market_rent is None:
        market_rent, market_source = _rent_estimate_on_file(
            session=session, org_id=org_id, property_id=prop.id
        )
    # A target rent of 0 stored before it was refused is no rent: none on file.
    on_file = prop.target_rent if prop.target_rent is not None and prop.target_rent > 0 else None
    target_source = "given" if target_rent is not None else "on file" if on_file else "none"
    # A two-family building's rent is its two units' (FMRs are per unit).
    units, units_note = building_units(prop, unit_bedrooms)
    analysis = units_rent_analysis(
        session=session,
        org_id=org_id,
        units=units,
        units_note=units_note,
        area=area,
        year=year,
        target_rent=target_rent if target_rent is not None else on_file,
        market_rent=market_rent,
        utilities_included=utilities_included,
        utility_allowance=utility_allowance,
    )
    if area_note is not None:
        analysis = analysis.model_copy(
            update={
                "assumptions": [
                    a for a in analysis.assumptions if not a.startswith("no area given")
                ]
                + [area_note]
            }
        )
    if analysis.target_rent is None:
        # Nothing to check: the voucher's maximum is not the property's rent (the chat says
        # "No target rent on file"), so target_rent and fmr_compliant stay null.
        analysis = analysis.model_copy(
            update={
                "assumptions": [
                    *analysis.assumptions,
                    f"{NO_TARGET_RENT}: the voucher supports a contract rent up to "
                    f"${analysis.max_contract_rent:,.2f} (recommended "
                    f"${analysis.recommended_rent:,.2f}); give target_rent to check one",
                ],
            }
        )
    if save:
        # Without a target rent only the (now unknown) compliance is cleared.
        property_service.update(
            session=session,
            org_id=org_id,
            property_id=property_id,
            property_in=(
                PropertyUpdate(fmr_compliant=None)
                if analysis.target_rent is None
                else PropertyUpdate(
                    target_rent=analysis.target_rent, fmr_compliant=analysis.fmr_compliant
                )
            ),
            principal=principal,
        )
    return PropertyRentResult(
        property_id=property_id,
        analysis=analysis,
        saved=save,
        target_rent_source=target_source,
        market_rent_source=market_source,
    )


def property_area(
    *, session: Session, org_id: uuid.UUID, prop: Property
) -> tuple[str | None, str | None]:
    """The FMR area of a property (None: the default) and a note when it was inferred.

    With no city, the city of the organisation's other properties in the same ZIP code; with
    neither, the default area only when the property's state (if any) is the default area's:
    a house in Ohio never gets Detroit's FMR.
    """
    city, state = prop.city, prop.state
    note = None
    if (not city or not city.strip()) and prop.zip_code:
        known = session.exec(
            select(Property.city, Property.state)
            .where(
                Property.org_id == org_id,
                Property.zip_code == prop.zip_code,
                col(Property.city).is_not(None),
                Property.id != prop.id,
            )
            .limit(1)
        ).first()
        if known is not None and known[0]:
            city, state = known[0], state or known[1]
            note = f"no city on the property: {city}, from other properties in ZIP {prop.zip_code}"
    if city and city.strip():
        found, chosen = area_for_place_noted(session=session, org_id=org_id, city=city, state=state)
        return found, "; ".join(n for n in (note, chosen) if n) or None
    code = (state or "").strip().upper()
    if code and code not in _area_states(DEFAULT_AREA):
        raise FmrNotFoundError(
            f"No FMR area on file for a property in {code} with no city: give area (the "
            f"default, {DEFAULT_AREA}, is another state's)"
        )
    where = f" (ZIP {prop.zip_code})" if prop.zip_code else ""
    return None, f"no city on the property{where}: the default area {DEFAULT_AREA}"


def _rent_estimate_on_file(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> tuple[Decimal | None, str | None]:
    """The property's newest positive ``rent_estimate`` (monthly) and where it came from."""
    from domain.property import service as property_service

    rows = property_service.list_market_data(
        session=session,
        org_id=org_id,
        property_id=property_id,
        data_type=MarketDataType.rent_estimate,
        limit=20,
    )
    for row in rows:
        try:
            amount = Decimal(str((row.value or {}).get("rent_monthly")))
        except (ArithmeticError, ValueError):
            continue
        if amount.is_finite() and amount > 0:
            return _cents(amount), f"rent estimate from {row.source or 'an unknown source'}"
    return None, None


def list_fmr(
    *,
    session: Session,
    org_id: uuid.UUID,
    area: str | None = None,
    year: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[FmrAreaYear]]:
    """FMR areas and years on file (filter by words in the area name, or a year), paged."""
    keys = select(Section8Fmr.area, Section8Fmr.year).where(_visible(org_id)).distinct()
    if area:
        escaped = area.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        keys = keys.where(func.lower(Section8Fmr.area).like(f"%{escaped}%"))
    if year is not None:
        keys = keys.where(Section8Fmr.year == year)
    subquery = keys.subquery()
    total = session.exec(select(func.count()).select_from(subquery)).one()
    page = session.exec(
        select(subquery.c.area, subquery.c.year)
        .order_by(subquery.c.area, subquery.c.year.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    if not page:
        return int(total), []
    wanted = {(a, y) for a, y in page}
    rows = session.exec(
        select(Section8Fmr)
        .where(
            _visible(org_id),
            col(Section8Fmr.area).in_({a for a, _ in wanted}),
            col(Section8Fmr.year).in_({y for _, y in wanted}),
        )
        .execution_options(populate_existing=True)
    ).all()
    grouped: dict[tuple[str, int], dict[int, Section8Fmr]] = {key: {} for key in page}
    for row in rows:
        key = (row.area, row.year)
        if key not in grouped:
            continue
        current = grouped[key].get(row.bedrooms)
        # The organisation's own row wins over HUD's for the same bedrooms.
        if current is None or (current.org_id is None and row.org_id is not None):
            grouped[key][row.bedrooms] = row
    result = []
    for (area_name, area_year), by_bedrooms in grouped.items():
        ordered = dict(sorted(by_bedrooms.items()))
        result.append(
            FmrAreaYear(
                area=area_name,
                year=area_year,
                shared=all(r.org_id is None for r in ordered.values()),
                fmr_by_bedrooms={
                    b: r.fmr_amount for b, r in ordered.items() if r.fmr_amount is not None
                },
                payment_standard_by_bedrooms={
                    b: r.payment_standard
                    for b, r in ordered.items()
                    if r.payment_standard is not None
                },
                utility_allowance_by_bedrooms={
                    b: r.utility_allowance
                    for b, r in ordered.items()
                    if r.utility_allowance is not None
                },
            )
        )
    return int(total), result
