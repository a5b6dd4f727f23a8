"""The ``dealdesk`` command line: serve, worker, migrate, seed-demo, user/token admin, run."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from cli.groups import bench_app, import_app, vision_app
from core.config import get_settings
from store import embedded

if TYPE_CHECKING:
    import psutil
    import uvicorn

log = logging.getLogger("dealdesk.run")
# Set to see the traceback of a command that failed (otherwise: one line saying why).
DEBUG_ENV = "DEALDESK_DEBUG"


def describe_failure(exc: BaseException) -> str:
    """One line for the terminal saying why a command failed, and what to do about it."""
    import sqlalchemy.exc
    from redis.exceptions import ConnectionError as RedisConnectionError

    from core.observability import mask

    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        detail = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if sqlstate in ("42P01", "3F000"):  # undefined table / schema: never migrated
            return f"the database has no dealdesk schema yet ({detail}); run `dealdesk migrate`"
        if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return f"cannot reach the database: {mask(detail)}"
        return f"database error: {mask(detail)}"
    if isinstance(exc, RedisConnectionError):
        return f"cannot reach Redis: {mask(first_line)}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return f"{type(exc).__name__}: {mask(first_line)} (set {DEBUG_ENV}=1 to see the traceback)"


class DealdeskTyper(typer.Typer):
    """The root command: a failure ends in one line on stderr and exit status 1, no traceback."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        """Run the command line; turn an unexpected exception into one clear line."""
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            Console(stderr=True, highlight=False).print(
                f"dealdesk: {describe_failure(exc)}", markup=False, soft_wrap=True
            )
            raise SystemExit(1) from None


app = DealdeskTyper(
    help="dealdesk: deal analysis assistant for real-estate investors.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(import_app, name="import")
app.add_typer(bench_app, name="bench")
app.add_typer(vision_app, name="vision")

console = Console(stderr=True)

HostOpt = Annotated[str, typer.Option(help="Interface to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]

# Set in the children `dealdesk run` starts: its pid (they stop when it dies, even by SIGKILL),
# and for the relay the workers' pids (it stops the run's Redis after them if the run died).
RUN_PID_ENV = "DEALDESK_RUN_PID"
RUN_WORKER_PIDS_ENV = "DEALDESK_RUN_WORKER_PIDS"
# uvicorn's exit status when the server never started (what `uvicorn.run` exits with).
STARTUP_FAILURE = 3


class StopRequested(BaseException):
    """A stop signal (SIGTERM, SIGHUP, or SIGINT caught by uvicorn) unwinds like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        """Remember which signal asked."""
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)


def _stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP unwind like Ctrl-C, so ``finally`` stops what was started."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop_requested)


def _raise_stop_requested(signum: int, _frame: FrameType | None) -> None:
    """Signal handler: raise StopRequested in the main thread, once."""
    _ignore_stop_signals()  # a second signal must not cut the cleanup short
    raise StopRequested(signum)


def _ignore_stop_signals() -> None:
    """While shutting down, note further stop signals instead of acting on them."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _note_signal_while_stopping)


def _note_signal_while_stopping(signum: int, _frame: FrameType | None) -> None:
    """Signal handler during shutdown: say so and carry on stopping."""
    console.print(f"{signal.Signals(signum).name} received: already stopping")


def _public_url_for(host: str, port: int) -> None:
    """Without PUBLIC_BASE_URL, links and signature checks name the port actually served on.

    The default (port 8000) would send report links and call webhooks to the wrong port
    after ``--port 8129``. Set before any child starts, so the workers and relay agree.
    """
    from core.config import local_base_url, public_url_is_set

    if not public_url_is_set(get_settings()):
        os.environ["PUBLIC_BASE_URL"] = local_base_url(host, port)
        get_settings.cache_clear()


def forwarded_header_options() -> dict[str, Any]:
    """The uvicorn options for forwarded headers: believed only from trusted proxies.

    uvicorn's ``proxy_headers`` would believe ``X-Forwarded-For`` from 127.0.0.1 (any local
    process, or a client reaching us through a local tunnel), so anyone could pick the address
    the sign-in lockout and the audit log see. Only ``DEALDESK_TRUSTED_PROXIES`` are believed
    (normalised, so uvicorn reads each entry as the setting means it); none by default. Every
    way of serving the API uses these (``dealdesk serve`` / ``run``, ``python app.py``).
    """
    proxies = get_settings().trusted_proxy_list
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies}


def _uvicorn_config(host: str, port: int) -> uvicorn.Config:
    """The API server's uvicorn config (forwarded headers: ``forwarded_header_options``)."""
    import uvicorn

    return uvicorn.Config(
        "app:app", host=host, port=port, log_config=None, **forwarded_header_options()
    )


