"""QA: a file with no source id column keys rows by address + ZIP; a blank ZIP must not duplicate.

The synthetic key of a row (``synthetic_source_id``) hashes the normalised street line with the
ZIP (and a sale's close date). A later export of the same houses that leaves the ZIP blank, or
fills one the earlier export left blank, used to make a new key and insert every house a second
time. Now the import finds the one house of that street line imported under another address
key from the same source (ZIP, city and state agreeing where both are known; the same close
date for a sale) and updates it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlmodel import Session, select

from domain.auth.models import Organisation
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property
from tests.factories import make_org

HEADER = "UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,LivingArea"


def _import(
    db: Session, org: Organisation, lines: list[str], kind: str = "sales", source: str = "zipkey"
) -> ImportSummary:
    reader = csv.DictReader(io.StringIO("\n".join(lines) + "\n", newline=""))
    return import_records(
        session=db,
        org_id=org.id,
        rows=reader,
        kind=kind,
        source=source,
        columns=list(reader.fieldnames or []),
    )


def _props(db: Session, org: Organisation) -> list[Property]:
    return list(db.exec(select(Property).where(Property.org_id == org.id)).all())


def _counts(summary: ImportSummary) -> dict[str, Any]:
    return {
        "inserted": summary.inserted,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": len(summary.rejections),
    }


def test_blank_zip_in_a_later_export_updates_the_house(db: Session) -> None:
    org = make_org(db)
    first = _import(db, org, [HEADER, "12 Elm St,Detroit,MI,48201,90000,2024-03-15,1400"])
    assert _counts(first)["inserted"] == 1
    later = _import(db, org, [HEADER, "12 Elm Street,Detroit,MI,,91000,2024-03-15,1450"])
    assert _counts(later) == {"inserted": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    (prop,) = _props(db, org)
    assert prop.zip_code == "48201"  # a blank cell keeps the stored ZIP
    assert prop.square_feet == 1450
    assert str(prop.close_price) == "91000.00"


def test_zip_filled_later_updates_the_house_and_stores_the_zip(db: Session) -> None:
    org = make_org(db)
    _import(db, org, [HEADER, "12 Elm St,Detroit,MI,,90000,2024-03-15,1400"])
    later = _import(db, org, [HEADER, "12 Elm St,Detroit,MI,48201,90000,2024-03-15,1400"])
    assert _counts(later) == {"inserted": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    (prop,) = _props(db, org)
    assert prop.zip_code == "48201"
    # And the next export, with the ZIP, is simply unchanged.
    again = _import(db, org, [HEADER, "12 Elm St,Detroit,MI,48201,90000,2024-03-15,1400"])
    assert _counts(again)["unchanged"] == 1
    assert len(_props(db, org)) == 1


def test_listings_without_zip_match_the_listing_already_imported(db: Session) -> None:
    org = make_org(db)
    header = "UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice,LivingArea"
    _import(db, org, [header, "7 Oak Ave,Detroit,MI,48205,75000,1200"], kind="listings")
    later = _import(db, org, [header, "7 Oak Ave,Detroit,MI,,72000,1200"], kind="listings")
    assert _counts(later)["updated"] == 1
    (prop,) = _props(db, org)
    assert str(prop.list_price) == "72000.00"


def test_different_houses_stay_apart(db: Session) -> None:
    """Same street line in another city, a ZIP that disagrees, another sale date: new rows."""
    org = make_org(db)
    _import(db, org, [HEADER, "12 Elm St,Detroit,MI,48201,90000,2024-03-15,1400"])
    later = _import(
        db,
        org,
        [
            HEADER,
            "12 Elm St,Warren,MI,,80000,2024-03-15,1300",  # another city
            "12 Elm St,Detroit,MI,48205,85000,2024-03-15,1350",  # another ZIP
            "12 Elm St,Detroit,MI,,95000,2025-06-01,1400",  # a later sale of the house
        ],
    )
    assert _counts(later) == {"inserted": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    assert len(_props(db, org)) == 4


def test_two_candidates_are_not_guessed_between(db: Session) -> None:
    """A blank ZIP that fits two stored houses (two ZIPs, no city) inserts rather than picks."""
    org = make_org(db)
    header = "UnparsedAddress,StateOrProvince,PostalCode,ListPrice,LivingArea"
    _import(
        db,
        org,
        [header, "5 Pine St,MI,48201,70000,1100", "5 Pine St,MI,48205,71000,1150"],
        kind="listings",
    )
    later = _import(db, org, [header, "5 Pine St,MI,,72000,1200"], kind="listings")
    assert _counts(later)["inserted"] == 1
    assert len(_props(db, org)) == 3


def test_another_source_or_a_real_source_id_is_not_matched(db: Session) -> None:
    org = make_org(db)
    _import(db, org, [HEADER, "12 Elm St,Detroit,MI,48201,90000,2024-03-15,1400"], source="a")
    other = _import(db, org, [HEADER, "12 Elm St,Detroit,MI,,90000,2024-03-15,1400"], source="b")
    assert _counts(other)["inserted"] == 1
    keyed = "ListingKey," + HEADER
    _import(db, org, [keyed, "K1,9 Ash St,Detroit,MI,48201,90000,2024-03-15,1400"], source="c")
    blank = _import(db, org, [HEADER, "9 Ash St,Detroit,MI,,90000,2024-03-15,1400"], source="c")
    assert _counts(blank)["inserted"] == 1  # K1 was keyed by the MLS, not by its address
