"""Kinds, strategies and statuses of deals, offers and deal documents."""

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


class DealStatus(StrEnum):
    """A deal's place in the pipeline, from first look to exit."""

    lead = "lead"
    analyzing = "analyzing"
    offer_made = "offer_made"
    under_contract = "under_contract"
    closed = "closed"
    rehab = "rehab"
    rented = "rented"
    listed = "listed"
    sold = "sold"
    dead = "dead"


class OfferStatus(StrEnum):
    """Where an offer stands."""

    draft = "draft"
    submitted = "submitted"
    countered = "countered"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"
    expired = "expired"


class DealDocumentStatus(StrEnum):
    """Where a deal document stands."""

    draft = "draft"
    pending_signature = "pending_signature"
    signed = "signed"
    received = "received"
    void = "void"
