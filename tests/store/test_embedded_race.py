"""Processes that start at the same moment share one embedded Redis (the `dealdesk run` case)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys, time
from pathlib import Path
from store import embedded
url = embedded.start_redis(Path(sys.argv[1]))
print(url, flush=True)
sys.stdin.readline()  # hold the server until the test has seen every process's URL
embedded.stop_all()
"""


def test_simultaneous_starts_agree_on_one_server(tmp_path: Path) -> None:
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        urls = {proc.stdout.readline().strip() for proc in procs if proc.stdout}
        assert len(urls) == 1, urls
        sockets = [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"]
            and "redis-server" in p.info["cmdline"][0]
            and any(next(iter(urls)).removeprefix("unix://") in arg for arg in p.info["cmdline"])
        ]
        assert len(sockets) == 1
    finally:
        for proc in procs:
            if proc.stdin:
                proc.stdin.write("\n")
                proc.stdin.flush()
        for proc in procs:
            proc.wait(timeout=60)
