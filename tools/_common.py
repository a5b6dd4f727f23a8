"""What every tool shares: its session, error handling, and finding properties and deals.

A tool never raises into the graph. Domain errors (not found, invalid value, not allowed)
become ``{"error": "..."}`` with the service's own message, which the model (or the offline
planner) can act on; anything unexpected is logged and reported as an internal error. Each
tool call runs in a savepoint, so a failed call leaves nothing half-written.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from sqlmodel import Session

from agent.context import Context
from domain.analysis.formatting import dollars
from domain.auth.enums import Role
from domain.property import service as property_service
from domain.property.errors import AddressParseError
from domain.property.models import Property

logger = logging.getLogger(__name__)

# The domain's error base classes that are not already LookupError/ValueError/PermissionError.
_DOMAIN_ERROR_MODULES = (
    ("domain.deal.service", "DealError"),
    ("domain.finance.service", "FinanceError"),
    ("domain.property.errors", "PropertyError"),
    ("domain.pricing.service", "PricingError"),
    ("domain.section8.service", "Section8Error"),
    ("domain.valuation.service", "ValuationError"),
    ("domain.analysis.service", "AnalysisError"),
)

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


class ToolError(Exception):
    """A tool's own refusal or a lookup that found nothing; the message goes to the model."""


def _domain_errors() -> tuple[type[BaseException], ...]:
    import importlib

    found: list[type[BaseException]] = [
        ToolError,
        LookupError,
        ValueError,
        PermissionError,
        ValidationError,
    ]
    for module_name, class_name in _DOMAIN_ERROR_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        error = getattr(module, class_name, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (UUIDs, dates and decimals as strings)."""
    return to_jsonable_python(value)


def run_tool(ctx: Context, name: str, body: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
    """Run a tool's body in a savepoint of the context's session; errors become results."""
    try:
        with ctx.session_factory() as session:
            with session.begin_nested():
                result = body(session)
        return jsonable(result)
    except _domain_errors() as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, ValidationError):
            message = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
                for err in exc.errors()
            )
        return {"error": message}
    except Exception as exc:  # noqa: BLE001 - a tool never raises into the graph
        logger.exception("tool %s failed", name)
        return {"error": f"{name} failed unexpectedly ({type(exc).__name__}); try again later"}


def require_user(ctx: Context) -> uuid.UUID:
    """The asking user's id; tools that change data need one."""
    if ctx.user_id is None:
        raise ToolError("changing data needs a signed-in user; this conversation has none")
    return ctx.user_id


def require_roles(ctx: Context, *roles: Role) -> None:
    """Refuse unless the run's role is one of ``roles`` (the role policy's second line)."""
    if ctx.role not in roles:
        raise ToolError(f"not allowed for the {ctx.role.value} role")


def money(value: Decimal | int | float | None) -> str:
    """Whole dollars as the analysis writes them (``$123,456``; None: "not available")."""
    return dollars(Decimal(str(value)) if value is not None else None)


def address_label(prop: Property) -> str:
    """How a property is named to people: its street line and place, or its source label."""
    line = prop.address_line or (prop.address or {}).get("label")
    place = ", ".join(part for part in (prop.city, prop.state) if part)
    zip_code = f" {prop.zip_code}" if prop.zip_code else ""
    if line:
        return f"{line}, {place}{zip_code}" if place else str(line)
    return f"property {prop.id}"


def parse_uuid(text: str | None) -> uuid.UUID | None:
    """``text`` as a UUID, or None when it is not one."""
    if not text:
        return None
    try:
        return uuid.UUID(str(text).strip())
    except ValueError:
        return None


def resolve_property(
    session: Session, ctx: Context, *, address: str | None = None, property_id: str | None = None
) -> Property:
    """The organisation's property by id or by free-text address (best match); else ToolError."""
    if property_id:
        pid = parse_uuid(property_id)
        if pid is None:
            raise ToolError(f"{property_id!r} is not a property id")
        prop = property_service.get(session=session, org_id=ctx.org_id, property_id=pid)
        if prop is None:
            raise ToolError(f"property {pid} not found")
        return prop
    if not address or not address.strip():
        raise ToolError("give a street address (or a property id)")
    text = address.strip()
    embedded_id = parse_uuid(text)
    if embedded_id is not None:
        return resolve_property(session, ctx, property_id=str(embedded_id))
    try:
        matches = property_service.find_address_matches(
            session=session, org_id=ctx.org_id, text=text, limit=3
        )
    except AddressParseError as exc:
        raise ToolError(str(exc)) from exc
    if matches:
        return matches[0].property
    return loose_property(session, ctx, text)


def loose_property(session: Session, ctx: Context, text: str) -> Property:
    """The house an address that matched nothing exactly names, else a ToolError offering any.

    "1215 Kellogg for me": the one house on that street, the rest are not address words;
    "1215 Kelog Ave": nothing used unasked, the houses spelt alike are offered.
    """
    loose = property_service.find_loose_address(session=session, org_id=ctx.org_id, text=text)
    if loose.property is not None:
        return loose.property
    offer = (
        " Did you mean " + " or ".join(address_label(p) for p in loose.suggestions) + "?"
        if loose.suggestions
        else ""
    )
    raise ToolError(
        f"no property at {text!r} is on file: check the house number and street, "
        f"or ask the team to add it.{offer}"
    )


def property_summary(prop: Property) -> dict[str, Any]:
    """The facts about a property the tools show."""
    return {
        "property_id": prop.id,
        "address": address_label(prop),
        "bedrooms": prop.bedrooms,
        "bathrooms": prop.bathrooms,
        "square_feet": prop.square_feet,
        "year_built": prop.year_built,
        "condition_rating": prop.condition_rating,
        "list_price": money(prop.list_price) if prop.list_price is not None else None,
        "status": prop.status,
    }
