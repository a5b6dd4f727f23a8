"""Jobs of the WhatsApp channel: run the agent on a message, send replies, fetch and route media.

Every job receives ids and opens its own sessions. The database is the source of truth: an
inbound message is ``received`` until a job finishes it, replies are outbox rows keyed by what
they answer, so a job that runs twice (RQ retry, the sweeper) answers once.

Steps, each a job with RQ retries:

- ``process_inbound(message_id)`` (default queue): the agent's turn on the text; replies split
  under 1,600 characters; the report link (signed URL, as media); media routed to
  ``ingest_media``.
- ``ingest_media(message_id, index)`` (default): download from Twilio's media host only, store
  it (voice note or photo), then ``transcribe_voice_note`` (transcribe queue) or
  ``analyse_photo`` (vision queue); a contractor's photo goes to ``file_contractor_photo``
  (default): a progress photo of their bid's project, its caption their update for the team.
  A contractor's voice note is transcribed and answered as if they had texted the transcript.
- ``send_outbound(message_id)`` (default): send one queued reply through Twilio, or record it.
- ``process_unlinked(message_id)``: the onboarding reply to a number linked to no user.
- ``sweep()``: re-enqueue accepted work whose job never finished; close idle conversations.

When a step's retries are spent the investor gets a message saying what failed.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from rq import get_current_job
from twilio.base.exceptions import TwilioException, TwilioRestException

from channels import signing
from channels import twilio_client as twilio
from core.config import get_settings
from domain.analysis.models import WhatIf
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import User
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.enums import MessageStatus, UnlinkedReplyStatus
from domain.whatsapp.models import Conversation, Message
from store.base import utcnow
from store.db import session_scope
from workers.queues import enqueue

if TYPE_CHECKING:
    from domain.construction import service as construction_service

log = logging.getLogger(__name__)

QUEUE = "default"
# Longer than the default queue's job timeout (300 s): a running job is never swept.
STALE_AFTER = timedelta(minutes=10)
# Replies queued by event handlers (a report link) wait for the sweeper this long at most.
OUTBOUND_STALE_AFTER = timedelta(seconds=20)
SWEEP_INTERVAL_S = 30
# The chain of sweeps (``workers.main.keep_chain``): one pending, whatever restarts.
SWEEPER_CHAIN = "whatsapp-sweeper"

EMPTY_REPLY = (
    "I got an empty message. Text me a property address for an analysis, or 'help' to see "
    "what I can do."
)
FAILED_REPLY = (
    "Sorry, I could not {what} ({reason}). Your message is saved; please send it again in a "
    "few minutes."
)


class TransientSendError(RuntimeError):
    """Twilio could not be reached or asked us to retry; the job is retried."""


# --- helpers -----------------------------------------------------------------------------


def final_attempt() -> bool:
    """True when a failure now is final: no RQ retries left (or not running under RQ)."""
    job = get_current_job()
    if job is None:
        return True
    retries_left = job.retries_left
    return not (retries_left and retries_left > 0)


def _error_text(exc: BaseException) -> str:
    """The exception's type and message, and the tail of its traceback."""
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n{trace[-1500:]}"


def _reason(exc: BaseException) -> str:
    """A short reason for the investor (no internals beyond the error's own words)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _enqueue_later(func: Callable[..., Any], *args: Any, queue: str = QUEUE) -> None:
    """Enqueue a follow-up job; if Redis refuses, the sweeper picks the work up later."""
    try:
        enqueue(func, *args, queue=queue)
    except Exception:
        log.exception("could not enqueue a WhatsApp job; the sweeper will retry it")


def deliver_all(message_ids: Sequence[uuid.UUID]) -> list[str]:
    """Send queued replies now, in order; a transient failure goes to a retried job."""
    outcomes = []
    for message_id in message_ids:
        try:
            outcomes.append(deliver(message_id))
        except TransientSendError:
            _enqueue_later(send_outbound, str(message_id))
            outcomes.append("retrying")
    return outcomes


def _pending_ids(messages: Sequence[Message]) -> list[uuid.UUID]:
    """Ids of the messages that still need sending."""
    return [m.id for m in messages if m.status in (MessageStatus.queued, MessageStatus.failed)]


# --- sending -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outgoing:
    """What to send, read inside the claim's transaction."""

    to: str
    body: str | None
    media_urls: list[str]
    content_sid: str | None


def deliver(message_id: uuid.UUID) -> str:
    """Send one outbound message through Twilio, or record it without credentials.

    Returns the new status (or ``skipped``); raises ``TransientSendError`` when Twilio could
    not be reached (the caller retries), and records permanent refusals as ``failed``.
    """
    settings = get_settings()
    with session_scope() as session:
        message = whatsapp_service.claim_outbound(
            session=session, message_id=message_id, stale_before=utcnow() - STALE_AFTER
        )
        if message is None:
            return "skipped"
        conversation = session.get(Conversation, message.conversation_id)
        if conversation is None or not conversation.phone_number:
            whatsapp_service.mark_outbound(
                session=session,
                message=message,
                status=MessageStatus.failed,
                error="the conversation has no phone number",
            )
            return MessageStatus.failed.value
        for item in message.media:
            if item.get("report_id") and not item.get("url"):
                link = signing.report_url(uuid.UUID(str(item["report_id"])), org_id=message.org_id)
                whatsapp_service.resolve_report_link(session=session, message=message, url=link.url)
                break
        client = twilio.build_rest_client(settings)
        if client is None:
            whatsapp_service.mark_outbound(
                session=session, message=message, status=MessageStatus.recorded
            )
            return MessageStatus.recorded.value
        if message.content_sid is None and not whatsapp_service.window_open(conversation):
            whatsapp_service.mark_outbound(
                session=session,
                message=message,
                status=MessageStatus.failed,
                error="outside WhatsApp's 24-hour window and no TWILIO_TEMPLATE_CONTENT_SID "
                "is configured: WhatsApp only delivers approved templates then",
            )
            return MessageStatus.failed.value
        outgoing = _Outgoing(
            to=conversation.phone_number,
            body=message.content,
            media_urls=[str(m["url"]) for m in message.media if m.get("url")],
            content_sid=message.content_sid,
        )
    if not settings.twilio_whatsapp_from:
        return _record_send(message_id, error="TWILIO_WHATSAPP_FROM is not set")
    try:
        sent = twilio.send_whatsapp(
            client,
            to=outgoing.to,
            from_=settings.twilio_whatsapp_from,
            body=outgoing.body,
            media_urls=outgoing.media_urls,
            content_sid=outgoing.content_sid,
            content_variables=(
                json.dumps({"1": (outgoing.body or "")[:1000]}) if outgoing.content_sid else None
            ),
        )
    except TwilioRestException as exc:
        error = f"Twilio refused the message: HTTP {exc.status} (code {exc.code}): {exc.msg}"
        if exc.status == 429 or exc.status >= 500:
            _record_send(message_id, error=error)
            raise TransientSendError(error) from exc
        return _record_send(message_id, error=error)
    except (httpx.HTTPError, TwilioException) as exc:
        error = f"Twilio could not be reached: {type(exc).__name__}: {exc}"
        _record_send(message_id, error=error)
        raise TransientSendError(error) from exc
    return _record_send(message_id, sid=sent.sid)


