"""`dealdesk simulate whatsapp --from +1... "TEXT"` and `dealdesk outbox`.

``simulate whatsapp`` posts a webhook signed exactly as Twilio signs it (HMAC-SHA1 over
PUBLIC_BASE_URL + path and the sorted form fields, keyed by TWILIO_AUTH_TOKEN, or the dev
token in development) to the running server, then polls the outbox in the database for the
replies to that message and prints them (and the report link). ``outbox`` lists the
outbound messages recorded or sent.
"""

from __future__ import annotations

import mimetypes
import sys
import time
import urllib.parse
import uuid
from typing import Annotated

import httpx
import typer
from rich.console import Console
from twilio.request_validator import RequestValidator

from core.config import get_settings, signing_base_url
from store import embedded

console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False, markup=False)

simulate_app = typer.Typer(
    help="Play Twilio against the running server: signed WhatsApp messages and answered calls.",
    no_args_is_help=True,
)
WEBHOOK_PATH = "/api/v1/webhook/whatsapp"


def signed_webhook(
    *, url: str, params: dict[str, str], token: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The form fields and headers of a webhook post signed as Twilio signs it."""
    signature = RequestValidator(token).compute_signature(url, params)
    return params, {"X-Twilio-Signature": signature}


def simulated_params(*, phone: str, text: str, media_urls: list[str]) -> dict[str, str]:
    """Twilio's WhatsApp webhook fields for a message from ``phone``."""
    sid = "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": get_settings().twilio_account_sid or "AC" + "0" * 32,
        "From": f"whatsapp:{phone}",
        "To": f"whatsapp:{get_settings().twilio_whatsapp_from or '+14155238886'}",
        "Body": text,
        "NumMedia": str(len(media_urls)),
        "ProfileName": "Simulated",
    }
    for index, media_url in enumerate(media_urls):
        params[f"MediaUrl{index}"] = media_url
        params[f"MediaContentType{index}"] = media_type_of(media_url)
    return params


def media_type_of(media_url: str) -> str:
    """The content type Twilio would send for a file at ``media_url``, from its extension.

    A voice note (``.ogg``, ``.mp3``, ``.m4a``…) is audio, a photo an image, a ``.pdf`` a PDF
    (which the server declines); a URL with no known extension is sent as ``image/jpeg``,
    WhatsApp's usual photo type.
    """
    path = urllib.parse.urlsplit(media_url).path.lower()
    if path.endswith((".ogg", ".oga", ".opus")):
        return "audio/ogg"  # WhatsApp's voice notes (mimetypes has no .opus)
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "image/jpeg"


def _replies_to(sid: str) -> tuple[str | None, list[tuple[str, str, list[str]]], bool]:
    """(inbound status, [(status, text, media urls)] of its replies, linked) from the database."""
    from sqlmodel import Session, col, select

    from domain.whatsapp.enums import MessageDirection
    from domain.whatsapp.models import Message, UnlinkedMessage
    from store.db import get_engine

    with Session(get_engine()) as session:
        inbound = session.exec(select(Message).where(Message.message_sid == sid)).first()
        if inbound is None:
            unlinked = session.exec(
                select(UnlinkedMessage).where(UnlinkedMessage.message_sid == sid)
            ).first()
            if unlinked is None:
                return None, [], False
            replies: list[tuple[str, str, list[str]]] = (
                [(str(unlinked.reply_status), unlinked.reply_content or "", [])]
                if unlinked.reply_content
                else []
            )
            return str(unlinked.reply_status), replies, False
        outbound = session.exec(
            select(Message)
            .where(
                Message.direction == MessageDirection.outbound,
                Message.reply_to_id == inbound.id,
            )
            .order_by(col(Message.created_at))
        ).all()
        return (
            str(inbound.status),
            [
                (
                    str(m.status),
                    m.content or "",
                    [str(i["url"]) for i in m.media if i.get("url")],
                )
                for m in outbound
                if str(m.status) in ("recorded", "sent", "delivered", "read", "failed")
            ],
            True,
        )


