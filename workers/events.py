"""The outbox relay and the delivery job: at-least-once delivery, exactly-once database effects.

``relay_once`` does two things, each in its own short transaction:

1. **Dispatch.** It claims undispatched outbox rows (``FOR UPDATE SKIP LOCKED``, so two relays
   never claim the same event), creates one ``Delivery`` per registered subscriber (insert on
   the unique ``(event_id, subscriber)`` key, so doing it twice creates nothing new) and marks
   the event dispatched. Subscribers are whatever the relay process has registered: it calls
   ``load_subscribers()`` first.
2. **Deliver.** It picks deliveries that are due (``pending`` or ``failed`` with
   ``next_attempt_at`` passed) and either runs them inline (``inline=True``: tests, the CLI)
   or enqueues one ``deliver(delivery_id)`` job each on the ``events`` queue, noting
   ``enqueued_at`` so the next pass does not enqueue them again.

``deliver`` is where exactly-once comes from. It claims the delivery row (``FOR UPDATE SKIP
LOCKED``; a row another worker holds is left to it), counts the attempt and pushes
``next_attempt_at`` forward by the back-off, and commits: that lease stops any other relay or
duplicate job from starting the same attempt, and if this process dies mid-handler the
attempt still counts and the delivery is retried after the back-off. Then, in a second
transaction that locks the row again, it runs the handler in a savepoint and marks the
delivery ``succeeded`` in the same commit as the handler's work. A handler that raises has
its savepoint rolled back (none of its work survives), and the delivery becomes ``failed``
with the error and an exponential back-off, or ``dead`` after ``MAX_ATTEMPTS``. A handler
exception never escapes ``deliver``: the job finishes, the worker and relay carry on, and
other subscribers of the same event are unaffected (each has its own delivery).

``sweep`` re-enqueues deliveries whose job was lost (RQ does not promise delivery: Redis can
lose a job, a worker can die holding one). Each job's id is derived from its delivery and the
moment it was enqueued (``delivery_job_id``), so the sweep asks Redis about the very job the
database recorded: a delivery still owed long after it was enqueued is re-enqueued only when
that job no longer exists or has ended (finished, failed, stopped) without settling it. A job
that is merely waiting behind a backlog is left alone, so the queue holds one job per owed
delivery however long the backlog. The database is the source of truth; every job is safe to
run twice.

The same sweep also re-enqueues report requests of ``POST /reports/generate`` whose render job
was lost (``channels.reports_bridge.requeue_stuck_requests``).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rq.job import Job, JobStatus
from sqlalchemy import tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from core.observability import job_context
from store.base import utcnow
from store.db import get_engine, session_scope
from store.events import Event, Handler, get_subscriber, load_subscribers, resolve_handler
from store.events import subscribers as subscribers_of
from store.outbox import OPEN_STATUSES, Delivery, DeliveryStatus, OutboxEvent
from store.redis_client import get_redis
from workers.queues import enqueue

log = logging.getLogger(__name__)

QUEUE = "events"
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 10.0
BACKOFF_MAX_S = 3600.0
# Longer than the events queue's job timeout (120 s): a delivery enqueued more recently is not
# checked at all (its job is surely still queued or running).
SWEEP_STALE_S = 300.0
# How many long-enqueued deliveries one sweep asks Redis about (in pages of SWEEP_PAGE).
SWEEP_SCAN_MAX = 20_000
SWEEP_PAGE = 1_000
# A job in one of these states will not run again: if its delivery is still owed, it was lost.
ENDED_JOB_STATUSES = frozenset(
    {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ERROR_MAX_CHARS = 4000


def backoff_s(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: 10, 20, 40 ... up to an hour."""
    return min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


@dataclass
class RelayResult:
    """What one relay pass did."""

    dispatched: int = 0
    deliveries_created: int = 0
    enqueued: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def busy(self) -> bool:
        """True when the pass found any work (the loop then runs again without sleeping)."""
        worked = sum(n for outcome, n in self.outcomes.items() if not outcome.startswith("skip"))
        return bool(self.dispatched or self.enqueued or worked)


