"""A living area the investor gives ("1234 Main St, 1100 sqft") sizes the values too.

Was: with no living area on file, ``square_feet`` sized the rehab only; the as-is value and
ARV came from comps with no size adjustment, labelled "(not size-adjusted)" even though the
investor had just said the size. Now the given area sizes the subject's valuation facts too
(for that request only: the property row keeps no living area), the comps carry a size line,
stored valuations record the area "as given" and where it came from, and the labels go. A
living area on file still sizes the values; a different one given sizes the rehab only.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import Session, col, func, select

from agent.planner import Conversation, plan_for
from domain.analysis import service as analysis_service
from domain.analysis.formatting import dollars
from domain.analysis.models import PropertyAnalysis
from domain.auth.enums import Role
from domain.property import service as property_service
from domain.valuation import service as valuation_service
from domain.valuation.models import CompAnalysis, SubjectAttributes, Valuation
from reports.property_report import render_property_report
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_sold_market, make_subject_property, make_user
from tools.analysis import analysis_result

AS_OF = dt.date(2025, 1, 15)
GIVEN = {
    "square_feet": 1100,
    "source": "as given",
    "from": "given with the request; not stored on the property",
    "on_file": None,
}


def _analyse(db: Session, org_id: uuid.UUID, prop_id: uuid.UUID, **kw: Any) -> PropertyAnalysis:
    return analysis_service.analyze_property(
        session=db, org_id=org_id, property_id=prop_id, as_of=AS_OF, **kw
    )


def _market(db: Session, name: str = "Given Size Org", **fields: Any) -> tuple[uuid.UUID, Any]:
    org = make_org(db, name)
    make_sold_market(db, org)
    return org.id, make_subject_property(db, org, **fields)


def _size_lines(part: CompAnalysis) -> list[dict[str, Any]]:
    """Each comp's size line (its subject and comp sides), in comp order; {} where it has none."""
    return [
        next(({"subject": x.subject, "comp": x.comp} for x in c.lines if x.line == "size"), {})
        for c in part.comps
    ]


def test_a_given_size_values_the_house_when_none_is_on_file(db: Session) -> None:
    org_id, subject = _market(db, square_feet=None)
    unsized = _analyse(db, org_id, subject.id)
    sized = _analyse(db, org_id, subject.id, square_feet=1100)
    assert unsized.as_is is not None and unsized.arv is not None
    assert sized.as_is is not None and sized.arv is not None

    # Without a size the comps have no size line; with one, every comp is adjusted to it.
    assert _size_lines(unsized.as_is) == [{}] * len(unsized.as_is.comps)
    for part in (sized.as_is, sized.arv):
        lines = _size_lines(part)
        assert lines and all(line["subject"] == {"square_feet": 1100.0} for line in lines)
        assert all(line["comp"]["square_feet"] >= 1200 for line in lines)
        assert part.subject.facts["square_feet"] == 1100.0
        assert part.inputs["subject_living_area"] == GIVEN
    # The market's comps are 1,200-2,100 sqft: a 1,100 sqft house is worth less per comp.
    assert sized.as_is.value < unsized.as_is.value
    assert sized.arv.value < unsized.arv.value
    assert unsized.as_is.inputs["subject_living_area"] == {
        "square_feet": None,
        "source": "none on file: not size-adjusted",
    }

    # The labels and the "not adjusted" note go; a note says what the given size sized.
    assert sized.figures.as_is_value == dollars(sized.as_is.value)
    assert sized.figures.arv == dollars(sized.arv.value)
    assert "not size-adjusted" not in sized.figures.model_dump_json()
    assert "values and rehab sized on 1,100 sqft as given" in sized.notes
    assert not [n for n in sized.notes if "not adjusted for size" in n]
    assert (sized.values_square_feet, sized.values_square_feet_source) == (1100, "as given")
    assert (unsized.values_square_feet, unsized.values_square_feet_source) == (None, None)
    assert sized.rehab.estimate.square_feet == 1100 and sized.rehab_complete
    assert sized.max_offer is not None
    assert sized.max_offer.arv == sized.arv.value.quantize(Decimal("0.01"))

    # Nothing was written: the property keeps no living area, and the next unsized
    # analysis values it exactly as before.
    row = property_service.get(session=db, org_id=org_id, property_id=subject.id)
    assert row is not None and row.square_feet is None
    again = _analyse(db, org_id, subject.id)
    assert again.as_is is not None and again.as_is.value == unsized.as_is.value
    assert again.figures.as_is_value.endswith("(not size-adjusted)")


def test_a_given_size_values_the_house_as_if_it_were_on_file(db: Session) -> None:
    org_id, subject = _market(db, square_feet=None)
    given = _analyse(db, org_id, subject.id, square_feet=1100)
    other_org, on_file = _market(db, "Size On File Org", square_feet=1100)
    stored = _analyse(db, other_org, on_file.id)
    assert given.as_is is not None and stored.as_is is not None
    assert given.arv is not None and stored.arv is not None
    assert given.as_is.value == stored.as_is.value
    assert given.arv.value == stored.arv.value
    assert stored.as_is.inputs["subject_living_area"] == {"square_feet": 1100, "source": "on file"}


