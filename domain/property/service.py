"""Properties: create, read, update, delete, search, find by address, images and market data.

Every function is keyword-only, takes a session and the caller's ``org_id``, and never sees
another organisation's rows. Functions flush, never commit: the caller owns the transaction,
and the ``property.created`` / ``property.updated`` / ``property.deleted`` events and audit
entries are written in it, so a change and its announcement are saved or lost together.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, Text, and_, asc, cast, desc, exists, func, literal, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.metrics import business_counter
from core.paging import count_rows
from domain.auth.service import Principal, record_audit
from domain.property.address import (
    DIRECTIONALS,
    STREET_SUFFIXES,
    NormalisedAddress,
    canonical_state,
    canonical_zip,
    match_score,
    parse_address,
)
from domain.property.enums import MarketDataType
from domain.property.errors import (
    AddressParseError,
    PropertyConflictError,
    PropertyNotFoundError,
    PropertyValidationError,
)
from domain.property.models import (
    MarketData,
    MarketDataCreate,
    NearPoint,
    Property,
    PropertyCreate,
    PropertyImage,
    PropertyImageCreate,
    PropertySearch,
    PropertyUpdate,
    SortKey,
)
from store.base import utcnow
from store.outbox import publish

__all__ = [
    "AddressMatch",
    "AddressParseError",
    "DuplicateAddressError",
    "PropertyConflictError",
    "PropertyNotFoundError",
    "PropertyValidationError",
    "EARTH_RADIUS_MILES",
]

EARTH_RADIUS_MILES = 3958.7613
MILES_PER_DEGREE_LATITUDE = 69.0
MAX_PAGE = 500
# Candidates examined by an address lookup (every property with the same house number).
_ADDRESS_CANDIDATES = 500

PROPERTIES_CREATED = business_counter(
    "properties_created_total", "Properties created, by origin (api or import)", ["origin"]
)

ENTITY = "property"


# --- reading -----------------------------------------------------------------------------


def get(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> Property | None:
    """The organisation's property ``property_id``, or None."""
    found = session.get(Property, property_id)
    return found if found is not None and found.org_id == org_id else None


