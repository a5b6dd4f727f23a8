"""Telling contractors how their bids went, on WhatsApp, when a bid is awarded.

``notify_award`` runs from the ``bid.awarded`` subscriber (``domain/construction/subscribers``):
the winner hears "your bid for <lines> at <address> was accepted, start <date>", and each
contractor whose bid the award rejected hears it was not selected this time. The messages go
into the WhatsApp outbox (``whatsapp_service.queue_text``; the sender or its sweeper delivers
them, or records them without Twilio credentials), keyed by the event and the bid, so a
redelivered event queues nothing twice. A contractor who opted out, has no phone or no
longer exists is skipped (and said so in the result).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from core.config import get_settings
from domain.auth import service as auth_service
from domain.construction import service
from domain.construction.models import Bid, Contractor, Project, ScopeItem

log = logging.getLogger(__name__)


@dataclass
class AwardNotices:
    """What ``notify_award`` did: who was messaged (outbox message ids), who was skipped."""

    queued: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)


def _lines_text(bid: Bid, scope: Mapping[uuid.UUID, ScopeItem]) -> str:
    """The scope lines a bid priced, by name ("roof, gutters"); a lump sum is the whole job."""
    names = [
        scope[item_id].component if item_id in scope else "a scope line"
        for item_id in service._bid_line_amounts(bid)
    ]
    return ", ".join(names) if names else "the whole job"


def _date_text(value: dt.date) -> str:
    return f"{value:%A}, {value:%B} {value.day}, {value.year}"


def winner_text(*, company: str, name: str, lines: str, address: str, start: dt.date | None) -> str:
    """The message to the contractor whose bid was accepted."""
    when = (
        f"start {_date_text(start)}"
        if start is not None
        else "we will confirm the start date with you"
    )
    return (
        f"Hi {name}, this is {company}. Your bid for {lines} at {address} was accepted, "
        f"{when}. Thank you!"
    )


def not_selected_text(*, company: str, name: str, lines: str, address: str) -> str:
    """The message to a contractor whose bid on the same work was not chosen."""
    return (
        f"Hi {name}, this is {company}. Thank you for your bid for {lines} at {address}: it "
        "was not selected this time. We will reach out for the next job."
    )


def _uuids(values: Any) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for value in values if isinstance(values, list) else []:
        try:
            found.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return found


def _queue(
    *,
    session: Session,
    contractor: Contractor | None,
    text: str,
    key: str,
    bid: Bid,
    done: AwardNotices,
) -> None:
    from domain.whatsapp import service as whatsapp_service  # late: keeps the modules apart

    if contractor is None:
        done.skipped[bid.contractor_id] = "the contractor no longer exists"
        return
    if contractor.opted_out:
        done.skipped[contractor.id] = "opted out"
        return
    if not contractor.phone:
        done.skipped[contractor.id] = "no phone number"
        return
    conversation = whatsapp_service.get_or_create_conversation(
        session=session, org_id=contractor.org_id, phone_number=contractor.phone
    )
    messages = whatsapp_service.queue_text(
        session=session,
        conversation=conversation,
        text=text,
        key=key,
        template_sid=get_settings().twilio_template_content_sid,
    )
    done.queued[contractor.id] = [m.id for m in messages]


def notify_award(
    *,
    session: Session,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    payload: Mapping[str, Any],
) -> AwardNotices:
    """Queue the WhatsApp messages for one award (``bid.awarded``); idempotent per event.

    Every row is read in ``org_id`` (never from the payload's figures): the awarded bid, the
    bids it rejected, their contractors and the project's scope lines and address.
    """
    done = AwardNotices()
    bid_ids = _uuids([payload.get("bid_id")])
    project_ids = _uuids([payload.get("project_id")])
    if not bid_ids or not project_ids:
        log.warning("bid.awarded %s names no bid or project; nobody told", event_id)
        return done
    project = session.exec(
        select(Project).where(Project.id == project_ids[0], Project.org_id == org_id)
    ).first()
    if project is None:
        return done
    wanted = [bid_ids[0], *_uuids(payload.get("rejected_bid_ids"))]
    bids = {
        b.id: b
        for b in session.exec(
            select(Bid).where(
                Bid.org_id == org_id, Bid.project_id == project.id, col(Bid.id).in_(wanted)
            )
        )
    }
    winner = bids.get(bid_ids[0])
    if winner is None:
        return done
    contractors = {
        c.id: c
        for c in session.exec(
            select(Contractor).where(
                Contractor.org_id == org_id,
                col(Contractor.id).in_({b.contractor_id for b in bids.values()}),
            )
        )
    }
    scope = {
        item.id: item
        for item in service.list_scope_items(session=session, org_id=org_id, project_id=project.id)
    }
    organisation = auth_service.get_organisation(session=session, org_id=org_id)
    company = organisation.name if organisation else "our company"
    address = service.project_label(session=session, project=project)
    others: Sequence[Bid] = [b for i, b in bids.items() if i != winner.id]
    winner_contractor = contractors.get(winner.contractor_id)
    _queue(
        session=session,
        contractor=winner_contractor,
        text=winner_text(
            company=company,
            name=winner_contractor.name if winner_contractor else "there",
            lines=_lines_text(winner, scope),
            address=address,
            start=winner.start_date,
        ),
        key=f"bid-award:{event_id}:{winner.id}",
        bid=winner,
        done=done,
    )
    for other in others:
        contractor = contractors.get(other.contractor_id)
        if contractor is not None and contractor.id in done.queued:
            continue  # one message per contractor: the winner is not told they lost too
        _queue(
            session=session,
            contractor=contractor,
            text=not_selected_text(
                company=company,
                name=contractor.name if contractor else "there",
                lines=_lines_text(other, scope),
                address=address,
            ),
            key=f"bid-award:{event_id}:{other.id}",
            bid=other,
            done=done,
        )
    log.info(
        "award notices queued",
        extra={
            "event_id": str(event_id),
            "queued": len(done.queued),
            "skipped": {str(k): v for k, v in done.skipped.items()},
        },
    )
    return done
