"""`dealdesk simulate call --contractor ID --say "…" --say "…"` and `dealdesk calls`.

``simulate call`` plays a scripted contractor (or, with ``--call``, whoever a queued call is
to: a contractor or a seller lead, each labelled so) against the running server's TwiML webhooks,
each post signed exactly as Twilio signs it (PUBLIC_BASE_URL + path + query and the sorted
form fields, keyed by TWILIO_AUTH_TOKEN or the dev token in development): it answers the call
(as a person, or ``--answered-by machine_end_beep`` for a voicemail), says each ``--say`` line
in turn to the ``<Gather>`` the server asked for, ends with Twilio's ``completed`` status
callback, then prints the transcript and the bid taken from it. With ``--contractor`` it
creates the call first (in the outbox, never dialled); ``--call`` plays an existing queued
call (one ``POST /calls/initiate`` recorded without Twilio credentials).

``calls`` lists the latest calls: status, outcome, and for calls recorded in the outbox the
TwiML URL and why they were not placed.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import typer
from rich.console import Console

from cli.whatsapp_commands import signed_webhook, simulate_app
from core.config import get_settings, signing_base_url
from store import embedded

console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False, markup=False)

# (signed URL, form fields, headers) -> (HTTP status, body)
Poster = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]


@dataclass(frozen=True)
class TwimlTurn:
    """What one TwiML answer asked the caller to do."""

    says: list[str]
    gather_action: str | None
    hangup: bool


def read_twiml(body: str) -> TwimlTurn:
    """The spoken text, the ``<Gather>`` action and whether it hangs up."""
    root = ET.fromstring(body)
    says = [(node.text or "").strip() for node in root.iter("Say")]
    gather = root.find("Gather")
    return TwimlTurn(
        says=says,
        gather_action=gather.get("action") if gather is not None else None,
        hangup=root.find("Hangup") is not None,
    )


@dataclass
class Conversation:
    """A simulated call as it went: the lines spoken, the HTTP statuses seen."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hung_up: bool = False


def simulate_conversation(
    post: Poster,
    *,
    call_id: uuid.UUID,
    says: list[str],
    token: str,
    public_base_url: str,
    call_sid: str | None = None,
    answered_by: str = "human",
    to_number: str = "+13125550100",
    from_number: str = "+13135550199",
    callee: str = "contractor",
) -> Conversation:
    """Play the person called saying ``says`` against a call's webhooks, signed as Twilio signs.

    ``callee`` labels their lines: ``contractor``, or ``lead`` on a seller lead's call.
    """
    sid = call_sid or "CA" + uuid.uuid4().hex
    base = public_base_url.rstrip("/")
    common = {
        "CallSid": sid,
        "AccountSid": get_settings().twilio_account_sid or "AC" + "0" * 32,
        "From": from_number,
        "To": to_number,
        "Direction": "outbound-api",
    }
    conversation = Conversation()

    def send(url: str, params: dict[str, str]) -> str | None:
        data, headers = signed_webhook(url=url, params=params, token=token)
        status, body = post(url, data, headers)
        conversation.statuses.append(status)
        return body if status == 200 else None

    answer_url = f"{base}/api/v1/webhook/voice/{call_id}/answer"
    body = send(answer_url, {**common, "CallStatus": "in-progress", "AnsweredBy": answered_by})
    script = list(says)
    while body is not None:
        turn = read_twiml(body)
        conversation.lines.extend(("agent", text) for text in turn.says if text)
        if turn.hangup or turn.gather_action is None:
            conversation.hung_up = turn.hangup
            break
        if not script:
            break  # the contractor hangs up
        line = script.pop(0)
        conversation.lines.append((callee, line))
        body = send(
            turn.gather_action,
            {**common, "CallStatus": "in-progress", "SpeechResult": line, "Confidence": "0.92"},
        )
    duration = str(15 + 10 * len(says))
    send(
        f"{base}/api/v1/webhook/voice/{call_id}/status",
        {**common, "CallStatus": "completed", "CallDuration": duration, "AnsweredBy": answered_by},
    )
    return conversation


