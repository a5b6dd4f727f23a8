"""`dealdesk run` stopped by a supervisor (SIGTERM, SIGHUP, even SIGKILL) leaves nothing running.

Before the fix, SIGTERM killed the run outright: its RQ workers, relay and embedded servers
kept running as orphans and kept answering jobs with the old settings.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningProduct:
    """A real `dealdesk run` on a free port with its own data directory."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env["DEALDESK_DATA_DIR"] = str(data_dir)
        self._log = log_path.open("w")
        self._started: set[int] = set()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_working(self, timeout_s: float = 120) -> None:
        """Wait for /ready and for both workers and the relay to be at work."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"run exited early:\n{self.output()[-3000:]}"
            output = self.output()
            if (
                output.count("*** Listening on") >= 2
                and "event relay started" in output
                and self._ready()
            ):
                return
            time.sleep(0.5)
        raise AssertionError(f"run never came up:\n{self.output()[-3000:]}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def started_pids(self) -> set[int]:
        """The run, every process below it, its embedded Redis and PostgreSQL."""
        run = psutil.Process(self.proc.pid)
        pids = {run.pid} | {child.pid for child in run.children(recursive=True)}
        registry = json.loads((self.data_dir / "redis" / "dealdesk.rdb.settings").read_text())
        pids.add(int(Path(registry["pidfile"]).read_text().strip()))
        postmaster = (self.data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0]
        pids.add(int(postmaster))
        self._started = pids
        return pids

    def survivors(self, pids: set[int]) -> list[str]:
        """Live processes among ``pids`` or tied to the data directory (cmdline or environment)."""
        marker = str(self.data_dir)
        found = []
        for process in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if process.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                cmdline = " ".join(process.info["cmdline"] or [])
                ours = (
                    process.pid in pids
                    or marker in cmdline
                    or process.environ().get("DEALDESK_DATA_DIR") == marker
                )
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if ours and process.pid != os.getpid():
                found.append(f"{process.pid} {cmdline}")
        return found

    def wait_for_no_survivors(self, pids: set[int], timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while (left := self.survivors(pids)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return left

    def close(self) -> None:
        """Kill whatever a failed test left behind, by pid (never by name)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for line in self.survivors(self._started):
            try:
                psutil.Process(int(line.split()[0])).kill()
            except psutil.NoSuchProcess:
                pass
        self._log.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the module: later runs skip the first run's seeding (~5 s)."""
    return tmp_path_factory.mktemp("run-shutdown") / "data"


@pytest.fixture
def product(data_dir: Path, tmp_path: Path) -> Iterator[RunningProduct]:
    running = RunningProduct(data_dir, tmp_path / "run.log")
    try:
        yield running
    finally:
        running.close()


@pytest.mark.parametrize(
    "signals",
    [
        pytest.param([signal.SIGTERM], id="sigterm"),
        # The second arrives while the workers and servers are being stopped.
        pytest.param([signal.SIGTERM, signal.SIGTERM], id="sigterm-twice"),
        pytest.param([signal.SIGHUP], id="sighup"),
    ],
)
def test_stop_signal_stops_everything_the_run_started(
    product: RunningProduct, signals: list[signal.Signals]
) -> None:
    product.wait_until_working()
    pids = product.started_pids()
    assert len(pids) >= 6, pids  # run, two workers, relay, Redis, PostgreSQL

    for i, sig in enumerate(signals):
        if i:
            time.sleep(1)
        product.proc.send_signal(sig)
    try:
        product.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"run still running 60 s after {signals}:\n{product.output()[-3000:]}")

    output = product.output()
    assert product.proc.returncode == 0, output[-3000:]
    assert f"{signals[0].name} received: stopping" in output
    assert "dealdesk stopped" in output
    if len(signals) > 1:
        assert "SIGTERM received: already stopping" in output
    assert product.wait_for_no_survivors(pids, timeout_s=10) == [], output[-3000:]
    assert not (product.data_dir / "pg" / "postmaster.pid").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="children follow the run via prctl (Linux)")
def test_children_and_servers_stop_when_the_run_is_killed(product: RunningProduct) -> None:
    product.wait_until_working()
    pids = product.started_pids()

    product.proc.kill()
    product.proc.wait(timeout=10)

    # The workers stop on their own; the relay outlives them and stops Redis and PostgreSQL.
    survivors = product.wait_for_no_survivors(pids, timeout_s=60)
    assert survivors == [], product.output()[-3000:]