def _record_send(message_id: uuid.UUID, *, sid: str | None = None, error: str | None = None) -> str:
    """Store the outcome of a send: sent with Twilio's SID, or failed with why."""
    status = MessageStatus.failed if error else MessageStatus.sent
    with session_scope() as session:
        message = session.get(Message, message_id)
        if message is not None:
            whatsapp_service.mark_outbound(
                session=session, message=message, status=status, sid=sid, error=error
            )
    if error:
        log.warning("whatsapp reply not sent", extra={"message_id": str(message_id)})
    return status.value


def send_outbound(message_id: str) -> str:
    """Job: send one queued (or failed) reply; raises to be retried when Twilio is unreachable."""
    return deliver(uuid.UUID(message_id))


# --- the agent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentReply:
    """The agent's answer as the channel uses it."""

    reply: str
    report_document_ids: list[uuid.UUID]
    tool_calls: list[Any]


def run_agent(
    *,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
    phone_number: str,
    text: str,
    media_document_ids: Sequence[uuid.UUID] = (),
) -> AgentReply:
    """One agent turn on the conversation's thread (``agent.runner.run_turn``)."""
    from agent.runner import TurnRequest, run_turn

    result = run_turn(
        TurnRequest(
            org_id=org_id,
            user_id=user_id,
            role=role,
            channel="whatsapp",
            thread_id=whatsapp_service.thread_id(phone_number),
            text=text,
            media_document_ids=tuple(media_document_ids),
        )
    )
    return AgentReply(
        reply=result.reply,
        report_document_ids=[uuid.UUID(str(i)) for i in result.report_document_ids],
        tool_calls=list(result.tool_calls or []),
    )


def _call_fields(call: Any) -> tuple[str, dict[str, Any], Any]:
    """(name, arguments, result) of a tool call, whether a mapping or an object."""
    if isinstance(call, dict):
        name = call.get("name")
        args = call.get("args") or call.get("arguments") or {}
        result = call.get("result") or call.get("summary")
    else:
        name = getattr(call, "name", None)
        args = getattr(call, "args", None) or getattr(call, "arguments", None) or {}
        result = getattr(call, "result", None) or getattr(call, "summary", None)
    return str(name or ""), args if isinstance(args, dict) else {}, result


# Tools whose call means "the investor asked for a property analysis".
ANALYSIS_TOOLS = frozenset({"analyze_property", "max_offer"})
REPORT_TOOLS = frozenset({"generate_report"})


@dataclass(frozen=True)
class PropertyAsk:
    """A property-level request found among a turn's tool calls."""

    tool: str
    address: str | None
    property_id: uuid.UUID | None
    # The call's arguments: a strategy follow-up ("and as a rental?") names a focus, and a
    # what-if ("what if I pay 30k?") a price, rehab budget or living area.
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fresh_analysis(self) -> bool:
        """A full analysis the PDF should follow (not a strategy follow-up or a max offer)."""
        return self.tool == "analyze_property" and not self.args.get("focus")


def property_asks(tool_calls: Sequence[Any]) -> list[PropertyAsk]:
    """The analysis and report requests among the turn's successful tool calls, in order."""
    asks = []
    for call in tool_calls:
        name, args, _ = _call_fields(call)
        ok = call.get("ok", True) if isinstance(call, dict) else getattr(call, "ok", True)
        if not ok or name not in ANALYSIS_TOOLS | REPORT_TOOLS:
            continue
        raw_id = args.get("property_id")
        try:
            property_id = uuid.UUID(str(raw_id)) if raw_id else None
        except ValueError:
            property_id = None
        address = args.get("address")
        asks.append(PropertyAsk(name, str(address) if address else None, property_id, args))
    return asks


def _resolve_property(
    session: Any, org_id: uuid.UUID, ask: PropertyAsk, fallback: uuid.UUID | None
) -> uuid.UUID | None:
    """The property an ask is about: its id, the house its address names, or the last one.

    The address is resolved as the tool that answered resolved it (``resolve_property``: the
    best match, else the one house a loose address names, "1215 Kellogg Ave roof"), so the
    conversation, the PDF and later media follow the house the reply named. An address that
    names no house keeps no property (never the previous one).
    """
    if ask.property_id is not None:
        return ask.property_id
    if not ask.address:
        return fallback
    from agent.context import Context
    from tools._common import ToolError, resolve_property

    ctx = Context(org_id=org_id, user_id=None, role=Role.investor, channel="whatsapp", thread_id="")
    try:
        return resolve_property(session, ctx, address=ask.address).id
    except ToolError:  # the agent already told the investor
        return None


def render_report_now(
    *,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    requested_by: uuid.UUID | None,
    what_if: WhatIf | None = None,
) -> uuid.UUID | None:
    """Render and store the property's report in this job; its document id (None on failure).

    The WhatsApp job renders inline rather than waiting on the reports queue: a worker busy
    with this job could not pick the report job up, and the investor should not wait.
    """
    try:
        from workers.reports import generate_property_report

        with session_scope() as session:
            report = generate_property_report(
                session=session,
                org_id=org_id,
                property_id=property_id,
                requested_by=requested_by,
                what_if=what_if,
            )
            return report.document_id
    except Exception:
        log.exception("could not render the report for a WhatsApp reply")
        return None


# --- inbound -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inbound:
    """What the job needs of an inbound message, read in the claim's transaction."""

    id: uuid.UUID
    org_id: uuid.UUID
    conversation_id: uuid.UUID
    phone_number: str
    user_id: uuid.UUID | None
    role: Role | None
    body: str
    media: list[dict[str, Any]]


