"""QA 11 (F8b): the event backlog converges, and report requests never stay "rendering" for ever.

Live QA queued 3,000 property.created and 2,000 transactions against one worker: the sweep
took every delivery queued over five minutes for lost and enqueued it again, so the events
queue held twice the owed deliveries and they ran 10-30 minutes late. Half the property
deliveries went to the deal module's subscriber, which did nothing. And a report requested
while Redis was down stayed "rendering" (202) for ever.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, text
from sqlmodel import Session, select

import workers.queues
from channels import reports_bridge
from domain.auth.enums import Role
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.enums import ReportRequestStatus
from domain.whatsapp.models import ReportRequest
from store import events
from store.base import utcnow
from store.events import Event
from store.outbox import Delivery, DeliveryStatus, OutboxEvent, publish
from tests.factories import auth_headers, make_org, make_property, make_user
from workers import events as relay
from workers.queues import get_queue

DELIVERED: Counter[uuid.UUID] = Counter()


def counting(session: Session, event: Event) -> None:
    """A subscriber that counts the events delivered to it (in this process)."""
    del session
    DELIVERED[event.id] += 1


@pytest.fixture
def _counting_subscriber(committed_db: Session) -> Iterator[None]:
    del committed_db  # truncated afterwards
    with events.isolated_registry():
        DELIVERED.clear()
        events.subscribe("property.created")(counting)
        yield


def _publish(session: Session, org_id: uuid.UUID, count: int) -> None:
    for number in range(count):
        publish(
            session,
            org_id=org_id,
            name="property.created",
            payload={"property_id": str(uuid.uuid4()), "n": number},
        )
    session.commit()


def _work(redis: Redis) -> None:
    SimpleWorker([get_queue(relay.QUEUE)], connection=redis, serializer=JSONSerializer).work(
        burst=True
    )


def _deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery)).all())


@pytest.mark.usefixtures("_counting_subscriber")
def test_a_backlog_waiting_on_the_queue_is_not_enqueued_again(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    org = make_org(committed_db)
    _publish(committed_db, org.id, 30)
    now = utcnow()
    assert relay.relay_once(now=now).enqueued == 30
    queue = get_queue(relay.QUEUE)
    assert queue.count == 30

    # No worker has got to them: sweeps long after must leave the queued jobs alone.
    for minutes in (6, 12, 30):
        assert relay.sweep(now=now + timedelta(minutes=minutes)) == 0
        assert queue.count == 30

    _work(redis)
    assert all(d.status == DeliveryStatus.succeeded for d in _deliveries(engine))
    assert sum(DELIVERED.values()) == 30


@pytest.mark.usefixtures("_counting_subscriber")
def test_a_job_redis_lost_or_that_ended_without_settling_its_delivery_is_enqueued_again(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    org = make_org(committed_db)
    _publish(committed_db, org.id, 2)
    now = utcnow()
    assert relay.relay_once(now=now).enqueued == 2
    lost, busy = sorted(_deliveries(engine), key=lambda d: str(d.id))
    assert lost.enqueued_at is not None and busy.enqueued_at is not None
    # Redis loses one job altogether ...
    Job.fetch(
        relay.delivery_job_id(lost.id, lost.enqueued_at),
        connection=redis,
        serializer=JSONSerializer,
    ).delete()
    # ... and the other runs while its row is held elsewhere: it finishes without delivering.
    with Session(engine) as holder:
        holder.exec(select(Delivery).where(Delivery.id == busy.id).with_for_update()).one()
        _work(redis)
        holder.rollback()
    busy_job = Job.fetch(
        relay.delivery_job_id(busy.id, busy.enqueued_at),
        connection=redis,
        serializer=JSONSerializer,
    )
    assert busy_job.get_status() == JobStatus.FINISHED
    assert busy_job.return_value() == "skipped:busy"
    assert DELIVERED == Counter()

    assert relay.sweep(now=now + timedelta(seconds=60)) == 0  # too recent to judge
    later = now + timedelta(seconds=relay.SWEEP_STALE_S + 1)
    assert relay.sweep(now=later) == 2
    assert get_queue(relay.QUEUE).count == 2
    assert relay.sweep(now=later + timedelta(minutes=10)) == 0  # the new jobs are queued
    _work(redis)
    assert all(d.status == DeliveryStatus.succeeded for d in _deliveries(engine))
    assert all(d.enqueued_at is None for d in _deliveries(engine))


def test_the_deal_module_no_longer_takes_a_delivery_of_every_new_property(
    committed_db: Session, engine: Engine
) -> None:
    events.load_subscribers()
    names = [sub.name for sub in events.subscribers("property.created")]
    assert "domain.deal.subscribers.on_property_created" not in names
    assert ("deal", "property.created") not in events.missing_subscriptions()
    assert ("deal", "subscribes", "property.created") not in events.catalogue_lines()

    org = make_org(committed_db)
    publish(committed_db, org_id=org.id, name="property.created", payload={"property_id": "x"})
    committed_db.commit()
    relay.dispatch_pending()
    assert not [d for d in _deliveries(engine) if d.subscriber.startswith("domain.deal.")]


def test_a_delivery_recorded_for_the_dropped_deal_subscriber_still_completes(
    committed_db: Session, engine: Engine
) -> None:
    org = make_org(committed_db)
    publish(committed_db, org_id=org.id, name="property.created", payload={"property_id": "x"})
    committed_db.commit()
    outbox = committed_db.exec(select(OutboxEvent)).one()
    old = Delivery(
        event_id=outbox.id,
        subscriber="domain.deal.subscribers.on_property_created",
        handler="domain.deal.subscribers:on_property_created",
        status=DeliveryStatus.pending,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    committed_db.add(old)
    committed_db.commit()
    assert relay.deliver(old.id) == DeliveryStatus.succeeded.value


# --- report requests -----------------------------------------------------------------------


def _dead_redis() -> Redis:
    """A client for a Redis that is not running (the unix socket does not exist)."""
    return Redis(unix_socket_path=f"/tmp/dd-no-redis-{uuid.uuid4().hex}.sock")


def test_a_report_asked_for_while_redis_is_down_is_failed_not_rendering_for_ever(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    prop = make_property(db, org)
    headers = auth_headers(db, user)
    monkeypatch.setattr(workers.queues, "get_redis", _dead_redis)

    answer = client.post(
        "/api/v1/reports/generate", json={"property_id": str(prop.id)}, headers=headers
    )

    assert answer.status_code == 503
    (request,) = db.exec(select(ReportRequest).where(ReportRequest.property_id == prop.id)).all()
    assert request.status == ReportRequestStatus.failed
    assert "unreachable" in (request.failure or "")
    monkeypatch.undo()
    shown = client.get(f"/api/v1/reports/{request.id}", headers=auth_headers(db, user))
    assert shown.status_code == 410
    assert "ask for the report again" in shown.json()["detail"]


def _waiting_request(session: Session) -> ReportRequest:
    org = make_org(session)
    user = make_user(session, org, Role.analyst)
    prop = make_property(session, org)
    # Recorded and committed, but the process died before the job was enqueued.
    request = whatsapp_service.request_report(
        session=session, org_id=org.id, property_id=prop.id, requested_by=user.id
    )
    session.commit()
    return request


def _report_job(redis: Redis, request: ReportRequest) -> Job | None:
    try:
        return Job.fetch(f"report-{request.id}", connection=redis, serializer=JSONSerializer)
    except Exception:
        return None


def test_the_sweep_enqueues_a_report_request_whose_job_never_reached_the_queue(
    committed_db: Session, redis: Redis
) -> None:
    request = _waiting_request(committed_db)
    now = utcnow()

    assert relay.sweep(now=now) == 0
    assert _report_job(redis, request) is None  # within the grace period: left alone

    later = now + timedelta(seconds=reports_bridge.REQUEUE_GRACE_S + 1)
    relay.sweep(now=later)
    job = _report_job(redis, request)
    assert job is not None and job.get_status() == JobStatus.QUEUED
    assert get_queue("reports").count == 1

    # A second sweep finds the job alive and leaves it (no duplicate render).
    assert reports_bridge.requeue_stuck_requests(now=later + timedelta(minutes=5)) == 0
    assert get_queue("reports").count == 1

    # Redis loses it: enqueued again.
    redis.flushdb()
    assert reports_bridge.requeue_stuck_requests(now=later + timedelta(minutes=10)) == 1
    assert get_queue("reports").count == 1


def test_a_report_job_that_failed_for_good_fails_its_request(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    request = _waiting_request(committed_db)
    later = utcnow() + timedelta(seconds=reports_bridge.REQUEUE_GRACE_S + 1)
    assert reports_bridge.requeue_stuck_requests(now=later) == 1
    job = _report_job(redis, request)
    assert job is not None
    job.set_status(JobStatus.FAILED)  # its retries are spent

    assert reports_bridge.requeue_stuck_requests(now=later + timedelta(minutes=5)) == 0
    with Session(engine) as session:
        stored = session.get(ReportRequest, request.id)
        assert stored is not None
        assert stored.status == ReportRequestStatus.failed
        assert "the report job failed" in (stored.failure or "")


def test_a_rendered_report_whose_job_expired_is_not_rendered_again(
    committed_db: Session, redis: Redis
) -> None:
    request = _waiting_request(committed_db)
    # The job ran and published report.ready; the relay has not delivered it yet, and the
    # finished job's record has expired from Redis.
    publish(
        committed_db,
        org_id=request.org_id,
        name="report.ready",
        payload={"request_id": str(request.id), "document_id": str(uuid.uuid4())},
    )
    committed_db.commit()
    later = utcnow() + timedelta(seconds=reports_bridge.REQUEUE_GRACE_S + 1)
    assert reports_bridge.requeue_stuck_requests(now=later) == 0
    assert _report_job(redis, request) is None


def test_a_request_that_names_no_property_is_left_alone(
    committed_db: Session, engine: Engine, redis: Redis
) -> None:
    request = _waiting_request(committed_db)
    with engine.begin() as conn:  # nothing to render it from
        conn.execute(
            text("UPDATE whatsapp_service.report_requests SET property_id = NULL WHERE id = :i"),
            {"i": request.id},
        )
    later = utcnow() + timedelta(seconds=reports_bridge.REQUEUE_GRACE_S + 1)
    assert reports_bridge.requeue_stuck_requests(now=later) == 0
    assert _report_job(redis, request) is None
