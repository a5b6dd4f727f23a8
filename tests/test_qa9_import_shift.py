"""QA pass 9: import rows an unquoted comma shifted, repeated column names, blank list prices.

Decisions these tests pin (README, "Importing sales and listings"):

- A row with more cells than the header is refused when a cell shift is plausible even though
  the extra cells are empty: ``$185,000`` unquoted reads as ``$185`` and ``000`` (the old code
  stored a $185 sale with 0 bedrooms). Trailing empty cells with no such split still go in.
- A sale price below $1,000 is refused (``MIN_SALE_PRICE``).
- A header naming a field's column twice (``City`` ... ``City``, or ``Close Price`` and
  ``ClosePrice``) refuses the file; ``--map`` picks between two differently written names.
- A known listing whose row leaves the list price blank (Withdrawn) keeps its stored price;
  a new listing without one is still rejected.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, func, select

from domain.auth.models import Organisation
from domain.property.errors import ImportColumnsError
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property
from tests.factories import make_org

SALES_HEADER = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,CloseDate,ClosePrice,BedroomsTotal,Remarks"
)


def _import(
    db: Session, org: Organisation, lines: list[str], kind: str = "sales", **kwargs: Any
) -> ImportSummary:
    """Import CSV lines the way the CLI reads a file."""
    reader = csv.DictReader(io.StringIO("\n".join(lines) + "\n", newline=""))
    return import_records(
        session=db,
        org_id=org.id,
        rows=reader,
        kind=kind,
        source="qa9",
        columns=list(reader.fieldnames or []),
        **kwargs,
    )


def _prop(db: Session, org: Organisation, key: str) -> Property | None:
    return db.exec(
        select(Property).where(Property.org_id == org.id, Property.source_id == key)
    ).first()


def _count(db: Session, org: Organisation) -> int:
    return db.exec(
        select(func.count()).select_from(Property).where(Property.org_id == org.id)
    ).one()


def _reasons(summary: ImportSummary) -> dict[int, str]:
    return {rejection.line: rejection.reason for rejection in summary.rejections}


def test_an_unquoted_thousands_comma_is_refused_even_when_the_extra_cell_is_empty(
    db: Session,
) -> None:
    org = make_org(db)
    summary = _import(
        db,
        org,
        [
            SALES_HEADER,
            "S1,5 Elm St,Ames,IA,2024-01-05,$185,000,3,",  # line 2: split price, blank remarks
            "S2,6 Elm St,Ames,IA,2024-01-06,185000,3,",  # line 3: a trailing comma only
            "S3,7 Elm St,Ames,IA,2024-01-07,1,250,000,4,",  # line 4: split twice
            "S4,8 Elm St,Ames,IA,2024-01-08,$92,500,2,needs roof",  # line 5: extra filled
        ],
    )
    assert (summary.rows, summary.inserted, summary.rejected) == (4, 1, 3), summary.lines()
    reasons = _reasons(summary)
    assert reasons[2] == (
        "the row has 9 cells but the header has 8 columns: '$185' then '000' looks like one "
        "number ($185,000) split by an unquoted comma, which shifts every later cell into "
        "the wrong column. Put numbers with thousands separators in double quotes (or write "
        "them without the commas)"
    )
    assert "'1' then '250' looks like one number (1,250)" in reasons[4]
    assert "'$92' then '500' looks like one number ($92,500)" in reasons[5]
    assert _prop(db, org, "S1") is None
    s2 = _prop(db, org, "S2")
    assert s2 is not None and (s2.close_price, s2.bedrooms) == (Decimal("185000"), 3)
    assert _count(db, org) == 1


def test_a_small_number_before_three_digits_in_other_columns_is_not_a_split(db: Session) -> None:
    """Bedrooms 3 then 950 square feet is no split: a bedroom count never reaches 1,000."""
    org = make_org(db)
    summary = _import(
        db,
        org,
        [
            "ListingKey,UnparsedAddress,City,StateOrProvince,CloseDate,ClosePrice,BedroomsTotal,"
            "LivingArea",
            "S1,5 Elm St,Ames,IA,2024-01-05,185000,3,950,",
        ],
    )
    assert (summary.inserted, summary.rejected) == (1, 0), summary.lines()


def test_a_sale_price_below_a_thousand_dollars_is_refused(db: Session) -> None:
    org = make_org(db)
    summary = _import(
        db,
        org,
        [
            SALES_HEADER,
            "S1,5 Elm St,Ames,IA,2024-01-05,$185,3,",
            "S2,6 Elm St,Ames,IA,2024-01-06,1000,3,",
        ],
    )
    assert (summary.inserted, summary.rejected) == (1, 1), summary.lines()
    assert _reasons(summary)[2] == (
        "ClosePrice: '$185' is below $1,000, not a believable sale price (a number split by "
        "an unquoted comma, a price in thousands, or a sale that is no comp): write the whole "
        "price"
    )


def test_a_column_named_twice_refuses_the_file(db: Session) -> None:
    org = make_org(db)
    lines = [
        "ListingKey,UnparsedAddress,City,StateOrProvince,CloseDate,ClosePrice,ListAgentName,City",
        "S1,5 Elm St,Ames,IA,2024-01-05,185000,Pat,Boone",
    ]
    with pytest.raises(ImportColumnsError) as caught:
        _import(db, org, lines)
    assert str(caught.value) == (
        "the file names a column twice: 'City' (column 3) and 'City' (column 8) have the same "
        "name, so the later would silently replace the earlier (city): rename or delete one "
        "of them in the file"
    )
    # --map cannot tell two cells of one name apart.
    with pytest.raises(ImportColumnsError, match="have the same name"):
        _import(db, org, lines, mapping={"city": "City"})
    assert _count(db, org) == 0


def test_two_spellings_of_one_column_refuse_the_file_unless_mapped(db: Session) -> None:
    org = make_org(db)
    lines = [
        "ListingKey,UnparsedAddress,City,StateOrProvince,CloseDate,Close Price,ClosePrice,"
        "Remarks,Remarks",
        "S1,5 Elm St,Ames,IA,2024-01-05,150000,185000,a,b",
    ]
    with pytest.raises(ImportColumnsError) as caught:
        _import(db, org, lines)
    assert str(caught.value) == (
        "the file names a column twice: 'Close Price' (column 6) and 'ClosePrice' (column 7) "
        "are the same column name once case, spaces and punctuation are ignored, so which "
        "one feeds close_price would be a guess: delete one, or choose with --map "
        "close_price=ClosePrice"
    )
    assert _count(db, org) == 0
    # Remarks twice feeds no field: harmless. --map names the column to use, as written.
    summary = _import(db, org, lines, mapping={"close_price": "ClosePrice"})
    assert summary.inserted == 1, summary.lines()
    s1 = _prop(db, org, "S1")
    assert s1 is not None and s1.close_price == Decimal("185000")
    assert s1.city == "Ames"


LISTINGS_HEADER = "ListingKey,UnparsedAddress,City,StateOrProvince,StandardStatus,ListPrice"


def test_a_known_listing_withdrawn_with_a_blank_price_keeps_its_price(db: Session) -> None:
    org = make_org(db)
    first = _import(
        db, org, [LISTINGS_HEADER, "L2002,9 Oak St,Ames,IA,Active,159900"], kind="listings"
    )
    assert first.inserted == 1, first.lines()

    withdrawn = _import(
        db,
        org,
        [
            LISTINGS_HEADER,
            "L2002,9 Oak St,Ames,IA,Withdrawn,",  # line 2: known, blank price
            "L3003,10 Oak St,Ames,IA,Expired,",  # line 3: new, blank price
        ],
        kind="listings",
    )
    assert (withdrawn.updated, withdrawn.inserted, withdrawn.rejected) == (1, 0, 1), (
        withdrawn.lines()
    )
    assert _reasons(withdrawn) == {3: "ListPrice: a new listing needs a list price"}
    l2002 = _prop(db, org, "L2002")
    assert l2002 is not None
    assert (l2002.status, l2002.list_price) == ("off_market", Decimal("159900"))
    assert _prop(db, org, "L3003") is None


def test_a_listing_new_in_this_file_then_withdrawn_blank_keeps_the_price(db: Session) -> None:
    org = make_org(db)
    summary = _import(
        db,
        org,
        [
            LISTINGS_HEADER,
            "L1,9 Oak St,Ames,IA,Active,159900",
            "L1,9 Oak St,Ames,IA,Withdrawn,",
        ],
        kind="listings",
    )
    assert (summary.inserted, summary.updated, summary.rejected) == (1, 1, 0), summary.lines()
    l1 = _prop(db, org, "L1")
    assert l1 is not None and (l1.status, l1.list_price) == ("off_market", Decimal("159900"))