def _serve_api(
    host: str, port: int, alongside: Callable[[uvicorn.Server], None] | None = None
) -> None:
    """Serve the API until Ctrl-C, SIGTERM or SIGHUP, each ending it gracefully.

    ``alongside(server)`` is called before serving (``run`` starts its supervisor thread
    there, which may end the server with ``server.should_exit``).
    """
    import uvicorn

    server = uvicorn.Server(_uvicorn_config(host, port))
    if alongside is not None:
        alongside(server)
    stops: list[int] = []  # stop signals uvicorn does not raise again

    def on_hangup(signum: int, _frame: FrameType | None) -> None:
        # uvicorn listens for SIGINT and SIGTERM only; SIGHUP would otherwise abort its loop.
        stops.append(signum)
        server.should_exit = True

    previous = signal.signal(signal.SIGHUP, on_hangup)
    try:
        server.run()  # re-raises a SIGINT or SIGTERM it received once it has shut down
    except KeyboardInterrupt:
        stops.append(signal.SIGINT)  # Ctrl-C ends a clean stop, as with `uvicorn.run`
    finally:
        signal.signal(signal.SIGHUP, previous)
    if stops:
        _raise_stop_requested(stops[0], None)
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def _die_with_run() -> None:
    """In a child of `dealdesk run` on Linux: get SIGTERM when the run dies, even by SIGKILL."""
    parent = os.environ.get(RUN_PID_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1  # from <sys/prctl.h>
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
        console.print(f"cannot follow dealdesk run (prctl errno {ctypes.get_errno()})")
    elif os.getppid() != int(parent):  # the run died before the request took effect
        raise SystemExit(f"dealdesk run (pid {parent}) is gone; not starting")


def _run_siblings(parent: str) -> list[psutil.Process]:
    """The other live children of the same `dealdesk run` (workers restarted since the relay)."""
    import psutil

    siblings = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(RUN_PID_ENV) == parent:
                siblings.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return siblings


def _adopt_redis_if_run_died() -> None:
    """In the relay of a run that died: once its workers are gone, stop the Redis it owned."""
    import psutil

    parent = os.environ.get(RUN_PID_ENV)
    if not parent:
        return  # not a child of `dealdesk run`
    workers = []
    for pid in os.environ.get(RUN_WORKER_PIDS_ENV, "").split(","):
        try:
            workers.append(psutil.Process(int(pid)))
        except (ValueError, psutil.NoSuchProcess):
            continue
    if os.getppid() != int(parent):  # the run died: wait for the workers it restarted too
        known = {worker.pid for worker in workers}
        workers += [p for p in _run_siblings(parent) if p.pid not in known]
    # The workers are stopping too (the run's SIGTERM, or their own death signal). Only after
    # them can a dying run be told from a live one: the death signal comes when the run's main
    # thread exits, while the process may still be there for a moment.
    psutil.wait_procs(workers, timeout=30)
    if os.getppid() == int(parent):
        return  # the run is alive and stops its Redis itself
    settings = get_settings()
    if not settings.redis_url:
        embedded.adopt_redis(settings.data_path)


def _setup_logging() -> None:
    from core.observability import setup_logging

    setup_logging(get_settings().log_level)


def _describe_stack() -> str:
    settings = get_settings()
    db = "external DATABASE_URL" if settings.database_url else "embedded PostgreSQL"
    redis = "external REDIS_URL" if settings.redis_url else "embedded Redis"
    return f"{db}, {redis}, data in {settings.data_path}"


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION.")] = False,
) -> None:
    """Upgrade (or with --down, downgrade) the database schema."""
    from store import migrate as migrations

    try:
        if down:
            migrations.downgrade(revision)
        else:
            migrations.upgrade(revision)
        console.print(f"database at revision {migrations.current_revision()} ({_describe_stack()})")
    finally:
        embedded.stop_all()


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo organisation, its admin user and the demo market data (idempotent)."""
    from domain.demo.service import seed_demo as run_seed
    from store import migrate as migrations
    from store.db import session_scope

    try:
        migrations.upgrade("head")
        with session_scope() as session:
            summary = run_seed(session=session, data_dir=get_settings().data_path)
        for line in summary.lines():
            console.print(line)
    finally:
        embedded.stop_all()


@app.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Migrate, then serve the API (starting the embedded servers when no URLs are set)."""
    from store import migrate as migrations

    _public_url_for(host, port)
    _setup_logging()
    _stop_on_signals()
    try:
        migrations.upgrade("head")
        console.print(f"dealdesk on http://{host}:{port} ({_describe_stack()})")
        _serve_api(host, port)
    except StopRequested as stop:
        console.print(f"{stop.signal_name} received: stopping")
    finally:
        _ignore_stop_signals()
        embedded.stop_all()


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues, in priority order.")
    ] = "default,events,reports,transcribe,vision",
    burst: Annotated[bool, typer.Option(help="Exit when the queues are empty.")] = False,
    no_fork: Annotated[
        bool,
        typer.Option(
            "--no-fork",
            help="Run jobs in this process (always so when `transcribe` is among the queues).",
        ),
    ] = False,
) -> None:
    """Preload models and work the RQ queues (with the scheduler for retries)."""
    from workers.main import run_worker
    from workers.queues import QUEUE_NAMES

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [name for name in names if name not in QUEUE_NAMES]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; "
            f"the queues are {', '.join(QUEUE_NAMES)}",
            param_hint="--queues",
        )
    _setup_logging()
    _die_with_run()
    try:
        run_worker(names, burst=burst, fork=False if no_fork else None)
    finally:
        embedded.stop_all()


