"""Product decisions on MLS imports: 0/blank living area or year built, a key twice in a file.

- ``LivingArea`` / ``YearBuilt`` of 0 (or blank) is how real RESO exports say "unknown": the
  row goes in with the value empty (NULL) and the summary warns, naming the line and column.
  Downstream (valuation comps, the property analysis the agent runs) says what it could not
  do instead of crashing.
- The same ``ListingKey`` twice in one file: the later row wins (a sorted export lists the
  newer one last) and the summary warns, naming both lines.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from domain.analysis import service as analysis_service
from domain.auth import service as auth_service
from domain.auth.models import Organisation
from domain.property.importer import ImportSummary, import_records
from domain.property.models import Property
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from tests.factories import ANALYSIS_MARKET_CENTRE, make_org, make_sold_market

REPO = Path(__file__).resolve().parents[1]
SALES_HEADER = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,"
    "LivingArea,BedroomsTotal,YearBuilt"
)
# The market of make_sold_market closes in 2024; analyses are as of January 2025.
AS_OF = dt.date(2025, 1, 15)


def _import(
    db: Session, org: Organisation, text: str, kind: str = "sales", **kwargs: Any
) -> ImportSummary:
    """Import CSV text the way the CLI does (a DictReader, so line numbers are the file's)."""
    reader = csv.DictReader(io.StringIO(text))
    return import_records(
        session=db,
        org_id=org.id,
        rows=reader,
        kind=kind,
        source="testmls",
        columns=list(reader.fieldnames or []),
        **kwargs,
    )


def _by_key(db: Session, org: Organisation, key: str) -> Property:
    found = db.exec(
        select(Property).where(Property.org_id == org.id, Property.source_id == key)
    ).one()
    return found


def _count(db: Session, org: Organisation) -> int:
    statement = select(func.count()).select_from(Property).where(Property.org_id == org.id)
    return int(db.exec(statement).one())


# --- 1. a living area or year built of 0 (or blank) is unknown -------------------------------


UNKNOWN_ROWS = [
    # line 2: both 0: imported, both unknown, two warnings
    "Z1,10 Zero St,Detroit,MI,48201,90000,2024-03-01,0,3,0",
    # line 3: living area blank, year known: one warning
    "Z2,12 Zero St,Detroit,MI,48201,91000,2024-03-02,,3,1950",
    # line 4: everything known: no warning
    "Z3,14 Zero St,Detroit,MI,48201,92000,2024-03-03,1400,3,1951",
    # line 5: a negative living area is not "unknown": still rejected
    "Z4,16 Zero St,Detroit,MI,48201,93000,2024-03-04,-10,3,1952",
    # line 6: 0 living area but no sale price: rejected, and so no warning about it
    "Z5,18 Zero St,Detroit,MI,48201,abc,2024-03-05,0,3,1953",
]


def test_zero_or_blank_living_area_and_year_built_are_unknown_with_a_warning(
    db: Session,
) -> None:
    org = make_org(db)
    summary = _import(db, org, "\n".join([SALES_HEADER, *UNKNOWN_ROWS]) + "\n")

    assert (summary.rows, summary.inserted, summary.rejected) == (5, 3, 2), summary.lines()
    assert {r.line for r in summary.rejections} == {5, 6}
    assert "square_feet must be greater than 0" in summary.rejections[0].reason

    # Stored as NULL, not 0, and the rest of the row is kept.
    z1, z2, z3 = (_by_key(db, org, key) for key in ("Z1", "Z2", "Z3"))
    assert (z1.square_feet, z1.year_built) == (None, None)
    assert z1.close_price == Decimal("90000") and z1.bedrooms == 3
    assert (z2.square_feet, z2.year_built) == (None, 1950)
    assert (z3.square_feet, z3.year_built) == (1400, 1951)

    # One warning per unknown cell, naming its line and column; none for rejected rows.
    assert sorted((w.line, w.column) for w in summary.warnings) == [
        (2, "LivingArea"),
        (2, "YearBuilt"),
        (3, "LivingArea"),
    ]
    text = "\n".join(summary.lines())
    assert summary.lines()[0].endswith("3 inserted, 0 updated, 0 unchanged, 2 rejected, 3 warnings")
    assert "line 2: warning: LivingArea: '0' read as an unknown living area" in text
    assert "line 2: warning: YearBuilt: '0' read as an unknown year built" in text
    assert "line 3: warning: LivingArea: blank read as an unknown living area" in text
    assert "line 6" in text and "line 6: warning" not in text


def test_cli_import_prints_the_warnings(committed_db: Session, tmp_path: Path) -> None:
    org = auth_service.create_organisation(
        session=committed_db, name="CLI Import Warnings", slug="cli-imp-warn"
    )
    committed_db.commit()
    path = tmp_path / "sales.csv"
    path.write_text(
        "\n".join(
            [
                SALES_HEADER,
                "W1,10 Warn St,Detroit,MI,48201,90000,2024-03-01,0,3,1950",
                "W2,12 Warn St,Detroit,MI,48201,91000,2024-03-02,1200,3,1950",
                "W1,10 Warn St,Detroit,MI,48201,94000,2024-03-01,1100,3,1950",
            ]
        )
        + "\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "import", "sales", str(path), "--org", "cli-imp-warn"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    out = " ".join(run.stderr.split())  # rich may wrap long lines
    assert "3 rows, 2 inserted, 1 updated, 0 unchanged, 0 rejected, 2 warnings" in out
    assert "line 2: warning: LivingArea: '0' read as an unknown living area" in out
    assert "line 4: warning: ListingKey 'W1' is also on line 2" in out
    committed_db.expire_all()
    assert _by_key(committed_db, org, "W1").square_feet == 1100  # the later row won


def test_unknown_living_area_downstream_valuation_and_analysis_say_so(db: Session) -> None:
    """A subject (and comps) imported with LivingArea 0: values still come, nothing crashes."""
    org = make_org(db)
    make_sold_market(db, org)
    lat, lon = ANALYSIS_MARKET_CENTRE
    comps = "\n".join(
        [
            "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,"
            "LivingArea,BedroomsTotal,BathroomsTotalInteger,YearBuilt,Latitude,Longitude",
            f"C1,501 Unknown St,Detroit,MI,48201,80000,2024-10-10,0,3,1,0,{lat},{lon + 0.001}",
            f"C2,503 Unknown St,Detroit,MI,48201,82000,2024-11-10,0,3,1,0,{lat},{lon + 0.002}",
        ]
    )
    listing = "\n".join(
        [
            "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice,LivingArea,"
            "BedroomsTotal,BathroomsTotalDecimal,YearBuilt,Latitude,Longitude",
            f"S1,1234 Subject Ave,Detroit,MI,48201,45000,0,3,1.5,0,{lat},{lon + 0.01}",
        ]
    )
    assert _import(db, org, comps + "\n").inserted == 2
    imported = _import(db, org, listing + "\n", kind="listings")
    assert imported.inserted == 1 and len(imported.warnings) == 2
    valuation_service.reindex_comps(session=db, org_id=org.id)
    subject = _by_key(db, org, "S1")
    assert subject.square_feet is None

    # Valuation comps: a value from the facts that are known; living area is not one of them.
    as_is = valuation_service.find_comps(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF, max_comps=8
    )
    assert as_is.value is not None and as_is.value > 0
    assert as_is.subject.facts.get("square_feet") is None
    arv = valuation_service.find_comps(
        session=db,
        org_id=org.id,
        property_id=subject.id,
        as_of=AS_OF,
        max_comps=8,
        kind=ValuationKind.arv,
    )
    assert arv.value is not None and arv.value > 0

    # The analysis the agent's analyze_property tool runs: complete, and it says which rehab
    # lines it could not price without the living area.
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=subject.id, as_of=AS_OF
    )
    assert analysis.as_is is not None and analysis.arv is not None
    assert analysis.subject.square_feet is None
    unpriced = [note for note in analysis.notes if note.startswith("not priced")]
    assert len(unpriced) == 1, analysis.notes
    assert "give its quantity or the house's square_feet" in unpriced[0]


# --- 2. the same ListingKey twice in one file: the later row wins, with a warning ------------


@pytest.mark.parametrize("batch_size", [500, 1], ids=["one batch", "a batch per row"])
def test_a_listing_key_twice_in_one_file_keeps_the_later_row_and_warns(
    db: Session, batch_size: int
) -> None:
    org = make_org(db)
    text = "\n".join(
        [
            SALES_HEADER,
            "D1,20 Dup St,Detroit,MI,48201,90000,2024-02-01,1000,3,1950",  # line 2
            "D2,22 Dup St,Detroit,MI,48201,70000,2024-02-02,900,2,1940",  # line 3
            "D1,20 Dup St,Detroit,MI,48201,95000,2024-02-01,1050,3,1950",  # line 4: newer
        ]
    )
    summary = _import(db, org, text + "\n", batch_size=batch_size)

    assert (summary.rows, summary.inserted, summary.updated, summary.rejected) == (3, 2, 1, 0)
    assert _count(db, org) == 2
    d1 = _by_key(db, org, "D1")
    assert (d1.close_price, d1.square_feet) == (Decimal("95000"), 1050)
    assert [(w.line, w.column, w.source_id) for w in summary.warnings] == [(4, "ListingKey", "D1")]
    assert summary.warnings[0].message == (
        "ListingKey 'D1' is also on line 2: line 4, the later row, replaces line 2"
    )
    assert (
        "  line 4: warning: ListingKey 'D1' is also on line 2: line 4, the later row, "
        "replaces line 2"
    ) in summary.lines()


def test_rows_without_a_key_for_the_same_sale_warn_too(db: Session) -> None:
    org = make_org(db)
    text = "\n".join(
        [
            "UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,LivingArea",
            "30 Nokey St,Detroit,MI,48201,60000,2024-01-10,800",  # line 2
            "30 Nokey Street,Detroit,MI,48201,61000,2024-01-10,800",  # line 3: same sale
            "30 Nokey St,Detroit,MI,48201,75000,2024-06-10,800",  # line 4: a later sale
        ]
    )
    summary = _import(db, org, text + "\n")

    assert (summary.inserted, summary.updated) == (2, 1)
    assert [(w.line, w.column) for w in summary.warnings] == [(3, None)]
    assert summary.warnings[0].message == (
        "same address and close date as line 2 (the file has no listing key): line 3, "
        "the later row, replaces line 2"
    )
    prices = {
        p.close_price for p in db.exec(select(Property).where(Property.org_id == org.id)).all()
    }
    assert prices == {Decimal("61000"), Decimal("75000")}


def test_reimporting_a_file_is_not_a_duplicate(db: Session) -> None:
    """The warning is about one file: the same key in a second import is an ordinary update."""
    org = make_org(db)
    text = SALES_HEADER + "\nR1,40 Again St,Detroit,MI,48201,90000,2024-02-01,1000,3,1950\n"
    assert _import(db, org, text).warnings == []
    again = _import(db, org, text.replace("90000", "91000"))
    assert (again.updated, again.warnings) == (1, [])
