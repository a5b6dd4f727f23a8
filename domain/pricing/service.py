"""The rehab cost catalogue and rehab estimates.

Each organisation prices from its own copy of the cost book, made from the default catalogue
(``domain.pricing.catalogue``) the first time it is used: edits by one organisation never move
another's estimates. Cost changes write ``cost_history`` (old total, new total, reason, who)
and the audit log in the caller's transaction. Functions flush, never commit.

An estimate turns components with a condition into priced lines: *poor* (or no condition
given) is a replacement at the full unit cost, *fair* a repair at the component's
``repair_fraction`` of it, *good* and *excellent* need nothing. Quantities not given come from
the house's living area by documented rules, and every one used is returned as an assumption.
"""

from __future__ import annotations

import difflib
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.paging import count_rows
from domain.auth.service import Principal, record_audit
from domain.pricing.catalogue import (
    CATALOGUE_BASIS,
    CATALOGUE_BY_KEY,
    CATALOGUE_VENDOR,
    DEFAULT_CATALOGUE,
    SQFT_PER_SQUARE,
    QuantityKind,
    QuantityRule,
)
from domain.pricing.enums import Condition, CostUnit, RehabAction, UnpricedReason
from domain.pricing.models import (
    ComponentCost,
    ComponentCostUpdate,
    ComponentInput,
    CostHistory,
    RehabEstimate,
    RehabLineItem,
    UnpricedComponent,
)
from store.base import utcnow

CENT = Decimal("0.01")
UNIT_RATE = Decimal("0.0001")
DEFAULT_CONTINGENCY_PCT = Decimal("10")
DEFAULT_STORIES = 1
MAX_HISTORY_LIMIT = 200  # price changes on one page of a row's history
# Close enough to a catalogue name to be taken for it ("furnance" -> furnace), not closer.
FUZZY_CUTOFF = 0.85
# Words that say what to do, not what the component is ("new roof", "replace the furnace").
_FILLER_WORDS = {
    "a",
    "all",
    "an",
    "entire",
    "house",
    "install",
    "new",
    "old",
    "replace",
    "replacement",
    "repair",
    "the",
    "whole",
}
# Units that count things: a quantity in one is a quantity in the others.
_COUNT_UNITS = {CostUnit.each.value, CostUnit.unit.value, CostUnit.job.value}


class PricingError(Exception):
    """Base class of the errors this module raises."""


class NotFoundError(PricingError, LookupError):
    """The cost-book row does not exist in the caller's organisation."""


class InvalidCostError(PricingError, ValueError):
    """A cost change that cannot be applied (nothing to change, out of range)."""


def to_cents(value: Decimal) -> Decimal:
    """Round money to cents, halves away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _unit_rate(value: Decimal) -> Decimal:
    """A per-unit rate to 4 decimal places (a repair share of a per-sqft cost)."""
    return value.quantize(UNIT_RATE, rounding=ROUND_HALF_UP)


# --- component names ---------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """Lower-case a component name and reduce punctuation to single spaces."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def _singular(words: Iterable[str]) -> str:
    """Strip plain plurals ("windows" -> "window"; "glass" stays)."""
    out = []
    for word in words:
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return " ".join(out)


def _build_alias_index() -> dict[str, str]:
    """Every name, key and alias of the default catalogue, normalised, to its key."""
    index: dict[str, str] = {}
    for entry in DEFAULT_CATALOGUE:
        for name in (entry.key, entry.name, *entry.aliases):
            normalised = normalise_name(name)
            index.setdefault(normalised, entry.key)
            index.setdefault(_singular(normalised.split()), entry.key)
    return index


_ALIAS_INDEX = _build_alias_index()


@dataclass(frozen=True)
class ComponentMatch:
    """The catalogue component a free-text name was taken for, and how."""

    key: str
    how: str  # "name", "alias", "part of the name" or "close spelling"