@simulate_app.command("whatsapp")
def simulate_whatsapp(
    text: Annotated[str, typer.Argument(help="The message text.")],
    from_: Annotated[
        str, typer.Option("--from", help="The sender's number (E.164), a seeded investor's.")
    ] = "+13135550100",
    url: Annotated[
        str | None, typer.Option(help="The server's base URL (default PUBLIC_BASE_URL).")
    ] = None,
    media_url: Annotated[
        list[str] | None,
        typer.Option(
            "--media-url",
            help="A MediaUrl to attach (repeatable); its type follows the extension "
            "(.ogg/.mp3/.m4a/.wav a voice note, else a photo).",
        ),
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the reply.")] = 30.0,
    forge: Annotated[
        bool, typer.Option(help="Send a wrong signature (the server must answer 403).")
    ] = False,
) -> None:
    """Post a correctly signed WhatsApp webhook to the running server and print the reply."""
    settings = get_settings()
    token = settings.webhook_auth_token
    if not token:
        console.print(
            "[red]No TWILIO_AUTH_TOKEN is set and DEALDESK_ENV is not development: the server "
            "refuses every webhook, so there is nothing to sign with.[/]"
        )
        raise typer.Exit(2)
    # Twilio signs the public URL; the post goes wherever the server listens.
    signed_url = signing_base_url(settings, url).rstrip("/") + WEBHOOK_PATH
    target = (url or settings.public_base_url).rstrip("/") + WEBHOOK_PATH
    params = simulated_params(phone=from_, text=text, media_urls=media_url or [])
    data, headers = signed_webhook(url=signed_url, params=params, token=token)
    if forge:
        headers["X-Twilio-Signature"] = "forged" + headers["X-Twilio-Signature"][6:]
    started = time.monotonic()
    try:
        response = httpx.post(target, data=data, headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        console.print(f"[red]Could not reach {target}: {exc}. Is `make run` running?[/]")
        raise typer.Exit(1) from exc
    console.print(f"webhook → HTTP {response.status_code} ({params['MessageSid']})")
    if response.status_code != 200:
        out.print(response.text)
        raise typer.Exit(0 if forge and response.status_code == 403 else 1)
    try:
        _print_replies(params["MessageSid"], wait_s=wait, started=started)
    finally:
        embedded.stop_all()


def _print_replies(sid: str, *, wait_s: float, started: float) -> None:
    """Poll the outbox until the message is answered, and print the replies."""
    deadline = started + wait_s
    printed = 0
    status: str | None = None
    settle_until: float | None = None
    last_reply_s = 0.0
    while time.monotonic() < deadline:
        status, replies, linked = _replies_to(sid)
        for reply_status, body, media in replies[printed:]:
            out.print(f"[{reply_status}] {body}")
            for media_link in media:
                if media_link not in body:
                    out.print(f"  media: {media_link}")
            printed += 1
            last_reply_s = time.monotonic() - started
        done = status in ("processed", "failed") or (not linked and printed > 0)
        if done and printed:
            # A report link can follow the text reply by a moment.
            settle_until = settle_until or time.monotonic() + 1.5
            if time.monotonic() >= settle_until:
                break
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    if not printed:
        console.print(
            f"[yellow]No reply after {elapsed:.1f} s (message {status or 'not found'}). Is the "
            "worker running (`make run` starts one)?[/]"
        )
        raise typer.Exit(1)
    console.print(f"answered in {last_reply_s:.1f} s (last reply)")


def outbox(
    limit: Annotated[int, typer.Option(help="How many messages to show.", min=1)] = 20,
    phone: Annotated[str | None, typer.Option(help="Only messages to this number.")] = None,
) -> None:
    """List outbound WhatsApp messages (recorded without Twilio credentials, or sent)."""
    from domain.whatsapp import service as whatsapp_service
    from store.db import session_scope

    try:
        with session_scope() as session:
            entries = whatsapp_service.list_outbox(session=session, phone_number=phone, limit=limit)
        if not entries:
            console.print("the outbox is empty")
        for entry in entries:
            out.print(
                f"{entry.created_at:%Y-%m-%d %H:%M:%S} → {entry.to} [{entry.status}]"
                + (f" template {entry.content_sid}" if entry.content_sid else "")
            )
            out.print(f"  {entry.body}")
            for media_link in entry.media_urls:
                if media_link not in (entry.body or ""):
                    out.print(f"  media: {media_link}")
            if entry.error:
                out.print(f"  error: {entry.error.splitlines()[0]}")
    finally:
        embedded.stop_all()


def _register() -> None:
    """Add `simulate` and `outbox` to the root `dealdesk` app that is importing this module.

    ``cli.main`` builds its app and then imports the command modules; run as ``dealdesk``
    the app lives in ``cli.main``, run as ``python -m cli.main`` in ``__main__``.
    """
    for name in ("cli.main", "__main__"):
        module = sys.modules.get(name)
        root = getattr(module, "app", None)
        if not isinstance(root, typer.Typer) or not hasattr(module, "COMMAND_MODULES"):
            continue
        if not any(group.name == "simulate" for group in root.registered_groups):
            root.add_typer(simulate_app, name="simulate")
        if not any(command.name == "outbox" for command in root.registered_commands):
            root.command("outbox")(outbox)


_register()
