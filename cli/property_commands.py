"""`dealdesk import sales FILE.csv` and `dealdesk import listings FILE.csv`.

The import itself is ``domain.property.importer.import_records``; these commands open the
file, draw the progress bar, print the summary and write rejected rows where asked.
"""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.groups import import_app
from store import embedded

if TYPE_CHECKING:
    from domain.property.importer import ImportSummary

console = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)

MapOpt = Annotated[
    str | None,
    typer.Option(
        "--map",
        help="Column mapping for names we do not know: field=Column,... "
        "(e.g. close_price=SalePrice,square_feet=GrLivArea).",
    ),
]
SourceOpt = Annotated[
    str,
    typer.Option(
        help="Where the file comes from (the MLS); (source, source id) is the re-import key."
    ),
]
OrgOpt = Annotated[str, typer.Option(help="Organisation slug to import into.")]
RejectsOpt = Annotated[
    Path | None,
    typer.Option(help="Write every rejected row to this CSV, with its line and reason."),
]
EventsOpt = Annotated[
    bool | None,
    typer.Option(
        "--events/--no-events",
        help="Publish property.created/updated per row (default: on for listings, off for sales).",
    ),
]
BatchOpt = Annotated[int, typer.Option(min=1, help="Rows per committed batch.")]
ShowOpt = Annotated[int, typer.Option(min=0, help="Rejected rows to print in the summary.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the counts as one JSON line.")]


def parse_mapping(text: str | None) -> dict[str, str]:
    """``close_price=SalePrice,square_feet=GrLivArea`` as a dict; BadParameter when malformed."""
    mapping: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise typer.BadParameter(f"--map entries look like field=Column, not {item.strip()!r}")
        mapping[name.strip()] = column.strip()
    return mapping


# Delimiters a "CSV" comes with: Excel writes ";" where "," is the decimal comma.
_DELIMITERS = (",", ";", "\t", "|")


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file is UTF-8, else Windows-1252 / Latin-1.

    Excel on Windows saves "CSV" as Windows-1252 ("Café St" is byte E9); reading it as UTF-8
    would stop the import part-way with a decoding error. Read in blocks: a file of any size.
    A file with a UTF-16 byte order mark (Excel's "Unicode Text", tab-separated) is UTF-16.
    """
    with path.open("rb") as handle:
        if handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _delimiter(path: Path, encoding: str) -> str:
    """The header line's delimiter: the most frequent of , ; tab | (comma when none)."""
    with path.open(newline="", encoding=encoding) as handle:
        header = handle.readline()
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> int:
    """How many data rows the CSV has (for the progress bar's total; blank lines skipped)."""
    with path.open(newline="", encoding=encoding) as handle:
        rows = csv.reader(handle, delimiter=delimiter)
        return max(0, sum(1 for row in rows if any(cell.strip() for cell in row)) - 1)


def _write_rejects(path: Path, summary: ImportSummary, columns: list[str]) -> None:
    """Write the rejected rows as CSV: line, reason, then the row's own columns."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["line", "reason", *columns], extrasaction="ignore"
        )
        writer.writeheader()
        for rejection in summary.rejections:
            writer.writerow({**rejection.row, "line": rejection.line, "reason": rejection.reason})


def _run_import(
    kind: str,
    file: Path,
    mapping_text: str | None,
    source: str,
    org: str,
    rejects: Path | None,
    events: bool | None,
    batch_size: int,
    show: int,
    as_json: bool,
) -> None:
    """Import one CSV file into an organisation and report what happened."""
    from domain.auth import service as auth_service
    from domain.property.errors import PropertyValidationError
    from domain.property.importer import import_records, not_csv_reason
    from store import migrate as migrations
    from store.db import session_scope

    if file.is_dir():
        raise typer.BadParameter(f"{file} is a folder, not a CSV file")
    if not file.is_file():
        raise typer.BadParameter(f"no such file: {file}")
    with file.open("rb") as head:
        problem = not_csv_reason(file.name, head.read(16))
    if problem is not None:
        console.print(f"[red]nothing imported[/]: {escape(problem)}")
        raise typer.Exit(2)
    mapping = parse_mapping(mapping_text)
    encoding = _encoding(file)
    delimiter = _delimiter(file, encoding)
    try:
        total = _count_rows(file, encoding, delimiter)
    except csv.Error as exc:
        # Read in full before anything is written: an unreadable file imports nothing.
        console.print(
            f"[red]nothing imported[/]: {escape(file.name)} cannot be read as CSV ({exc}); "
            "a cell that opens a double quote and never closes it reads on to the end of "
            "the file: check the quotes"
        )
        raise typer.Exit(2) from None
    try:
        migrations.upgrade("head")
        with session_scope() as session, file.open(newline="", encoding=encoding) as handle:
            organisation = auth_service.get_organisation_by_slug(session=session, slug=org)
            if organisation is None:
                console.print(
                    f"[red]no organisation {org!r}[/]: run `dealdesk seed-demo` or pass --org"
                )
                raise typer.Exit(2)
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = list(reader.fieldnames or [])
            with Progress(
                TextColumn(f"importing {kind} from {file.name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as bar:
                task = bar.add_task(kind, total=total)
                try:
                    summary = import_records(
                        session=session,
                        org_id=organisation.id,
                        rows=reader,
                        kind=kind,
                        mapping=mapping,
                        source=source,
                        columns=columns,
                        publish_events=events,
                        batch_size=batch_size,
                        progress=lambda done: bar.update(task, completed=done),
                    )
                except PropertyValidationError as exc:
                    bar.stop()
                    console.print(f"[red]nothing imported[/]: {exc}")
                    raise typer.Exit(2) from None
        for line in summary.lines(max_rejections=show):
            console.print(line)
        if summary.inserted or summary.updated:
            # Bulk imports publish no per-row events by default: refresh the comp index here
            # (incrementally: only the properties missing from it or changed since).
            from domain.valuation import service as valuation_service

            with session_scope() as session:
                indexed = valuation_service.reindex_comps(session=session, org_id=organisation.id)
            console.print(f"comp index refreshed: {indexed} properties (re)indexed")
        if rejects is not None:
            _write_rejects(rejects, summary, columns)
            console.print(f"{summary.rejected} rejected rows written to {rejects}")
        if as_json:
            out.print(json.dumps({"kind": kind, "source": source, **summary.counts()}))
    finally:
        embedded.stop_all()


@import_app.command("sales")
def import_sales(
    file: Annotated[Path, typer.Argument(help="CSV of closed sales (RESO or our column names).")],
    map_: MapOpt = None,
    source: SourceOpt = "mls",
    org: OrgOpt = "demo",
    rejects: RejectsOpt = None,
    events: EventsOpt = None,
    batch_size: BatchOpt = 500,
    show: ShowOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Import closed sales (comps): each needs a close price, close date and an address or point."""
    _run_import("sales", file, map_, source, org, rejects, events, batch_size, show, as_json)


@import_app.command("listings")
def import_listings(
    file: Annotated[Path, typer.Argument(help="CSV of listings (RESO or our column names).")],
    map_: MapOpt = None,
    source: SourceOpt = "mls",
    org: OrgOpt = "demo",
    rejects: RejectsOpt = None,
    events: EventsOpt = None,
    batch_size: BatchOpt = 500,
    show: ShowOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Import listings: each needs a list price and an address or point."""
    _run_import("listings", file, map_, source, org, rejects, events, batch_size, show, as_json)
