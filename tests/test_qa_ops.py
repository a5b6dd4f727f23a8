"""On-call QA of the workers and the event relay, against the real embedded Redis and PostgreSQL.

What an on-call engineer does to the queues: a job that raises, a job with a malformed
payload, a job for rows that no longer exist, an event delivered twice. The worker must carry
on, a failure must be visible (the failed-job registry, the logs) with phone numbers and tokens
masked, a failed job must be retryable, and a re-delivered event must not write twice. Jobs
run in-process on the worker class ``dealdesk worker`` runs (no fork), in burst mode.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import select as sa_select
from sqlmodel import Session

from core.observability import JsonFormatter
from store import events
from store.events import Event
from store.redis_client import get_redis
from tests.test_api_org_isolation_sweep import _org_tables
from tests.test_event_handlers_bad_payloads import SPECS, _own_resources, _value
from workers import audio, monitor, vision, voice, whatsapp
from workers import events as relay
from workers.main import DealdeskSimpleWorker, build_worker
from workers.queues import QUEUE_NAMES, enqueue, get_queue, queue_depths

ATTEMPTS_KEY = "qa-ops:attempts"
FIXED_KEY = "qa-ops:fixed"
PHONE = "+13135550142"
SECRET = "sk-live-9f8e7d6c5b4a39281706"


def send_sms(phone: str) -> str:
    """A job that fails (its error naming a phone and a token) until the flag says it is fixed."""
    redis = get_redis()
    redis.incr(ATTEMPTS_KEY)
    if not redis.get(FIXED_KEY):
        raise RuntimeError(f"gateway refused {phone} (Authorization: Bearer {SECRET})")
    return "sent"


def still_alive(text: str) -> str:
    """A job that works: the worker ran it after the failing ones."""
    return text


def _worker(queues: Iterable[str] = QUEUE_NAMES) -> DealdeskSimpleWorker:
    worker = build_worker(list(queues), fork=False)
    assert isinstance(worker, DealdeskSimpleWorker)
    return worker


def _work_until_settled(queues: Iterable[str] = QUEUE_NAMES, *, rounds: int = 6) -> None:
    """Burst the queues; put retries RQ scheduled (10 s, 60 s ...) back at once; until none."""
    names = list(queues)
    for _ in range(rounds):
        _worker(names).work(burst=True, with_scheduler=False)
        scheduled = [(name, get_queue(name).scheduled_job_registry) for name in names]
        due = [(registry, job_id) for _, registry in scheduled for job_id in registry.get_job_ids()]
        if not due:
            return
        for registry, job_id in due:
            registry.requeue(job_id)
    raise AssertionError("jobs were still being retried after every round")


def _fresh(job: Job) -> Job:
    job.refresh()
    return job


def _failure_text(job: Job) -> str:
    result = _fresh(job).latest_result()
    assert result is not None and result.exc_string, f"no failure recorded for {job.id}"
    return str(result.exc_string)


# --- a job that raises -----------------------------------------------------------------------


def test_a_failing_job_is_retried_lands_masked_in_the_failed_registry_and_can_be_retried(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rq.worker")
    failing = enqueue(send_sms, PHONE)
    after = enqueue(still_alive, "after the failure")

    _work_until_settled(["default"])

    # The worker carried on past the failure, and RQ retried the job three times.
    assert _fresh(after).get_status() == JobStatus.FINISHED
    assert after.return_value() == "after the failure"
    assert int(redis.get(ATTEMPTS_KEY) or 0) == 4
    assert _fresh(failing).get_status() == JobStatus.FAILED
    failed = get_queue("default").failed_job_registry
    assert failed.get_job_ids() == [failing.id]

    # Visible: the registry keeps why, with the phone number and the token masked.
    text = _failure_text(failing)
    assert "RuntimeError: gateway refused" in text
    assert "3135550142" not in text and SECRET not in text
    assert "***" in text

    # The worker's log line says the same, masked, as the JSON formatter writes it.
    logged = [
        JsonFormatter().format(record)
        for record in caplog.records
        if record.name == "rq.worker" and record.levelno >= logging.ERROR
    ]
    assert logged and all("gateway refused" in line for line in logged)
    assert not any("3135550142" in line or SECRET in line for line in logged)

    # Once the cause is fixed, the failed job is retried from the registry and succeeds.
    redis.set(FIXED_KEY, "1")
    failed.requeue(failing.id)
    _work_until_settled(["default"])
    assert _fresh(failing).get_status() == JobStatus.FINISHED
    assert failing.return_value() == "sent"
    assert failed.get_job_ids() == []


# --- malformed payloads ----------------------------------------------------------------------

MALFORMED: list[tuple[Callable[..., Any], tuple[Any, ...], str]] = [
    (whatsapp.process_inbound, ("not-a-uuid",), "default"),
    (whatsapp.send_outbound, ("not-a-uuid",), "default"),
    (voice.place_call, ("not-a-uuid",), "default"),
    (monitor.run_scan, ("not-a-uuid", "not-a-uuid"), "default"),
    (relay.deliver, ("not-a-uuid",), "events"),
    (vision.analyse_photos, ("not-a-uuid", ["not-a-uuid"]), "vision"),
]


def test_jobs_with_malformed_payloads_fail_visibly_and_the_worker_keeps_working(
    redis: Redis,
) -> None:
    jobs = [enqueue(func, *args, queue=queue) for func, args, queue in MALFORMED]
    # Pickled by a client without the JSON serializer; a job whose function was renamed away.
    pickled = Queue("default", connection=redis).enqueue(still_alive, "pickled")
    renamed = get_queue("default").enqueue("workers.whatsapp.no_such_job", str(uuid.uuid4()))
    after = [enqueue(still_alive, name, queue=name) for name in ("default", "events", "vision")]

    _work_until_settled(["default", "events", "vision"])

    for job in after:
        assert _fresh(job).get_status() == JobStatus.FINISHED
    for job in jobs:
        assert _fresh(job).get_status() == JobStatus.FAILED, job.func_name
        assert job.id in get_queue(job.origin).failed_job_registry.get_job_ids()
        assert "badly formed hexadecimal UUID string" in _failure_text(job), job.func_name
    failed = get_queue("default").failed_job_registry.get_job_ids()
    assert pickled.id in failed and renamed.id in failed
    assert "no_such_job" in _failure_text(_fetch(renamed.id))


def _fetch(job_id: str) -> Job:
    job = get_queue("default").fetch_job(job_id)
    assert job is not None
    return job


# --- jobs for rows that are gone -------------------------------------------------------------


def _gone() -> str:
    return str(uuid.uuid4())


def _status(value: Any) -> Any:
    return value.get("status") if isinstance(value, dict) else value


def test_jobs_for_rows_that_no_longer_exist_finish_quietly_without_retries(
    redis: Redis, committed_db: Session
) -> None:
    cases: list[tuple[Callable[..., Any], tuple[Any, ...], str, Any]] = [
        (audio.transcribe_walkthrough, (_gone(), _gone()), "transcribe", "skipped"),
        (monitor.run_scan, (_gone(), _gone()), "default", "failed"),
        (voice.place_call, (_gone(),), "default", "missing"),
        (voice.store_recording, (_gone(),), "default", "missing"),
        (voice.transcribe_recording, (_gone(),), "transcribe", "no recording"),
        (whatsapp.process_inbound, (_gone(),), "default", "skipped"),
        (whatsapp.process_unlinked, (_gone(),), "default", "skipped"),
        (whatsapp.send_outbound, (_gone(),), "default", "skipped"),
        (whatsapp.ingest_media, (_gone(), 0), "default", "skipped"),
        # A photo or voice note whose message was deleted after the media was stored.
        (whatsapp.analyse_photo, (_gone(), 0), "vision", "skipped"),
        (whatsapp.transcribe_voice_note, (_gone(), 0), "transcribe", "skipped"),
        (relay.deliver, (_gone(),), "events", "skipped:missing"),
    ]
    jobs = [(enqueue(func, *args, queue=queue), expected) for func, args, queue, expected in cases]
    photos = enqueue(vision.analyse_photos, _gone(), [_gone()], queue="vision")

    _worker().work(burst=True, with_scheduler=False)

    for job, expected in jobs:
        assert _fresh(job).get_status() == JobStatus.FINISHED, (job.func_name, job.get_status())
        assert _status(job.return_value()) == expected, (job.func_name, job.return_value())
    assert _fresh(photos).get_status() == JobStatus.FINISHED
    (outcome,) = photos.return_value()["analyses"].values()
    assert outcome["status"] == "missing"
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        assert queue.scheduled_job_registry.get_job_ids() == [], name
        assert queue.failed_job_registry.get_job_ids() == [], name


# --- events delivered twice ------------------------------------------------------------------


def _org_rows(db: Session, org_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the organisation, but for ``updated_at`` (touching a row is no write)."""
    db.flush()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table in _org_tables():
        columns = [column for column in table.columns if column.name != "updated_at"]
        result = db.connection().execute(sa_select(*columns).where(table.c.org_id == org_id))
        rows[table.fullname] = sorted((tuple(row) for row in result), key=repr)
    return rows