def _http_poster(target_base: str, public_base: str) -> Poster:
    """Post to the running server: the URL Twilio signed, moved onto ``target_base``."""

    def post(url: str, data: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        target = target_base.rstrip("/") + url[len(public_base.rstrip("/")) :]
        response = httpx.post(target, data=data, headers=headers, timeout=20)
        return response.status_code, response.text

    return post


def _uuid_option(value: str, option: str) -> uuid.UUID:
    """``value`` as a UUID, or a usage error naming the option."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{option} must be an id (a UUID), not {value!r}") from None


def _callee(call_id: uuid.UUID) -> str:
    """How to label the person called: ``lead`` on a seller lead's call, else ``contractor``."""
    from domain.voice.enums import Speaker
    from domain.voice.models import Call
    from store.db import session_scope

    with session_scope() as session:
        call = session.get(Call, call_id)
        if call is None:
            raise typer.BadParameter(f"no call {call_id} (see `dealdesk calls`)")
        return Speaker.callee(call.purpose).value


def _create_call(org_slug: str, contractor: str, project: str | None, purpose: str) -> uuid.UUID:
    """A queued call to the contractor, in the outbox (never dialled)."""
    from domain.auth import service as auth_service
    from domain.voice import service
    from domain.voice.enums import CallPurpose
    from store.db import session_scope

    with session_scope() as session:
        org = auth_service.get_organisation_by_slug(session=session, slug=org_slug)
        if org is None:
            raise typer.BadParameter(f"no organisation {org_slug!r} (see `dealdesk seed-demo`)")
        try:
            result = service.request_call(
                session=session,
                org_id=org.id,
                contractor_id=_uuid_option(contractor, "--contractor"),
                project_id=_uuid_option(project, "--project") if project else None,
                purpose=CallPurpose(purpose),
                ignore_hours=True,
            )
        except (service.CallNotFound, service.OptedOut, service.VoiceInputError) as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        assert result.call is not None
        service.mark_recorded(session=session, call=result.call, note="simulated call")
        return result.call.id


def _print_result(call_id: uuid.UUID) -> None:
    """The stored transcript, the facts and the bid taken."""
    from domain.construction import service as construction_service
    from domain.voice.models import Call, CallTranscript
    from store.db import session_scope

    with session_scope() as session:
        call = session.get(Call, call_id)
        if call is None:
            console.print(f"[red]call {call_id} not found[/]")
            raise typer.Exit(1)
        from sqlmodel import col, select

        turns = session.exec(
            select(CallTranscript)
            .where(CallTranscript.call_id == call_id)
            .order_by(col(CallTranscript.turn))
        ).all()
        out.print(f"call {call.id}: {call.status}, outcome {call.outcome or 'none'}")
        out.print("transcript:")
        for turn in turns:
            out.print(f"  {turn.turn:>2} {turn.speaker:<10} {turn.text}")
        facts = (call.outcome_data or {}).get("facts") or {}
        out.print(f"facts: {facts}")
        bid = construction_service.bid_for_call(
            session=session, org_id=call.org_id, call_id=call.id
        )
        if bid is None:
            out.print("bid: none")
        else:
            lines = ", ".join(
                f"{line['scope_item_id']}={line['amount']}" for line in bid.line_items
            )
            out.print(
                f"bid {bid.id}: total {bid.total_amount}, lines [{lines}], start {bid.start_date}, "
                f"{bid.duration_days} days, exclusions {bid.exclusions or 'none'}"
            )
        for item in (call.outcome_data or {}).get("action_items") or []:
            out.print(f"action: {item.get('text')}")


@simulate_app.command("call")
def simulate_call(
    say: Annotated[
        list[str] | None, typer.Option("--say", help="What the person called says (repeatable).")
    ] = None,
    contractor: Annotated[
        str | None, typer.Option(help="Contractor id: create a call to them first.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="The project the call is about.")] = None,
    purpose: Annotated[str, typer.Option(help="bid_request, scheduling, follow_up ...")] = (
        "bid_request"
    ),
    call: Annotated[
        str | None, typer.Option("--call", help="Play an existing queued call.")
    ] = None,
    org: Annotated[str, typer.Option(help="The contractor's organisation (slug).")] = "demo",
    answered_by: Annotated[
        str, typer.Option(help="human, or machine_end_beep for a voicemail.")
    ] = "human",
    url: Annotated[
        str | None, typer.Option(help="The server's base URL (default PUBLIC_BASE_URL).")
    ] = None,
) -> None:
    """Play the person called (contractor or seller lead) against the server's TwiML webhooks."""
    settings = get_settings()
    token = settings.webhook_auth_token
    if not token:
        console.print(
            "[red]No TWILIO_AUTH_TOKEN is set and DEALDESK_ENV is not development: the server "
            "refuses every webhook, so there is nothing to sign with.[/]"
        )
        raise typer.Exit(2)
    if (call is None) == (contractor is None):
        raise typer.BadParameter("give --contractor ID (a new call) or --call ID (a queued one)")
    # Check the ids before anything touches the database or the server.
    queued_call = _uuid_option(call, "--call") if call else None
    if contractor is not None:
        _uuid_option(contractor, "--contractor")
    if project is not None:
        _uuid_option(project, "--project")
    try:
        call_id = queued_call or _create_call(org, contractor or "", project, purpose)
        callee = _callee(call_id)
        target = url or settings.public_base_url
        signed_base = signing_base_url(settings, url)
        try:
            conversation = simulate_conversation(
                _http_poster(target, signed_base),
                call_id=call_id,
                says=say or [],
                token=token,
                public_base_url=signed_base,
                answered_by=answered_by,
                callee=callee,
            )
        except httpx.HTTPError as exc:
            console.print(f"[red]Could not reach {target}: {exc}. Is `make run` running?[/]")
            raise typer.Exit(1) from exc
        for speaker, text in conversation.lines:
            out.print(f"{speaker}: {text}")
        if any(status != 200 for status in conversation.statuses):
            console.print(f"[yellow]webhook statuses: {conversation.statuses}[/]")
        _print_result(call_id)
    finally:
        embedded.stop_all()


def calls(
    limit: Annotated[int, typer.Option(help="How many calls to show.", min=1)] = 20,
    org: Annotated[str, typer.Option(help="The organisation (slug).")] = "demo",
    url: Annotated[
        str | None,
        typer.Option(
            help="The running server, e.g. http://127.0.0.1:8712 after `dealdesk run --port "
            "8712`: TwiML URLs on the base it serves them at (default: PUBLIC_BASE_URL)."
        ),
    ] = None,
) -> None:
    """List the latest calls (those recorded in the outbox show their TwiML URL).

    The URLs use the base the server itself uses (``GET /calls``): PUBLIC_BASE_URL when set,
    else the ``--url`` server's own address, as ``simulate call`` signs its posts.
    """
    from domain.auth import service as auth_service
    from domain.voice import service
    from store.db import session_scope

    base = signing_base_url(get_settings(), url)

    try:
        with session_scope() as session:
            organisation = auth_service.get_organisation_by_slug(session=session, slug=org)
            if organisation is None:
                console.print(f"[red]no organisation {org!r}[/]")
                raise typer.Exit(1)
            found = service.list_calls(session=session, org_id=organisation.id, limit=limit)
            if not found:
                console.print("no calls yet")
            for row in found:
                out.print(
                    f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.id} → {row.to_number} "
                    f"[{row.status}] {row.purpose} outcome={row.outcome or '-'}"
                )
                if row.note:
                    out.print(f"  {row.note}")
                    out.print(f"  TwiML: {service.twiml_url(row.id, base=base)}")
    finally:
        embedded.stop_all()


def _register() -> None:
    """Add `calls` to the root `dealdesk` app (``simulate call`` rides on `simulate`)."""
    import sys

    for name in ("cli.main", "__main__"):
        module = sys.modules.get(name)
        root = getattr(module, "app", None)
        if not isinstance(root, typer.Typer) or not hasattr(module, "COMMAND_MODULES"):
            continue
        if not any(command.name == "calls" for command in root.registered_commands):
            root.command("calls")(calls)


_register()
