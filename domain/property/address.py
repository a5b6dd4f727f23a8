"""US street addresses: parse free text with ``usaddress``, then put it in one canonical form.

Canonical form (USPS Publication 28 style):

- house number, pre-directional (``N``, ``SW`` ...), street name, street suffix as the USPS
  abbreviation (Avenue → ``AVE``, Street → ``ST`` ...), post-directional;
- every unit designator (apt, apartment, unit, suite, ste, #, no) becomes ``#`` followed by
  the unit id: "apt 2", "Unit 2", "# 2" and "#2" are all ``#2``;
- city upper-cased, state as its two-letter code, ZIP as five digits.

``address_key`` is the street line and unit only ("14500 KERCHEVAL AVE #2"), upper case: the
same house typed with or without city, state or ZIP has the same key, and lookups narrow by
ZIP or city when the text gives them (``match_score``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import usaddress

from domain.property.errors import AddressParseError

# USPS Publication 28, appendix C1: common suffixes and their variants → the standard abbreviation.
_SUFFIX_VARIANTS: dict[str, tuple[str, ...]] = {
    "ALY": ("ALLEY", "ALLEE", "ALLY"),
    "AVE": ("AVENUE", "AV", "AVEN", "AVENU", "AVN", "AVNUE"),
    "BLVD": ("BOULEVARD", "BOUL", "BOULV"),
    "BND": ("BEND",),
    "BLF": ("BLUFF",),
    "BR": ("BRANCH", "BRNCH"),
    "BRG": ("BRIDGE", "BRDGE"),
    "BRK": ("BROOK",),
    "BYP": ("BYPASS", "BYPA", "BYPAS", "BYPS"),
    "CIR": ("CIRCLE", "CIRC", "CIRCL", "CRCL", "CRCLE"),
    "CLB": ("CLUB",),
    "CMN": ("COMMON",),
    "COR": ("CORNER",),
    "CRES": ("CRESCENT", "CRSENT", "CRSNT"),
    "CRK": ("CREEK",),
    "CT": ("COURT",),
    "CTR": ("CENTER", "CEN", "CENT", "CENTR", "CENTRE", "CNTER", "CNTR"),
    "CTS": ("COURTS",),
    "CV": ("COVE",),
    "DR": ("DRIVE", "DRIV", "DRV"),
    "EST": ("ESTATE",),
    "ESTS": ("ESTATES",),
    "EXPY": ("EXPRESSWAY", "EXP", "EXPR", "EXPRESS", "EXPW"),
    "EXT": ("EXTENSION", "EXTN", "EXTNSN"),
    "FWY": ("FREEWAY", "FREEWY", "FRWAY", "FRWY"),
    "GDN": ("GARDEN", "GARDN", "GRDEN", "GRDN"),
    "GDNS": ("GARDENS", "GRDNS"),
    "GRN": ("GREEN",),
    "GRV": ("GROVE", "GROV"),
    "HBR": ("HARBOR", "HARB", "HARBR", "HRBOR"),
    "HL": ("HILL",),
    "HLS": ("HILLS",),
    "HOLW": ("HOLLOW", "HLLW", "HOLLOWS", "HOLWS"),
    "HTS": ("HEIGHTS", "HT"),
    "HWY": ("HIGHWAY", "HIGHWY", "HIWAY", "HIWY", "HWAY"),
    "IS": ("ISLAND", "ISLND"),
    "JCT": ("JUNCTION", "JCTION", "JCTN", "JUNCTN", "JUNCTON"),
    "KNL": ("KNOLL", "KNOL"),
    "LK": ("LAKE",),
    "LKS": ("LAKES",),
    "LNDG": ("LANDING", "LNDNG"),
    "LN": ("LANE",),
    "LOOP": ("LOOPS",),
    "MDWS": ("MEADOWS", "MDW", "MEDOWS"),
    "ML": ("MILL",),
    "MNR": ("MANOR",),
    "MT": ("MOUNT", "MNT"),
    "ORCH": ("ORCHARD", "ORCHRD"),
    "OVAL": ("OVL",),
    "PARK": ("PRK", "PARKS"),
    "PASS": (),
    "PATH": ("PATHS",),
    "PIKE": ("PIKES",),
    "PKWY": ("PARKWAY", "PARKWY", "PKWAY", "PKY", "PARKWAYS", "PKWYS"),
    "PL": ("PLACE",),
    "PLZ": ("PLAZA", "PLZA"),
    "PNES": ("PINES",),
    "PT": ("POINT",),
    "RDG": ("RIDGE", "RDGE"),
    "RD": ("ROAD",),
    "RIV": ("RIVER", "RVR", "RIVR"),
    "RNCH": ("RANCH", "RANCHES", "RNCHS"),
    "ROW": (),
    "RTE": ("ROUTE",),
    "RUN": (),
    "SHR": ("SHORE", "SHOAR"),
    "SHRS": ("SHORES", "SHOARS"),
    "SMT": ("SUMMIT", "SUMIT", "SUMITT"),
    "SPG": ("SPRING", "SPNG", "SPRNG"),
    "SPGS": ("SPRINGS", "SPNGS", "SPRNGS"),
    "SQ": ("SQUARE", "SQR", "SQRE", "SQU"),
    "ST": ("STREET", "STRT", "STR"),
    "STA": ("STATION", "STATN", "STN"),
    "TER": ("TERRACE", "TERR"),
    "TPKE": ("TURNPIKE", "TRNPK", "TURNPK"),
    "TRCE": ("TRACE", "TRACES"),
    "TRL": ("TRAIL", "TRAILS", "TRLS"),
    "VIS": ("VISTA", "VIST", "VST", "VSTA"),
    "VLG": ("VILLAGE", "VILL", "VILLAG", "VILLG", "VILLIAGE"),
    "VLY": ("VALLEY", "VALLY", "VLLY"),
    "VW": ("VIEW",),
    "WALK": ("WALKS",),
    "WAY": ("WY",),
    "XING": ("CROSSING", "CRSSNG"),
}
STREET_SUFFIXES: dict[str, str] = {
    variant: abbreviation
    for abbreviation, variants in _SUFFIX_VARIANTS.items()
    for variant in (abbreviation, *variants)
}

DIRECTIONALS: dict[str, str] = {
    "N": "N",
    "NORTH": "N",
    "S": "S",
    "SOUTH": "S",
    "E": "E",
    "EAST": "E",
    "W": "W",
    "WEST": "W",
    "NE": "NE",
    "NORTHEAST": "NE",
    "NORTH EAST": "NE",
    "NW": "NW",
    "NORTHWEST": "NW",
    "NORTH WEST": "NW",
    "SE": "SE",
    "SOUTHEAST": "SE",
    "SOUTH EAST": "SE",
    "SW": "SW",
    "SOUTHWEST": "SW",
    "SOUTH WEST": "SW",
}

_STATE_NAMES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN",
    "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR",
    "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA",
    "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR", "GUAM": "GU", "VIRGIN ISLANDS": "VI",
}  # fmt: skip
STATE_CODES: dict[str, str] = {
    **{name: code for name, code in _STATE_NAMES.items()},
    **{code: code for code in _STATE_NAMES.values()},
}

_ZIP_RE = re.compile(r"^(\d{5})(?:[-\s]?\d{4})?$")
_PUNCTUATION_RE = re.compile(r"[.,;]")
_SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class NormalisedAddress:
    """A US address in canonical parts, with the text it was read from."""

    raw: str
    house_number: str
    street_name: str
    pre_directional: str | None = None
    street_type_prefix: str | None = None
    street_suffix: str | None = None
    post_directional: str | None = None
    unit: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    # The street name as it should be shown (the input's own capitalisation when it had one).
    street_name_display: str | None = None

    @property
    def street_key(self) -> str:
        """The street line without the unit, upper case: ``14500 KERCHEVAL AVE``."""
        parts = [
            self.house_number,
            self.pre_directional,
            self.street_type_prefix,
            self.street_name,
            self.street_suffix,
            self.post_directional,
        ]
        return " ".join(part for part in parts if part)

    @property
    def address_key(self) -> str:
        """Street line and unit, upper case: the lookup and dedupe key (``... AVE #2``)."""
        return f"{self.street_key} {self.unit}" if self.unit else self.street_key

    @property
    def address_line(self) -> str:
        """The street line as people read it: ``14500 Kercheval Ave #2``."""
        parts = [
            self.house_number,
            self.pre_directional,
            self.street_type_prefix.title() if self.street_type_prefix else None,
            self.street_name_display or self.street_name.title(),
            self.street_suffix.title() if self.street_suffix else None,
            self.post_directional,
            self.unit,
        ]
        return " ".join(part for part in parts if part)

    @property
    def city_display(self) -> str | None:
        """The city in title case (``Detroit``)."""
        return self.city.title() if self.city else None

    def one_line(self) -> str:
        """The whole address on one line: ``14500 Kercheval Ave #2, Detroit, MI 48215``."""
        tail = " ".join(part for part in (self.state, self.zip_code) if part)
        return ", ".join(part for part in (self.address_line, self.city_display, tail) if part)

    def components(self) -> dict[str, Any]:
        """The parts as a JSON-able dict (stored in ``Property.address``)."""
        values = asdict(self)
        values.pop("street_name_display")
        values["address_key"] = self.address_key
        return values


def _clean(text: str) -> str:
    """Upper case, without full stops and commas, single-spaced."""
    return _SPACES_RE.sub(" ", _PUNCTUATION_RE.sub(" ", text)).strip().upper()


def canonical_suffix(value: str) -> str:
    """The USPS abbreviation of a street suffix (``Avenue`` → ``AVE``); unknown ones upper-cased."""
    cleaned = _clean(value)
    return STREET_SUFFIXES.get(cleaned, cleaned)


def canonical_directional(value: str) -> str:
    """``North`` → ``N``, ``S.W.`` → ``SW``; anything else upper-cased."""
    cleaned = _clean(value)
    return DIRECTIONALS.get(cleaned, DIRECTIONALS.get(cleaned.replace(" ", ""), cleaned))


def canonical_state(value: str) -> str:
    """The two-letter code of a US state or territory, from its name or code."""
    cleaned = _clean(value)
    code = STATE_CODES.get(cleaned)
    if code is None:
        raise AddressParseError(f"{value!r} is not a US state name or two-letter code")
    return code


def canonical_zip(value: str) -> str:
    """The five-digit ZIP code of ``48215`` or ``48215-1234``."""
    match = _ZIP_RE.match(value.strip())
    if match is None:
        raise AddressParseError(f"{value!r} is not a ZIP code (five digits, or ZIP+4)")
    return match.group(1)


def canonical_unit(identifier: str) -> str:
    """A unit as ``#<id>``: ``# 2`` → ``#2``, ``2b`` → ``#2B`` (the designator is dropped)."""
    cleaned = _clean(identifier).lstrip("#").strip().replace(" ", "")
    return f"#{cleaned}" if cleaned else ""


def _display_name(value: str) -> str:
    """Keep a mixed-case street name as typed; title-case one typed all upper or all lower."""
    value = _SPACES_RE.sub(" ", _PUNCTUATION_RE.sub(" ", value)).strip()
    if value.isupper() or value.islower():
        return value.title()
    return value


# Every label ``usaddress`` gives, by the part of the address it belongs to. Tokens are read in
# this order (house number, street line, unit, city/state/ZIP); a token whose label is in none
# of these, or out of order, is one the canonical form cannot place.
_NUMBER_LABELS = frozenset({"AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix"})
_STREET_LABELS = frozenset(
    {
        "StreetNamePreModifier",
        "StreetNamePreDirectional",
        "StreetNamePreType",
        "StreetName",
        "StreetNamePostType",
        "StreetNamePostModifier",
        "StreetNamePostDirectional",
    }
)
_UNIT_LABELS = frozenset(
    {"OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier"}
)
_PLACE_LABELS = frozenset({"PlaceName", "StateName", "ZipCode", "CountryName"})
_SEGMENTS = ((_NUMBER_LABELS, 0), (_STREET_LABELS, 1), (_UNIT_LABELS, 2), (_PLACE_LABELS, 3))

# USPS Publication 28, appendix C2: secondary unit designators (→ abbreviation). Those in
# ``_DESIGNATORS_WITHOUT_ID`` need no number ("12 Main St Rear").
_UNIT_DESIGNATORS: dict[str, str] = {
    "#": "#", "NO": "#", "NUMBER": "#", "APARTMENT": "APT", "APT": "APT", "UNIT": "UNIT",
    "SUITE": "STE", "STE": "STE", "ROOM": "RM", "RM": "RM", "BUILDING": "BLDG", "BLDG": "BLDG",
    "FLOOR": "FL", "FL": "FL", "FLR": "FL", "DEPARTMENT": "DEPT", "DEPT": "DEPT",
    "HANGAR": "HNGR", "HNGR": "HNGR", "KEY": "KEY", "LOT": "LOT", "PIER": "PIER", "SLIP": "SLIP",
    "SPACE": "SPC", "SPC": "SPC", "STOP": "STOP", "TRAILER": "TRLR", "TRLR": "TRLR",
    "BASEMENT": "BSMT", "BSMT": "BSMT", "FRONT": "FRNT", "FRNT": "FRNT", "LOBBY": "LBBY",
    "LBBY": "LBBY", "LOWER": "LOWR", "LOWR": "LOWR", "OFFICE": "OFC", "OFC": "OFC",
    "PENTHOUSE": "PH", "PH": "PH", "REAR": "REAR", "SIDE": "SIDE", "UPPER": "UPPR", "UPPR": "UPPR",
}  # fmt: skip
_DESIGNATORS_WITHOUT_ID = frozenset(
    {"BSMT", "FRNT", "LBBY", "LOWR", "OFC", "PH", "REAR", "SIDE", "UPPR"}
)
_US_NAMES = frozenset(
    {"US", "USA", "U S", "U S A", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA"}
)
# A street line kept as typed is words: letters, digits and ' - . / (a sentence is not one).
_STREET_WORD_RE = re.compile(r"^[^\W_]+(?:['’\-./][^\W_]+)*[.,]?$")
_MAX_STREET_WORDS = 8
_NOT_READ_HINT = "(expected something like '14500 Kercheval Ave #2, Detroit, MI 48215')"
Token = tuple[str, str]


def _segment(label: str) -> int | None:
    """The part of the address a ``usaddress`` label belongs to (0-3), None for none of them."""
    for labels, rank in _SEGMENTS:
        if label in labels:
            return rank
    return None


def _runs(tokens: list[Token]) -> list[tuple[str, list[str]]]:
    """Neighbouring tokens with the same label, in order: ``[("StreetName", ["Old", "Post"])]``."""
    runs: list[tuple[str, list[str]]] = []
    for token, label in tokens:
        if runs and runs[-1][0] == label:
            runs[-1][1].append(token)
        else:
            runs.append((label, [token]))
    return runs


def _words(tokens: list[str]) -> str:
    """Tokens as the text they came from (without the commas around them)."""
    return " ".join(tokens).strip(" ,;")


def _designator(token: str) -> str | None:
    """The USPS abbreviation of a unit designator (``Apt.`` → ``APT``), or None for another word."""
    return _UNIT_DESIGNATORS.get(_clean(token).replace(" ", ""))


def _not_read(source: str, words: list[str], why: str) -> AddressParseError:
    """The error for text with words the address cannot hold: it names them."""
    quoted = ", ".join(repr(word) for word in words)
    return AddressParseError(
        f"could not read every word of {source!r} as one US street address: {quoted} {why} "
        f"{_NOT_READ_HINT}"
    )


def _house_number(parts: dict[str, str]) -> str:
    """``AddressNumberPrefix``, ``AddressNumber`` and ``AddressNumberSuffix`` as one number."""
    house_number = _clean(parts["AddressNumber"])
    if parts.get("AddressNumberPrefix"):
        house_number = f"{_clean(parts['AddressNumberPrefix'])}{house_number}"
    if parts.get("AddressNumberSuffix"):
        house_number = f"{house_number} {_clean(parts['AddressNumberSuffix'])}"
    return house_number


def _place(
    source: str,
    found: dict[str, str],
    given: dict[str, str | None],
    *,
    strict: bool,
) -> tuple[str | None, str | None, str | None]:
    """City, state and ZIP: the ones given, else those in the text.

    With ``strict``, a city, state or ZIP in the text that differs from the one given is an
    error (one of the two would be lost).
    """
    values: list[str | None] = []
    for part, canonical in (
        ("city", _clean),
        ("state", canonical_state),
        ("zip_code", canonical_zip),
    ):
        in_text = found.get(part)
        chosen = given.get(part) or in_text
        value = canonical(chosen) if chosen else None
        if strict and in_text and given.get(part) and canonical(in_text) != value:
            raise AddressParseError(
                f"{source!r} says the {part.replace('_', ' ')} is {in_text!r} but "
                f"{given.get(part)!r} was given: give one {part.replace('_', ' ')}"
            )
        values.append(value or None)
    return values[0], values[1], values[2]


def parse_address(
    text: str,
    *,
    city: str | None = None,
    state: str | None = None,
    zip_code: str | None = None,
    strict: bool = False,
) -> NormalisedAddress:
    """Read free text as a US street address; ``city``/``state``/``zip_code`` fill in.

    Every word of the street line is kept: when ``usaddress`` labels a word of the street
    name as something else ("Avenida de la Peña", a street word read as a city or building),
    the words between the house number and the unit or city are kept as typed as the street
    name. Raises ``AddressParseError`` saying what is missing when the text has no house
    number and street (a PO box, an intersection, a city alone, words that are not an
    address), or gives two units or two cities. With ``strict`` (storing an address), words
    that are not part of a street address ("Attn Bob", a PO box after the street, a second
    street, a country other than the US) and a city, state or ZIP in the text that differs
    from the one given are errors naming them; without it (reading a query) they are ignored.
    """
    source = (text or "").strip()
    if not source:
        raise AddressParseError("the address is empty: give a house number and street")
    tokens: list[Token] = list(usaddress.parse(source))
    labels = [label for _, label in tokens]
    if "AddressNumber" not in labels and "IntersectionSeparator" in labels:
        raise AddressParseError(
            f"{source!r} is an intersection, not a street address: give a house number"
        )
    if "AddressNumber" not in labels and "USPSBoxID" in labels:
        raise AddressParseError(f"{source!r} is a PO box, not a property's street address")
    if "IntersectionSeparator" in labels:
        # "100 Main St & Elm St": what follows the "&" is a second street, not this address.
        cut = labels.index("IntersectionSeparator")
        tokens = tokens[:cut] + [(token, "SecondStreet") for token, _ in tokens[cut:]]
        labels = [label for _, label in tokens]

    runs = _runs(tokens)
    parts: dict[str, str] = {}
    repeated: set[str] = set()
    for label, words in runs:
        if label in parts:
            repeated.add(label)
        else:
            parts[label] = _words(words)
    if repeated & _UNIT_LABELS:
        units: list[list[str]] = []
        for token, label in tokens:
            if label in ("OccupancyType", "SubaddressType") or (
                label in _UNIT_LABELS and not units
            ):
                units.append([token])
            elif label in _UNIT_LABELS:
                units[-1].append(token)
        raise _not_read(
            source, [_words(unit) for unit in units], "are more than one unit: give one"
        )
    if repeated & _PLACE_LABELS:
        places = [_words(words) for label, words in runs if label in _PLACE_LABELS]
        raise _not_read(source, places, "name more than one city, state or ZIP: give one")

    number = parts.get("AddressNumber")
    if not number or not any(ch.isdigit() for ch in number) or not parts.get("StreetName"):
        missing = " and ".join(
            what
            for what, value in (("house number", number), ("street name", parts.get("StreetName")))
            if not value or (what == "house number" and not any(ch.isdigit() for ch in value))
        )
        raise AddressParseError(
            f"could not read {source!r} as a US street address: it has no {missing} "
            "(expected something like '14500 Kercheval Ave #2, Detroit, MI 48215')"
        )

    ranks = [_segment(label) for label in labels]
    # The street line and unit come before the city, state and ZIP; what follows those is not
    # part of the street line (chat text after an address: "..., MI 48215 - rehab 30k").
    first_place = next((i for i, rank in enumerate(ranks) if rank == 3), len(ranks))
    span = ranks[:first_place]
    core = [i for i, rank in enumerate(span) if rank is not None]
    placed = [rank for rank in span if rank is not None]
    span_runs = _runs(tokens[:first_place])
    span_labels = [label for label, _ in span_runs]
    faithful = (
        bool(core)
        and span[0] == 0
        and placed == sorted(placed)
        and all(rank is not None for rank in span[: core[-1]])
        and all(
            span_labels.count(label) == 1
            for label in span_labels
            if label in _NUMBER_LABELS | _STREET_LABELS
        )
        and all(_designator(t) for t, label in tokens[:first_place] if label == "OccupancyType")
    )
    given = {"city": city, "state": state, "zip_code": zip_code}
    if not faithful:
        return _verbatim(source, tokens, first_place, given, strict=strict)
    return _structured(source, tokens, first_place, parts, given, strict=strict)


def _structured(
    source: str,
    tokens: list[Token],
    first_place: int,
    parts: dict[str, str],
    given: dict[str, str | None],
    *,
    strict: bool,
) -> NormalisedAddress:
    """The address from ``usaddress``' labels, when they account for the street line in order."""
    unread: list[str] = [
        _words([token])
        for index, (token, label) in enumerate(tokens)
        if _segment(label) is None or (index > first_place and _segment(label) in (0, 1))
    ]
    place = parts.get("PlaceName")
    unit_id = parts.get("OccupancyIdentifier")
    unit_type = parts.get("OccupancyType")
    unit: str | None = None
    if unit_id and not unit_type and _designator(unit_id) in _DESIGNATORS_WITHOUT_ID:
        # "12 Main St Rear": a designator that needs no number is the unit, not the city.
        unit, unit_id = _designator(unit_id), None
    # "742 Evergreen Terrace Springfield": a bare word after the street with no designator
    # is the city, not a unit.
    if (
        unit_id
        and not unit_type
        and not unit_id.strip().startswith("#")
        and unit_id.strip().isalpha()
        and len(unit_id.strip()) > 2
        and not place
    ):
        place, unit_id = unit_id, None
    if unit_id:
        ids = [t for t, label in tokens if label == "OccupancyIdentifier"]
        if "#" in ids[1:]:
            raise _not_read(source, [_words(ids)], "are two unit numbers: give one")
        unit = canonical_unit(unit_id) or None
    elif unit_type:
        designator = _designator(unit_type)
        if designator in _DESIGNATORS_WITHOUT_ID:
            unit = designator
        else:
            unread.append(unit_type)
    sub_type, sub_id = parts.get("SubaddressType"), parts.get("SubaddressIdentifier")
    if sub_type and sub_id:
        # "Building 4 Apt 2": the building is part of the unit ("BLDG 4 #2").
        designator = _designator(sub_type) or _clean(sub_type)
        building = f"{designator} {_clean(sub_id).replace(' ', '')}"
        unit = f"{building} {unit}" if unit else building
    elif sub_type or sub_id:
        unread.append(sub_type or sub_id or "")
    country = parts.get("CountryName")
    if country and _clean(country) not in _US_NAMES:
        unread.append(country)
    if strict and unread:
        raise _not_read(source, unread, "are not part of a US street address: leave them out")

    modifier = parts.get("StreetNamePreModifier")
    street = parts["StreetName"]
    street_display = _display_name(f"{modifier} {street}" if modifier else street)
    prefix_type = parts.get("StreetNamePreType")
    suffix = parts.get("StreetNamePostType")
    post_modifier = parts.get("StreetNamePostModifier")
    suffixes = [canonical_suffix(value) for value in (suffix, post_modifier) if value]
    pre_dir = parts.get("StreetNamePreDirectional")
    post_dir = parts.get("StreetNamePostDirectional")
    found = {
        "city": place,
        "state": parts.get("StateName"),
        "zip_code": parts.get("ZipCode"),
    }
    city_value, state_value, zip_value = _place(
        source, {k: v for k, v in found.items() if v}, given, strict=strict
    )
    return NormalisedAddress(
        raw=source,
        house_number=_house_number(parts),
        street_name=_clean(street_display),
        street_name_display=street_display,
        pre_directional=canonical_directional(pre_dir) if pre_dir else None,
        street_type_prefix=canonical_suffix(prefix_type) if prefix_type else None,
        street_suffix=" ".join(suffixes) or None,
        post_directional=canonical_directional(post_dir) if post_dir else None,
        unit=unit,
        city=city_value,
        state=state_value,
        zip_code=zip_value,
    )


def _verbatim(
    source: str,
    tokens: list[Token],
    first_place: int,
    given: dict[str, str | None],
    *,
    strict: bool,
) -> NormalisedAddress:
    """The address with the street line kept as typed, when the labels do not account for it.

    The house number leads; a city, state and ZIP at the end and a unit ("Apt 4B", "#4B")
    before them are read as such; every word between is the street name, in its order.
    """
    labels = [label for _, label in tokens]
    start = 0
    while start < len(tokens) and labels[start] in _NUMBER_LABELS:
        start += 1
    end = max(first_place, start + 1)
    unit_start = end
    while unit_start > start + 1 and labels[unit_start - 1] in _UNIT_LABELS:
        unit_start -= 1
    unit_tokens = tokens[unit_start:end]
    # Only a designator followed by its id is a unit; words before it belong to the street.
    while unit_tokens and not (len(unit_tokens) > 1 and _designator(unit_tokens[0][0])):
        unit_tokens = unit_tokens[1:]
        unit_start += 1
    street_tokens = [token for token, _ in tokens[start:unit_start]]
    number_parts = {
        label: _words([t for t, lb in tokens[:start] if lb == label]) for label in _NUMBER_LABELS
    }
    if (
        not number_parts.get("AddressNumber")
        or not any(ch.isdigit() for ch in number_parts["AddressNumber"])
        or not street_tokens
        or len(street_tokens) > _MAX_STREET_WORDS
        or not all(_STREET_WORD_RE.match(token) for token in street_tokens)
    ):
        raise _not_read(
            source,
            [_words([token for token, _ in tokens])],
            "could not be told apart into house number, street, unit and city",
        )
    # "Apt 4B" → "4B"; "#4B" (or "# 4B") keeps its "#", which canonical_unit drops.
    skip = 1 if unit_tokens and unit_tokens[0][0] != "#" else 0
    ids = [token for token, _ in unit_tokens[skip:]]
    unit = canonical_unit(_words(ids)) if ids else None
    found: dict[str, str] = {}
    unread: list[str] = []
    for label, words in _runs(tokens[end:]):
        key = {"PlaceName": "city", "StateName": "state", "ZipCode": "zip_code"}.get(label)
        if key is not None:
            found.setdefault(key, _words(words))
        elif _clean(_words(words)) not in _US_NAMES:
            unread.append(_words(words))
    if strict and unread:
        raise _not_read(source, unread, "are not part of a US street address: leave them out")
    city_value, state_value, zip_value = _place(source, found, given, strict=strict)
    street_display = _display_name(" ".join(street_tokens))
    return NormalisedAddress(
        raw=source,
        house_number=_house_number({k: v for k, v in number_parts.items() if v}),
        street_name=_clean(street_display),
        street_name_display=street_display,
        unit=unit or None,
        city=city_value,
        state=state_value,
        zip_code=zip_value,
    )


def normalise_address_key(text: str) -> str:
    """The ``address_key`` of free text (raises ``AddressParseError`` when it is no address)."""
    return parse_address(text).address_key


# --- matching ----------------------------------------------------------------------------

# How much each kind of partial agreement costs a candidate; a conflict rules it out.
_MISSING_PART_PENALTY = 5
_UNIT_MISSING_PENALTY = 20
_CONTEXT_BONUS = 10


def match_score(query: NormalisedAddress, candidate: dict[str, Any]) -> int | None:
    """How well a stored address (``Property.address`` parts) matches ``query``; None: no match.

    House number and street name must agree. A directional, suffix, unit, ZIP, city or state
    given on both sides must agree too; one given on one side only costs a little (so
    "14500 Kercheval" still finds "14500 Kercheval Ave"). A ZIP or city that agrees adds.
    Higher is better; 100 is the same street line and unit.
    """
    if candidate.get("house_number") != query.house_number:
        return None
    if candidate.get("street_name") != query.street_name:
        return None
    score = 100
    for part in ("pre_directional", "street_type_prefix", "street_suffix", "post_directional"):
        mine, theirs = getattr(query, part), candidate.get(part)
        if mine and theirs and mine != theirs:
            return None
        if bool(mine) != bool(theirs):
            score -= _MISSING_PART_PENALTY
    if query.unit and candidate.get("unit") and query.unit != candidate.get("unit"):
        return None
    if bool(query.unit) != bool(candidate.get("unit")):
        score -= _UNIT_MISSING_PENALTY
    if query.state and candidate.get("state") and query.state != candidate.get("state"):
        return None
    if query.zip_code and candidate.get("zip_code"):
        if query.zip_code != candidate.get("zip_code"):
            return None
        score += _CONTEXT_BONUS
    elif query.city and candidate.get("city"):
        # Only without two ZIPs to compare: mailing city names vary within one ZIP.
        if query.city != candidate.get("city"):
            return None
        score += _CONTEXT_BONUS
    return score
