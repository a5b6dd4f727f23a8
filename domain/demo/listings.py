"""Fictional demo listings: a few homes "for sale" in Ames, Iowa, so the demo has addresses.

The Ames sales (``domain.property.ames``) are real but have no street addresses, so an
investor trying the WhatsApp assistant would have nothing to text. These listings fill that
gap. They are **fictional**: the street names are real Ames streets and the coordinates sit
inside the Ames sales' area (so those sales are their comps), but the houses, their facts and
their list prices are made up for the demo. Each one says so: ``source = "demo"``,
``features = {"demo": true, "note": "fictional demo listing", ...}`` (plus the year last
remodelled, as the Ames sales have it). Loading is idempotent on (organisation, ``source``,
``source_id``).

No HUD Fair Market Rent for Ames, IA is seeded with them: the analysis then says plainly that
no FMR is on file for Ames, IA, instead of borrowing another area's figures.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from domain.property import service as property_service
from domain.property.enums import PropertyStatus, PropertyType
from domain.property.models import PropertyCreate

SOURCE = "demo"
NOTE = "fictional demo listing"


@dataclass(frozen=True)
class DemoListing:
    """One fictional listing: a real Ames street, made-up house and price."""

    source_id: str
    address_line: str
    zip_code: str
    latitude: float
    longitude: float
    list_price: Decimal
    bedrooms: int
    bathrooms: Decimal
    square_feet: int
    year_built: int
    year_remodeled: int
    lot_size: Decimal
    condition_rating: int

    @property
    def address(self) -> str:
        """The one-line address an investor would text."""
        return f"{self.address_line}, Ames, IA {self.zip_code}"


# Coordinates: on the named street, inside the Ames sales' area (nearest sales within a
# quarter mile). Condition uses the Ames 1-10 scale (5 = Average).
DEMO_LISTINGS: tuple[DemoListing, ...] = (
    DemoListing(
        source_id="demo-1",
        address_line="2718 Duff Ave",
        zip_code="50010",
        latitude=42.0492,
        longitude=-93.6098,
        list_price=Decimal("139900"),
        bedrooms=3,
        bathrooms=Decimal("1.5"),
        square_feet=1480,
        year_built=1962,
        year_remodeled=1998,
        lot_size=Decimal("9800"),
        condition_rating=4,
    ),
    DemoListing(
        source_id="demo-2",
        address_line="1215 Kellogg Ave",
        zip_code="50010",
        latitude=42.0335,
        longitude=-93.6135,
        list_price=Decimal("124900"),
        bedrooms=3,
        bathrooms=Decimal("1"),
        square_feet=1536,
        year_built=1915,
        year_remodeled=1985,
        lot_size=Decimal("7200"),
        condition_rating=5,
    ),
    DemoListing(
        source_id="demo-3",
        address_line="825 Ridgewood Ave",
        zip_code="50010",
        latitude=42.0305,
        longitude=-93.6120,
        list_price=Decimal("89900"),
        bedrooms=3,
        bathrooms=Decimal("1.5"),
        square_feet=1320,
        year_built=1920,
        year_remodeled=1950,
        lot_size=Decimal("6600"),
        condition_rating=3,
    ),
    DemoListing(
        source_id="demo-4",
        address_line="4120 Lincoln Way",
        zip_code="50014",
        latitude=42.0225,
        longitude=-93.6680,
        list_price=Decimal("132500"),
        bedrooms=3,
        bathrooms=Decimal("1"),
        square_feet=1150,
        year_built=1958,
        year_remodeled=2004,
        lot_size=Decimal("8400"),
        condition_rating=6,
    ),
)


def load_demo_listings(*, session: Session, org_id: uuid.UUID) -> list[uuid.UUID]:
    """Create the demo listings the organisation lacks (flushes, no commit); their ids."""
    created: list[uuid.UUID] = []
    for listing in DEMO_LISTINGS:
        existing = property_service.get_by_source(
            session=session, org_id=org_id, source=SOURCE, source_id=listing.source_id
        )
        if existing is not None:
            continue
        prop = property_service.create(
            session=session,
            org_id=org_id,
            property_in=PropertyCreate(
                address_line=listing.address_line,
                city="Ames",
                state="IA",
                zip_code=listing.zip_code,
                property_type=PropertyType.single_family,
                status=PropertyStatus.active,
                list_price=listing.list_price,
                bedrooms=listing.bedrooms,
                bathrooms=listing.bathrooms,
                square_feet=listing.square_feet,
                year_built=listing.year_built,
                lot_size=listing.lot_size,
                latitude=listing.latitude,
                longitude=listing.longitude,
                condition_rating=listing.condition_rating,
                # year_remodeled as in the Ames sales (the year built when never remodelled).
                features={"demo": True, "note": NOTE, "year_remodeled": listing.year_remodeled},
                source=SOURCE,
                source_id=listing.source_id,
            ),
            # Like the Ames load: the seed indexes comps itself, no events for a bulk seed.
            publish_event=False,
            source_checked=True,
        )
        created.append(prop.id)
    return created
