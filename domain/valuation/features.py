"""The facts the valuation method reads about a home, and its normalised feature vector.

``HomeFacts`` is built from a property (its columns plus the documented keys of its
``features`` JSON, see ``FEATURE_KEYS``) or from attributes a caller gives. Every fact is
optional: the method adjusts only for what the subject and enough of the market's sales know.

``feature_vector`` maps facts (and the sale date) to the 9 numbers the HNSW index searches
(scaled so one unit is roughly "as different as half a mile apart"); the exact re-ranking
afterwards uses the real distance in miles and the market-derived adjustments.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

# Keys of ``Property.features`` the valuation reads (all optional), with their meaning.
FEATURE_KEYS: dict[str, str] = {
    "year_remodeled": "year of the last remodel or addition (= year built when none)",
    "total_basement_sqft": "basement area, finished or not (0 = no basement)",
    "finished_basement_sqft": "finished part of the basement",
    "basement_full_baths": "full bathrooms in the basement",
    "basement_finish_type": "GLQ (good living quarters), ALQ, BLQ, Rec, LwQ, Unf, No_Basement",
    "garage_cars": "garage capacity in cars (0 = no garage)",
    "fireplaces": "number of fireplaces",
    "central_air": "true when the house has central air conditioning",
    "heating_qc": "heating quality: Poor, Fair, Typical, Good, Excellent",
    "exterior_condition": "exterior condition: Poor, Fair, Typical, Good, Excellent",
    "functional": "home functionality: Typ (typical) or a deduction (Min1, Min2, Mod, Maj1 ...)",
    "masonry_veneer_sqft": "masonry veneer area",
    "masonry_veneer_type": "Stone, BrkFace, BrkCmn or None",
    "external_influence": "Norm, or what the home is next to: Feedr/Artery (busy street), "
    "RRAn/RRAe/RRNn/RRNe (railroad), PosN/PosA (park, greenbelt)",
    "basement_exposure": "walkout/garden-level exposure: Gd, Av, Mn, No, No_Basement",
    "porch_sqft": "decks and porches together (wood deck, open, enclosed, screen, 3-season)",
    "foundation": "PConc, CBlock, BrkTil, Slab, Stone, Wood",
    "building_type": "OneFam, TwnhsE, Twnhs, Duplex, TwoFmCon",
    "house_style": "One_Story, Two_Story, One_and_Half_Fin, SLvl, SFoyer ...",
    "sale_condition": "Normal, Partial (new, sold before completion), Abnorml, Family ...",
    "garage_sqft": "garage floor area (0 = no garage)",
    "garage_type": "Attchd, Detchd, BuiltIn, Basment, CarPort, More_Than_Two_Types, No_Garage",
    "garage_finish": "interior finish of the garage: Fin, RFn (rough), Unf, No_Garage",
    "second_floor_sqft": "living area on the second floor (0 = none)",
    "kitchens": "kitchens above grade",
    "total_rooms_above_grade": "rooms above grade (bathrooms not counted)",
    "ms_zoning": "zoning: Residential_Low_Density, Residential_Medium_Density, "
    "Floating_Village_Residential ...",
    "lot_frontage_ft": "street frontage of the lot in feet (0 = unknown or none)",
    "lot_shape": "Regular, Slightly_Irregular, Moderately_Irregular, Irregular",
    "lot_config": "Inside, Corner, CulDSac (cul-de-sac), FR2/FR3 (frontage on 2/3 sides)",
    "land_contour": "Lvl (level), Bnk (banked), HLS (hillside), Low (depression)",
    "exterior_covering": "main exterior covering: VinylSd, MetalSd, HdBoard, Wd Sdng, "
    "Plywood, CemntBd, BrkFace ...",
    "roof_style": "Gable, Hip, Flat, Gambrel, Mansard, Shed",
    "paved_drive": "Paved, Partial_Pavement, Dirt_Gravel",
    "basement_condition": "basement condition: Poor, Fair, Typical, Good, Excellent, No_Basement",
    "fence": "No_Fence, Minimum_Privacy, Good_Privacy, Good_Wood, Minimum_Wood_Wire",
    "wood_deck_sqft": "wood deck area",
    "open_porch_sqft": "open porch area",
    "enclosed_porch_sqft": "enclosed, 3-season and screen porch area",
    "pool_sqft": "pool area (0 = no pool)",
    "electrical": "SBrkr (circuit breakers), FuseA/FuseF/FuseP (fuses), Mix",
    "ms_subclass": "dwelling class, e.g. One_Story_1946_and_Newer_All_Styles, Split_Foyer",
}

QUALITY_SCALE = {"Poor": 1, "Fair": 2, "Typical": 3, "Good": 4, "Excellent": 5}
# Sales that are not arm's length: foreclosures/short sales, family, allocation, land-only.
NON_ARMS_LENGTH = frozenset({"Abnorml", "Family", "Alloca", "AdjLand"})

# Condition 1-10 at or above which a home counts as "in top condition" (7 = Good).
TOP_CONDITION = 7
MILES_PER_DEGREE_LAT = 69.0


@dataclass(frozen=True)
class HomeFacts:
    """What is known about one home (None = unknown)."""

    square_feet: float | None = None
    lot_sqft: float | None = None
    bedrooms: float | None = None
    bathrooms: float | None = None
    year_built: int | None = None
    year_remodeled: int | None = None
    condition: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    neighborhood: str | None = None
    zip_code: str | None = None
    total_basement_sqft: float | None = None
    finished_basement_sqft: float | None = None
    basement_full_baths: float | None = None
    basement_finish_type: str | None = None
    garage_cars: float | None = None
    fireplaces: float | None = None
    central_air: bool | None = None
    heating_qc: str | None = None
    exterior_condition: str | None = None
    functional: str | None = None
    masonry_veneer_sqft: float | None = None
    masonry_veneer_type: str | None = None
    external_influence: str | None = None
    basement_exposure: str | None = None
    porch_sqft: float | None = None
    foundation: str | None = None
    building_type: str | None = None
    house_style: str | None = None
    sale_condition: str | None = None
    garage_sqft: float | None = None
    garage_type: str | None = None
    garage_finish: str | None = None
    second_floor_sqft: float | None = None
    kitchens: float | None = None
    total_rooms_above_grade: float | None = None
    ms_zoning: str | None = None
    lot_frontage_ft: float | None = None
    lot_shape: str | None = None
    lot_config: str | None = None
    land_contour: str | None = None
    exterior_covering: str | None = None
    roof_style: str | None = None
    paved_drive: str | None = None
    basement_condition: str | None = None
    fence: str | None = None
    wood_deck_sqft: float | None = None
    open_porch_sqft: float | None = None
    enclosed_porch_sqft: float | None = None
    pool_sqft: float | None = None
    electrical: str | None = None
    ms_subclass: str | None = None

    @property
    def location_key(self) -> str | None:
        """The location class adjustments use: the neighbourhood, else the ZIP code."""
        if self.neighborhood:
            return f"nbhd:{self.neighborhood}"
        if self.zip_code:
            return f"zip:{self.zip_code}"
        return None

    def to_json(self) -> dict[str, Any]:
        """The known facts as JSON (unknown ones left out)."""
        return {name: value for name in _FIELD_NAMES if (value := getattr(self, name)) is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HomeFacts:
        """Facts from ``to_json`` output (unknown keys ignored)."""
        return cls(**{key: value for key, value in data.items() if key in _FIELD_SET})

    def renovated(self, *, year: int) -> HomeFacts:
        """The same home after a full renovation in ``year``: top condition, like-new systems."""
        return replace(
            self,
            condition=max(self.condition or 0, TOP_CONDITION),
            year_remodeled=year,
            heating_qc="Excellent" if self.heating_qc is not None else None,
            exterior_condition=(
                "Good"
                if self.exterior_condition is not None
                and QUALITY_SCALE.get(self.exterior_condition, 3) < 4
                else self.exterior_condition
            ),
            functional="Typ" if self.functional is not None else None,
        )


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(HomeFacts))
_FIELD_SET = frozenset(_FIELD_NAMES)


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().upper() in {"Y", "YES", "TRUE"}:
        return True
    if isinstance(value, str) and value.strip().upper() in {"N", "NO", "FALSE"}:
        return False
    return None


# Further ``features`` keys read as they are (numbers and text levels).
_EXTRA_NUMBERS = (
    "garage_sqft",
    "second_floor_sqft",
    "kitchens",
    "total_rooms_above_grade",
    "lot_frontage_ft",
    "wood_deck_sqft",
    "open_porch_sqft",
    "enclosed_porch_sqft",
    "pool_sqft",
)
_EXTRA_TEXTS = (
    "garage_type",
    "garage_finish",
    "ms_zoning",
    "lot_shape",
    "lot_config",
    "land_contour",
    "exterior_covering",
    "roof_style",
    "paved_drive",
    "basement_condition",
    "fence",
    "electrical",
    "ms_subclass",
)


def _extra_facts(extra: dict[str, Any]) -> dict[str, Any]:
    """The further ``features`` keys as ``HomeFacts`` arguments."""
    return {
        **{name: _num(extra.get(name)) for name in _EXTRA_NUMBERS},
        **{name: _text(extra.get(name)) for name in _EXTRA_TEXTS},
    }


def facts_from_fields(
    *,
    square_feet: Any = None,
    lot_size: Any = None,
    bedrooms: Any = None,
    bathrooms: Any = None,
    year_built: Any = None,
    condition_rating: Any = None,
    latitude: Any = None,
    longitude: Any = None,
    neighborhood: Any = None,
    zip_code: Any = None,
    features: dict[str, Any] | None = None,
) -> HomeFacts:
    """Facts from a property's columns and its ``features`` JSON (keys in ``FEATURE_KEYS``)."""
    extra = features or {}
    year = _int(year_built)
    return HomeFacts(
        square_feet=_num(square_feet),
        lot_sqft=_num(lot_size),
        bedrooms=_num(bedrooms),
        bathrooms=_num(bathrooms),
        year_built=year,
        year_remodeled=_int(extra.get("year_remodeled")),
        condition=_num(condition_rating),
        latitude=_num(latitude),
        longitude=_num(longitude),
        neighborhood=_text(neighborhood),
        zip_code=_text(zip_code),
        total_basement_sqft=_num(extra.get("total_basement_sqft")),
        finished_basement_sqft=_num(extra.get("finished_basement_sqft")),
        basement_full_baths=_num(extra.get("basement_full_baths")),
        basement_finish_type=_text(extra.get("basement_finish_type")),
        garage_cars=_num(extra.get("garage_cars")),
        fireplaces=_num(extra.get("fireplaces")),
        central_air=_bool(extra.get("central_air")),
        heating_qc=_text(extra.get("heating_qc")),
        exterior_condition=_text(extra.get("exterior_condition")),
        functional=_text(extra.get("functional")),
        masonry_veneer_sqft=_num(extra.get("masonry_veneer_sqft")),
        masonry_veneer_type=_text(extra.get("masonry_veneer_type")),
        external_influence=_text(extra.get("external_influence")),
        basement_exposure=_text(extra.get("basement_exposure")),
        porch_sqft=_num(extra.get("porch_sqft")),
        foundation=_text(extra.get("foundation")),
        building_type=_text(extra.get("building_type")),
        house_style=_text(extra.get("house_style")),
        sale_condition=_text(extra.get("sale_condition")),
        **_extra_facts(extra),
    )


