"""`dealdesk run` (what `make run` calls) brings the whole product up on a fresh data dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serves_ready_with_nothing_configured(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DEALDESK_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, body, started = None, "", time.monotonic()
        while time.monotonic() - started < 120 and proc.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                status, body = response.status_code, response.text
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert status == 200, f"/ready never 200 (last {status} {body})"
        credentials = (data_dir / "demo-credentials.txt").read_text()
        password = credentials.split("password=")[1].strip()
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"username": "admin@demo.dealdesk.dev", "password": password},
        )
        assert login.status_code == 200, login.text
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/users/me",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert me.json()["email"] == "admin@demo.dealdesk.dev"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    # The embedded servers it started are stopped again.
    assert not (data_dir / "pg" / "postmaster.pid").exists(), output
    assert not _redis_running(data_dir), output


def _redis_running(data_dir: Path) -> bool:
    registry = json.loads((data_dir / "redis" / "dealdesk.rdb.settings").read_text())
    pidfile = Path(registry["pidfile"])
    return pidfile.exists() and psutil.pid_exists(int(pidfile.read_text().strip() or 0))