def test_stored_valuations_record_the_given_size(db: Session) -> None:
    org_id, subject = _market(db, square_feet=None)
    as_is = valuation_service.value_property(
        session=db, org_id=org_id, property_id=subject.id, as_of=AS_OF, square_feet=1100
    )
    arv = valuation_service.after_repair_value(
        session=db, org_id=org_id, property_id=subject.id, as_of=AS_OF, square_feet=1100
    )
    plain = valuation_service.value_property(
        session=db, org_id=org_id, property_id=subject.id, as_of=AS_OF
    )
    for stored in (as_is, arv):
        assert stored.inputs["subject_living_area"] == GIVEN
        assert stored.inputs["subject"]["facts"]["square_feet"] == 1100.0
        assert stored.comps and all(
            any(line["line"] == "size" for line in comp["lines"]) for comp in stored.comps
        )
    assert plain.inputs["subject_living_area"]["source"] == "none on file: not size-adjusted"
    assert "square_feet" not in plain.inputs["subject"]["facts"]
    assert not any(line["line"] == "size" for c in plain.comps for line in c["lines"])
    assert as_is.value != plain.value

    listed = valuation_service.list_valuations(session=db, org_id=org_id, property_id=subject.id)
    assert {v.id for v in listed} == {as_is.id, arv.id, plain.id}
    row = property_service.get(session=db, org_id=org_id, property_id=subject.id)
    assert row is not None and row.square_feet is None


def test_invalid_sizes_are_refused_and_nothing_is_stored(db: Session) -> None:
    org_id, subject = _market(db, square_feet=None)
    for bad in (0, -5, 100_001, True):
        with pytest.raises(valuation_service.ValuationInputError, match="living area"):
            valuation_service.value_property(
                session=db, org_id=org_id, property_id=subject.id, as_of=AS_OF, square_feet=bad
            )
        with pytest.raises(valuation_service.ValuationInputError, match="living area"):
            valuation_service.find_comps(
                session=db, org_id=org_id, property_id=subject.id, as_of=AS_OF, square_feet=bad
            )
    for bad in (0, 100_001):
        with pytest.raises(analysis_service.AnalysisInputError, match="square footage"):
            _analyse(db, org_id, subject.id, square_feet=bad)
    # An override is for a stored property; attributes carry their own living area.
    with pytest.raises(valuation_service.ValuationInputError, match="subject attributes"):
        valuation_service.find_comps(
            session=db,
            org_id=org_id,
            subject=SubjectAttributes(zip_code="48201", bedrooms=3),
            as_of=AS_OF,
            square_feet=1100,
        )
    count = db.exec(
        select(func.count()).select_from(Valuation).where(col(Valuation.org_id) == org_id)
    ).one()
    assert count == 0


def test_a_size_on_file_values_the_house_and_a_different_one_sizes_the_rehab(
    db: Session,
) -> None:
    org_id, subject = _market(db, square_feet=1500)
    on_file = _analyse(db, org_id, subject.id)
    given = _analyse(db, org_id, subject.id, square_feet=1100)
    assert on_file.as_is is not None and given.as_is is not None
    assert on_file.arv is not None and given.arv is not None

    # The values are the file's: the same figures, sized on 1,500 sqft on file.
    assert given.as_is.value == on_file.as_is.value and given.arv.value == on_file.arv.value
    assert given.as_is.inputs["subject_living_area"] == {"square_feet": 1500, "source": "on file"}
    assert all(line["subject"] == {"square_feet": 1500.0} for line in _size_lines(given.as_is))
    assert (given.values_square_feet, given.values_square_feet_source) == (1500, "on file")
    # The rehab is the investor's: sized on the area given, and the note says which is which.
    assert given.rehab.estimate.square_feet == 1100
    assert given.rehab.estimate.total < on_file.rehab.estimate.total
    assert (
        "rehab sized on 1,100 sqft as given; the as-is value and ARV use the 1,500 sqft on file"
        in given.notes
    )
    assert not [n for n in given.notes if n.startswith("values and rehab")]
    # The same size as on file: one note, no contradiction.
    same = _analyse(db, org_id, subject.id, square_feet=1500)
    assert "rehab sized on 1,500 sqft as given" in same.notes
    assert same.as_is is not None and same.as_is.value == on_file.as_is.value
    row = property_service.get(session=db, org_id=org_id, property_id=subject.id)
    assert row is not None and row.square_feet == 1500


def test_the_agent_result_and_the_pdf_say_what_the_size_sized(db: Session) -> None:
    org_id, subject = _market(db, square_feet=None)
    sized = _analyse(db, org_id, subject.id, square_feet=1100)
    result = analysis_result(sized)
    assert result["values_sized_on"] == "1,100 sqft as given"
    assert "not size-adjusted" not in result["as_is_value"] + result["arv"]
    unsized = analysis_result(_analyse(db, org_id, subject.id))
    assert unsized["values_sized_on"] is None
    assert unsized["arv"].endswith("(not size-adjusted)")

    reader = PdfReader(io.BytesIO(render_property_report(sized).data))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "not size-adjusted" not in text
    assert "values and rehab sized on 1,100 sqft as given" in text
    assert sized.figures.as_is_value in text and sized.figures.arv in text


def test_the_max_offer_reply_says_the_arv_was_sized_on_the_given_size(
    committed_db: Session,
) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    make_subject_property(db, org, square_feet=None)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    said = "what's my max offer on 1234 Subject Ave, 1100 sqft"
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, plan.args.get("square_feet")) == ("max_offer", 1100)

    turn = checked_turn(analyst, said)
    assert [(c.name, c.args.get("square_feet")) for c in turn.tool_calls] == [("max_offer", 1100)]
    assert "ARV and rehab sized on the 1,100 sqft as given." in turn.reply
    assert "not size-adjusted" not in turn.reply

    # Without a size (the rehab completed by a budget), the reply says the ARV is unsized.
    budget = checked_turn(analyst, "what's my max offer on 1234 Subject Ave if rehab is 40k")
    assert [c.name for c in budget.tool_calls] == ["max_offer"]
    assert "The ARV is not size-adjusted (no living area on file)." in budget.reply
