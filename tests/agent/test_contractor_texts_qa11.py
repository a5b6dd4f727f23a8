"""QA 11: a contractor's texts when they hold awarded bids on two jobs (Kellogg, Ridgewood).

Real offline turns (``checked_turn``), real database. Before: "decking is gonna be extra $850
on kellogg" was filed as the bid's new price of $850; "whats my start date on kellogg" as a
new start date; "hey its ray", "ok thanks" and every text naming no job made an action item
on both jobs; "when do i get paid for kellogg" was refused while "how much did hank bid" was
passed on; "need another 2 days on kellogg, found rotted decking" was a question.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, col, select

from agent.runner import TurnResult
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.construction import service as construction_service
from domain.construction.enums import ActivityKind
from domain.construction.models import BidCreate, ProjectActivity
from store.outbox import OutboxEvent
from tests.agent.turns import checked_turn
from tests.factories import make_contractor, make_org, make_project, make_property, make_user

KELLOGG = "1215 Kellogg Ave, Detroit, MI"
RIDGEWOOD = "800 Ridgewood Ave, Detroit, MI"


@dataclass
class Jobs:
    ray: User
    org_id: uuid.UUID
    kellogg: uuid.UUID
    ridgewood: uuid.UUID
    kellogg_start: dt.date


@pytest.fixture
def jobs(committed_db: Session) -> Jobs:
    """Ray's awarded bids: $9,200 on Kellogg (start in ten days), $6,500 on Ridgewood; Hank
    also bid $9,900 on Kellogg."""
    db = committed_db
    org = make_org(db, f"Contractor texts {uuid.uuid4().hex[:6]}")
    ray = make_contractor(db, org, name="Ray Alvarez")
    hank = make_contractor(db, org, name="Hank Roofing")
    start = local_today() + dt.timedelta(days=10)
    ids = []
    for street, total in (("1215 Kellogg Ave", "9200"), ("800 Ridgewood Ave", "6500")):
        prop = make_property(
            db, org, address_line=street, city="Detroit", state="MI", zip_code="48215"
        )
        project = make_project(db, org, property_id=prop.id, name=f"Rehab: {street}")
        if street.endswith("Kellogg Ave"):
            construction_service.create_bid(
                session=db, org_id=org.id, project_id=project.id,
                bid_in=BidCreate(contractor_id=hank.id, total_amount=Decimal("9900")),
            )  # fmt: skip
        bid = construction_service.create_bid(
            session=db, org_id=org.id, project_id=project.id,
            bid_in=BidCreate(
                contractor_id=ray.id, total_amount=Decimal(total),
                start_date=start if street.endswith("Kellogg Ave") else None,
            ),
        )  # fmt: skip
        construction_service.award_bid(
            session=db, org_id=org.id, project_id=project.id, bid_id=bid.id
        )
        ids.append(project.id)
    user = make_user(db, org, Role.contractor, phone_number=ray.phone)
    db.commit()
    return Jobs(user, org.id, ids[0], ids[1], start)


def _say(jobs: Jobs, text: str, thread: str | None = None) -> TurnResult:
    return checked_turn(jobs.ray, text, thread=thread, channel="whatsapp")


def _args(result: TurnResult) -> dict[str, Any]:
    assert len(result.tool_calls) == 1, result.tool_calls
    return dict(result.tool_calls[0].args)


def _responses(db: Session, jobs: Jobs) -> list[ProjectActivity]:
    db.expire_all()
    return list(
        db.exec(
            select(ProjectActivity)
            .where(
                ProjectActivity.org_id == jobs.org_id,
                ProjectActivity.kind == ActivityKind.contractor_response,
            )
            .order_by(col(ProjectActivity.created_at))
        )
    )


def _items_events(db: Session, jobs: Jobs) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent).where(
                OutboxEvent.org_id == jobs.org_id, OutboxEvent.name == "action.items.created"
            )
        )
    )


def test_extra_money_is_a_change_order_not_a_new_price(jobs: Jobs, committed_db: Session) -> None:
    """Was: "price for 1215 Kellogg is now $850.00 (bid accepted: $9,200)"."""
    said = "decking is gonna be extra $850 on kellogg"
    result = _say(jobs, said)
    assert _args(result) == {"kind": "extra", "message": said, "amount": "850", "reason": "decking"}
    assert "extra charge of $850" in result.reply and "for the decking" in result.reply
    assert "new price" not in result.reply
    (activity,) = _responses(committed_db, jobs)
    assert activity.project_id == jobs.kellogg
    (item,) = activity.details["action_items"]
    assert item["kind"] == "review_extra" and item["amount"] == "850.00"
    assert "asks for $850 extra (decking) on 1215 Kellogg Ave" in item["text"]
    assert "is now" not in item["text"]


@pytest.mark.parametrize(
    ("said", "shown", "hidden"),
    [
        ("whats my start date on kellogg", "start", RIDGEWOOD),
        ("what did i bid on kellogg", "$9,200", RIDGEWOOD),
        ("when do i start", KELLOGG, "$9,900"),
        ("what did i bid on ridgewood?", "$6,500", KELLOGG),
    ],
)
def test_questions_about_their_own_bid_are_answered_from_it(
    jobs: Jobs, committed_db: Session, said: str, shown: str, hidden: str
) -> None:
    """Was: a new start date (or a question) filed for the team on both jobs. Now: their own
    bids, only the job named when they name one; nothing filed."""
    result = _say(jobs, said)
    assert [c.name for c in result.tool_calls] == ["my_bids"]
    assert shown in result.reply and hidden not in result.reply
    assert "Hank" not in result.reply and "$9,900" not in result.reply
    if "kellogg" in said:
        assert f"{KELLOGG}: $9,200, awarded to you, start {jobs.kellogg_start}" in result.reply
    assert _responses(committed_db, jobs) == []


def test_greetings_and_thanks_file_nothing(jobs: Jobs, committed_db: Session) -> None:
    """Was: "hey its ray" and "ok thanks" each an action item on both jobs."""
    for said in ("hey its ray", "ok thanks", "thanks so much man"):
        result = _say(jobs, said)
        assert result.tool_calls == [], said
        assert "Text me any update" in result.reply
    assert _responses(committed_db, jobs) == [] and _items_events(committed_db, jobs) == []


def test_a_text_naming_no_job_goes_to_the_job_the_thread_is_about(
    jobs: Jobs, committed_db: Session
) -> None:
    """Was: "cant start till the 10th" and "roof gonna be more like 9.8k" after a Kellogg
    text were filed on Kellogg and Ridgewood. Now: on Kellogg only, a hello between or not."""
    thread = f"whatsapp:{uuid.uuid4().hex}"
    _say(jobs, "decking is gonna be extra $850 on kellogg", thread)
    _say(jobs, "hey its ray", thread)
    start = _say(jobs, "cant start till the 10th", thread)
    assert _args(start)["kind"] == "start_date" and "for 1215 Kellogg Ave" in start.reply
    price = _say(jobs, "roof gonna be more like 9.8k", thread)
    assert _args(price)["kind"] == "price" and "1215 Kellogg Ave" in price.reply
    assert [a.project_id for a in _responses(committed_db, jobs)] == [jobs.kellogg] * 3
    assert len(_items_events(committed_db, jobs)) == 3


def test_a_truly_ambiguous_text_is_filed_once_and_asks_which_job(
    jobs: Jobs, committed_db: Session
) -> None:
    """Was: one action item per job. Now: one, on no job, and the reply asks which."""
    result = _say(jobs, "cant start till the 10th")
    assert "which job is it?" in result.reply
    assert "1215 Kellogg Ave" in result.reply and "800 Ridgewood Ave" in result.reply
    (activity,) = _responses(committed_db, jobs)
    assert activity.project_id is None
    (event,) = _items_events(committed_db, jobs)
    (item,) = event.payload["items"]
    assert item["kind"] == "confirm_start" and "ask which" in item["text"]
    # Naming the street then files it there.
    named = _say(jobs, "cant start kellogg till the 10th")
    assert "for 1215 Kellogg Ave" in named.reply
    assert _responses(committed_db, jobs)[-1].project_id == jobs.kellogg


def test_pay_questions_are_passed_on_and_other_bids_refused(
    jobs: Jobs, committed_db: Session
) -> None:
    """Was: "when do i get paid for kellogg" refused as a budget question, "how much did hank
    bid" passed to the project manager."""
    paid = _say(jobs, "when do i get paid for kellogg")
    assert _args(paid)["kind"] == "question" and "project manager" in paid.reply
    (activity,) = _responses(committed_db, jobs)
    assert activity.project_id == jobs.kellogg
    assert activity.details["action_items"][0]["kind"] == "answer_contractor"
    hank = _say(jobs, "how much did hank bid")
    assert hank.tool_calls == [] and "not something I can do for you" in hank.reply
    assert "$9,900" not in hank.reply and len(_responses(committed_db, jobs)) == 1


