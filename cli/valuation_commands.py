"""`dealdesk bench avm` and `dealdesk bench comps`: valuation accuracy and comp-search speed.

Both load the Ames sales into a scratch organisation inside one database transaction and
roll it back at the end, so they leave nothing behind (and need no demo data).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from cli.groups import bench_app
from store import embedded

console = Console(stderr=True)


@contextmanager
def _scratch_ames_org() -> Iterator[tuple[Any, uuid.UUID]]:
    """A session holding a scratch org with the Ames sales indexed; rolled back afterwards."""
    from sqlmodel import Session

    from domain.auth import service as auth_service
    from domain.property.ames import load_ames
    from domain.valuation import service as valuation_service
    from store import migrate as migrations
    from store.db import get_engine

    migrations.upgrade("head")
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            started = time.perf_counter()
            org = auth_service.create_organisation(
                session=session, name=f"bench {uuid.uuid4().hex[:8]} (rolled back)"
            )
            loaded = load_ames(session=session, org_id=org.id)
            indexed = valuation_service.reindex_comps(session=session, org_id=org.id)
            console.print(
                f"loaded {loaded.inserted} Ames sales and indexed {indexed} "
                f"in {time.perf_counter() - started:.1f} s (scratch organisation, rolled back)"
            )
            yield session, org.id
        finally:
            session.rollback()


def _subjects(session: Any, org_id: uuid.UUID, year: int) -> list[Any]:
    """The year's normal sales (Sale_Condition == Normal), oldest first."""
    from sqlmodel import col, select

    from domain.valuation.models import CompFeature

    rows = session.exec(
        select(CompFeature)
        .where(CompFeature.org_id == org_id, CompFeature.close_date.is_not(None))  # type: ignore[union-attr]
        .order_by(col(CompFeature.close_date), col(CompFeature.label))
    ).all()
    return [
        row
        for row in rows
        if row.close_date.year == year and row.facts.get("sale_condition") == "Normal"
    ]


@bench_app.command("avm")
def bench_avm(
    year: Annotated[
        int, typer.Option(help="Value this year's normal sales (2010: test, 2009: validation).")
    ] = 2010,
    limit: Annotated[int | None, typer.Option(help="Value only the first N subjects.")] = None,
    max_comps: Annotated[int, typer.Option(help="Comps reconciled per subject.")] = 10,
) -> None:
    """Accuracy on Ames: value each normal sale of YEAR from earlier sales; print one JSON line."""
    from domain.valuation import service as valuation_service

    try:
        with _scratch_ames_org() as (session, org_id):
            subjects = _subjects(session, org_id, year)[:limit]
            errors: list[float] = []
            signed: list[float] = []
            explained = 0
            started = time.perf_counter()
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"valuing {year} sales", total=len(subjects))
                for row in subjects:
                    analysis = valuation_service.find_comps(
                        session=session,
                        org_id=org_id,
                        property_id=row.property_id,
                        as_of=row.close_date,
                        max_comps=max_comps,
                    )
                    # Explained: every comp sold before the as-of date, none is the subject,
                    # and each comp's grid lines add up to its adjusted price.
                    if all(
                        c.sale_date < row.close_date
                        and c.property_id != row.property_id
                        and c.sale_price + sum(line.amount for line in c.lines) == c.adjusted_price
                        for c in analysis.comps
                    ):
                        explained += 1
                    price = float(row.close_price)
                    signed.append(float(analysis.value) / price - 1)
                    errors.append(abs(signed[-1]))
                    progress.advance(task)
            wall = time.perf_counter() - started
        n = len(errors)
        result = {
            "n": n,
            "mdape": round(100 * statistics.median(errors), 2) if n else None,
            "ppe10": round(100 * sum(e <= 0.10 for e in errors) / n, 1) if n else None,
            "ppe20": round(100 * sum(e <= 0.20 for e in errors) / n, 1) if n else None,
            "wall_s": round(wall, 2),
            "year": year,
            "median_error_pct": round(100 * statistics.median(signed), 2) if n else None,
            "explained": explained,
        }
        typer.echo(json.dumps(result))
    finally:
        embedded.stop_all()


@bench_app.command("comps")
def bench_comps(
    n: Annotated[int, typer.Option(help="Subjects to search comps for.")] = 200,
) -> None:
    """Comp-search latency on Ames and the candidate query's plan; print one JSON line."""
    from domain.valuation import comps as comp_index
    from domain.valuation import service as valuation_service

    try:
        with _scratch_ames_org() as (session, org_id):
            subjects = _subjects(session, org_id, 2010)[:n]
            query_ms: list[float] = []
            analysis_ms: list[float] = []
            for row in subjects:
                started = time.perf_counter()
                comp_index.candidates(
                    session=session,
                    org_id=org_id,
                    vector=list(row.embedding),
                    as_of=row.close_date,
                    exclude_id=row.property_id,
                )
                query_ms.append(1000 * (time.perf_counter() - started))
                started = time.perf_counter()
                valuation_service.find_comps(
                    session=session,
                    org_id=org_id,
                    property_id=row.property_id,
                    as_of=row.close_date,
                )
                analysis_ms.append(1000 * (time.perf_counter() - started))
            first = subjects[0]
            plan = comp_index.explain_candidates(
                session=session,
                org_id=org_id,
                vector=list(first.embedding),
                as_of=first.close_date,
                analyze=True,
            )
            console.print(plan)

        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        typer.echo(
            json.dumps(
                {
                    "n": len(query_ms),
                    "candidate_query_p50_ms": pct(query_ms, 0.5),
                    "candidate_query_p95_ms": pct(query_ms, 0.95),
                    "find_comps_p50_ms": pct(analysis_ms, 0.5),
                    "find_comps_p95_ms": pct(analysis_ms, 0.95),
                    "plan_uses_hnsw": comp_index.uses_hnsw(plan),
                }
            )
        )
    finally:
        embedded.stop_all()
