"""Investors' alert criteria and the alerts the monitor sends them on WhatsApp.

An investor has one set of criteria (areas as ZIPs or cities, a price range, a minimum score
and return, strategies, quiet hours in their time zone). A new matching opportunity (or an
open one re-scored into the criteria, e.g. by a price cut) makes one ``alerts`` row per
investor: the unique (criteria, opportunity) key means an opportunity found again, a
redelivered event or a re-run scan never alerts twice.

Each alert is recorded whatever happens to it:

- ``queued``: handed to the WhatsApp outbox (``whatsapp_service.queue_text``), which sends it
  through Twilio, or keeps it ``recorded`` in the outbox when Twilio is not configured;
- ``held``: it fell in the investor's quiet hours; ``send_after`` is when they end, and
  ``release_held_alerts`` (the monitor's scheduled tick) queues it then (quiet hours changed
  meanwhile move ``send_after``: it never goes out in the investor's current quiet hours),
  its text rebuilt from the opportunity's figures of that moment (a re-score or price cut
  while it waited is what it says);
- ``no_phone``: the investor has no phone number (or is inactive): nothing can be sent;
- ``skipped``: it was held, and when quiet hours ended the opportunity was closed, the listing
  off the market or the criteria no longer matched; or the user's role no longer lets them see
  opportunities (a contractor now): not sent.

``status_reason`` says why for ``no_phone`` and ``skipped``; ``message`` stays the text that
would have been sent.

Nothing here calls Twilio: queueing is a database write, so it is safe inside an event
handler's transaction (the WhatsApp sender and its sweeper send what is queued).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.config import get_settings
from core.paging import count_rows
from domain.analysis.formatting import dollars
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.service import Principal, record_audit
from domain.market.enums import AlertStatus, ListingStatus, OpportunityStatus
from domain.market.models import (
    AlertCriteria,
    AlertCriteriaIn,
    MarketAlert,
    Opportunity,
    TrackedListing,
)
from domain.market.scoring import MAX_STORED_PCT
from domain.whatsapp import service as whatsapp_service
from store.base import utcnow
from store.outbox import publish

log = logging.getLogger(__name__)

# Alerts for opportunities that already existed when criteria are configured: the best few.
ALERTS_ON_CONFIGURE = 5
MAX_HELD_RELEASED = 500
# Rows on one page of GET /alerts and GET /opportunities/latest (the market service's bound).
MAX_LIST_LIMIT = 200


class AlertError(Exception):
    """Base class of the alert errors."""


class AlertNotFoundError(AlertError, LookupError):
    """The user or criteria are not in the caller's organisation (HTTP 404)."""


class AlertPermissionError(AlertError, PermissionError):
    """The caller may not configure someone else's alerts (HTTP 403)."""


class AlertValidationError(AlertError, ValueError):
    """The criteria cannot be saved as given, e.g. for a user who may not see deals (HTTP 422)."""


# Roles that may see the organisation's opportunities (``GET /opportunities/latest``), so may
# get them as alerts: a contractor never gets the company's deal flow on WhatsApp.
ALERT_ROLES = frozenset({Role.admin, Role.analyst, Role.investor})


def may_get_alerts(role: Role | str) -> bool:
    """True when a user with ``role`` may be sent deal alerts."""
    return role in ALERT_ROLES


# --- criteria ------------------------------------------------------------------------------

# The unique key of ``AlertCriteria``: one set per user of an organisation.
CRITERIA_UNIQUE_KEY = "uq_alert_criteria_org_user"


def get_criteria(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID
) -> AlertCriteria | None:
    """A user's alert criteria, if they configured any."""
    return session.exec(
        select(AlertCriteria).where(
            AlertCriteria.org_id == org_id, AlertCriteria.user_id == user_id
        )
    ).first()


def get_criteria_by_id(
    *, session: Session, org_id: uuid.UUID, criteria_id: uuid.UUID
) -> AlertCriteria | None:
    """Alert criteria by id, in the organisation."""
    return session.exec(
        select(AlertCriteria).where(AlertCriteria.org_id == org_id, AlertCriteria.id == criteria_id)
    ).first()


