"""QA of the contractor's side of the chat: their bids, their updates for the team, opt-out.

Real graph, tools and database on a small committed world; ``checked_turn`` asserts every
figure in a reply came from that turn's tool results. Ray's Roofing bid $8,000 on the
Kercheval rehab (budget $13,700); Hank's Heating bid $12,800 on it. Before: a contractor's
new start date, new price, progress, questions and "stop texting me" were "not understood"
(or "Which project?"), so nothing they said reached the team; "hi" showed the investor's
help; a photo asked for a street address. Now: the update is recorded on their own bid's
project (a ``contractor.responded`` activity with an action item, and ``action.items.created``)
for the project manager, the bid itself unchanged; an opt-out is marked as on a call.
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
from domain.auth.models import Organisation, User
from domain.construction import service as construction_service
from domain.construction.enums import ActivityKind
from domain.construction.models import Bid, BidCreate, ProjectActivity
from domain.voice.enums import CallPurpose, ScheduleStatus
from domain.voice.models import CallSchedule
from store.outbox import OutboxEvent
from tests.agent.turns import checked_turn
from tests.factories import make_contractor, make_org, make_project, make_property, make_user
from tools import CONTRACTOR_TOOL_NAMES, tools_for_role

HANK_AND_BUDGET = ("$12,800", "12,800", "Hank", "$13,700", "13,700", "$9,000", "$3,800")


@dataclass
class Site:
    ray: User  # Ray's Roofing's account (his phone number)
    org_id: uuid.UUID
    contractor_id: uuid.UUID
    project_id: uuid.UUID
    bid_id: uuid.UUID
    start: dt.date


@pytest.fixture
def site(committed_db: Session) -> Site:
    """The Kercheval rehab with Ray's $8,000 roof bid (start in ten days) and Hank's."""
    db = committed_db
    org = make_org(db, f"Contractor QA {uuid.uuid4().hex[:6]}")
    prop = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    project = make_project(db, org, property_id=prop.id, name="Rehab: 14500 Kercheval Ave")
    roof, furnace = construction_service.list_scope_items(
        session=db, org_id=org.id, project_id=project.id
    )
    ray = make_contractor(db, org, name="Ray's Roofing")
    hank = make_contractor(db, org, name="Hank's Heating", trades=["hvac"])
    start = local_today() + dt.timedelta(days=10)
    bid = construction_service.create_bid(
        session=db, org_id=org.id, project_id=project.id,
        bid_in=BidCreate.model_validate({
            "contractor_id": ray.id, "start_date": start,
            "line_items": [{"scope_item_id": str(roof.id), "amount": "8000"}],
        }),
    )  # fmt: skip
    construction_service.create_bid(
        session=db, org_id=org.id, project_id=project.id,
        bid_in=BidCreate.model_validate({
            "contractor_id": hank.id,
            "line_items": [{"scope_item_id": str(roof.id), "amount": "9000"},
                           {"scope_item_id": str(furnace.id), "amount": "3800"}],
        }),
    )  # fmt: skip
    user = make_user(db, org, Role.contractor, phone_number=ray.phone)
    db.commit()
    return Site(user, org.id, ray.id, project.id, bid.id, start)


def _calls(result: TurnResult) -> list[tuple[str, bool]]:
    return [(c.name, c.ok) for c in result.tool_calls]


def _args(result: TurnResult) -> dict[str, Any]:
    assert len(result.tool_calls) == 1, result.tool_calls
    return dict(result.tool_calls[0].args)


def _say(site: Site, text: str) -> TurnResult:
    return checked_turn(site.ray, text, channel="whatsapp")


def _responses(db: Session, site: Site) -> list[ProjectActivity]:
    db.expire_all()
    return list(
        db.exec(
            select(ProjectActivity)
            .where(
                ProjectActivity.org_id == site.org_id,
                ProjectActivity.kind == ActivityKind.contractor_response,
            )
            .order_by(col(ProjectActivity.created_at))
        )
    )


def _events(db: Session, site: Site, name: str) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent).where(OutboxEvent.org_id == site.org_id, OutboxEvent.name == name)
        )
    )


def _safe(reply: str) -> None:
    for other in HANK_AND_BUDGET:
        assert other not in reply, reply


@pytest.mark.parametrize(
    "said",
    [
        "was my roof bid accepted?",
        "¿recibieron mi cotización?",
        "can you send me the address again?",
        "show me all bids",
    ],
)
def test_bid_questions_show_only_their_own_bid(site: Site, said: str) -> None:
    """Was: "Which project?", "not understood" or noted as a message. Now: their own bids."""
    result = _say(site, said)
    assert _calls(result) == [("my_bids", True)], said
    assert "• 14500 Kercheval Ave, Detroit, MI: $8,000, received, not decided yet" in result.reply
    _safe(result.reply)


def test_a_new_start_date_is_passed_to_the_team_and_the_bid_is_unchanged(
    site: Site, committed_db: Session
) -> None:
    """Was: not understood, nothing kept. Now: Monday's date goes to the project's activity
    with a "confirm_start" action item (as a call's would), and the events the team gets."""
    today = local_today()
    monday = today + dt.timedelta(days=(0 - today.weekday()) % 7 or 7)
    result = _say(site, "I can start Monday instead of the 3rd")
    assert _calls(result) == [("contractor_update", True)]
    assert _args(result)["kind"] == "start_date"
    assert _args(result)["start_date"] == monday.isoformat()
    assert f"new start date ({monday.isoformat()})" in result.reply
    assert "project manager" in result.reply and "$8,000" in result.reply
    (activity,) = _responses(committed_db, site)
    assert activity.project_id == site.project_id
    assert "I can start Monday instead of the 3rd" in activity.summary
    assert activity.details["channel"] == "whatsapp"
    (item,) = activity.details["action_items"]
    assert item["kind"] == "confirm_start" and item["date"] == monday.isoformat()
    (responded,) = _events(committed_db, site, "contractor.responded")
    assert activity.source_event_id == responded.id
    (created,) = _events(committed_db, site, "action.items.created")
    assert created.payload["project_id"] == str(site.project_id)
    assert created.payload["items"] == [item]
    # The relay delivering the same event later records nothing twice.
    again = construction_service.record_contractor_response(
        session=committed_db, org_id=site.org_id, event_id=responded.id, payload=responded.payload
    )
    assert again.id == activity.id
    bid = committed_db.get(Bid, site.bid_id)
    assert bid is not None and bid.start_date == site.start


def test_a_new_price_is_for_the_team_to_review_not_a_new_bid(
    site: Site, committed_db: Session
) -> None:
    """Was: "my price went up to 9,500" answered with the old $8,000 bid as if all was well.
    Now: $9,500 is passed on for review; the bid on file stays $8,000, no second bid."""
    result = _say(site, "my price went up to 9,500 for the roof")
    assert _calls(result) == [("contractor_update", True)]
    assert _args(result) == {
        "kind": "price",
        "message": "my price went up to 9,500 for the roof",
        "amount": "9500",
    }
    assert "new price of $9,500" in result.reply and "Your bid on file: $8,000" in result.reply
    _safe(result.reply)
    (activity,) = _responses(committed_db, site)
    (item,) = activity.details["action_items"]
    assert item["kind"] == "review_price" and item["amount"] == "9500.00"
    bids = construction_service.list_bids(
        session=committed_db, org_id=site.org_id, project_id=site.project_id
    )
    assert len(bids) == 2
    assert next(b for b in bids if b.id == site.bid_id).total_amount == Decimal("8000.00")


@pytest.mark.parametrize(
    ("said", "kind", "item_kind"),
    [
        ("I can't do the job anymore", "withdraw", "contractor_withdrew"),
        ("I finished the tear off today", "progress", "progress_note"),
        ("who do I invoice?", "question", "answer_contractor"),
        ("what's the lockbox code?", "question", "answer_contractor"),
        ("when do you need me to start?", "question", "answer_contractor"),
        ("the roof will take 5 days not 3", "duration", "review_duration"),
        ("running late, rain today", "progress", "progress_note"),
    ],
)
def test_what_the_assistant_cannot_answer_is_recorded_for_the_project_manager(
    site: Site, committed_db: Session, said: str, kind: str, item_kind: str
) -> None:
    """Was: "Sorry, I didn't understand that. Send a street address". Now: the words reach
    the project's activity with an action item, and the reply says who will act."""
    result = _say(site, said)
    assert _calls(result) == [("contractor_update", True)], said
    assert _args(result)["kind"] == kind
    assert "the project manager" in result.reply and "street address" not in result.reply
    _safe(result.reply)
    (activity,) = _responses(committed_db, site)
    assert activity.project_id == site.project_id and activity.details["message"] == said
    assert activity.details["action_items"][0]["kind"] == item_kind
    if kind == "duration":
        assert _args(result)["duration_days"] == 5 and "will take 5 days" in result.reply


def test_stop_texting_me_opts_out_as_on_a_call(site: Site, committed_db: Session) -> None:
    """Was: not understood. Now: opted out (``mark_contractor_opted_out``, reason noted), the
    pending call cancelled, and the team told; a second "STOP" changes nothing more."""
    committed_db.add(
        CallSchedule(
            org_id=site.org_id,
            contractor_id=site.contractor_id,
            project_id=site.project_id,
            purpose=CallPurpose.follow_up,
            scheduled_for=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    )
    committed_db.commit()
    result = _say(site, "stop texting me")
    assert _calls(result) == [("contractor_update", True)] and _args(result)["kind"] == "opt_out"
    assert "you're opted out" in result.reply and "Scheduled calls cancelled: 1" in result.reply
    committed_db.expire_all()
    ray = construction_service.get_contractor(
        session=committed_db, org_id=site.org_id, contractor_id=site.contractor_id
    )
    assert ray.opted_out and 'in whatsapp chat: "stop texting me"' in (ray.notes or "")
    (schedule,) = committed_db.exec(
        select(CallSchedule).where(CallSchedule.contractor_id == site.contractor_id)
    ).all()
    assert schedule.status == ScheduleStatus.cancelled
    (activity,) = _responses(committed_db, site)
    assert activity.details["action_items"][0]["kind"] == "opted_out"
    again = _say(site, "STOP")
    assert "already opted out" in again.reply
    # ... and records nothing more for the team (was: a second activity and action item).
    assert len(_responses(committed_db, site)) == 1


@pytest.mark.parametrize(
    "said",
    [
        "what's the budget on the kercheval job?",
        "what did Hank bid?",
        "what bids came in for 14500 Kercheval Ave?",
        "14500 Kercheval Ave",
    ],
)
def test_what_only_the_team_sees_is_refused_without_figures(site: Site, said: str) -> None:
    """Was: "Which deal? Say 'budget for deal'...", "Which project? Give its id" (as if they
    could ask). Now: a plain refusal that says what they can do, no tool, no figures."""
    result = _say(site, said)
    assert result.tool_calls == []
    assert "not something I can do for you" in result.reply
    assert "Send 'my bids' for yours" in result.reply
    _safe(result.reply)


def test_hi_a_photo_and_thanks(site: Site, committed_db: Session) -> None:
    """Was: the investor's help (deal analysis, max offers), "send a street address" for a
    photo, and "not understood" for thanks. Now: the contractor's help; the photo noted on
    the job for the team; thanks answered without recording anything."""
    hi = _say(site, "hi")
    assert hi.tool_calls == [] and "did you get my bid?" in hi.reply
    assert "max offer" not in hi.reply and "deal analysis" not in hi.reply
    photo = checked_turn(site.ray, "(attached media documents: 3f2a9c1d)", channel="web")
    assert _calls(photo) == [("contractor_update", True)] and _args(photo)["kind"] == "photo"
    assert "noted on 14500 Kercheval Ave" in photo.reply
    thanks = _say(site, "thanks")
    assert thanks.tool_calls == [] and "You're welcome" in thanks.reply
    (activity,) = _responses(committed_db, site)
    assert activity.details["channel"] == "web" and activity.details["kind"] == "photo"


def test_a_message_about_one_of_several_jobs(site: Site, committed_db: Session) -> None:
    """With bids on two projects, a message naming neither is noted once, on no job (the
    reply asks which); one naming a street goes on that project only."""
    db = committed_db
    org = db.get(Organisation, site.org_id)
    assert org is not None
    mack = make_property(
        db,
        org,
        address_line="9000 Mack Ave",
        city="Detroit",
        state="MI",
        zip_code="48214",
    )
    second = make_project(
        db,
        org,
        property_id=mack.id,
        name="Make-ready: 9000 Mack Ave",
    )
    construction_service.create_bid(
        session=db,
        org_id=site.org_id,
        project_id=second.id,
        bid_in=BidCreate(contractor_id=site.contractor_id, total_amount=Decimal("4100")),
    )
    db.commit()
    both = _say(site, "running late today")
    assert "You have bids on" in both.reply and "9000 Mack Ave" in both.reply
    # Noted once, on no job (QA 11: was once on each), and the reply asks which.
    assert [a.project_id for a in _responses(db, site)] == [None]
    one = _say(site, "I'll start the mack job on Monday")
    assert _args(one)["kind"] == "start_date" and "for 9000 Mack Ave" in one.reply
    latest = _responses(db, site)[-1]
    assert latest.project_id == second.id and len(_responses(db, site)) == 2


def test_contractor_tools_stay_strict(site: Site, committed_db: Session) -> None:
    """A contractor gets their two tools and nothing of the team's; the team never gets the
    contractor tool; an account not linked to a contractor record is told so."""
    assert CONTRACTOR_TOOL_NAMES == {"my_bids", "contractor_update"}
    assert {t.name for t in tools_for_role(Role.contractor)} == CONTRACTOR_TOOL_NAMES
    for role in (Role.admin, Role.analyst, Role.investor):
        assert "contractor_update" not in {t.name for t in tools_for_role(role)}
    org = committed_db.get(Organisation, site.org_id)
    assert org is not None
    stranger = make_user(committed_db, org, Role.contractor, phone_number="+13125550998")
    committed_db.commit()
    result = checked_turn(stranger, "I can start Monday")
    assert _calls(result) == [("contractor_update", False)]
    assert result.reply.startswith("Sorry, I couldn't pass that on to the team: your account")


def test_the_service_refuses_bad_updates(site: Site, committed_db: Session) -> None:
    """Bad input is refused with the reason; another organisation's contractor is not found."""
    service = construction_service
    common: dict[str, Any] = {
        "session": committed_db,
        "org_id": site.org_id,
        "contractor_id": site.contractor_id,
        "channel": "web",
    }
    with pytest.raises(service.ConstructionInputError, match="kind 'award'"):
        service.record_contractor_update(**common, kind="award", message="award me")
    with pytest.raises(service.ConstructionInputError, match="message is empty"):
        service.record_contractor_update(**common, kind="other", message="   ")
    with pytest.raises(service.ConstructionInputError, match="is in the past"):
        service.record_contractor_update(
            **common, kind="start_date", message="x", start_date=dt.date(2020, 1, 6)
        )
    with pytest.raises(service.NotFoundError):
        service.record_contractor_update(
            **(common | {"org_id": uuid.uuid4()}), kind="other", message="hello there"
        )
    committed_db.rollback()


def test_the_team_sees_what_the_contractor_said_in_the_project_status(
    site: Site, committed_db: Session
) -> None:
    """Was: the team's "how is the rehab going?" never showed contractors' messages; they
    were only on ``GET /projects/{id}``."""
    _say(site, "I can start Monday instead of the 3rd")
    org = committed_db.get(Organisation, site.org_id)
    assert org is not None
    analyst = make_user(committed_db, org, Role.analyst)
    committed_db.commit()
    status = checked_turn(analyst, "how is the rehab on 14500 kercheval ave going?")
    assert _calls(status) == [("project_status", True)]
    line = f"• {local_today().isoformat()}: Ray's Roofing"
    assert line in status.reply and "I can start Monday instead of the 3rd" in status.reply