def _claim(message_id: uuid.UUID) -> _Inbound | None:
    """Claim the message for processing and read what the job needs."""
    with session_scope() as session:
        message = whatsapp_service.claim_inbound(session=session, message_id=message_id)
        if message is None:
            return None
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None  # a foreign key
        user = (
            auth_service.get_user(
                session=session, org_id=message.org_id, user_id=conversation.user_id
            )
            if conversation.user_id
            else None
        )
        active = user is not None and user.is_active
        return _Inbound(
            id=message.id,
            org_id=message.org_id,
            conversation_id=conversation.id,
            phone_number=conversation.phone_number or "",
            user_id=user.id if user is not None and active else None,
            role=Role(user.role) if user is not None and active else None,
            body=message.content or "",
            media=[dict(item) for item in message.media],
        )


def _media_family(content_type: str | None) -> str | None:
    """``audio`` or ``image`` for media we can use; None for other types."""
    kind = documents_service.normalise_content_type(content_type)
    if kind.startswith("audio/"):
        return "audio"
    if kind.startswith("image/"):
        return "image"
    return None


def process_inbound(message_id: str) -> str:
    """Job: answer one inbound WhatsApp message (agent turn, replies, media routing)."""
    inbound = _claim(uuid.UUID(message_id))
    if inbound is None:
        return "skipped"
    try:
        return _process(inbound)
    except Exception as exc:
        if not final_attempt():
            with session_scope() as session:
                message = session.get(Message, inbound.id)
                if message is not None:
                    whatsapp_service.note_inbound_error(
                        session=session, message=message, error=_error_text(exc)
                    )
            raise
        log.exception("whatsapp message failed for good", extra={"message_id": message_id})
        _fail_for_good(inbound.id, what="answer your message", exc=exc, key=f"failed:{inbound.id}")
        return "failed"


def _fail_for_good(
    message_id: uuid.UUID, *, what: str, exc: BaseException, key: str, finish: bool = True
) -> None:
    """Tell the investor what failed and (for the message itself) mark it failed."""
    with session_scope() as session:
        message = session.get(Message, message_id)
        if message is None:
            return
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        queued = whatsapp_service.queue_text(
            session=session,
            conversation=conversation,
            text=FAILED_REPLY.format(what=what, reason=_reason(exc)),
            key=key,
            reply_to=message.id,
            template_sid=get_settings().twilio_template_content_sid,
        )
        if finish:
            whatsapp_service.finish_inbound(
                session=session, message=message, error=_error_text(exc)
            )
        pending = _pending_ids(queued)
    deliver_all(pending)


def _unsupported_reply(content_type: str | None) -> str:
    """The reply for media we do not handle."""
    kind = documents_service.normalise_content_type(content_type)
    shown = f"{kind} files" if kind else "files of an unknown type"
    return (
        f"I can't use {shown}. I can read voice notes from a walkthrough and photos of "
        "a property; text me an address for an analysis."
    )


def _process(inbound: _Inbound) -> str:
    """The work of ``process_inbound`` once claimed."""
    settings = get_settings()
    template = settings.twilio_template_content_sid
    notes: list[str] = []
    media_jobs: list[int] = []
    refused: dict[int, str] = {}  # media whose link is not Twilio's: never fetched
    for index, item in enumerate(inbound.media):
        family = _media_family(item.get("content_type"))
        if family is None:
            notes.append(_unsupported_reply(item.get("content_type")))
            continue
        try:
            twilio.check_media_url(str(item.get("url") or ""))
        except twilio.MediaRefused as exc:
            # Said before any "working on it": nothing will be worked on.
            refused[index] = str(exc)
            notes.append(_refused_media_reply(_WHAT[family]))
            continue
        media_jobs.append(index)

    text_in = whatsapp_service.agent_input(inbound.body)
    agent: AgentReply | None = None
    # A contractor's caption is their note on the photo: recorded with it by
    # ``file_contractor_photo``, not run through the agent as well (it would be kept twice).
    caption_of_photo = inbound.role == Role.contractor and any(
        _media_family(inbound.media[index].get("content_type")) == "image" for index in media_jobs
    )
    if inbound.user_id is None or inbound.role is None:
        reply = whatsapp_service.ONBOARDING_REPLY
    elif text_in.text and not caption_of_photo:
        agent = run_agent(
            org_id=inbound.org_id,
            user_id=inbound.user_id,
            role=inbound.role,
            phone_number=inbound.phone_number,
            text=text_in.text,
        )
        reply = agent.reply
    elif media_jobs:
        reply = ""  # the media steps answer
    elif notes:
        reply = ""
    else:
        reply = EMPTY_REPLY
    if text_in.note and agent is not None:
        reply = f"{text_in.note}\n\n{reply}"
    if media_jobs and inbound.user_id is not None:
        count = len(media_jobs)
        notes.append(
            f"Got your {'file' if count == 1 else f'{count} files'}; working on "
            f"{'it' if count == 1 else 'them'} now."
        )

    with session_scope() as session:
        message = session.get(Message, inbound.id)
        conversation = session.get(Conversation, inbound.conversation_id)
        assert message is not None and conversation is not None
        queued: list[Message] = []
        for index, error in refused.items():
            whatsapp_service.set_media(
                session=session, message=message, index=index, refused=True, error=error
            )
        if reply.strip():
            queued += whatsapp_service.queue_text(
                session=session,
                conversation=conversation,
                text=reply,
                key=f"reply:{inbound.id}",
                reply_to=inbound.id,
                template_sid=template,
            )
        for position, note in enumerate(notes):
            queued += whatsapp_service.queue_text(
                session=session,
                conversation=conversation,
                text=note,
                key=f"note:{inbound.id}:{position}",
                reply_to=inbound.id,
                template_sid=template,
            )
        report_property: uuid.UUID | None = None
        report_what_if = WhatIf()
        if agent is not None:
            for ask in property_asks(agent.tool_calls):
                property_id = _resolve_property(
                    session, inbound.org_id, ask, conversation.property_id
                )
                if property_id is not None:
                    conversation.property_id = property_id
                if ask.tool in ANALYSIS_TOOLS:
                    whatsapp_service.publish_analysis_requested(
                        session=session,
                        conversation=conversation,
                        inbound_id=inbound.id,
                        address=ask.address,
                        property_id=property_id,
                    )
                if ask.fresh_analysis and property_id is not None:
                    # The PDF follows a full analysis, with the what-ifs the reply used.
                    report_property, report_what_if = property_id, WhatIf.from_args(ask.args)
            for report_id in agent.report_document_ids:
                queued += _report_or_wait(
                    session, conversation, report_id, reply_to=inbound.id, template=template
                )
        whatsapp_service.finish_inbound(session=session, message=message)
        pending = _pending_ids(queued)
        user_id = conversation.user_id
    deliver_all(pending)
    if agent is not None and report_property is not None and not agent.report_document_ids:
        _send_fresh_report(inbound, report_property, user_id, report_what_if)
    for index in media_jobs:
        _enqueue_later(ingest_media, str(inbound.id), index)
    return "processed"