def configure_alerts(
    *, session: Session, org_id: uuid.UUID, principal: Principal, criteria_in: AlertCriteriaIn
) -> AlertCriteria:
    """Create or replace a user's criteria (the caller's own unless an admin/analyst names one).

    Everything given replaces what was saved (quiet hours left out: none), except the time
    zone: left out, the saved one stays (new criteria: the company's, ``DEFAULT_TIMEZONE``).

    Publishes ``monitor.configured``; the market module's handler then alerts the user about
    the best existing opportunities that match.
    """
    user_id = criteria_in.user_id or principal.user_id
    if user_id != principal.user_id and principal.role not in (Role.admin, Role.analyst):
        raise AlertPermissionError("only admins and analysts configure another user's alerts")
    user = auth_service.get_user(session=session, org_id=org_id, user_id=user_id)
    if user is None:
        raise AlertNotFoundError(f"user {user_id} not found")
    if not may_get_alerts(user.role):
        raise AlertValidationError(
            f"user {user_id} is a {Role(user.role).value}, and a {Role(user.role).value} may not "
            "see the company's opportunities: deal alerts go only to admins, analysts and "
            "investors"
        )
    values = criteria_in.model_dump(exclude={"user_id"})
    values["strategies"] = [str(s) for s in criteria_in.strategies]
    criteria, created = get_criteria(session=session, org_id=org_id, user_id=user_id), False
    if criteria is None:
        criteria, created = _insert_criteria(
            session=session, org_id=org_id, user_id=user_id, values=values
        )
    if not created:
        if "timezone" not in criteria_in.model_fields_set:
            # A save that names no time zone never moves the investor to another one.
            values["timezone"] = criteria.timezone
        for key, value in values.items():
            setattr(criteria, key, value)
        criteria.updated_at = utcnow()
        session.add(criteria)
        session.flush()
    _reschedule_held(session=session, criteria=criteria)
    publish(
        session,
        org_id=org_id,
        name="monitor.configured",
        payload={"criteria_id": criteria.id, "user_id": user_id, "active": criteria.active},
    )
    record_audit(
        session=session,
        principal=principal,
        action="configure",
        entity="alert_criteria",
        entity_id=criteria.id,
        changes={"user_id": user_id, **criteria_in.model_dump(mode="json", exclude={"user_id"})},
    )
    return criteria


def _insert_criteria(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, values: dict[str, Any]
) -> tuple[AlertCriteria, bool]:
    """Insert a user's first criteria; ``(criteria, True)``, or theirs saved meanwhile, ``False``.

    Two first saves at once both find none; the unique key (org, user) makes the second insert
    wait for the first and then refuses it. Inserted in a savepoint, that refusal leaves this
    transaction usable, and the criteria the other save committed are replaced by this one,
    as a save just after it would (the caller applies the values).
    """
    criteria = AlertCriteria(org_id=org_id, user_id=user_id, **values)
    try:
        with session.begin_nested():
            session.add(criteria)
            session.flush()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint != CRITERIA_UNIQUE_KEY:
            raise
        existing = get_criteria(session=session, org_id=org_id, user_id=user_id)
        if existing is None:  # saved and deleted again meanwhile: nothing to replace
            raise
        return existing, False
    return criteria, True


def set_alerts_active(
    *, session: Session, org_id: uuid.UUID, principal: Principal, active: bool
) -> AlertCriteria | None:
    """Stop or resume the caller's own alerts, keeping their criteria; None if they have none.

    "Stop my alerts" must not wipe the ZIPs, prices and quiet hours: saving ``active=false``
    through ``configure_alerts`` replaces them, and a later "turn them back on" would then
    match every opportunity. Publishes ``monitor.configured`` like a save.
    """
    criteria = get_criteria(session=session, org_id=org_id, user_id=principal.user_id)
    if criteria is None:
        return None
    if criteria.active != active:
        criteria.active = active
        criteria.updated_at = utcnow()
        session.add(criteria)
        session.flush()
        publish(
            session,
            org_id=org_id,
            name="monitor.configured",
            payload={"criteria_id": criteria.id, "user_id": criteria.user_id, "active": active},
        )
        record_audit(
            session=session,
            principal=principal,
            action="resume" if active else "stop",
            entity="alert_criteria",
            entity_id=criteria.id,
            changes={"active": active},
        )
    return criteria


def _reschedule_held(*, session: Session, criteria: AlertCriteria) -> None:
    """Held alerts wait for the quiet hours as they are now (shorter, longer or none)."""
    now = utcnow()
    send_after = quiet_until(criteria, now) or now
    for alert in session.exec(
        select(MarketAlert).where(
            MarketAlert.org_id == criteria.org_id,
            MarketAlert.criteria_id == criteria.id,
            MarketAlert.status == AlertStatus.held,
        )
    ).all():
        alert.send_after = send_after
        session.add(alert)
    session.flush()


