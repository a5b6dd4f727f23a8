"""Rehab projects: scope, contractors, bids and leveling, tasks, milestones, photos, expenses.

Every function is keyword-only, takes a session and the caller's ``org_id`` and never returns
another organisation's rows (another organisation's id reads as "not found"). Functions flush,
never commit: the caller owns the transaction, so the events they publish (through the outbox)
and the audit rows they write are saved or lost together with the change.

Errors: ``NotFoundError`` (HTTP 404) for an unknown id, ``ConstructionInputError`` (422) for a
value that is not acceptable (the message says which and why), ``ConstructionConflictError``
(409) for a change the current state does not allow (a duplicate phone, completing a task whose
dependencies are not done, awarding a rejected bid).

Events published (payloads in the README's Construction section): ``project.created``,
``bid.received``, ``task.completed``, ``milestone.reached``, ``property.photos.uploaded`` (for
the vision worker), ``construction.expense.added`` (finance books it as a transaction),
``bid.awarded`` and ``project.budget.changed`` (finance's rehab line follows the budget).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from core.clock import local_day, local_today
from core.money import money_str
from core.paging import count_rows
from core.timestamps import utc_text
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.construction.enums import (
    ActivityKind,
    BidSource,
    BidStatus,
    ExpenseCategory,
    PhotoPhase,
    ProjectStatus,
    TaskStatus,
)
from domain.construction.models import (
    ActivityRead,
    AwardResult,
    Bid,
    BidCreate,
    BidLeveling,
    BidLineItem,
    BidRead,
    BidRescheduleResult,
    Contractor,
    ContractorCreate,
    ContractorUpdate,
    ExpenseCreate,
    LateTask,
    LeveledBid,
    LeveledLine,
    LineProgress,
    Milestone,
    MilestoneCreate,
    MilestoneRead,
    Project,
    ProjectActivity,
    ProjectCreate,
    ProjectDetail,
    ProjectExpense,
    ProjectPhoto,
    ProjectProgress,
    ProjectRead,
    ProjectUpdate,
    ScopeItem,
    ScopeItemCreate,
    ScopeItemRead,
    Task,
    TaskCreate,
    TaskUpdate,
)
from store.base import utcnow
from store.outbox import publish

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
ONE_DECIMAL = Decimal("0.1")
MAX_AMOUNT = Decimal("9999999999.99")  # NUMERIC(12, 2), the money columns
DEFAULT_PHONE_REGION = "US"
# Strategies whose deals are rehabbed by us, so a deal under contract gets a project.
REHAB_STRATEGIES = frozenset({"flip", "brrrr"})
DEAL_ESTIMATE_COMPONENT = "rehab (from deal estimate)"
MAX_PHOTO_PIXELS = 60_000_000
# Projects a worker or tool may list at once.
MAX_LIST_LIMIT = 500
# A bid's duration: ten years is no rehab bid (and the column is a 32-bit integer).
MAX_BID_DURATION_DAYS = 3650
_RowT = TypeVar("_RowT")  # the row type of a statement cut to a page

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")


# --- errors ------------------------------------------------------------------------------


class ConstructionError(Exception):
    """Base class of the construction module's errors."""


class NotFoundError(ConstructionError, LookupError):
    """The project, contractor, bid, task, milestone or scope line is not in the organisation."""


class ConstructionInputError(ConstructionError, ValueError):
    """A value is not acceptable; the message says which and why (HTTP 422)."""


class ConstructionConflictError(ConstructionError):
    """The current state does not allow the change (HTTP 409)."""


class IllegalProjectMoveError(ConstructionConflictError):
    """A project status change ``PROJECT_MOVES`` does not allow; says where it may go instead."""

    def __init__(
        self, current: ProjectStatus, wanted: ProjectStatus, allowed: frozenset[ProjectStatus]
    ) -> None:
        """Keep the statuses (``allowed`` sorted) for the caller to show, and word the message."""
        self.current = current
        self.wanted = wanted
        self.allowed = sorted(allowed, key=lambda s: s.value)

        def words(status: ProjectStatus) -> str:
            return status.value.replace("_", " ")

        adjective = current.value.replace("_", "-")
        article = "An" if adjective[0] in "aeiou" else "A"
        super().__init__(
            f"{article} {adjective} project cannot move to {words(wanted)}; from {words(current)} "
            f"it can move to: {', '.join(words(s) for s in self.allowed)}"
        )


# --- small helpers -------------------------------------------------------------------------


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- the calendar: a date a person means is a local date -------------------------------------
# "Today" for a project's dates (an expense's default day, completion, progress, bid starts) is
# ``core.clock.local_today()``: projects carry no time zone of their own, so the company's
# (``DEALDESK_TIMEZONE``). At 8 pm on November 30 in Detroit it is November 30, not the UTC
# December 1. Timestamps stay in UTC; ``local_day`` gives the local date of one.

# An expense is booked when it is paid (or about to be): one dated further ahead than this is a
# typo or a plan. Budgets would count it as spent at once while progress and the P&L hide it
# until its day, so it is refused rather than booked silently.
MAX_EXPENSE_DAYS_AHEAD = 31


