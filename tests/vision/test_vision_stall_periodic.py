"""The photo-analysis stall check runs on a schedule, not only when a vision worker starts.

A vision worker killed mid-job leaves its analyses ``queued`` (its transaction rolled back)
and its job ``started`` by a worker that is gone. The periodic check (one self-rescheduling
chain on the ``vision`` queue) enqueues them again; analyses a job that will still run names
are left to that job, and a fresh one is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlmodel import Session

from domain.vision.enums import AnalysisStatus
from domain.vision.models import PropertyAnalysis
from store.base import utcnow
from tests.factories import make_org, make_property
from workers import vision as vision_jobs
from workers.queues import get_queue

STALE = timedelta(seconds=vision_jobs.QUEUED_STALE_S + 60)


def _analysis(
    db: Session, org_id: uuid.UUID, property_id: uuid.UUID, age: timedelta
) -> PropertyAnalysis:
    analysis = PropertyAnalysis(
        org_id=org_id,
        property_id=property_id,
        status=AnalysisStatus.queued,
        created_at=utcnow() - age,
    )
    db.add(analysis)
    return analysis


def _scheduled() -> list[str]:
    return list(get_queue("vision").scheduled_job_registry.get_job_ids())


def _analyses_named_by_queued_jobs(redis: Redis) -> list[list[str]]:
    jobs = Job.fetch_many(
        get_queue("vision").get_job_ids(), connection=redis, serializer=JSONSerializer
    )
    return [list(job.args[1]) for job in jobs if job is not None]


def test_the_periodic_check_re_enqueues_an_analysis_whose_worker_was_killed(
    committed_db: Session, redis: Redis
) -> None:
    org = make_org(committed_db, "Stalled photos")
    prop = make_property(committed_db, org)
    killed = _analysis(committed_db, org.id, prop.id, STALE)
    waiting = _analysis(committed_db, org.id, prop.id, STALE)  # a backlog: its job is queued
    fresh = _analysis(committed_db, org.id, prop.id, timedelta(0))
    committed_db.commit()
    vision = get_queue("vision")
    # The killed worker's job: started by a worker with no live registration.
    dead = vision.enqueue(vision_jobs.ANALYSE_FUNC, str(org.id), [str(killed.id)])
    vision.remove(dead)
    dead.set_status(JobStatus.STARTED)
    dead.worker_name = "killed-vision-worker"
    dead.save()
    vision.enqueue(vision_jobs.ANALYSE_FUNC, str(org.id), [str(waiting.id)])

    # A worker start schedules the chain; its job comes due and a worker runs it.
    assert vision_jobs.schedule_stall_check() is True
    (check_id,) = _scheduled()
    check = Job.fetch(check_id, connection=redis, serializer=JSONSerializer)
    vision.scheduled_job_registry.remove(check)
    vision.enqueue_job(check, at_front=True)
    worker = SimpleWorker([vision], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True, max_jobs=1)

    check.refresh()
    assert check.get_status() == JobStatus.FINISHED, check.latest_result()
    assert check.return_value() == 1
    assert sorted(_analyses_named_by_queued_jobs(redis)) == sorted(
        [[str(waiting.id)], [str(killed.id)]]
    )
    # And the check scheduled the next one: still one chain.
    assert len(_scheduled()) == 1 and _scheduled() != [check_id]

    # The re-enqueued job runs the killed worker's analysis to an outcome.
    worker.work(burst=True)
    for analysis in (killed, waiting, fresh):
        committed_db.refresh(analysis)
    assert killed.status != AnalysisStatus.queued
    assert fresh.status == AnalysisStatus.queued


@pytest.mark.parametrize("start", [vision_jobs.schedule_stall_check, vision_jobs.preload])
def test_worker_restarts_keep_one_stall_check_chain(
    redis: Redis, start: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vision_jobs.model, "is_configured", lambda: False)
    for _restart in range(4):
        start()
    assert len(_scheduled()) == 1
    assert Job.fetch(_scheduled()[0], connection=redis, serializer=JSONSerializer).func_name == (
        "workers.vision.requeue_stalled_job"
    )