def matches(criteria: AlertCriteria, opportunity: Opportunity, listing: TrackedListing) -> bool:
    """True when an open opportunity on an active listing meets every one of the criteria."""
    if not criteria.active or opportunity.status != OpportunityStatus.open:
        return False
    if listing.status not in (ListingStatus.new, ListingStatus.active):
        return False
    area_given = bool(criteria.zip_codes or criteria.cities)
    in_area = (listing.zip_code or "") in criteria.zip_codes or (
        (listing.city or "").upper() in criteria.cities
    )
    if area_given and not in_area:
        return False
    price = listing.list_price
    if criteria.min_price is not None and (price is None or price < criteria.min_price):
        return False
    if criteria.max_price is not None and (price is None or price > criteria.max_price):
        return False
    if criteria.min_score is not None and (
        opportunity.score is None or opportunity.score < criteria.min_score
    ):
        return False
    if criteria.min_roi_pct is not None and (
        opportunity.roi_estimate is None or opportunity.roi_estimate < criteria.min_roi_pct
    ):
        return False
    if criteria.strategies and (opportunity.strategy or "") not in criteria.strategies:
        return False
    return True


def quiet_until(criteria: AlertCriteria, now: dt.datetime) -> dt.datetime | None:
    """When the investor's quiet hours end (UTC) if ``now`` falls in them; else None."""
    start, end = criteria.quiet_hours_start, criteria.quiet_hours_end
    if start is None or end is None:
        return None
    zone = ZoneInfo(criteria.timezone)
    local = now.astimezone(zone)
    moment = local.time().replace(tzinfo=None)
    if start < end:
        quiet = start <= moment < end
        end_day = local.date()
    else:  # wraps midnight, e.g. 22:00-07:00
        quiet = moment >= start or moment < end
        end_day = local.date() if moment < end else local.date() + dt.timedelta(days=1)
    if not quiet:
        return None
    ends = dt.datetime.combine(end_day, end, tzinfo=zone).astimezone(dt.UTC)
    if ends <= now:
        # The end's wall time happens twice on a DST fall-back day and ``now`` is in the
        # repeated hour: quiet hours end at its second occurrence, not one already past.
        ends = dt.datetime.combine(end_day, end.replace(fold=1), tzinfo=zone).astimezone(dt.UTC)
    return ends