def _send_fresh_report(
    inbound: _Inbound, property_id: uuid.UUID, user_id: uuid.UUID | None, what_if: WhatIf
) -> None:
    """Render the analysed property's report now and send its link after the reply."""
    key = f"report:{inbound.id}:{property_id}"
    with session_scope() as session:
        if whatsapp_service.reply_exists(session=session, key=key):
            return
    document_id = render_report_now(
        org_id=inbound.org_id, property_id=property_id, requested_by=user_id, what_if=what_if
    )
    if document_id is None:
        return
    with session_scope() as session:
        conversation = session.get(Conversation, inbound.conversation_id)
        assert conversation is not None
        message = whatsapp_service.queue_report_link(
            session=session,
            conversation=conversation,
            document_id=document_id,
            key=key,
            reply_to=inbound.id,
            template_sid=get_settings().twilio_template_content_sid,
            address=_report_address(session, conversation, property_id),
        )
        pending = _pending_ids([message])
    deliver_all(pending)


def _report_address(
    session: Any, conversation: Conversation, property_id: uuid.UUID | None
) -> str | None:
    """The address of the house a report is about, as its PDF writes it.

    Not the conversation's last analysed address: "comps for 1215 Kellogg Ave" after an
    analysis of 4120 Lincoln Way, then "send me the report", captioned Kellogg's PDF with
    Lincoln Way.
    """
    if property_id is None:
        return conversation.property_address
    from domain.analysis import service as analysis_service
    from domain.property import service as property_service

    prop = property_service.get(
        session=session, org_id=conversation.org_id, property_id=property_id
    )
    return analysis_service.address_of(prop) if prop is not None else None


def _report_ready(session: Any, org_id: uuid.UUID, report_id: uuid.UUID) -> bool:
    """True when the report's PDF is stored."""
    document = documents_service.get_document(session=session, org_id=org_id, document_id=report_id)
    return document is not None and document.kind == DocumentKind.report


def _report_or_wait(
    session: Any,
    conversation: Conversation,
    report_id: uuid.UUID,
    *,
    reply_to: uuid.UUID | None,
    template: str | None,
) -> list[Message]:
    """Queue the report's link if the PDF is stored; else wait for report.ready to send it."""
    if not _report_ready(session, conversation.org_id, report_id):
        whatsapp_service.request_report(
            session=session,
            org_id=conversation.org_id,
            property_id=conversation.property_id,
            requested_by=conversation.user_id,
            conversation=conversation,
            report_id=report_id,
        )
        return []
    document = documents_service.get_document(
        session=session, org_id=conversation.org_id, document_id=report_id
    )
    about = (
        document.entity_id
        if document is not None and str(document.entity_type) == "property"
        else None
    )
    return [
        whatsapp_service.queue_report_link(
            session=session,
            conversation=conversation,
            document_id=report_id,
            key=f"report:{reply_to or conversation.id}:{report_id}",
            reply_to=reply_to,
            template_sid=template,
            address=_report_address(session, conversation, about),
        )
    ]


# --- unknown numbers ---------------------------------------------------------------------


def process_unlinked(message_id: str) -> str:
    """Job: give a number linked to no user the onboarding reply (and nothing else)."""
    settings = get_settings()
    with session_scope() as session:
        unlinked = whatsapp_service.get_unlinked(session=session, message_id=uuid.UUID(message_id))
        if unlinked is None or unlinked.reply_status != UnlinkedReplyStatus.pending:
            return "skipped"
        if not whatsapp_service.onboarding_due(session=session, unlinked=unlinked):
            whatsapp_service.mark_unlinked(
                session=session, unlinked=unlinked, status=UnlinkedReplyStatus.suppressed
            )
            return UnlinkedReplyStatus.suppressed.value
        client = twilio.build_rest_client(settings)
        if client is None or not settings.twilio_whatsapp_from:
            whatsapp_service.mark_unlinked(
                session=session,
                unlinked=unlinked,
                status=UnlinkedReplyStatus.recorded,
                reply=whatsapp_service.ONBOARDING_REPLY,
            )
            return UnlinkedReplyStatus.recorded.value
        phone = unlinked.phone_number
    try:
        sent = twilio.send_whatsapp(
            client,
            to=phone,
            from_=settings.twilio_whatsapp_from,
            body=whatsapp_service.ONBOARDING_REPLY,
        )
    except (TwilioException, httpx.HTTPError) as exc:
        transient = (
            not isinstance(exc, TwilioRestException) or exc.status in (429,) or (exc.status >= 500)
        )
        if transient and not final_attempt():
            raise
        with session_scope() as session:
            row = whatsapp_service.get_unlinked(session=session, message_id=uuid.UUID(message_id))
            if row is not None:
                whatsapp_service.mark_unlinked(
                    session=session,
                    unlinked=row,
                    status=UnlinkedReplyStatus.failed,
                    reply=whatsapp_service.ONBOARDING_REPLY,
                    error=f"{type(exc).__name__}: {exc}",
                )
        return UnlinkedReplyStatus.failed.value
    with session_scope() as session:
        row = whatsapp_service.get_unlinked(session=session, message_id=uuid.UUID(message_id))
        if row is not None:
            whatsapp_service.mark_unlinked(
                session=session,
                unlinked=row,
                status=UnlinkedReplyStatus.sent,
                reply=whatsapp_service.ONBOARDING_REPLY,
                sid=sent.sid,
            )
    return UnlinkedReplyStatus.sent.value


# --- media -------------------------------------------------------------------------------

_WHAT = {"audio": "voice note", "image": "photo"}


def _refused_media_reply(what: str) -> str:
    """The reply to media whose link is not on Twilio's media servers (never fetched)."""
    return (
        f"I did not open the {what}: its link is not on WhatsApp's (Twilio's) media servers, "
        "and I only fetch media from there."
    )


def _media_reply(message_id: uuid.UUID, index: int, text: str, *, key: str) -> None:
    """Queue (once per key) and send a reply about one media item."""
    with session_scope() as session:
        message = session.get(Message, message_id)
        if message is None:
            return
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        queued = whatsapp_service.queue_text(
            session=session,
            conversation=conversation,
            text=text,
            key=key,
            reply_to=message_id,
            template_sid=get_settings().twilio_template_content_sid,
        )
        pending = _pending_ids(queued)
    deliver_all(pending)