def match_component(name: str) -> ComponentMatch | None:
    """Find the catalogue component a free-ish name means ("hvac" -> furnace), or None."""
    normalised = normalise_name(name)
    if not normalised:
        return None
    words = normalised.split()
    candidates = [normalised, _singular(words)]
    trimmed = [word for word in words if word not in _FILLER_WORDS]
    if trimmed and trimmed != words:
        candidates += [" ".join(trimmed), _singular(trimmed)]
    for candidate in candidates:
        key = _ALIAS_INDEX.get(candidate)
        if key is not None:
            how = "name" if candidate == normalise_name(key) else "alias"
            return ComponentMatch(key=key, how=how)
    # A longer phrase around a catalogue name ("LVP flooring", "roof leak"): take the longest
    # run of words that names a component, when all such runs name the same one.
    base = trimmed or words
    for size in range(len(base) - 1, 0, -1):
        keys = {
            _ALIAS_INDEX.get(" ".join(base[i : i + size]))
            or _ALIAS_INDEX.get(_singular(base[i : i + size]))
            for i in range(len(base) - size + 1)
        } - {None}
        if len(keys) == 1:
            return ComponentMatch(key=str(keys.pop()), how="part of the name")
        if len(keys) > 1:
            return None
    close = difflib.get_close_matches(candidates[-1], list(_ALIAS_INDEX), n=1, cutoff=FUZZY_CUTOFF)
    if close:
        return ComponentMatch(key=_ALIAS_INDEX[close[0]], how="close spelling")
    return None


# --- the catalogue -----------------------------------------------------------------------


def ensure_catalogue(*, session: Session, org_id: uuid.UUID) -> list[ComponentCost]:
    """Give the organisation any default catalogue rows it lacks; return its whole catalogue.

    Safe to run concurrently: the insert skips keys that exist (unique org + key).
    """
    rows = _load_catalogue(session=session, org_id=org_id)
    have = {row.component_key for row in rows}
    missing = [entry for entry in DEFAULT_CATALOGUE if entry.key not in have]
    if not missing:
        return rows
    now = utcnow()
    statement = insert(ComponentCost).values(
        [
            {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "component_key": entry.key,
                "component_name": entry.name,
                "category": entry.category,
                "unit": entry.unit.value,
                "material_cost": entry.material,
                "labor_cost": entry.labour,
                "total_cost": entry.material + entry.labour,
                "repair_fraction": entry.repair_fraction,
                "repair_scope": entry.repair_scope,
                "vendor": CATALOGUE_VENDOR,
                "basis": CATALOGUE_BASIS,
                "last_updated": now,
                "created_at": now,
                "updated_at": now,
            }
            for entry in missing
        ]
    )
    session.execute(statement.on_conflict_do_nothing(constraint="uq_component_costs_org_key"))
    session.flush()
    return _load_catalogue(session=session, org_id=org_id)


def _load_catalogue(*, session: Session, org_id: uuid.UUID) -> list[ComponentCost]:
    statement = (
        select(ComponentCost)
        .where(ComponentCost.org_id == org_id)
        .order_by(col(ComponentCost.category), col(ComponentCost.component_key))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(statement).all())


def list_costs(
    *, session: Session, org_id: uuid.UUID, category: str | None = None
) -> list[ComponentCost]:
    """The organisation's cost book (created from the default on first use), by category."""
    rows = ensure_catalogue(session=session, org_id=org_id)
    if category is not None:
        rows = [row for row in rows if row.category == category]
    return rows


def get_cost(*, session: Session, org_id: uuid.UUID, cost_id: uuid.UUID) -> ComponentCost:
    """One cost-book row of the organisation; NotFoundError otherwise."""
    row = session.get(ComponentCost, cost_id)
    if row is None or row.org_id != org_id:
        raise NotFoundError(f"No component cost {cost_id} in this organisation")
    return row


