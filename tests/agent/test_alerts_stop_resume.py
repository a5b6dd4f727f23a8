""" "Stop my alerts" keeps the investor's criteria; "turn my alerts back on" resumes them.

Before, stopping saved empty criteria (active=false), so the ZIPs, price range and quiet hours
were gone, and a later "alert me" matched every opportunity in the organisation.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlmodel import Session

from agent.figures import unsupported_figures
from agent.runner import TurnRequest, TurnResult, last_turn_tool_results, run_turn
from domain.auth.enums import Role
from domain.auth.models import User
from domain.market import alerts as alert_service
from tests.factories import make_org, make_user


def _turn(who: User, text: str, thread: str) -> TurnResult:
    result = run_turn(
        TurnRequest(
            org_id=who.org_id,
            user_id=who.id,
            role=Role(who.role),
            channel="whatsapp",
            thread_id=thread,
            text=text,
        )
    )
    assert result.model == "offline-planner" and result.error is None
    assert unsupported_figures(result.reply, last_turn_tool_results(thread)) == set(), result.reply
    return result


def test_stopping_keeps_the_criteria_and_resuming_brings_them_back(
    committed_db: Session,
) -> None:
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550177")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    _turn(investor, "alert me to flips in 48215 under $100k, quiet hours 9pm to 7am", thread)
    stopped = _turn(investor, "stop my alerts", thread)
    assert stopped.reply.startswith("Deal alerts are off; your criteria are kept.")

    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is False
    assert criteria.zip_codes == ["48215"]
    assert criteria.max_price == Decimal("100000")
    assert criteria.quiet_hours_start is not None

    resumed = _turn(investor, "turn my alerts back on", thread)
    assert [(c.name, c.args) for c in resumed.tool_calls] == [
        ("configure_alerts", {"active": True})
    ]
    assert "48215" in resumed.reply
    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is True
    assert (criteria.zip_codes, criteria.strategies) == (["48215"], ["flip"])
