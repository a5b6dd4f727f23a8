"""Kinds, strategies and statuses of deals, offers, deal documents and timeline entries."""

from enum import StrEnum


class DealType(StrEnum):
    """Which side of a transaction the company is on."""

    acquisition = "acquisition"
    disposition = "disposition"
    wholesale = "wholesale"


class DealStrategy(StrEnum):
    """How the company means to make money on the property."""

    flip = "flip"
    rental = "rental"
    brrrr = "brrrr"
    wholesale = "wholesale"
    section8_rental = "section8_rental"


class DealStatus(StrEnum):
    """A deal's place in the pipeline, from first look to its end (see ``state_machine``)."""

    lead = "lead"
    analyzing = "analyzing"
    offer_made = "offer_made"
    under_contract = "under_contract"
    closed = "closed"
    dead = "dead"
    passed = "passed"


class OfferStatus(StrEnum):
    """Where an offer stands."""

    draft = "draft"
    submitted = "submitted"
    countered = "countered"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"
    expired = "expired"


class Financing(StrEnum):
    """How the buyer pays, in an offer's terms."""

    cash = "cash"
    conventional = "conventional"
    fha = "fha"
    va = "va"
    hard_money = "hard_money"
    private_money = "private_money"
    seller_financing = "seller_financing"
    other = "other"


class DealDocumentStatus(StrEnum):
    """Where a deal document stands."""

    draft = "draft"
    pending_signature = "pending_signature"
    signed = "signed"
    received = "received"
    void = "void"


class DealEventKind(StrEnum):
    """What a timeline entry records."""

    created = "created"
    updated = "updated"
    status_changed = "status_changed"
    offer_made = "offer_made"
    offer_status_changed = "offer_status_changed"
    document = "document"
    payment = "payment"
    valuation = "valuation"
    transaction = "transaction"