def ingest_media(message_id: str, index: int) -> str:
    """Job: download one media item from Twilio, store it, and enqueue its analysis."""
    mid = uuid.UUID(message_id)
    with session_scope() as session:
        message = session.get(Message, mid)
        if message is None or index >= len(message.media):
            return "skipped"
        item = dict(message.media[index])
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        org_id, property_id = message.org_id, conversation.property_id
        contractor = _sender_user(session, conversation, role=Role.contractor) is not None
        sender = _sender_principal(session, conversation)
        if property_id is not None and not contractor:
            property_id = _evidence_property(session, org_id, sender, property_id)
    family = _media_family(item.get("content_type"))
    if family is None:
        return "unsupported"
    what = _WHAT[family]
    if item.get("document_id"):
        _enqueue_next(mid, index, family, contractor=contractor)
        return "stored"
    if item.get("refused"):
        return "refused"
    limit = (
        documents_service.AUDIO_MAX_BYTES
        if family == "audio"
        else documents_service.IMAGE_MAX_BYTES
    )
    try:
        fetched = twilio.fetch_media(str(item.get("url") or ""), max_bytes=limit)
    except twilio.MediaRefused as exc:
        _mark_media(mid, index, refused=True, error=str(exc))
        _media_reply(mid, index, _refused_media_reply(what), key=f"media:{mid}:{index}")
        return "refused"
    except twilio.MediaTooLarge as exc:
        _mark_media(mid, index, refused=True, error=str(exc))
        _media_reply(
            mid,
            index,
            f"Your {what} is larger than {documents_service.human_size(exc.limit_bytes)}, the most "
            f"WhatsApp allows for a {what}; please send a shorter or smaller one.",
            key=f"media:{mid}:{index}",
        )
        return "too_large"
    except twilio.MediaFetchError as exc:
        if not final_attempt():
            raise
        _media_reply(
            mid,
            index,
            FAILED_REPLY.format(what=f"download your {what} from WhatsApp", reason=_reason(exc)),
            key=f"media:{mid}:{index}",
        )
        return "failed"
    with session_scope() as session:
        try:
            document = documents_service.store_document(
                session=session,
                org_id=org_id,
                data=fetched.data,
                filename=None,
                declared_content_type=fetched.content_type or item.get("content_type"),
                kind=DocumentKind.voice_note if family == "audio" else DocumentKind.photo,
                source=DocumentSource.whatsapp,
                entity_type="property" if property_id else None,
                entity_id=property_id,
                uploaded_by=sender.user_id if sender is not None else None,
            )
        except documents_service.DocumentRejected as exc:
            rejected: str | None = exc.message
        else:
            rejected = None
            message = session.get(Message, mid)
            assert message is not None
            whatsapp_service.set_media(
                session=session, message=message, index=index, document_id=str(document.id)
            )
    if rejected is not None:
        _mark_media(mid, index, refused=True, error=rejected)
        _media_reply(
            mid, index, f"I could not use your {what}: {rejected}", key=f"media:{mid}:{index}"
        )
        return "rejected"
    _enqueue_next(mid, index, family, contractor=contractor)
    return "stored"


def _evidence_property(
    session: Any,
    org_id: uuid.UUID,
    sender: auth_service.Principal | None,
    property_id: uuid.UUID,
) -> uuid.UUID | None:
    """``property_id`` when the sender may add evidence of it, else None (stored unlinked).

    Media the sender may not add (an investor's photo of another investor's deal's house) is
    kept unlinked, never as that house's photo; its analysis job refuses it with the reason.
    """
    from domain.audio import service as audio_service

    try:
        audio_service.check_may_add_evidence(
            session=session,
            org_id=org_id,
            principal=sender,
            property_id=property_id,
            what="media",
        )
    except audio_service.EvidenceNotPermitted:
        return None
    return property_id


def _mark_media(message_id: uuid.UUID, index: int, **values: Any) -> None:
    """Record a refusal (or other fact) on one media item."""
    with session_scope() as session:
        message = session.get(Message, message_id)
        if message is not None:
            whatsapp_service.set_media(session=session, message=message, index=index, **values)


def _enqueue_next(
    message_id: uuid.UUID, index: int, family: str, *, contractor: bool = False
) -> None:
    """Enqueue the next step for a stored media item (a contractor's photo: its project)."""
    if family == "audio":
        _enqueue_later(transcribe_voice_note, str(message_id), index, queue="transcribe")
    elif contractor:
        _enqueue_later(file_contractor_photo, str(message_id), index)
    else:
        _enqueue_later(analyse_photo, str(message_id), index, queue="vision")


def _sender_user(session: Any, conversation: Conversation, *, role: Role) -> User | None:
    """The conversation's active user when their role is ``role``, else None."""
    if conversation.user_id is None:
        return None
    user = auth_service.get_user(
        session=session, org_id=conversation.org_id, user_id=conversation.user_id
    )
    if user is None or not user.is_active or Role(user.role) != role:
        return None
    return user


def _sender_principal(session: Any, conversation: Conversation) -> auth_service.Principal | None:
    """Who the conversation's user acts as when their media is evidence (None: no user).

    The services apply the rule of adding evidence of a property to it
    (``audio_service.check_may_add_evidence``): an investor only of a property on no deal or
    on deals they own or are on.
    """
    if conversation.user_id is None:
        return None
    user = auth_service.get_user(
        session=session, org_id=conversation.org_id, user_id=conversation.user_id
    )
    return auth_service.Principal.from_user(user) if user is not None else None


def _evidence_refused(what: str, reason: str) -> str:
    """The reply to media the sender may not add to the conversation's property."""
    return (
        f"I saved your {what} but did not add it to that property, so its condition, rehab "
        f"budget and max offer are unchanged: {reason}."
    )


class MediaGone(LookupError):
    """The message (or its media item) no longer exists: nothing to answer, nothing to retry."""


def _stored_media(message_id: uuid.UUID, index: int) -> tuple[Message, Conversation, uuid.UUID]:
    """The message, its conversation and the stored document of one media item."""
    with session_scope() as session:
        message = session.get(Message, message_id)
        if message is None or not 0 <= index < len(message.media):
            raise MediaGone(f"message {message_id} media {index} is gone")
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        return message, conversation, uuid.UUID(str(message.media[index]["document_id"]))


def _media_property(
    message: Message, conversation: Conversation, document_id: uuid.UUID
) -> uuid.UUID | None:
    """The property a stored media item is evidence of: the one it was stored for.

    Else the conversation's: ``ingest_media`` links the item to the conversation's property
    of that moment, so a later message about another house does not move it.
    """
    from domain.audio import service as audio_service

    with session_scope() as session:
        document = documents_service.get_document(
            session=session, org_id=message.org_id, document_id=document_id
        )
        owner = (
            audio_service.document_property_id(
                session=session, org_id=message.org_id, document=document
            )
            if document is not None
            else None
        )
    return owner or conversation.property_id


