"""The embedded servers stand in for external ones: with URLs set, nothing embedded starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.config import get_settings
from store import embedded
from store.db import database_url, normalise_database_url
from store.redis_client import redis_url

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x"),
        ("postgresql://u@db/x", "postgresql+psycopg://u@db/x"),
        ("postgresql+psycopg2://u@db/x", "postgresql+psycopg://u@db/x"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
    ],
)
def test_database_urls_use_psycopg3(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_configured_urls_win_over_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    external_db = database_url()  # the running embedded server, addressed by URL
    external_redis = redis_url()
    monkeypatch.setenv("DATABASE_URL", external_db.replace("postgresql+psycopg", "postgresql"))
    monkeypatch.setenv("REDIS_URL", external_redis)
    monkeypatch.setenv("DEALDESK_DATA_DIR", str(tmp_path / "unused"))
    get_settings.cache_clear()
    try:
        assert database_url() == external_db
        assert redis_url() == external_redis
        assert not (tmp_path / "unused").exists()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_cli_migrate_against_external_urls(tmp_path: Path) -> None:
    """A separate process migrates a database it is given by URL and starts no server."""
    pgdir = embedded.pg_dir(get_settings().data_path).resolve()
    engine = create_engine(database_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS external_probe"))
        conn.execute(text("CREATE DATABASE external_probe"))
    try:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgresql://postgres@/external_probe?host={pgdir}",
            "REDIS_URL": redis_url(),
            "DEALDESK_DATA_DIR": str(tmp_path / "data"),
        }
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "migrate"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "external DATABASE_URL" in result.stderr
        assert not (tmp_path / "data" / "pg").exists()
        probe = create_engine(f"postgresql+psycopg://postgres@/external_probe?host={pgdir}")
        with probe.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalar()
            assert version is not None
        probe.dispose()
    finally:
        with engine.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS external_probe WITH (FORCE)"))
        engine.dispose()
