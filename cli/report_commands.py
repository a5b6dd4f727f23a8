"""`dealdesk bench report`: how long a property analysis PDF takes to render.

The bench builds a scratch organisation inside one database transaction (24 sold Detroit
houses and a subject in poor condition with a photo), analyses the subject once, then
renders its report several times and prints one JSON line: ``ms`` is the median time to
render one report (the PDF from the analysis, photo included), ``analysis_ms`` the time the
analysis took, ``pages`` and ``bytes`` the report's size. Everything is rolled back.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.groups import bench_app
from store import embedded

console = Console(stderr=True)
CENTRE = (42.33, -83.05)
AS_OF = dt.date(2025, 1, 15)


def _photo_bytes() -> bytes:
    """A 1600 x 1200 JPEG (a phone photo's size) with some structure to compress."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1600, 1200), (180, 200, 220))
    draw = ImageDraw.Draw(image)
    draw.polygon([(300, 600), (800, 250), (1300, 600)], fill=(120, 60, 50))
    draw.rectangle((380, 600, 1220, 1100), fill=(230, 225, 210))
    draw.rectangle((720, 850, 880, 1100), fill=(90, 60, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


@contextmanager
def _scratch_subject() -> Iterator[tuple[Any, uuid.UUID, uuid.UUID]]:
    """A session holding a scratch org with a small market and a subject; rolled back after."""
    from sqlmodel import Session

    from domain.auth import service as auth_service
    from domain.documents import service as documents_service
    from domain.documents.enums import DocumentKind
    from domain.property import service as property_service
    from domain.property.models import PropertyCreate
    from store import migrate as migrations
    from store.db import get_engine

    migrations.upgrade("head")
    with Session(get_engine(), expire_on_commit=False) as session:
        stored: list[Any] = []
        try:
            org = auth_service.create_organisation(
                session=session, name=f"bench {uuid.uuid4().hex[:8]} (rolled back)"
            )
            for i in range(24):
                sqft = 1200 + 100 * (i % 10)
                condition = 4 + i % 4
                property_service.create(
                    session=session,
                    org_id=org.id,
                    property_in=PropertyCreate(
                        address_line=f"{100 + 2 * i} Bench St",
                        city="Detroit",
                        state="MI",
                        zip_code="48201",
                        latitude=CENTRE[0] + 0.0005 * (i % 7),
                        longitude=CENTRE[1] + 0.002 * i,
                        square_feet=sqft,
                        bedrooms=3,
                        bathrooms=Decimal("1.5"),
                        year_built=1950,
                        condition_rating=condition,
                        close_price=Decimal(round(60 * sqft * 1.05 ** (condition - 5))),
                        close_date=dt.date(2024, i // 2 + 1, 15),
                        source="bench",
                        source_id=str(i),
                    ),
                )
            subject = property_service.create(
                session=session,
                org_id=org.id,
                property_in=PropertyCreate(
                    address_line="1234 Bench Ave",
                    city="Detroit",
                    state="MI",
                    zip_code="48201",
                    latitude=CENTRE[0],
                    longitude=CENTRE[1] + 0.01,
                    square_feet=1500,
                    bedrooms=3,
                    bathrooms=Decimal("1.5"),
                    year_built=1950,
                    condition_rating=3,
                    list_price=Decimal("45000"),
                ),
            )
            photo = documents_service.store_document(
                session=session,
                org_id=org.id,
                data=_photo_bytes(),
                filename="front.jpg",
                declared_content_type="image/jpeg",
                kind=DocumentKind.photo,
                entity_type="property",
                entity_id=subject.id,
            )
            stored.append(photo)
            yield session, org.id, subject.id
        finally:
            session.rollback()
            for document in stored:
                documents_service.storage_for(document).delete(document.storage_key)


@bench_app.command("report")
def bench_report(
    renders: Annotated[int, typer.Option(help="Reports to render (the median is reported).")] = 9,
) -> None:
    """Render a property analysis PDF several times; print one JSON line (``ms``: median)."""
    from domain.analysis import service as analysis_service
    from domain.documents import service as documents_service
    from reports.property_report import render_property_report

    if renders < 1:
        raise typer.BadParameter("renders must be at least 1")
    try:
        with _scratch_subject() as (session, org_id, property_id):
            started = time.perf_counter()
            analysis = analysis_service.analyze_property(
                session=session, org_id=org_id, property_id=property_id, as_of=AS_OF
            )
            analysis_ms = 1000 * (time.perf_counter() - started)
            assert analysis.photo is not None
            photo = documents_service.read_document_bytes(
                session=session, org_id=org_id, document_id=analysis.photo.document_id
            )
            timings: list[float] = []
            rendered = None
            for _ in range(renders):
                started = time.perf_counter()
                rendered = render_property_report(analysis, photo=photo)
                timings.append(1000 * (time.perf_counter() - started))
            assert rendered is not None
        typer.echo(
            json.dumps(
                {
                    "ms": round(statistics.median(timings), 1),
                    "min_ms": round(min(timings), 1),
                    "max_ms": round(max(timings), 1),
                    "renders": renders,
                    "pages": rendered.pages,
                    "bytes": len(rendered.data),
                    "analysis_ms": round(analysis_ms, 1),
                    "verdict": analysis.verdict.label.value,
                }
            )
        )
    finally:
        embedded.stop_all()
