"""The main job on the demo data: the seeded investor texts a demo listing's address.

``dealdesk seed-demo`` loads the Ames sales, the fictional Ames listings and HUD's Ames FMRs;
the reply must carry every part of an analysis, rent vs FMR and cash flow included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete
from sqlmodel import Session, col

from agent.figures import unsupported_figures
from agent.runner import TurnRequest, last_turn_tool_results, run_turn
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import User
from domain.demo.listings import DEMO_LISTINGS
from domain.demo.service import DEMO_INVESTOR_PHONE, seed_demo
from domain.property.models import Section8Fmr
from store.db import get_engine
from tests.conftest import truncate_all

WHATSAPP_LIMIT = 1600


@pytest.fixture(scope="module")
def investor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    engine = get_engine()
    # The session closes before the tests run: an open transaction would block the checkpoint
    # saver's CREATE INDEX CONCURRENTLY.
    with Session(engine, expire_on_commit=False) as session:
        seed_demo(session=session, data_dir=tmp_path_factory.mktemp("demo"))
        session.commit()
        user = auth_service.get_user_by_phone(session=session, phone_number=DEMO_INVESTOR_PHONE)
        session.commit()
    assert user is not None
    yield user
    truncate_all(engine)
    # HUD's rows are shared reference data that truncation keeps: remove the demo's Ames rows.
    with engine.begin() as conn:
        conn.execute(
            delete(Section8Fmr).where(
                col(Section8Fmr.area) == "Ames, IA MSA", col(Section8Fmr.org_id).is_(None)
            )
        )


@pytest.mark.parametrize("listing", DEMO_LISTINGS, ids=lambda listing: listing.address_line)
def test_a_demo_address_gets_value_arv_rehab_offer_rent_vs_fmr_and_cash_flow(
    investor: User, listing: object
) -> None:
    address = listing.address  # type: ignore[attr-defined]
    thread = f"whatsapp:{uuid.uuid4()}"
    result = run_turn(
        TurnRequest(
            org_id=investor.org_id,
            user_id=investor.id,
            role=Role.investor,
            channel="whatsapp",
            thread_id=thread,
            text=address,
        )
    )
    reply = result.reply
    assert [c.name for c in result.tool_calls] == ["analyze_property"]
    assert len(reply) <= WHATSAPP_LIMIT
    for part in ("Verdict: ", "As-is value $", "ARV $", "Rehab $", "Max offer $", "Cash flow"):
        assert part in reply, part
    # Every demo listing has 3 bedrooms: HUD's FY2012 Ames 3-bedroom FMR is $1,039.
    assert "FMR $1,039" in reply and "FY2012" in reply
    assert unsupported_figures(reply, last_turn_tool_results(thread)) == set(), reply