def dispatch_pending(*, limit: int = 100, now: datetime | None = None) -> tuple[int, int]:
    """Create deliveries for undispatched events; return (events dispatched, deliveries made)."""
    now = now or utcnow()
    created = 0
    with session_scope() as session:
        events = session.exec(
            select(OutboxEvent)
            .where(col(OutboxEvent.dispatched_at).is_(None))
            .order_by(col(OutboxEvent.created_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for event in events:
            for sub in subscribers_of(event.name):
                result = session.execute(
                    insert(Delivery)
                    .values(
                        id=uuid.uuid4(),
                        event_id=event.id,
                        subscriber=sub.name,
                        handler=sub.handler_path,
                        status=DeliveryStatus.pending.value,
                        attempts=0,
                        next_attempt_at=now,
                    )
                    .on_conflict_do_nothing(constraint="uq_deliveries_event_subscriber")
                    .returning(col(Delivery.id))
                )
                created += len(result.all())  # zero when the delivery already existed
            event.dispatched_at = now
            session.add(event)
        return len(events), created


def _due(*, now: datetime) -> Any:
    """A query for deliveries that are owed and due and not already on the queue."""
    return (
        select(Delivery)
        .where(col(Delivery.status).in_(OPEN_STATUSES))
        .where(col(Delivery.next_attempt_at) <= now)
        .where(col(Delivery.enqueued_at).is_(None))
        .order_by(col(Delivery.next_attempt_at))
    )


def due_delivery_ids(*, limit: int = 100, now: datetime | None = None) -> list[uuid.UUID]:
    """Ids of deliveries that are due now and not on the queue, oldest first."""
    with Session(get_engine()) as session:
        return [d.id for d in session.exec(_due(now=now or utcnow()).limit(limit)).all()]


def delivery_job_id(delivery_id: uuid.UUID, enqueued_at: datetime) -> str:
    """The RQ job id of a delivery enqueued at ``enqueued_at`` (as recorded on its row)."""
    micros = (enqueued_at - _EPOCH) // timedelta(microseconds=1)
    return f"deliver-{delivery_id}-{micros}"


def job_statuses(job_ids: Sequence[str]) -> list[JobStatus | None]:
    """Each job's RQ status (one pipelined round trip); None for a job Redis does not hold."""
    if not job_ids:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(Job.key_for(job_id), "status")
    statuses: list[JobStatus | None] = []
    for raw in pipe.execute():
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            statuses.append(JobStatus(text) if text else None)
        except ValueError:  # a status this rq does not know: treat the job as alive
            statuses.append(JobStatus.QUEUED)
    return statuses


def job_lost(status: JobStatus | None) -> bool:
    """True for a job that will never run (again): gone from Redis, or ended."""
    return status is None or status in ENDED_JOB_STATUSES


def _enqueue_deliveries(rows_query: Any, *, now: datetime) -> int:
    """Mark the selected deliveries enqueued, commit, then put one job each on the queue."""
    with session_scope() as session:
        rows = session.exec(rows_query.with_for_update(skip_locked=True)).all()
        for delivery in rows:
            delivery.enqueued_at = now
            session.add(delivery)
        ids = [delivery.id for delivery in rows]
    return _push(ids, now=now)


def _push(ids: list[uuid.UUID], *, now: datetime) -> int:
    """Put one job per delivery (marked enqueued at ``now``) on the queue; count them."""
    # Enqueue after the commit, so a worker never sees a job before its delivery is marked.
    for position, delivery_id in enumerate(ids):
        try:
            enqueue(
                deliver, str(delivery_id), queue=QUEUE, job_id=delivery_job_id(delivery_id, now)
            )
        except Exception:
            log.exception("could not enqueue deliveries; the next relay pass retries them")
            _clear_enqueued(ids[position:])
            return position
    return len(ids)


def _clear_enqueued(ids: list[uuid.UUID]) -> None:
    """Forget that these deliveries were enqueued (their jobs never reached the queue)."""
    with session_scope() as session:
        for delivery in session.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all():
            delivery.enqueued_at = None
            session.add(delivery)


def relay_once(
    *, limit: int = 100, inline: bool = False, now: datetime | None = None
) -> RelayResult:
    """Dispatch new events and deliver (inline) or enqueue the deliveries that are due."""
    now = now or utcnow()
    result = RelayResult()
    result.dispatched, result.deliveries_created = dispatch_pending(limit=limit, now=now)
    if inline:
        for delivery_id in due_delivery_ids(limit=limit, now=now):
            result.outcomes[deliver(delivery_id, now=now)] += 1
    else:
        result.enqueued = _enqueue_deliveries(_due(now=now).limit(limit), now=now)
    if result.busy:
        log.info(
            "relay pass",
            extra={
                "dispatched": result.dispatched,
                "deliveries_created": result.deliveries_created,
                "enqueued": result.enqueued,
                "outcomes": dict(result.outcomes),
            },
        )
    return result


def sweep(
    *, stale_after_s: float = SWEEP_STALE_S, limit: int = 500, now: datetime | None = None
) -> int:
    """Re-enqueue owed deliveries whose job was lost; count them.

    Only deliveries enqueued over ``stale_after_s`` ago are looked at, oldest first, and of
    those only the ones whose recorded job Redis no longer holds, or holds as ended, are
    enqueued again (at most ``limit``). A job still waiting in a long queue is not touched.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    lost: dict[uuid.UUID, datetime] = {}
    after: tuple[datetime, uuid.UUID] | None = None
    scanned = 0
    while len(lost) < limit and scanned < SWEEP_SCAN_MAX:
        query = (
            select(Delivery.id, Delivery.enqueued_at)
            .where(col(Delivery.status).in_(OPEN_STATUSES))
            .where(col(Delivery.enqueued_at) < cutoff)
            .order_by(col(Delivery.enqueued_at), col(Delivery.id))
            .limit(SWEEP_PAGE)
        )
        if after is not None:
            query = query.where(
                tuple_(col(Delivery.enqueued_at), col(Delivery.id)) > tuple_(*after)
            )
        with Session(get_engine()) as session:
            # (enqueued_at, id): the query keeps only rows with an enqueued_at.
            page = [(row[1], row[0]) for row in session.exec(query).all() if row[1] is not None]
        if not page:
            break
        scanned += len(page)
        after = page[-1]
        statuses = job_statuses([delivery_job_id(id_, at) for at, id_ in page])
        for (enqueued_at, delivery_id), status in zip(page, statuses, strict=True):
            if job_lost(status) and len(lost) < limit:
                lost[delivery_id] = enqueued_at
        if len(page) < SWEEP_PAGE:
            break
    count = _re_enqueue(lost, now=now)
    if count:
        log.warning("re-enqueued lost deliveries", extra={"count": count, "scanned": scanned})
    count_reports = _sweep_report_requests(now=now)
    if count_reports:
        log.warning("re-enqueued lost report jobs", extra={"count": count_reports})
    return count


def _re_enqueue(lost: dict[uuid.UUID, datetime], *, now: datetime) -> int:
    """Enqueue these deliveries again, each only if still owed and enqueued when we looked."""
    if not lost:
        return 0
    with session_scope() as session:
        rows = session.exec(
            select(Delivery)
            .where(col(Delivery.id).in_(list(lost)))
            .where(col(Delivery.status).in_(OPEN_STATUSES))
            .with_for_update(skip_locked=True)
        ).all()
        ids = []
        for delivery in rows:
            if delivery.enqueued_at != lost[delivery.id]:
                continue  # claimed or re-enqueued meanwhile: its new job is someone else's
            delivery.enqueued_at = now
            session.add(delivery)
            ids.append(delivery.id)
    return _push(ids, now=now)


def _sweep_report_requests(*, now: datetime) -> int:
    """Re-enqueue report requests whose render job was lost (never fails the events sweep)."""
    from channels import reports_bridge

    try:
        return reports_bridge.requeue_stuck_requests(now=now)
    except Exception:
        log.exception("report request sweep failed; the next sweep retries")
        return 0


def _error_text(exc: BaseException) -> str:
    """The exception's type and message, then as much of the traceback's tail as fits."""
    summary = f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc))
    room = ERROR_MAX_CHARS - len(summary) - 1
    return (summary + "\n" + trace[-room:]) if room > 0 else summary[:ERROR_MAX_CHARS]


def _handler_for(delivery: Delivery, event_name: str) -> Handler:
    """The registered handler, or the one imported from the path recorded on the delivery."""
    sub = get_subscriber(event_name, delivery.subscriber)
    return sub.handler if sub is not None else resolve_handler(delivery.handler)


def _claim(delivery_id: uuid.UUID, *, now: datetime) -> tuple[str, int]:
    """Start an attempt: count it and lease the row by its back-off; return (state, attempt)."""
    with session_scope() as session:
        delivery = session.exec(
            select(Delivery).where(Delivery.id == delivery_id).with_for_update(skip_locked=True)
        ).first()
        if delivery is None:
            exists = session.get(Delivery, delivery_id) is not None
            return ("skipped:busy" if exists else "skipped:missing"), 0
        delivery.enqueued_at = None
        session.add(delivery)
        if delivery.status not in OPEN_STATUSES:
            return f"skipped:{delivery.status}", 0
        if delivery.next_attempt_at > now:
            return "skipped:not-due", 0
        if delivery.attempts >= MAX_ATTEMPTS:
            # The last attempts never finished (the process died); give up now.
            delivery.status = DeliveryStatus.dead
            delivery.last_error = (
                f"gave up after {delivery.attempts} attempts; the last did not finish\n"
                + (delivery.last_error or "")
            )[:ERROR_MAX_CHARS]
            return DeliveryStatus.dead.value, 0
        delivery.attempts += 1
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts))
        return "claimed", delivery.attempts


def deliver(delivery_id: uuid.UUID | str, *, now: datetime | None = None) -> str:
    """Run one delivery (an RQ job on ``events``); return what happened, never raise for it."""
    delivery_id = uuid.UUID(str(delivery_id))
    now = now or utcnow()
    state, attempt = _claim(delivery_id, now=now)
    if state != "claimed":
        return state

    with Session(get_engine(), expire_on_commit=False) as session:
        delivery = session.exec(
            select(Delivery)
            .where(Delivery.id == delivery_id)
            .where(Delivery.attempts == attempt)
            .where(col(Delivery.status).in_(OPEN_STATUSES))
            # Wait (no SKIP LOCKED): this attempt is ours, and whoever holds the row now is
            # only looking at it (a claim that will skip it as not due).
            .with_for_update()
        ).first()
        if delivery is None:  # the attempt was given up or superseded meanwhile
            return "skipped:superseded"
        outbox = session.get(OutboxEvent, delivery.event_id)
        assert outbox is not None  # the delivery's foreign key guarantees it
        event = Event(
            id=outbox.id,
            org_id=outbox.org_id,
            name=outbox.name,
            payload=copy.deepcopy(outbox.payload),
            correlation_id=outbox.correlation_id,
            created_at=outbox.created_at,
        )
        context = {
            "event_id": str(event.id),
            "event": event.name,
            "subscriber": delivery.subscriber,
        }
        try:
            handler = _handler_for(delivery, event.name)
            # Logs and follow-up events carry the correlation id of the request that published.
            with job_context(str(delivery_id), event.correlation_id), session.begin_nested():
                handler(session, event)
                session.flush()  # surface the handler's database errors inside its savepoint
        except Exception as exc:
            _mark_failed(delivery, attempt=attempt, exc=exc, now=now, context=context)
        else:
            delivery.status = DeliveryStatus.succeeded
            delivery.delivered_at = utcnow()
        session.add(delivery)
        try:
            session.commit()  # the handler's work and the delivery's status, together
        except Exception as exc:  # e.g. a deferred constraint the handler broke
            session.rollback()
            return _record_failure(delivery_id, attempt=attempt, exc=exc, now=now, context=context)
        return delivery.status.value


def _mark_failed(
    delivery: Delivery, *, attempt: int, exc: BaseException, now: datetime, context: dict[str, str]
) -> None:
    """Record a failed attempt: ``failed`` with a back-off, or ``dead`` after the last one."""
    delivery.last_error = _error_text(exc)
    if attempt >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.dead
        log.error("delivery dead", extra={**context, "attempts": attempt}, exc_info=exc)
        return
    delivery.status = DeliveryStatus.failed
    retry_from = max(now, utcnow())
    delivery.next_attempt_at = retry_from + timedelta(seconds=backoff_s(attempt))
    log.warning("delivery failed; will retry", extra={**context, "attempts": attempt}, exc_info=exc)


def _record_failure(
    delivery_id: uuid.UUID,
    *,
    attempt: int,
    exc: BaseException,
    now: datetime,
    context: dict[str, str],
) -> str:
    """Record a failed attempt in a fresh transaction (the handler's one could not commit)."""
    with session_scope() as session:
        delivery = session.exec(
            select(Delivery)
            .where(Delivery.id == delivery_id)
            .where(Delivery.attempts == attempt)
            .with_for_update()
        ).first()
        if delivery is None:
            return "skipped:superseded"
        _mark_failed(delivery, attempt=attempt, exc=exc, now=now, context=context)
        session.add(delivery)
        return delivery.status.value


def revive(delivery_id: uuid.UUID | str) -> bool:
    """Give a dead delivery a fresh set of attempts (after fixing its handler); True if revived."""
    with session_scope() as session:
        delivery = session.exec(
            select(Delivery).where(Delivery.id == uuid.UUID(str(delivery_id))).with_for_update()
        ).first()
        if delivery is None or delivery.status != DeliveryStatus.dead:
            return False
        delivery.status = DeliveryStatus.pending
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        delivery.enqueued_at = None
        session.add(delivery)
        return True


def relay_forever(
    *,
    interval_s: float = 1.0,
    sweep_every_s: float = 60.0,
    inline: bool = False,
    limit: int = 100,
    stop: threading.Event | None = None,
) -> None:
    """The relay process: a pass every ``interval_s`` (at once while busy), a sweep now and then."""
    stop = stop or threading.Event()
    loaded = load_subscribers()
    log.info("event relay started", extra={"subscriber_modules": loaded, "inline": inline})
    last_sweep = 0.0
    while not stop.is_set():
        busy = False
        try:
            busy = relay_once(limit=limit, inline=inline).busy
            if not inline and time.monotonic() - last_sweep >= sweep_every_s:
                sweep()
                last_sweep = time.monotonic()
        except Exception:  # a database or Redis outage: log, wait, try again
            log.exception("relay pass failed; retrying")
        if not busy:
            stop.wait(interval_s)
