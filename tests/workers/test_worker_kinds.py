"""The two kinds of worker, and the sweeps that keep accepted work from being lost.

The ``transcribe`` queue is worked without forking so Whisper is loaded once, by the preload, in
the process that runs every transcription (real Whisper base weights, espeak-ng speech, as in
``test_audio_jobs``). Photo analyses left ``queued`` (Redis down at enqueue, a killed worker)
are enqueued again when a vision worker starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import update
from sqlmodel import Session, select

from domain.audio import whisper
from domain.audio.enums import WalkthroughStatus
from domain.vision import service as vision_service
from domain.vision.enums import AnalysisStatus
from domain.vision.models import PropertyAnalysis
from store.base import utcnow
from tests.factories import make_org, make_property
from tests.workers.test_audio_jobs import (  # noqa: F401 (fixtures)
    fresh,
    org_setup,
    start,
    walkthrough_wav,
)
from workers import vision as vision_jobs
from workers.main import (
    FORKING_QUEUES,
    NO_FORK_QUEUES,
    DealdeskSimpleWorker,
    DealdeskWorker,
    build_worker,
    preload_models,
)
from workers.queues import QUEUE_NAMES, get_queue


def test_only_workers_without_the_transcribe_queue_fork(redis: Redis) -> None:
    assert isinstance(build_worker(["transcribe"]), DealdeskSimpleWorker)
    assert isinstance(build_worker(list(QUEUE_NAMES)), DealdeskSimpleWorker)
    # Asking a transcribe worker to fork is refused: Whisper would hang in its work horses.
    assert isinstance(build_worker(["transcribe"], fork=True), DealdeskSimpleWorker)
    forking = build_worker(list(FORKING_QUEUES))
    assert isinstance(forking, DealdeskWorker) and not isinstance(forking, SimpleWorker)
    assert isinstance(build_worker(list(FORKING_QUEUES), fork=False), DealdeskSimpleWorker)
    # `dealdesk run` starts one worker of each kind; between them they work every queue.
    assert set(FORKING_QUEUES) | NO_FORK_QUEUES == set(QUEUE_NAMES)
    assert not set(FORKING_QUEUES) & NO_FORK_QUEUES


def test_the_transcribe_worker_loads_whisper_once_and_every_job_uses_it(
    committed_db: Session,
    redis: Redis,
    org_setup: dict[str, Any],  # noqa: F811
    walkthrough_wav: bytes,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(whisper, "_models", {})  # as in a freshly started worker process
    worker = build_worker(["transcribe"])
    assert isinstance(worker, SimpleWorker)

    assert "workers.audio.preload" in preload_models(["transcribe"])
    [preloaded] = whisper.loaded_models()
    assert preloaded.label == "whisper base int8"

    first = start(committed_db, org_setup, walkthrough_wav, "one.wav", "audio/wav")
    second = start(committed_db, org_setup, walkthrough_wav, "two.wav", "audio/wav")
    worker.work(burst=True)

    for walkthrough in (first, second):
        row = fresh(committed_db, walkthrough.id)
        assert row.status == WalkthroughStatus.completed, row.error
        assert "roof" in (row.transcript or "").lower()
    # Both jobs ran on the model the preload loaded: nothing else was loaded.
    assert len(whisper.loaded_models()) == 1
    assert whisper.loaded_models()[0] is preloaded


def test_a_forking_worker_does_not_load_whisper(redis: Redis) -> None:
    assert "workers.audio.preload" not in preload_models(list(FORKING_QUEUES))


def _queued_photo(db: Session) -> PropertyAnalysis:
    """A photo accepted for analysis whose job never reached Redis (committed)."""
    org = make_org(db)
    house = make_property(db, org)
    [analysis] = vision_service.submit_photos(
        session=db,
        org_id=org.id,
        property_id=house.id,
        uploads=[vision_service.PhotoUpload(data=_jpeg(), filename="roof.jpg")],
    )
    db.commit()
    assert analysis.status == AnalysisStatus.queued
    return analysis


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_an_analysis_whose_job_was_lost_is_re_enqueued_at_worker_start(
    committed_db: Session, redis: Redis
) -> None:
    analysis = _queued_photo(committed_db)
    assert len(get_queue("vision")) == 0  # Redis never got the job

    # Just accepted: its job may still be on its way, so the sweep leaves it alone.
    assert vision_jobs.requeue_stalled() == 0
    assert len(get_queue("vision")) == 0

    # Ten minutes on, still queued: the vision worker's preload enqueues it again.
    committed_db.execute(
        update(PropertyAnalysis)
        .where(PropertyAnalysis.id == analysis.id)  # type: ignore[arg-type]
        .values(created_at=utcnow() - timedelta(minutes=11))
    )
    committed_db.commit()
    assert "workers.vision.preload" in preload_models(["vision"])
    assert len(get_queue("vision")) == 1

    SimpleWorker([get_queue("vision")], connection=redis, serializer=JSONSerializer).work(
        burst=True
    )
    committed_db.expire_all()
    done = committed_db.exec(
        select(PropertyAnalysis).where(PropertyAnalysis.id == analysis.id)
    ).one()
    # No model is configured in tests: the analysis ran and says so (it is no longer queued).
    assert done.status == AnalysisStatus.not_configured
    assert vision_jobs.requeue_stalled(queued_stale_s=0) == 0
