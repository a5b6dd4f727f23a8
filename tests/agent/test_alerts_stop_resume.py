""" "Stop my alerts" keeps the investor's criteria; "turn my alerts back on" resumes them.

Before, stopping saved empty criteria (active=false), so the ZIPs, price range and quiet hours
were gone, and a later "alert me" matched every opportunity in the organisation.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlmodel import Session

from domain.auth.enums import Role
from domain.market import alerts as alert_service
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_user


def test_stopping_keeps_the_criteria_and_resuming_brings_them_back(
    committed_db: Session,
) -> None:
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550177")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    checked_turn(
        investor,
        "alert me to flips in 48215 under $100k, quiet hours 9pm to 7am",
        thread,
        channel="whatsapp",
    )
    stopped = checked_turn(investor, "stop my alerts", thread, channel="whatsapp")
    assert stopped.reply.startswith("Deal alerts are off; your criteria are kept.")

    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is False
    assert criteria.zip_codes == ["48215"]
    assert criteria.max_price == Decimal("100000")
    assert criteria.quiet_hours_start is not None

    resumed = checked_turn(investor, "turn my alerts back on", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in resumed.tool_calls] == [
        ("configure_alerts", {"active": True})
    ]
    assert "48215" in resumed.reply
    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is True
    assert (criteria.zip_codes, criteria.strategies) == (["48215"], ["flip"])


def test_stopping_alerts_that_were_never_set_saves_nothing_and_says_so(
    committed_db: Session,
) -> None:
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550178")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    stopped = checked_turn(investor, "stop my alerts", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in stopped.tool_calls] == [
        ("configure_alerts", {"active": False})
    ]
    assert "you had none set up" in stopped.reply
    assert "criteria are kept" not in stopped.reply
    committed_db.expire_all()
    assert (
        alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id) is None
    )