def _run(db: Session, handler: Callable[[Session, Event], None], event: Event) -> None:
    """Run a handler as the relay does: in a savepoint, flushed."""
    with db.begin_nested():
        handler(db, event)
        db.flush()


def test_every_subscriber_run_twice_on_one_event_writes_once(db: Session, redis: Redis) -> None:
    events.load_subscribers()
    subscribers = events.all_subscribers()
    assert {sub.name for sub in subscribers} == set(SPECS)
    org_id, own = _own_resources(db)

    wrote = 0
    for sub in subscribers:
        payload = {field: _value(kind, own) for field, kind in SPECS[sub.name].items()}
        event = Event(id=uuid.uuid4(), org_id=org_id, name=sub.event_name, payload=payload)
        before = _org_rows(db, org_id)
        _run(db, sub.handler, event)
        first, first_depths = _org_rows(db, org_id), queue_depths()
        wrote += first != before
        _run(db, sub.handler, event)  # the relay's at-least-once: the same event again
        second = _org_rows(db, org_id)
        changed = [table for table in first if first[table] != second[table]]
        assert changed == [], f"{sub.name} wrote again on a re-delivered event: {changed}"
        assert queue_depths() == first_depths, f"{sub.name} enqueued again"
    # The good payloads made most handlers do real work, so "nothing changed" means something.
    assert wrote >= len(subscribers) // 2, wrote