def is_arms_length(facts: HomeFacts) -> bool:
    """False for sales that do not show market value (foreclosure, family, allocation ...)."""
    return facts.sale_condition not in NON_ARMS_LENGTH


# Values the vector uses for unknown facts (a typical US single-family house).
VECTOR_DEFAULTS = {
    "square_feet": 1500.0,
    "bedrooms": 3.0,
    "bathrooms": 2.0,
    "year_built": 1970.0,
    "condition": 5.0,
    "lot_sqft": 8000.0,
}


def feature_vector(facts: HomeFacts, *, sold_on: dt.date | None = None) -> list[float]:
    """The normalised 9-number vector the HNSW index searches (one unit ~ half a mile).

    Location (north/east miles / 0.5), size (log sqft / 0.18: 18% larger = one unit),
    bedrooms x 0.3, bathrooms x 0.5, year built / 20, condition / 2.5, log lot / 1.0, and
    the sale date in years (a query passes its as-of date, so older sales are farther).
    Unknown facts take ``VECTOR_DEFAULTS``; a home without coordinates gets (0, 0), which
    the caller avoids by always giving the subject a location.
    """
    lat = facts.latitude if facts.latitude is not None else 0.0
    lon = facts.longitude if facts.longitude is not None else 0.0
    north_mi = lat * MILES_PER_DEGREE_LAT
    east_mi = lon * MILES_PER_DEGREE_LAT * math.cos(math.radians(lat))
    sqft = facts.square_feet or VECTOR_DEFAULTS["square_feet"]
    lot = facts.lot_sqft or VECTOR_DEFAULTS["lot_sqft"]
    when = (sold_on.year + (sold_on.timetuple().tm_yday - 1) / 365.25) if sold_on else 0.0
    return [
        north_mi / 0.5,
        east_mi / 0.5,
        math.log(max(sqft, 100.0)) / 0.18,
        (facts.bedrooms if facts.bedrooms is not None else VECTOR_DEFAULTS["bedrooms"]) * 0.3,
        (facts.bathrooms if facts.bathrooms is not None else VECTOR_DEFAULTS["bathrooms"]) * 0.5,
        float(facts.year_built or VECTOR_DEFAULTS["year_built"]) / 20.0,
        (facts.condition if facts.condition is not None else VECTOR_DEFAULTS["condition"]) / 2.5,
        math.log(max(lot, 100.0)) / 1.0,
        when,
    ]


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in miles."""
    radius_mi = 3958.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius_mi * math.asin(min(1.0, math.sqrt(a)))
