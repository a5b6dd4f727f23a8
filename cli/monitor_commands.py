"""`dealdesk monitor scan FILE` and `dealdesk bench monitor`.

``monitor scan`` runs a market scan of a RESO CSV/JSON file in this process (the same
``market_service.execute_scan`` a worker runs for ``POST /monitor/start``) and prints what it
did. ``bench monitor`` times a scan of generated fictional listings (``domain.market.demo_feed``)
against the real Ames sales in a scratch organisation that is deleted afterwards, and prints
one JSON line: ``n``, ``seconds`` and ``listings_per_s``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.groups import bench_app
from store import embedded

console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)

monitor_app = typer.Typer(help="Market monitor: scan listing feeds.", no_args_is_help=True)


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@monitor_app.command("scan")
def scan(
    file: Annotated[Path, typer.Argument(help="Listings feed: CSV or JSON in RESO names.")],
    org: Annotated[str, typer.Option(help="Organisation slug to scan into.")] = "demo",
    source: Annotated[str, typer.Option(help="Listing source: mls, zillow, redfin, manual.")] = (
        "mls"
    ),
    show: Annotated[int, typer.Option(min=0, help="Rejected rows to print.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as one JSON line.")] = (
        False
    ),
) -> None:
    """Scan a listings file now: ingest, dedupe, score, find opportunities, alert investors."""
    from sqlmodel import Session

    from domain.auth import service as auth_service
    from domain.market import service as market_service
    from domain.market.enums import ListingSource, ScanTrigger
    from domain.market.sources import FileFeed, SourceError
    from store import migrate as migrations
    from store.db import get_engine

    if not file.is_file():
        raise typer.BadParameter(f"no such file: {file}")
    try:
        listing_source = ListingSource(source)
    except ValueError:
        raise typer.BadParameter(
            f"source must be one of {', '.join(s.value for s in ListingSource)}"
        ) from None
    try:
        migrations.upgrade("head")
        with Session(get_engine(), expire_on_commit=False) as session:
            organisation = auth_service.get_organisation_by_slug(session=session, slug=org)
            if organisation is None:
                console.print(
                    f"[red]no organisation {org!r}[/]: run `dealdesk seed-demo` or pass --org"
                )
                raise typer.Exit(2)
            record = market_service.create_file_scan(
                session=session,
                org_id=organisation.id,
                label=file.name,
                source=listing_source,
                trigger=ScanTrigger.cli,
            )
            session.commit()
            feed = FileFeed(data=file.read_bytes(), label=file.name, source=listing_source)
            with _progress(f"scanning {file.name}") as bar:
                task = bar.add_task("scan", total=None)
                try:
                    result = market_service.execute_scan(
                        session=session,
                        org_id=organisation.id,
                        scan_id=record.id,
                        feed=feed,
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )
                except (market_service.MarketError, SourceError) as exc:
                    bar.stop()
                    console.print(f"[red]scan failed[/]: {exc}")
                    raise typer.Exit(2) from None
            counts = result.counts
            console.print(
                f"scan {result.id}: {counts.get('rows', 0)} rows, {counts.get('new', 0)} new, "
                f"{counts.get('updated', 0)} updated, {counts.get('unchanged', 0)} unchanged, "
                f"{counts.get('rejected', 0)} rejected; {counts.get('price_cuts', 0)} price cuts; "
                f"{counts.get('shortlisted', 0)} underwritten, "
                f"{counts.get('opportunities_new', 0)} new opportunities, "
                f"{counts.get('alerts', 0)} alerts"
            )
            for rejection in result.rejections[:show]:
                console.print(f"  line {rejection['line']}: {rejection['reason']}")
            for opp, listing in market_service.latest_opportunities(
                session=session, org_id=organisation.id, limit=5
            ):
                console.print(
                    f"  opportunity {opp.score}/100 {opp.strategy or '-'} ROI "
                    f"{opp.roi_estimate}%: {listing.address_line}, {listing.city} "
                    f"{listing.zip_code} at ${listing.list_price:,.0f}"
                )
            if as_json:
                out.print(json.dumps({"scan_id": str(result.id), **counts}, default=str))
    finally:
        embedded.stop_all()


def _scratch_org_with_ames(session: Any) -> uuid.UUID:
    """A committed scratch organisation holding the Ames sales, indexed for comps."""
    from domain.auth import service as auth_service
    from domain.property.ames import load_ames
    from domain.valuation import service as valuation_service

    started = time.perf_counter()
    org = auth_service.create_organisation(
        session=session, name=f"bench monitor {uuid.uuid4().hex[:8]} (deleted after)"
    )
    loaded = load_ames(session=session, org_id=org.id)
    indexed = valuation_service.reindex_comps(session=session, org_id=org.id)
    session.commit()
    console.print(
        f"scratch organisation: {loaded.inserted} Ames sales loaded, {indexed} indexed in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return org.id


@bench_app.command("monitor")
def bench_monitor(
    n: Annotated[int, typer.Option(min=1, max=200_000, help="Listings in the feed.")] = 10_000,
) -> None:
    """Time a scan of ``n`` fictional listings against the Ames sales; print one JSON line."""
    from sqlalchemy import delete
    from sqlmodel import Session

    from domain.auth.models import Organisation
    from domain.market import service as market_service
    from domain.market.demo_feed import generate_feed
    from domain.market.enums import ListingSource, ScanTrigger
    from domain.market.sources import FileFeed
    from store import migrate as migrations
    from store.db import get_engine

    try:
        migrations.upgrade("head")
        with Session(get_engine(), expire_on_commit=False) as session:
            org_id = _scratch_org_with_ames(session)
            try:
                data = generate_feed(n)
                record = market_service.create_file_scan(
                    session=session,
                    org_id=org_id,
                    label=f"bench feed ({n} fictional listings)",
                    source=ListingSource.mls,
                    trigger=ScanTrigger.cli,
                )
                session.commit()
                with _progress(f"scanning {n} listings") as bar:
                    task = bar.add_task("scan", total=n)
                    started = time.perf_counter()
                    result = market_service.execute_scan(
                        session=session,
                        org_id=org_id,
                        scan_id=record.id,
                        feed=FileFeed(data=data, label="bench", source=ListingSource.mls),
                        progress=lambda done, total: bar.update(task, completed=done),
                    )
                    seconds = time.perf_counter() - started
            finally:
                session.rollback()
                session.execute(delete(Organisation).where(Organisation.id == org_id))  # type: ignore[arg-type]
                session.commit()
        counts = result.counts
        typer.echo(
            json.dumps(
                {
                    "n": n,
                    "seconds": round(seconds, 2),
                    "listings_per_s": round(n / seconds, 1),
                    "new": counts.get("new"),
                    "rejected": counts.get("rejected"),
                    "shortlisted": counts.get("shortlisted"),
                    "opportunities": counts.get("opportunities_new"),
                    "sales_in_snapshot": counts.get("sales_in_snapshot"),
                }
            )
        )
    finally:
        embedded.stop_all()


def _register() -> None:
    """Add ``monitor`` to the root `dealdesk` app of whichever module is running the CLI."""
    for name in ("cli.main", "__main__"):
        module = sys.modules.get(name)
        root = getattr(module, "app", None)
        if not isinstance(root, typer.Typer) or not hasattr(module, "COMMAND_MODULES"):
            continue
        if not any(group.name == "monitor" for group in root.registered_groups):
            root.add_typer(monitor_app, name="monitor")


_register()
