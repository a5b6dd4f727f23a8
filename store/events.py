"""The event catalogue and the subscriber registry.

The catalogue is the original architecture's event list (``shared/seed/events.txt``) as data:
for each module, the events it publishes and the events it subscribes to. A test keeps it
equal to the seed file. Every name the catalogue mentions is a known event, including names
that only appear as subscriptions (``payment.completed``, ``document.generated`` ...): their
producers were services outside the ten modules, and whichever dealdesk module takes that
role publishes them. ``store.outbox.publish`` refuses any other name.

The registry maps an event name to its subscribers. A subscriber is a plain function
``handler(session, event) -> None`` registered with the ``subscribe`` decorator, usually in
``domain/<module>/subscribers.py`` (``load_subscribers`` imports every such module). Each
subscriber has a stable name (by default the function's dotted path), because deliveries are
recorded per (event id, subscriber name): renaming a subscriber makes it a new subscriber.

A handler runs inside the delivery's transaction: its database work and the delivery's
"succeeded" mark commit together, so a handler must not commit, and must not touch anything
outside the database that cannot be repeated (at-least-once: a crash after an external call
but before the commit repeats the call; key such calls by ``event.id``).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session


@dataclass(frozen=True)
class ModuleEvents:
    """The events one module publishes and subscribes to."""

    publishes: tuple[str, ...]
    subscribes: tuple[str, ...]


# Events dealdesk added beyond the seed list (the seed is a minimum): a voided project expense,
# which finance books as a refund so the ledger follows the project.
BEYOND_SEED: tuple[tuple[str, str, str], ...] = (
    ("finance", "subscribes", "construction.expense.voided"),
    ("construction", "publishes", "construction.expense.voided"),
    # A vendor's or contractor's refund on a project: finance books it as a refund too.
    ("finance", "subscribes", "construction.expense.refunded"),
    ("construction", "publishes", "construction.expense.refunded"),
    # An awarded bid: the construction module tells the winner and the others on WhatsApp.
    ("construction", "publishes", "bid.awarded"),
    ("construction", "subscribes", "bid.awarded"),
    # The team's inbox: every call's and contractor message's action items, until closed.
    ("inbox", "subscribes", "action.items.created"),
    # The seed names no producer of market data updates: the property module holds the
    # market data (rows recorded against a property, imported sales), so it announces them.
    ("property", "publishes", "market.data.updated"),
    # One rehab budget of record: finance's rehab line for a deal follows its project's budget
    # (created, awarded, or changed by a PATCH, which announces itself with the new event).
    ("construction", "publishes", "project.budget.changed"),
    ("finance", "subscribes", "project.created"),
    ("finance", "subscribes", "bid.awarded"),
    ("finance", "subscribes", "project.budget.changed"),
)

# Seed subscriptions dealdesk does not serve, each with why: a subscriber that would do
# nothing still costs a delivery (a row, a job, a worker's turn) per event.
DROPPED_FROM_SEED: tuple[tuple[str, str, str], ...] = (
    # A new property is not a deal (deals are opened on purpose), so the deal module has
    # nothing to do with it; a listings import of thousands of properties queued as many
    # no-op deliveries behind the real ones.
    ("deal", "subscribes", "property.created"),
)

# Copied from shared/seed/events.txt, less ``DROPPED_FROM_SEED``, plus ``BEYOND_SEED``;
# tests/store/test_event_catalogue.py keeps them equal.
CATALOGUE: Mapping[str, ModuleEvents] = {
    "property": ModuleEvents(
        publishes=(
            "property.created",
            "property.updated",
            "property.deleted",
            "market.data.updated",
        ),
        subscribes=("valuation.completed", "market.data.updated"),
    ),
    "deal": ModuleEvents(
        publishes=("deal.created", "deal.status.changed", "offer.received"),
        subscribes=("document.generated", "payment.completed"),
    ),
    "finance": ModuleEvents(
        publishes=("transaction.created", "budget.exceeded", "payment.processed"),
        subscribes=(
            "deal.created",
            "construction.expense.added",
            "construction.expense.voided",
            "construction.expense.refunded",
            "project.created",
            "bid.awarded",
            "project.budget.changed",
        ),
    ),
    "construction": ModuleEvents(
        publishes=(
            "project.created",
            "bid.received",
            "task.completed",
            "milestone.reached",
            "construction.expense.voided",
            "construction.expense.refunded",
            "bid.awarded",
            "project.budget.changed",
        ),
        subscribes=(
            "deal.created",
            "contractor.responded",
            "inspection.completed",
            "bid.awarded",
        ),
    ),
    "voice": ModuleEvents(
        publishes=("call.completed", "appointment.scheduled", "action.items.created"),
        subscribes=("contractor.call.requested", "lead.qualification.needed"),
    ),
    "valuation": ModuleEvents(
        publishes=("valuation.completed", "market.insight.generated"),
        subscribes=("property.created", "market.data.updated", "walkthrough.completed"),
    ),
    "vision": ModuleEvents(
        publishes=("photo.analysis.completed", "condition.assessed"),
        subscribes=("property.photos.uploaded", "analysis.requested"),
    ),
    "whatsapp": ModuleEvents(
        publishes=("analysis.requested", "report.generated", "conversation.completed"),
        subscribes=("analysis.completed", "report.ready"),
    ),
    "market": ModuleEvents(
        publishes=("listing.found", "opportunity.identified", "market.update"),
        subscribes=("monitor.configured", "analysis.completed"),
    ),
    "inbox": ModuleEvents(publishes=(), subscribes=("action.items.created",)),
    "audio": ModuleEvents(
        publishes=("transcription.completed", "conditions.extracted"),
        subscribes=("audio.uploaded", "walkthrough.started"),
    ),
}


def catalogue_lines() -> list[tuple[str, str, str]]:
    """The catalogue as ``(module, "publishes" | "subscribes", event)`` triples, in order."""
    lines: list[tuple[str, str, str]] = []
    for module, events in CATALOGUE.items():
        lines.extend((module, "publishes", name) for name in events.publishes)
        lines.extend((module, "subscribes", name) for name in events.subscribes)
    return lines


EVENT_NAMES: frozenset[str] = frozenset(name for _, _, name in catalogue_lines())
PUBLISHED_NAMES: frozenset[str] = frozenset(
    name for _, verb, name in catalogue_lines() if verb == "publishes"
)


def check_event_name(name: str) -> str:
    """Return ``name`` if the catalogue knows it; otherwise raise a ``ValueError`` saying so."""
    if name not in EVENT_NAMES:
        raise ValueError(
            f"unknown event name {name!r}: events must be one of the catalogue's "
            f"{len(EVENT_NAMES)} names (store/events.py, from shared/seed/events.txt)"
        )
    return name


# --- the subscriber registry -------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """What a handler receives: an outbox row as plain, read-only values."""

    id: uuid.UUID
    org_id: uuid.UUID | None
    name: str
    payload: dict[str, Any]
    correlation_id: str | None = None
    created_at: datetime | None = None


# A subscriber function: does its work on the session and returns; raising means "retry".
Handler = Callable[[Session, Event], None]
HandlerT = TypeVar("HandlerT", bound=Handler)


@dataclass(frozen=True)
class Subscriber:
    """One registered subscription: a stable name, the event and the handler."""

    name: str
    event_name: str
    handler: Handler = field(compare=False)
    handler_path: str

    @property
    def domain_module(self) -> str | None:
        """The catalogue module this handler belongs to (``domain.<module>...``), if any."""
        parts = self.handler_path.split(":", 1)[0].split(".")
        return parts[1] if len(parts) > 1 and parts[0] == "domain" else None


# event name -> subscriber name -> subscriber
_registry: dict[str, dict[str, Subscriber]] = {}


def handler_path(func: Callable[..., Any]) -> str:
    """The importable ``module:qualname`` path of a function."""
    return f"{func.__module__}:{func.__qualname__}"


def subscribe(event_name: str, *, name: str | None = None) -> Callable[[HandlerT], HandlerT]:
    """Register the decorated function as a subscriber of ``event_name`` (returned unchanged)."""
    check_event_name(event_name)

    def register(func: HandlerT) -> HandlerT:
        path = handler_path(func)
        if "<locals>" in path:
            raise ValueError(f"subscriber {path} must be a module-level function (importable)")
        sub_name = name or path.replace(":", ".")
        existing = _registry.get(event_name, {}).get(sub_name)
        # Re-importing the same module (reloads, tests) re-registers the same path: allowed.
        if existing is not None and existing.handler_path != path:
            raise ValueError(
                f"subscriber name {sub_name!r} for {event_name!r} is already taken by "
                f"{existing.handler_path}"
            )
        _registry.setdefault(event_name, {})[sub_name] = Subscriber(
            name=sub_name, event_name=event_name, handler=func, handler_path=path
        )
        return func

    return register


def unsubscribe(name: str, event_name: str | None = None) -> None:
    """Remove a subscriber by name (from one event, or from every event)."""
    for event, subs in list(_registry.items()):
        if event_name is None or event == event_name:
            subs.pop(name, None)
            if not subs:
                del _registry[event]


@contextmanager
def isolated_registry() -> Iterator[None]:
    """Run with an empty registry and restore the previous one afterwards (for tests)."""
    saved = {event: dict(subs) for event, subs in _registry.items()}
    _registry.clear()
    try:
        yield
    finally:
        _registry.clear()
        _registry.update(saved)


def subscribers(event_name: str) -> list[Subscriber]:
    """The subscribers of an event, sorted by name."""
    return sorted(_registry.get(event_name, {}).values(), key=lambda s: s.name)


def all_subscribers() -> list[Subscriber]:
    """Every registered subscription, sorted by event then name."""
    return [sub for event in sorted(_registry) for sub in subscribers(event)]


def get_subscriber(event_name: str, name: str) -> Subscriber | None:
    """A registered subscriber of an event by name, or None."""
    return _registry.get(event_name, {}).get(name)


def resolve_handler(path: str) -> Handler:
    """Import a handler from its ``module:qualname`` path (how a worker finds it)."""
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{path} is not callable")
    handler: Handler = target
    return handler


SUBSCRIBER_MODULE = "subscribers"


def load_subscribers(package: str = "domain") -> list[str]:
    """Import ``<package>.<module>.subscribers`` for every module that has one; return them."""
    root = importlib.import_module(package)
    loaded: list[str] = []
    for info in pkgutil.iter_modules(root.__path__):
        if not info.ispkg:
            continue
        module_name = f"{package}.{info.name}.{SUBSCRIBER_MODULE}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name)
            loaded.append(module_name)
    return loaded


def missing_subscriptions() -> list[tuple[str, str]]:
    """Catalogue subscriptions ``(module, event)`` that no ``domain.<module>`` handler serves."""
    served = {(sub.domain_module, sub.event_name) for sub in all_subscribers()}
    return [
        (module, name)
        for module, verb, name in catalogue_lines()
        if verb == "subscribes" and (module, name) not in served
    ]