@app.command()
def relay(
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
    inline: Annotated[
        bool, typer.Option(help="Run handlers in this process instead of on the events queue.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between idle passes.", min=0.05)] = 1.0,
) -> None:
    """Relay committed outbox events to their subscribers (on the `events` queue)."""
    import threading

    from store.events import load_subscribers
    from workers.events import relay_forever, relay_once

    _setup_logging()
    _die_with_run()
    try:
        if once:
            load_subscribers()
            result = relay_once(inline=inline)
            console.print(f"relay pass: {result}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        relay_forever(interval_s=interval, inline=inline, stop=stop)
    finally:
        _adopt_redis_if_run_died()
        embedded.stop_all()


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of a child's process group (its RQ work horse or scheduler)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child, wait up to 15 s in all, then kill what is left of their groups.

    Each child leads its own process group (``Supervisor.spawn``), so what a child forked
    (a work horse, RQ's scheduler) goes with it even when the child itself has exited.
    """
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        _kill_group(child.pid)
        if child.poll() is None:
            child.kill()
            child.wait()


# How `dealdesk run` restarts a child that died: the wait before each restart after 0, 1, 2...
# fast failures in a row (a child that ran FAST_FAILURE_S or longer starts the count again);
# MAX_FAST_FAILURES in a row and it gives up: stops everything and exits GAVE_UP, so that a
# service manager (systemd, Docker's restart policy) restarts the whole product.
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
FAST_FAILURE_S = 60.0
MAX_FAST_FAILURES = 5
SUPERVISE_EVERY_S = 1.0
GAVE_UP = 1


def _exit_reason(returncode: int) -> str:
    """``exit status 1`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@dataclass
class Child:
    """One process `dealdesk run` keeps running (a worker, the relay)."""

    name: str
    command: list[str]  # a `dealdesk` command line, run as `python -m cli.main ...`
    argv: list[str] | None = None  # the whole command line instead (tests)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    fast_failures: int = 0
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    """Keeps `dealdesk run`'s children running: reaps one that died, restarts it with a backoff.

    ``check()`` (every second, from a thread next to the API) also restarts the embedded Redis
    the run owns if it died (``restart_redis``), then restarts the children so they reconnect.
    It returns False once a child failed ``MAX_FAST_FAILURES`` times in a row: the run gives up.
    """

    children: list[Child]
    env: dict[str, str]
    restart_redis: Callable[[], bool] | None = None
    clock: Callable[[], float] = time.monotonic
    gave_up: str | None = None
    _stopping: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(self, child: Child) -> None:
        """Start a child in its own process group (so it can be killed with what it forks)."""
        env = dict(self.env)
        if child.name == "relay":  # it outlives the workers it knows when the run is killed
            env[RUN_WORKER_PIDS_ENV] = ",".join(
                str(c.process.pid) for c in self.children if c.process and c.name != "relay"
            )
        argv = child.argv or [sys.executable, "-m", "cli.main", *child.command]
        child.process = subprocess.Popen(argv, env=env, process_group=0)
        child.started_at = self.clock()
        child.restart_at = None

    def start_all(self) -> None:
        """Start every child, in order (the relay last: it knows the workers' pids)."""
        with self._lock:
            for child in self.children:
                self.spawn(child)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The children's current processes."""
        return [child.process for child in self.children if child.process is not None]

    def stop(self) -> list[subprocess.Popen[bytes]]:
        """Restart nothing from now on; return the processes to stop."""
        with self._lock:
            self._stopping = True
            return self.processes()

    def check(self) -> bool:
        """Reap and restart children that died; False once the run must give up."""
        with self._lock:
            if self._stopping or self.gave_up:
                return self.gave_up is None
            if self.restart_redis is not None and self.restart_redis():
                log.warning("embedded redis restarted; restarting the workers and the relay")
                console.print("dealdesk run: Redis died and was restarted; restarting children")
                for child in self.children:
                    if child.process is not None and child.process.poll() is None:
                        child.process.terminate()
                        # Stopped by us: its exit is no failure of its own.
                        child.started_at = self.clock() - FAST_FAILURE_S
            now = self.clock()
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    if not self._reap(child, now):
                        return False
                if child.process is None and child.restart_at is not None:
                    if now >= child.restart_at:
                        self.spawn(child)
                        assert child.process is not None
                        log.warning(
                            "restarted %s (pid %s)",
                            child.name,
                            child.process.pid,
                            extra={"child": child.name, "pid": child.process.pid},
                        )
            return True

    def _reap(self, child: Child, now: float) -> bool:
        """A child exited: plan its restart, or give up; False when giving up."""
        assert child.process is not None
        pid, code = child.process.pid, child.process.returncode
        _kill_group(pid)  # its scheduler or work horse, if any is left
        lived = now - child.started_at
        child.fast_failures = child.fast_failures + 1 if lived < FAST_FAILURE_S else 0
        child.process = None
        how = _exit_reason(code)
        if child.fast_failures >= MAX_FAST_FAILURES:
            self.gave_up = (
                f"{child.name} failed {child.fast_failures} times in a row, each within "
                f"{FAST_FAILURE_S:.0f} s of starting (last: pid {pid}, {how})"
            )
            log.error("giving up: %s", self.gave_up, extra={"child": child.name})
            console.print(f"[bold red]dealdesk run: giving up: {self.gave_up}[/]")
            return False
        delay = RESTART_BACKOFF_S[min(child.fast_failures, len(RESTART_BACKOFF_S) - 1)]
        child.restarts += 1
        child.restart_at = now + delay
        log.warning(
            "%s (pid %s) died after %.0f s (%s); restarting in %.0f s (restart %d)",
            child.name,
            pid,
            lived,
            how,
            delay,
            child.restarts,
            extra={"child": child.name, "pid": pid, "exit": how, "restart_in_s": delay},
        )
        return True

    def watch(self, server: uvicorn.Server) -> threading.Thread:
        """Check the children every second in a thread; end the server if the run gives up.

        The thread lives until the run stops: a child it restarted has the death signal of
        the thread that started it (prctl follows the thread, not the process).
        """
        done = threading.Event()

        def loop() -> None:
            while not done.wait(SUPERVISE_EVERY_S):
                try:
                    healthy = self.check()
                except Exception:  # never let supervision die silently
                    log.exception("supervising the children failed; trying again")
                    continue
                if not healthy:
                    server.should_exit = True
                    return

        thread = threading.Thread(target=loop, name="run-supervisor", daemon=True)
        thread.done = done  # type: ignore[attr-defined]
        thread.start()
        return thread


def _restart_redis_for_run() -> Callable[[], bool] | None:
    """For the supervisor: restart the run's embedded Redis if it died (None: REDIS_URL set)."""
    settings = get_settings()
    if settings.redis_url:
        return None

    def restart() -> bool:
        from core.ops import reset_probes
        from store.redis_client import reset_redis

        if not embedded.restart_redis_if_dead(settings.data_path):
            return False
        reset_redis()
        reset_probes()
        return True

    return restart


def _clear_stale_worker_state() -> None:
    """Before the workers start: stale scheduler locks and dead workers' registrations go."""
    from workers.main import clear_stale_worker_state

    cleared = clear_stale_worker_state()
    if cleared["scheduler_locks"]:
        console.print(
            "  released stale RQ scheduler locks of queue(s) "
            + ", ".join(cleared["scheduler_locks"])
        )
    if cleared["dead_workers"]:
        console.print(f"  forgot {len(cleared['dead_workers'])} dead RQ worker(s)")


@app.command()
def run(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Start the whole product: migrate, seed the demo, two RQ workers, the relay, the API.

    The workers and the relay are supervised: one that dies is restarted (after 1 s, then
    longer while it keeps failing fast); after five fast failures in a row the run stops
    everything and exits with status 1, for a service manager to restart it. Ctrl-C, SIGTERM
    and SIGHUP all stop it the same way: the API, then the workers and the relay (each with
    what it forked), then the embedded servers it started.
    """
    from domain.demo.service import seed_demo as run_seed
    from store import migrate as migrations
    from store.db import session_scope
    from store.redis_client import redis_url
    from workers.main import FORKING_QUEUES, NO_FORK_QUEUES

    _public_url_for(host, port)
    _setup_logging()
    _stop_on_signals()
    supervisor: Supervisor | None = None
    watcher: threading.Thread | None = None
    try:
        migrations.upgrade("head")
        with session_scope() as session:
            summary = run_seed(session=session, data_dir=get_settings().data_path)
        # This process starts (and so owns) the embedded Redis before any child starts; the
        # workers and relay attach to the same servers through the data directory.
        redis_url()
        _clear_stale_worker_state()
        # A forking worker for most queues; one that does not fork for Whisper's `transcribe`.
        supervisor = Supervisor(
            children=[
                Child("worker", ["worker", "--queues", ",".join(FORKING_QUEUES)]),
                Child("transcribe worker", ["worker", "--queues", ",".join(NO_FORK_QUEUES)]),
                Child("relay", ["relay"]),
            ],
            env={**os.environ, RUN_PID_ENV: str(os.getpid())},
            restart_redis=_restart_redis_for_run(),
        )
        supervisor.start_all()
        pids = [p.pid for p in supervisor.processes()]
        console.print(f"[bold green]dealdesk is starting on http://{host}:{port}[/]")
        console.print(f"  API docs: http://{host}:{port}/docs   readiness: /ready")
        console.print(
            f"  stack: {_describe_stack()}; worker pids {pids[0]} "
            f"({','.join(FORKING_QUEUES)}) and {pids[1]} (transcribe), "
            f"relay pid {pids[2]}"
        )
        for line in summary.lines():
            console.print(f"  {line}")

        def supervise(server: uvicorn.Server) -> None:
            nonlocal watcher
            assert supervisor is not None
            watcher = supervisor.watch(server)

        _serve_api(host, port, alongside=supervise)
    except StopRequested as stop:
        console.print(f"{stop.signal_name} received: stopping the workers, relay and servers")
    finally:
        _ignore_stop_signals()
        if supervisor is not None:
            _stop_children(supervisor.stop())
        if watcher is not None:
            watcher.done.set()  # type: ignore[attr-defined]
            watcher.join(timeout=5)
        embedded.stop_all()
        console.print("dealdesk stopped")
    if supervisor is not None and supervisor.gave_up:
        console.print(f"dealdesk run gave up: {supervisor.gave_up}")
        raise SystemExit(GAVE_UP)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's email (their login).")],
    org: Annotated[str, typer.Option(help="Organisation slug; created if --create-org.")],
    role: Annotated[str, typer.Option(help="admin, analyst, investor or contractor.")] = "analyst",
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    phone: Annotated[str | None, typer.Option(help="E.164 phone number (WhatsApp).")] = None,
    create_org: Annotated[bool, typer.Option(help="Create the organisation if missing.")] = False,
    password: Annotated[
        str | None,
        typer.Option(help="Password (prompted when omitted).", envvar="DEALDESK_PASSWORD"),
    ] = None,
) -> None:
    """Create a user in an organisation."""
    from pydantic import ValidationError

    from domain.auth import service as auth_service
    from domain.auth.enums import Role
    from domain.auth.models import UserCreate
    from store.db import session_scope

    try:
        role_value = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise typer.BadParameter(f"role must be one of {choices}") from None
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user_in = UserCreate(
            email=email,
            full_name=full_name,
            phone_number=phone,
            role=role_value,
            password=password,
        )
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from None
    try:
        with session_scope() as session:
            organisation = auth_service.get_organisation_by_slug(session=session, slug=org)
            if organisation is None:
                if not create_org:
                    raise typer.BadParameter(f"no organisation {org!r} (use --create-org)")
                organisation = auth_service.create_organisation(session=session, name=org, slug=org)
            try:
                user = auth_service.create_user(
                    session=session, org_id=organisation.id, user_in=user_in
                )
            except auth_service.ConflictError as exc:
                raise typer.BadParameter(str(exc)) from None
            console.print(f"created {user.role} {user.email} in '{organisation.slug}' ({user.id})")
    finally:
        embedded.stop_all()


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
) -> None:
    """Create an API token for a user and print it (it is shown only once)."""
    from domain.auth import service as auth_service
    from store.db import session_scope

    try:
        with session_scope() as session:
            user = auth_service.get_user_by_email(session=session, email=email)
            if user is None:
                raise typer.BadParameter(f"no user {email!r}")
            _, plaintext = auth_service.create_api_token(
                session=session,
                org_id=user.org_id,
                user_id=user.id,
                name=name,
                expires_in_days=days,
            )
        typer.echo(plaintext)
    finally:
        embedded.stop_all()


# Modules register their `import ...` and `bench ...` commands on the shared groups.
COMMAND_MODULES = [
    "cli.property_commands",
    "cli.valuation_commands",
    "cli.section8_commands",
    "cli.audio_commands",
    "cli.vision_commands",
    "cli.report_commands",
    "cli.agent_commands",
    "cli.whatsapp_commands",
    "cli.monitor_commands",
    "cli.voice_commands",
    "cli.eval_commands",
]
for _module in COMMAND_MODULES:
    _loaded = importlib.import_module(_module)
    # A module imported before this app existed (a test importing cli.voice_commands first)
    # registered nothing then; its idempotent ``_register`` adds its commands now.
    _register_module = getattr(_loaded, "_register", None)
    if callable(_register_module):
        _register_module()


if __name__ == "__main__":
    app()
