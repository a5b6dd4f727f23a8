"""Purposes, statuses and outcomes of AI phone calls to contractors and seller leads."""

from __future__ import annotations

from enum import StrEnum


class CallPurpose(StrEnum):
    """Why we are calling."""

    bid_request = "bid_request"
    scheduling = "scheduling"
    availability = "availability"
    start_date = "start_date"
    follow_up = "follow_up"
    lead_qualification = "lead_qualification"


class CallDirection(StrEnum):
    """Whether we placed the call or received it."""

    outbound = "outbound"
    inbound = "inbound"


class CallStatus(StrEnum):
    """A call's state; the values are Twilio's own call statuses, so callbacks map directly."""

    queued = "queued"
    initiated = "initiated"
    ringing = "ringing"
    in_progress = "in-progress"
    completed = "completed"
    busy = "busy"
    no_answer = "no-answer"
    failed = "failed"
    canceled = "canceled"


class CallOutcome(StrEnum):
    """What a finished call achieved."""

    bid_received = "bid_received"
    availability_confirmed = "availability_confirmed"
    callback_requested = "callback_requested"
    declined = "declined"
    voicemail = "voicemail"
    no_answer = "no_answer"
    opted_out = "opted_out"
    unclear = "unclear"
    # Someone else answered ("wrong number"): the contractor's phone on file needs checking.
    wrong_number = "wrong_number"
    # No price on the call, one to come: "I'll text you a quote", "send me the details and I'll
    # get you a number" (an ``await_quote`` or ``send_details`` action item).
    quote_to_follow = "quote_to_follow"
    # No price on the call: "call my office", "talk to my office manager" (``call_office``).
    refer_to_office = "refer_to_office"
    # A seller lead answered the qualifying questions (timeline, price, condition ...).
    qualified = "qualified"


class Speaker(StrEnum):
    """Who spoke a transcript turn: the agent, or the person called (a contractor or a lead).

    Rows written before seller leads had their own label say ``contractor`` for a lead too.
    """

    agent = "agent"
    contractor = "contractor"
    lead = "lead"
    other = "other"

    @classmethod
    def callee(cls, purpose: str) -> Speaker:
        """The label of the person called on a call with this purpose."""
        return cls.lead if purpose == "lead_qualification" else cls.contractor


class ScheduleStatus(StrEnum):
    """Where a scheduled call stands."""

    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"
    # A lead-qualification call left to a person (no consent to automated calls recorded):
    # the dispatcher never places it.
    for_team = "for_team"