def local_time_text(moment: dt.datetime, timezone: str, now: dt.datetime | None = None) -> str:
    """A moment as the investor reads it, in their zone: "7:00 am tomorrow (America/Detroit)".

    Today and tomorrow by name, another day as "Mon 30 Nov"; an unknown zone reads as UTC.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    local = moment.astimezone(zone)
    today = (now or utcnow()).astimezone(zone).date()
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'}"
    if local.date() == today:
        day = "today"
    elif local.date() == today + dt.timedelta(days=1):
        day = "tomorrow"
    else:
        day = f"{local:%a} {local.day} {local:%b}"
    return f"{clock} {day} ({timezone})"


# --- alerts --------------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    """Whole dollars exactly as the chat and the analysis write them (rounded half up)."""
    return dollars(value) if value is not None else "n/a"


def alert_text(opportunity: Opportunity, listing: TrackedListing) -> str:
    """The WhatsApp text of an alert: where, how much, why, and what to do next."""
    place = ", ".join(p for p in (listing.address_line, listing.city) if p)
    if listing.zip_code:
        place += f" {listing.zip_code}"
    details = opportunity.details or {}
    reasons = sorted(
        (c for c in details.get("components", []) if c.get("contribution")),
        key=lambda c: Decimal(c["contribution"]),
        reverse=True,
    )[:2]
    why = "; ".join(str(c.get("explanation", "")) for c in reasons)
    strategy = str(opportunity.strategy) if opportunity.strategy else "n/a"
    roi = f"{opportunity.roi_estimate}%" if opportunity.roi_estimate is not None else "n/a"
    if opportunity.roi_estimate is not None and opportunity.roi_estimate >= MAX_STORED_PCT:
        roi = "unlimited (all cash back out)"
    text = (
        f"New deal match (score {opportunity.score}/100): {place}, listed at "
        f"{_money(listing.list_price)}. Best strategy: {strategy}, return {roi}; "
        f"rehab ~{_money(opportunity.rehab_estimate)}, as-is {_money(opportunity.as_is_value)}, "
        f"ARV {_money(opportunity.arv)}."
    )
    if why:
        text += f" Why: {why}."
    text += " Text me the address for the full analysis."
    return text[: whatsapp_service.MAX_BODY_CHARS * 2]


def _deliver(
    session: Session, alert: MarketAlert, opportunity: Opportunity, now: dt.datetime
) -> None:
    """Queue the alert on WhatsApp, or record why it is held or cannot be sent."""
    user = auth_service.get_user(session=session, org_id=alert.org_id, user_id=alert.user_id)
    if user is not None and not may_get_alerts(user.role):
        # Their role changed after they set criteria: they may no longer see deals.
        alert.status = AlertStatus.skipped
        alert.status_reason = (
            f"the user is a {Role(user.role).value} now, and may not see the company's "
            "opportunities"
        )
        session.add(alert)
        return
    if user is None or not user.is_active or not user.phone_number:
        alert.status = AlertStatus.no_phone
        alert.status_reason = (
            "the investor's account is inactive"
            if user is not None and not user.is_active
            else "the investor has no phone number on their account"
        )
        session.add(alert)
        return
    conversation = whatsapp_service.get_or_create_conversation(
        session=session, org_id=alert.org_id, phone_number=user.phone_number, user_id=user.id
    )
    messages = whatsapp_service.queue_text(
        session=session,
        conversation=conversation,
        text=alert.message,
        key=f"market-alert:{alert.id}",
        template_sid=get_settings().twilio_template_content_sid,
    )
    alert.status = AlertStatus.queued
    alert.sent_at = now
    alert.outbox_message_ids = [str(m.id) for m in messages]
    opportunity.alert_sent = True
    session.add(alert)
    session.add(opportunity)


def alert_for_opportunities(
    *,
    session: Session,
    org_id: uuid.UUID,
    opportunities: Sequence[tuple[Opportunity, TrackedListing]],
    now: dt.datetime | None = None,
    criteria: Sequence[AlertCriteria] | None = None,
    source_event_id: uuid.UUID | None = None,
) -> list[MarketAlert]:
    """Alert every matching investor about each opportunity, once; return the new alerts."""
    now = now or utcnow()
    if not opportunities:
        return []
    if criteria is None:
        criteria = list(
            session.exec(
                select(AlertCriteria).where(
                    AlertCriteria.org_id == org_id, col(AlertCriteria.active).is_(True)
                )
            ).all()
        )
    created: list[MarketAlert] = []
    table = MarketAlert.__table__  # type: ignore[attr-defined]
    for rule in criteria:
        if rule.org_id != org_id:
            continue
        for opportunity, listing in opportunities:
            if opportunity.org_id != org_id or not matches(rule, opportunity, listing):
                continue
            held_until = quiet_until(rule, now)
            alert_id = session.execute(
                insert(table)
                .values(
                    id=uuid.uuid4(),
                    org_id=org_id,
                    criteria_id=rule.id,
                    opportunity_id=opportunity.id,
                    user_id=rule.user_id,
                    status=(AlertStatus.held if held_until else AlertStatus.queued).value,
                    channel="whatsapp",
                    message=alert_text(opportunity, listing),
                    send_after=held_until,
                    outbox_message_ids=[],
                    source_event_id=source_event_id,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(constraint="uq_alerts_criteria_opportunity")
                .returning(table.c.id)
            ).scalar_one_or_none()
            if alert_id is None:
                continue  # this investor was already alerted about this opportunity
            alert = session.get(MarketAlert, alert_id)
            assert alert is not None
            if held_until is None:
                _deliver(session, alert, opportunity, now)
            created.append(alert)
    session.flush()
    return created


def alert_existing_opportunities(
    *, session: Session, org_id: uuid.UUID, criteria_id: uuid.UUID, event_id: uuid.UUID | None
) -> list[MarketAlert]:
    """New criteria: alert about the best few open opportunities that already match them."""
    rule = get_criteria_by_id(session=session, org_id=org_id, criteria_id=criteria_id)
    if rule is None or not rule.active:
        return []
    rows = session.exec(
        select(Opportunity, TrackedListing)
        .join(TrackedListing, col(TrackedListing.id) == col(Opportunity.listing_id))
        .where(Opportunity.org_id == org_id, Opportunity.status == OpportunityStatus.open)
        .order_by(col(Opportunity.score).desc(), col(Opportunity.id))
        .limit(1000)
    ).all()
    matching = [(o, listing) for o, listing in rows if matches(rule, o, listing)]
    return alert_for_opportunities(
        session=session,
        org_id=org_id,
        opportunities=matching[:ALERTS_ON_CONFIGURE],
        criteria=[rule],
        source_event_id=event_id,
    )


def release_held_alerts(*, session: Session, now: dt.datetime | None = None) -> int:
    """Queue the held alerts whose quiet hours are over (every organisation); return how many."""
    now = now or utcnow()
    held = session.exec(
        select(MarketAlert)
        .where(MarketAlert.status == AlertStatus.held, col(MarketAlert.send_after) <= now)
        .order_by(col(MarketAlert.send_after))
        .limit(MAX_HELD_RELEASED)
        .with_for_update(skip_locked=True)
    ).all()
    released = 0
    for alert in held:
        try:
            with session.begin_nested():
                reason = _stale_reason(session, alert)
                criteria = session.get(AlertCriteria, alert.criteria_id)
                later = quiet_until(criteria, now) if reason is None and criteria else None
                if later is not None:
                    # The investor changed their quiet hours while it waited: still quiet.
                    alert.send_after = later
                    session.add(alert)
                elif reason is None:
                    opportunity = session.get(Opportunity, alert.opportunity_id)
                    assert opportunity is not None  # _stale_reason checked it
                    listing = session.get(TrackedListing, opportunity.listing_id)
                    assert listing is not None  # _stale_reason checked it
                    # Re-scored or repriced while it waited: it says the figures of now.
                    alert.message = alert_text(opportunity, listing)
                    _deliver(session, alert, opportunity, now)
                    released += 1
                else:
                    _skip(session, alert, reason)
        except Exception as exc:  # noqa: BLE001 - one bad alert must not stop the tick
            log.exception("could not release a held alert", extra={"alert_id": str(alert.id)})
            with session.begin_nested():
                _skip(session, alert, f"it could not be queued ({type(exc).__name__})")
    session.flush()
    return released


def _stale_reason(session: Session, alert: MarketAlert) -> str | None:
    """Why a held alert should no longer be sent (None: it still stands)."""
    opportunity = session.get(Opportunity, alert.opportunity_id)
    if opportunity is None or opportunity.org_id != alert.org_id:
        return "the opportunity no longer exists"
    if opportunity.status != OpportunityStatus.open:
        return "the opportunity was closed while the alert was held"
    listing = session.get(TrackedListing, opportunity.listing_id)
    if listing is None or listing.org_id != alert.org_id:
        return "the listing no longer exists"
    if listing.status not in (ListingStatus.new, ListingStatus.active):
        return f"the listing is {listing.status} now, no longer on the market"
    criteria = session.get(AlertCriteria, alert.criteria_id)
    if criteria is None or not criteria.active:
        return "the investor turned these alerts off"
    if not matches(criteria, opportunity, listing):
        return "the opportunity no longer matches the investor's criteria"
    return None


def _skip(session: Session, alert: MarketAlert, reason: str) -> None:
    """Record that a held alert was not sent, and why."""
    alert.status = AlertStatus.skipped
    alert.status_reason = reason
    session.add(alert)


def _alerts_query(
    *, org_id: uuid.UUID, user_id: uuid.UUID | None, status: AlertStatus | None
) -> SelectOfScalar[MarketAlert]:
    """The organisation's alerts, filtered (no order, no paging)."""
    query = select(MarketAlert).where(MarketAlert.org_id == org_id)
    if user_id is not None:
        query = query.where(MarketAlert.user_id == user_id)
    if status is not None:
        query = query.where(MarketAlert.status == status)
    return query


