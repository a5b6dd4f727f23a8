"""The relay and delivery jobs: at-least-once delivery with exactly-once database effects.

Test subscribers write a row into a scratch table (no unique key, so a duplicate delivery
would show as a duplicate row). They are registered per test inside an isolated registry,
so domain subscribers and other tests never see them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from core.observability import job_context
from domain.auth.models import Organisation
from store import events
from store.base import utcnow
from store.events import Event
from store.outbox import Delivery, DeliveryStatus, OutboxEvent, lag_seconds, publish
from workers import events as relay
from workers.queues import get_queue

EFFECTS = "public.test_outbox_effects"


@pytest.fixture(scope="module", autouse=True)
def _effects_table() -> Iterator[None]:
    from store.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {EFFECTS} (event_id uuid, subscriber text, note text)"
            )
        )
    yield
    with get_engine().begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {EFFECTS}"))


@pytest.fixture(autouse=True)
def _clean(committed_db: Session, engine: Engine) -> Iterator[None]:
    with events.isolated_registry():
        _attempts.clear()
        yield
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {EFFECTS}"))


def _record(session: Session, event: Event, subscriber: str, note: str = "") -> None:
    session.execute(
        text(f"INSERT INTO {EFFECTS} (event_id, subscriber, note) VALUES (:e, :s, :n)"),
        {"e": event.id, "s": subscriber, "n": note},
    )


_attempts: Counter[tuple[uuid.UUID, str]] = Counter()


def ledger(session: Session, event: Event) -> None:
    _record(session, event, "ledger", str(event.payload.get("address", "")))


def notifier(session: Session, event: Event) -> None:
    _record(session, event, "notifier")


def flaky(session: Session, event: Event) -> None:
    """Does its work, then fails on the first attempt: that work must not survive."""
    _attempts[(event.id, "flaky")] += 1
    _record(session, event, "flaky")
    if _attempts[(event.id, "flaky")] == 1:
        raise ConnectionError("valuation provider timed out")


def broken(session: Session, event: Event) -> None:
    _attempts[(event.id, "broken")] += 1
    _record(session, event, "broken")
    raise RuntimeError(f"cannot parse payload {sorted(event.payload)}")


def slow(session: Session, event: Event) -> None:
    time.sleep(0.05)
    _record(session, event, "slow")


def chain(session: Session, event: Event) -> None:
    """A subscriber that publishes a follow-up event in its own transaction."""
    publish(session, org_id=event.org_id, name="valuation.completed", payload={"of": str(event.id)})


def swallows_db_error(session: Session, event: Event) -> None:
    """Breaks its transaction and hides the error: the delivery must still fail cleanly."""
    _record(session, event, "swallows_db_error")
    try:
        session.execute(text("SELECT 1 / 0"))
    except Exception:
        pass


def defers_a_violation(session: Session, event: Event) -> None:
    """Breaks a deferred constraint: the error only shows at commit."""
    session.execute(text("SET CONSTRAINTS ALL DEFERRED"))
    _record(session, event, "defers_a_violation")
    _record(session, event, "defers_a_violation")


def _subscribe(event_name: str, *handlers: Callable[[Session, Event], None]) -> None:
    for handler in handlers:
        events.subscribe(event_name, name=handler.__name__)(handler)


def _org(session: Session) -> Organisation:
    org = Organisation(name="Motor City Homes", slug=f"mch-{uuid.uuid4().hex[:8]}")
    session.add(org)
    session.commit()
    return org


def _publish(session: Session, org: Organisation, name: str = "property.created") -> uuid.UUID:
    event_id = publish(session, org_id=org.id, name=name, payload={"address": "1 Main St"})
    session.commit()
    return event_id


def _effects(engine: Engine) -> Counter[tuple[uuid.UUID, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT event_id, subscriber FROM {EFFECTS}")).all()
    return Counter((row[0], row[1]) for row in rows)


def _deliveries(engine: Engine) -> dict[str, Delivery]:
    with Session(engine) as session:
        return {d.subscriber: d for d in session.exec(select(Delivery)).all()}


def _work(redis: Redis) -> None:
    worker = SimpleWorker([get_queue("events")], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)


def _later(now: datetime, attempts: int) -> datetime:
    """A moment just after the back-off that follows ``attempts`` failed attempts."""
    return now + timedelta(seconds=relay.backoff_s(attempts) + 1)


def test_rolled_back_event_is_never_delivered(committed_db: Session, engine: Engine) -> None:
    _subscribe("property.created", ledger, notifier)
    org = _org(committed_db)
    publish(committed_db, org_id=org.id, name="property.created", payload={})
    committed_db.rollback()

    for _ in range(2):
        result = relay.relay_once(inline=True)
        assert result.dispatched == 0 and not result.outcomes
    assert _effects(engine) == Counter()
    assert _deliveries(engine) == {}


def test_committed_event_reaches_each_subscriber_once_even_when_relay_runs_twice(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", ledger, notifier)
    _subscribe("deal.created", slow)  # subscribed to another event: must get nothing
    org = _org(committed_db)
    event_id = _publish(committed_db, org)

    first = relay.relay_once(inline=True)
    second = relay.relay_once(inline=True)

    assert (first.dispatched, first.deliveries_created) == (1, 2)
    assert first.outcomes == Counter({"succeeded": 2})
    assert second.dispatched == 0 and not second.outcomes
    assert _effects(engine) == Counter({(event_id, "ledger"): 1, (event_id, "notifier"): 1})
    deliveries = _deliveries(engine)
    assert {name: (d.status, d.attempts) for name, d in deliveries.items()} == {
        "ledger": (DeliveryStatus.succeeded, 1),
        "notifier": (DeliveryStatus.succeeded, 1),
    }
    assert all(d.delivered_at is not None for d in deliveries.values())
    with engine.connect() as conn:  # the handler saw the published payload
        notes = conn.execute(text(f"SELECT note FROM {EFFECTS} WHERE subscriber = 'ledger'"))
        assert notes.scalars().all() == ["1 Main St"]
    # Running a delivery again by hand (a duplicate job) changes nothing.
    assert relay.deliver(deliveries["ledger"].id) == "skipped:succeeded"
    assert _effects(engine)[(event_id, "ledger")] == 1


def test_handler_that_fails_once_is_retried_and_its_work_happens_once(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", flaky)
    org = _org(committed_db)
    event_id = _publish(committed_db, org)
    now = utcnow()

    assert relay.relay_once(inline=True, now=now).outcomes == Counter({"failed": 1})
    failed = _deliveries(engine)["flaky"]
    assert (failed.status, failed.attempts) == (DeliveryStatus.failed, 1)
    assert failed.last_error is not None
    assert failed.last_error.startswith("ConnectionError: valuation provider timed out")
    assert failed.next_attempt_at >= now + timedelta(seconds=relay.backoff_s(1))
    # The failed attempt's write was rolled back with it.
    assert _effects(engine) == Counter()

    # Before the back-off has passed, nothing is retried.
    assert not relay.relay_once(inline=True, now=now).outcomes
    assert relay.relay_once(inline=True, now=_later(now, 1)).outcomes == Counter({"succeeded": 1})
    assert not relay.relay_once(inline=True, now=_later(now, 5)).outcomes

    assert _attempts[(event_id, "flaky")] == 2
    assert _effects(engine) == Counter({(event_id, "flaky"): 1})
    done = _deliveries(engine)["flaky"]
    assert (done.status, done.attempts) == (DeliveryStatus.succeeded, 2)


def test_handler_that_always_fails_ends_dead_without_blocking_others(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", broken, ledger)
    org = _org(committed_db)
    event_id = _publish(committed_db, org)

    now = utcnow()
    outcomes: Counter[str] = Counter()
    for attempt in range(relay.MAX_ATTEMPTS + 2):
        outcomes += relay.relay_once(inline=True, now=now).outcomes
        now = _later(now, attempt + 1)

    assert outcomes == Counter({"succeeded": 1, "failed": relay.MAX_ATTEMPTS - 1, "dead": 1})
    deliveries = _deliveries(engine)
    dead = deliveries["broken"]
    assert (dead.status, dead.attempts) == (DeliveryStatus.dead, relay.MAX_ATTEMPTS)
    assert dead.last_error is not None
    assert dead.last_error.startswith("RuntimeError: cannot parse payload ['address']")
    assert _attempts[(event_id, "broken")] == relay.MAX_ATTEMPTS
    assert deliveries["ledger"].status == DeliveryStatus.succeeded
    # None of the dead handler's attempts left anything behind; the good one ran once.
    assert _effects(engine) == Counter({(event_id, "ledger"): 1})

    # A later event still reaches the healthy subscriber.
    second = _publish(committed_db, org)
    relay.relay_once(inline=True)
    assert _effects(engine)[(second, "ledger")] == 1


def test_dead_delivery_can_be_revived_after_the_handler_is_fixed(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", broken)
    org = _org(committed_db)
    event_id = _publish(committed_db, org)
    now = utcnow()
    for attempt in range(relay.MAX_ATTEMPTS):
        relay.relay_once(inline=True, now=now)
        now = _later(now, attempt + 1)
    dead = _deliveries(engine)["broken"]
    assert dead.status == DeliveryStatus.dead
    assert relay.revive(uuid.uuid4()) is False

    # The fix ships under the same subscriber name.
    events.unsubscribe("broken")
    events.subscribe("property.created", name="broken")(ledger)
    assert relay.revive(dead.id) is True
    assert relay.revive(dead.id) is False  # no longer dead
    assert relay.relay_once(inline=True).outcomes == Counter({"succeeded": 1})
    assert _effects(engine) == Counter({(event_id, "ledger"): 1})


def test_job_path_delivers_once_despite_repeated_relays_and_duplicate_jobs(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    _subscribe("property.created", ledger, notifier)
    org = _org(committed_db)
    event_id = _publish(committed_db, org)

    assert relay.relay_once().enqueued == 2
    assert relay.relay_once().enqueued == 0  # already on the queue
    queue = get_queue("events")
    assert queue.count == 2
    duplicate_of = _deliveries(engine)["ledger"].id
    queue.enqueue(relay.deliver, str(duplicate_of))  # as a sweep or a retry might

    _work(redis)

    assert _effects(engine) == Counter({(event_id, "ledger"): 1, (event_id, "notifier"): 1})
    assert all(d.status == DeliveryStatus.succeeded for d in _deliveries(engine).values())
    assert all(d.enqueued_at is None for d in _deliveries(engine).values())
    assert FailedJobRegistry(queue=queue).count == 0
    assert relay.relay_once().enqueued == 0


def test_a_failing_handler_never_fails_the_job_or_stops_the_worker(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    _subscribe("property.created", broken, notifier)
    org = _org(committed_db)
    event_id = _publish(committed_db, org)

    relay.relay_once()
    _work(redis)

    queue = get_queue("events")
    assert FailedJobRegistry(queue=queue).count == 0
    deliveries = _deliveries(engine)
    assert deliveries["broken"].status == DeliveryStatus.failed
    assert "cannot parse payload" in (deliveries["broken"].last_error or "")
    assert deliveries["notifier"].status == DeliveryStatus.succeeded
    assert _effects(engine) == Counter({(event_id, "notifier"): 1})

    # The retry is enqueued by the relay once the back-off has passed, not before.
    assert relay.relay_once().enqueued == 0
    assert relay.relay_once(now=_later(utcnow(), 1)).enqueued == 1


def test_sweep_re_enqueues_jobs_that_redis_lost(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    _subscribe("property.created", ledger)
    org = _org(committed_db)
    event_id = _publish(committed_db, org)
    now = utcnow()
    assert relay.relay_once(now=now).enqueued == 1
    redis.flushdb()  # the job is gone; the database still says the delivery is owed

    assert relay.relay_once(now=now).enqueued == 0
    assert relay.sweep(now=now) == 0  # not stale yet: the job may just be waiting
    later = now + timedelta(seconds=relay.SWEEP_STALE_S + 1)
    assert relay.sweep(now=later) == 1
    _work(redis)

    assert _effects(engine) == Counter({(event_id, "ledger"): 1})
    assert _deliveries(engine)["ledger"].status == DeliveryStatus.succeeded


def test_two_relays_at_once_never_deliver_an_event_twice(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", slow, ledger)
    org = _org(committed_db)
    event_ids = [_publish(committed_db, org) for _ in range(6)]
    # Dispatch first, so both relays find the same twelve deliveries due and race for them.
    assert relay.dispatch_pending() == (6, 12)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            relay.relay_once(inline=True)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    expected = Counter({(e, name): 1 for e in event_ids for name in ("slow", "ledger")})
    assert _effects(engine) == expected


def test_a_handler_can_publish_a_follow_up_that_keeps_the_correlation_id(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", chain)
    org = _org(committed_db)
    with job_context("req", "req-42"):
        first = _publish(committed_db, org)

    relay.relay_once(inline=True)
    relay.relay_once(inline=True)

    with Session(engine) as session:
        follow_ups = session.exec(
            select(OutboxEvent).where(OutboxEvent.name == "valuation.completed")
        ).all()
    assert [(e.payload, e.correlation_id, e.org_id) for e in follow_ups] == [
        ({"of": str(first)}, "req-42", org.id)
    ]


def test_a_delivery_whose_handler_was_removed_is_recorded_as_failing(
    committed_db: Session, engine: Engine
) -> None:
    org = _org(committed_db)
    event_id = _publish(committed_db, org)
    relay.relay_once(inline=True)  # no subscribers: dispatched with no deliveries
    committed_db.add(
        Delivery(event_id=event_id, subscriber="gone", handler="domain.nowhere.subscribers:gone")
    )
    committed_db.commit()

    assert relay.relay_once(inline=True).outcomes == Counter({"failed": 1})
    assert (_deliveries(engine)["gone"].last_error or "").startswith("ModuleNotFoundError")


def test_lag_covers_undispatched_and_undelivered_events(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", flaky)
    org = _org(committed_db)
    _publish(committed_db, org)
    now = utcnow() + timedelta(seconds=30)
    assert lag_seconds(committed_db, now=now) >= 30
    relay.relay_once(inline=True, now=now)  # dispatched, but the delivery failed
    assert lag_seconds(committed_db, now=now) >= 30
    relay.relay_once(inline=True, now=_later(now, 1))
    assert lag_seconds(committed_db) == 0.0


def test_relay_loop_delivers_until_stopped_and_survives_a_failing_handler(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", broken, ledger)
    org = _org(committed_db)
    stop = threading.Event()
    loop = threading.Thread(
        target=relay.relay_forever, kwargs={"interval_s": 0.05, "inline": True, "stop": stop}
    )
    loop.start()
    try:
        event_ids = [_publish(committed_db, org) for _ in range(3)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sum(_effects(engine).values()) == 3:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=20)
    assert not loop.is_alive()
    assert _effects(engine) == Counter({(e, "ledger"): 1 for e in event_ids})
    assert {e: _attempts[(e, "broken")] for e in event_ids} == {e: 1 for e in event_ids}


def test_handler_errors_hidden_until_commit_still_fail_the_delivery_cleanly(
    committed_db: Session, engine: Engine
) -> None:
    _subscribe("property.created", swallows_db_error, defers_a_violation, ledger)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"ALTER TABLE {EFFECTS} ADD CONSTRAINT test_effects_once "
                "UNIQUE (event_id, subscriber) DEFERRABLE INITIALLY DEFERRED"
            )
        )
    try:
        org = _org(committed_db)
        event_id = _publish(committed_db, org)
        assert relay.relay_once(inline=True).outcomes == Counter({"failed": 2, "succeeded": 1})
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {EFFECTS} DROP CONSTRAINT test_effects_once"))
    deliveries = _deliveries(engine)
    assert (deliveries["swallows_db_error"].last_error or "").startswith("InternalError")
    assert "test_effects_once" in (deliveries["defers_a_violation"].last_error or "")
    assert deliveries["defers_a_violation"].attempts == 1
    assert _effects(engine) == Counter({(event_id, "ledger"): 1})
