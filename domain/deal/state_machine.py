"""The deal pipeline and offer life cycle as explicit transition tables.

Deals: lead → analyzing → offer_made → under_contract → closed, with ``dead`` (the deal fell
apart) and ``passed`` (we chose not to pursue it) reachable from every open state. Two
shortcuts reflect how the work really goes: a lead may get an offer without a separate
analysis step (``lead → offer_made``), and a rejected offer sends a deal back to
``analyzing`` (``offer_made → analyzing``). ``closed``, ``dead`` and ``passed`` are terminal.

Offers: a draft is submitted (or withdrawn); a submitted or countered offer is accepted,
rejected, countered, withdrawn or expires; a countered offer may be resubmitted. Accepted,
rejected, withdrawn and expired are final.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.deal.enums import DealStatus, OfferStatus

S = DealStatus
_ABANDON = frozenset({S.dead, S.passed})

# The one table of legal deal transitions: current status -> statuses it may move to.
DEAL_TRANSITIONS: Mapping[DealStatus, frozenset[DealStatus]] = {
    S.lead: frozenset({S.analyzing, S.offer_made}) | _ABANDON,
    S.analyzing: frozenset({S.offer_made}) | _ABANDON,
    S.offer_made: frozenset({S.under_contract, S.analyzing}) | _ABANDON,
    S.under_contract: frozenset({S.closed}) | _ABANDON,
    S.closed: frozenset(),
    S.dead: frozenset(),
    S.passed: frozenset(),
}

TERMINAL_DEAL_STATUSES = frozenset(s for s, nxt in DEAL_TRANSITIONS.items() if not nxt)
OPEN_DEAL_STATUSES = frozenset(DealStatus) - TERMINAL_DEAL_STATUSES
# Statuses a submitted offer moves a deal out of (to offer_made).
PRE_OFFER_STATUSES = frozenset({S.lead, S.analyzing})

OS = OfferStatus
OFFER_TRANSITIONS: Mapping[OfferStatus, frozenset[OfferStatus]] = {
    OS.draft: frozenset({OS.submitted, OS.withdrawn}),
    OS.submitted: frozenset({OS.countered, OS.accepted, OS.rejected, OS.withdrawn, OS.expired}),
    OS.countered: frozenset({OS.submitted, OS.accepted, OS.rejected, OS.withdrawn, OS.expired}),
    OS.accepted: frozenset(),
    OS.rejected: frozenset(),
    OS.withdrawn: frozenset(),
    OS.expired: frozenset(),
}
# Offers that are out with the seller and can lapse.
OPEN_OFFER_STATUSES = frozenset({OS.submitted, OS.countered})


def _ordered(statuses: frozenset[DealStatus]) -> list[DealStatus]:
    """Statuses in pipeline order (the enum's order), for stable messages."""
    return [s for s in DealStatus if s in statuses]


def allowed_next(status: DealStatus) -> list[DealStatus]:
    """The statuses a deal in ``status`` may move to, in pipeline order."""
    return _ordered(DEAL_TRANSITIONS[status])


def is_allowed(current: DealStatus, target: DealStatus) -> bool:
    """True when the table allows ``current → target``."""
    return target in DEAL_TRANSITIONS[current]


def refusal_message(current: DealStatus, target: DealStatus) -> str:
    """Why ``current → target`` is refused, naming the statuses that are allowed."""
    nxt = allowed_next(current)
    if current == target:
        head = f"the deal is already {current.value}"
    else:
        head = f"a deal cannot move from {current.value} to {target.value}"
    if not nxt:
        return f"{head}: {current.value} is final, no further status change is allowed"
    return f"{head}; from {current.value} it may move to: {', '.join(s.value for s in nxt)}"


def allowed_offer_next(status: OfferStatus) -> list[OfferStatus]:
    """The statuses an offer in ``status`` may move to, in enum order."""
    return [s for s in OfferStatus if s in OFFER_TRANSITIONS[status]]
