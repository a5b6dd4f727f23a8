"""Deals: the pipeline, offers, the timeline and projections.

Every function is keyword-only, takes a session and the caller's ``org_id`` and never returns
another organisation's rows. Functions flush, never commit: the caller owns the transaction,
and the events they publish, the timeline entries they record and the audit rows they write
are saved or lost together with the change.

Who may do what (the API and the agent's tools call these same functions):

- ``principal=None`` is the system (a job, a subscriber): it sees and changes every deal of
  the organisation.
- Admins and analysts see every deal of their organisation and change them.
- An investor sees only the deals they own (``owner_user_id``) or are named on
  (``team_user_ids``); another deal reads as "not found". Investors do not change deals.
- Contractors have no access to deals.

Status changes follow ``state_machine.DEAL_TRANSITIONS``; an illegal one raises
``IllegalTransitionError`` (HTTP 409) naming the statuses that are allowed. Offers move the deal
too: a submitted offer moves a ``lead``/``analyzing`` deal to ``offer_made``, and an accepted
offer moves it to ``under_contract`` (and its amount becomes the deal's purchase price).
A deal goes under contract only at a price (an accepted offer, else its purchase price), and
a deal under contract takes no new offers. ``create_deal`` with ``refuse_open_duplicate``
refuses a second open deal on one property (``DuplicateDealError``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import event as sa_event
from sqlalchemy import false, func, or_, text
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.clock import company_zone
from core.metrics import business_counter
from core.money import format_money_keys, money_str
from core.paging import count_rows
from core.timestamps import utc_strings, utc_text
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.deal import projection, state_machine
from domain.deal.enums import (
    DealDocumentStatus,
    DealEventKind,
    DealStatus,
    DealStrategy,
    OfferStatus,
)
from domain.deal.models import (
    Deal,
    DealCreate,
    DealDocument,
    DealEvent,
    DealTimeline,
    DealUpdate,
    Offer,
    OfferCreate,
    TimelineEntry,
)
from domain.deal.projection import DealProjection, ProjectionAssumptions
from domain.underwriting.models import ProjectionInput, Section8Result
from store.base import utcnow
from store.outbox import OutboxEvent, publish

SYSTEM_ACTOR = auth_service.SYSTEM_ACTOR
MAX_LIST_LIMIT = 200

deals_completed_total = business_counter(
    "deals_completed_total", "Deals that reached closed", labelnames=("strategy",)
)

# Events other modules publish that belong on a deal's timeline when their payload names the
# deal (``deal_id``); valuations also when they name the deal's property (``property_id``).
TIMELINE_EVENT_KINDS: Mapping[str, DealEventKind] = {
    "document.generated": DealEventKind.document,
    "payment.completed": DealEventKind.payment,
    "payment.processed": DealEventKind.payment,
    "transaction.created": DealEventKind.transaction,
    "valuation.completed": DealEventKind.valuation,
}


# --- errors ------------------------------------------------------------------------------


class DealError(Exception):
    """Base class of the deal module's errors."""


class DealNotFoundError(DealError, LookupError):
    """The deal (or offer, property or user it names) is not in the caller's organisation."""


class DealValidationError(DealError, ValueError):
    """A value is not acceptable; the message says which and why (HTTP 422)."""


class DealPermissionError(DealError, PermissionError):
    """The caller's role may not do this (HTTP 403)."""


class DealConflictError(DealError):
    """The deal's or offer's current state does not allow the change (HTTP 409)."""


class IllegalTransitionError(DealConflictError):
    """A status change the transition table does not allow (HTTP 409)."""

    def __init__(self, current: DealStatus, target: DealStatus) -> None:
        """Keep the statuses involved and the allowed next ones for the caller to show."""
        self.current = current
        self.target = target
        self.allowed = state_machine.allowed_next(current)
        super().__init__(state_machine.refusal_message(current, target))


class IllegalOfferTransitionError(DealConflictError):
    """An offer status change its life cycle does not allow (HTTP 409)."""

    def __init__(self, current: OfferStatus, target: OfferStatus) -> None:
        """Keep the statuses involved and the allowed next ones for the caller to show."""
        self.current = current
        self.target = target
        self.allowed = state_machine.allowed_offer_next(current)
        if current == OfferStatus.expired and target == OfferStatus.accepted:
            message = "the offer has expired and can no longer be accepted"
        elif not self.allowed:
            message = f"the offer is {current.value}, which is final"
        else:
            message = (
                f"an offer cannot move from {current.value} to {target.value}; from "
                f"{current.value} it may move to: {', '.join(s.value for s in self.allowed)}"
            )
        super().__init__(message)


class DuplicateDealError(DealConflictError):
    """The property already has an open deal; a second one needs ``allow_duplicate`` (HTTP 409)."""

    def __init__(self, existing: Deal) -> None:
        """Keep the open deal's id and status, for the caller to name it."""
        self.existing_id = existing.id
        self.existing_status = DealStatus(existing.status)
        super().__init__(
            f"the property already has an open deal: deal {short_id(existing.id)}"
            f" ({self.existing_status.value}), id {existing.id}. Work on that deal, or pass"
            " allow_duplicate=true to open a second deal on the same property"
        )


def short_id(deal_id: uuid.UUID) -> str:
    """A deal's id as people say it: its first 8 hex digits (``1a2b3c4d``)."""
    return deal_id.hex[:8]


# --- who may see and change deals ----------------------------------------------------------


def actor_name(principal: Principal | None) -> str:
    """How the timeline names whoever acted: their email, or ``system``."""
    return principal.email if principal is not None else SYSTEM_ACTOR


def _check_can_read(principal: Principal | None) -> None:
    """Contractors have no access to deals."""
    if principal is not None and principal.role == Role.contractor:
        raise DealPermissionError("contractors have no access to deals")


def _check_can_write(principal: Principal | None) -> None:
    """Only admins, analysts and the system change deals."""
    if principal is not None and principal.role not in (Role.admin, Role.analyst):
        raise DealPermissionError(
            f"changing deals needs the role admin or analyst (you are {principal.role.value})"
        )


def _visible_to(principal: Principal | None) -> Any:
    """A WHERE clause limiting deals to those ``principal`` may see (None: no limit)."""
    if principal is None or principal.role != Role.investor:
        return None
    return or_(
        col(Deal.owner_user_id) == principal.user_id,
        # ``@>`` (not ``= ANY``) so the GIN index on team_user_ids serves it.
        col(Deal.team_user_ids).contains([principal.user_id]),
    )


def visible_deal_ids(*, org_id: uuid.UUID, principal: Principal | None) -> Any:
    """A ``SELECT id`` of the organisation's deals ``principal`` may see; None when all.

    For other modules that hold rows about deals (documents linked to a deal) and must hide
    them from whoever may not see the deal: an investor's own deals, none for a contractor.
    """
    if principal is None or principal.role in (Role.admin, Role.analyst):
        return None
    statement = select(Deal.id).where(Deal.org_id == org_id)
    if principal.role == Role.contractor:
        return statement.where(false())
    return statement.where(_visible_to(principal))


def can_see(deal: Deal, principal: Principal | None) -> bool:
    """True when ``principal`` may see ``deal`` (its organisation is checked separately)."""
    if principal is None or principal.role != Role.investor:
        return principal is None or principal.role != Role.contractor
    return deal.owner_user_id == principal.user_id or principal.user_id in deal.team_user_ids


# --- references to other modules ----------------------------------------------------------


