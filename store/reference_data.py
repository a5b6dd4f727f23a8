"""Reference rows that migrations seed (roles, HUD FMR tables, cost book ...)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Connection, text

# HUD names its FMR areas; the seed's "current Detroit FMR values" are this area's.
DETROIT_FMR_AREA = "Detroit-Warren-Livonia, MI HUD Metro FMR Area"
DETROIT_FMR_YEAR = 2024
# Monthly Fair Market Rent by bedroom count, from the seed document; the seed sets each
# payment standard equal to the FMR.
DETROIT_FMR_2024: dict[int, Decimal] = {
    0: Decimal("715"),
    1: Decimal("858"),
    2: Decimal("1024"),
    3: Decimal("1329"),
    4: Decimal("1628"),
}

# Fixed namespace for reference rows' ids: the same row always gets the same id, so a re-run
# (or a second migration) conflicts with the existing row instead of duplicating it.
_REFERENCE_ID_NAMESPACE = uuid.UUID("6f1d8a3e-2c4b-5e7f-9a0b-1c2d3e4f5a6b")


def section8_fmr_id(area: str, year: int, bedrooms: int) -> uuid.UUID:
    """Return the stable id of HUD's FMR row for an area, year and bedroom count."""
    return uuid.uuid5(_REFERENCE_ID_NAMESPACE, f"section8_fmr|{area}|{year}|{bedrooms}")


def seed_section8_fmr(connection: Connection) -> int:
    """Insert the Detroit 2024 HUD FMR rows that are missing; return how many were inserted."""
    inserted = 0
    for bedrooms, amount in DETROIT_FMR_2024.items():
        # Plain SQL, not the ORM model: a migration must keep working as the models evolve.
        result = connection.execute(
            text(
                "INSERT INTO property_service.section8_fmr"
                " (id, org_id, area, year, bedrooms, fmr_amount, payment_standard)"
                " VALUES (:id, NULL, :area, :year, :bedrooms, :fmr_amount, :payment_standard)"
                " ON CONFLICT DO NOTHING"
            ),
            {
                "id": section8_fmr_id(DETROIT_FMR_AREA, DETROIT_FMR_YEAR, bedrooms),
                "area": DETROIT_FMR_AREA,
                "year": DETROIT_FMR_YEAR,
                "bedrooms": bedrooms,
                "fmr_amount": amount,
                "payment_standard": amount,
            },
        )
        inserted += result.rowcount
    return inserted


def seed_reference_data(connection: Connection) -> None:
    """Insert reference data; idempotent, called by the initial migration."""
    from domain.auth.reference import seed_roles

    seed_roles(connection)
    seed_section8_fmr(connection)