def _already_answered(message_id: uuid.UUID, index: int) -> bool:
    """True when this media item already got its reply."""
    with session_scope() as session:
        return whatsapp_service.reply_exists(session=session, key=f"media:{message_id}:{index}:0")


def analyse_photo(message_id: str, index: int) -> str:
    """Job (vision queue): assess a stored WhatsApp photo and reply with what it shows."""
    mid = uuid.UUID(message_id)
    if _already_answered(mid, index):
        return "skipped"
    try:
        text = _photo_reply(mid, index)
    except MediaGone:
        return "skipped"
    except Exception as exc:
        if not final_attempt():
            raise
        log.exception("photo analysis failed for good", extra={"message_id": message_id})
        text = FAILED_REPLY.format(what="analyse your photo", reason=_reason(exc))
    _media_reply(mid, index, text, key=f"media:{mid}:{index}")
    return "answered"


def _photo_reply(message_id: uuid.UUID, index: int) -> str:
    """Run the vision service on the photo and word its verdict."""
    from domain.vision import service as vision_service
    from domain.vision.enums import AnalysisStatus

    message, conversation, document_id = _stored_media(message_id, index)
    property_id = _media_property(message, conversation, document_id)
    if property_id is None:
        return (
            "I saved your photo. To assess it I need to know the property: text me its address, "
            "then send the photos again."
        )
    with session_scope() as session:
        try:
            analyses = vision_service.submit_photos(
                session=session,
                org_id=message.org_id,
                property_id=property_id,
                document_ids=[document_id],
                principal=_sender_principal(session, conversation),
                source=DocumentSource.whatsapp,
            )
        except (vision_service.VisionPermissionError, vision_service.VisionNotFoundError) as exc:
            session.rollback()
            return _evidence_refused("photo", str(exc))
        session.flush()
        analysis_id = analyses[0].id
    with session_scope() as session:
        analysis = vision_service.run_analysis(
            session=session, org_id=message.org_id, analysis_id=analysis_id
        )
        status, error = analysis.status, analysis.error
        component, condition = analysis.component, analysis.condition
        confidence = analysis.confidence_score
    if status == AnalysisStatus.not_configured:
        return (
            "I saved your photo, but no vision model is configured, so I can't assess the "
            "condition from it (I won't guess)."
        )
    if status != AnalysisStatus.completed:
        return f"I saved your photo but could not assess it: {error or 'unknown error'}"
    sure = f" ({float(confidence):.0%} confidence)" if confidence is not None else ""
    label = (component or "component").replace("_", " ")
    return f"Photo: the {label} looks {condition}{sure}."


# --- a contractor's media ------------------------------------------------------------------

NOT_A_CONTRACTOR_RECORD = (
    "I saved your {what}, but this number is not linked to a contractor record here, so I "
    "could not put it on a project or pass it to the team. Ask the company to add this number "
    "to your contractor record, then send it again."
)


def file_contractor_photo(message_id: str, index: int) -> str:
    """Job (default queue): keep a contractor's photo as a progress photo of their project.

    The photo goes on the project of their open bid (on each candidate when the caption names
    none of several: ``construction_service.record_contractor_photo``) and its caption is their
    update for the team; the reply says what was kept where. The records and the reply are
    written in one transaction, so a retried job does it once.
    """
    mid = uuid.UUID(message_id)
    if _already_answered(mid, index):
        return "skipped"
    try:
        pending = _file_contractor_photo(mid, index)
    except MediaGone:
        return "skipped"
    except Exception as exc:
        if not final_attempt():
            raise
        log.exception("contractor photo failed for good", extra={"message_id": message_id})
        text = FAILED_REPLY.format(what="add your photo to the project", reason=_reason(exc))
        _media_reply(mid, index, text, key=f"media:{mid}:{index}")
        return "answered"
    deliver_all(pending)
    return "answered"


def _file_contractor_photo(message_id: uuid.UUID, index: int) -> list[uuid.UUID]:
    """Record the photo and its caption, queue the reply; the reply's ids to send."""
    from domain.construction import service as construction_service

    message, conversation, document_id = _stored_media(message_id, index)
    with session_scope() as session:
        org_id = message.org_id
        user = _sender_user(session, conversation, role=Role.contractor)
        contractor = (
            construction_service.contractor_of_user(session=session, org_id=org_id, user_id=user.id)
            if user is not None
            else None
        )
        if user is None or contractor is None:
            text = NOT_A_CONTRACTOR_RECORD.format(what="photo")
        else:
            document = documents_service.get_document(
                session=session, org_id=org_id, document_id=document_id
            )
            if document is None:
                raise MediaGone(f"document {document_id} is gone")
            data = documents_service.read_document_bytes(
                session=session, org_id=org_id, document_id=document_id
            )
            done = construction_service.record_contractor_photo(
                session=session,
                org_id=org_id,
                contractor_id=contractor.id,
                upload=construction_service.PhotoUpload(
                    data=data, filename=document.filename, content_type=document.content_type
                ),
                caption=message.content,
                channel="whatsapp",
                principal=auth_service.Principal.from_user(user),
            )
            text = _contractor_photo_reply(session, done, caption=message.content)
        current = session.get(Conversation, conversation.id)
        assert current is not None  # a foreign key of the message
        queued = whatsapp_service.queue_text(
            session=session,
            conversation=current,
            text=text,
            key=f"media:{message_id}:{index}",
            reply_to=message_id,
            template_sid=get_settings().twilio_template_content_sid,
        )
        return _pending_ids(queued)


def _contractor_photo_reply(
    session: Any, done: construction_service.ContractorPhoto, *, caption: str | None
) -> str:
    """What was kept where, in the contractor's words."""
    from domain.construction import service as construction_service

    places = [
        construction_service.project_label(session=session, project=project)
        for project, _bid in done.update.targets
    ]
    note = " and passed your note on to the team" if (caption or "").strip() else ""
    if not places:
        return (
            "I saved your photo and passed it on to the team, but you have no bid on any of our "
            "projects, so it is not on a project's photos."
        )
    if done.refused:
        return (
            f"I passed your message on to the team for {'; '.join(places)}, but could not add "
            f"the photo to the project's photos: {done.refused}"
        )
    if len(places) == 1:
        return f"Thanks: I added your photo to the progress photos of {places[0]}{note}."
    return (
        f"Thanks: you have {len(places)} open projects and the message named none, so I added "
        f"your photo to the progress photos of each ({'; '.join(places)}){note}. Name the "
        "street next time and it goes on that one only."
    )


