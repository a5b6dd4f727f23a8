"""On-call QA of the ``dealdesk`` command line, run as the real command in a subprocess.

Bad arguments, a missing file, a data directory that cannot be used or holds no schema yet, a
database or server that is down: each gets one clear line and a non-zero exit, never a
traceback. ``simulate call`` labels the person called by the call's kind (a seller lead is
"lead", not "contractor"), played against a real ``dealdesk serve``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from pydantic import SecretStr
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from tests.factories import make_org, override_settings
from tests.voice.test_voice_lead_calls import _recorded_lead_call

REPO = Path(__file__).resolve().parents[2]
TOKEN = "qa-cli-voice-token-7"
PUBLIC = "https://dealdesk.example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEALDESK_DEBUG"}
    env["COLUMNS"] = "250"  # rich wraps error boxes at the terminal width
    env.update(extra)
    return env


def _dealdesk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_clean_failure(run: subprocess.CompletedProcess[str], expected: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "Traceback" not in output and 'File "' not in output, output
    assert expected in " ".join(output.split()), output


# --- bad arguments and broken surroundings ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("simulate", "call", "--call", "not-a-uuid"), "--call must be an id (a UUID)"),
        (("simulate", "call", "--contractor", "bob"), "--contractor must be an id (a UUID)"),
        (
            ("simulate", "call", "--call", str(uuid.UUID(int=7)), "--url", "http://127.0.0.1:9"),
            f"no call {uuid.UUID(int=7)}",
        ),
        (("worker", "--queues", "default,nosuch"), "unknown queue(s) nosuch"),
        (("relay", "--interval", "0"), "greater than or equal to 0.05"),
        (("outbox", "--limit", "-1"), "greater than or equal to 1"),
        (("calls", "--limit", "0"), "greater than or equal to 1"),
        (("import", "sales", "/nonexistent/sales.csv"), "no such file"),
        (("monitor", "scan", "/nonexistent/listings.csv"), "no such file"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_a_non_zero_exit(
    args: tuple[str, ...], expected: str
) -> None:
    _assert_clean_failure(_dealdesk(*args, env=_voice_env()), expected)


def test_a_server_that_is_down_is_named_without_a_traceback() -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    run = _dealdesk("simulate", "whatsapp", "hello", "--url", down, "--wait", "1", env=_voice_env())
    _assert_clean_failure(run, f"Could not reach {down}")


def test_a_data_dir_with_no_schema_says_run_migrate(tmp_path: Path) -> None:
    env = _env(DEALDESK_DATA_DIR=str(tmp_path / "fresh"))
    for command in (("calls",), ("outbox",), ("token", "create", "a@example.com")):
        _assert_clean_failure(_dealdesk(*command, env=env), "run `dealdesk migrate`")


def test_a_data_dir_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = _env(DEALDESK_DATA_DIR=str(blocker / "data"))
    _assert_clean_failure(_dealdesk("migrate", env=env), str(blocker))


def test_a_database_that_is_down_is_reported_with_its_password_masked() -> None:
    url = f"postgresql+psycopg://ops:hunter2secret@127.0.0.1:{_free_port()}/dealdesk"
    run = _dealdesk("token", "create", "a@example.com", env=_env(DATABASE_URL=url))
    _assert_clean_failure(run, "cannot reach the database")
    assert "hunter2secret" not in run.stdout + run.stderr


# --- help texts ------------------------------------------------------------------------------


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path under a click group (typer builds its own click classes)."""
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_has_help_that_runs() -> None:
    root = typer.main.get_command(app)
    found = list(_commands(root))
    assert ("simulate", "call") in found and ("worker",) in found
    runner = CliRunner()
    for path in found:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output, path
    simulate = runner.invoke(app, ["simulate", "--help"]).output
    assert "WhatsApp" in simulate and "calls" in simulate


# --- simulate call against a seller lead -----------------------------------------------------


@pytest.fixture
def server(committed_db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real ``dealdesk serve`` on the test data dir, with a webhook token and public URL."""
    override_settings(
        monkeypatch,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_account_sid=None,
        public_base_url=PUBLIC,
        voice_callback_number="+13135550199",
    )
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        cwd=REPO,
        env=_voice_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while time.monotonic() - started < 90 and proc.poll() is None:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"dealdesk serve never answered /health (exit {proc.poll()})")
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _voice_env() -> dict[str, str]:
    return _env(
        TWILIO_AUTH_TOKEN=TOKEN,
        PUBLIC_BASE_URL=PUBLIC,
        VOICE_CALLBACK_NUMBER="+13135550199",
    )


def test_simulate_call_labels_a_seller_lead_as_the_lead(server: str, committed_db: Session) -> None:
    org = make_org(committed_db)
    call_id = _recorded_lead_call(committed_db, org.id)
    committed_db.commit()

    run = _dealdesk(
        "simulate",
        "call",
        "--call",
        str(call_id),
        "--say",
        "Yes",
        "--say",
        "In two months",
        "--url",
        server,
        env=_voice_env(),
    )

    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "lead: Yes" in lines and "lead: In two months" in lines, run.stdout
    assert not any(line.startswith("contractor:") for line in lines), run.stdout
    # The stored transcript (printed after the conversation) agrees.
    assert any(line.split()[1:3] == ["lead", "Yes"] for line in lines if line.startswith("  ")), (
        run.stdout
    )
