"""A FICTIONAL listings feed in RESO Data Dictionary names, on real Ames, Iowa streets.

The houses, their facts, prices and listing ids are **made up** (generated deterministically
from a seed); only the street names, the city and the ZIP codes are real, and coordinates are
placed along each street inside the area of the Ames sales (``domain.property.ames``), so those
real sales are their comps. Every row says so in ``PublicRemarks``.

``domain/market/data/demo_listings.csv`` is ``generate_feed(50)`` (a test keeps them equal);
``dealdesk bench monitor`` generates 10,000 rows the same way.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

DEMO_FEED_PATH = Path(__file__).parent / "data" / "demo_listings.csv"
SEED = 20261128
REMARK = "FICTIONAL demo listing: a made-up house on a real Ames street; not for sale."
COLUMNS = [
    "ListingKey",
    "ListingId",
    "StandardStatus",
    "ListPrice",
    "OriginalListPrice",
    "StreetNumber",
    "StreetName",
    "StreetSuffix",
    "City",
    "StateOrProvince",
    "PostalCode",
    "LivingArea",
    "BedroomsTotal",
    "BathroomsTotalInteger",
    "YearBuilt",
    "Latitude",
    "Longitude",
    "DaysOnMarket",
    "ModificationTimestamp",
    "PublicRemarks",
]


@dataclass(frozen=True)
class Street:
    """A real Ames street: its name, suffix, ZIP and the segment the houses are placed on."""

    name: str
    suffix: str
    zip_code: str
    start: tuple[float, float]
    end: tuple[float, float]


# Approximate segments (latitude, longitude) of real Ames streets.
STREETS: tuple[Street, ...] = (
    Street("Duff", "Ave", "50010", (42.0140, -93.6095), (42.0560, -93.6095)),
    Street("Grand", "Ave", "50010", (42.0300, -93.6200), (42.0600, -93.6200)),
    Street("Kellogg", "Ave", "50010", (42.0240, -93.6135), (42.0380, -93.6135)),
    Street("Clark", "Ave", "50010", (42.0260, -93.6170), (42.0400, -93.6170)),
    Street("Douglas", "Ave", "50010", (42.0260, -93.6150), (42.0420, -93.6150)),
    Street("Burnett", "Ave", "50010", (42.0280, -93.6185), (42.0400, -93.6185)),
    Street("Carroll", "Ave", "50010", (42.0300, -93.6160), (42.0400, -93.6160)),
    Street("Ridgewood", "Ave", "50010", (42.0360, -93.6190), (42.0450, -93.6190)),
    Street("Northwestern", "Ave", "50010", (42.0350, -93.6230), (42.0600, -93.6230)),
    Street("Stange", "Rd", "50010", (42.0350, -93.6450), (42.0500, -93.6450)),
    Street("13th", "St", "50010", (42.0350, -93.6400), (42.0350, -93.5900)),
    Street("20th", "St", "50010", (42.0420, -93.6250), (42.0420, -93.6050)),
    Street("24th", "St", "50010", (42.0470, -93.6300), (42.0470, -93.6000)),
    Street("Bloomington", "Rd", "50010", (42.0640, -93.6500), (42.0640, -93.6100)),
    Street("Hayward", "Ave", "50014", (42.0180, -93.6565), (42.0260, -93.6565)),
    Street("Lynn", "Ave", "50014", (42.0200, -93.6500), (42.0260, -93.6500)),
    Street("Ash", "Ave", "50014", (42.0180, -93.6520), (42.0260, -93.6520)),
    Street("Hyland", "Ave", "50014", (42.0250, -93.6580), (42.0400, -93.6580)),
    Street("State", "Ave", "50014", (42.0100, -93.6660), (42.0250, -93.6660)),
    Street("Ontario", "St", "50014", (42.0330, -93.6800), (42.0330, -93.6500)),
    Street("Mortensen", "Rd", "50014", (42.0130, -93.6800), (42.0130, -93.6350)),
    Street("Lincoln", "Way", "50014", (42.0225, -93.6800), (42.0225, -93.6400)),
    Street("Lincoln", "Way", "50010", (42.0225, -93.6300), (42.0225, -93.5800)),
)


def generate_rows(n: int, *, seed: int = SEED) -> list[dict[str, str]]:
    """``n`` fictional listings (dicts keyed by RESO column), the same for the same seed."""
    rng = random.Random(seed)
    used: set[tuple[str, str, int]] = set()
    rows: list[dict[str, str]] = []
    for index in range(1, n + 1):
        street = STREETS[rng.randrange(len(STREETS))]
        while True:
            number = rng.randrange(100, 5000)
            key = (street.name, street.zip_code, number)
            if key not in used:
                used.add(key)
                break
        share = number / 5000
        lat = street.start[0] + (street.end[0] - street.start[0]) * share
        lon = street.start[1] + (street.end[1] - street.start[1]) * share
        sqft = rng.randrange(800, 2800, 10)
        beds = max(2, min(5, round(sqft / 600) + rng.choice((-1, 0, 0, 1))))
        baths = max(1, min(3, round(sqft / 900)))
        year = rng.randrange(1900, 2009)
        # A made-up market value ($/sqft around the Ames sales) and a price around it.
        per_sqft = 95 + (year - 1900) * 0.45 + rng.uniform(-15, 15)
        value = per_sqft * sqft
        price = round(value * rng.uniform(0.62, 1.12) / 100) * 100
        cut = rng.random() < 0.3
        original = round(price * (1 + rng.uniform(0.03, 0.12)) / 100) * 100 if cut else price
        status = "Pending" if rng.random() < 0.04 else "Active"
        days = rng.randrange(1, 181)
        rows.append(
            {
                "ListingKey": f"DEMO-AMES-{index:05d}",
                "ListingId": f"DA{index:05d}",
                "StandardStatus": status,
                "ListPrice": str(Decimal(price)),
                "OriginalListPrice": str(Decimal(original)),
                "StreetNumber": str(number),
                "StreetName": street.name,
                "StreetSuffix": street.suffix,
                "City": "Ames",
                "StateOrProvince": "IA",
                "PostalCode": street.zip_code,
                "LivingArea": str(sqft),
                "BedroomsTotal": str(beds),
                "BathroomsTotalInteger": str(baths),
                "YearBuilt": str(year),
                "Latitude": f"{lat:.6f}",
                "Longitude": f"{lon:.6f}",
                "DaysOnMarket": str(days),
                "ModificationTimestamp": f"2026-11-{1 + index % 27:02d}T09:00:00Z",
                "PublicRemarks": REMARK,
            }
        )
    return rows


def generate_feed(n: int, *, seed: int = SEED) -> bytes:
    """``n`` fictional listings as CSV bytes (RESO column names)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(generate_rows(n, seed=seed))
    return buffer.getvalue().encode()


def demo_feed_bytes() -> bytes:
    """The shipped 50-row demo feed."""
    return DEMO_FEED_PATH.read_bytes()