def require(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> Property:
    """The organisation's property ``property_id``; ``PropertyNotFoundError`` when it has none."""
    found = get(session=session, org_id=org_id, property_id=property_id)
    if found is None:
        raise PropertyNotFoundError(f"property {property_id} not found")
    return found


def get_by_source(
    *, session: Session, org_id: uuid.UUID, source: str, source_id: str
) -> Property | None:
    """The property imported from ``source`` with id ``source_id``, or None."""
    statement = select(Property).where(
        Property.org_id == org_id, Property.source == source, Property.source_id == source_id
    )
    return session.exec(statement).first()


@dataclass(frozen=True)
class Page:
    """One page of properties: the rows, how many match in all, and the window."""

    items: list[Property]
    total: int
    limit: int
    offset: int


def list_properties(
    *,
    session: Session,
    org_id: uuid.UUID,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The organisation's properties, newest first, one page at a time."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    total = session.exec(
        select(func.count()).select_from(Property).where(Property.org_id == org_id)
    ).one()
    rows = session.exec(
        select(Property)
        .where(Property.org_id == org_id)
        # The order of ``ix_properties_org_created_id`` (and of a search's default): a deep
        # page reads the index instead of sorting every row (created_at is never NULL).
        .order_by(col(Property.created_at).desc().nulls_last(), col(Property.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return Page(items=list(rows), total=int(total), limit=limit, offset=offset)


def ids_query(*, org_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """A subquery of the organisation's property ids (for read models kept elsewhere)."""
    return select(Property.id).where(Property.org_id == org_id)


def version_stamp(*, session: Session, org_id: uuid.UUID) -> tuple[int, dt.datetime | None]:
    """How many properties the organisation has and when the newest change to one was made.

    A read model (the comp index) holding the same count and newest ``updated_at`` is current
    (one aggregate query; ``changed_since`` finds which rows differ when it is not).
    """
    count, newest = session.execute(
        select(func.count(), func.max(Property.updated_at)).where(Property.org_id == org_id)
    ).one()
    return int(count), newest


def changed_since(
    *,
    session: Session,
    org_id: uuid.UUID,
    known: Any,
    after: uuid.UUID | None = None,
    limit: int = 500,
) -> list[Property]:
    """The organisation's properties missing from ``known`` or changed since it was written.

    ``known`` is a select of (``id``, ``updated_at``) pairs a read model holds (the property's
    id and the ``updated_at`` it copied). One keyset page, in id order, of the properties with
    no pair or another ``updated_at`` (an anti-join in the database): pass the last id as
    ``after`` for the next page.
    """
    pairs = known.subquery()
    statement = (
        select(Property)
        .outerjoin(pairs, pairs.c.id == col(Property.id))
        .where(
            Property.org_id == org_id,
            or_(
                pairs.c.id.is_(None),
                pairs.c.updated_at.is_distinct_from(col(Property.updated_at)),
            ),
        )
        .order_by(col(Property.id))
        .limit(max(1, limit))
    )
    if after is not None:
        statement = statement.where(col(Property.id) > after)
    return list(session.exec(statement).all())


# --- addresses ---------------------------------------------------------------------------

_ADDRESS_PART_KEYS = {
    "street": ("street", "line", "address_line", "street_address", "line1", "address"),
    "city": ("city", "locality"),
    "state": ("state", "region", "state_or_province"),
    "zip": ("zip", "zip_code", "postal_code", "zipcode"),
}


def _address_part(address: Mapping[str, Any], part: str) -> str | None:
    """The first non-empty value of ``part`` in a caller's address dict, as a string."""
    for key in _ADDRESS_PART_KEYS[part]:
        value = address.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def resolve_address(
    *,
    address_line: str | None,
    city: str | None,
    state: str | None,
    zip_code: str | None,
    address: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The address columns of a property from what a caller gave, normalised.

    Returns ``address`` (the parts, as stored), ``address_line`` (canonical street line),
    ``city``, ``state``, ``zip_code`` and ``address_key``. Raises ``AddressParseError``
    when a street line is given but cannot be read, or a state or ZIP is not valid.
    """
    given = dict(address or {})
    street = address_line or _address_part(given, "street")
    city = city or _address_part(given, "city")
    state = state or _address_part(given, "state")
    zip_code = zip_code or _address_part(given, "zip")
    if street:
        parsed = parse_address(street, city=city, state=state, zip_code=zip_code, strict=True)
        return {
            "address": parsed.components(),
            "address_line": parsed.address_line,
            "city": parsed.city_display,
            "state": parsed.state,
            "zip_code": parsed.zip_code,
            "address_key": parsed.address_key,
        }
    state_code = canonical_state(state) if state else None
    zip5 = canonical_zip(zip_code) if zip_code else None
    city_display = " ".join(city.split()).title() if city else None
    parts = {"city": city.upper() if city else None, "state": state_code, "zip_code": zip5}
    return {
        "address": {k: v for k, v in parts.items() if v is not None},
        "address_line": None,
        "city": city_display,
        "state": state_code,
        "zip_code": zip5,
        "address_key": None,
    }


@dataclass(frozen=True)
class AddressMatch:
    """A property found for an address, how well it matches (100: same street line and unit)."""

    property: Property
    score: int
    query: NormalisedAddress


def _stored_parts(prop: Property) -> dict[str, Any] | None:
    """A property's address parts (as ``match_score`` reads them), or None when it has none."""
    parts = dict(prop.address or {})
    if "house_number" not in parts:
        line = prop.address_line or prop.address_key
        if not line:
            return None
        try:
            parts = parse_address(line).components()
        except AddressParseError:
            return None
    # The columns are authoritative for the place (they may have been edited since).
    parts["city"] = prop.city.upper() if prop.city else parts.get("city")
    parts["state"] = prop.state or parts.get("state")
    parts["zip_code"] = prop.zip_code or parts.get("zip_code")
    return parts


def _like_escape(value: str) -> str:
    """``value`` with LIKE wildcards (and the backslash escape) escaped."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A street named without a house number: "kercheval", "mack ave", "east grand blvd".
_STREET_NAME = re.compile(r"^[a-z][a-z'.-]*(?: [a-z0-9][a-z0-9'.-]*){0,3}$")
_STREET_SUFFIXES = frozenset(
    {"st", "street", "ave", "av", "avenue", "rd", "road", "dr", "drive", "blvd", "boulevard",
     "ln", "lane", "ct", "court", "way", "pl", "place", "ter", "terrace", "pkwy", "parkway",
     "hwy", "highway", "cir", "circle"}
)  # fmt: skip


def street_name(text: str) -> str | None:
    """The name part of a street named without a house number, lower case, or None.

    "Kercheval" → "kercheval"; "Mack Ave" / "mack avenue" → "mack"; "123 Main St" (a house
    number) and words that cannot be a street name → None.
    """
    words = " ".join(text.strip().lower().replace(",", " ").split()).strip(".")
    if not _STREET_NAME.match(words):
        return None
    parts = words.split(" ")
    while len(parts) > 1 and parts[-1].rstrip(".") in _STREET_SUFFIXES:
        parts.pop()
    name = " ".join(parts)
    return name if name.rstrip(".") not in _STREET_SUFFIXES else None


def ids_on_street(*, org_id: uuid.UUID, street: str) -> SelectOfScalar[uuid.UUID]:
    """A ``SELECT id`` of the organisation's properties whose street line names ``street``.

    ``street`` is a name from ``street_name`` ("mack", "east grand"): matched as whole words
    in the stored street line, case-insensitively ("mack" finds "9000 Mack Ave", never
    "Mackinaw St").
    """
    words = [re.escape(word.strip(".")) + r"\.?" for word in street.split() if word.strip(".")]
    pattern = r"\m" + r"\s+".join(words) + r"(?![a-z0-9])"
    return select(col(Property.id)).where(
        Property.org_id == org_id, col(Property.address_line).op("~*")(pattern)
    )


def ids_at_house_number(*, org_id: uuid.UUID, number: str) -> SelectOfScalar[uuid.UUID]:
    """A ``SELECT id`` of the organisation's properties at house number ``number``.

    "3866" finds "3866 Duff Ave", never "13866 Duff Ave" or "386 Elm St".
    """
    return select(col(Property.id)).where(
        Property.org_id == org_id,
        col(Property.address_line).like(f"{_like_escape(number.strip())} %", escape="\\"),
    )


def find_address_matches(
    *, session: Session, org_id: uuid.UUID, text: str, limit: int = 10
) -> list[AddressMatch]:
    """Properties whose address matches free text, best first, with their scores.

    Candidates share the house number; ``match_score`` keeps those on the same street whose
    directionals, suffix, unit, ZIP, city and state do not conflict. Raises
    ``AddressParseError`` when ``text`` is not a street address.
    """
    query = parse_address(text)
    prefix = f"{_like_escape(query.house_number)} %"
    candidates = session.exec(
        select(Property)
        .where(
            Property.org_id == org_id,
            or_(
                col(Property.address_key) == query.address_key,
                col(Property.address_key).like(prefix, escape="\\"),
            ),
        )
        .limit(_ADDRESS_CANDIDATES)
    ).all()
    matches: list[AddressMatch] = []
    for prop in candidates:
        parts = _stored_parts(prop)
        score = match_score(query, parts) if parts is not None else None
        if score is not None:
            matches.append(AddressMatch(property=prop, score=score, query=query))
    matches.sort(key=lambda m: (-m.score, -(m.property.updated_at.timestamp())))
    return matches[: max(1, limit)]


@dataclass(frozen=True)
class LooseAddressMatch:
    """What a free-text address that matched nothing exactly may still mean.

    ``property``: the one house whose street the text starts with, followed by words that are
    no part of an address ("1215 Kellogg for me", "is 1215 kellogg a good deal"). ``suggestions``:
    houses with the same number on a street spelt alike ("1215 Kelog Ave", "1215 Kellogg St"),
    to offer, never to use unasked.
    """

    property: Property | None
    suggestions: list[Property]


_LOOSE_WORD = re.compile(r"[a-z0-9]+", re.I)
# How alike a misspelt street name must be to be offered ("kelog" for "kellogg": 0.83).
SUGGEST_SIMILARITY = 0.75


def find_loose_address(
    *, session: Session, org_id: uuid.UUID, text: str, limit: int = 3
) -> LooseAddressMatch:
    """The house ``text`` names when ``find_address_matches`` found none (see the result type).

    Only houses with the text's house number are considered. A street whose name is the text's
    first words is the match when exactly one is, and the word after it is not a street suffix,
    direction or unit that the house's own address contradicts; other houses whose street name
    is spelt alike (``SUGGEST_SIMILARITY``) are suggestions.
    """
    found = re.match(r"\s*(\d+[a-z]?)\s+(.+)", text, re.I)
    if found is None:
        return LooseAddressMatch(property=None, suggestions=[])
    number = found.group(1).upper()
    said = [w.upper() for w in _LOOSE_WORD.findall(found.group(2))]
    candidates = session.exec(
        select(Property)
        .where(
            Property.org_id == org_id,
            or_(
                col(Property.address_key).like(f"{_like_escape(number)} %", escape="\\"),
                col(Property.address_key) == number,
            ),
        )
        .limit(_ADDRESS_CANDIDATES)
    ).all()
    sure: list[Property] = []
    scored: list[tuple[float, Property]] = []
    for prop in candidates:
        parts = _stored_parts(prop)
        if parts is None or str(parts.get("house_number", "")).upper() != number:
            continue
        name = [w.upper() for w in _LOOSE_WORD.findall(str(parts.get("street_name") or ""))]
        if not name:
            continue
        head = said[: len(name)]
        after = said[len(name)] if len(said) > len(name) else None
        if head == name:
            suffix = str(parts.get("street_suffix") or "")
            conflicting = after is not None and (
                (after in STREET_SUFFIXES.values() or after in STREET_SUFFIXES)
                and STREET_SUFFIXES.get(after, after) != suffix
            )
            if not conflicting:
                sure.append(prop)
                continue
        ratio = difflib.SequenceMatcher(None, " ".join(head), " ".join(name)).ratio()
        if head == name or ratio >= SUGGEST_SIMILARITY:
            scored.append((ratio, prop))
    if len(sure) == 1:
        return LooseAddressMatch(property=sure[0], suggestions=[])
    scored.sort(key=lambda pair: -pair[0])
    return LooseAddressMatch(property=None, suggestions=[*sure, *(p for _, p in scored)][:limit])


def find_by_address(
    *, session: Session, org_id: uuid.UUID, text: str, limit: int = 10
) -> list[Property]:
    """The organisation's properties at the address in ``text``, best match first.

    "14500 kercheval avenue apt 2" and "14500 Kercheval Ave #2, Detroit, MI 48215" find the
    same property; a city or ZIP in the text narrows the matches, and one that conflicts with
    the stored one rules a property out. Raises ``AddressParseError`` (with a message saying
    what is missing) when the text is not a street address.
    """
    return [
        m.property
        for m in find_address_matches(session=session, org_id=org_id, text=text, limit=limit)
    ]


# --- writing -----------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """``value`` as JSON (decimals, dates and UUIDs as strings)."""
    return to_jsonable_python(value)


def _ensure_unique(
    *,
    session: Session,
    org_id: uuid.UUID,
    mls_number: str | None,
    source: str | None,
    source_id: str | None,
    exclude_id: uuid.UUID | None = None,
) -> None:
    """Raise ``PropertyConflictError`` when another property has this MLS number or source id."""
    if mls_number:
        statement = select(Property.id).where(
            Property.org_id == org_id, Property.mls_number == mls_number
        )
        if exclude_id is not None:
            statement = statement.where(Property.id != exclude_id)
        other = session.exec(statement).first()
        if other is not None:
            raise PropertyConflictError(
                f"MLS number {mls_number!r} already belongs to property {other}"
            )
    if source and source_id:
        statement = select(Property.id).where(
            Property.org_id == org_id, Property.source == source, Property.source_id == source_id
        )
        if exclude_id is not None:
            statement = statement.where(Property.id != exclude_id)
        other = session.exec(statement).first()
        if other is not None:
            raise PropertyConflictError(
                f"source {source!r} id {source_id!r} already belongs to property {other}"
            )


_UNIQUE_KEYS = ("uq_properties_org_mls_number", "uq_properties_org_source_id")


def _flush_unique(*, session: Session, prop: Property) -> None:
    """Flush ``prop`` in a savepoint; a unique key taken meanwhile is a PropertyConflictError.

    ``_ensure_unique`` answers one request at a time; a concurrent writer can take the MLS
    number or source id between that check and this write, and gets the same 409, not a 500.
    """
    # Read before the flush: a rolled-back savepoint expires what was set on the row.
    org_id, prop_id = prop.org_id, prop.id
    mls_number, source, source_id = prop.mls_number, prop.source, prop.source_id
    try:
        with session.begin_nested():
            session.add(prop)
            session.flush()
    except IntegrityError as exc:
        if not any(key in str(exc.orig) for key in _UNIQUE_KEYS):
            raise
        # The other writer has committed (the unique check waited for it): name its row.
        _ensure_unique(
            session=session,
            org_id=org_id,
            mls_number=mls_number,
            source=source,
            source_id=source_id,
            exclude_id=prop_id,
        )
        raise PropertyConflictError(
            "another property of your organisation already has this MLS number or source id"
        ) from exc


class DuplicateAddressError(PropertyConflictError):
    """The organisation already has a property at this street address and unit."""

    def __init__(self, message: str, *, existing_id: uuid.UUID) -> None:
        """Keep the existing property's id, for the caller to show."""
        super().__init__(message)
        self.existing_id = existing_id


def _same_place(values: Mapping[str, Any], prop: Property) -> bool:
    """Whether an address with ``prop``'s ``address_key`` is the same house as ``prop``.

    It is unless a ZIP, state or city given on both sides differs (the city is compared only
    without two ZIPs to compare: mailing city names vary within one ZIP).
    """
    zip_a, zip_b = values.get("zip_code"), prop.zip_code
    if values.get("state") and prop.state and values["state"] != prop.state:
        return False
    if zip_a and zip_b:
        return bool(zip_a == zip_b)
    city_a, city_b = values.get("city"), prop.city
    return not (city_a and city_b and str(city_a).upper() != city_b.upper())


def _refuse_same_address(*, session: Session, org_id: uuid.UUID, values: Mapping[str, Any]) -> None:
    """Raise ``DuplicateAddressError`` when the organisation has a property at this address.

    The same ``address_key`` (street line and unit) in the same place (``_same_place``).
    """
    key = values.get("address_key")
    if not key:
        return
    candidates = session.exec(
        select(Property)
        .where(Property.org_id == org_id, Property.address_key == key)
        .order_by(asc(col(Property.created_at)))
        .limit(_ADDRESS_CANDIDATES)
    ).all()
    for prop in candidates:
        if _same_place(values, prop):
            where = ", ".join(p for p in (prop.address_line, prop.city, prop.state) if p)
            raise DuplicateAddressError(
                f"property {prop.id} is already at {where}; "
                "pass allow_duplicate=true to create another one at the same address",
                existing_id=prop.id,
            )


def _check_locatable(values: Mapping[str, Any]) -> None:
    """A property needs a street address or both coordinates (else nobody can find it)."""
    has_address = bool(values.get("address_key"))
    has_point = values.get("latitude") is not None and values.get("longitude") is not None
    if not has_address and not has_point:
        raise PropertyValidationError(
            "a property needs a street address (address_line) or both latitude and longitude"
        )
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        raise PropertyValidationError("give both latitude and longitude, or neither")


def _created_payload(prop: Property) -> dict[str, Any]:
    """What ``property.created`` says about the new property."""
    return {
        "property_id": prop.id,
        "address_line": prop.address_line,
        "city": prop.city,
        "state": prop.state,
        "zip_code": prop.zip_code,
        "status": prop.status,
        "property_type": prop.property_type,
        "source": prop.source,
        "source_id": prop.source_id,
    }


def create(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_in: PropertyCreate,
    principal: Principal | None = None,
    publish_event: bool = True,
    source_checked: bool = False,
    refuse_same_address: bool = False,
) -> Property:
    """Create a property with a normalised address; publish ``property.created``.

    Raises ``AddressParseError``/``PropertyValidationError`` for an unreadable address or a
    property with neither address nor coordinates, and ``PropertyConflictError`` when the
    MLS number or (source, source id) is taken. ``source_checked``: the caller (an import)
    has already looked the source id up, so the check is not repeated.
    ``refuse_same_address`` (the REST create): ``DuplicateAddressError`` when the organisation
    already has a property at the same street line and unit in the same place; imports,
    tools and the demo seed have their own dedupe (source ids, lookups) and leave it off.
    """
    values = property_in.model_dump()
    values.update(
        resolve_address(
            address_line=values.pop("address_line"),
            city=values.pop("city"),
            state=values.pop("state"),
            zip_code=values.pop("zip_code"),
            address=values.pop("address"),
        )
    )
    _check_locatable(values)
    _ensure_unique(
        session=session,
        org_id=org_id,
        mls_number=values.get("mls_number"),
        source=None if source_checked else values.get("source"),
        source_id=values.get("source_id"),
    )
    if refuse_same_address:
        _refuse_same_address(session=session, org_id=org_id, values=values)
    prop = Property(org_id=org_id, **values)
    _flush_unique(session=session, prop=prop)
    if publish_event:
        publish(session, org_id=org_id, name="property.created", payload=_created_payload(prop))
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="create",
            entity=ENTITY,
            entity_id=prop.id,
            changes=_json(property_in.model_dump(exclude_unset=True)),
        )
    PROPERTIES_CREATED.labels(origin="import" if prop.source else "api").inc()
    return prop


_ADDRESS_FIELDS = ("address", "address_line", "city", "state", "zip_code")


def apply_changes(
    *,
    session: Session,
    org_id: uuid.UUID,
    prop: Property,
    changes: Mapping[str, Any],
    principal: Principal | None = None,
    publish_event: bool = True,
) -> dict[str, dict[str, Any]]:
    """Set ``changes`` (already validated fields) on ``prop``; return what really changed.

    The address is re-normalised when any address field is given. Publishes
    ``property.updated`` (property id, changed field names, old and new values) and writes
    an audit entry when something changed; nothing when the values were already so.
    """
    values = dict(changes)
    if any(name in values for name in _ADDRESS_FIELDS):
        keep = {name: getattr(prop, name) for name in _ADDRESS_FIELDS}
        line = values.get("address_line", keep["address_line"])
        address_dict = values.get("address")
        if "address_line" not in values and address_dict:
            line = None  # the new address dict replaces the old street line
        resolved = resolve_address(
            address_line=line,
            city=values.get("city", keep["city"]),
            state=values.get("state", keep["state"]),
            zip_code=values.get("zip_code", keep["zip_code"]),
            address=address_dict,
        )
        for name in _ADDRESS_FIELDS:
            values.pop(name, None)
        values.update(resolved)
    merged = {
        "address_key": values.get("address_key", prop.address_key),
        "latitude": values.get("latitude", prop.latitude),
        "longitude": values.get("longitude", prop.longitude),
    }
    _check_locatable(merged)
    # Only a value that changes can collide: the stored ones are unique already (the table's
    # constraints), so an unchanged re-import runs no conflict query.
    mls_number = values.get("mls_number", prop.mls_number)
    source = values.get("source", prop.source)
    source_id = values.get("source_id", prop.source_id)
    mls_changed = mls_number != prop.mls_number
    key_changed = (source, source_id) != (prop.source, prop.source_id)
    if mls_changed or key_changed:
        _ensure_unique(
            session=session,
            org_id=org_id,
            mls_number=mls_number if mls_changed else None,
            source=source if key_changed else None,
            source_id=source_id,
            exclude_id=prop.id,
        )
    changed: dict[str, dict[str, Any]] = {}
    for name, new in values.items():
        old = getattr(prop, name)
        if old != new:
            changed[name] = {"from": _json(old), "to": _json(new)}
            setattr(prop, name, new)
    if not changed:
        return changed
    if mls_changed or key_changed:
        _flush_unique(session=session, prop=prop)
    else:
        session.add(prop)
        session.flush()
    if publish_event:
        publish(
            session,
            org_id=org_id,
            name="property.updated",
            payload={
                "property_id": prop.id,
                "changed_fields": sorted(changed),
                "changes": changed,
            },
        )
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="update",
            entity=ENTITY,
            entity_id=prop.id,
            changes=changed,
        )
    return changed


def update(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    property_in: PropertyUpdate,
    principal: Principal | None = None,
) -> Property:
    """Change the fields given in ``property_in``; publish ``property.updated`` if any changed.

    Raises ``PropertyNotFoundError``, ``AddressParseError``/``PropertyValidationError`` and
    ``PropertyConflictError`` like ``create``.
    """
    prop = require(session=session, org_id=org_id, property_id=property_id)
    apply_changes(
        session=session,
        org_id=org_id,
        prop=prop,
        changes=property_in.model_dump(exclude_unset=True),
        principal=principal,
    )
    return prop


def delete(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    principal: Principal | None = None,
) -> None:
    """Delete a property with its images and market data; publish ``property.deleted``.

    Refused (``PropertyConflictError``, nothing deleted) while a deal or a construction project
    of the organisation names the property: ``deals.property_id`` is deliberately not a foreign
    key, so nothing else would stop them being orphaned. Reports, valuations and comp-index
    rows do not hold a delete back (the valuation module drops the comp row on
    ``property.deleted``; a report asked for afterwards fails with the reason).
    """
    prop = require(session=session, org_id=org_id, property_id=property_id)
    _refuse_if_in_use(session=session, org_id=org_id, property_id=prop.id)
    payload = {
        "property_id": prop.id,
        "address_line": prop.address_line,
        "city": prop.city,
        "state": prop.state,
        "zip_code": prop.zip_code,
        "source": prop.source,
        "source_id": prop.source_id,
    }
    session.delete(prop)
    session.flush()
    publish(session, org_id=org_id, name="property.deleted", payload=payload)
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="delete",
            entity=ENTITY,
            entity_id=property_id,
            changes=_json({k: v for k, v in payload.items() if k != "property_id"}),
        )


def _refuse_if_in_use(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> None:
    """Raise ``PropertyConflictError`` naming how many deals and projects use the property."""
    from domain.construction.models import Project
    from domain.deal.models import Deal

    deals = session.exec(
        select(func.count()).where(Deal.org_id == org_id, Deal.property_id == property_id)
    ).one()
    projects = session.exec(
        select(func.count()).where(Project.org_id == org_id, Project.property_id == property_id)
    ).one()
    if not deals and not projects:
        return
    users = [
        f"{count} {noun}{'' if count == 1 else 's'}"
        for count, noun in ((deals, "deal"), (projects, "construction project"))
        if count
    ]
    verb = "refers" if deals + projects == 1 else "refer"
    raise PropertyConflictError(
        f"Property {property_id} cannot be deleted: {' and '.join(users)} {verb} to it "
        f"(GET /deals?property_id={property_id}, GET /projects?property_id={property_id}). "
        "Nothing was deleted."
    )


# --- search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    """A property found by a search and, for a radius search, its distance in miles."""

    property: Property
    distance_miles: float | None = None


@dataclass(frozen=True)
class SearchResult:
    """One page of search hits, how many match in all, and the filters that produced them."""

    hits: list[SearchHit]
    total: int
    limit: int
    offset: int
    filters: PropertySearch = field(repr=False)


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in miles between two points (the same formula the SQL uses)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = math.radians(lat2 - lat1)
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def _distance_sql(near: NearPoint) -> ColumnElement[float]:
    """Haversine distance in miles from ``near`` to each row's latitude/longitude, in SQL."""
    lat = col(Property.latitude)
    lon = col(Property.longitude)
    half_dlat = func.radians(lat - near.latitude) / 2
    half_dlon = func.radians(lon - near.longitude) / 2
    a = func.power(func.sin(half_dlat), 2) + func.cos(
        func.radians(literal(near.latitude))
    ) * func.cos(func.radians(lat)) * func.power(func.sin(half_dlon), 2)
    return 2 * EARTH_RADIUS_MILES * func.asin(func.least(1.0, func.sqrt(a)))


def _bounding_box(near: NearPoint) -> ColumnElement[bool]:
    """A latitude/longitude box around the circle, so the lat/lon index narrows rows first."""
    # 1% slack: degrees per mile vary slightly with latitude; the exact test follows anyway.
    dlat = near.radius_miles / MILES_PER_DEGREE_LATITUDE * 1.01
    conditions = [
        col(Property.latitude).between(near.latitude - dlat, near.latitude + dlat),
    ]
    cos_lat = math.cos(math.radians(near.latitude))
    if cos_lat > 1e-6:
        dlon = near.radius_miles / (MILES_PER_DEGREE_LATITUDE * cos_lat) * 1.01
        west, east = near.longitude - dlon, near.longitude + dlon
        # Across the antimeridian a single interval does not work: leave longitude to haversine.
        if west >= -180 and east <= 180:
            conditions.append(col(Property.longitude).between(west, east))
    return and_(*conditions)


def _word_patterns(word: str) -> set[str]:
    """A search word and its USPS forms ("avenue" also finds "Ave", "north" finds "N")."""
    upper = word.upper().strip(".,")
    forms = {word}
    if upper in STREET_SUFFIXES:
        forms.add(STREET_SUFFIXES[upper])
    if upper in DIRECTIONALS:
        forms.add(DIRECTIONALS[upper])
    return forms


def _text_condition(text: str) -> ColumnElement[bool] | None:
    """Every word of ``text`` found in the street line, city, ZIP, neighbourhood or features."""
    words = [word for word in text.split() if word.strip()]
    if not words:
        return None
    haystacks = [
        col(Property.address_line),
        col(Property.city),
        col(Property.zip_code),
        col(Property.neighborhood),
        col(Property.mls_number),
    ]
    conditions = []
    for word in words:
        forms = sorted(_word_patterns(word))
        patterns = [f"%{_like_escape(form)}%" for form in forms]
        # The columns first: OR stops at the first match, and the features test is the dear one.
        alternatives: list[ColumnElement[bool]] = [
            hay.ilike(pattern, escape="\\") for pattern in patterns for hay in haystacks
        ]
        feature = or_(*(_feature_condition(pattern) for pattern in patterns))
        if all(_json_text_safe(form) for form in forms):
            # A name or text value matching a form is in the features' JSON text too, so one
            # ILIKE on that text skips the per-key scan for most rows (no features, no match).
            features_text = cast(col(Property.features), Text)
            feature = and_(
                or_(*(features_text.ilike(pattern, escape="\\") for pattern in patterns)),
                feature,
            )
        alternatives.append(feature)
        conditions.append(or_(*alternatives))
    return and_(*conditions)


def _json_text_safe(form: str) -> bool:
    """Whether ``form`` reads the same in JSON text (no quote, backslash or control character)."""
    return not any(char in '"\\' or ord(char) < 0x20 for char in form)


# JSON values that say a feature is absent: {"pool": false} is a house without a pool.
_ABSENT_FEATURE_VALUES = ("false", "null", "0", '""', "[]", "{}")


def _feature_condition(pattern: str) -> ColumnElement[bool]:
    """A feature the property has matches ``pattern``: its name, or its text value.

    Matching the features' JSON text would find "pool" in ``{"pool": false}`` (and "false"
    in every house without something); a name counts only when its value is not false,
    null, 0 or empty.
    """
    each = func.jsonb_each(col(Property.features)).table_valued("key", "value")
    value_text = cast(each.c.value, Text)
    return exists(
        select(literal(1))
        .select_from(each)
        .where(
            or_(
                and_(
                    each.c.key.ilike(pattern, escape="\\"),
                    value_text.not_in(_ABSENT_FEATURE_VALUES),
                ),
                and_(
                    func.jsonb_typeof(each.c.value) == "string",
                    value_text.ilike(pattern, escape="\\"),
                ),
            )
        )
    )


def _search_conditions(org_id: uuid.UUID, query: PropertySearch) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a search."""
    price = func.coalesce(col(Property.close_price), col(Property.list_price))
    conditions: list[ColumnElement[bool]] = [col(Property.org_id) == org_id]
    ranges: list[tuple[Any, Any, Any]] = [
        (price, query.min_price, query.max_price),
        (col(Property.bedrooms), query.min_bedrooms, query.max_bedrooms),
        (col(Property.bathrooms), query.min_bathrooms, query.max_bathrooms),
        (col(Property.square_feet), query.min_square_feet, query.max_square_feet),
        (col(Property.year_built), query.min_year_built, query.max_year_built),
    ]
    for column, low, high in ranges:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    if query.property_types:
        conditions.append(col(Property.property_type).in_([t.value for t in query.property_types]))
    if query.statuses:
        conditions.append(col(Property.status).in_([s.value for s in query.statuses]))
    if query.section8_approved is not None:
        conditions.append(col(Property.section8_approved).is_(query.section8_approved))
    if query.zip_code:
        conditions.append(col(Property.zip_code) == query.zip_code.strip()[:5])
    if query.city:
        conditions.append(func.lower(col(Property.city)) == query.city.strip().lower())
    if query.text:
        text_condition = _text_condition(query.text)
        if text_condition is not None:
            conditions.append(text_condition)
    if query.near is not None:
        conditions.append(_bounding_box(query.near))
        conditions.append(_distance_sql(query.near) <= query.near.radius_miles)
    return conditions


def _check_search(query: PropertySearch) -> None:
    """Refuse a search whose ranges are upside down or sort by distance without a point."""
    pairs = [
        ("price", query.min_price, query.max_price),
        ("bedrooms", query.min_bedrooms, query.max_bedrooms),
        ("bathrooms", query.min_bathrooms, query.max_bathrooms),
        ("square_feet", query.min_square_feet, query.max_square_feet),
        ("year_built", query.min_year_built, query.max_year_built),
    ]
    for name, low, high in pairs:
        if low is not None and high is not None and low > high:
            raise PropertyValidationError(f"min_{name} ({low}) is greater than max_{name} ({high})")
    if query.sort == SortKey.distance and query.near is None:
        raise PropertyValidationError("sort by distance needs a point: give `near`")


def search(*, session: Session, org_id: uuid.UUID, query: PropertySearch) -> SearchResult:
    """Properties matching every filter of ``query``, one page, with the total.

    A radius search (``near``) filters by a latitude/longitude box first (using the lat/lon
    index), then by exact great-circle distance, and returns each hit's distance in miles.
    """
    _check_search(query)
    conditions = _search_conditions(org_id, query)
    distance = _distance_sql(query.near) if query.near is not None else literal(None)
    statement = select(Property, distance.label("distance_miles")).where(*conditions)
    sort = query.sort or (SortKey.distance if query.near is not None else SortKey.created_at_desc)
    price = func.coalesce(col(Property.close_price), col(Property.list_price))
    columns: dict[str, Any] = {
        "price": price,
        "close_date": col(Property.close_date),
        "square_feet": col(Property.square_feet),
        "year_built": col(Property.year_built),
        "created_at": col(Property.created_at),
        "distance": distance,
    }
    name = sort.value.lstrip("-")
    direction = desc if sort.value.startswith("-") else asc
    statement = (
        statement.order_by(direction(columns[name]).nulls_last(), col(Property.id))
        .limit(query.limit)
        .offset(query.offset)
    )
    rows = session.exec(statement).all()
    if rows and len(rows) < query.limit or not rows and query.offset == 0:
        # The last page: the total is known without matching every row a second time.
        total = query.offset + len(rows)
    else:
        total = session.exec(select(func.count()).select_from(Property).where(*conditions)).one()
    hits = [
        SearchHit(property=prop, distance_miles=float(miles) if miles is not None else None)
        for prop, miles in rows
    ]
    return SearchResult(
        hits=hits, total=int(total), limit=query.limit, offset=query.offset, filters=query
    )


# --- images ------------------------------------------------------------------------------


def add_image(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    image_in: PropertyImageCreate,
    principal: Principal | None = None,
) -> PropertyImage:
    """Attach an image to a property (after its last image unless ``order_index`` is given)."""
    require(session=session, org_id=org_id, property_id=property_id)
    order_index = image_in.order_index
    if order_index is None:
        last = session.exec(
            select(func.max(PropertyImage.order_index)).where(
                PropertyImage.org_id == org_id, PropertyImage.property_id == property_id
            )
        ).one()
        order_index = 0 if last is None else int(last) + 1
    image = PropertyImage(
        org_id=org_id,
        property_id=property_id,
        url=image_in.url,
        type=image_in.type,
        caption=image_in.caption,
        order_index=order_index,
    )
    session.add(image)
    session.flush()
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="add_image",
            entity=ENTITY,
            entity_id=property_id,
            changes={"image_id": str(image.id), "url": image.url},
        )
    return image


def _images_query(*, org_id: uuid.UUID, property_id: uuid.UUID) -> SelectOfScalar[PropertyImage]:
    """A property's images (no order, no paging)."""
    return select(PropertyImage).where(
        PropertyImage.org_id == org_id, PropertyImage.property_id == property_id
    )


def list_images(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[PropertyImage]:
    """A property's images in display order (a page when ``limit`` is given)."""
    require(session=session, org_id=org_id, property_id=property_id)
    statement = _images_query(org_id=org_id, property_id=property_id).order_by(
        col(PropertyImage.order_index), col(PropertyImage.created_at), col(PropertyImage.id)
    )
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_PAGE)))
    return list(session.exec(statement.offset(max(offset, 0))).all())


def count_images(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> int:
    """How many images ``list_images`` would list over all pages."""
    require(session=session, org_id=org_id, property_id=property_id)
    return count_rows(session, _images_query(org_id=org_id, property_id=property_id))


# --- market data -------------------------------------------------------------------------


def add_market_data(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    data_in: MarketDataCreate,
    principal: Principal | None = None,
) -> MarketData:
    """Record a market figure (rent estimate, comp, valuation ...) against a property.

    Publishes ``market.data.updated`` naming the property's area (``market_data_payload``),
    so the valuation module refreshes that area's market insight.
    """
    prop = require(session=session, org_id=org_id, property_id=property_id)
    row = MarketData(
        org_id=org_id,
        property_id=property_id,
        data_type=data_in.data_type,
        value=_json(data_in.value),
        source=data_in.source,
        recorded_at=data_in.recorded_at or utcnow(),
    )
    session.add(row)
    session.flush()
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="add_market_data",
            entity=ENTITY,
            entity_id=property_id,
            changes={"market_data_id": str(row.id), "data_type": row.data_type},
        )
    publish(
        session,
        org_id=org_id,
        name="market.data.updated",
        payload=market_data_payload(
            origin="api",
            zip_codes=[prop.zip_code],
            neighborhoods=[prop.neighborhood],
            market_data=[{"id": row.id, "property_id": property_id, "data_type": row.data_type}],
        ),
    )
    return row


# The most areas one ``market.data.updated`` names (an import across a whole state is
# summarised: ``areas_truncated`` says so); each is one market insight to compute.
MAX_EVENT_AREAS = 100


def market_data_payload(
    *,
    origin: str,
    zip_codes: Iterable[str | None] = (),
    neighborhoods: Iterable[str | None] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The payload of a ``market.data.updated`` the property module publishes.

    ``zip_codes`` and ``neighborhoods`` are the areas whose data changed (blanks dropped,
    sorted, at most ``MAX_EVENT_AREAS`` each). It names no ``property_id``: that key asks the
    property module to record the update as a row, and these rows are already recorded.
    """
    zips = sorted({z.strip() for z in zip_codes if z and z.strip()})
    hoods = sorted({n.strip() for n in neighborhoods if n and n.strip()})
    payload: dict[str, Any] = {
        "origin": origin,
        "zip_codes": zips[:MAX_EVENT_AREAS],
        "neighborhoods": hoods[:MAX_EVENT_AREAS],
        **extra,
    }
    if len(zips) > MAX_EVENT_AREAS or len(hoods) > MAX_EVENT_AREAS:
        payload["areas_truncated"] = True
    return payload


def _market_data_query(
    *, org_id: uuid.UUID, property_id: uuid.UUID, data_type: MarketDataType | None
) -> SelectOfScalar[MarketData]:
    """A property's market data, filtered (no order, no paging)."""
    statement = select(MarketData).where(
        MarketData.org_id == org_id, MarketData.property_id == property_id
    )
    if data_type is not None:
        statement = statement.where(MarketData.data_type == data_type.value)
    return statement


def list_market_data(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    data_type: MarketDataType | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[MarketData]:
    """A property's market data, newest first (optionally of one type)."""
    require(session=session, org_id=org_id, property_id=property_id)
    statement = _market_data_query(
        org_id=org_id, property_id=property_id, data_type=data_type
    ).order_by(
        col(MarketData.recorded_at).desc().nulls_last(),
        col(MarketData.created_at).desc(),
        col(MarketData.id),  # rows recorded in one transaction share both times
    )
    limit = max(1, min(limit, MAX_PAGE))
    return list(session.exec(statement.limit(limit).offset(max(offset, 0))).all())


def count_market_data(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    data_type: MarketDataType | None = None,
) -> int:
    """How many rows ``list_market_data`` with these filters would list over all pages."""
    require(session=session, org_id=org_id, property_id=property_id)
    return count_rows(
        session, _market_data_query(org_id=org_id, property_id=property_id, data_type=data_type)
    )


def market_data_for_event(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, event_id: uuid.UUID
) -> MarketData | None:
    """The market data row a subscriber stored for event ``event_id``, if it did already."""
    statement = select(MarketData).where(
        MarketData.org_id == org_id,
        MarketData.property_id == property_id,
        col(MarketData.value)["event_id"].astext == str(event_id),
    )
    return session.exec(statement).first()


def latest_valuation(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> MarketData | None:
    """The newest valuation summary stored on a property (from ``valuation.completed``)."""
    rows = list_market_data(
        session=session,
        org_id=org_id,
        property_id=property_id,
        data_type=MarketDataType.valuation,
        limit=1,
    )
    return rows[0] if rows else None


def effective_price(prop: Property) -> Decimal | None:
    """The latest known price of a property: its close price when sold, else its list price."""
    return prop.close_price if prop.close_price is not None else prop.list_price


def today() -> dt.date:
    """Today's date (UTC), for checks such as 'a sale cannot close in the future'."""
    return utcnow().date()