def update_cost(
    *,
    session: Session,
    org_id: uuid.UUID,
    cost_id: uuid.UUID,
    cost_in: ComponentCostUpdate,
    actor: Principal | None = None,
    updated_by: str | None = None,
) -> ComponentCost:
    """Change a row's unit costs (and vendor); write ``cost_history`` and the audit log.

    The row is locked (``FOR UPDATE``) and read afresh: two edits at once run one after the
    other, so each history entry's old cost is the previous entry's new cost.
    """
    row = session.exec(
        select(ComponentCost)
        .where(ComponentCost.id == cost_id, ComponentCost.org_id == org_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFoundError(f"No component cost {cost_id} in this organisation")
    if cost_in.material_cost is None and cost_in.labor_cost is None and cost_in.vendor is None:
        raise InvalidCostError("Give material_cost, labor_cost or vendor to change")
    old: dict[str, Decimal | str | None] = {
        "material_cost": row.material_cost,
        "labor_cost": row.labor_cost,
        "total_cost": row.total_cost,
        "vendor": row.vendor,
    }
    material = (
        to_cents(cost_in.material_cost)
        if cost_in.material_cost is not None
        else row.material_cost or Decimal("0")
    )
    labour = (
        to_cents(cost_in.labor_cost)
        if cost_in.labor_cost is not None
        else row.labor_cost or Decimal("0")
    )
    total = material + labour
    if total > Decimal("99999999.99"):
        raise InvalidCostError("material_cost + labor_cost must be at most 99,999,999.99")
    old_total = row.total_cost
    price_changed = material != row.material_cost or labour != row.labor_cost
    who = (actor.email if actor else updated_by or "system")[:100]
    row.material_cost = material
    row.labor_cost = labour
    row.total_cost = total
    if cost_in.vendor is not None:
        row.vendor = cost_in.vendor
    if price_changed:
        row.last_updated = utcnow()
        row.basis = f"edited by {who}: {cost_in.reason}"[:2000]
        session.add(
            CostHistory(
                org_id=org_id,
                component_id=row.id,
                old_cost=old_total,
                new_cost=total,
                reason=(
                    f"{cost_in.reason} (material {old['material_cost']} -> {material}, "
                    f"labour {old['labor_cost']} -> {labour})"
                ),
                updated_by=who,
            )
        )
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        principal=actor,
        org_id=org_id,
        actor=who if actor is None else None,
        action="update",
        entity="component_cost",
        entity_id=row.id,
        changes={
            "component_key": row.component_key,
            "before": old,
            "after": {
                "material_cost": material,
                "labor_cost": labour,
                "total_cost": total,
                "vendor": row.vendor,
            },
            "reason": cost_in.reason,
        },
    )
    return row


def _history_query(*, org_id: uuid.UUID, cost_id: uuid.UUID) -> SelectOfScalar[CostHistory]:
    """One row's price changes (no order, no paging)."""
    return select(CostHistory).where(
        CostHistory.org_id == org_id, CostHistory.component_id == cost_id
    )


def list_history(
    *,
    session: Session,
    org_id: uuid.UUID,
    cost_id: uuid.UUID,
    limit: int | None = None,
    offset: int = 0,
) -> list[CostHistory]:
    """The recorded price changes of one row, newest first (a page when ``limit``)."""
    get_cost(session=session, org_id=org_id, cost_id=cost_id)
    statement = _history_query(org_id=org_id, cost_id=cost_id).order_by(
        col(CostHistory.created_at).desc(), col(CostHistory.id)
    )
    if limit is not None:
        statement = statement.limit(max(1, min(limit, MAX_HISTORY_LIMIT)))
    return list(session.exec(statement.offset(max(offset, 0))).all())


def count_history(*, session: Session, org_id: uuid.UUID, cost_id: uuid.UUID) -> int:
    """How many price changes ``list_history`` would list over all pages."""
    get_cost(session=session, org_id=org_id, cost_id=cost_id)
    return count_rows(session, _history_query(org_id=org_id, cost_id=cost_id))


# --- quantities --------------------------------------------------------------------------


def _ceil(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def default_quantity(
    rule: QuantityRule, *, square_feet: int | None, stories: int, unit: str
) -> tuple[Decimal, str] | None:
    """The quantity a rule gives for a house, and the assumption to state; None without area."""
    if rule.kind is QuantityKind.fixed:
        return rule.value, f"default {rule.value} {unit}"
    if square_feet is None:
        return None
    area = Decimal(square_feet)
    footprint = area / Decimal(stories)
    if rule.kind is QuantityKind.living_area:
        quantity = _ceil(area * rule.value)
        share = "" if rule.value == 1 else f" x {rule.value}"
        return quantity, f"{quantity} {unit} = living area {square_feet} sqft{share}"
    if rule.kind is QuantityKind.roof_squares:
        quantity = _ceil(footprint * rule.value / SQFT_PER_SQUARE)
        return quantity, (
            f"{quantity} squares = footprint {footprint.normalize():f} sqft "
            f"({square_feet} sqft / {stories} stories) x {rule.value} pitch and overhang "
            f"/ 100, rounded up"
        )
    if rule.kind is QuantityKind.perimeter:
        quantity = _ceil(Decimal(4) * Decimal(math.sqrt(footprint)))
        return quantity, (
            f"{quantity} linear ft = perimeter of a square footprint of "
            f"{footprint.normalize():f} sqft (4 x its side)"
        )
    # count_per_area: one per `value` sqft, at least `minimum`
    quantity = max(rule.minimum, (area / rule.value).to_integral_value(rounding=ROUND_HALF_UP))
    return quantity, (
        f"{quantity} {unit} = one per {rule.value} sqft of living area "
        f"({square_feet} sqft), at least {rule.minimum}"
    )


def _convert_quantity(quantity: Decimal, given: str, book: str) -> Decimal | None:
    """A quantity in the caller's unit expressed in the book's, or None if they don't convert."""
    if given == book or (given in _COUNT_UNITS and book in _COUNT_UNITS):
        return quantity
    if given == CostUnit.sqft.value and book == CostUnit.square.value:
        return quantity / SQFT_PER_SQUARE
    if given == CostUnit.square.value and book == CostUnit.sqft.value:
        return quantity * SQFT_PER_SQUARE
    return None


# --- the estimate ------------------------------------------------------------------------


def _action(condition: Condition | None) -> RehabAction:
    if condition is None or condition is Condition.poor:
        return RehabAction.REPLACE
    if condition is Condition.fair:
        return RehabAction.REPAIR
    return RehabAction.NONE


def price_rehab(
    items: Sequence[ComponentInput],
    catalogue: Sequence[ComponentCost],
    *,
    square_feet: int | None = None,
    stories: int | None = None,
    contingency_pct: Decimal = DEFAULT_CONTINGENCY_PCT,
) -> RehabEstimate:
    """Price components against a cost book (pure: no database), with its assumptions.

    Unit rates are kept to 4 decimal places (a repair's share of material and of labour), each
    line is quantity x unit total rounded to cents, the subtotal is the sum of the lines, and
    the contingency is a percentage of the subtotal rounded to cents.
    """
    by_key = {row.component_key: row for row in catalogue}
    floors = stories or DEFAULT_STORIES
    assumptions: list[str] = []
    if stories is None:
        assumptions.append(f"stories not given: {DEFAULT_STORIES} assumed (roof area)")
    lines: list[RehabLineItem] = []
    unpriced: list[UnpricedComponent] = []
    for item in items:
        match = match_component(item.component)
        row = by_key.get(match.key) if match else None
        if match is None or row is None:
            unpriced.append(
                UnpricedComponent(
                    component=item.component,
                    reason=UnpricedReason.unknown_component,
                    message=(
                        f"'{item.component}' is not in the cost catalogue; price it by hand or "
                        "name a component the cost catalogue lists"
                    ),
                )
            )
            continue
        if match.how in ("close spelling", "part of the name"):
            assumptions.append(f"'{item.component}' read as '{row.component_name}'")
        book_unit = row.unit or CostUnit.each.value
        action = _action(item.condition)
        if item.condition is None:
            assumptions.append(f"{item.component}: no condition given, priced as a replacement")
        fraction = row.repair_fraction if action is RehabAction.REPAIR else Decimal("1")
        if action is RehabAction.REPAIR and fraction == 0:
            action = RehabAction.NONE
        if action is RehabAction.NONE:
            quantity = item.quantity or Decimal("0")
            condition = item.condition.value if item.condition else "unknown"
            source = f"no work: {condition} condition"
            if item.condition is Condition.fair:
                source += f" ({row.repair_scope})"
            lines.append(_line(item, row, action, quantity, book_unit, source, Decimal("0"), None))
            continue
        if item.quantity is not None:
            given_unit = (item.unit or CostUnit(book_unit)).value
            converted = _convert_quantity(item.quantity, given_unit, book_unit)
            if converted is None:
                unpriced.append(
                    UnpricedComponent(
                        component=item.component,
                        reason=UnpricedReason.unit_mismatch,
                        message=(
                            f"'{item.component}' is priced per {book_unit}; a quantity in "
                            f"{given_unit} cannot be converted to it"
                        ),
                    )
                )
                continue
            quantity = converted
            source = (
                "given"
                if given_unit == book_unit
                else f"given as {item.quantity} {given_unit}, converted to {book_unit}"
            )
        else:
            entry = CATALOGUE_BY_KEY.get(row.component_key)
            defaulted = (
                default_quantity(
                    entry.quantity, square_feet=square_feet, stories=floors, unit=book_unit
                )
                if entry
                else None
            )
            if defaulted is None:
                unpriced.append(
                    UnpricedComponent(
                        component=item.component,
                        reason=UnpricedReason.quantity_needed,
                        message=(
                            f"'{item.component}' is priced per {book_unit}: give its quantity "
                            "or the house's square_feet"
                        ),
                    )
                )
                continue
            quantity, rule_text = defaulted
            source = f"default: {rule_text}"
            assumptions.append(f"{row.component_name}: {rule_text}")
        lines.append(
            _line(
                item,
                row,
                action,
                quantity,
                book_unit,
                source,
                fraction,
                fraction if action is RehabAction.REPAIR else None,
            )
        )
        if action is RehabAction.REPAIR:
            assumptions.append(
                f"{row.component_name}: fair condition, repair ({row.repair_scope}) at "
                f"{(fraction * 100).normalize():f}% of replacement"
            )
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    pct = Decimal(contingency_pct)
    contingency = to_cents(subtotal * pct / Decimal(100))
    return RehabEstimate(
        line_items=lines,
        unpriced=unpriced,
        subtotal=to_cents(subtotal),
        contingency_pct=pct,
        contingency=contingency,
        total=to_cents(subtotal + contingency),
        square_feet=square_feet,
        stories=floors,
        assumptions=assumptions,
        basis=_basis(catalogue, lines),
    )


def _line(
    item: ComponentInput,
    row: ComponentCost,
    action: RehabAction,
    quantity: Decimal,
    unit: str,
    source: str,
    fraction: Decimal,
    repair_fraction: Decimal | None,
) -> RehabLineItem:
    # Repair shares can make sub-cent unit rates ($0.375 per sqft): keep them to 4 places and
    # round money to cents only on the line.
    unit_material = _unit_rate((row.material_cost or Decimal("0")) * fraction)
    unit_labour = _unit_rate((row.labor_cost or Decimal("0")) * fraction)
    unit_total = unit_material + unit_labour
    return RehabLineItem(
        component=item.component,
        component_key=row.component_key,
        component_name=row.component_name,
        condition=item.condition,
        action=action,
        quantity=quantity,
        unit=unit,
        quantity_source=source,
        unit_material=unit_material,
        unit_labour=unit_labour,
        unit_total=unit_total,
        line_total=to_cents(unit_total * quantity),
        repair_fraction=repair_fraction,
        catalogue_id=row.id,
        notes=item.notes,
    )


def _basis(catalogue: Sequence[ComponentCost], lines: Sequence[RehabLineItem]) -> str:
    used = {line.catalogue_id for line in lines}
    edited = sorted(
        row.component_key
        for row in catalogue
        if row.id in used and row.basis and row.basis != CATALOGUE_BASIS
    )
    if not edited:
        return f"organisation cost book from the {CATALOGUE_BASIS}"
    return (
        f"organisation cost book from the {CATALOGUE_BASIS}; edited by the organisation: "
        + ", ".join(edited)
    )


def estimate_rehab(
    *,
    session: Session,
    org_id: uuid.UUID,
    items: Sequence[ComponentInput],
    square_feet: int | None = None,
    stories: int | None = None,
    contingency_pct: Decimal | int = DEFAULT_CONTINGENCY_PCT,
) -> RehabEstimate:
    """A rehab estimate for components and their conditions, from the organisation's book."""
    if square_feet is not None and square_feet <= 0:
        raise InvalidCostError("square_feet must be positive")
    if stories is not None and stories < 1:
        raise InvalidCostError("stories must be at least 1")
    pct = Decimal(contingency_pct)
    if not Decimal(0) <= pct <= Decimal(100):
        raise InvalidCostError("contingency_pct must be between 0 and 100")
    catalogue = ensure_catalogue(session=session, org_id=org_id)
    return price_rehab(
        items, catalogue, square_feet=square_feet, stories=stories, contingency_pct=pct
    )
