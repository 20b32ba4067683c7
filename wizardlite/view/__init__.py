"""The view tool: a run's files as one SQLite database, browsed with Datasette in the browser.

Run as: wizardlite view runs/default                              (serve on 127.0.0.1 and open a browser)
        wizardlite view runs/default --export runs/default/run.db  (the SQLite file alone)

    database.py records.jsonl, scores.jsonl and eval/ -> SQLite with full-text search; later
                exports append only what the journals gained
    queries.py  canned queries, the lineage query, Datasette's metadata (facets, search, titles)
    plugin.py   the Datasette plugin: a record's parent and children with each instruction's change
                highlighted, a seed's whole tree; templates/row.html draws them
    serve.py    Datasette on loopback, the browser, Ctrl-C

Reads only the run's files (paths from `layout.py`); writes only the database.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from wizardlite.layout import RunLayout
from wizardlite.view.database import ExportSummary, export

__all__ = ["ExportSummary", "export", "run"]

console = Console(stderr=True)


def _say(s: ExportSummary) -> None:
    how = "built" if s.rebuilt else "updated"
    extra = f", {s.scores_added} new ratings" if s.scores_added else ""
    extra += f", eval tables {', '.join(s.eval_tables)}" if s.eval_tables else ""
    console.print(f"{s.path}: {how} in {s.seconds:.1f} s; {s.records_total} records ({s.records_added} new{extra})",
                  highlight=False)
    for source, line, why in s.skipped[:10]:
        console.print(f"[yellow]skipped {source} line {line}: {why}[/]", highlight=False)
    if len(s.skipped) > 10:
        console.print(f"[yellow]... and {len(s.skipped) - 10} more skipped lines[/]")


def run(run_dir: Path, port: int | None = None, open_browser: bool = True, export_to: Path | None = None) -> Path:
    """Export the run to SQLite; serve it unless `export_to` asks for the file alone. Returns the file."""
    layout = RunLayout(Path(run_dir))
    db = Path(export_to) if export_to else layout.view_db
    _say(export(layout.root, db))
    if export_to is None:
        from wizardlite.view.serve import serve

        serve(db, str(layout.root), port, open_browser, console)
    return db
