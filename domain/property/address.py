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


def parse_address(
    text: str,
    *,
    city: str | None = None,
    state: str | None = None,
    zip_code: str | None = None,
) -> NormalisedAddress:
    """Read free text as a US street address; ``city``/``state``/``zip_code`` fill or override.

    Raises ``AddressParseError`` saying what is missing when the text has no house number
    and street (a PO box, an intersection, a city alone, words that are not an address).
    """
    source = (text or "").strip()
    if not source:
        raise AddressParseError("the address is empty: give a house number and street")
    try:
        tagged, address_type = usaddress.tag(source)
    except usaddress.RepeatedLabelError as exc:
        raise AddressParseError(
            f"could not read {source!r} as one street address: "
            f"it seems to contain more than one {getattr(exc, 'repeated_label', None) or 'part'}"
        ) from exc
    if address_type == "Intersection":
        raise AddressParseError(
            f"{source!r} is an intersection, not a street address: give a house number"
        )
    if address_type == "PO Box":
        raise AddressParseError(f"{source!r} is a PO box, not a property's street address")
    number = tagged.get("AddressNumber")
    street = tagged.get("StreetName")
    if not number or not street or not any(ch.isdigit() for ch in number):
        missing = " and ".join(
            what
            for what, value in (("house number", number), ("street name", street))
            if not value or (what == "house number" and not any(ch.isdigit() for ch in value))
        )
        raise AddressParseError(
            f"could not read {source!r} as a US street address: it has no {missing} "
            "(expected something like '14500 Kercheval Ave #2, Detroit, MI 48215')"
        )

    house_number = _clean(number)
    if tagged.get("AddressNumberPrefix"):
        house_number = f"{_clean(tagged['AddressNumberPrefix'])}{house_number}"
    if tagged.get("AddressNumberSuffix"):
        house_number = f"{house_number} {_clean(tagged['AddressNumberSuffix'])}"

    place = tagged.get("PlaceName")
    unit_id = tagged.get("OccupancyIdentifier")
    # "742 Evergreen Terrace Springfield": a bare word after the street with no designator
    # is the city, not a unit.
    if (
        unit_id
        and not tagged.get("OccupancyType")
        and not unit_id.strip().startswith("#")
        and unit_id.strip().isalpha()
        and len(unit_id.strip()) > 2
        and not place
    ):
        place, unit_id = unit_id, None

    modifier = tagged.get("StreetNamePreModifier")
    street_display = _display_name(f"{modifier} {street}" if modifier else street)
    prefix_type = tagged.get("StreetNamePreType")
    suffix = tagged.get("StreetNamePostType")
    pre_dir = tagged.get("StreetNamePreDirectional")
    post_dir = tagged.get("StreetNamePostDirectional")
    unit = canonical_unit(unit_id) if unit_id else None

    city_value = city if city else place
    state_value = state if state else tagged.get("StateName")
    zip_value = zip_code if zip_code else tagged.get("ZipCode")
    return NormalisedAddress(
        raw=source,
        house_number=house_number,
        street_name=_clean(street_display),
        street_name_display=street_display,
        pre_directional=canonical_directional(pre_dir) if pre_dir else None,
        street_type_prefix=canonical_suffix(prefix_type) if prefix_type else None,
        street_suffix=canonical_suffix(suffix) if suffix else None,
        post_directional=canonical_directional(post_dir) if post_dir else None,
        unit=unit or None,
        city=_clean(city_value) or None if city_value else None,
        state=canonical_state(state_value) if state_value else None,
        zip_code=canonical_zip(zip_value) if zip_value else None,
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