def test_more_days_are_a_duration_update_with_the_reason(jobs: Jobs, committed_db: Session) -> None:
    """Was: filed as a question. Now: +2 days on Kellogg, the reason kept."""
    said = "need another 2 days on kellogg, found rotted decking"
    result = _say(jobs, said)
    assert _args(result) == {
        "kind": "duration",
        "message": said,
        "extra_days": 2,
        "reason": "found rotted decking",
    }
    assert "you need 2 more days on 1215 Kellogg Ave" in result.reply
    (activity,) = _responses(committed_db, jobs)
    assert activity.project_id == jobs.kellogg
    (item,) = activity.details["action_items"]
    assert item["kind"] == "review_duration" and item["extra_days"] == 2
    assert (
        "needs 2 more days on 1215 Kellogg Ave, Detroit, MI (found rotted decking)"
        in (item["text"])
    )


def test_days_late_is_extra_days_and_naming_the_job_after_which_files_it_there(
    jobs: Jobs, committed_db: Session
) -> None:
    """Was: "gonna be 2 days late" filed as "the job will take 2 days", and answering "which
    job is it?" with "the ridgewood one" filed a new message reading "the ridgewood one"."""
    thread = f"whatsapp:{uuid.uuid4().hex}"
    late = _say(jobs, "gonna be 2 days late", thread)
    assert _args(late)["extra_days"] == 2 and "duration_days" not in _args(late)
    assert "which job is it?" in late.reply
    named = _say(jobs, "the ridgewood one", thread)
    assert _args(named) == {
        "kind": "duration",
        "message": "gonna be 2 days late",
        "extra_days": 2,
        "project": "800 Ridgewood Ave, Detroit, MI",
    }
    assert "2 more days on 800 Ridgewood Ave" in named.reply
    assert _responses(committed_db, jobs)[-1].project_id == jobs.ridgewood