def list_alerts(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    status: AlertStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[MarketAlert]:
    """The organisation's alerts (one user's, one status's when given), newest first."""
    query = _alerts_query(org_id=org_id, user_id=user_id, status=status).order_by(
        col(MarketAlert.created_at).desc(), col(MarketAlert.id)
    )
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    return list(session.exec(query.limit(limit).offset(max(offset, 0))).all())


def _whose(principal: Principal, user_id: uuid.UUID | None, *, everyone: bool) -> uuid.UUID | None:
    """The user whose alerts a caller may see: their own, or anyone's for admins/analysts."""
    if principal.role in (Role.admin, Role.analyst):
        return user_id if user_id is not None or everyone else principal.user_id
    if user_id is not None and user_id != principal.user_id:
        raise AlertPermissionError("only admins and analysts see another user's alerts")
    return principal.user_id


def alerts_seen_by(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal,
    user_id: uuid.UUID | None = None,
    status: AlertStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[MarketAlert]:
    """Alerts a caller may see: an investor their own; admins and analysts anyone's (or all)."""
    whose = _whose(principal, user_id, everyone=True)
    return list_alerts(
        session=session, org_id=org_id, user_id=whose, status=status, limit=limit, offset=offset
    )


def count_alerts_seen_by(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal,
    user_id: uuid.UUID | None = None,
    status: AlertStatus | None = None,
) -> int:
    """How many alerts ``alerts_seen_by`` with these filters would list over all pages."""
    whose = _whose(principal, user_id, everyone=True)
    return count_rows(session, _alerts_query(org_id=org_id, user_id=whose, status=status))


def own_alerts_with_listings(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, limit: int = 10
) -> list[tuple[MarketAlert, Opportunity, TrackedListing]]:
    """A user's newest alerts with the opportunity and listing each was about."""
    rows = session.exec(
        select(MarketAlert, Opportunity, TrackedListing)
        .join(Opportunity, col(Opportunity.id) == col(MarketAlert.opportunity_id))
        .join(TrackedListing, col(TrackedListing.id) == col(Opportunity.listing_id))
        .where(
            MarketAlert.org_id == org_id,
            MarketAlert.user_id == user_id,
            Opportunity.org_id == org_id,
            TrackedListing.org_id == org_id,
        )
        .order_by(col(MarketAlert.created_at).desc(), col(MarketAlert.id))
        .limit(limit)
    ).all()
    return [(alert, opportunity, listing) for alert, opportunity, listing in rows]


# What became of an alert's WhatsApp message(s), from the outbox: "sent" once Twilio took
# one, "recorded" when only kept in the outbox (no Twilio credentials), "failed", else
# "queued" (not handed to Twilio yet).
_SENT_STATUSES = frozenset({"sent", "delivered", "read"})


def deliveries(
    *, session: Session, org_id: uuid.UUID, alerts: Sequence[MarketAlert]
) -> dict[uuid.UUID, str]:
    """Each queued alert's WhatsApp delivery as the outbox has it (alerts never queued: none)."""
    from domain.whatsapp.models import Message  # late: the WhatsApp module imports this one

    wanted = {alert.id: [uuid.UUID(m) for m in alert.outbox_message_ids or []] for alert in alerts}
    ids = [m for ms in wanted.values() for m in ms]
    if not ids:
        return {}
    statuses = {
        message.id: str(message.status)
        for message in session.exec(
            select(Message).where(col(Message.id).in_(ids), Message.org_id == org_id)
        )
    }
    found: dict[uuid.UUID, str] = {}
    for alert_id, messages in wanted.items():
        said = {statuses[m] for m in messages if m in statuses}
        if not said:
            continue
        if said & _SENT_STATUSES:
            found[alert_id] = "sent"
        elif "failed" in said:
            found[alert_id] = "failed"
        elif said == {"recorded"}:
            found[alert_id] = "recorded"
        else:
            found[alert_id] = "queued"
    return found


def criteria_seen_by(
    *, session: Session, org_id: uuid.UUID, principal: Principal, user_id: uuid.UUID | None = None
) -> AlertCriteria:
    """A user's alert criteria (the caller's own unless an admin/analyst names someone)."""
    whose = _whose(principal, user_id, everyone=False)
    assert whose is not None
    criteria = get_criteria(session=session, org_id=org_id, user_id=whose)
    if criteria is None:
        raise AlertNotFoundError(
            "no alert criteria are set"
            + (" for you" if whose == principal.user_id else f" for user {whose}")
            + "; POST /alerts/configure sets them"
        )
    return criteria


def alert_counts(*, session: Session, org_id: uuid.UUID) -> dict[str, Any]:
    """How many alerts the organisation has in each status."""
    rows = session.exec(
        select(MarketAlert.status, func.count())
        .where(MarketAlert.org_id == org_id)
        .group_by(MarketAlert.status)
    ).all()
    counts: dict[str, Any] = {status.value: 0 for status in AlertStatus}
    counts.update({str(status): int(n) for status, n in rows})
    return counts
