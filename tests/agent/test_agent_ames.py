"""The offline planner on real sales: Ames, Iowa (the demo market), a property named by its id.

The Ames sales have no street addresses, so the team asks about one by its property id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlmodel import Session, col, select

from agent.figures import unsupported_figures
from agent.runner import TurnRequest, last_turn_tool_results, run_turn
from domain.analysis.formatting import dollars
from domain.auth.enums import Role
from domain.auth.models import User
from domain.property.ames import load_ames
from domain.property.models import Property
from domain.valuation import service as valuation_service
from domain.valuation.service import reindex_comps
from store.db import get_engine
from tests.conftest import truncate_all
from tests.factories import make_org, make_user

AMES_ROWS = 600


@dataclass
class Ames:
    """An organisation holding the first Ames sales, and an analyst."""

    analyst: User
    subject_id: uuid.UUID
    label: str


@pytest.fixture(scope="module")
def ames() -> Iterator[Ames]:
    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        org = make_org(session, "Ames Demo")
        analyst = make_user(session, org, Role.analyst)
        load_ames(session=session, org_id=org.id, limit=AMES_ROWS)
        reindex_comps(session=session, org_id=org.id)
        subject = session.exec(
            select(Property)
            .where(Property.org_id == org.id)
            .order_by(col(Property.close_date).desc(), col(Property.source_id))
        ).first()
        assert subject is not None
        session.commit()
        yield Ames(analyst=analyst, subject_id=subject.id, label=subject.address["label"])
    truncate_all(engine)


def _turn(ames: Ames, text: str, thread: str) -> tuple[str, list[str], list[str]]:
    result = run_turn(
        TurnRequest(
            org_id=ames.analyst.org_id,
            user_id=ames.analyst.id,
            role=Role.analyst,
            channel="web",
            thread_id=thread,
            text=text,
        )
    )
    sources = last_turn_tool_results(thread)
    assert unsupported_figures(result.reply, sources) == set(), result.reply
    return result.reply, [c.name for c in result.tool_calls], sources


def test_comps_for_an_ames_sale_by_its_id(ames: Ames) -> None:
    thread = f"web:{uuid.uuid4()}"
    reply, tools, _ = _turn(ames, f"comps for {ames.subject_id}", thread)
    assert tools == ["get_comps"]
    with Session(get_engine()) as session:
        analysis = valuation_service.find_comps(
            session=session, org_id=ames.analyst.org_id, property_id=ames.subject_id
        )
    assert reply.startswith(
        f"As-is comps for {ames.label}, Ames, IA: value {dollars(analysis.value)}"
    )
    assert f"1. {analysis.comps[0].label}: sold {dollars(analysis.comps[0].sale_price)}" in reply
    dropped, tools, _ = _turn(ames, "drop comp 1", thread)
    assert tools == ["get_comps"] and f"Without #1 {analysis.comps[0].label}" in dropped


def test_an_ames_sale_analysed_by_its_id(ames: Ames) -> None:
    reply, tools, sources = _turn(ames, f"analyse {ames.subject_id}", f"web:{uuid.uuid4()}")
    assert tools == ["analyze_property"]
    assert reply.startswith(ames.label)
    assert "Verdict: " in reply and "ARV $" in reply and "Max offer " in reply
    assert len(sources) == 1
