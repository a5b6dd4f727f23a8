"""The shipped demo feed: fictional listings on real Ames streets, in RESO names, reproducible."""

from __future__ import annotations

import csv
import io

from domain.market.demo_feed import DEMO_FEED_PATH, REMARK, STREETS, generate_feed
from domain.market.sources import FileFeed
from domain.property import service as property_service


def test_the_shipped_file_is_the_generator_output_and_says_it_is_fictional() -> None:
    assert DEMO_FEED_PATH.read_bytes() == generate_feed(50)
    rows = list(csv.DictReader(io.StringIO(DEMO_FEED_PATH.read_text())))
    assert len(rows) == 50
    assert {row["PublicRemarks"] for row in rows} == {REMARK}
    assert "FICTIONAL" in REMARK
    assert {row["City"] for row in rows} == {"Ames"}
    assert {row["StreetName"] for row in rows} <= {street.name for street in STREETS}
    assert len({row["ListingKey"] for row in rows}) == 50


def test_generated_feeds_are_deterministic_and_their_addresses_normalise() -> None:
    assert generate_feed(200) == generate_feed(200)
    assert generate_feed(200, seed=1) != generate_feed(200)
    parsed = FileFeed(data=generate_feed(30), label="t").fetch()
    keys = set()
    for row in parsed.rows:
        address = property_service.resolve_address(
            address_line=f"{row['StreetNumber']} {row['StreetName']} {row['StreetSuffix']}",
            city=row["City"],
            state=row["StateOrProvince"],
            zip_code=row["PostalCode"],
        )
        keys.add((address["address_key"], address["zip_code"]))
    assert len(keys) == 30  # no two fictional listings share an address