def _contractor_voice_note_reply(
    message: Message,
    conversation: Conversation,
    index: int,
    document_id: uuid.UUID,
    user_id: uuid.UUID,
) -> str:
    """Transcribe a contractor's voice note and answer it as if they had texted the words.

    The transcription step is the walkthroughs' (``audio_service.transcribe_recording``:
    Whisper); the transcript goes through the agent as the contractor's text (their
    ``contractor_update`` / ``my_bids``), never priced as a walkthrough. It is kept on the
    message's media item. A recording that can never be transcribed is answered with the
    reason; other failures re-raise (RQ retries).
    """
    from sqlmodel import Session

    from domain.audio import service as audio_service
    from domain.construction import service as construction_service
    from store.db import get_engine

    org_id = message.org_id
    with session_scope() as session:
        contractor = construction_service.contractor_of_user(
            session=session, org_id=org_id, user_id=user_id
        )
    if contractor is None:
        return NOT_A_CONTRACTOR_RECORD.format(what="voice note")
    try:
        with Session(get_engine()) as session:
            transcript = audio_service.transcribe_recording(
                session=session,
                org_id=org_id,
                document_id=document_id,
                max_duration_s=get_settings().audio_max_duration_s,
            )
    except Exception as exc:
        failure = audio_service.failure_for(exc)
        if failure is None:
            raise
        return f"I couldn't transcribe your voice note: {failure[1]}"
    said = " ".join(transcript.text.split())
    _mark_media(message.id, index, transcript=said)
    if not said:
        return "I could not make out any words in your voice note; please text me instead."
    agent = run_agent(
        org_id=org_id,
        user_id=user_id,
        role=Role.contractor,
        phone_number=conversation.phone_number or "",
        text=whatsapp_service.agent_input(said).text,
    )
    heard = said if len(said) <= 500 else said[:497] + "..."
    return f'I heard: "{heard}"\n\n{agent.reply}'


def transcribe_voice_note(message_id: str, index: int) -> str:
    """Job (transcribe queue): transcribe a stored voice note and reply with what was heard."""
    mid = uuid.UUID(message_id)
    if _already_answered(mid, index):
        return "skipped"
    try:
        text = _voice_note_reply(mid, index)
    except MediaGone:
        return "skipped"
    except Exception as exc:
        if not final_attempt():
            raise
        log.exception("voice note failed for good", extra={"message_id": message_id})
        text = FAILED_REPLY.format(what="transcribe your voice note", reason=_reason(exc))
    _media_reply(mid, index, text, key=f"media:{mid}:{index}")
    return "answered"


def _voice_note_reply(message_id: uuid.UUID, index: int) -> str:
    """Transcribe the voice note as a walkthrough of the conversation's property; word it.

    The audio service does the work (``workers.audio.transcribe_walkthrough``: Whisper, the
    conditions heard, the rehab budget priced from them); this job runs it inline on the
    transcribe queue and words the outcome. A transient failure re-raises (RQ retries). A
    contractor's voice note is no walkthrough: ``_contractor_voice_note_reply``.
    """
    from domain.audio import service as audio_service
    from workers.audio import transcribe_walkthrough

    message, conversation, document_id = _stored_media(message_id, index)
    with session_scope() as session:
        sender = _sender_user(session, conversation, role=Role.contractor)
        sender_id = sender.id if sender is not None else None
    if sender_id is not None:  # a contractor: their words, not a walkthrough
        return _contractor_voice_note_reply(message, conversation, index, document_id, sender_id)
    property_id = _media_property(message, conversation, document_id)
    if property_id is None:
        return (
            "I saved your voice note. To turn a walkthrough into a rehab budget I need the "
            "property: text me its address, then send the voice note again."
        )
    org_id = message.org_id
    with session_scope() as session:
        defaulted = _default_scope_in_use(session, org_id, property_id)
        try:
            walkthrough = audio_service.start_walkthrough(
                session=session,
                org_id=org_id,
                property_id=property_id,
                document_id=document_id,
                actor=_sender_principal(session, conversation),
            )
        except audio_service.EvidenceNotPermitted as exc:
            session.rollback()
            return _evidence_refused("voice note", str(exc))
        walkthrough_id = walkthrough.id
    outcome = transcribe_walkthrough(str(org_id), str(walkthrough_id))
    if outcome.get("status") == "failed":
        return f"I couldn't transcribe your voice note: {outcome.get('error')}"
    with session_scope() as session:
        done = audio_service.get_walkthrough(
            session=session, org_id=org_id, walkthrough_id=walkthrough_id
        )
        conditions = audio_service.list_conditions(
            session=session, org_id=org_id, walkthrough_id=walkthrough_id
        )
        transcript = (done.transcript or "").strip()
        total = audio_service.rehab_total(done)
        house = _analysed_offer(session, org_id, property_id, conversation.user_id)
    address = house.address
    if property_id == conversation.property_id and conversation.property_address:
        address = conversation.property_address
    heard = transcript if len(transcript) <= 500 else transcript[:497] + "..."
    lines = [f'I heard: "{heard}"' if heard else "I could not make out any words."]
    graded = [c for c in conditions if c.condition]
    ungraded = [_component_said(c) for c in conditions if not c.condition]
    if graded:
        found = "; ".join(
            f"{_component_said(c)} {c.condition}"
            + (
                f" ({whatsapp_service.spoken_quantity(c.quantity, c.unit)})"
                if c.quantity is not None
                else ""
            )
            for c in graded
        )
        lines.append(f"Conditions: {found}.")
    if ungraded:
        lines.append(
            f"Heard but not graded, so not priced: {', '.join(ungraded)}. To price "
            f"{'it' if len(ungraded) == 1 else 'them'}, text the condition, "
            f"e.g. '{ungraded[0]} poor'."
        )
    if not conditions:
        lines.append("I did not hear any components I can price.")
    if total is not None:
        lines.append(f"This note's items: ${total:,.0f}.")
    if house.rehab_total is not None:
        # The house's budget as the chat, REST and PDF give it: every walkthrough and photo
        # (or the deal's estimated repairs), not only this recording's items.
        basis = f" ({house.rehab_basis})" if house.rehab_basis else ""
        lines.append(
            f"New rehab budget for {address or 'the property'}: {house.rehab_total}{basis}."
        )
    if house.max_offer is not None:
        lines.append(f"Max offer: {house.max_offer}.")
    if defaulted and house.walked:
        lines.append("Components not mentioned are no longer priced from the default scope.")
    return "\n".join(lines)


def _component_said(condition: Any) -> str:
    """A heard component as the reply names it ("kitchen cabinets")."""
    return str(condition.component or "component").replace("_", " ")