def _require_property(*, session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> Any:
    """The property ``property_id`` of the organisation, through the property service."""
    from domain.property import service as property_service

    try:
        found = property_service.get(session=session, org_id=org_id, property_id=property_id)
    except LookupError:
        found = None
    if found is None:
        raise DealNotFoundError(f"property {property_id} not found in your organisation")
    return found


def _require_user(*, session: Session, org_id: uuid.UUID, user_id: uuid.UUID, what: str) -> None:
    """Raise unless ``user_id`` is a user of the organisation."""
    if auth_service.get_user(session=session, org_id=org_id, user_id=user_id) is None:
        raise DealNotFoundError(f"{what}: user {user_id} not found in your organisation")


_MEMBER_KEYS = ("user_id", "name", "email", "phone", "company")


def normalise_team(
    *, session: Session, org_id: uuid.UUID, team: Mapping[str, Any]
) -> tuple[dict[str, list[dict[str, Any]]], list[uuid.UUID]]:
    """Check a team and return it as ``{role: [member, ...]}`` with the user ids it names.

    A member is a user id, a name, or an object with ``user_id``, ``name``, ``email``,
    ``phone`` or ``company`` (other keys are kept); a role maps to one member or a list.
    """
    if not isinstance(team, Mapping):
        raise DealValidationError("team must be an object of {role: member or [members]}")
    normalised: dict[str, list[dict[str, Any]]] = {}
    user_ids: list[uuid.UUID] = []
    for raw_role, value in team.items():
        role = str(raw_role).strip()
        if not role or len(role) > 50:
            raise DealValidationError("team: each role must be 1 to 50 characters")
        values = value if isinstance(value, list) else [value]
        members: list[dict[str, Any]] = []
        for item in values:
            member: dict[str, Any]
            if isinstance(item, str):
                try:
                    member = {"user_id": str(uuid.UUID(item))}
                except ValueError:
                    member = {"name": item.strip()}
            elif isinstance(item, Mapping):
                member = dict(item)
            else:
                raise DealValidationError(
                    f"team.{role}: a member is a user id, a name or an object, not {item!r}"
                )
            if not any(member.get(key) for key in _MEMBER_KEYS):
                raise DealValidationError(
                    f"team.{role}: a member needs at least one of {', '.join(_MEMBER_KEYS)}"
                )
            if member.get("user_id"):
                try:
                    user_id = uuid.UUID(str(member["user_id"]))
                except ValueError as exc:
                    raise DealValidationError(
                        f"team.{role}: {member['user_id']!r} is not a user id"
                    ) from exc
                _require_user(session=session, org_id=org_id, user_id=user_id, what=f"team.{role}")
                member["user_id"] = str(user_id)
                if user_id not in user_ids:
                    user_ids.append(user_id)
            members.append(member)
        normalised[role] = members
    return normalised, user_ids


# --- the timeline's recorded entries -------------------------------------------------------


def record_event(
    *,
    session: Session,
    deal: Deal,
    kind: DealEventKind,
    summary: str,
    details: Mapping[str, Any] | None = None,
    principal: Principal | None = None,
    actor: str | None = None,
    occurred_at: datetime | None = None,
    source_event_id: uuid.UUID | None = None,
) -> DealEvent:
    """Append an entry to the deal's timeline (in the caller's transaction)."""
    from store.outbox import normalise_payload

    entry = DealEvent(
        org_id=deal.org_id,
        deal_id=deal.id,
        occurred_at=occurred_at or utcnow(),
        kind=kind,
        summary=summary,
        details=normalise_payload(details or {}),
        actor=(actor or actor_name(principal))[:200],
        actor_user_id=principal.user_id if principal is not None else None,
        source_event_id=source_event_id,
    )
    session.add(entry)
    session.flush()
    return entry


def _money(value: Any) -> str:
    """``$1,234.50`` for a number (or a numeric string); the value as given otherwise."""
    try:
        return f"${Decimal(str(value)):,.2f}"
    except (ArithmeticError, ValueError):
        return str(value)


def summarise_event(name: str, payload: Mapping[str, Any]) -> str:
    """A one-line description of another module's event, for the timeline."""
    if name == "document.generated":
        what = payload.get("document_type") or payload.get("kind") or payload.get("title")
        return f"Document generated: {what or 'document'}"
    if name in ("payment.completed", "payment.processed"):
        verb = "completed" if name == "payment.completed" else "processed"
        amount = payload.get("amount")
        about = (
            payload.get("description")
            or payload.get("counterparty")
            or payload.get("payee")
            or payload.get("category")
        )
        text = f"Payment {verb}"
        if amount is not None:
            text += f": {_money(amount)}"
        return f"{text} ({about})" if about else text
    if name == "transaction.created":
        kind = payload.get("type") or "transaction"
        amount = payload.get("amount")
        about = payload.get("category") or payload.get("description")
        text = f"Transaction recorded: {kind}"
        if amount is not None:
            text += f" {_money(amount)}"
        return f"{text} ({about})" if about else text
    if name == "valuation.completed":
        figures = [
            f"{label} {_money(payload[key])}"
            for key, label in (("as_is_value", "as-is"), ("value", "value"), ("arv", "ARV"))
            if payload.get(key) is not None
        ]
        return "Valuation completed" + (f": {', '.join(figures)}" if figures else "")
    return name


def _event_actor(
    payload: Mapping[str, Any], *, session: Session | None = None, org_id: uuid.UUID | None = None
) -> str:
    """Who caused another module's event, by its payload, the audit log, or ``system``.

    The payload's ``actor``/``by`` comes first; for a finance transaction, whoever the audit
    log says created it.
    """
    for key in ("actor", "by", "user_email"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    transaction_id = payload.get("transaction_id")
    if session is not None and org_id is not None and transaction_id:
        entries = auth_service.list_audit(
            session=session, org_id=org_id, entity="transaction", entity_id=str(transaction_id)
        )
        if entries:
            return entries[-1].actor  # newest first: the last is the creation
    return SYSTEM_ACTOR


# --- deals ---------------------------------------------------------------------------------


def _load(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    principal: Principal | None,
    for_update: bool = False,
) -> Deal:
    """The deal, if the organisation has it and the caller may see it; otherwise not found."""
    _check_can_read(principal)
    statement = select(Deal).where(Deal.id == deal_id, Deal.org_id == org_id)
    if for_update:
        statement = statement.with_for_update()
    deal = session.exec(statement).first()
    if deal is None or not can_see(deal, principal):
        raise DealNotFoundError(f"deal {deal_id} not found")
    return deal


def get_deal(
    *, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID, principal: Principal | None = None
) -> Deal:
    """One deal of the organisation (that the caller may see); ``DealNotFoundError`` if not."""
    return _load(session=session, org_id=org_id, deal_id=deal_id, principal=principal)


def _day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the company's time zone.

    Periods are whole local days: a deal opened at 8 pm in Detroit on the 28th is the 28th's.
    """
    return datetime.combine(day, time(), tzinfo=company_zone())


def _entered_status_at() -> Any:
    """When each deal entered its current status, as a SQL expression over ``Deal``.

    The latest timeline entry that moved the deal into the status it has now (a deal can
    re-enter ``analyzing`` after a rejected offer), or that created it in that status; a
    deal without such an entry counts from its creation. Edits after that do not move it.
    """
    entered = (
        select(func.max(DealEvent.occurred_at))
        .where(
            DealEvent.deal_id == Deal.id,
            DealEvent.org_id == Deal.org_id,
            col(DealEvent.kind).in_([DealEventKind.created, DealEventKind.status_changed]),
            func.coalesce(
                func.jsonb_extract_path_text(col(DealEvent.details), "to"),
                func.jsonb_extract_path_text(col(DealEvent.details), "status"),
            )
            == col(Deal.status),
        )
        .correlate(Deal)
        .scalar_subquery()
    )
    return func.coalesce(entered, col(Deal.created_at))


def _deals_query(
    *,
    org_id: uuid.UUID,
    principal: Principal | None,
    status: DealStatus | None,
    strategy: DealStrategy | None,
    property_id: uuid.UUID | None,
    since: date | None = None,
    until: date | None = None,
) -> SelectOfScalar[Deal]:
    """The deals the caller may see, filtered (no order, no paging).

    ``since``/``until`` (whole days in the company's time zone, both inclusive) keep the
    deals that entered ``status`` in that period when a status is given, else the deals
    created in it.
    """
    _check_can_read(principal)
    if since is not None and until is not None and since > until:
        raise DealValidationError(f"since ({since}) must be on or before until ({until})")
    statement = select(Deal).where(Deal.org_id == org_id)
    visible = _visible_to(principal)
    if visible is not None:
        statement = statement.where(visible)
    if status is not None:
        statement = statement.where(Deal.status == status)
    if strategy is not None:
        statement = statement.where(Deal.strategy == strategy)
    if property_id is not None:
        statement = statement.where(Deal.property_id == property_id)
    if since is not None or until is not None:
        at = _entered_status_at() if status is not None else col(Deal.created_at)
        if since is not None:
            statement = statement.where(at >= _day_start(since))
        if until is not None:
            statement = statement.where(at < _day_start(until + timedelta(days=1)))
    return statement


def list_deals(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal | None = None,
    status: DealStatus | None = None,
    strategy: DealStrategy | None = None,
    property_id: uuid.UUID | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Deal]:
    """The organisation's deals the caller may see, most recently changed first.

    With ``since``/``until`` (dates, inclusive): the deals that entered ``status`` in that
    period (by their timeline, not their last edit), or were created in it when no status is
    given; ``since`` after ``until`` raises ``DealValidationError``.
    """
    statement = _deals_query(
        org_id=org_id, principal=principal, status=status, strategy=strategy,
        property_id=property_id, since=since, until=until,
    ).order_by(col(Deal.updated_at).desc(), col(Deal.id))  # fmt: skip
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    return list(session.exec(statement.limit(limit).offset(max(offset, 0))))


def count_deals(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal | None = None,
    status: DealStatus | None = None,
    strategy: DealStrategy | None = None,
    property_id: uuid.UUID | None = None,
    since: date | None = None,
    until: date | None = None,
) -> int:
    """How many deals ``list_deals`` with these filters would list over all pages."""
    return count_rows(
        session,
        _deals_query(
            org_id=org_id, principal=principal, status=status, strategy=strategy,
            property_id=property_id, since=since, until=until,
        ),
    )  # fmt: skip


# The money among an offer's terms (``OfferTerms``), two places in events and timelines.
_OFFER_TERMS_MONEY = ("earnest_money", "down_payment", "seller_concessions")


def _event_money(value: Decimal | None) -> str | None:
    """An amount as events carry it: a two-place string (``"70000.00"``), None kept."""
    return None if value is None else money_str(value)


def _deal_payload(deal: Deal) -> dict[str, Any]:
    """The figures events about a deal carry (money as two-place strings)."""
    return {
        "deal_id": deal.id,
        "property_id": deal.property_id,
        "status": deal.status,
        "strategy": deal.strategy,
        "deal_type": deal.deal_type,
        "purchase_price": _event_money(deal.purchase_price),
        "estimated_repairs": _event_money(deal.estimated_repairs),
        "expected_profit": _event_money(deal.expected_profit),
        "owner_user_id": deal.owner_user_id,
    }


def _history_entry(status: DealStatus, at: datetime, actor: str) -> dict[str, Any]:
    """One line of the deal row's status history."""
    return {"status": status.value, "at": utc_text(at), "by": actor}


def status_history(deal: Deal) -> list[dict[str, Any]]:
    """The deal row's status history as responses show it: every ``at`` in UTC with ``Z``.

    Lines written before the history used ``Z`` say ``+00:00``; they are put right on read.
    """
    history: list[dict[str, Any]] = utc_strings(list(deal.timeline or []))
    return history


def open_deal_on_property(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> Deal | None:
    """The property's most recently changed open deal (not closed, dead or passed), or None."""
    return session.exec(
        select(Deal)
        .where(
            Deal.org_id == org_id,
            Deal.property_id == property_id,
            col(Deal.status).in_([s.value for s in state_machine.OPEN_DEAL_STATUSES]),
        )
        .order_by(col(Deal.updated_at).desc(), col(Deal.id))
        .limit(1)
    ).first()


def _lock_property_deals(session: Session, property_id: uuid.UUID) -> None:
    """Serialise deal creation on one property until this transaction ends.

    A transaction-scoped advisory lock keyed on the property: a second create waits here, then
    sees the deal the first one committed, so "one open deal per house" is no check-then-insert
    race (a partial unique index could not let ``allow_duplicate`` add a second one).
    """
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"deal.property:{property_id}"},
    )


def create_deal(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_in: DealCreate,
    principal: Principal | None = None,
    refuse_open_duplicate: bool = False,
) -> Deal:
    """Create a deal on one of the organisation's properties; publishes ``deal.created``.

    ``refuse_open_duplicate`` (the REST create and the chat tool, unless the caller allows a
    duplicate): ``DuplicateDealError`` when the property already has an open deal (any status
    but closed, dead or passed), so "create a deal on ..." twice does not open two leads that
    later offers cannot tell apart.
    """
    _check_can_write(principal)
    _require_property(session=session, org_id=org_id, property_id=deal_in.property_id)
    if refuse_open_duplicate:
        _lock_property_deals(session, deal_in.property_id)
        existing = open_deal_on_property(
            session=session, org_id=org_id, property_id=deal_in.property_id
        )
        if existing is not None:
            raise DuplicateDealError(existing)
    owner = deal_in.owner_user_id or (principal.user_id if principal is not None else None)
    if owner is not None:
        _require_user(session=session, org_id=org_id, user_id=owner, what="owner_user_id")
    team, team_user_ids = normalise_team(session=session, org_id=org_id, team=deal_in.team)
    status = DealStatus(deal_in.status)
    now = utcnow()
    actor = actor_name(principal)
    deal = Deal(
        org_id=org_id,
        property_id=deal_in.property_id,
        deal_type=deal_in.deal_type,
        strategy=deal_in.strategy,
        purchase_price=deal_in.purchase_price,
        estimated_repairs=deal_in.estimated_repairs,
        expected_profit=deal_in.expected_profit,
        team=team,
        team_user_ids=team_user_ids,
        status=status,
        owner_user_id=owner,
        timeline=[_history_entry(status, now, actor)],
    )
    session.add(deal)
    session.flush()
    event_id = publish(
        session, org_id=org_id, name="deal.created", payload=_deal_payload(deal) | {"by": actor}
    )
    record_event(
        session=session,
        deal=deal,
        kind=DealEventKind.created,
        summary=f"Deal created as {status.value}"
        + (f" ({deal.strategy.value})" if deal.strategy else ""),
        details=_deal_payload(deal),
        principal=principal,
        occurred_at=now,
        source_event_id=event_id,
    )
    auth_service.record_audit(
        session=session,
        principal=principal,
        org_id=org_id,
        action="create",
        entity="deal",
        entity_id=deal.id,
        changes=deal_in.model_dump(mode="json"),
    )
    return deal


def update_deal(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    deal_in: DealUpdate,
    principal: Principal | None = None,
) -> Deal:
    """Change a deal's figures, type, strategy, team or owner (status has ``change_status``)."""
    _check_can_write(principal)
    deal = _load(
        session=session, org_id=org_id, deal_id=deal_id, principal=principal, for_update=True
    )
    given = deal_in.model_dump(exclude_unset=True)
    if (
        "purchase_price" in given
        and given["purchase_price"] != deal.purchase_price
        and deal.status == DealStatus.closed
    ):
        # Checked before anything changes: a refused update leaves the deal as it was.
        _check_price_matches_ledger(session=session, deal=deal, price=given["purchase_price"])
    changes: dict[str, Any] = {}
    if "team" in given:
        if given["team"] is None:
            raise DealValidationError("team cannot be null; send {} to clear it")
        team, team_user_ids = normalise_team(session=session, org_id=org_id, team=given.pop("team"))
        if team != deal.team:
            changes["team"] = {"from": deal.team, "to": team}
            deal.team = team
            deal.team_user_ids = team_user_ids
    if "owner_user_id" in given:
        owner = given.pop("owner_user_id")
        if owner is not None:
            _require_user(session=session, org_id=org_id, user_id=owner, what="owner_user_id")
        if owner != deal.owner_user_id:
            changes["owner_user_id"] = {"from": deal.owner_user_id, "to": owner}
            deal.owner_user_id = owner
    for key, value in given.items():
        current = getattr(deal, key)
        if value != current:
            changes[key] = {"from": current, "to": value}
            setattr(deal, key, value)
    if not changes:
        return deal
    deal.updated_at = utcnow()
    session.add(deal)
    session.flush()
    record_event(
        session=session,
        deal=deal,
        kind=DealEventKind.updated,
        summary="Deal updated: "
        + "; ".join(_change_text(key, changes[key]) for key in sorted(changes)),
        details={"changes": changes},
        principal=principal,
    )
    auth_service.record_audit(
        session=session,
        principal=principal,
        org_id=org_id,
        action="update",
        entity="deal",
        entity_id=deal.id,
        changes=changes,
    )
    return deal


def _change_value(value: Any) -> str:
    """A changed field's value as the timeline writes it (money with cents, short)."""
    if value is None:
        return "none"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, Enum):
        return str(value.value)
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _change_text(field: str, change: Mapping[str, Any]) -> str:
    """``purchase_price 150,000.00 → 149,500.00``: a field's old and new value."""
    return f"{field} {_change_value(change.get('from'))} → {_change_value(change.get('to'))}"


def _check_price_matches_ledger(*, session: Session, deal: Deal, price: Decimal | None) -> None:
    """Refuse (DealConflictError) a closed deal's price that contradicts its booked purchase.

    Once a closed deal's purchase is in the ledger (finance, category ``purchase`` on the
    deal: spending less refunds), the price is what was paid: it may only be set to the
    ledger's figure, so the ledger is corrected first (a refund of the difference, or a further
    purchase payment) and the deal follows it.
    """
    booked, paid = _booked(session, deal.org_id, deal.id, "purchase")
    if not booked:
        return
    if price is not None and Decimal(price) == paid:
        return
    raise DealConflictError(
        f"deal {deal.id} is closed and its purchase is booked in the ledger at {paid:,.2f}"
        f" ({len(booked)} purchase transaction(s)); purchase_price"
        f" {_change_value(price)} would contradict it. Correct the booked purchase"
        " transaction first (book a refund of the difference, or a further purchase"
        " payment, in category purchase on this deal), then set purchase_price to the"
        " ledger's figure"
    )


def _count_closed_after_commit(session: Session, strategy: DealStrategy | None) -> None:
    """Count a closed deal in ``deals_completed_total`` once its transaction commits."""
    key = "deal.closed_pending"
    pending: list[str] = session.info.setdefault(key, [])
    # A deal loaded from the database holds the strategy as a plain string (a String column).
    pending.append(DealStrategy(strategy).value if strategy else "unknown")
    if session.info.get(f"{key}.listening"):
        return
    session.info[f"{key}.listening"] = True

    @sa_event.listens_for(session, "after_commit")
    def _after_commit(committed: Any) -> None:
        for label in committed.info.pop(key, []):
            deals_completed_total.labels(strategy=label).inc()

    @sa_event.listens_for(session, "after_soft_rollback")
    def _after_rollback(rolled_back: Any, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:
            rolled_back.info.pop(key, None)


def contract_price(*, session: Session, deal: Deal) -> Decimal | None:
    """The price a deal is (or would go) under contract at: its accepted offer, else its price."""
    accepted = session.exec(
        select(Offer).where(
            Offer.deal_id == deal.id,
            Offer.org_id == deal.org_id,
            Offer.status == OfferStatus.accepted,
        )
    ).first()
    if accepted is not None and accepted.offer_amount is not None:
        return Decimal(accepted.offer_amount)
    return None if deal.purchase_price is None else Decimal(deal.purchase_price)


def _refuse_offer_under_contract(*, session: Session, deal: Deal) -> None:
    """A deal under contract takes no new or renegotiated offers (DealConflictError)."""
    if deal.status != DealStatus.under_contract:
        return
    price = contract_price(session=session, deal=deal)
    at = f" at {_money(price)}" if price is not None else ""
    raise DealConflictError(
        f"deal {short_id(deal.id)} is under contract{at}: it takes no new offers. A"
        " renegotiated price is a change to the deal's purchase_price; a contract that fell"
        " through is a move to dead (then open a new deal on the property)"
    )


def _move(
    *,
    session: Session,
    deal: Deal,
    target: DealStatus,
    principal: Principal | None,
    reason: str | None,
    cause: Mapping[str, Any] | None = None,
) -> None:
    """Move ``deal`` to ``target`` (checked against the table), recording and publishing it."""
    current = DealStatus(deal.status)
    if not state_machine.is_allowed(current, target):
        raise IllegalTransitionError(current, target)
    if target == DealStatus.under_contract and contract_price(session=session, deal=deal) is None:
        raise DealConflictError(
            f"deal {short_id(deal.id)} cannot go under contract without a contract price: it"
            " has no accepted offer and no purchase_price. Accept the offer the seller took"
            " (which puts the deal under contract at its amount), or set the deal's"
            " purchase_price to the agreed price first"
        )
    now = utcnow()
    actor = actor_name(principal)
    deal.status = target
    deal.timeline = [*deal.timeline, _history_entry(target, now, actor)]
    deal.updated_at = now
    session.add(deal)
    session.flush()
    payload: dict[str, Any] = {
        "deal_id": deal.id,
        "property_id": deal.property_id,
        "from": current,
        "to": target,
        "by": actor,
        "by_user_id": principal.user_id if principal is not None else None,
        "reason": reason,
    }
    if cause:
        payload["cause"] = dict(cause)
    event_id = publish(session, org_id=deal.org_id, name="deal.status.changed", payload=payload)
    summary = f"Status changed from {current.value} to {target.value}"
    record_event(
        session=session,
        deal=deal,
        kind=DealEventKind.status_changed,
        summary=summary + (f": {reason}" if reason else ""),
        details={"from": current, "to": target, "reason": reason, **(dict(cause or {}))},
        principal=principal,
        occurred_at=now,
        source_event_id=event_id,
    )
    auth_service.record_audit(
        session=session,
        principal=principal,
        org_id=deal.org_id,
        action="status_change",
        entity="deal",
        entity_id=deal.id,
        changes={"status": {"from": current.value, "to": target.value}, "reason": reason},
    )
    if target == DealStatus.closed:
        _count_closed_after_commit(session, deal.strategy)


def change_status(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    status: DealStatus,
    reason: str | None = None,
    principal: Principal | None = None,
) -> Deal:
    """Move a deal to ``status`` if the transition table allows it; publishes the change."""
    _check_can_write(principal)
    deal = _load(
        session=session, org_id=org_id, deal_id=deal_id, principal=principal, for_update=True
    )
    _move(session=session, deal=deal, target=DealStatus(status), principal=principal, reason=reason)
    return deal


# --- offers --------------------------------------------------------------------------------


def _offer_summary(offer: Offer) -> str:
    """``$95,000.00 offer`` with its expiry, for the timeline."""
    text = f"{_money(offer.offer_amount)} offer"
    if offer.expires_at is not None:
        text += f", expires {offer.expires_at.isoformat()}"
    return text


def _offer_details(offer: Offer) -> dict[str, Any]:
    """What timeline entries and events about an offer carry (the amount with two places)."""
    return {
        "offer_id": offer.id,
        "amount": _event_money(offer.offer_amount),
        "status": offer.status,
        "terms": format_money_keys(dict(offer.terms or {}), _OFFER_TERMS_MONEY),
        "submitted_at": offer.submitted_at,
        "expires_at": offer.expires_at,
    }


def _expire(session: Session, offers: Iterable[Offer], deals: Mapping[uuid.UUID, Deal]) -> int:
    """Mark ``offers`` expired and record it on their deals' timelines."""
    count = 0
    for offer in offers:
        expired_at = offer.expires_at or utcnow()
        offer.status = OfferStatus.expired
        offer.updated_at = utcnow()
        session.add(offer)
        deal = deals.get(offer.deal_id) or session.get(Deal, offer.deal_id)
        if deal is not None:
            record_event(
                session=session,
                deal=deal,
                kind=DealEventKind.offer_status_changed,
                summary=f"Offer of {_money(offer.offer_amount)} expired",
                details=_offer_details(offer) | {"from": "open", "to": OfferStatus.expired},
                occurred_at=expired_at,
            )
        count += 1
    session.flush()
    return count


def expire_due_offers(
    *,
    session: Session,
    org_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> int:
    """Mark submitted or countered offers whose expiry has passed as expired; return how many.

    With no ``org_id`` this is the sweep a worker runs for every organisation; reads of a
    deal's offers and timeline run it for that deal first, so nobody sees a lapsed offer as open.
    """
    now = now or utcnow()
    statement = (
        select(Offer)
        .where(
            col(Offer.status).in_(list(state_machine.OPEN_OFFER_STATUSES)),
            col(Offer.expires_at).is_not(None),
            col(Offer.expires_at) <= now,
        )
        .order_by(col(Offer.expires_at), col(Offer.id))
        .with_for_update(skip_locked=True)
    )
    if org_id is not None:
        statement = statement.where(Offer.org_id == org_id)
    if deal_id is not None:
        statement = statement.where(Offer.deal_id == deal_id)
    due = list(session.exec(statement))
    return _expire(session, due, {}) if due else 0


def _submit_effects(
    *, session: Session, deal: Deal, offer: Offer, principal: Principal | None
) -> None:
    """A submitted offer: publish ``offer.received`` and move a pre-offer deal to offer_made."""
    actor = actor_name(principal)
    publish(
        session,
        org_id=deal.org_id,
        name="offer.received",
        payload=_offer_details(offer)
        | {"deal_id": deal.id, "property_id": deal.property_id, "by": actor},
    )
    if deal.status in state_machine.PRE_OFFER_STATUSES:
        _move(
            session=session,
            deal=deal,
            target=DealStatus.offer_made,
            principal=principal,
            reason=f"offer of {_money(offer.offer_amount)} submitted",
            cause={"offer_id": offer.id},
        )


def make_offer(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    offer_in: OfferCreate,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> Offer:
    """Record an offer on an open deal; a submitted one moves a lead/analyzing deal on.

    Publishes ``offer.received`` when the offer is submitted (not for a draft).
    """
    _check_can_write(principal)
    deal = _load(
        session=session, org_id=org_id, deal_id=deal_id, principal=principal, for_update=True
    )
    if deal.status in state_machine.TERMINAL_DEAL_STATUSES:
        raise DealConflictError(
            f"the deal is {DealStatus(deal.status).value}, which is final: it takes no more offers"
        )
    _refuse_offer_under_contract(session=session, deal=deal)
    now = now or utcnow()
    if offer_in.expires_at is not None and offer_in.expires_at <= now:
        raise DealValidationError(
            f"expires_at {offer_in.expires_at.isoformat()} is not in the future"
        )
    expire_due_offers(session=session, org_id=org_id, deal_id=deal.id, now=now)
    status = OfferStatus(offer_in.status)
    offer = Offer(
        org_id=org_id,
        deal_id=deal.id,
        offer_amount=offer_in.offer_amount,
        terms=offer_in.terms.model_dump(mode="json", exclude_none=True),
        status=status,
        submitted_at=now if status == OfferStatus.submitted else None,
        expires_at=offer_in.expires_at,
        created_by=principal.user_id if principal is not None else None,
    )
    session.add(offer)
    session.flush()
    record_event(
        session=session,
        deal=deal,
        kind=DealEventKind.offer_made,
        summary=("Draft " if status == OfferStatus.draft else "Submitted ") + _offer_summary(offer),
        details=_offer_details(offer),
        principal=principal,
        occurred_at=now,
    )
    auth_service.record_audit(
        session=session,
        principal=principal,
        org_id=org_id,
        action="create",
        entity="offer",
        entity_id=offer.id,
        changes=offer_in.model_dump(mode="json") | {"deal_id": str(deal.id)},
    )
    if status == OfferStatus.submitted:
        _submit_effects(session=session, deal=deal, offer=offer, principal=principal)
    return offer


def _offers_query(*, org_id: uuid.UUID, deal_id: uuid.UUID) -> SelectOfScalar[Offer]:
    """A deal's offers (no order, no paging)."""
    return select(Offer).where(Offer.deal_id == deal_id, Offer.org_id == org_id)


def list_offers(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    principal: Principal | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Offer]:
    """A deal's offers, oldest first, with lapsed ones marked expired first.

    All of them unless ``limit`` asks for a page.
    """
    deal = _load(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    expire_due_offers(session=session, org_id=org_id, deal_id=deal.id, now=now)
    statement = _offers_query(org_id=org_id, deal_id=deal.id).order_by(
        col(Offer.created_at), col(Offer.id)
    )
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_LIST_LIMIT)))
    return list(session.exec(statement.offset(max(offset, 0))))


def count_offers(
    *, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID, principal: Principal | None = None
) -> int:
    """How many offers ``list_offers`` would list over all pages."""
    deal = _load(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    return count_rows(session, _offers_query(org_id=org_id, deal_id=deal.id))


def change_offer_status(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    offer_id: uuid.UUID,
    status: OfferStatus,
    note: str | None = None,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> Offer:
    """Submit, counter, accept, reject or withdraw an offer (its life cycle decides).

    Accepting moves the deal to ``under_contract`` (through ``offer_made`` when needed) and
    makes the offer's amount the deal's purchase price.
    """
    _check_can_write(principal)
    deal = _load(
        session=session, org_id=org_id, deal_id=deal_id, principal=principal, for_update=True
    )
    now = now or utcnow()
    expire_due_offers(session=session, org_id=org_id, deal_id=deal.id, now=now)
    offer = session.exec(
        select(Offer).where(Offer.id == offer_id, Offer.deal_id == deal.id, Offer.org_id == org_id)
    ).first()
    if offer is None:
        raise DealNotFoundError(f"offer {offer_id} not found on deal {deal_id}")
    current, target = OfferStatus(offer.status), OfferStatus(status)
    if target not in state_machine.OFFER_TRANSITIONS[current]:
        raise IllegalOfferTransitionError(current, target)
    if target == OfferStatus.expired:
        raise DealValidationError("offers expire by themselves when their expires_at passes")
    # A final deal's offers may only be closed out (rejected or withdrawn), not negotiated.
    if target in (OfferStatus.accepted, OfferStatus.submitted, OfferStatus.countered) and (
        deal.status in state_machine.TERMINAL_DEAL_STATUSES
    ):
        raise DealConflictError(f"the deal is {deal.status.value}, which is final")
    if target in (OfferStatus.submitted, OfferStatus.countered):
        _refuse_offer_under_contract(session=session, deal=deal)
    if target == OfferStatus.accepted:
        already = session.exec(
            select(Offer).where(
                Offer.deal_id == deal.id,
                Offer.org_id == org_id,
                Offer.status == OfferStatus.accepted,
                Offer.id != offer.id,
            )
        ).first()
        if already is not None:
            # One deal, one contract: a second acceptance would silently reprice the deal.
            raise DealConflictError(
                f"the deal already has an accepted offer ({_money(already.offer_amount)}, "
                f"offer {already.id}); a deal can have only one accepted offer"
            )
    if target == OfferStatus.submitted and offer.expires_at and offer.expires_at <= now:
        raise DealValidationError("the offer's expires_at has passed; make a new offer")
    offer.status = target
    offer.updated_at = now
    if target == OfferStatus.submitted:
        offer.submitted_at = now
    session.add(offer)
    session.flush()
    record_event(
        session=session,
        deal=deal,
        kind=DealEventKind.offer_status_changed,
        summary=f"Offer of {_money(offer.offer_amount)} {target.value}"
        + (f": {note}" if note else ""),
        details=_offer_details(offer) | {"from": current, "to": target, "note": note},
        principal=principal,
        occurred_at=now,
    )
    auth_service.record_audit(
        session=session,
        principal=principal,
        org_id=org_id,
        action="status_change",
        entity="offer",
        entity_id=offer.id,
        changes={"status": {"from": current.value, "to": target.value}, "note": note},
    )
    if target == OfferStatus.submitted:
        _submit_effects(session=session, deal=deal, offer=offer, principal=principal)
    if target == OfferStatus.accepted:
        if deal.status in state_machine.PRE_OFFER_STATUSES:
            _move(
                session=session,
                deal=deal,
                target=DealStatus.offer_made,
                principal=principal,
                reason="offer accepted",
                cause={"offer_id": offer.id},
            )
        if deal.status == DealStatus.offer_made:
            _move(
                session=session,
                deal=deal,
                target=DealStatus.under_contract,
                principal=principal,
                reason=f"offer of {_money(offer.offer_amount)} accepted",
                cause={"offer_id": offer.id},
            )
        if deal.purchase_price != offer.offer_amount:
            previous = deal.purchase_price
            deal.purchase_price = offer.offer_amount
            session.add(deal)
            session.flush()
            record_event(
                session=session,
                deal=deal,
                kind=DealEventKind.updated,
                summary=f"Purchase price set to {_money(offer.offer_amount)} (accepted offer)",
                details={
                    "changes": {"purchase_price": {"from": previous, "to": offer.offer_amount}},
                    "offer_id": offer.id,
                },
                principal=principal,
                occurred_at=now,
            )
    return offer


# --- documents -----------------------------------------------------------------------------


def list_documents(
    *, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID, principal: Principal | None = None
) -> list[DealDocument]:
    """A deal's documents, oldest first."""
    deal = _load(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    statement = (
        select(DealDocument)
        .where(DealDocument.deal_id == deal.id, DealDocument.org_id == org_id)
        .order_by(col(DealDocument.created_at), col(DealDocument.id))
    )
    return list(session.exec(statement))


def find_deal_for_event(
    *, session: Session, org_id: uuid.UUID | None, payload: Mapping[str, Any]
) -> Deal | None:
    """The deal an event's payload names (``deal_id``) in the event's organisation, or None."""
    raw = payload.get("deal_id")
    if org_id is None or not raw:
        return None
    try:
        deal_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    return session.exec(select(Deal).where(Deal.id == deal_id, Deal.org_id == org_id)).first()


def already_recorded(*, session: Session, deal: Deal, source_event_id: uuid.UUID) -> bool:
    """True when the deal's timeline already has an entry for this event."""
    statement = select(DealEvent.id).where(
        DealEvent.deal_id == deal.id, DealEvent.source_event_id == source_event_id
    )
    return session.exec(statement).first() is not None


def attach_generated_document(
    *,
    session: Session,
    deal: Deal,
    event_id: uuid.UUID,
    payload: Mapping[str, Any],
    occurred_at: datetime | None = None,
) -> DealDocument | None:
    """Attach a generated document to the deal (once per event and per document)."""
    if already_recorded(session=session, deal=deal, source_event_id=event_id):
        return None
    document_id: uuid.UUID | None = None
    if payload.get("document_id"):
        try:
            document_id = uuid.UUID(str(payload["document_id"]))
        except ValueError:
            document_id = None
    if document_id is not None:
        from domain.documents import service as documents_service

        # Only this organisation's stored document is linked (never another organisation's).
        if (
            documents_service.get_document(
                session=session, org_id=deal.org_id, document_id=document_id
            )
            is None
        ):
            document_id = None
    raw_status = payload.get("status")
    status = (
        DealDocumentStatus(str(raw_status))
        if isinstance(raw_status, str) and raw_status in DealDocumentStatus.__members__
        else DealDocumentStatus.received
    )
    document: DealDocument | None = None
    if document_id is not None:
        document = session.exec(
            select(DealDocument).where(
                DealDocument.deal_id == deal.id, DealDocument.document_id == document_id
            )
        ).first()
    if document is None:
        kind = payload.get("document_type") or payload.get("kind")
        url = payload.get("document_url") or payload.get("url")
        document = DealDocument(
            org_id=deal.org_id,
            deal_id=deal.id,
            document_type=str(kind)[:100] if kind else None,
            document_url=str(url)[:500] if url else None,
            document_id=document_id,
            status=status,
        )
        session.add(document)
        session.flush()
    record_event(
        session=session,
        deal=deal,
        kind=DealEventKind.document,
        summary=summarise_event("document.generated", payload),
        details=dict(payload) | {"deal_document_id": document.id},
        actor=_event_actor(payload, session=session, org_id=deal.org_id),
        occurred_at=occurred_at,
        source_event_id=event_id,
    )
    return document


def record_foreign_event(
    *,
    session: Session,
    deal: Deal,
    event_id: uuid.UUID,
    name: str,
    payload: Mapping[str, Any],
    occurred_at: datetime | None = None,
) -> DealEvent | None:
    """Put another module's event about the deal on its timeline (once per event)."""
    if already_recorded(session=session, deal=deal, source_event_id=event_id):
        return None
    return record_event(
        session=session,
        deal=deal,
        kind=TIMELINE_EVENT_KINDS.get(name, DealEventKind.transaction),
        summary=summarise_event(name, payload),
        details=dict(payload) | {"event": name},
        actor=_event_actor(payload, session=session, org_id=deal.org_id),
        occurred_at=occurred_at,
        source_event_id=event_id,
    )


# --- the timeline --------------------------------------------------------------------------

# Amounts in timeline details (deal figures, offers, payments and transactions, valuations,
# reports): each is shown with two places, also as the ``from``/``to`` of a recorded change.
TIMELINE_MONEY_KEYS = frozenset(
    {
        "amount",
        "arv",
        "as_is_value",
        "estimated_repairs",
        "expected_profit",
        "high",
        "low",
        "max_offer",
        "offer_amount",
        "purchase_price",
        "signed_amount",
        "value",
    }
)
_CHANGE_KEYS = frozenset({"from", "to"})


def timeline_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A timeline entry's details as responses show them, whenever they were recorded.

    Money under ``TIMELINE_MONEY_KEYS`` (and the ``from``/``to`` of a change to one) is a
    decimal string with two places (``"140000"`` → ``"140000.00"``); date-times are in UTC
    with ``Z``. Values that are not numbers (None, text) are kept as they are.
    """

    def walk(item: Any, money: bool) -> Any:
        if isinstance(item, Mapping):
            return {
                key: walk(value, key in TIMELINE_MONEY_KEYS or (money and key in _CHANGE_KEYS))
                for key, value in item.items()
            }
        if isinstance(item, list):
            return [walk(value, False) for value in item]
        if money and isinstance(item, str | int | float | Decimal) and not isinstance(item, bool):
            try:
                return money_str(item)
            except (ArithmeticError, ValueError):
                return item
        return item

    shown: dict[str, Any] = utc_strings(walk(details, False))
    return shown


def _outbox_entries(
    *, session: Session, deal: Deal, recorded: set[uuid.UUID]
) -> list[tuple[datetime, int, TimelineEntry]]:
    """Other modules' events about the deal that no subscriber has recorded yet."""
    deal_ref = col(OutboxEvent.payload)["deal_id"].astext == str(deal.id)
    property_ref = (OutboxEvent.name == "valuation.completed") & (
        col(OutboxEvent.payload)["property_id"].astext == str(deal.property_id)
    )
    statement = (
        select(OutboxEvent)
        .where(
            OutboxEvent.org_id == deal.org_id,
            col(OutboxEvent.name).in_(list(TIMELINE_EVENT_KINDS)),
            or_(deal_ref, property_ref),
        )
        .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
    )
    rows = list(session.exec(statement))
    # Finance announces a payment twice (transaction.created and payment.processed): keep one.
    paid = {
        row.payload.get("transaction_id")
        for row in rows
        if row.name.startswith("payment.") and row.payload.get("transaction_id")
    }
    entries = []
    for row in rows:
        if row.id in recorded:
            continue
        if row.name == "transaction.created" and row.payload.get("transaction_id") in paid:
            continue
        entry = TimelineEntry(
            at=row.created_at,
            kind=TIMELINE_EVENT_KINDS[row.name],
            summary=summarise_event(row.name, row.payload),
            actor=_event_actor(row.payload, session=session, org_id=deal.org_id),
            details=timeline_details(dict(row.payload) | {"event": row.name}),
            event_id=row.id,
            source="outbox",
        )
        entries.append((row.created_at, 0, entry))
    return entries


def timeline(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    principal: Principal | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> DealTimeline:
    """Everything that happened to a deal, oldest first, each with who, what and when.

    Built from the deal's recorded entries (creation, updates, status changes, offers,
    documents, payments) plus events other modules published about the deal or its property
    (documents, payments, transactions, valuations) that no subscriber has recorded yet, so
    the timeline is complete even while the event relay catches up. Lapsed offers are marked
    expired first. ``limit`` entries from ``offset`` (None: the whole timeline); ``total``
    counts every entry.
    """
    if limit is not None and limit < 1:
        raise DealValidationError("limit must be at least 1")
    if offset < 0:
        raise DealValidationError("offset must be 0 or more")
    deal = _load(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    expire_due_offers(session=session, org_id=org_id, deal_id=deal.id, now=now)
    rows = list(
        session.exec(
            select(DealEvent)
            .where(DealEvent.deal_id == deal.id, DealEvent.org_id == org_id)
            .order_by(col(DealEvent.occurred_at), col(DealEvent.seq))
        )
    )
    recorded = {row.source_event_id for row in rows if row.source_event_id is not None}
    merged: list[tuple[datetime, int, TimelineEntry]] = [
        (
            row.occurred_at,
            row.seq or 0,
            TimelineEntry(
                at=row.occurred_at,
                kind=row.kind,
                summary=row.summary,
                actor=row.actor,
                details=timeline_details(row.details),
                event_id=row.source_event_id,
                source="deal",
            ),
        )
        for row in rows
    ]
    merged.extend(_outbox_entries(session=session, deal=deal, recorded=recorded))
    # Entries at the same instant: recorded ones in their insertion order (seq), events not
    # yet recorded (seq 0) first, by event id; so pages never repeat or skip an entry.
    merged.sort(key=lambda item: (item[0], item[1], str(item[2].event_id or "")))
    every = [entry for _, _, entry in merged]
    page = every[offset : offset + limit] if limit is not None else every[offset:]
    return DealTimeline(
        deal_id=deal.id, entries=page, items=page, total=len(every), limit=limit, offset=offset
    )


# --- projections ---------------------------------------------------------------------------


def deal_projection(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    assumptions: ProjectionAssumptions | None = None,
    principal: Principal | None = None,
) -> DealProjection:
    """Underwrite a deal for its strategy with the underwriting functions, inputs included.

    The deal gives the purchase price and repairs, the property its target rent (else the
    analysis's rent) and bedrooms, the Section 8 table the payment standard; ``assumptions``
    (documented defaults in ``domain.deal.projection``) the rest. Without an ``arv`` every
    deal runs on the property's latest stored ARV valuation (a rental with none on the
    analysis's ARV from today's comps; see ``_arv_source``). Rental and
    Section 8 deals also get a multi-year hold projection. A figure that is missing or
    invalid raises ``DealValidationError``.
    """
    from domain.underwriting import service as underwriting

    assumptions = assumptions or ProjectionAssumptions()
    deal = _load(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    strategy = assumptions.strategy or deal.strategy
    if strategy is None:
        raise DealValidationError("the deal has no strategy: set one on the deal or pass strategy")
    strategy = DealStrategy(strategy)
    prop = _require_property(session=session, org_id=org_id, property_id=deal.property_id)
    try:
        # Price and rehab chosen as the deal's analysis chooses them (list price, priced scope).
        figures = projection.deal_figures(
            session=session, org_id=org_id, deal=deal, prop=prop, assumptions=assumptions
        )
    except projection.MissingFigureError as exc:
        raise DealValidationError(str(exc)) from exc
    sources: dict[str, str] = dict(figures.sources)
    price, rehab = figures.price, figures.rehab
    if assumptions.arv is not None:
        sources["arv"] = projection.AS_GIVEN
    arv_source = _arv_source(
        session=session,
        org_id=org_id,
        property_id=deal.property_id,
        strategy=strategy,
        given=assumptions.arv,
    )
    if arv_source is not None and arv_source.valuation_id is not None:
        sources["arv"] = f"valuation {arv_source.valuation_id} ({arv_source.valuation_date})"
    elif arv_source is not None and arv_source.source == "comps today":
        sources["arv"] = f"the analysis's ARV from comps as of {arv_source.valuation_date}"
    used = assumptions
    if arv_source is not None and assumptions.arv is None:
        used = assumptions.model_copy(update={"arv": arv_source.value})
    rent = assumptions.rent_monthly
    if rent is not None:
        sources["rent_monthly"] = projection.AS_GIVEN
    elif getattr(prop, "target_rent", None) is not None:
        rent, sources["rent_monthly"] = prop.target_rent, "property.target_rent"
    elif strategy in RENTED_STRATEGIES:
        rent, rent_source = projection.analysis_rent(session=session, org_id=org_id, prop=prop)
        if rent is not None:
            sources["rent_monthly"] = rent_source
    bedrooms: int | None = getattr(prop, "bedrooms", None)
    payment_standard = assumptions.payment_standard_monthly
    payment_source: str | None = None
    allowance: Decimal | None = None
    allowance_source = "default: none"
    if strategy == DealStrategy.section8_rental:
        if payment_standard is not None:
            payment_source = projection.AS_GIVEN
        elif bedrooms is not None:
            payment_standard, allowance, payment_source, allowance_source = _payment_standard(
                session=session,
                org_id=org_id,
                bedrooms=bedrooms,
                prop=prop,
                area=assumptions.fmr_area,
            )
        if payment_source:
            sources["payment_standard_monthly"] = payment_source
        if assumptions.utility_allowance_monthly is not None:
            sources["utility_allowance_monthly"] = projection.AS_GIVEN
        else:
            # The table's allowance, or that none is on file ($0 used): never "FMR table" for $0.
            sources["utility_allowance_monthly"] = allowance_source
        if bedrooms is not None:
            sources["bedrooms"] = "property.bedrooms"
    try:
        payload = projection.build_inputs(
            strategy=strategy,
            assumptions=used,
            price=price,
            rehab=rehab,
            rent=rent,
            bedrooms=bedrooms,
            payment_standard=payment_standard,
            payment_standard_source=payment_source,
            utility_allowance=allowance,
        )
        analysis = underwriting.analyze(
            strategy=projection.STRATEGY_ANALYSIS[strategy], payload=payload
        )
        if isinstance(analysis, Section8Result) and sources.get("rent_monthly", "").startswith(
            projection.VOUCHER_RENT_SOURCE
        ):
            # The "market rent" is the voucher's maximum itself: nothing to compare with.
            analysis = projection.without_market_comparison(analysis)
        held = None
        if strategy in projection.HELD_STRATEGIES:
            rental_payload = payload
            if isinstance(analysis, Section8Result):
                # A Section 8 deal is held at the voucher's rent and vacancy, not the market's.
                rental_payload = analysis.section8.inputs.model_dump()
            held = underwriting.project_hold(
                inputs=ProjectionInput.model_validate(
                    projection.build_hold_projection(assumptions=used, rental_inputs=rental_payload)
                )
            )
    except projection.MissingFigureError as exc:
        raise DealValidationError(str(exc)) from exc
    except PydanticValidationError as exc:
        raise DealValidationError(
            f"the deal's figures cannot be analysed: {underwriting.describe_validation_error(exc)}"
        ) from exc
    except underwriting.UnderwritingError as exc:
        raise DealValidationError(str(exc)) from exc
    return DealProjection(
        deal_id=deal.id,
        strategy=strategy,
        analysis_strategy=projection.STRATEGY_ANALYSIS[strategy],
        assumptions=assumptions,
        sources=sources,
        analysis=analysis,  # type: ignore[arg-type]
        projection=held,
        arv_source=arv_source,
    )


# Strategies that rent the house, so need a monthly rent (the analysis's when none is given).
RENTED_STRATEGIES = frozenset(
    {DealStrategy.rental, DealStrategy.section8_rental, DealStrategy.brrrr}
)
# Strategies whose analysis cannot run without an after-repair value.
ARV_STRATEGIES = frozenset({DealStrategy.flip, DealStrategy.brrrr, DealStrategy.wholesale})
# A stored ARV valued longer ago than this is flagged stale in the projection (still used).
ARV_STALE_AFTER_DAYS = 180


def _arv_source(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    strategy: DealStrategy,
    given: Decimal | None,
) -> projection.ArvSource | None:
    """The ARV a projection runs on and where it came from, or None when it needs none.

    An ``arv`` the caller gave wins ("as given"). Otherwise a flip, BRRRR or wholesale deal
    takes the property's latest stored ARV valuation of the organisation, flagged stale (not
    refused) when its value date is over ``ARV_STALE_AFTER_DAYS`` old or an event marked it
    due for re-valuation; with none stored, ``DealValidationError`` says how to get one.
    Rental and Section 8 deals take the stored ARV too (tax and insurance basis, the hold's
    starting value), else the analysis's ARV from today's comps, else none (the price).
    """
    from domain.valuation import service as valuation_service
    from domain.valuation.enums import ValuationKind

    if given is not None:
        return projection.ArvSource(source="as given", value=given)
    stored = valuation_service.latest_valuation(
        session=session, org_id=org_id, property_id=property_id, kind=ValuationKind.arv
    )
    if stored is None and strategy not in ARV_STRATEGIES:
        # A rental needs no ARV, but taxes and values the house on it as its analysis does.
        return projection.comps_arv(session=session, org_id=org_id, property_id=property_id)
    if stored is None:
        raise DealValidationError(
            f"a {strategy.value} projection needs an ARV, and property {property_id} has no "
            "stored ARV valuation: in chat say 'save the ARV for' and its address; over the "
            f'API, POST /valuations/arv {{"property_id": "{property_id}"}}, or pass ?arv='
        )
    age_days = (valuation_service.today() - stored.as_of).days
    reasons = []
    if age_days > ARV_STALE_AFTER_DAYS:
        reasons.append(
            f"valued as of {stored.as_of}, {age_days} days ago (over {ARV_STALE_AFTER_DAYS})"
        )
    if stored.stale_reason:
        reasons.append(f"marked due for re-valuation: {stored.stale_reason}")
    return projection.ArvSource(
        source="stored valuation",
        value=stored.value,
        valuation_id=stored.id,
        valuation_date=stored.as_of,
        valued_at=stored.created_at,
        age_days=age_days,
        stale=bool(reasons),
        stale_reason=(
            "; ".join(reasons) + ": for a current ARV say 'save the ARV for' and the address "
            "in chat, or re-run POST /valuations/arv, or pass ?arv="
            if reasons
            else None
        ),
    )


def _payment_standard(
    *, session: Session, org_id: uuid.UUID, bedrooms: int, prop: Any, area: str | None
) -> tuple[Decimal, Decimal, str, str]:
    """The property's Section 8 payment standard and utility allowance, and their sources.

    ``projection.voucher_terms``: the area is ``area`` when given, else the FMR area of the
    property's city and state (Detroit's only for a property without a city), so a house
    elsewhere never gets Detroit's figures; a two-family building's two units added up.
    """
    try:
        terms = projection.voucher_terms(
            session=session, org_id=org_id, prop=prop, bedrooms=bedrooms, area=area
        )
    except (LookupError, ValueError) as exc:
        raise DealValidationError(f"no Section 8 payment standard: {exc}") from exc
    return (
        terms.payment_standard,
        terms.utility_allowance,
        terms.payment_source,
        terms.allowance_source,
    )


# --- answers about what was paid and offered (read only) -----------------------------------

# The statuses whose purchase price is a price agreed or paid, not an asking or expected one.
_AGREED_STATUSES = (DealStatus.under_contract, DealStatus.closed)


@dataclass(frozen=True)
class PurchaseFacts:
    """What the company paid (or agreed, or expects to pay) for a deal's property."""

    deal: Deal
    purchase_price: Decimal
    basis: str
    """how firm the price is: ``paid`` (closed), ``agreed`` (accepted offer or under contract)
    or ``expected`` (the deal's working price before any offer was accepted)."""
    accepted_offer_id: uuid.UUID | None
    closing_costs: Decimal | None
    """closing costs booked on the deal (finance, category closing_costs); None if none."""
    closing_cost_entries: int
    sale_proceeds: Decimal | None = None
    """what the sale brought in, booked on the deal (category sale_proceeds); None if none."""
    selling_costs: Decimal | None = None
    """selling costs booked on the deal (category selling_costs); None if none."""


def _booked(
    session: Session, org_id: uuid.UUID, deal_id: uuid.UUID, category: str
) -> tuple[list[Any], Decimal]:
    """The deal's transactions in a category and their total as spending (refunds back out)."""
    from domain.finance import service as finance_service  # late: keeps the modules apart
    from domain.finance.enums import TransactionType

    rows = list(
        finance_service.list_transactions(
            session=session, org_id=org_id, deal_id=deal_id, category=category, limit=500
        ).items
    )
    spent = sum((-TransactionType(t.type).signed(Decimal(t.amount)) for t in rows), Decimal(0))
    return rows, spent


def purchase_facts(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    principal: Principal | None = None,
) -> PurchaseFacts | None:
    """The price of the firmest deal with a price on a property; None when no deal has one.

    Closed deals come first (the price paid), then deals under contract or with an accepted
    offer (the price agreed), then any other deal's working price (expected); the caller
    sees only the deals they may see. Closing costs, sale proceeds and selling costs are the
    deal's transactions in those categories (refunds taken back).
    """
    prices: dict[uuid.UUID, Decimal] = {}
    deals = []
    for d in list_deals(
        session=session,
        org_id=org_id,
        principal=principal,
        property_id=property_id,
        limit=MAX_LIST_LIMIT,
    ):
        if d.purchase_price is not None:
            prices[d.id] = d.purchase_price
            deals.append(d)
    if not deals:
        return None
    accepted = {
        offer.deal_id: offer.id
        for offer in session.exec(
            select(Offer).where(
                Offer.org_id == org_id,
                col(Offer.deal_id).in_([d.id for d in deals]),
                Offer.status == OfferStatus.accepted,
            )
        )
    }

    def basis(deal: Deal) -> str:
        if deal.status == DealStatus.closed:
            return "paid"
        if deal.status in _AGREED_STATUSES or deal.id in accepted:
            return "agreed"
        return "expected"

    rank = {"paid": 0, "agreed": 1, "expected": 2}
    deal = min(deals, key=lambda d: rank[basis(d)])  # stable: most recently changed first
    # A refund of closing costs takes them back (it used to be added to them).
    costs, total = _booked(session, org_id, deal.id, "closing_costs")
    sales, sold_spent = _booked(session, org_id, deal.id, "sale_proceeds")
    selling, selling_total = _booked(session, org_id, deal.id, "selling_costs")
    return PurchaseFacts(
        deal=deal,
        purchase_price=prices[deal.id],
        basis=basis(deal),
        accepted_offer_id=accepted.get(deal.id),
        closing_costs=total if costs else None,
        closing_cost_entries=len(costs),
        # Proceeds are income: money in is positive, so the "spending" total is negated.
        sale_proceeds=-sold_spent if sales else None,
        selling_costs=selling_total if selling else None,
    )


@dataclass(frozen=True)
class OfferChange:
    """One move of an offer after it was made: countered, accepted, rejected ..."""

    status: OfferStatus
    at: datetime
    by: str
    note: str | None


@dataclass(frozen=True)
class OfferView:
    """An offer as people read it: amount, where it stands, who made it and when."""

    offer: Offer
    made_by: str
    changes: tuple[OfferChange, ...]


def offer_history(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    principal: Principal | None = None,
) -> list[OfferView]:
    """A deal's offers, oldest first, each with who made it and its later status changes.

    Who made an offer is the user's name (else email) from the auth module; the changes come
    from the deal's timeline (``offer_status_changed``), with the note given (a counter's
    terms). An investor sees only the offers of deals they may see.
    """
    offers = list_offers(session=session, org_id=org_id, deal_id=deal_id, principal=principal)
    events = session.exec(
        select(DealEvent)
        .where(
            DealEvent.org_id == org_id,
            DealEvent.deal_id == deal_id,
            DealEvent.kind == DealEventKind.offer_status_changed,
        )
        .order_by(col(DealEvent.occurred_at), col(DealEvent.seq))
    ).all()
    changes: dict[str, list[OfferChange]] = {}
    for entry in events:
        details = entry.details or {}
        if details.get("to") is None:
            continue
        changes.setdefault(str(details.get("offer_id")), []).append(
            OfferChange(
                status=OfferStatus(details["to"]),
                at=entry.occurred_at,
                by=entry.actor,
                note=details.get("note"),
            )
        )
    names: dict[uuid.UUID, str] = {}
    for offer in offers:
        if offer.created_by is not None and offer.created_by not in names:
            user = auth_service.get_user(session=session, org_id=org_id, user_id=offer.created_by)
            names[offer.created_by] = (
                (user.full_name or user.email) if user is not None else "a former user"
            )
    return [
        OfferView(
            offer=offer,
            made_by=names.get(offer.created_by, SYSTEM_ACTOR) if offer.created_by else SYSTEM_ACTOR,
            changes=tuple(changes.get(str(offer.id), ())),
        )
        for offer in offers
    ]


def deals_on_street(
    *,
    session: Session,
    org_id: uuid.UUID,
    street: str,
    principal: Principal | None = None,
    limit: int = MAX_LIST_LIMIT,
) -> list[Deal]:
    """The deals the caller may see whose property's street line names ``street``.

    For "the mack ave deal": a street named without a house number ("mack ave", "mack
    avenue" and "mack" all find "9000 Mack Ave"; whole words, case aside, never "Mackinaw").
    Most recently changed first.
    """
    from domain.property import service as property_service  # late: keeps the modules apart

    name = property_service.street_name(street)
    if name is None:
        return []
    on_street = property_service.ids_on_street(org_id=org_id, street=name)
    return _deals_on_properties(session, org_id, on_street, principal, limit)


def deals_at_house_number(
    *,
    session: Session,
    org_id: uuid.UUID,
    number: str,
    principal: Principal | None = None,
    limit: int = MAX_LIST_LIMIT,
) -> list[Deal]:
    """The deals the caller may see on a house numbered ``number``, on any street.

    "p&l for deal 3866": the deal on 3866 Duff Ave. Most recently changed first.
    """
    from domain.property import service as property_service  # late: keeps the modules apart

    at_number = property_service.ids_at_house_number(org_id=org_id, number=number)
    return _deals_on_properties(session, org_id, at_number, principal, limit)


def _deals_on_properties(
    session: Session,
    org_id: uuid.UUID,
    property_ids: SelectOfScalar[uuid.UUID],
    principal: Principal | None,
    limit: int,
) -> list[Deal]:
    statement = (
        _deals_query(
            org_id=org_id, principal=principal, status=None, strategy=None, property_id=None
        )
        .where(col(Deal.property_id).in_(property_ids))
        .order_by(col(Deal.updated_at).desc(), col(Deal.id))
        .limit(max(1, min(limit, MAX_LIST_LIMIT)))
    )
    return list(session.exec(statement))