def check_expense_date(day: dt.date, what: str = "spent_on") -> None:
    """An expense dated more than ``MAX_EXPENSE_DAYS_AHEAD`` days ahead: ConstructionInputError."""
    now = local_today()
    if day > now + dt.timedelta(days=MAX_EXPENSE_DAYS_AHEAD):
        raise ConstructionInputError(
            f"{what} {day.isoformat()} is more than {MAX_EXPENSE_DAYS_AHEAD} days ahead (today "
            f"is {now.isoformat()}): book an expense when it is paid, or check the date"
        )


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` as a percentage to one decimal place; None when ``whole`` is zero."""
    if whole <= 0:
        return None
    return (part * 100 / whole).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def _actor(principal: Principal | None, actor_id: uuid.UUID | None = None) -> str:
    if principal is not None:
        return principal.email
    return f"user {actor_id}" if actor_id is not None else auth_service.SYSTEM_ACTOR


def _audit(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal | None,
    action: str,
    entity: str,
    entity_id: uuid.UUID,
    changes: dict[str, Any],
    actor_id: uuid.UUID | None = None,
) -> None:
    auth_service.record_audit(
        session=session,
        principal=principal,
        org_id=org_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=changes,
        actor=_actor(None, actor_id) if principal is None else None,
    )


def _record_activity(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID | None,
    kind: ActivityKind,
    summary: str,
    details: Mapping[str, Any] | None = None,
    source_event_id: uuid.UUID | None = None,
) -> ProjectActivity:
    from store.outbox import normalise_payload

    entry = ProjectActivity(
        org_id=org_id,
        project_id=project_id,
        kind=kind.value,
        summary=summary,
        details=normalise_payload(details or {}),
        source_event_id=source_event_id,
    )
    session.add(entry)
    session.flush()
    return entry


def activity_for_event(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID
) -> ProjectActivity | None:
    """The activity entry an event was recorded as (so its subscriber handles it once)."""
    return session.exec(
        select(ProjectActivity).where(
            ProjectActivity.org_id == org_id, ProjectActivity.source_event_id == event_id
        )
    ).first()


# --- contractors ----------------------------------------------------------------------------


def normalise_phone(value: str) -> str:
    """``value`` as an E.164 number (``(312) 555-0123`` -> ``+13125550123``), else 422.

    Numbers without a country code are read as US numbers. With the ``phonenumbers`` package
    the number must be a valid one for its country; without it, a strict E.164 pattern.
    """
    raw = value.strip()
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - phonenumbers is a dependency
        compact = _PHONE_SEPARATORS.sub("", raw)
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        if not compact.startswith("+") and len(compact) == 10:
            compact = "+1" + compact
        if not _E164.match(compact):
            raise ConstructionInputError(
                f"phone {value!r} is not a phone number in E.164 form (e.g. +13125550123)"
            ) from None
        return compact
    try:
        parsed = phonenumbers.parse(raw, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ConstructionInputError(f"phone {value!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ConstructionInputError(
            f"phone {value!r} is not a valid number for its country (give it as E.164, "
            "e.g. +13125550123)"
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone (``America/Chicago``), else 422."""
    cleaned = name.strip()
    try:
        zoneinfo.ZoneInfo(cleaned)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConstructionInputError(
            f"timezone {name!r} is not an IANA time zone name (e.g. America/Chicago)"
        ) from exc
    return cleaned


def _normalise_contractor_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise contractor fields in place (phone, email, zone, trades, hours)."""
    if values.get("phone") is not None:
        values["phone"] = normalise_phone(str(values["phone"]))
    if values.get("email") is not None:
        email = str(values["email"]).strip().lower()
        if not _EMAIL.match(email):
            raise ConstructionInputError(f"email {values['email']!r} is not an email address")
        values["email"] = email
    if "timezone" in values:
        if values["timezone"] is None:
            raise ConstructionInputError("timezone cannot be empty; give an IANA name")
        values["timezone"] = check_timezone(str(values["timezone"]))
    if "trades" in values:
        if values["trades"] is None:
            raise ConstructionInputError("trades cannot be null; send [] for none")
        trades: list[str] = []
        for trade in values["trades"]:
            word = " ".join(str(trade).strip().lower().split())
            if not word:
                raise ConstructionInputError("a trade cannot be empty")
            if word not in trades:
                trades.append(word)
        values["trades"] = trades
    if values.get("name") is not None and not str(values["name"]).strip():
        raise ConstructionInputError("name cannot be empty")
    return values


def _check_duration_days(duration_days: int | None) -> None:
    if duration_days is not None and not 0 <= duration_days <= MAX_BID_DURATION_DAYS:
        raise ConstructionInputError(
            f"duration_days must be between 0 and {MAX_BID_DURATION_DAYS} (got {duration_days})"
        )


# The window a bid's start date must fall in: a start more than a year back or more than two
# years ahead is a typo or a misheard year (9999-12-25, 1900-01-01), not a plan.
BID_START_DAYS_BACK = 365
BID_START_DAYS_AHEAD = 730


def bid_start_window(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The earliest and latest start date a bid may carry (a year back, two years ahead)."""
    today = today or local_today()
    return (
        today - dt.timedelta(days=BID_START_DAYS_BACK),
        today + dt.timedelta(days=BID_START_DAYS_AHEAD),
    )


def check_bid_start_date(
    start_date: dt.date | None, what: str = "start_date", today: dt.date | None = None
) -> None:
    """A start date outside ``bid_start_window`` is a ``ConstructionInputError`` saying so."""
    if start_date is None:
        return
    earliest, latest = bid_start_window(today)
    if not earliest <= start_date <= latest:
        raise ConstructionInputError(
            f"{what} {start_date.isoformat()} is out of range: a start date must be between "
            f"{earliest.isoformat()} (a year back) and {latest.isoformat()} (two years ahead)"
        )


def _date_plus(start: dt.date | None, days: int | None) -> dt.date | None:
    """``start`` plus ``days``; None when either is unknown or the sum is past year 9999."""
    if start is None or days is None:
        return None
    try:
        return start + dt.timedelta(days=days)
    except OverflowError:
        return None


def _check_contact_hours(start: dt.time | None, end: dt.time | None) -> None:
    for name, value in (("preferred_contact_start", start), ("preferred_contact_end", end)):
        # The contractor's timezone says where the hours are; an offset (or a number, which
        # pydantic reads as seconds past midnight UTC) would be compared with local times.
        if value is not None and value.tzinfo is not None:
            raise ConstructionInputError(
                f"{name} must be a local time such as 08:00, without a UTC offset "
                f"(got {value.isoformat()}); the contractor's timezone says where"
            )
    if (start is None) != (end is None):
        raise ConstructionInputError(
            "give both preferred_contact_start and preferred_contact_end, or neither"
        )
    if start is not None and end is not None and start >= end:
        raise ConstructionInputError(
            f"preferred_contact_start ({start.isoformat('minutes')}) must be before "
            f"preferred_contact_end ({end.isoformat('minutes')})"
        )


def _phone_taken(
    session: Session, org_id: uuid.UUID, phone: str, except_id: uuid.UUID | None = None
) -> Contractor | None:
    statement = select(Contractor).where(Contractor.org_id == org_id, Contractor.phone == phone)
    if except_id is not None:
        statement = statement.where(Contractor.id != except_id)
    return session.exec(statement).first()


def _flush_contractor(session: Session, contractor: Contractor) -> None:
    """Flush in a savepoint so a phone taken by a concurrent insert is a 409, not a crash."""
    try:
        with session.begin_nested():
            session.add(contractor)
            session.flush()
    except IntegrityError as exc:
        raise ConstructionConflictError(
            f"another contractor of your organisation already has phone {contractor.phone}"
        ) from exc


def create_contractor(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_in: ContractorCreate,
    actor_id: uuid.UUID | None = None,
    principal: Principal | None = None,
) -> Contractor:
    """Add a contractor; the phone is stored as E.164 and must be unique in the organisation."""
    values = _normalise_contractor_fields(contractor_in.model_dump())
    _check_contact_hours(values.get("preferred_contact_start"), values.get("preferred_contact_end"))
    if values.get("phone") and (taken := _phone_taken(session, org_id, values["phone"])):
        raise ConstructionConflictError(
            f"contractor {taken.name} ({taken.id}) already has phone {values['phone']}"
        )
    contractor = Contractor(org_id=org_id, **values)
    _flush_contractor(session, contractor)
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="create",
        entity="contractor",
        entity_id=contractor.id,
        changes=contractor_in.model_dump(mode="json", exclude={"phone"})
        | {"phone": "set" if contractor.phone else None},
        actor_id=actor_id,
    )
    return contractor


def get_contractor(*, session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID) -> Contractor:
    """One contractor of the organisation; ``NotFoundError`` otherwise."""
    contractor = session.exec(
        select(Contractor).where(Contractor.id == contractor_id, Contractor.org_id == org_id)
    ).first()
    if contractor is None:
        raise NotFoundError(f"contractor {contractor_id} not found")
    return contractor


def find_contractor_by_phone(
    *, session: Session, org_id: uuid.UUID, phone: str
) -> Contractor | None:
    """The organisation's contractor with this phone number (any format), or None."""
    try:
        number = normalise_phone(phone)
    except ConstructionInputError:
        return None
    return _phone_taken(session, org_id, number)


# Spoken trade names → the trade words contractors are filed under.
TRADE_WORDS = {
    "roof": "roofing",
    "roofer": "roofing",
    "roofers": "roofing",
    "plumber": "plumbing",
    "plumbers": "plumbing",
    "electrician": "electrical",
    "electricians": "electrical",
    "electric": "electrical",
    "painter": "painting",
    "painters": "painting",
    "paint": "painting",
    "heating": "hvac",
    "furnace": "hvac",
    "floor": "flooring",
    "floors": "flooring",
}


def normalise_trade(trade: str) -> str:
    """``Roofers`` → ``roofing``; other trades lower-cased as given."""
    word = " ".join(trade.strip().lower().split())
    return TRADE_WORDS.get(word, word)


def _contractors_query(
    *, org_id: uuid.UUID, trade: str | None, include_opted_out: bool
) -> SelectOfScalar[Contractor]:
    """The organisation's contractors, filtered (no order, no paging)."""
    statement = select(Contractor).where(Contractor.org_id == org_id)
    if trade is not None and trade.strip():
        statement = statement.where(col(Contractor.trades).contains([normalise_trade(trade)]))
    if not include_opted_out:
        statement = statement.where(col(Contractor.opted_out).is_(False))
    return statement


def list_contractors(
    *,
    session: Session,
    org_id: uuid.UUID,
    trade: str | None = None,
    include_opted_out: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> list[Contractor]:
    """The organisation's contractors by name; ``trade`` keeps those who do that trade.

    All of them unless ``limit`` asks for a page.
    """
    statement = _contractors_query(
        org_id=org_id, trade=trade, include_opted_out=include_opted_out
    ).order_by(col(Contractor.name), col(Contractor.id))
    return list(session.exec(_page(statement, limit, offset)))


def count_contractors(
    *,
    session: Session,
    org_id: uuid.UUID,
    trade: str | None = None,
    include_opted_out: bool = True,
) -> int:
    """How many contractors ``list_contractors`` with these filters would list."""
    return count_rows(
        session,
        _contractors_query(org_id=org_id, trade=trade, include_opted_out=include_opted_out),
    )


def update_contractor(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID,
    contractor_in: ContractorUpdate,
    principal: Principal | None = None,
) -> Contractor:
    """Change a contractor's fields; only those given change (phone stays unique)."""
    contractor = get_contractor(session=session, org_id=org_id, contractor_id=contractor_id)
    given = _normalise_contractor_fields(contractor_in.model_dump(exclude_unset=True))
    if "name" in given and given["name"] is None:
        raise ConstructionInputError("name cannot be empty")
    if "opted_out" in given and given["opted_out"] is None:
        raise ConstructionInputError("opted_out must be true or false")
    _check_contact_hours(
        given.get("preferred_contact_start", contractor.preferred_contact_start),
        given.get("preferred_contact_end", contractor.preferred_contact_end),
    )
    if given.get("phone") and (
        taken := _phone_taken(session, org_id, given["phone"], except_id=contractor.id)
    ):
        raise ConstructionConflictError(
            f"contractor {taken.name} ({taken.id}) already has phone {given['phone']}"
        )
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if getattr(contractor, key) != value:
            changes[key] = "changed" if key == "phone" else value
            setattr(contractor, key, value)
    if not changes:
        return contractor
    contractor.updated_at = utcnow()
    _flush_contractor(session, contractor)
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="update",
        entity="contractor",
        entity_id=contractor.id,
        changes=changes,
    )
    return contractor


def mark_contractor_opted_out(
    *, session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID, reason: str
) -> Contractor:
    """Record that a contractor asked not to be called (idempotent; the reason is noted)."""
    contractor = get_contractor(session=session, org_id=org_id, contractor_id=contractor_id)
    if contractor.opted_out:
        return contractor
    note = f"{local_today().isoformat()}: opted out of calls: {reason.strip() or 'no reason'}"
    contractor.opted_out = True
    contractor.notes = f"{contractor.notes}\n{note}" if contractor.notes else note
    contractor.updated_at = utcnow()
    session.add(contractor)
    session.flush()
    _audit(
        session=session,
        org_id=org_id,
        principal=None,
        action="opt_out",
        entity="contractor",
        entity_id=contractor.id,
        changes={"opted_out": True, "reason": reason},
    )
    return contractor


# --- projects and scope ---------------------------------------------------------------------


def _event_money(value: Decimal | None) -> str | None:
    """An amount as event payloads carry it: a two-place string (``"12500.00"``), None kept."""
    return None if value is None else money_str(value)


def _project_payload(project: Project) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "deal_id": project.deal_id,
        "property_id": project.property_id,
    }


def get_project(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    """One project of the organisation; ``NotFoundError`` otherwise."""
    project = session.exec(
        select(Project).where(Project.id == project_id, Project.org_id == org_id)
    ).first()
    if project is None:
        raise NotFoundError(f"project {project_id} not found")
    return project


def _visible_deal_ids(*, org_id: uuid.UUID, principal: Principal | None) -> Any:
    """A ``SELECT id`` of the deals whose projects ``principal`` may see: None for the team.

    An investor sees a project only through its deal (one they own or are on), as the deal
    service decides, however many deals that is (not the first page of their deals); a
    project on no deal is the team's.
    """
    if principal is None or principal.role != Role.investor:
        return None
    from domain.deal import service as deal_service

    return deal_service.visible_deal_ids(org_id=org_id, principal=principal)


def require_visible_project(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, principal: Principal | None
) -> Project:
    """The project, if ``principal`` may see it; ``NotFoundError`` (never "forbidden") if not."""
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    visible = _visible_deal_ids(org_id=org_id, principal=principal)
    if visible is not None and project.deal_id not in set(session.exec(visible)):
        raise NotFoundError(f"project {project_id} not found")
    return project


def _save_update(
    session: Session,
    org_id: uuid.UUID,
    principal: Principal | None,
    entity: str,
    row: Any,
    changes: dict[str, Any],
) -> None:
    """Stamp, flush and audit-log a changed project, task or bid (``changes`` as audited)."""
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="update",
        entity=entity,
        entity_id=row.id,
        changes=changes,
    )


def _lock_project(session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    project = session.exec(
        select(Project).where(Project.id == project_id, Project.org_id == org_id).with_for_update()
    ).first()
    if project is None:
        raise NotFoundError(f"project {project_id} not found")
    return project


def _projects_query(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ProjectStatus | None,
    deal_id: uuid.UUID | None,
    property_id: uuid.UUID | None,
    principal: Principal | None,
) -> SelectOfScalar[Project]:
    """The projects ``principal`` may see, filtered (no order, no paging)."""
    statement = select(Project).where(Project.org_id == org_id)
    visible = _visible_deal_ids(org_id=org_id, principal=principal)
    if visible is not None:
        statement = statement.where(col(Project.deal_id).in_(visible))
    if status is not None:
        statement = statement.where(Project.status == status)
    if deal_id is not None:
        statement = statement.where(Project.deal_id == deal_id)
    if property_id is not None:
        statement = statement.where(Project.property_id == property_id)
    return statement


def list_projects(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ProjectStatus | None = None,
    deal_id: uuid.UUID | None = None,
    property_id: uuid.UUID | None = None,
    limit: int = 100,
    offset: int = 0,
    principal: Principal | None = None,
) -> list[Project]:
    """The organisation's projects ``principal`` may see, most recently changed first."""
    statement = _projects_query(
        session=session, org_id=org_id, status=status, deal_id=deal_id,
        property_id=property_id, principal=principal,
    ).order_by(col(Project.updated_at).desc(), col(Project.id))  # fmt: skip
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    return list(session.exec(statement.limit(limit).offset(max(offset, 0))))


def count_projects(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ProjectStatus | None = None,
    deal_id: uuid.UUID | None = None,
    property_id: uuid.UUID | None = None,
    principal: Principal | None = None,
) -> int:
    """How many projects ``list_projects`` with these filters would list over all pages."""
    return count_rows(
        session,
        _projects_query(
            session=session, org_id=org_id, status=status, deal_id=deal_id,
            property_id=property_id, principal=principal,
        ),
    )  # fmt: skip


def _page(
    statement: SelectOfScalar[_RowT], limit: int | None, offset: int
) -> SelectOfScalar[_RowT]:
    """``statement`` cut to one page: at most ``limit`` rows (all when None) after ``offset``."""
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_LIST_LIMIT)))
    return statement.offset(max(offset, 0))


def projects_on_street(
    *, session: Session, org_id: uuid.UUID, street: str, principal: Principal | None = None
) -> list[Project]:
    """The projects ``principal`` may see on a street named without a house number.

    "the kercheval rehab": ``street`` is the name ("kercheval", see
    ``property_service.street_name``). Open projects come first, then the most recently
    changed; at most 10.
    """
    from domain.property import service as property_service

    on_street = property_service.ids_on_street(org_id=org_id, street=street)
    statement = _projects_query(
        session=session, org_id=org_id, status=None, deal_id=None, property_id=None,
        principal=principal,
    ).where(col(Project.property_id).in_(on_street))  # fmt: skip
    statement = statement.order_by(
        col(Project.status).in_(CLOSED_PROJECT_STATUSES),
        col(Project.updated_at).desc(),
        col(Project.id),
    ).limit(10)
    return list(session.exec(statement))


def project_for_deal(*, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID) -> Project | None:
    """The deal's rehab project, or None."""
    return session.exec(
        select(Project).where(Project.org_id == org_id, Project.deal_id == deal_id)
    ).first()


def rehab_budget_of_record(
    *, session: Session, org_id: uuid.UUID, deal_id: uuid.UUID
) -> Project | None:
    """The deal's project when its budget is the deal's rehab budget of record, else None.

    Once a deal's project has a budget (from the deal's estimate at creation, an award, a
    PATCH), that budget is the rehab figure the analysis, the deal projection and the deal's
    finance rehab line use; a cancelled project's budget is not (the deal falls back to its
    estimated repairs).
    """
    project = project_for_deal(session=session, org_id=org_id, deal_id=deal_id)
    if project is None or project.budget is None:
        return None
    if project.status == ProjectStatus.cancelled:
        return None
    return project


def list_scope_items(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID
) -> list[ScopeItem]:
    """A project's scope lines in the order they were added."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    return _scope(session, org_id, project_id)


def _scope(session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> list[ScopeItem]:
    return list(
        session.exec(
            select(ScopeItem)
            .where(ScopeItem.org_id == org_id, ScopeItem.project_id == project_id)
            .order_by(col(ScopeItem.created_at), col(ScopeItem.id))
        )
    )


def _deal(session: Session, org_id: uuid.UUID, deal_id: uuid.UUID) -> Any:
    from domain.deal import service as deal_service

    try:
        return deal_service.get_deal(session=session, org_id=org_id, deal_id=deal_id)
    except LookupError as exc:
        raise NotFoundError(f"deal {deal_id} not found") from exc


def _property(session: Session, org_id: uuid.UUID, property_id: uuid.UUID) -> Any:
    from domain.property import service as property_service

    try:
        found = property_service.get(session=session, org_id=org_id, property_id=property_id)
    except LookupError:
        found = None
    if found is None:
        raise NotFoundError(f"property {property_id} not found")
    return found


@dataclass(frozen=True)
class DealScope:
    """The scope a deal's rehab estimate gives a project, and where it came from."""

    lines: list[ScopeItemCreate]
    source: str
    budget: Decimal | None


def scope_from_deal(*, session: Session, org_id: uuid.UUID, deal: Any) -> DealScope:
    """The project scope a deal starts from.

    The deal stores its rehab estimate as one figure (``estimated_repairs``); no module stores
    an estimate's line items. So the property's rehab scope is priced line by line from the
    organisation's cost book exactly as its analysis prices it (walkthrough or photo
    conditions, else the default scope for its condition rating); only when that gives nothing
    is the deal's figure one line, "rehab (from deal estimate)". The project's budget is the
    deal's figure when it has one, else the priced scope's total.
    """
    repairs = deal.estimated_repairs
    budget = Decimal(repairs) if repairs is not None else None
    priced = _priced_conditions(session, org_id, deal.property_id)
    if priced is not None:
        lines, source = priced
        total = sum((line.budgeted_cost or Decimal(0) for line in lines), Decimal(0))
        if budget is None:
            budget = total
        else:
            source += f"; budget: the deal's estimated repairs ${budget:,.2f}"
        return DealScope(lines=lines, source=source, budget=budget)
    if budget is None:
        return DealScope(lines=[], source="the deal has no rehab estimate", budget=None)
    line = ScopeItemCreate(
        component=DEAL_ESTIMATE_COMPONENT,
        description="the deal's estimated repairs, as one line until the scope is itemised",
        quantity=Decimal(1),
        unit="job",
        budgeted_cost=budget,
    )
    return DealScope(
        lines=[line], source=f"deal {deal.id} estimated repairs ${budget:,.2f}", budget=budget
    )


def _priced_conditions(
    session: Session, org_id: uuid.UUID, property_id: uuid.UUID | None
) -> tuple[list[ScopeItemCreate], str] | None:
    """The property's rehab scope priced line by line, as its analysis prices it (or None).

    None when the property is unknown or nothing in the scope prices. The scope is the
    analysis's (``analysis_service.rehab_scope``): the newest walkthrough or photo conditions,
    else the default scope for the property's condition rating.
    """
    if property_id is None:
        return None
    from domain.analysis import service as analysis_service
    from domain.pricing import service as pricing_service

    try:
        prop = _property(session, org_id, property_id)
        components, scope_source = analysis_service.rehab_scope(
            session=session, org_id=org_id, prop=prop
        )
        estimate = pricing_service.estimate_rehab(
            session=session,
            org_id=org_id,
            items=components,
            square_feet=prop.square_feet if prop.square_feet and prop.square_feet > 0 else None,
            contingency_pct=0,
        )
    except (LookupError, ValueError) as exc:
        log.warning("property %s rehab scope could not be priced: %s", property_id, exc)
        return None
    if not estimate.line_items:
        return None
    lines = [
        ScopeItemCreate(
            component=line.component_name,
            description=f"{line.action.value} ({condition_of(line)})",
            quantity=line.quantity,
            unit=line.unit,
            budgeted_cost=line.line_total,
        )
        for line in estimate.line_items
    ]
    return lines, f"{scope_source}, priced from the cost book"


def condition_of(line: Any) -> str:
    """How a priced line's condition reads ("poor", or "no condition given")."""
    return str(line.condition.value) if line.condition else "no condition given"


def _add_scope(
    session: Session, org_id: uuid.UUID, project_id: uuid.UUID, lines: Sequence[ScopeItemCreate]
) -> list[ScopeItem]:
    items = []
    for line in lines:
        checked = ScopeItemCreate.model_validate(line.model_dump())
        if not checked.component.strip():
            raise ConstructionInputError("a scope line needs a component")
        item = ScopeItem(org_id=org_id, project_id=project_id, **checked.model_dump())
        item.component = checked.component.strip()
        session.add(item)
        items.append(item)
    session.flush()
    return items


def _lock_deal_key(session: Session, deal_id: uuid.UUID) -> None:
    """Serialise project creation per deal (two deliveries of deal events race otherwise)."""
    key = int.from_bytes(hashlib.sha256(b"construction.deal:" + deal_id.bytes).digest()[:8], "big")
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key - (1 << 63)})


def create_project(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_in: ProjectCreate,
    scope: Sequence[ScopeItemCreate] = (),
    actor_id: uuid.UUID | None = None,
    principal: Principal | None = None,
) -> Project:
    """Open a rehab project; publishes ``project.created``.

    A named deal must be the organisation's and have no project yet (409); its property
    becomes the project's. With a deal and no scope given, the scope comes from the deal's
    rehab estimate (``scope_from_deal``). The budget, when not given, is the sum of the scope's
    budgeted costs (or the deal's estimate). A negative budget is refused (input error).
    """
    if project_in.budget is not None and Decimal(project_in.budget) < 0:
        raise ConstructionInputError("budget cannot be negative")
    values = ProjectCreate.model_validate(project_in.model_dump()).model_dump()
    values["name"] = str(values["name"]).strip()
    if not values["name"]:
        raise ConstructionInputError("name cannot be empty")
    source = "scope given with the project" if scope else "no scope yet"
    deal_budget: Decimal | None = None
    if values.get("deal_id") is not None:
        deal = _deal(session, org_id, values["deal_id"])
        _lock_deal_key(session, deal.id)
        if (
            existing := project_for_deal(session=session, org_id=org_id, deal_id=deal.id)
        ) is not None:
            raise ConstructionConflictError(
                f"deal {deal.id} already has project {existing.id} ({existing.name})"
            )
        if values.get("property_id") is None:
            values["property_id"] = deal.property_id
        elif values["property_id"] != deal.property_id:
            raise ConstructionInputError(
                f"property {values['property_id']} is not the property of deal {deal.id}"
            )
        if not scope:
            from_deal = scope_from_deal(session=session, org_id=org_id, deal=deal)
            scope, source, deal_budget = from_deal.lines, from_deal.source, from_deal.budget
    if values.get("property_id") is not None:
        _property(session, org_id, values["property_id"])
    if (
        values.get("start_date")
        and values.get("target_end_date")
        and values["target_end_date"] < values["start_date"]
    ):
        raise ConstructionInputError("target_end_date cannot be before start_date")
    project = Project(org_id=org_id, scope_source=source, **values)
    session.add(project)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise ConstructionConflictError(
            f"deal {values.get('deal_id')} already has a project"
        ) from exc
    items = _add_scope(session, org_id, project.id, scope)
    scope_total = sum((i.budgeted_cost or Decimal(0) for i in items), Decimal(0))
    if project.budget is None:
        if deal_budget is not None:
            project.budget = deal_budget
        elif any(i.budgeted_cost is not None for i in items):
            project.budget = _cents(scope_total)
        session.add(project)
        session.flush()
    actor = _actor(principal, actor_id)
    publish(
        session,
        org_id=org_id,
        name="project.created",
        payload=_project_payload(project)
        | {
            "name": project.name,
            "status": project.status,
            "budget": _event_money(project.budget),
            "scope_items": len(items),
            "scope_total": _event_money(scope_total),
            "scope_source": project.scope_source,
            "by": actor,
        },
    )
    _record_activity(
        session=session,
        org_id=org_id,
        project_id=project.id,
        kind=ActivityKind.project_created,
        summary=f"Project created by {actor} with {len(items)} scope line(s) ({source})",
        details={"budget": project.budget, "scope_total": scope_total},
    )
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="create",
        entity="project",
        entity_id=project.id,
        changes=project_in.model_dump(mode="json") | {"scope_items": len(items)},
        actor_id=actor_id,
    )
    return project


def add_scope_items(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    scope: Sequence[ScopeItemCreate],
    principal: Principal | None = None,
) -> list[ScopeItem]:
    """Add scope lines to a project (its budget is not changed: award a bid or PATCH it)."""
    project = _lock_project(session, org_id, project_id)
    if not scope:
        raise ConstructionInputError("give at least one scope line")
    items = _add_scope(session, org_id, project.id, scope)
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="add_scope",
        entity="project",
        entity_id=project.id,
        changes={"scope": [i.component for i in items]},
    )
    return items


# Published when a PATCH changes a project's budget (or revives a cancelled project):
# finance's rehab line for the deal follows it. Awards announce theirs with ``bid.awarded``.
BUDGET_CHANGED_EVENT = "project.budget.changed"

# A task not yet finished: completing its project needs it done or cancelled first.
OPEN_TASK_STATUSES = frozenset({TaskStatus.todo, TaskStatus.in_progress, TaskStatus.blocked})


def _require_open_project(project: Project, what: str) -> None:
    """``ConstructionConflictError`` when the project is completed or cancelled."""
    if project.status in CLOSED_PROJECT_STATUSES:
        raise ConstructionConflictError(
            f"project {project.id} is {project.status}: reopen the project first to add {what}"
        )


# Where a project may go from each status (staying put is always allowed). A completed
# project reopens into in_progress (a punch list); a cancelled one is revived as planning.
PROJECT_MOVES: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    ProjectStatus.planning: frozenset(
        {
            ProjectStatus.bidding,
            ProjectStatus.in_progress,
            ProjectStatus.on_hold,
            ProjectStatus.cancelled,
        }
    ),
    ProjectStatus.bidding: frozenset(
        {
            ProjectStatus.planning,
            ProjectStatus.in_progress,
            ProjectStatus.on_hold,
            ProjectStatus.cancelled,
        }
    ),
    ProjectStatus.in_progress: frozenset(
        {ProjectStatus.on_hold, ProjectStatus.completed, ProjectStatus.cancelled}
    ),
    ProjectStatus.on_hold: frozenset(
        {
            ProjectStatus.planning,
            ProjectStatus.bidding,
            ProjectStatus.in_progress,
            ProjectStatus.cancelled,
        }
    ),
    ProjectStatus.completed: frozenset({ProjectStatus.in_progress}),
    ProjectStatus.cancelled: frozenset({ProjectStatus.planning}),
}


def update_project(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    project_in: ProjectUpdate,
    principal: Principal | None = None,
) -> Project:
    """Change a project's name, status, budget or dates; completing it dates it today.

    A status moves only along ``PROJECT_MOVES`` (``ConstructionConflictError`` otherwise:
    a cancelled project is not completed, a completed one is not planned again). Completing a
    project whose tasks are still open (``OPEN_TASK_STATUSES``) is a conflict naming how many,
    unless ``close_open_tasks`` is given: then those tasks are cancelled with it.
    """
    project = _lock_project(session, org_id, project_id)
    given = project_in.model_dump(exclude_unset=True)
    close_open_tasks = bool(given.pop("close_open_tasks", False))
    for key in ("name", "status"):
        if key in given and given[key] is None:
            raise ConstructionInputError(f"{key} cannot be null")
    if close_open_tasks and given.get("status") != ProjectStatus.completed:
        raise ConstructionInputError(
            "close_open_tasks applies only when completing the project (status completed)"
        )
    open_tasks: list[Task] = []
    if "status" in given:
        current, wanted = ProjectStatus(project.status), ProjectStatus(given["status"])
        if wanted != current and wanted not in PROJECT_MOVES[current]:
            raise IllegalProjectMoveError(current, wanted, PROJECT_MOVES[current])
        if wanted == ProjectStatus.completed and current != wanted:
            open_tasks = [
                t for t in _tasks(session, org_id, project.id) if t.status in OPEN_TASK_STATUSES
            ]
            if open_tasks and not close_open_tasks:
                raise ConstructionConflictError(
                    f"project {project.id} has {len(open_tasks)} open task(s) ("
                    + ", ".join(f"{t.title} ({t.status})" for t in open_tasks[:5])
                    + (", ..." if len(open_tasks) > 5 else "")
                    + "): finish or cancel them first, or complete it with close_open_tasks "
                    "to cancel them"
                )
    if "name" in given:
        given["name"] = str(given["name"]).strip()
        if not given["name"]:
            raise ConstructionInputError("name cannot be empty")
    if given.get("budget") is not None and given["budget"] < 0:
        raise ConstructionInputError("budget cannot be negative")
    if given.get("status") == ProjectStatus.completed and "completed_on" not in given:
        if project.completed_on is None:
            given["completed_on"] = local_today()
    elif (
        given.get("status") is not None
        and given["status"] != ProjectStatus.completed
        and "completed_on" not in given
        and project.completed_on is not None
    ):
        # Reopened: an open project has no completion day (progress measures its lateness
        # to today, not to the day it was once marked complete).
        given["completed_on"] = None
    start = given.get("start_date", project.start_date)
    end = given.get("target_end_date", project.target_end_date)
    if start and end and end < start:
        raise ConstructionInputError("target_end_date cannot be before start_date")
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if getattr(project, key) != value:
            changes[key] = {"from": getattr(project, key), "to": value}
            setattr(project, key, value)
    if open_tasks:
        now = utcnow()
        for task in open_tasks:
            task.status = TaskStatus.cancelled
            task.updated_at = now
            session.add(task)
        changes["tasks_cancelled"] = [str(t.id) for t in open_tasks]
    if changes:
        _save_update(session, org_id, principal, "project", project, changes)
    revived = (changes.get("status") or {}).get("from") == ProjectStatus.cancelled
    if "budget" in changes or revived:
        # The deal's finance rehab line follows the project's budget (its subscriber).
        publish(
            session,
            org_id=org_id,
            name=BUDGET_CHANGED_EVENT,
            payload=_project_payload(project)
            | {
                "budget": _event_money(project.budget),
                "budget_before": (
                    _event_money(changes["budget"]["from"]) if "budget" in changes else None
                ),
                "status": project.status,
                "by": _actor(principal),
            },
        )
    return project


def ensure_project_for_deal(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID,
    reached_under_contract: bool = False,
) -> Project | None:
    """Give a flip or BRRRR deal under contract its project, once; None if it gets none.

    ``reached_under_contract`` says the event being handled put the deal under contract (it
    may have moved on since). Idempotent: a deal that has a project keeps it.
    """
    deal = _deal(session, org_id, deal_id)
    strategy = str(deal.strategy) if deal.strategy is not None else None
    status = str(deal.status)
    if strategy not in REHAB_STRATEGIES:
        return None
    if status != "under_contract" and not reached_under_contract:
        return None
    if status in ("dead", "passed"):
        return None
    _lock_deal_key(session, deal.id)
    existing = project_for_deal(session=session, org_id=org_id, deal_id=deal.id)
    if existing is not None:
        return existing
    label = _address_label(session, org_id, deal.property_id)
    return create_project(
        session=session,
        org_id=org_id,
        project_in=ProjectCreate(
            deal_id=deal.id, property_id=deal.property_id, name=f"Rehab: {label}"[:200]
        ),
    )


def _address_label(session: Session, org_id: uuid.UUID, property_id: uuid.UUID | None) -> str:
    if property_id is None:
        return "no property"
    try:
        prop = _property(session, org_id, property_id)
    except NotFoundError:
        return f"property {property_id}"
    line = prop.address_line or (prop.address or {}).get("label")
    place = ", ".join(part for part in (prop.city, prop.state) if part)
    if line:
        return f"{line}, {place}" if place else str(line)
    return f"property {property_id}"


def project_label(*, session: Session, project: Project) -> str:
    """How a project's property is named to people (its address), or the project's name."""
    if project.property_id is None:
        return project.name
    return _address_label(session, project.org_id, project.property_id)


def _accepted_bids(session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> list[Bid]:
    """A project's accepted bids (one lump sum, or one per trade), oldest first."""
    return list(
        session.exec(
            select(Bid)
            .where(
                Bid.org_id == org_id,
                Bid.project_id == project_id,
                Bid.status == BidStatus.accepted,
            )
            .order_by(col(Bid.created_at), col(Bid.id))
        )
    )


def _bid_line_amounts(bid: Bid) -> dict[uuid.UUID, Decimal]:
    """The scope lines a bid prices and its amount for each (empty for a lump sum)."""
    return {
        uuid.UUID(str(line["scope_item_id"])): Decimal(str(line["amount"]))
        for line in bid.line_items
    }


def _awarded_budget(scope: Sequence[ScopeItem], accepted: Sequence[Bid]) -> Decimal:
    """The budget of a project awarded trade by trade (line-item bids).

    The sum over the scope lines of their budgeted cost, where a line priced by an accepted
    bid takes that bid's amount and every other line keeps its own budget (none counts as 0),
    plus, for each accepted bid, its total minus the sum of its lines (a fee or a discount the
    contractor put on the whole bid rather than on a line).
    """
    priced: dict[uuid.UUID, Decimal] = {}
    extras = Decimal(0)
    for bid in accepted:
        lines = _bid_line_amounts(bid)
        priced.update(lines)
        if bid.total_amount is not None:
            extras += Decimal(bid.total_amount) - sum(lines.values(), Decimal(0))
    lines_total = sum(
        (priced.get(item.id, Decimal(item.budgeted_cost or 0)) for item in scope), Decimal(0)
    )
    return _cents(lines_total + extras)


# What contractors told us about a project: on a call (with or without a bid) or in chat.
CONTRACTOR_ACTIVITY = (ActivityKind.contractor_response, ActivityKind.bid_from_call)


def contractor_messages(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, limit: int = 5
) -> list[ProjectActivity]:
    """The latest things contractors told us about a project, newest first."""
    return list(
        session.exec(
            select(ProjectActivity)
            .where(
                ProjectActivity.org_id == org_id,
                ProjectActivity.project_id == project_id,
                col(ProjectActivity.kind).in_(CONTRACTOR_ACTIVITY),
            )
            .order_by(col(ProjectActivity.created_at).desc(), col(ProjectActivity.id))
            .limit(max(1, min(limit, MAX_LIST_LIMIT)))
        )
    )


def project_detail(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> ProjectDetail:
    """A project with its scope lines, milestones, accepted bid(s) and latest activity.

    ``accepted_bid_id`` is the first accepted bid (compatibility); ``accepted_bid_ids`` lists
    every one when bids were awarded trade by trade.
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    scope = _scope(session, org_id, project.id)
    accepted = _accepted_bids(session, org_id, project.id)
    activity = session.exec(
        select(ProjectActivity)
        .where(ProjectActivity.org_id == org_id, ProjectActivity.project_id == project.id)
        .order_by(col(ProjectActivity.created_at).desc(), col(ProjectActivity.id))
        .limit(50)
    ).all()
    return ProjectDetail.model_validate(
        ProjectRead.model_validate(project),
        update={
            "scope": [ScopeItemRead.model_validate(s) for s in scope],
            "milestones": [
                MilestoneRead.model_validate(m)
                for m in list_milestones(session=session, org_id=org_id, project_id=project.id)
            ],
            "accepted_bid_id": accepted[0].id if accepted else None,
            "accepted_bid_ids": [b.id for b in accepted],
            "scope_total": _cents(sum((s.budgeted_cost or Decimal(0) for s in scope), Decimal(0))),
            "activity": [ActivityRead.model_validate(a) for a in activity],
        },
    )


# --- bids -----------------------------------------------------------------------------------


def _amount(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ConstructionInputError(f"{what} {value!r} is not a number") from exc
    if not amount.is_finite():
        raise ConstructionInputError(f"{what} must be a finite number")
    if amount < 0:
        raise ConstructionInputError(f"{what} cannot be negative (got {amount})")
    if _cents(amount) > MAX_AMOUNT:
        raise ConstructionInputError(f"{what} {amount} is larger than {MAX_AMOUNT}")
    return _cents(amount)


def _bid_lines(
    session: Session, org_id: uuid.UUID, project: Project, raw: Sequence[Any]
) -> list[dict[str, Any]]:
    """Bid line items checked against the project's scope, as stored (amounts as strings)."""
    scope = {item.id: item for item in _scope(session, org_id, project.id)}
    lines: list[dict[str, Any]] = []
    seen: set[uuid.UUID] = set()
    for index, entry in enumerate(raw):
        try:
            line = BidLineItem.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConstructionInputError(f"line_items[{index}]: {problems}") from exc
        if line.scope_item_id not in scope:
            raise ConstructionInputError(
                f"line_items[{index}]: scope line {line.scope_item_id} is not part of project "
                f"{project.id}"
            )
        if line.scope_item_id in seen:
            raise ConstructionInputError(
                f"line_items[{index}]: scope line {line.scope_item_id} is priced twice"
            )
        seen.add(line.scope_item_id)
        lines.append(
            {
                "scope_item_id": str(line.scope_item_id),
                "amount": str(_amount(line.amount, f"line_items[{index}].amount")),
                "note": line.note,
            }
        )
    return lines


def create_bid(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    bid_in: BidCreate,
    principal: Principal | None = None,
) -> Bid:
    """Record a contractor's bid on a project; publishes ``bid.received``.

    The contractor must be the organisation's (404); each line must price one of this
    project's scope lines, once, at zero or more (422); the total is the sum of the lines when
    not given. A bid with no lines is a lump sum for the whole scope and needs a total. The
    total must be more than 0 (422): a $0 bid would be the lowest and win the award.
    """
    project = _lock_project(session, org_id, project_id)
    if project.status in (ProjectStatus.completed, ProjectStatus.cancelled):
        raise ConstructionConflictError(f"project {project.id} is {project.status}; no new bids")
    contractor = get_contractor(session=session, org_id=org_id, contractor_id=bid_in.contractor_id)
    if BidStatus(bid_in.status) != BidStatus.received:
        raise ConstructionInputError(
            "a new bid is 'received'; accept one with POST /projects/{id}/bids/{bidId}/award"
        )
    lines = _bid_lines(session, org_id, project, bid_in.line_items or [])
    if bid_in.total_amount is not None:
        total = _amount(bid_in.total_amount, "total_amount")
    elif lines:
        total = _amount(
            sum((Decimal(line["amount"]) for line in lines), Decimal(0)), "the lines' sum"
        )
    else:
        raise ConstructionInputError("a bid needs a total_amount or line_items")
    if total == 0:
        # A $0 bid would be the lowest and win the award; a free line inside a priced bid
        # (demolition "included") is fine, a bid that prices the whole work at nothing is not.
        raise ConstructionInputError(
            "a bid's total must be more than 0 (a line may be 0 when the work is included)"
        )
    _check_duration_days(bid_in.duration_days)
    start_date, date_dropped = bid_in.start_date, None
    try:
        check_bid_start_date(start_date)
    except ConstructionInputError as exc:
        if BidSource(bid_in.source) != BidSource.call:
            raise
        # A date heard on a call (a misheard year) must not lose the bid: kept without it.
        start_date, date_dropped = None, str(exc)
    bid = Bid(
        org_id=org_id,
        project_id=project.id,
        contractor_id=contractor.id,
        total_amount=total,
        line_items=lines,
        exclusions=bid_in.exclusions,
        start_date=start_date,
        duration_days=bid_in.duration_days,
        status=BidStatus.received,
        source=BidSource(bid_in.source),
        call_id=bid_in.call_id,
    )
    session.add(bid)
    if project.status == ProjectStatus.planning:
        project.status = ProjectStatus.bidding
        project.updated_at = utcnow()
        session.add(project)
    session.flush()
    publish(
        session,
        org_id=org_id,
        name="bid.received",
        payload=_project_payload(project)
        | {
            "bid_id": bid.id,
            "contractor_id": contractor.id,
            "contractor_name": contractor.name,
            "total_amount": _event_money(total),
            "line_items": len(lines),
            "source": bid.source,
            "call_id": bid.call_id,
            "start_date": bid.start_date,
            "duration_days": bid.duration_days,
        },
    )
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="create",
        entity="bid",
        entity_id=bid.id,
        changes={"project_id": str(project.id), "total_amount": str(total), "lines": len(lines)},
    )
    if date_dropped is not None:
        _record_activity(
            session=session,
            org_id=org_id,
            project_id=project.id,
            kind=ActivityKind.contractor_response,
            summary=f"{contractor.name}'s bid {bid.id} was kept without its start date: "
            f"{date_dropped}",
            details={"bid_id": bid.id, "start_date_heard": bid_in.start_date},
        )
    return bid


def list_bids(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> list[Bid]:
    """A project's bids, oldest first."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    return list(
        session.exec(
            select(Bid)
            .where(Bid.org_id == org_id, Bid.project_id == project_id)
            .order_by(col(Bid.created_at), col(Bid.id))
        )
    )


def list_bids_of_contractor(
    *, session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID, limit: int = 50
) -> list[tuple[Bid, Project]]:
    """One contractor's bids across the organisation's projects, newest first."""
    rows = session.exec(
        select(Bid, Project)
        .join(Project, col(Project.id) == col(Bid.project_id))
        .where(Bid.org_id == org_id, Project.org_id == org_id, Bid.contractor_id == contractor_id)
        .order_by(col(Bid.created_at).desc(), col(Bid.id))
        .limit(max(1, min(limit, MAX_LIST_LIMIT)))
    ).all()
    return [(bid, project) for bid, project in rows]


@dataclass(frozen=True)
class TradeStart:
    """When one contractor is due to start on one open project, from their bid."""

    project: Project
    contractor: Contractor
    bid: Bid

    @property
    def booked(self) -> bool:
        """The bid was awarded: the start date is the one the project is working to."""
        return self.bid.status == BidStatus.accepted

    @property
    def end_date(self) -> dt.date | None:
        """The start date plus the bid's duration, when both are known.

        None past year 9999: a bad row stored before dates were checked must not break the
        whole listing.
        """
        return _date_plus(self.bid.start_date, self.bid.duration_days)


def _trade_starts_query(
    *,
    session: Session,
    org_id: uuid.UUID,
    trade: str | None,
    project_id: uuid.UUID | None,
    principal: Principal | None,
) -> Select[Bid, Project, Contractor]:
    """The live bids on the open projects ``principal`` may see, filtered (no order, no paging)."""
    projects = _projects_query(
        session=session, org_id=org_id, status=None, deal_id=None,
        property_id=None, principal=principal,
    ).where(col(Project.status).not_in(CLOSED_PROJECT_STATUSES))  # fmt: skip
    if project_id is not None:
        projects = projects.where(Project.id == project_id)
    project_ids = projects.with_only_columns(col(Project.id))
    statement = (
        select(Bid, Project, Contractor)
        .join(Project, col(Project.id) == col(Bid.project_id))
        .join(Contractor, col(Contractor.id) == col(Bid.contractor_id))
        .where(
            Bid.org_id == org_id,
            Project.org_id == org_id,
            Contractor.org_id == org_id,
            col(Bid.project_id).in_(project_ids),
            col(Bid.status).in_((BidStatus.accepted, BidStatus.received)),
        )
    )
    if trade is not None and trade.strip():
        statement = statement.where(col(Contractor.trades).contains([normalise_trade(trade)]))
    return statement


def trade_starts(
    *,
    session: Session,
    org_id: uuid.UUID,
    trade: str | None = None,
    project_id: uuid.UUID | None = None,
    principal: Principal | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[TradeStart]:
    """When contractors start on the open projects ``principal`` may see, from their bids.

    Only live bids count (awarded or still open; rejected and withdrawn ones do not), of
    contractors who do ``trade`` when one is given. Awarded bids come first (those dates are
    booked), then open bids (a date offered); each group by start date, unknown dates last.
    """
    statement = _trade_starts_query(
        session=session, org_id=org_id, trade=trade, project_id=project_id, principal=principal
    ).order_by(
        (col(Bid.status) != BidStatus.accepted),
        col(Bid.start_date).asc().nulls_last(),
        col(Contractor.name),
        col(Bid.id),
    )
    statement = statement.limit(max(1, min(limit, MAX_LIST_LIMIT))).offset(max(offset, 0))
    return [
        TradeStart(project=project, contractor=contractor, bid=bid)
        for bid, project, contractor in session.exec(statement).all()
    ]


def count_trade_starts(
    *,
    session: Session,
    org_id: uuid.UUID,
    trade: str | None = None,
    project_id: uuid.UUID | None = None,
    principal: Principal | None = None,
) -> int:
    """How many start dates ``trade_starts`` with these filters would list over all pages."""
    return count_rows(
        session,
        _trade_starts_query(
            session=session, org_id=org_id, trade=trade, project_id=project_id,
            principal=principal,
        ),
    )  # fmt: skip


def get_bid(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, bid_id: uuid.UUID
) -> Bid:
    """One bid of a project; ``NotFoundError`` otherwise."""
    bid = session.exec(
        select(Bid).where(Bid.id == bid_id, Bid.org_id == org_id, Bid.project_id == project_id)
    ).first()
    if bid is None:
        raise NotFoundError(f"bid {bid_id} not found on project {project_id}")
    return bid


def bid_for_call(*, session: Session, org_id: uuid.UUID, call_id: uuid.UUID) -> Bid | None:
    """The bid taken on a call, or None."""
    return session.exec(select(Bid).where(Bid.org_id == org_id, Bid.call_id == call_id)).first()


def update_bid(
    *,
    session: Session,
    org_id: uuid.UUID,
    bid_id: uuid.UUID,
    total_amount: Decimal | None = None,
    line_items: Sequence[Any] | None = None,
    exclusions: str | None = None,
    start_date: dt.date | None = None,
    duration_days: int | None = None,
    reason: str | None = None,
    principal: Principal | None = None,
) -> Bid:
    """Change a received bid's figures (a field given as None stays as it is); audited.

    Only a ``received`` bid of an open project changes (409 otherwise); lines are checked
    against the project's scope as ``create_bid`` checks them (422); new lines without a
    total make the total their sum. ``reason`` (e.g. "heard in the call's recording") goes
    into the audit entry with each field's old and new value.
    """
    bid = session.exec(
        select(Bid).where(Bid.id == bid_id, Bid.org_id == org_id).with_for_update()
    ).first()
    if bid is None:
        raise NotFoundError(f"bid {bid_id} not found")
    project = _lock_project(session, org_id, bid.project_id)
    if project.status in (ProjectStatus.completed, ProjectStatus.cancelled):
        raise ConstructionConflictError(f"project {project.id} is {project.status}; bids are final")
    if BidStatus(bid.status) != BidStatus.received:
        raise ConstructionConflictError(
            f"bid {bid.id} is {bid.status}; only a received bid changes"
        )
    _check_duration_days(duration_days)
    check_bid_start_date(start_date)
    new: dict[str, Any] = {}
    if line_items is not None:
        new["line_items"] = _bid_lines(session, org_id, project, line_items)
        if total_amount is None and new["line_items"]:
            total_amount = _amount(
                sum((Decimal(x["amount"]) for x in new["line_items"]), Decimal(0)),
                "the lines' sum",
            )
    if total_amount is not None:
        new["total_amount"] = _amount(total_amount, "total_amount")
        if new["total_amount"] == 0:  # as create_bid: a $0 bid would win the award
            raise ConstructionInputError(
                "a bid's total must be more than 0 (a line may be 0 when the work is included)"
            )
    for name, value in (
        ("exclusions", exclusions),
        ("start_date", start_date),
        ("duration_days", duration_days),
    ):
        if value is not None:
            new[name] = value
    changes = {
        name: {"from": getattr(bid, name), "to": value}
        for name, value in new.items()
        if getattr(bid, name) != value
    }
    if not changes:
        return bid
    for name, change in changes.items():
        setattr(bid, name, change["to"])
    audited = {
        name: {"from": _audit_value(c["from"]), "to": _audit_value(c["to"])}
        for name, c in changes.items()
    }
    _save_update(
        session, org_id, principal, "bid", bid, audited | ({"reason": reason} if reason else {})
    )
    return bid


# A contractor who "can't start till the 10th" (a ``confirm_start`` action item) keeps the bid's
# start until the team accepts the new date: ``reschedule_bid`` is that acceptance.
CONFIRM_START_KIND = "confirm_start"


def reschedule_bid(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    bid_id: uuid.UUID,
    start_date: dt.date,
    duration_days: int | None = None,
    reason: str | None = None,
    principal: Principal | None = None,
) -> BidRescheduleResult:
    """Move an awarded bid's start (and duration, when given) to the contractor's new date.

    Only an accepted bid of an open project moves (409 otherwise: an open bid's dates change
    with ``update_bid``); the date must be in ``bid_start_window`` and not before today
    (422). The bid's change is audited (old -> new, ``reason``). The project's dates follow:
    a project without a start takes the new one (and, without a target end, the bid's new
    end); dates awards set (``_dates_from_awards``) become the awarded bids' span again
    (earliest start, last end); a start a person set on this bid's old start (no other
    awarded bid starting that day) moves to the new start, no later than another awarded
    bid's, and the target end by as many days (to the bid's new end when it was this bid's
    end). Otherwise they stay, and ``project_dates_note`` says why. The contractor's open
    ``confirm_start`` action items on the project are closed as done, noting the start
    accepted. No event: nothing else keeps a bid's date.
    """
    project = _lock_project(session, org_id, project_id)
    bid = session.exec(
        select(Bid)
        .where(Bid.id == bid_id, Bid.org_id == org_id, Bid.project_id == project.id)
        .with_for_update()
    ).first()
    if bid is None:
        raise NotFoundError(f"bid {bid_id} not found on project {project.id}")
    if project.status in CLOSED_PROJECT_STATUSES:
        raise ConstructionConflictError(
            f"project {project.id} is {project.status}: its schedule is final (reopen it first)"
        )
    if BidStatus(bid.status) != BidStatus.accepted:
        raise ConstructionConflictError(
            f"bid {bid.id} is {bid.status}: only an awarded bid is rescheduled (an open bid's "
            "start date is corrected on the bid itself before it is awarded)"
        )
    _check_duration_days(duration_days)
    check_bid_start_date(start_date)
    today = local_today()
    if start_date < today:
        raise ConstructionInputError(
            f"start_date {start_date.isoformat()} is in the past (today is {today.isoformat()}): "
            "a new start is today or later"
        )
    said = " ".join(reason.split()) if reason else None
    if said is not None and len(said) > 500:
        raise ConstructionInputError(f"reason is {len(said)} characters; at most 500")
    contractor = session.get(Contractor, bid.contractor_id)
    who = contractor.name if contractor is not None else f"contractor {bid.contractor_id}"
    old_start, old_duration = bid.start_date, bid.duration_days
    new_duration = old_duration if duration_days is None else duration_days
    bid_changes = {
        name: {"from": _audit_value(old), "to": _audit_value(new)}
        for name, old, new in (
            ("start_date", old_start, start_date),
            ("duration_days", old_duration, new_duration),
        )
        if old != new
    }
    start_before, end_before = project.start_date, project.target_end_date
    note: str | None = None
    if bid_changes:
        set_start = project.start_date is None
        from_awards = _dates_from_awards(session, org_id, project)
        others = [b for b in _accepted_bids(session, org_id, project.id) if b.id != bid.id]
        other_starts = [b.start_date for b in others if b.start_date is not None]
        other_ends = [
            end for b in others if (end := _date_plus(b.start_date, b.duration_days)) is not None
        ]
        new_end = _date_plus(start_date, new_duration)
        if project.start_date is None:
            project.start_date = min([start_date, *other_starts])
            if project.target_end_date is None:
                project.target_end_date = new_end
            elif project.target_end_date < project.start_date:
                raise ConstructionConflictError(
                    f"project {project.id}'s target end date "
                    f"{project.target_end_date.isoformat()} is before the new start "
                    f"{project.start_date.isoformat()}: change the project's target end first"
                )
        elif from_awards:
            # The dates are the ones awards set: they span the awarded trades, this one moved.
            shift = project.start_date
            project.start_date = min([start_date, *other_starts])
            ends = [d for d in (new_end, *other_ends) if d is not None]
            if ends:
                project.target_end_date = max(ends)
            elif project.target_end_date is not None:
                project.target_end_date = (
                    _date_plus(project.target_end_date, (project.start_date - shift).days)
                    or project.target_end_date
                )
            if (project.start_date, project.target_end_date) == (start_before, end_before):
                note = "the project's dates still span its awarded trades: left as they are"
        elif old_start is None or project.start_date != old_start:
            note = (
                f"the project's start ({project.start_date.isoformat()}) is not this bid's "
                f"({old_start.isoformat() if old_start else 'none'}): left as it is"
            )
        elif old_start in other_starts:
            note = (
                f"another awarded bid starts on {old_start.isoformat()} too: the project's "
                "start is left as it is"
            )
        else:
            # A start a person set on this bid's day: it follows the bid, and the target end
            # moves by as many days (to the bid's new end when it was this bid's end).
            project.start_date = min([start_date, *(d for d in other_starts if d > old_start)])
            if project.target_end_date is not None:
                if project.target_end_date == _date_plus(old_start, old_duration):
                    moved_end = new_end
                else:
                    moved_end = _date_plus(
                        project.target_end_date, (project.start_date - old_start).days
                    )
                project.target_end_date = moved_end or project.target_end_date
        project_changes = {
            name: {"from": _audit_value(old), "to": _audit_value(getattr(project, name))}
            for name, old in (("start_date", start_before), ("target_end_date", end_before))
            if getattr(project, name) != old
        }
        for name in ("start_date", "duration_days"):
            if name in bid_changes:
                setattr(bid, name, start_date if name == "start_date" else new_duration)
        why = {"reason": said} if said else {}
        _save_update(session, org_id, principal, "bid", bid, bid_changes | why)
        if project_changes:
            _save_update(
                session,
                org_id,
                principal,
                "project",
                project,
                project_changes | {"rescheduled_bid_id": str(bid.id)} | why,
            )
        details: dict[str, Any] = {
            "bid_id": bid.id,
            "contractor_id": bid.contractor_id,
            "bid": bid_changes,
            "project": project_changes,
            "reason": said,
        }
        if project_changes and (from_awards or (set_start and end_before is None)):
            # The dates are still the ones bids set: a later award may move them (as awards do).
            details["dates_from_bids"] = {
                "start_date": project.start_date,
                "target_end_date": project.target_end_date,
            }
        _record_activity(
            session=session,
            org_id=org_id,
            project_id=project.id,
            kind=ActivityKind.bid_rescheduled,
            summary=(
                f"{who}'s start moved from {old_start.isoformat() if old_start else 'none'} to "
                f"{start_date.isoformat()} by {_actor(principal)}"
            ),
            details=details,
        )
    from domain.inbox import service as inbox_service  # the inbox imports this module

    resolved: list[uuid.UUID] = []
    for item in inbox_service.list_items(
        session=session,
        org_id=org_id,
        project_id=project.id,
        contractor_id=bid.contractor_id,
        kind=CONFIRM_START_KIND,
        limit=inbox_service.MAX_LIST_LIMIT,
    ):
        inbox_service.resolve_item(
            session=session,
            org_id=org_id,
            item_id=item.id,
            status="done",
            resolved_by=principal.user_id if principal is not None else None,
            note=f"New start {start_date.isoformat()} accepted: bid {bid.id} rescheduled"
            + (f" ({said})" if said else ""),
        )
        resolved.append(item.id)
    return BidRescheduleResult(
        project=ProjectRead.model_validate(project),
        bid=BidRead.model_validate(bid),
        contractor=who,
        old_start_date=old_start,
        new_start_date=start_date,
        old_duration_days=old_duration,
        duration_days=bid.duration_days,
        changed=bool(bid_changes),
        project_start_moved=project.start_date != start_before,
        project_start_before=start_before,
        project_start_after=project.start_date,
        target_end_before=end_before,
        target_end_after=project.target_end_date,
        project_dates_note=note,
        action_items_resolved=resolved,
    )


def _audit_value(value: Any) -> Any:
    """A bid field as JSON for the audit log (dates and amounts as strings)."""
    if isinstance(value, dt.date | Decimal):
        return str(value)
    return value


def _unit_key(unit: str | None) -> str | None:
    if not unit:
        return None
    word = unit.strip().lower().replace("sq ft", "sqft").replace("square feet", "sqft")
    word = word.replace("linear feet", "linear ft").replace("lf", "linear ft")
    if word in ("squares", "sq"):
        return "square"
    if word in ("ea", "each", "unit", "units", "job", "jobs"):
        return "each"
    return word.removesuffix("s") if word.endswith("s") and word != "s" else word


class _CatalogueFiller:
    """Prices a missing scope line from the organisation's cost book (``component_costs``)."""

    def __init__(self, session: Session, org_id: uuid.UUID) -> None:
        self.session = session
        self.org_id = org_id
        self._rows: dict[str, Any] | None = None

    def rows(self) -> dict[str, Any]:
        if self._rows is None:
            from domain.pricing import service as pricing_service

            self._rows = {
                row.component_key: row
                for row in pricing_service.list_costs(session=self.session, org_id=self.org_id)
            }
        return self._rows

    def price(self, item: ScopeItem) -> tuple[Decimal, str] | None:
        from domain.pricing import service as pricing_service

        match = pricing_service.match_component(item.component)
        if match is None or item.quantity is None:
            return None
        row = self.rows().get(match.key)
        if row is None or row.total_cost is None:
            return None
        if _unit_key(item.unit) != _unit_key(row.unit):
            return None
        amount = _cents(Decimal(item.quantity) * Decimal(row.total_cost))
        return amount, (
            f"cost catalogue {row.component_key}: {item.quantity} {row.unit} x "
            f"${row.total_cost:,.2f}"
        )


# A bid line priced at more than this many times the line's budget is flagged as an outlier.
OUTLIER_FACTOR = Decimal(3)


def _award_blocker(
    bid: Bid, accepted: Sequence[Bid], by_id: Mapping[uuid.UUID, ScopeItem]
) -> str | None:
    """Why ``award_bid`` would refuse this bid as things stand, or None when it can be awarded."""
    if bid.status == BidStatus.accepted:
        return "already awarded"
    if bid.status != BidStatus.received:
        return f"the bid is {bid.status}"
    if bid.total_amount is None:
        return "the bid has no total"
    others = [b for b in accepted if b.id != bid.id]
    priced = _bid_line_amounts(bid)
    if not priced:
        line_bids = [b for b in others if b.line_items]
        if line_bids:
            taken = [
                by_id[i].component if i in by_id else str(i)
                for b in line_bids
                for i in _bid_line_amounts(b)
            ]
            return (
                f"a lump sum for the whole scope, but {', '.join(taken)} "
                f"{'is' if len(taken) == 1 else 'are'} already awarded: it would price "
                f"{'that line' if len(taken) == 1 else 'those lines'} twice"
            )
        if others:
            return f"a lump sum is already awarded (bid {others[0].id})"
        return None
    for other in others:
        covered = _bid_line_amounts(other)
        if not covered:
            return f"the whole scope is already awarded as a lump sum (bid {other.id})"
        overlap = [by_id[i].component if i in by_id else str(i) for i in priced if i in covered]
        if overlap:
            return f"{', '.join(overlap)} already awarded to bid {other.id}"
    try:
        check_bid_start_date(bid.start_date, today=local_day(bid.created_at))
    except ConstructionInputError as exc:
        return str(exc)
    return None


def bid_warnings(*, session: Session, org_id: uuid.UUID, bid: Bid) -> list[str]:
    """What stops a bid from being awarded as things stand (empty when nothing does)."""
    scope = {item.id: item for item in _scope(session, org_id, bid.project_id)}
    blocker = _award_blocker(bid, _accepted_bids(session, org_id, bid.project_id), scope)
    return [f"cannot be awarded as it stands: {blocker}"] if blocker else []


def _withdrawals_reported(
    session: Session, org_id: uuid.UUID, project_id: uuid.UUID
) -> dict[uuid.UUID, tuple[dt.datetime, uuid.UUID]]:
    """Contractor -> (when, item id) of their open "can no longer do it" action item here."""
    from domain.inbox import service as inbox_service  # the inbox imports this module

    found: dict[uuid.UUID, tuple[dt.datetime, uuid.UUID]] = {}
    for item in inbox_service.list_items(
        session=session,
        org_id=org_id,
        project_id=project_id,
        kind="contractor_withdrew",
        limit=inbox_service.MAX_LIST_LIMIT,
    ):  # newest first: the earliest open one is kept
        if item.contractor_id is not None:
            found[item.contractor_id] = (item.created_at, item.id)
    return found


def level_bids(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    include_rejected: bool = False,
) -> BidLeveling:
    """Compare a project's open and accepted bids line by line.

    A line a bid does not price is filled in at the line's own budgeted cost, or, for a line
    with no budget, from the cost catalogue (component, quantity and unit matching a cost-book
    row), and flagged; ``source`` and ``basis`` say which was used. A bid with no
    lines is a lump sum for the whole scope. The lowest complete bid prices every line itself.

    Only bids that can still be awarded are candidates for lowest: an accepted bid, a line bid
    on a line already awarded, or a lump sum once lines are awarded says why it cannot be
    (``not_awardable_reason``). Each bid carries its exclusions, and a line priced at more
    than ``OUTLIER_FACTOR`` times its budget is flagged as an outlier.

    A bid whose contractor texted that they can no longer do the job (an open
    ``contractor_withdrew`` action item) is flagged ``withdrawal_reported`` and is not the
    lowest while that item is open; the bid itself is unchanged. ``include_rejected`` also
    lists rejected and withdrawn bids (never awardable, never lowest).
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    scope = _scope(session, org_id, project.id)
    shown = (BidStatus.received, BidStatus.accepted) + (
        (BidStatus.rejected, BidStatus.withdrawn) if include_rejected else ()
    )
    bids = [
        b
        for b in list_bids(session=session, org_id=org_id, project_id=project.id)
        if b.status in shown
    ]
    withdrawals = _withdrawals_reported(session, org_id, project.id)
    names = {
        c.id: c.name
        for c in session.exec(
            select(Contractor).where(
                Contractor.org_id == org_id,
                col(Contractor.id).in_({b.contractor_id for b in bids}),
            )
        )
    }
    filler = _CatalogueFiller(session, org_id)
    by_id = {item.id: item for item in scope}
    accepted = [b for b in bids if b.status == BidStatus.accepted]
    # scope line -> (amount, source, the line's note, the basis text naming the line)
    fills: dict[uuid.UUID, tuple[Decimal, str, str, str]] = {}

    def fill(item: ScopeItem) -> tuple[Decimal, str, str, str]:
        # The project's own budget for the line first: it may be a repair price ("furnace:
        # repair (fair)" at $350) where the cost book holds a full replacement ($3,500).
        if item.id not in fills:
            priced = filler.price(item) if item.budgeted_cost is None else None
            if item.budgeted_cost is not None:
                note = f"the line's budgeted cost ${item.budgeted_cost:,.2f}"
                fills[item.id] = (
                    _cents(Decimal(item.budgeted_cost)),
                    "budgeted cost",
                    note,
                    f"{item.component}: {note}",
                )
            elif priced is not None:
                note = f"{priced[1]} (the line has no budget)"
                fills[item.id] = (priced[0], "cost catalogue", note, note)
            else:
                note = "nothing (the line has no budget and no catalogue match)"
                fills[item.id] = (Decimal("0.00"), "none", note, f"{item.component}: {note}")
        return fills[item.id]

    leveled: list[LeveledBid] = []
    for bid in bids:
        priced = {uuid.UUID(str(line["scope_item_id"])): line for line in bid.line_items}
        itemised = bool(priced)
        lines: list[LeveledLine] = []
        missing: list[uuid.UUID] = []
        outliers: list[str] = []
        filled = Decimal(0)
        if itemised:
            for item in scope:
                line = priced.get(item.id)
                if line is not None:
                    amount = Decimal(str(line["amount"]))
                    budget = Decimal(item.budgeted_cost or 0)
                    # An accepted bid's lines are the lines' budgets now: not compared.
                    outlier = (
                        bid.status == BidStatus.received
                        and budget > 0
                        and amount > OUTLIER_FACTOR * budget
                    )
                    if outlier:
                        outliers.append(
                            f"{item.component} ${amount:,.2f} is "
                            f"{(amount / budget).quantize(ONE_DECIMAL)}x its budget "
                            f"${budget:,.2f}"
                        )
                    lines.append(
                        LeveledLine(
                            scope_item_id=item.id,
                            component=item.component,
                            amount=amount,
                            source="bid",
                            flagged=False,
                            note=line.get("note"),
                            outlier=outlier,
                        )
                    )
                    continue
                amount, source, note, _ = fill(item)
                missing.append(item.id)
                filled += amount
                lines.append(
                    LeveledLine(
                        scope_item_id=item.id,
                        component=item.component,
                        amount=amount,
                        source=source,
                        flagged=True,
                        note=f"not in the bid; filled in from {note}",
                    )
                )
        total = Decimal(bid.total_amount) if bid.total_amount is not None else None
        blocker = _award_blocker(bid, accepted, by_id)  # "the bid is rejected" ...
        reported = withdrawals.get(bid.contractor_id)
        leveled.append(
            LeveledBid(
                bid_id=bid.id,
                contractor_id=bid.contractor_id,
                contractor_name=names.get(bid.contractor_id),
                status=BidStatus(bid.status),
                source=BidSource(bid.source),
                bid_total=total,
                itemised=itemised,
                complete=not missing,
                missing_scope_item_ids=missing,
                filled_in_amount=_cents(filled),
                leveled_total=_cents((total or Decimal(0)) + filled),
                lines=lines,
                start_date=bid.start_date,
                duration_days=bid.duration_days,
                exclusions=bid.exclusions,
                awardable=blocker is None,
                not_awardable_reason=blocker,
                outliers=outliers,
                withdrawal_reported=reported is not None,
                withdrawal_reported_at=reported[0] if reported else None,
                withdrawal_action_item_id=reported[1] if reported else None,
            )
        )

    def lowest(candidates: list[LeveledBid]) -> uuid.UUID | None:
        candidates = [b for b in candidates if not b.withdrawal_reported]
        return (
            min(candidates, key=lambda b: (b.leveled_total, str(b.bid_id))).bid_id
            if candidates
            else None
        )

    basis = sorted({basis for _, _, _, basis in fills.values()})
    return BidLeveling(
        project_id=project.id,
        scope=[ScopeItemRead.model_validate(s) for s in scope],
        bids=leveled,
        lowest_complete_bid_id=lowest([b for b in leveled if b.complete and b.awardable]),
        lowest_leveled_bid_id=lowest([b for b in leveled if b.awardable]),
        basis=basis,
    )


def _dates_from_awards(session: Session, org_id: uuid.UUID, project: Project) -> bool:
    """Whether the project's dates are the ones earlier awards set (no one changed them since).

    Each award records the dates it left when they came from bids (``dates_from_bids`` in its
    ``bid_awarded`` activity, as a rescheduled award does in its ``bid_rescheduled`` one); a
    user's change through ``update_project`` makes them differ.
    Awards made before this was recorded count as user-set (dates left alone).
    """
    if project.start_date is None:
        return False
    current = {
        "start_date": project.start_date.isoformat(),
        "target_end_date": (
            project.target_end_date.isoformat() if project.target_end_date else None
        ),
    }
    awards = session.exec(
        select(ProjectActivity).where(
            ProjectActivity.org_id == org_id,
            ProjectActivity.project_id == project.id,
            col(ProjectActivity.kind).in_(
                (ActivityKind.bid_awarded.value, ActivityKind.bid_rescheduled.value)
            ),
        )
    )
    return any(a.details.get("dates_from_bids") == current for a in awards)


def _line_label(item: ScopeItem | None, item_id: uuid.UUID) -> str:
    return f"scope line '{item.component}' ({item_id})" if item else f"scope line {item_id}"


def award_bid(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    bid_id: uuid.UUID,
    principal: Principal | None = None,
) -> AwardResult:
    """Accept a bid, trade by trade or as a lump sum.

    A bid that prices scope lines (``line_items``) is awarded for those lines: the other open
    bids that price any of the same lines, and open lump sums, are rejected; bids on other
    lines stay open and can be awarded later. A line already covered by an accepted bid
    cannot be awarded again (``ConstructionConflictError`` naming the line and the bid). A
    lump-sum bid (no lines: a price for the whole scope) rejects every other open bid, and
    cannot be awarded once line bids are accepted (conflict). A bid already accepted is a
    conflict too ("already awarded"), with nothing written.

    Budget: a lump sum's total. After a line-item award, the sum over the scope lines of their
    budgeted cost, where lines priced by accepted bids take those bids' amounts and other lines
    keep their budgets, plus each accepted bid's total minus the sum of its lines (a fee).
    The lines a bid prices take its amounts as their budgeted cost.

    Dates: a project without a start date takes the bid's; without a target end date, its
    start plus the bid's duration. A later award extends ``target_end_date`` to its own start
    plus duration when that ends later, and moves ``start_date`` earlier to its own start
    when that is earlier, only while the dates are the ones awards set.

    The deal's finance rehab line follows the new budget (finance's ``bid.awarded``
    subscriber), unless a person set that allocation by hand.
    """
    project = _lock_project(session, org_id, project_id)
    bid = get_bid(session=session, org_id=org_id, project_id=project.id, bid_id=bid_id)
    if bid.status in (BidStatus.rejected, BidStatus.withdrawn):
        raise ConstructionConflictError(f"bid {bid.id} is {bid.status} and cannot be awarded")
    if bid.status == BidStatus.accepted:
        # Awarding it again would log a second award (activity, audit) and change nothing.
        raise ConstructionConflictError(f"bid {bid.id} is already awarded")
    if project.status in (ProjectStatus.completed, ProjectStatus.cancelled):
        raise ConstructionConflictError(f"project {project.id} is {project.status}")
    if bid.total_amount is None:
        raise ConstructionConflictError(f"bid {bid.id} has no total to budget from")
    try:
        # Against the day the bid came in: an old open bid's date is not refused for its age.
        check_bid_start_date(
            bid.start_date, what=f"bid {bid.id}'s start date", today=local_day(bid.created_at)
        )
    except ConstructionInputError as exc:  # a row stored before dates were checked
        raise ConstructionConflictError(
            f"{exc}; it cannot set the project's dates: record a corrected bid"
        ) from exc
    priced = _bid_line_amounts(bid)
    scope = _scope(session, org_id, project.id)
    by_id = {item.id: item for item in scope}
    listed = list_bids(session=session, org_id=org_id, project_id=project.id)
    others = [b for b in listed if b.id != bid.id]
    accepted_others = [b for b in others if b.status == BidStatus.accepted]
    if priced:
        for other in accepted_others:
            covered = _bid_line_amounts(other)
            if not covered:
                first = next((i.id for i in scope if i.id in priced), next(iter(priced)))
                raise ConstructionConflictError(
                    f"{_line_label(by_id.get(first), first)} is "
                    f"already covered by accepted bid {other.id} (a lump sum for the whole "
                    "scope)"
                )
            overlap = [line for line in priced if line in covered]
            if overlap:
                raise ConstructionConflictError(
                    f"{_line_label(by_id.get(overlap[0]), overlap[0])} is already covered by "
                    f"accepted bid {other.id}"
                )
    else:
        line_bids = [b for b in accepted_others if b.line_items]
        if line_bids:
            raise ConstructionConflictError(
                f"bid {bid.id} is a lump sum for the whole scope, but bid(s) "
                + ", ".join(str(b.id) for b in line_bids)
                + " are already accepted for scope lines: awarding it would price those lines "
                "twice"
            )
    now = utcnow()
    rejected: list[uuid.UUID] = []
    for other in others:
        if priced:
            reject = other.status == BidStatus.received and (
                not other.line_items or any(line in priced for line in _bid_line_amounts(other))
            )
        else:
            reject = other.status in (BidStatus.received, BidStatus.accepted)
        if reject:
            other.status = BidStatus.rejected
            other.updated_at = now
            session.add(other)
            rejected.append(other.id)
    bid.status = BidStatus.accepted
    bid.updated_at = now
    session.add(bid)
    updated: list[ScopeItem] = []
    for item in scope:
        if item.id in priced:
            item.budgeted_cost = priced[item.id]
            item.updated_at = now
            session.add(item)
            updated.append(item)
    accepted = [b for b in accepted_others if b.id not in rejected] + [bid]
    before = project.budget
    if priced:
        project.budget = _awarded_budget(scope, accepted)
    else:
        project.budget = Decimal(bid.total_amount)
    if project.status in (ProjectStatus.planning, ProjectStatus.bidding):
        project.status = ProjectStatus.in_progress
    from_bids = _dates_from_awards(session, org_id, project)
    set_start = project.start_date is None and bid.start_date is not None
    if set_start:
        project.start_date = bid.start_date
    elif (
        from_bids
        and bid.start_date is not None
        and project.start_date is not None
        and bid.start_date < project.start_date
    ):
        # A trade that starts before the others moves the project's start earlier, while
        # the dates are still the ones awards set (as a later end extends the target end).
        project.start_date = bid.start_date
    bid_end: dt.date | None = None
    base = bid.start_date if bid.start_date and (from_bids or set_start) else project.start_date
    if base is not None and bid.duration_days is not None:
        bid_end = _date_plus(base, bid.duration_days)
    set_end = False
    if bid_end is not None and project.start_date is not None and bid_end >= project.start_date:
        if project.target_end_date is None or (from_bids and bid_end > project.target_end_date):
            project.target_end_date = bid_end
            set_end = True
    dates_from_bids: dict[str, Any] | None = None
    if (from_bids or set_start) and (project.target_end_date is None or from_bids or set_end):
        dates_from_bids = {
            "start_date": project.start_date,
            "target_end_date": project.target_end_date,
        }
    project.updated_at = now
    session.add(project)
    session.flush()
    not_in_bid = [item.id for item in scope if priced and item.id not in priced]
    awarded_lines = {line for b in accepted for line in _bid_line_amounts(b)}
    not_awarded = [item.id for item in scope if item.id not in awarded_lines] if priced else []
    details: dict[str, Any] = {"bid_id": bid.id, "rejected": rejected, "budget_before": before}
    if dates_from_bids is not None:
        details["dates_from_bids"] = dates_from_bids
    _record_activity(
        session=session,
        org_id=org_id,
        project_id=project.id,
        kind=ActivityKind.bid_awarded,
        summary=f"Bid {bid.id} awarded at ${bid.total_amount:,.2f} by {_actor(principal)}",
        details=details,
    )
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="award_bid",
        entity="project",
        entity_id=project.id,
        changes={
            "bid_id": str(bid.id),
            "budget": {
                "from": str(before) if before is not None else None,
                "to": str(project.budget),
            },
            "rejected_bids": [str(r) for r in rejected],
        },
    )
    # The contractors hear about it from the ``bid.awarded`` subscriber (award_notices).
    publish(
        session,
        org_id=org_id,
        name="bid.awarded",
        payload=_project_payload(project)
        | {
            "bid_id": bid.id,
            "contractor_id": bid.contractor_id,
            "total_amount": _event_money(bid.total_amount),
            "scope_item_ids": list(priced),
            "start_date": bid.start_date,
            "rejected_bid_ids": rejected,
        },
    )
    return AwardResult(
        project=ProjectRead.model_validate(project),
        bid=BidRead.model_validate(bid),
        rejected_bid_ids=rejected,
        budget=Decimal(project.budget),
        scope_updated=[ScopeItemRead.model_validate(i) for i in updated],
        scope_not_in_bid=not_in_bid,
        scope_not_awarded=not_awarded,
        accepted_bid_ids=[b.id for b in accepted],
    )


# --- tasks ----------------------------------------------------------------------------------


def list_tasks(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[Task]:
    """A project's tasks by due date (undated last), then creation (a page when ``limit``)."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    return _tasks(session, org_id, project_id, limit=limit, offset=offset)


def count_tasks(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> int:
    """How many tasks ``list_tasks`` would list over all pages."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    return count_rows(session, _tasks_query(org_id, project_id))


def _tasks_query(org_id: uuid.UUID, project_id: uuid.UUID) -> SelectOfScalar[Task]:
    """A project's tasks (no order, no paging)."""
    return select(Task).where(Task.org_id == org_id, Task.project_id == project_id)


def _tasks(
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[Task]:
    statement = _tasks_query(org_id, project_id).order_by(
        col(Task.due_date).asc().nulls_last(), col(Task.created_at), col(Task.id)
    )
    return list(session.exec(_page(statement, limit, offset)))


def get_task(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, task_id: uuid.UUID
) -> Task:
    """One task of a project; ``NotFoundError`` otherwise."""
    task = session.exec(
        select(Task).where(Task.id == task_id, Task.org_id == org_id, Task.project_id == project_id)
    ).first()
    if task is None:
        raise NotFoundError(f"task {task_id} not found on project {project_id}")
    return task


def _check_task_links(
    session: Session,
    org_id: uuid.UUID,
    project: Project,
    *,
    task_id: uuid.UUID | None,
    values: Mapping[str, Any],
) -> list[uuid.UUID] | None:
    """Check a task's assignee, scope line and dependencies; return the dependencies."""
    if values.get("assignee_contractor_id") is not None:
        get_contractor(
            session=session, org_id=org_id, contractor_id=values["assignee_contractor_id"]
        )
    if values.get("scope_item_id") is not None:
        item = session.exec(
            select(ScopeItem).where(
                ScopeItem.id == values["scope_item_id"], ScopeItem.org_id == org_id
            )
        ).first()
        if item is None:
            raise NotFoundError(f"scope line {values['scope_item_id']} not found")
        if item.project_id != project.id:
            raise ConstructionInputError(
                f"scope line {item.id} is not part of project {project.id}"
            )
    if "depends_on" not in values:
        return None
    if values["depends_on"] is None:
        raise ConstructionInputError("depends_on cannot be null; send [] for none")
    depends = list(dict.fromkeys(values["depends_on"]))
    if task_id is not None and task_id in depends:
        raise ConstructionInputError("a task cannot depend on itself")
    if not depends:
        return depends
    found = {
        t.id: t
        for t in session.exec(select(Task).where(Task.org_id == org_id, col(Task.id).in_(depends)))
    }
    for dep in depends:
        if dep not in found:
            raise NotFoundError(f"task {dep} (in depends_on) not found")
        if found[dep].project_id != project.id:
            raise ConstructionInputError(
                f"task {dep} belongs to another project; a task can only depend on tasks of "
                f"project {project.id}"
            )
    if task_id is not None:
        graph = {t.id: list(t.depends_on) for t in _tasks(session, org_id, project.id)}
        graph[task_id] = depends
        cycle = _cycle_from(graph, task_id)
        if cycle:
            raise ConstructionInputError(
                "these dependencies would make a cycle: " + " -> ".join(str(t) for t in cycle)
            )
    return depends


def _cycle_from(graph: Mapping[uuid.UUID, list[uuid.UUID]], start: uuid.UUID) -> list[uuid.UUID]:
    """A dependency path from ``start`` back to itself, or [] when there is none."""
    path: list[uuid.UUID] = []
    seen: set[uuid.UUID] = set()

    def walk(node: uuid.UUID) -> bool:
        for nxt in graph.get(node, []):
            if nxt == start:
                path.append(nxt)
                return True
            if nxt in seen:
                continue
            seen.add(nxt)
            path.append(nxt)
            if walk(nxt):
                return True
            path.pop()
        return False

    return [start, *path] if walk(start) else []


def _complete(session: Session, project: Project, task: Task, principal: Principal | None) -> None:
    """Mark a task done (its dependencies must be) and publish ``task.completed``."""
    if task.depends_on:
        deps = session.exec(
            select(Task).where(Task.org_id == task.org_id, col(Task.id).in_(task.depends_on))
        ).all()
        open_deps = [d for d in deps if d.status != TaskStatus.done]
        if open_deps:
            raise ConstructionConflictError(
                "the task cannot be completed before its dependencies: "
                + ", ".join(f"{d.title} ({d.status})" for d in open_deps)
            )
    task.status = TaskStatus.done
    task.completed_at = utcnow()
    session.add(task)
    session.flush()
    publish(
        session,
        org_id=task.org_id,
        name="task.completed",
        payload=_project_payload(project)
        | {
            "task_id": task.id,
            "title": task.title,
            "completed_at": task.completed_at,
            "due_date": task.due_date,
            "assignee_contractor_id": task.assignee_contractor_id,
            "scope_item_id": task.scope_item_id,
            "by": _actor(principal),
        },
    )


def create_task(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    task_in: TaskCreate,
    principal: Principal | None = None,
) -> Task:
    """Add a task to a project (dependencies on this project's tasks only).

    A completed or cancelled project takes no new task (conflict: reopen it first).
    """
    project = _lock_project(session, org_id, project_id)
    _require_open_project(project, "a task")
    values = task_in.model_dump()
    if not str(values["title"]).strip():
        raise ConstructionInputError("title cannot be empty")
    depends = _check_task_links(session, org_id, project, task_id=None, values=values)
    status = TaskStatus(values.pop("status"))
    values["depends_on"] = depends or []
    task = Task(org_id=org_id, project_id=project.id, status=TaskStatus.todo, **values)
    session.add(task)
    session.flush()
    if status == TaskStatus.done:
        _complete(session, project, task, principal)
    elif status != TaskStatus.todo:
        task.status = status
        session.add(task)
        session.flush()
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="create",
        entity="task",
        entity_id=task.id,
        changes=task_in.model_dump(mode="json"),
    )
    return task


def update_task(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    task_id: uuid.UUID,
    task_in: TaskUpdate,
    principal: Principal | None = None,
) -> Task:
    """Change a task; moving it to done needs its dependencies done and publishes the event."""
    project = _lock_project(session, org_id, project_id)
    task = get_task(session=session, org_id=org_id, project_id=project.id, task_id=task_id)
    given = task_in.model_dump(exclude_unset=True)
    for key in ("title", "status"):
        if key in given and given[key] is None:
            raise ConstructionInputError(f"{key} cannot be null")
    if "title" in given and not str(given["title"]).strip():
        raise ConstructionInputError("title cannot be empty")
    depends = _check_task_links(session, org_id, project, task_id=task.id, values=given)
    if depends is not None:
        given["depends_on"] = depends
    target = given.pop("status", None)
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if getattr(task, key) != value:
            changes[key] = value
            setattr(task, key, value)
    if target is not None and TaskStatus(target) != task.status:
        changes["status"] = {"from": task.status, "to": target}
        if TaskStatus(target) == TaskStatus.done:
            _complete(session, project, task, principal)
        else:
            task.status = TaskStatus(target)
            task.completed_at = None
    if changes:
        _save_update(session, org_id, principal, "task", task, changes)
    return task


# --- milestones -----------------------------------------------------------------------------


def _milestones_query(org_id: uuid.UUID, project_id: uuid.UUID) -> SelectOfScalar[Milestone]:
    """A project's milestones (no order, no paging)."""
    return select(Milestone).where(Milestone.org_id == org_id, Milestone.project_id == project_id)


def list_milestones(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[Milestone]:
    """A project's milestones by target date (undated last), then creation."""
    statement = _milestones_query(org_id, project_id).order_by(
        col(Milestone.target_date).asc().nulls_last(),
        col(Milestone.created_at),
        col(Milestone.id),
    )
    return list(session.exec(_page(statement, limit, offset)))


def count_milestones(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> int:
    """How many milestones ``list_milestones`` would list over all pages."""
    return count_rows(session, _milestones_query(org_id, project_id))


def create_milestone(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    milestone_in: MilestoneCreate,
    principal: Principal | None = None,
) -> Milestone:
    """Add a milestone (demo done, rough-in inspection passed, final ...) to a project.

    A completed or cancelled project takes no new milestone (conflict: reopen it first).
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    _require_open_project(project, "a milestone")
    name = milestone_in.name.strip()
    if not name:
        raise ConstructionInputError("name cannot be empty")
    key = milestone_key(name)
    for existing in list_milestones(session=session, org_id=org_id, project_id=project.id):
        if milestone_key(existing.name) == key:
            raise ConstructionConflictError(
                f"project {project.id} already has milestone {existing.name!r}"
            )
    milestone = Milestone(
        org_id=org_id, project_id=project.id, name=name, target_date=milestone_in.target_date
    )
    session.add(milestone)
    session.flush()
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="create",
        entity="milestone",
        entity_id=milestone.id,
        changes=milestone_in.model_dump(mode="json"),
    )
    return milestone


_MILESTONE_FILLER = {
    "inspection",
    "inspections",
    "inspected",
    "passed",
    "pass",
    "done",
    "complete",
    "completed",
    "finished",
    "reached",
    "the",
}


def milestone_key(name: str) -> str:
    """What a milestone or inspection name is about ("Rough-in inspection passed" -> rough in)."""
    words = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    kept = [w for w in words if w not in _MILESTONE_FILLER]
    return " ".join(kept or words)


def reach_milestone(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    principal: Principal | None = None,
    source: str = "manual",
    at: dt.datetime | None = None,
) -> Milestone:
    """Mark a milestone reached and publish ``milestone.reached`` (once; again: no change)."""
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    milestone = session.exec(
        select(Milestone)
        .where(
            Milestone.id == milestone_id,
            Milestone.org_id == org_id,
            Milestone.project_id == project.id,
        )
        .with_for_update()
    ).first()
    if milestone is None:
        raise NotFoundError(f"milestone {milestone_id} not found on project {project_id}")
    if milestone.reached_at is not None:
        return milestone
    milestone.reached_at = at or utcnow()
    milestone.updated_at = utcnow()
    session.add(milestone)
    session.flush()
    days_late = None
    if milestone.target_date is not None:
        days_late = max(0, (local_day(milestone.reached_at) - milestone.target_date).days)
    publish(
        session,
        org_id=org_id,
        name="milestone.reached",
        payload=_project_payload(project)
        | {
            "milestone_id": milestone.id,
            "name": milestone.name,
            "reached_at": milestone.reached_at,
            "target_date": milestone.target_date,
            "days_late": days_late,
            "source": source,
            "by": _actor(principal),
        },
    )
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="reach",
        entity="milestone",
        entity_id=milestone.id,
        changes={"source": source},
    )
    return milestone


# --- photos ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoUpload:
    """One uploaded photo: its bytes, file name and declared content type."""

    data: bytes
    filename: str | None
    content_type: str | None


def check_photo(data: bytes) -> tuple[int, int]:
    """The photo's size in pixels if it decodes as an image; ``ConstructionInputError`` else."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PHOTO_PIXELS:
                raise ConstructionInputError(
                    f"the photo is {width}x{height} pixels; at most "
                    f"{MAX_PHOTO_PIXELS // 1_000_000} megapixels are accepted"
                )
            image.load()
    except ConstructionInputError:
        raise
    except UnidentifiedImageError as exc:
        raise ConstructionInputError("the file is not an image dealdesk can read") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ConstructionInputError(f"the photo is corrupt and cannot be decoded ({exc})") from exc
    return width, height


# How far ahead of the server's clock a camera's ``taken_at`` may be (clocks drift).
TAKEN_AT_SKEW = dt.timedelta(minutes=5)


def check_taken_at(taken_at: dt.datetime | None) -> dt.datetime | None:
    """A photo's ``taken_at`` in UTC, checked.

    ``ConstructionInputError`` when it has no time zone or is in the future (beyond
    ``TAKEN_AT_SKEW``). A zone-less time is ambiguous (as for offers and calls): refused
    rather than guessed.
    """
    if taken_at is None:
        return None
    if taken_at.tzinfo is None or taken_at.utcoffset() is None:
        raise ConstructionInputError(
            "taken_at needs a time zone (e.g. 2026-11-28T10:00:00-05:00 or 2026-11-28T15:00:00Z)"
        )
    moment = taken_at.astimezone(dt.UTC)
    if moment > utcnow() + TAKEN_AT_SKEW:
        raise ConstructionInputError(
            f"taken_at {utc_text(moment)} is in the future: a photo is uploaded after it is taken"
        )
    return moment


def add_photos(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    uploads: Sequence[PhotoUpload],
    caption: str | None = None,
    phase: PhotoPhase | None = None,
    taken_at: dt.datetime | None = None,
    principal: Principal | None = None,
) -> list[tuple[ProjectPhoto, tuple[int, int]]]:
    """Store progress photos through the documents module; publishes ``property.photos.uploaded``.

    Every file is checked before any is kept: an image type within the size limit (the
    documents checks) that decodes (Pillow). One bad file refuses the whole upload with the
    file's name and the reason. The event (for the vision worker) is published when the
    project has a property.
    """
    from domain.documents import service as documents_service

    taken_at = check_taken_at(taken_at)
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    if not uploads:
        raise ConstructionInputError("no photo was uploaded")
    sizes: list[tuple[int, int]] = []
    for upload in uploads:
        label = upload.filename or "photo"
        try:
            documents_service.check_file(
                upload.data, kind="photo", declared_content_type=upload.content_type
            )
        except documents_service.DocumentRejected as exc:
            raise ConstructionInputError(f"{label}: {exc.message}") from exc
        try:
            sizes.append(check_photo(upload.data))
        except ConstructionInputError as exc:
            raise ConstructionInputError(f"{label}: {exc}") from exc
    stored: list[tuple[ProjectPhoto, tuple[int, int]]] = []
    for upload, size in zip(uploads, sizes, strict=True):
        document = documents_service.store_document(
            session=session,
            org_id=org_id,
            data=upload.data,
            filename=upload.filename,
            declared_content_type=upload.content_type,
            kind="photo",
            entity_type="property" if project.property_id else "project",
            entity_id=project.property_id or project.id,
            uploaded_by=principal.user_id if principal else None,
        )
        photo = ProjectPhoto(
            org_id=org_id,
            project_id=project.id,
            document_id=document.id,
            caption=caption,
            phase=phase,
            taken_at=taken_at,
        )
        session.add(photo)
        stored.append((photo, size))
    session.flush()
    if project.property_id is not None:
        publish(
            session,
            org_id=org_id,
            name="property.photos.uploaded",
            payload={
                "property_id": project.property_id,
                "document_ids": [photo.document_id for photo, _ in stored],
                "project_id": project.id,
                "deal_id": project.deal_id,
                "photo_ids": [photo.id for photo, _ in stored],
                "phase": phase,
                "source": "construction",
            },
        )
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="upload_photos",
        entity="project",
        entity_id=project.id,
        changes={"documents": [str(p.document_id) for p, _ in stored], "phase": phase},
    )
    return stored


def _photos_query(org_id: uuid.UUID, project_id: uuid.UUID) -> SelectOfScalar[ProjectPhoto]:
    """A project's photos (no order, no paging)."""
    return select(ProjectPhoto).where(
        ProjectPhoto.org_id == org_id, ProjectPhoto.project_id == project_id
    )


def list_photos(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[ProjectPhoto]:
    """A project's photos, newest first (a page when ``limit`` is given)."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    statement = _photos_query(org_id, project_id).order_by(
        col(ProjectPhoto.created_at).desc(), col(ProjectPhoto.id)
    )
    return list(session.exec(_page(statement, limit, offset)))


def count_photos(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> int:
    """How many photos ``list_photos`` would list over all pages."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    return count_rows(session, _photos_query(org_id, project_id))


# --- expenses -------------------------------------------------------------------------------


def add_expense(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    expense_in: ExpenseCreate,
    principal: Principal | None = None,
) -> ProjectExpense:
    """Book money spent on a project; publishes ``construction.expense.added`` for finance.

    With ``refund`` set, the money came back (a vendor's refund for returned tile): see
    ``_check_refund``. The row is minus the amount on the line (the void's reversal, unlinked),
    and ``construction.expense.refunded`` (amount positive) has finance book a refund in the
    same category.
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    checked = ExpenseCreate.model_validate(expense_in.model_dump())
    if checked.refund:  # two refunds at once: the second waits, then sees the first's credit
        project = _lock_project(session, org_id, project_id)
    contractor = None
    if checked.contractor_id is not None:
        contractor = get_contractor(
            session=session, org_id=org_id, contractor_id=checked.contractor_id
        )
    item = None
    if checked.scope_item_id is not None:
        item = session.exec(
            select(ScopeItem).where(
                ScopeItem.id == checked.scope_item_id, ScopeItem.org_id == org_id
            )
        ).first()
        if item is None:
            raise NotFoundError(f"scope line {checked.scope_item_id} not found")
        if item.project_id != project.id:
            raise ConstructionInputError(
                f"scope line {item.id} is not part of project {project.id}"
            )
    day = checked.spent_on or local_today()
    check_expense_date(day)
    category = ExpenseCategory(checked.category)
    amount = _cents(checked.amount)
    if checked.refund:
        _check_refund(
            session=session, org_id=org_id, project=project, item=item, amount=amount, day=day
        )
    expense = ProjectExpense(
        org_id=org_id,
        project_id=project.id,
        scope_item_id=checked.scope_item_id,
        contractor_id=checked.contractor_id,
        amount=-amount if checked.refund else amount,
        category=category,
        spent_on=day,
        description=checked.description,
        vendor=checked.vendor,
        created_by=principal.user_id if principal else None,
    )
    session.add(expense)
    session.flush()
    what = checked.description or (item.component if item else category.value)
    expense.event_id = publish(
        session,
        org_id=org_id,
        name=EXPENSE_REFUNDED_EVENT if checked.refund else "construction.expense.added",
        payload={
            "amount": _event_money(amount),  # positive: a refund's event says how much came back
            "deal_id": project.deal_id,
            "project_id": project.id,
            "category": category.finance_category,
            "date": day,
            "description": f"{project.name}: {'refund: ' if checked.refund else ''}{what}",
            "contractor": contractor.name if contractor else None,
            "vendor": checked.vendor,
            "expense_id": expense.id,
            "scope_item_id": checked.scope_item_id,
            "property_id": project.property_id,
        },
    )
    session.add(expense)
    session.flush()
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="refund" if checked.refund else "create",
        entity="project_expense",
        entity_id=expense.id,
        changes=checked.model_dump(mode="json"),
    )
    if checked.refund:
        # As a void and a refund booked in finance are: money back shows on the activity.
        payee = contractor.name if contractor else checked.vendor
        line = f", {item.component} line" if item else ""
        _record_activity(
            session=session,
            org_id=org_id,
            project_id=project.id,
            kind=EXPENSE_REFUNDED_ACTIVITY,
            summary=(
                f"Refund of {amount} ({category.value}{line}) dated {day.isoformat()}"
                + (f" from {payee}" if payee else "")
                + f" booked by {_actor(principal)}"
                + (f": {checked.description}" if checked.description else "")
            )[:2000],
            details={
                "expense_id": str(expense.id),
                "amount": str(-amount),
                "spent_on": day.isoformat(),
                "scope_item_id": str(item.id) if item else None,
                "vendor": checked.vendor,
                "contractor_id": str(contractor.id) if contractor else None,
            },
        )
    return expense


# Published for a vendor's or contractor's refund on a project; finance books it as a refund.
EXPENSE_REFUNDED_EVENT = "construction.expense.refunded"
# The activity entry a refund on a project leaves (as a void leaves ``expense_voided``).
EXPENSE_REFUNDED_ACTIVITY = ActivityKind.expense_refunded


def expenses_like(
    *,
    session: Session,
    org_id: uuid.UUID,
    amount: Decimal,
    day: dt.date,
    deal_id: uuid.UUID | None,
    counterparty: str | None,
    exclude_expense_id: uuid.UUID | None = None,
) -> list[ProjectExpense]:
    """The live expenses booked on projects that look like the same receipt.

    Booked through a project (a ledger expense's mirror is the ledger's, not counted here),
    of ``amount`` dated ``day``, on a project of ``deal_id`` (None: a project on no deal), to
    ``counterparty`` as finance books it (the contractor's name, else the vendor; spacing and
    case ignored); neither voided nor a reversal or refund. Oldest first.
    """
    wanted = " ".join((counterparty or "").split()).lower()
    payee = func.coalesce(Contractor.name, ProjectExpense.vendor, "")
    normalised = func.lower(func.trim(func.regexp_replace(payee, r"\s+", " ", "g")))
    deal_match = (
        col(Project.deal_id).is_(None) if deal_id is None else col(Project.deal_id) == deal_id
    )
    reversed_ids = select(col(ProjectExpense.voids_expense_id)).where(
        ProjectExpense.org_id == org_id, col(ProjectExpense.voids_expense_id).is_not(None)
    )
    statement = (
        select(ProjectExpense)
        .join(Project, col(Project.id) == col(ProjectExpense.project_id))
        .outerjoin(Contractor, col(Contractor.id) == col(ProjectExpense.contractor_id))
        .where(
            ProjectExpense.org_id == org_id,
            ProjectExpense.amount == _cents(Decimal(amount)),
            ProjectExpense.spent_on == day,
            deal_match,
            normalised == wanted,
            col(ProjectExpense.event_id).is_not(None),
            col(ProjectExpense.voids_expense_id).is_(None),
            col(ProjectExpense.id).not_in(reversed_ids),
        )
        .order_by(col(ProjectExpense.created_at), col(ProjectExpense.id))
    )
    if exclude_expense_id is not None:
        statement = statement.where(ProjectExpense.id != exclude_expense_id)
    return list(session.exec(statement).all())


def expense_duplicates(
    *, session: Session, org_id: uuid.UUID, expense: ProjectExpense
) -> list[Any]:
    """Earlier live bookings, from either route, that look like the same receipt as ``expense``.

    ``finance.service.receipt_duplicates`` (``PossibleDuplicate`` rows) for money spent on the
    project's deal, to its contractor (else its vendor); nothing for a refund or a reversal.
    """
    from domain.finance import service as finance_service  # late: keeps the modules apart

    if expense.amount <= 0 or expense.voids_expense_id is not None:
        return []
    project = get_project(session=session, org_id=org_id, project_id=expense.project_id)
    contractor = session.get(Contractor, expense.contractor_id) if expense.contractor_id else None
    return finance_service.receipt_duplicates(
        session=session,
        org_id=org_id,
        amount=Decimal(expense.amount),
        day=expense.spent_on,
        deal_id=project.deal_id,
        counterparty=contractor.name if contractor else expense.vendor,
        exclude_expense_id=expense.id,
    )


def _net_spent(session: Session, statement: SelectOfScalar[ProjectExpense]) -> Decimal:
    """The sum of the expenses ``statement`` selects (refunds and reversals count negative)."""
    return sum((Decimal(e.amount) for e in session.exec(statement)), Decimal("0.00"))


def _check_refund(
    *,
    session: Session,
    org_id: uuid.UUID,
    project: Project,
    item: ScopeItem | None,
    amount: Decimal,
    day: dt.date,
) -> None:
    """Refuse a refund the books cannot take; the caller holds the project's lock.

    In a closed month: ConstructionConflictError, like finance's writes. One that would take
    its line's or the project's net spent below zero: ConstructionInputError (money back is
    at most the money spent), both overall and as of the refund's date (a refund dated
    before the expense it refunds would leave the line below zero until then, in progress
    as of a day and in the month's books).
    """
    from domain.finance import service as finance_service  # late: keeps the modules apart

    if finance_service.closed_month(session=session, org_id=org_id, day=day) is not None:
        raise ConstructionConflictError(
            f"The books for {day:%B %Y} are closed: a refund dated {day.isoformat()} cannot be "
            "booked. Date it in an open month, or reopen the period first."
        )
    spent = _net_spent(session, _expenses_query(org_id, project.id))
    by_then = col(ProjectExpense.spent_on) <= day
    if item is not None:
        on_line_query = _expenses_query(org_id, project.id).where(
            ProjectExpense.scope_item_id == item.id
        )
        on_line = _net_spent(session, on_line_query)
        if amount > on_line:
            raise ConstructionInputError(
                f"a refund of {amount} is more than the {on_line} net spent on the "
                f"'{item.component}' line: a refund cannot take a line's spent below zero "
                "(book it on the line it paid for, or for less)"
            )
        line_by_then = _net_spent(session, on_line_query.where(by_then))
        if amount > line_by_then:
            raise ConstructionInputError(
                f"a refund of {amount} dated {day.isoformat()} is more than the "
                f"{line_by_then} net spent on the '{item.component}' line by that day: a "
                "refund cannot take a line's spent below zero on any day (date it on or "
                "after the expense it refunds)"
            )
    if amount > spent:
        raise ConstructionInputError(
            f"a refund of {amount} is more than the {spent} net spent on project "
            f"'{project.name}': a refund cannot take the project's spent below zero"
        )
    project_by_then = _net_spent(session, _expenses_query(org_id, project.id).where(by_then))
    if amount > project_by_then:
        raise ConstructionInputError(
            f"a refund of {amount} dated {day.isoformat()} is more than the "
            f"{project_by_then} net spent on project '{project.name}' by that day: a refund "
            "cannot take the project's spent below zero on any day (date it on or after the "
            "expense it refunds)"
        )


def check_project_refund(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    amount: Decimal,
    day: dt.date,
) -> None:
    """Refuse money back on a project that its books cannot take (a ledger refund on it).

    The project is locked, then the checks of a refund booked on the project (``_check_refund``,
    no line): ConstructionInputError when it would take the project's net spent below zero,
    overall or as of ``day``; ConstructionConflictError in a closed month; NotFoundError.
    """
    project = _lock_project(session, org_id, project_id)
    _check_refund(
        session=session,
        org_id=org_id,
        project=project,
        item=None,
        amount=_cents(Decimal(amount)),
        day=day,
    )


def expense_duplicate_warning(
    *, session: Session, org_id: uuid.UUID, expense: ProjectExpense, duplicates: Sequence[Any]
) -> str | None:
    """The heads-up for ``expense_duplicates`` (None when there are none), as finance words it."""
    from domain.finance import service as finance_service  # late: keeps the modules apart

    contractor = session.get(Contractor, expense.contractor_id) if expense.contractor_id else None
    return finance_service.duplicate_warning(
        duplicates,
        amount=Decimal(expense.amount),
        day=expense.spent_on,
        counterparty=contractor.name if contractor else expense.vendor,
        void_this=f"POST /projects/{expense.project_id}/expenses/{expense.id}/void",
    )


# A project still taking costs: planning, bidding, in progress or on hold.
_CLOSED_PROJECT_STATUSES = {ProjectStatus.completed, ProjectStatus.cancelled}
OPEN_PROJECT_STATUSES = frozenset(ProjectStatus) - _CLOSED_PROJECT_STATUSES


@dataclass(frozen=True)
class LedgerExpenseRoute:
    """Where a ledger expense (finance's ``POST /expenses``) lands on the construction side."""

    project_id: uuid.UUID | None
    notes: list[str]


def route_ledger_expense(
    *,
    session: Session,
    org_id: uuid.UUID,
    deal_id: uuid.UUID | None,
    project_id: uuid.UUID | None,
    category: str,
    day: dt.date,
) -> LedgerExpenseRoute:
    """The project a ledger expense books to, so the project's spent and the deal's budget agree.

    A project named stands. With only a deal named and a rehab category (what the deal's rehab
    budget counts), the deal's one open project (planning, bidding, in progress or on hold)
    gets it, with a note saying so; several open: it stays on the deal, with a note naming
    them. An expense that reaches a project is dated at most ``MAX_EXPENSE_DAYS_AHEAD`` days
    ahead, as a project expense is (ConstructionInputError otherwise).
    """
    from domain.finance import service as finance_service  # late: keeps the modules apart
    from domain.finance.enums import REHAB_CATEGORIES

    notes: list[str] = []
    upkeep = finance_service.upkeep_after_first_rent(
        session=session, deal_id=deal_id, category=str(category), day=day
    )
    if project_id is None and upkeep:
        notes.append(
            f"a {str(category).replace('_', ' ')} expense on or after the deal's first rent is an "
            "operating cost: it stays on the deal, not on the rehab project"
        )
    if project_id is None and deal_id is not None and category in REHAB_CATEGORIES and not upkeep:
        projects = list(
            session.exec(
                select(Project)
                .where(
                    Project.org_id == org_id,
                    Project.deal_id == deal_id,
                    col(Project.status).in_([s.value for s in OPEN_PROJECT_STATUSES]),
                )
                .order_by(col(Project.created_at), col(Project.id))
            )
        )
        if len(projects) == 1:
            project_id = projects[0].id
            notes.append(
                f"booked to project '{projects[0].name}' ({project_id}), the deal's one open "
                "rehab project: its spent counts it too"
            )
        elif projects:
            names = ", ".join(f"'{p.name}' ({p.id})" for p in projects[:5])
            notes.append(
                f"the deal has {len(projects)} open projects ({names}): the expense stays on the "
                "deal, on no project; give project_id to book it to one"
            )
    if project_id is not None:
        check_expense_date(day, what="date")
    return LedgerExpenseRoute(project_id=project_id, notes=notes)


def _expenses_query(org_id: uuid.UUID, project_id: uuid.UUID) -> SelectOfScalar[ProjectExpense]:
    """A project's expenses (no order, no paging)."""
    return select(ProjectExpense).where(
        ProjectExpense.org_id == org_id, ProjectExpense.project_id == project_id
    )


def list_expenses(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[ProjectExpense]:
    """A project's expenses, newest first (a page when ``limit`` is given)."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    statement = _expenses_query(org_id, project_id).order_by(
        col(ProjectExpense.spent_on).desc(),
        col(ProjectExpense.created_at).desc(),
        col(ProjectExpense.id),  # expenses booked together share a day and a time
    )
    return list(session.exec(_page(statement, limit, offset)))


def count_expenses(*, session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> int:
    """How many expenses ``list_expenses`` would list over all pages."""
    get_project(session=session, org_id=org_id, project_id=project_id)
    return count_rows(session, _expenses_query(org_id, project_id))


# --- voiding an expense booked by mistake ------------------------------------------------------

EXPENSE_VOIDED_ACTIVITY = ActivityKind.expense_voided
_EXPENSE_PREFIX = re.compile(r"^[0-9a-f]{8,32}$")


def voided_by(
    *, session: Session, org_id: uuid.UUID, expense_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """For each of ``expense_ids`` that was voided: the id of the reversal that voids it."""
    if not expense_ids:
        return {}
    rows = session.exec(
        select(ProjectExpense.voids_expense_id, ProjectExpense.id).where(
            ProjectExpense.org_id == org_id,
            col(ProjectExpense.voids_expense_id).in_(list(expense_ids)),
        )
    ).all()
    return {original: reversal for original, reversal in rows if original is not None}


def expense_by_ref(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, ref: str
) -> ProjectExpense:
    """A project's expense by its id or the first 8+ hex digits of it ("bcb300a8").

    ``NotFoundError`` when none matches (or it is another project's or organisation's);
    ``ConstructionInputError`` for a reference that is no id, or a prefix several share.
    """
    text = ref.strip().lower().removeprefix("expense").strip(" #:")
    try:
        wanted: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        wanted = None
    if wanted is not None:
        expense = session.exec(
            select(ProjectExpense).where(
                ProjectExpense.org_id == org_id,
                ProjectExpense.project_id == project_id,
                ProjectExpense.id == wanted,
            )
        ).first()
        if expense is None:
            raise NotFoundError(f"expense {wanted} not found on project {project_id}")
        return expense
    prefix = text.replace("-", "")
    if not _EXPENSE_PREFIX.match(prefix):
        raise ConstructionInputError(
            f"{ref.strip()[:60]!r} is not an expense id: give its id or its first 8+ characters"
        )
    hits = [
        e
        for e in session.exec(_expenses_query(org_id, project_id)).all()
        if e.id.hex.startswith(prefix)
    ]
    if not hits:
        raise NotFoundError(f"expense {prefix} not found on project {project_id}")
    if len(hits) > 1:
        raise ConstructionInputError(
            f"{len(hits)} expenses on the project start with {prefix}: give more of the id"
        )
    return hits[0]


@dataclass(frozen=True)
class ExpenseVoid:
    """An expense voided: the original (kept), its reversal, and where the line and project are."""

    voided: ProjectExpense
    reversal: ProjectExpense
    project: Project
    line: ScopeItem | None
    line_progress: LineProgress | None
    progress: ProjectProgress


def _reversal_day(session: Session, org_id: uuid.UUID, original: dt.date) -> dt.date:
    """The reversal's date: the original's while finance still has that month open, else today.

    Same day: the month's books, progress as of any day and the line net to zero from the
    day the expense counted. A closed month is not reopened: the reversal is dated today
    (finance would move it to the next open month anyway).
    """
    from domain.finance import service as finance_service  # late: keeps the modules apart

    if finance_service.closed_month(session=session, org_id=org_id, day=original) is None:
        return original
    return local_today()


def void_expense(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    expense_id: uuid.UUID,
    reason: str | None = None,
    principal: Principal | None = None,
) -> ExpenseVoid:
    """Void an expense booked by mistake: book a reversing expense linked to it.

    The reversal is minus the original's amount on the same scope line, with the same
    contractor, vendor and category, dated by ``_reversal_day``, described "void of expense
    <id>: <reason>"; the original stays (audit trail). Progress, line budgets, the overview
    and the expense list net the pair to zero. Publishes ``construction.expense.voided``
    (amount positive), which finance books as a refund in the same category. 404 for an
    expense not on this project of this organisation; 409 for one already voided or one
    that is itself a reversal.
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    if reason is not None:
        reason = " ".join(reason.split())
        if len(reason) > 500:
            raise ConstructionInputError("a void's reason is at most 500 characters")
    original = session.exec(
        select(ProjectExpense)
        .where(
            ProjectExpense.org_id == org_id,
            ProjectExpense.project_id == project.id,
            ProjectExpense.id == expense_id,
        )
        .with_for_update()  # two voids at once: the second waits, then sees the first
    ).first()
    if original is None:
        raise NotFoundError(f"expense {expense_id} not found on project {project.id}")
    if original.voids_expense_id is not None:
        raise ConstructionConflictError(
            f"expense {original.id} is the void of expense {original.voids_expense_id}; "
            "a reversal cannot be voided (book the expense again instead)"
        )
    if original.amount < 0:
        raise ConstructionConflictError(
            f"expense {original.id} is a refund of {-Decimal(original.amount)} (money back), "
            "which cannot be voided: book an expense of that amount on the line to undo it"
        )
    earlier = session.exec(
        select(ProjectExpense).where(
            ProjectExpense.org_id == org_id, ProjectExpense.voids_expense_id == original.id
        )
    ).first()
    if earlier is not None:
        raise ConstructionConflictError(
            f"expense {original.id} was already voided on "
            f"{local_day(earlier.created_at).isoformat()} (reversal {earlier.id})"
        )
    amount = _cents(Decimal(original.amount))
    contractor = session.get(Contractor, original.contractor_id) if original.contractor_id else None
    item = session.get(ScopeItem, original.scope_item_id) if original.scope_item_id else None
    category = ExpenseCategory(original.category)
    day = _reversal_day(session, org_id, original.spent_on)
    description = f"void of expense {original.id}" + (f": {reason}" if reason else "")
    reversal = ProjectExpense(
        org_id=org_id,
        project_id=project.id,
        scope_item_id=original.scope_item_id,
        contractor_id=original.contractor_id,
        amount=-amount,
        category=category,
        spent_on=day,
        description=description,
        vendor=original.vendor,
        created_by=principal.user_id if principal else None,
        voids_expense_id=original.id,
    )
    session.add(reversal)
    try:
        session.flush()
    except IntegrityError as exc:  # a void raced this one past the lock (unique index)
        raise ConstructionConflictError(f"expense {original.id} was already voided") from exc
    # Its event id is finance's source_event_id for the refund: the mirror of finance
    # transactions onto projects recognises it as the project's own and skips it.
    reversal.event_id = publish(
        session,
        org_id=org_id,
        name="construction.expense.voided",
        payload={
            "expense_id": reversal.id,
            "voided_expense_id": original.id,
            "voided_event_id": original.event_id,
            "amount": _event_money(amount),
            "deal_id": project.deal_id,
            "project_id": project.id,
            "category": category.finance_category,
            "date": day,
            "description": f"{project.name}: {description}"[:2000],
            "contractor": contractor.name if contractor else None,
            "vendor": original.vendor,
            "scope_item_id": original.scope_item_id,
            "property_id": project.property_id,
        },
    )
    session.add(reversal)
    session.flush()
    changes = {
        "voided_expense_id": str(original.id),
        "reversal_id": str(reversal.id),
        "amount": str(amount),
        "spent_on": day.isoformat(),
        "reason": reason,
    }
    _audit(
        session=session,
        org_id=org_id,
        principal=principal,
        action="void",
        entity="project_expense",
        entity_id=original.id,
        changes=changes,
    )
    what = item.component if item else category.value
    _record_activity(
        session=session,
        org_id=org_id,
        project_id=project.id,
        kind=EXPENSE_VOIDED_ACTIVITY,
        summary=(
            f"Expense {str(original.id)[:8]} of {amount} ({what}) voided by "
            f"{_actor(principal)}" + (f": {reason}" if reason else "")
        )[:2000],
        details=changes,
    )
    report = progress(session=session, org_id=org_id, project_id=project.id)
    line_report = (
        next((lp for lp in report.lines if lp.scope_item_id == item.id), None) if item else None
    )
    return ExpenseVoid(
        voided=original,
        reversal=reversal,
        project=project,
        line=item,
        line_progress=line_report,
        progress=report,
    )


# Words that say nothing about which scope line an expense paid ("the new roof line").
_LINE_FILLER = frozenset(
    {"the", "a", "an", "new", "line", "scope", "for", "on", "of", "work", "job", "job's", "and"}
)


def _word_fits(wanted: str, words: set[str]) -> bool:
    """``roofing`` fits ``roof``, ``electric`` fits ``electrical``: a shared 4+ letter start."""
    return any(
        w == wanted
        or ((w.startswith(wanted) or wanted.startswith(w)) and min(len(w), len(wanted)) >= 4)
        for w in words
    )


def scope_line_named(
    *, session: Session, org_id: uuid.UUID, project_id: uuid.UUID, name: str
) -> ScopeItem | None:
    """The project's one scope line ``name`` means ("roof", "roofing", "the plumbing"), or None.

    A line whose component is ``name``; else the lines whose component is the same catalogue
    component (``pricing_service.match_component``: "hvac" and "furnace") or has every word
    of ``name`` (by a shared start: "roofing" is the "roof" line). Raises
    ``ConstructionInputError`` when several lines fit, naming them.
    """
    from domain.pricing import service as pricing_service

    scope = _scope(session, org_id, project_id)
    wanted = " ".join(re.findall(r"[a-z0-9']+", name.lower()))
    if not wanted:
        return None
    exact = [s for s in scope if " ".join(s.component.lower().split()) == wanted]
    if len(exact) == 1:
        return exact[0]
    words = [w for w in wanted.split() if w not in _LINE_FILLER]
    match = pricing_service.match_component(wanted)

    def fits(item: ScopeItem) -> bool:
        if match is not None:
            other = pricing_service.match_component(item.component)
            if other is not None and other.key == match.key:
                return True
        component_words = set(re.findall(r"[a-z0-9']+", item.component.lower()))
        return bool(words) and all(_word_fits(w, component_words) for w in words)

    hits = exact or [s for s in scope if fits(s)]
    if len(hits) > 1:
        names = ", ".join(f"'{s.component}'" for s in hits[:5])
        raise ConstructionInputError(f"'{name}' fits {len(hits)} scope lines ({names}): say which")
    return hits[0] if hits else None


def contractors_named(*, session: Session, org_id: uuid.UUID, name: str) -> list[Contractor]:
    """The organisation's contractors whose name or company has every word of ``name``.

    "Ray" finds Ray Alvarez and Ray's Roofing LLC; each word must start a word of the name or
    company, so "ray" does not find Murray.
    """
    words = re.findall(r"[a-z0-9]+", name.lower().replace("'s", ""))
    if not words:
        return []
    rows = session.exec(
        select(Contractor).where(Contractor.org_id == org_id).order_by(col(Contractor.name))
    ).all()

    def has_all(contractor: Contractor) -> bool:
        said = re.findall(
            r"[a-z0-9]+", f"{contractor.name} {contractor.company or ''}".lower().replace("'s", "")
        )
        return all(any(w.startswith(word) for w in said) for word in words)

    return [c for c in rows if has_all(c)]


@dataclass(frozen=True)
class ExpenseBooking:
    """An expense booked from what someone said, and where it leaves its line and project."""

    expense: ProjectExpense
    project: Project
    line: ScopeItem | None
    contractor: Contractor | None
    line_progress: LineProgress | None
    progress: ProjectProgress
    notes: list[str]
    # Expenses of the same amount booked on the project for the same day before this one.
    same_day_same_amount: int


def _refund_category(
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    contractor: Contractor | None,
    vendor: str | None,
    notes: list[str],
) -> ExpenseCategory | None:
    """The category of a refund given none: that of the payee's purchases on the project.

    The payee is the contractor on file, else the vendor (spacing and case ignored). Their
    live purchases on the project (neither voided nor a reversal or refund) all in one
    category: that one, said in ``notes``. In several categories, or none bought: None (the
    default applies), the reason in ``notes`` when they disagree.
    """
    if contractor is not None:
        payee_match = col(ProjectExpense.contractor_id) == contractor.id
        payee = contractor.name
    elif vendor and vendor.strip():
        payee = " ".join(vendor.split())
        payee_match = (
            func.lower(func.trim(func.regexp_replace(col(ProjectExpense.vendor), r"\s+", " ", "g")))
            == payee.lower()
        )
    else:
        return None
    reversed_ids = select(col(ProjectExpense.voids_expense_id)).where(
        ProjectExpense.org_id == org_id, col(ProjectExpense.voids_expense_id).is_not(None)
    )
    bought = session.exec(
        select(ProjectExpense.category)
        .where(
            ProjectExpense.org_id == org_id,
            ProjectExpense.project_id == project_id,
            payee_match,
            ProjectExpense.amount > 0,
            col(ProjectExpense.voids_expense_id).is_(None),
            col(ProjectExpense.id).not_in(reversed_ids),
        )
        .distinct()
    ).all()
    kinds = sorted({ExpenseCategory(c) for c in bought})
    if len(kinds) == 1:
        notes.append(
            f"booked as {kinds[0].value}, the category of the purchases from {payee} on the project"
        )
        return kinds[0]
    if kinds:
        notes.append(
            f"the purchases from {payee} on the project are in several categories ("
            + ", ".join(k.value for k in kinds)
            + "): booked in the default one; say the category to change it"
        )
    return None


def book_expense(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    amount: Decimal,
    line: str | None = None,
    contractor: str | None = None,
    vendor: str | None = None,
    category: ExpenseCategory | None = None,
    spent_on: dt.date | None = None,
    description: str | None = None,
    principal: Principal | None = None,
    refund: bool = False,
) -> ExpenseBooking:
    """Book an expense named in words: a scope line, a contractor or vendor by name.

    ``refund``: money came back from the vendor or contractor ("Home Depot refunded 45.20"):
    the line and category are picked the same way, and ``add_expense`` books it as a refund
    (a credit on the line; refused when it would take the line's or project's spent below
    zero, or in a closed month).

    The line is ``scope_line_named``; with no line named, a paid contractor's one awarded line
    on the project. A contractor is ``contractors_named`` (several: refused, naming them;
    none: kept as the vendor, with a note). With no category: a refund takes the category of
    the payee's purchases on the project when they all agree (``_refund_category``, noted);
    otherwise labour when a contractor is paid, materials when only a vendor is, else other.
    A line named that the project lacks books the expense to the project without a line,
    with a note naming its lines. Then
    ``add_expense`` (event, audit) and the line's and project's progress after it.
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    notes: list[str] = []
    paid: Contractor | None = None
    if contractor and contractor.strip():
        found = contractors_named(session=session, org_id=org_id, name=contractor)
        if len(found) > 1:
            names = ", ".join(c.name for c in found[:5])
            raise ConstructionInputError(
                f"{len(found)} contractors are called '{contractor.strip()}' ({names}): say which"
            )
        if found:
            paid = found[0]
        else:
            vendor = vendor or contractor.strip()
            notes.append(
                f"no contractor called '{contractor.strip()}' is on file: kept as the vendor"
            )
    item: ScopeItem | None = None
    if line and line.strip():
        item = scope_line_named(session=session, org_id=org_id, project_id=project.id, name=line)
        if item is None:
            names = ", ".join(f"'{s.component}'" for s in _scope(session, org_id, project.id))
            notes.append(
                f"the project has no '{line.strip()}' scope line, so the expense is on the "
                f"project without a line ({'its lines: ' + names if names else 'it has none'})"
            )
    elif paid is not None:
        awarded = {
            line_id
            for bid in _accepted_bids(session, org_id, project.id)
            if bid.contractor_id == paid.id
            for line_id in _bid_line_amounts(bid)
        }
        if len(awarded) == 1:
            item = session.get(ScopeItem, next(iter(awarded)))
            if item is not None:
                notes.append(f"the '{item.component}' line of {paid.name}'s awarded bid")
    if category is None and refund:
        # Money back from a payee takes the category of what they were paid on the project.
        category = _refund_category(session, org_id, project.id, paid, vendor, notes)
    if category is None:
        # A person paid ("paid Zeke 250 for the plumbing") is labour even when they are not on
        # file (kept as the vendor); a store named as the vendor is materials.
        named_payee = bool(contractor and contractor.strip())
        category = (
            ExpenseCategory.labour
            if paid is not None or named_payee
            else ExpenseCategory.materials
            if vendor
            else ExpenseCategory.other
        )
    day = spent_on or local_today()
    signed = -_cents(Decimal(amount)) if refund else _cents(Decimal(amount))
    earlier = count_rows(
        session,
        select(ProjectExpense).where(
            ProjectExpense.org_id == org_id,
            ProjectExpense.project_id == project.id,
            ProjectExpense.spent_on == day,
            ProjectExpense.amount == signed,
            col(ProjectExpense.id).not_in(  # an expense already voided is no repeat
                select(ProjectExpense.voids_expense_id).where(
                    ProjectExpense.org_id == org_id,
                    col(ProjectExpense.voids_expense_id).is_not(None),
                )
            ),
        ),
    )
    expense = add_expense(
        session=session,
        org_id=org_id,
        project_id=project.id,
        expense_in=ExpenseCreate(
            amount=amount,
            category=category,
            spent_on=day,
            scope_item_id=item.id if item else None,
            contractor_id=paid.id if paid else None,
            description=description[:2000] if description else None,
            vendor=vendor[:200] if vendor else None,
            refund=refund,
        ),
        principal=principal,
    )
    report = progress(session=session, org_id=org_id, project_id=project.id)
    line_report = (
        next((lp for lp in report.lines if lp.scope_item_id == item.id), None) if item else None
    )
    if day > report.as_of:
        notes.append(f"dated {day.isoformat()}: the totals below count it from that day")
    from domain.finance import service as finance_service  # late: keeps the modules apart

    ledger_day = finance_service.first_open_day(session=session, org_id=org_id, day=day)
    if ledger_day != day:
        # The relay books it on the first open day (finance_service.book_construction_expense).
        notes.append(
            f"the books for {day:%B %Y} are closed: the ledger books it on the first open day,"
            f" {ledger_day.isoformat()} as the books stand now (the project keeps"
            f" {day.isoformat()})"
        )
    return ExpenseBooking(
        expense=expense,
        project=project,
        line=item,
        contractor=paid,
        line_progress=line_report,
        progress=report,
        notes=notes,
        same_day_same_amount=earlier,
    )


# --- progress -------------------------------------------------------------------------------


def progress(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    as_of: dt.date | None = None,
) -> ProjectProgress:
    """How far a project has come, as of a day (default today).

    By tasks: done / tasks not cancelled. By budget: expenses / budget (the accepted bid's
    total, bids awarded trade by trade plus the other lines' budgets, or the budget set on the
    project). Per scope line: its expenses against its
    budgeted cost. Schedule: days past ``target_end_date`` (to the completion day, or to
    ``as_of`` while open) and tasks past their due date; the slip is the larger.
    """
    project = get_project(session=session, org_id=org_id, project_id=project_id)
    today = as_of or local_today()
    scope = _scope(session, org_id, project.id)
    tasks = [t for t in _tasks(session, org_id, project.id) if t.status != TaskStatus.cancelled]
    # As of a day: only what had happened by then counts (spending dated later, a task
    # finished or a milestone reached later, a completion later).
    expenses = [
        e
        for e in list_expenses(session=session, org_id=org_id, project_id=project.id)
        if e.spent_on <= today
    ]

    def done_by_then(task: Task) -> bool:
        return task.status == TaskStatus.done and (
            task.completed_at is None or local_day(task.completed_at) <= today
        )

    done = sum(1 for t in tasks if done_by_then(t))
    spent_by_line: dict[uuid.UUID | None, Decimal] = {}
    for expense in expenses:
        key = expense.scope_item_id if expense.scope_item_id in {s.id for s in scope} else None
        spent_by_line[key] = spent_by_line.get(key, Decimal(0)) + Decimal(expense.amount)
    spent = _cents(sum(spent_by_line.values(), Decimal(0)))
    lines = []
    for item in scope:
        line_spent = _cents(spent_by_line.get(item.id, Decimal(0)))
        budgeted = Decimal(item.budgeted_cost) if item.budgeted_cost is not None else None
        lines.append(
            LineProgress(
                scope_item_id=item.id,
                component=item.component,
                budgeted_cost=budgeted,
                spent=line_spent,
                remaining=_cents(budgeted - line_spent) if budgeted is not None else None,
                percent_spent=_pct(line_spent, budgeted) if budgeted is not None else None,
                over_budget=budgeted is not None and line_spent > budgeted,
            )
        )
    accepted = _accepted_bids(session, org_id, project.id)
    budget = Decimal(project.budget) if project.budget is not None else None
    if budget is None:
        budget_source = "no budget set"
    elif len(accepted) == 1 and accepted[0].total_amount == project.budget:
        budget_source = f"accepted bid {accepted[0].id}"
    elif (
        accepted
        and all(b.line_items for b in accepted)
        and budget == _awarded_budget(scope, accepted)
    ):
        awarded = {item for b in accepted for item in _bid_line_amounts(b)}
        rest = sum(1 for item in scope if item.id not in awarded)
        budget_source = (
            f"accepted bid{'s' if len(accepted) > 1 else ''} "
            + ", ".join(str(b.id) for b in accepted)
            + (f" and {rest} unawarded scope line(s) at their budgeted cost" if rest else "")
        )
    else:
        budget_source = project.scope_source or "set on the project"
    completed_on = project.completed_on
    end_day = completed_on if completed_on is not None and completed_on <= today else today
    days_late = 0
    if project.target_end_date is not None:
        days_late = max(0, (end_day - project.target_end_date).days)
    late_tasks = [
        LateTask(
            task_id=t.id, title=t.title, due_date=t.due_date, days_late=(today - t.due_date).days
        )
        for t in tasks
        if t.due_date is not None and not done_by_then(t) and t.due_date < today
    ]
    late_tasks.sort(key=lambda t: -t.days_late)
    milestones = list_milestones(session=session, org_id=org_id, project_id=project.id)
    return ProjectProgress(
        project_id=project.id,
        as_of=today,
        status=ProjectStatus(project.status),
        tasks_total=len(tasks),
        tasks_done=done,
        percent_complete_by_tasks=_pct(Decimal(done), Decimal(len(tasks))),
        budget=budget,
        budget_source=budget_source,
        spent=spent,
        remaining=_cents(budget - spent) if budget is not None else None,
        percent_complete_by_budget=_pct(spent, budget) if budget is not None else None,
        unallocated_spent=_cents(spent_by_line.get(None, Decimal(0))),
        lines=lines,
        target_end_date=project.target_end_date,
        days_late=days_late,
        late_tasks=late_tasks,
        schedule_slip_days=max([days_late, *(t.days_late for t in late_tasks)]),
        milestones_reached=sum(
            1 for m in milestones if m.reached_at is not None and local_day(m.reached_at) <= today
        ),
        milestones_total=len(milestones),
        sources=[
            f"{len(tasks)} task(s) of project {project.id} (cancelled ones left out)",
            f"{len(expenses)} expense(s) booked on the project, dated up to {today.isoformat()}",
            f"budget: {budget_source}",
            f"as of {today.isoformat()}",
        ],
    )


# Projects that are over: finished or called off (left out of "open" overviews).
CLOSED_PROJECT_STATUSES = frozenset({ProjectStatus.completed, ProjectStatus.cancelled})


@dataclass(frozen=True)
class ProjectOverview:
    """One project in a list and how it stands against its budget and calendar."""

    project: Project
    progress: ProjectProgress

    @property
    def over_budget(self) -> bool:
        """The project total: spent more than the budget (False when no budget is set)."""
        budget = self.progress.budget
        return budget is not None and self.progress.spent > budget

    @property
    def lines_over_budget(self) -> list[LineProgress]:
        """The scope lines that have spent more than their own budgeted cost."""
        return [line for line in self.progress.lines if line.over_budget]

    @property
    def any_over_budget(self) -> bool:
        """Over budget in the ``over_budget`` filter's sense: the total or any scope line."""
        return self.over_budget or bool(self.lines_over_budget)

    @property
    def behind_schedule(self) -> bool:
        """Past its target end or with a task past due."""
        return self.progress.schedule_slip_days > 0


def projects_overview(
    *,
    session: Session,
    org_id: uuid.UUID,
    principal: Principal | None = None,
    include_closed: bool = False,
    over_budget: bool = False,
    behind_schedule: bool = False,
    status: ProjectStatus | None = None,
    as_of: dt.date | None = None,
) -> list[ProjectOverview]:
    """The projects ``principal`` may see, each with its progress, worst first.

    Open projects only unless ``include_closed`` (or a ``status`` is asked for); narrowed to
    the ones over budget (the project total or any scope line: ``any_over_budget``) and/or
    behind schedule when asked. Worst first: over budget by the most (as a share of budget),
    then those with scope lines over budget (the most lines first), then the longest slip,
    then the most recently changed; finished and cancelled projects last.
    """
    projects = list_projects(
        session=session,
        org_id=org_id,
        status=status,
        limit=MAX_LIST_LIMIT,
        principal=principal,
    )
    rows = [
        ProjectOverview(
            project=p,
            progress=progress(session=session, org_id=org_id, project_id=p.id, as_of=as_of),
        )
        for p in projects
        if include_closed or status is not None or p.status not in CLOSED_PROJECT_STATUSES
    ]
    if over_budget:
        rows = [r for r in rows if r.any_over_budget]
    if behind_schedule:
        rows = [r for r in rows if r.behind_schedule]

    def badness(row: ProjectOverview) -> tuple[bool, Decimal, int, int]:
        share = row.progress.percent_complete_by_budget if row.over_budget else None
        closed = row.project.status in CLOSED_PROJECT_STATUSES
        return (
            closed,
            -(share or Decimal(0)),
            -len(row.lines_over_budget),
            -row.progress.schedule_slip_days,
        )

    return sorted(rows, key=badness)  # stable: ties keep the most recently changed first


# --- what other modules tell us -------------------------------------------------------------


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _response_bid_fields(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The bid a contractor's response carries (amount or line items), or None."""
    amount = next(
        (
            payload[k]
            for k in ("total_amount", "bid_amount", "amount")
            if payload.get(k) is not None
        ),
        None,
    )
    lines = payload.get("line_items") or []
    if amount is None and not lines:
        return None
    if not lines and payload.get("scope_item_id") and amount is not None:
        lines = [{"scope_item_id": payload["scope_item_id"], "amount": amount}]
    return {
        "total_amount": amount,
        "line_items": lines,
        "start_date": payload.get("start_date"),
        "duration_days": payload.get("duration_days"),
        "exclusions": payload.get("exclusions"),
    }


def record_contractor_response(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID, payload: Mapping[str, Any]
) -> ProjectActivity:
    """Record what a contractor said on a call (``contractor.responded``), once per event.

    With an amount (``total_amount``, ``bid_amount`` or ``amount``, optionally
    ``scope_item_id`` or ``line_items``) and no bid yet for its ``call_id``, a bid is created
    (source ``call``); otherwise the response is noted on the project's activity.
    """
    done = activity_for_event(session=session, org_id=org_id, event_id=event_id)
    if done is not None:
        return done
    project_id = _uuid_or_none(payload.get("project_id"))
    contractor_id = _uuid_or_none(payload.get("contractor_id"))
    call_id = _uuid_or_none(payload.get("call_id"))
    project = contractor = None
    problems: list[str] = []
    try:
        project = (
            get_project(session=session, org_id=org_id, project_id=project_id)
            if project_id
            else None
        )
    except NotFoundError:
        problems.append(f"project {project_id} not found")
    try:
        contractor = (
            get_contractor(session=session, org_id=org_id, contractor_id=contractor_id)
            if contractor_id
            else None
        )
    except NotFoundError:
        problems.append(f"contractor {contractor_id} not found")
    if call_id is not None:
        # The voice module imports this one; the call is looked up at run time.
        from domain.voice import service as voice_service

        try:
            voice_service.get_call(session=session, org_id=org_id, call_id=call_id)
        except voice_service.CallNotFound:
            problems.append(f"call {call_id} not found")
            call_id = None
    who = contractor.name if contractor else f"contractor {contractor_id}"
    said = str(payload.get("summary") or payload.get("notes") or payload.get("response") or "")
    details = dict(payload)
    fields = _response_bid_fields(payload)
    if project is not None and contractor is not None and fields is not None:
        existing = (
            bid_for_call(session=session, org_id=org_id, call_id=call_id) if call_id else None
        )
        if existing is not None:
            return _record_activity(
                session=session,
                org_id=org_id,
                project_id=project.id,
                kind=ActivityKind.contractor_response,
                summary=f"{who} responded; the call's bid {existing.id} was already recorded",
                details=details | {"bid_id": existing.id},
                source_event_id=event_id,
            )
        try:
            with session.begin_nested():
                bid = create_bid(
                    session=session,
                    org_id=org_id,
                    project_id=project.id,
                    bid_in=BidCreate.model_validate(
                        fields
                        | {
                            "contractor_id": contractor.id,
                            "source": BidSource.call,
                            "call_id": call_id,
                        }
                    ),
                )
        except (ConstructionError, ValidationError) as exc:
            problems.append(f"the bid could not be recorded: {exc}")
        else:
            return _record_activity(
                session=session,
                org_id=org_id,
                project_id=project.id,
                kind=ActivityKind.bid_from_call,
                summary=f"{who} bid ${bid.total_amount:,.2f} on a call"
                + (f": {said}" if said else ""),
                details=details | {"bid_id": bid.id},
                source_event_id=event_id,
            )
    summary = f"{who} responded" + (f": {said}" if said else "")
    if problems:
        summary += " (" + "; ".join(problems) + ")"
    return _record_activity(
        session=session,
        org_id=org_id,
        project_id=project.id if project else None,
        kind=ActivityKind.contractor_response,
        summary=summary,
        details=details | ({"problems": problems} if problems else {}),
        source_event_id=event_id,
    )


# --- what contractors tell us in chat -------------------------------------------------------

# What a contractor's chat message is about (the contractor tool's ``kind``).
CONTRACTOR_UPDATE_KINDS = (
    "start_date",
    "price",
    "extra",
    "duration",
    "withdraw",
    "progress",
    "question",
    "photo",
    "other",
    "opt_out",
)
MAX_CONTRACTOR_MESSAGE = 1000
# Projects one ambiguous message is noted on (a contractor with bids on several projects).
MAX_UPDATE_PROJECTS = 5
_LIVE_BID_STATUSES = (BidStatus.received, BidStatus.accepted)
# Words of an address that do not tell one project from another.
_STREET_NOISE = frozenset(
    {"ave", "avenue", "st", "street", "rd", "road", "dr", "drive", "blvd", "ln", "lane", "ct",
     "court", "way", "pl", "place", "hwy", "pkwy", "ter", "cir", "north", "south", "east",
     "west", "rehab", "project", "the", "and", "of", "unit", "apt"}
)  # fmt: skip


@dataclass(frozen=True)
class ContractorMessage:
    """A contractor's message recorded for the team: where, and what the team is asked to do."""

    contractor: Contractor
    kind: str
    targets: list[tuple[Project, Bid | None]]
    activities: list[ProjectActivity]
    items: list[dict[str, Any]]
    calls_cancelled: int = 0
    already_opted_out: bool = False
    # Recorded once without a project (``ask_which``): the projects it may be about.
    which_of: tuple[Project, ...] = ()

    @property
    def ambiguous(self) -> bool:
        """Noted on several projects, or once on none: the message did not say which."""
        return len(self.targets) > 1 or bool(self.which_of)


def _street_words(session: Session, project: Project) -> set[str]:
    """The words that name a project's street ("kercheval" of "14500 Kercheval Ave, ...")."""
    label = project_label(session=session, project=project).split(",")[0]
    words = set(re.findall(r"[a-z]+", f"{label} {project.name}".lower()))
    return {w for w in words if len(w) > 2 and w not in _STREET_NOISE}


def contractor_bids_for_message(
    *, session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID, text: str
) -> list[tuple[Bid, Project]]:
    """The contractor's bids a message of theirs is about, newest first.

    Their live bids (received or awarded, on projects not completed or cancelled); of those,
    the ones whose street the text names ("the kercheval job") when it names any. With no
    live bid, their latest bid ("who do I invoice?" after the job). Never another
    contractor's bid.
    """
    rows = list_bids_of_contractor(
        session=session, org_id=org_id, contractor_id=contractor_id, limit=MAX_LIST_LIMIT
    )
    live = [
        (bid, project)
        for bid, project in rows
        if bid.status in _LIVE_BID_STATUSES and project.status not in CLOSED_PROJECT_STATUSES
    ]
    named = [(b, p) for b, p in (live or rows) if names_project(session, p, text)]
    if named:
        return named
    return live or rows[:1]


def names_project(session: Session, project: Project, text: str) -> bool:
    """Whether ``text`` names the project's street ("kellogg", "the kercheval job")."""
    return bool(_street_words(session, project) & set(re.findall(r"[a-z]+", text.lower())))


def _line_in_message(
    session: Session, org_id: uuid.UUID, bid: Bid | None, text: str
) -> tuple[ScopeItem, Decimal] | None:
    """The one line of the bid a message names ("roof gonna be 4.8k") and its amount, or None."""
    if bid is None or not bid.line_items:
        return None
    said = set(re.findall(r"[a-z]+", text.lower()))
    hits: list[tuple[ScopeItem, Decimal]] = []
    for line in bid.line_items:
        item_id = _uuid_or_none(line.get("scope_item_id"))
        item = session.get(ScopeItem, item_id) if item_id else None
        if item is None or item.org_id != org_id:
            continue
        head = re.split(r"[:,(]", item.component, maxsplit=1)[0]
        names = [w for w in re.findall(r"[a-z]+", head.lower()) if w not in _LINE_FILLER]
        if names and all(_word_fits(w, said) for w in names):
            hits.append((item, Decimal(str(line["amount"]))))
    return hits[0] if len(hits) == 1 else None


def _update_item(
    kind: str,
    who: str,
    where: str,
    message: str,
    bid: Bid | None,
    payload: Mapping[str, Any],
    line: tuple[ScopeItem, Decimal] | None = None,
) -> dict[str, Any]:
    """What the team is asked to do about a contractor's message (an action item).

    ``line``: the line of their bid a new price is for (its amount on file), when the message
    names one; the price is then that line's, not the bid's total.
    """
    quoted = f'"{message}"'
    on_file = ""
    if bid is not None:
        on_file = f" (bid {bid.status}: ${bid.total_amount:,.2f}" + (
            f", start {bid.start_date.isoformat()})" if bid.start_date else ")"
        )
    if kind == "start_date":
        when = payload.get("start_date") or "a new date"
        days = payload.get("duration_days")
        return {
            "kind": "confirm_start",
            "text": f"{who} asks to start {where} on {when}"
            + (f" ({days} days)" if days else "")
            + f"{on_file}: confirm with them and update the bid ({quoted})",
            "date": payload.get("start_date"),
        }
    if kind == "price":
        price = payload.get("new_price")
        said = f"${Decimal(price):,.2f}" if price else "a new price"
        if line is not None and bid is not None:
            name = re.split(r"[:,(]", line[0].component, maxsplit=1)[0].strip()
            return {
                "kind": "review_price",
                "text": f"{who} says the {name} line of {where} is now {said} (the {name} "
                f"line on file: ${line[1]:,.2f}; {on_file.strip(' ()')}): review it and "
                f"update the bid's {name} line if accepted ({quoted})",
                "amount": price,
                "scope_item_id": str(line[0].id),
                "line_on_file": f"{line[1]:.2f}",
            }
        return {
            "kind": "review_price",
            "text": f"{who} says the price for {where} is now {said}{on_file}: review it and "
            f"update the bid if accepted ({quoted})",
            "amount": price,
        }
    why = f" ({payload['reason']})" if payload.get("reason") else ""
    if kind == "extra":
        extra = payload.get("extra_amount")
        asked = f"${Decimal(extra):,.2f}".removesuffix(".00") if extra else "an amount"
        return {
            "kind": "review_extra",
            "text": f"{who} asks for {asked} extra{why} on {where}, on top of the bid"
            f"{on_file}: review it as a change order ({quoted})",
            "amount": extra,
        }
    if kind == "duration" and payload.get("extra_days"):
        more = payload["extra_days"]
        return {
            "kind": "review_duration",
            "text": f"{who} needs {more} more day{'s' if more != 1 else ''} on {where}{why}"
            f"{on_file}: update the schedule ({quoted})",
            "extra_days": more,
        }
    if kind == "duration":
        days = payload.get("duration_days")
        return {
            "kind": "review_duration",
            "text": f"{who} says {where} will take {days or 'a different number of'} days"
            f"{on_file}: update the schedule ({quoted})",
        }
    if kind == "withdraw":
        awarded = bid is not None and bid.status == BidStatus.accepted
        return {
            "kind": "contractor_withdrew",
            "text": f"{who} says they can no longer do {where}"
            + (" (their bid was awarded)" if awarded else "")
            + f": call them and find another contractor ({quoted})",
        }
    if kind == "opt_out":
        return {
            "kind": "opted_out",
            "text": f"{who} asked in chat not to be contacted: opted out, no more calls ({quoted})",
        }
    verbs = {
        "progress": ("progress_note", f"{who} reports on {where}"),
        "question": ("answer_contractor", f"Answer {who}'s question about {where}"),
        "photo": ("review_photos", f"{who} sent photos for {where}"),
    }
    item_kind, text = verbs.get(kind, ("read_message", f"Read {who}'s message about {where}"))
    return {"kind": item_kind, "text": f"{text}: {quoted}"}


def record_contractor_update(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID,
    kind: str,
    message: str,
    channel: str,
    start_date: dt.date | None = None,
    amount: Decimal | None = None,
    duration_days: int | None = None,
    extra_days: int | None = None,
    reason: str | None = None,
    project_id: uuid.UUID | None = None,
    ask_which: bool = False,
) -> ContractorMessage:
    """Record what a contractor said in chat, for the team, as the voice agent's calls are.

    The message (kept word for word) is a ``contractor.responded`` event recorded at once on
    the project's activity through ``record_contractor_response`` (the relay's delivery of
    the same event then finds it done), and an ``action.items.created`` event asks the team
    to act ("confirm the new start", "review the new price", "answer their question"). It
    goes on the project of the contractor's bid it is about (see
    ``contractor_bids_for_message``; on each of them, at most five, when it names none of
    several). ``project_id`` (the project the conversation was about) is the one when the
    message names none of several and it is one of theirs; ``ask_which``: one that is still
    ambiguous is recorded once without a project (``which_of`` lists the candidates), not on
    each. ``extra`` is an amount asked on top of the bid (a change order, ``amount``);
    ``extra_days`` days more than planned (kind duration); ``reason`` what it is for. Nothing
    about the bid changes: a new date or price is for the team to accept. ``opt_out`` marks
    the contractor opted out (``mark_contractor_opted_out``) and cancels their pending calls,
    as an opt-out on a call does.
    """
    if kind not in CONTRACTOR_UPDATE_KINDS:
        raise ConstructionInputError(
            f"kind {kind!r} is not one of {', '.join(CONTRACTOR_UPDATE_KINDS)}"
        )
    said = " ".join(message.split())
    if not said:
        raise ConstructionInputError("message is empty: say what the contractor said")
    if len(said) > MAX_CONTRACTOR_MESSAGE:
        raise ConstructionInputError(
            f"message is {len(said)} characters; at most {MAX_CONTRACTOR_MESSAGE}"
        )
    from store.outbox import normalise_payload

    _check_duration_days(duration_days)
    if duration_days is not None and duration_days < 1:
        raise ConstructionInputError(f"duration_days must be at least 1 (got {duration_days})")
    _check_duration_days(extra_days)
    if extra_days is not None and extra_days < 1:
        raise ConstructionInputError(f"extra_days must be at least 1 (got {extra_days})")
    reason = " ".join((reason or "").split())[:200] or None
    price = _amount(amount, "amount") if amount is not None else None
    if price is not None and price <= 0:
        raise ConstructionInputError("amount must be more than zero")
    if start_date is not None and start_date < local_today() - dt.timedelta(days=1):
        raise ConstructionInputError(f"start_date {start_date.isoformat()} is in the past")
    contractor = get_contractor(session=session, org_id=org_id, contractor_id=contractor_id)
    cancelled = 0
    if kind == "opt_out" and contractor.opted_out:
        # A second "STOP": nothing new for the team (the first one was recorded).
        return ContractorMessage(
            contractor=contractor, kind=kind, targets=[], activities=[], items=[],
            already_opted_out=True,
        )  # fmt: skip
    if kind == "opt_out":
        mark_contractor_opted_out(
            session=session,
            org_id=org_id,
            contractor_id=contractor.id,
            reason=f'in {channel} chat: "{said[:200]}"',
        )
        # The voice module imports this one; its schedules are cancelled at run time.
        from domain.voice import service as voice_service

        cancelled = voice_service.cancel_schedules_for(
            session=session,
            org_id=org_id,
            contractor_id=contractor.id,
            reason=f"the contractor opted out in {channel} chat",
        )
    rows = contractor_bids_for_message(
        session=session, org_id=org_id, contractor_id=contractor.id, text=said
    )[:MAX_UPDATE_PROJECTS]
    if len(rows) > 1 and project_id is not None:
        rows = [(b, p) for b, p in rows if p.id == project_id] or rows
    if len(rows) > 1 and len({p.id for _b, p in rows}) == 1:
        # Two bids of theirs on one job (a revised price, the roof and the gutters) are one
        # job, not "which job is it?" between the same address twice: the bid whose line the
        # message names, else the newest.
        rows = [
            next(((b, p) for b, p in rows if _line_in_message(session, org_id, b, said)), rows[0])
        ]
    which_of: tuple[Project, ...] = ()
    if len(rows) > 1 and ask_which:
        which_of, rows = tuple(p for _b, p in rows), []
    targets: list[tuple[Project | None, Bid | None]] = [(p, b) for b, p in rows] or [(None, None)]
    facts: dict[str, Any] = {
        "start_date": start_date,
        "new_price": price if kind != "extra" else None,
        "extra_amount": price if kind == "extra" else None,
        "duration_days": duration_days,
        "extra_days": extra_days,
        "reason": reason,
    }
    facts = {k: v for k, v in facts.items() if v is not None}
    activities: list[ProjectActivity] = []
    items: list[dict[str, Any]] = []
    # A message with several facts ("the roof is 4,250.50, and I can start Dec 3") keeps each.
    kinds = [kind] + [
        other
        for other, fact in (("price", "new_price"), ("start_date", "start_date"))
        if kind in ("price", "extra", "start_date", "duration") and other != kind and fact in facts
    ]
    for project, bid in targets:
        where = project_label(session=session, project=project) if project else "no project"
        if which_of:
            where = "one of their jobs"
        line = _line_in_message(session, org_id, bid, said)
        made = [
            _update_item(each, contractor.name, where, said, bid, normalise_payload(facts), line)
            for each in kinds
        ]
        if len(targets) > 1:
            for item in made:
                item["text"] += f" (they have bids on {len(targets)} projects and named none)"
        if which_of:
            places = "; ".join(project_label(session=session, project=p) for p in which_of)
            for item in made:
                item["text"] += f" (they named no job of their bids on {places}: ask which)"
        payload: dict[str, Any] = {
            "contractor_id": contractor.id,
            "project_id": project.id if project else None,
            "bid_id": bid.id if bid else None,
            "channel": channel,
            "kind": kind,
            "message": said,
            "summary": f'in {channel} chat ({kind.replace("_", " ")}): "{said}"',
            **facts,
            "action_items": made,
        }
        event_id = publish(session, org_id=org_id, name="contractor.responded", payload=payload)
        activities.append(
            record_contractor_response(
                session=session,
                org_id=org_id,
                event_id=event_id,
                payload=normalise_payload(payload),
            )
        )
        publish(
            session,
            org_id=org_id,
            name="action.items.created",
            payload={
                "contractor_id": contractor.id,
                "project_id": project.id if project else None,
                "bid_id": bid.id if bid else None,
                "channel": channel,
                "items": made,
            },
        )
        items.extend(made)
    return ContractorMessage(
        contractor=contractor,
        kind=kind,
        targets=[(p, b) for p, b in targets if p is not None],
        activities=activities,
        items=items,
        calls_cancelled=cancelled,
        which_of=which_of,
    )


# What a contractor's photo without a caption is recorded as (their update's words).
NO_CAPTION = "(a photo, no caption)"


def contractor_of_user(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID
) -> Contractor | None:
    """The contractor record of a user's account (the same phone number), or None."""
    user = auth_service.get_user(session=session, org_id=org_id, user_id=user_id)
    if user is None or not user.phone_number:
        return None
    return find_contractor_by_phone(session=session, org_id=org_id, phone=user.phone_number)


@dataclass(frozen=True)
class ContractorPhoto:
    """A contractor's photo from chat: their update for the team and the photos kept."""

    update: ContractorMessage
    photos: list[ProjectPhoto]
    refused: str | None = None  # why the photo could not go on the project(s)


def record_contractor_photo(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID,
    upload: PhotoUpload,
    caption: str | None,
    channel: str,
    principal: Principal | None = None,
) -> ContractorPhoto:
    """Keep a photo a contractor sent in chat as a progress photo of their bid's project.

    Their caption (``NO_CAPTION`` without one) is recorded as ``record_contractor_update``
    records what they text (kind ``photo``: a ``contractor.responded`` activity and an
    action item for the team), which picks the project: the one whose street the caption
    names, else each of their open ones (at most five; the action item says they named
    none). The photo is kept on each of those projects (``add_photos``, phase ``during``)
    rather than asking which: nothing waits on an answer and the team can delete the extra
    copies. A file ``add_photos`` refuses (not an image that decodes) is not kept on any
    project; the update is recorded anyway, with ``refused`` saying why.
    """
    shown = " ".join((caption or "").split())
    said = shown or NO_CAPTION
    if len(said) > MAX_CONTRACTOR_MESSAGE:
        said = said[: MAX_CONTRACTOR_MESSAGE - 1] + "…"
    update = record_contractor_update(
        session=session,
        org_id=org_id,
        contractor_id=contractor_id,
        kind="photo",
        message=said,
        channel=channel,
    )
    photos: list[ProjectPhoto] = []
    refused: str | None = None
    for project, _bid in update.targets:
        try:
            stored = add_photos(
                session=session,
                org_id=org_id,
                project_id=project.id,
                uploads=[upload],
                caption=shown or None,
                phase=PhotoPhase.during,
                principal=principal,
            )
        except ConstructionInputError as exc:  # checked before anything is stored
            refused = str(exc)
            break
        photos += [photo for photo, _size in stored]
    return ContractorPhoto(update=update, photos=photos, refused=refused)


def record_inspection(
    *, session: Session, org_id: uuid.UUID, event_id: uuid.UUID, payload: Mapping[str, Any]
) -> ProjectActivity:
    """Record an inspection result (``inspection.completed``), once per event.

    Passed: the project's milestone of the same name ("rough-in" matches "Rough-in inspection
    passed") is reached, or added and reached when there is none. Failed: a re-inspection task
    is added (due on ``reinspection_date`` when the payload gives one).
    """
    done = activity_for_event(session=session, org_id=org_id, event_id=event_id)
    if done is not None:
        return done
    project_id = _uuid_or_none(payload.get("project_id"))
    name = str(payload.get("name") or payload.get("kind") or "inspection").strip()
    passed = payload.get("passed") is True or str(payload.get("passed")).lower() == "true"
    project = None
    if project_id is not None:
        try:
            project = get_project(session=session, org_id=org_id, project_id=project_id)
        except NotFoundError:
            project = None
    if project is None:
        return _record_activity(
            session=session,
            org_id=org_id,
            project_id=None,
            kind=ActivityKind.inspection_passed if passed else ActivityKind.inspection_failed,
            summary=f"{name} inspection for unknown project {payload.get('project_id')}: ignored",
            details=dict(payload),
            source_event_id=event_id,
        )
    notes = str(payload.get("notes") or "").strip()
    if passed:
        key = milestone_key(name)
        milestone = next(
            (
                m
                for m in list_milestones(session=session, org_id=org_id, project_id=project.id)
                if milestone_key(m.name) == key
            ),
            None,
        )
        if milestone is None:
            milestone = Milestone(org_id=org_id, project_id=project.id, name=f"{name} passed"[:200])
            session.add(milestone)
            session.flush()
        reach_milestone(
            session=session,
            org_id=org_id,
            project_id=project.id,
            milestone_id=milestone.id,
            source=f"inspection.completed:{event_id}",
        )
        return _record_activity(
            session=session,
            org_id=org_id,
            project_id=project.id,
            kind=ActivityKind.inspection_passed,
            summary=f"{name} inspection passed: milestone {milestone.name!r} reached",
            details=dict(payload) | {"milestone_id": milestone.id},
            source_event_id=event_id,
        )
    due = None
    raw_due = payload.get("reinspection_date") or payload.get("due_date")
    if raw_due:
        try:
            due = dt.date.fromisoformat(str(raw_due)[:10])
        except ValueError:
            due = None
    task = Task(
        org_id=org_id,
        project_id=project.id,
        title=f"Re-inspection: {name}"[:200],
        description=f"The {name} inspection failed" + (f": {notes}" if notes else "."),
        status=TaskStatus.todo,
        due_date=due,
        depends_on=[],
    )
    session.add(task)
    session.flush()
    return _record_activity(
        session=session,
        org_id=org_id,
        project_id=project.id,
        kind=ActivityKind.inspection_failed,
        summary=f"{name} inspection failed: re-inspection task added"
        + (f" ({notes})" if notes else ""),
        details=dict(payload) | {"task_id": task.id},
        source_event_id=event_id,
    )