@dataclass(frozen=True)
class _HouseFigures:
    """The house's figures as its analysis writes them, for the voice-note reply."""

    address: str | None
    rehab_total: str | None = None
    rehab_basis: str | None = None
    """None for the priced scope; else "the deal's estimated repairs"."""
    max_offer: str | None = None
    walked: bool = False
    """the analysis's scope comes from walkthroughs and photos only (no default line)."""


def _priced_from_default(scope: Sequence[Any]) -> bool:
    """True when a scope line is the default scope's (no walkthrough or photo said it)."""
    from domain.analysis.service import CONDITION_FROM

    return any(not (item.notes or "").startswith(CONDITION_FROM) for item in scope)


def _default_scope_in_use(session: Any, org_id: uuid.UUID, property_id: uuid.UUID) -> bool:
    """True when the house's rehab scope (before this note) still prices default lines."""
    from domain.analysis import service as analysis_service
    from domain.property import service as property_service

    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    if prop is None:
        return False
    scope, _ = analysis_service.rehab_scope(session=session, org_id=org_id, prop=prop)
    return _priced_from_default(scope)


def _analysed_offer(
    session: Any, org_id: uuid.UUID, property_id: uuid.UUID, user_id: uuid.UUID | None
) -> _HouseFigures:
    """The house's rehab budget and maximum offer as the chat's analysis gives them to the user.

    The analyze tool's path: the deal the user may see (``relevant_deal`` for their principal:
    an investor's own open deal, else their latest closed one), its price and estimated
    repairs, on the walkthrough just stored. No user, no deal (never every deal of the
    organisation). Figures are left out when the analysis cannot run or has none.
    """
    from domain.analysis import service as analysis_service
    from domain.analysis.formatting import NOT_AVAILABLE
    from domain.auth.service import Principal
    from domain.property import service as property_service

    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    address = analysis_service.address_of(prop) if prop is not None else None
    user = (
        auth_service.get_user(session=session, org_id=org_id, user_id=user_id)
        if user_id is not None
        else None
    )
    deal = (
        analysis_service.relevant_deal(
            session=session,
            org_id=org_id,
            property_id=property_id,
            principal=Principal.from_user(user),
        )
        if user is not None and user.is_active
        else None
    )
    try:
        with session.begin_nested():
            analysis = analysis_service.analyze_property(
                session=session,
                org_id=org_id,
                property_id=property_id,
                deal_id=deal.id if deal is not None else None,
            )
    except (analysis_service.AnalysisError, LookupError, ValueError):
        log.info("no analysis for the voice note reply", extra={"property_id": str(property_id)})
        return _HouseFigures(address=address)
    figures = analysis.figures
    offer = figures.max_offer
    return _HouseFigures(
        address=address,
        rehab_total=figures.rehab_total if figures.rehab_total != NOT_AVAILABLE else None,
        rehab_basis="the deal's estimated repairs"
        if analysis.rehab_total_source.startswith("deal ")
        else analysis_service.PROJECT_BUDGET_SOURCE
        if analysis.rehab_total_source == analysis_service.PROJECT_BUDGET_SOURCE
        else None,
        max_offer=offer if offer and offer != NOT_AVAILABLE else None,
        walked=not _priced_from_default(analysis.rehab.scope),
    )


# --- the worker -------------------------------------------------------------------------

# Imported once in the worker before it forks, so each job's work horse starts warm (the
# agent's LangGraph/LangChain stack alone takes seconds to import).
PRELOAD_MODULES = (
    "agent.runner",
    "tools",
    "workers.reports",
    "reports.property_report",
    "domain.analysis.service",
    "domain.property.service",
)


def preload() -> None:
    """Import the modules a WhatsApp job needs; make sure the sweeper runs (worker start).

    The sweeper is started here, not only by the next webhook: after a crash it re-enqueues
    the accepted messages whose jobs were lost, and lost transcriptions (``sweep_job``).
    """
    import importlib

    for name in PRELOAD_MODULES:
        importlib.import_module(name)
    schedule_sweeper()


# --- the sweeper -------------------------------------------------------------------------


def sweep(
    *, older_than: timedelta = STALE_AFTER, outbound_older_than: timedelta = OUTBOUND_STALE_AFTER
) -> dict[str, int]:
    """Re-enqueue accepted work whose job never finished; close idle conversations."""
    with session_scope() as session:
        stale = whatsapp_service.stale_work(
            session=session, older_than=older_than, outbound_older_than=outbound_older_than
        )
        for message_id in stale.inbound:
            message = session.get(Message, message_id)
            if message is not None:
                whatsapp_service.touch(session=session, message=message)
        closed = whatsapp_service.close_idle_conversations(session=session)
    for message_id in stale.inbound:
        _enqueue_later(process_inbound, str(message_id))
    for message_id in stale.outbound:
        _enqueue_later(send_outbound, str(message_id))
    for message_id in stale.unlinked:
        _enqueue_later(process_unlinked, str(message_id))
    counts = {
        "inbound": len(stale.inbound),
        "outbound": len(stale.outbound),
        "unlinked": len(stale.unlinked),
        "conversations_completed": len(closed),
    }
    if any(counts.values()):
        log.info("whatsapp sweep", extra=counts)
    return counts


def sweep_job() -> dict[str, int]:
    """Job: one sweep, lost transcriptions re-enqueued, then schedule the next sweep.

    ``workers.audio.requeue_stalled`` runs here too, not only when a worker starts: a
    transcription whose worker was killed mid-run would otherwise show ``transcribing``
    until a transcribe worker next starts.
    """
    from workers.main import running_job_id

    try:
        counts = sweep()
        try:
            from workers import audio as audio_jobs

            counts["transcriptions_requeued"] = audio_jobs.requeue_stalled()
        except Exception:  # noqa: BLE001 - the sweep's own work is done; the next one retries
            log.exception("could not re-enqueue stalled transcriptions")
        return counts
    finally:
        schedule_sweeper(continuing=running_job_id())


def schedule_sweeper(*, continuing: str | None = None) -> bool:
    """Keep one sweep scheduled; ``continuing``: the sweep job scheduling its next.

    One chain, whatever restarts or webhooks call it (``workers.main.keep_chain``): a caller
    schedules a sweep only when none will still run; a duplicate chain left from before ends.
    """
    from workers.main import keep_chain

    try:
        return keep_chain(
            SWEEPER_CHAIN, sweep_job, SWEEP_INTERVAL_S, queue=QUEUE, current_job_id=continuing
        )
    except Exception:
        log.exception("could not schedule the WhatsApp sweeper")
        return False
