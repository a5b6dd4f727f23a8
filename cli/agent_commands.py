"""`dealdesk chat [--as EMAIL]`: a terminal conversation with the same agent the channels use.

Each line read from stdin is one turn (``agent.runner.run_turn`` on the ``cli`` channel); the
reply goes to stdout, tool progress to stderr. Without ``--as`` it talks as the demo admin.
An empty line, ``exit`` or end of input ends the conversation; ``--thread`` continues an
earlier one.

Report links in the replies are built on PUBLIC_BASE_URL. This process is not the server and
cannot know which port one was started on (``dealdesk serve --port 8712`` sets the URL only for
itself and its workers), so pass ``--url http://127.0.0.1:8712`` (or set PUBLIC_BASE_URL) when
the server is not on the default http://127.0.0.1:8000; the first line printed names the base.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Annotated
from urllib.parse import urlsplit

import typer

from store import embedded

DEMO_ADMIN_EMAIL = "admin@demo.dealdesk.dev"


def chat(
    as_email: Annotated[
        str | None,
        typer.Option("--as", help="Talk as this user (their organisation and role)."),
    ] = None,
    thread: Annotated[
        str | None, typer.Option(help="Continue this conversation thread (printed at start).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="The server's base URL for report links, e.g. http://127.0.0.1:8712 after "
            "`dealdesk serve --port 8712` (default: PUBLIC_BASE_URL)."
        ),
    ] = None,
) -> None:
    """Talk to the dealdesk agent in the terminal (one line per message)."""
    from core.config import get_settings

    if url is not None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise typer.BadParameter(
                f"{url!r} is not an http(s) URL such as http://127.0.0.1:8712", param_hint="--url"
            )
        os.environ["PUBLIC_BASE_URL"] = url.strip().rstrip("/")
        get_settings.cache_clear()
    from agent.llm import chat_model, model_name
    from agent.runner import TurnRequest, run_turn
    from domain.auth import service as auth_service
    from domain.auth.enums import Role
    from store import migrate as migrations
    from store.db import session_scope

    try:
        migrations.upgrade("head")
        email = (as_email or DEMO_ADMIN_EMAIL).strip().lower()
        with session_scope() as session:
            user = auth_service.get_user_by_email(session=session, email=email)
            if user is None or not user.is_active:
                hint = "" if as_email else " (run `dealdesk seed-demo`, or pass --as EMAIL)"
                raise typer.BadParameter(f"no active user {email!r}{hint}", param_hint="--as")
            org_id, user_id, role = user.org_id, user.id, Role(user.role)
        thread_id = thread or f"cli:{email}:{uuid.uuid4().hex[:12]}"
        model = chat_model()
        typer.echo(
            f"dealdesk chat as {email} ({role.value}), model {model_name(model)}, "
            f"thread {thread_id}. Empty line or 'exit' to leave.",
            err=True,
        )
        typer.echo(
            f"report links on {get_settings().public_base_url.rstrip('/')} "
            "(--url or PUBLIC_BASE_URL: the address your `dealdesk serve` answers on)",
            err=True,
        )
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                typer.echo("you> ", nl=False, err=True)
            line = sys.stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text or text.lower() in {"exit", "quit", "bye"}:
                break
            result = run_turn(
                TurnRequest(
                    org_id=org_id,
                    user_id=user_id,
                    role=role,
                    channel="cli",
                    thread_id=thread_id,
                    text=text,
                ),
                on_progress=lambda note: typer.echo(f"  {note}", err=True),
                model=model,
            )
            typer.echo(result.reply)
            typer.echo("")
    finally:
        embedded.stop_all()


def _register() -> None:
    """Add ``chat`` to the top-level app of whichever module is running the CLI.

    ``cli.main`` imports this module at its end; under ``python -m cli.main`` that module is
    ``__main__`` (importing ``cli.main`` again would build a second app), so look in both.
    """
    for name in ("cli.main", "__main__"):
        app = getattr(sys.modules.get(name), "app", None)
        if isinstance(app, typer.Typer) and not any(
            command.name == "chat" for command in app.registered_commands
        ):
            app.command("chat")(chat)


_register()
