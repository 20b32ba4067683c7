"""A run's files as one SQLite database: every record with its lineage, the judge's difficulty
ratings and the eval results, with full-text search on instructions and responses.

Run as: wizardlite view runs/default --export runs/default/run.db

The journals only grow, so the database remembers how far it read each one (a byte offset and a
hash of the bytes just before it) and the next export appends only what was written since. A
journal that shrank or changed before that point (a run deleted and made again), another run's
database or an older schema is rebuilt from scratch, into a temporary file that replaces the
old one only when it is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from wizardlite.errors import DataError
from wizardlite.io import ReadReport, iter_jsonl
from wizardlite.layout import EvalLayout, RunLayout
from wizardlite.records import Record

SCHEMA_VERSION = 2  # 2: records.constraint_types and the constraint_types table
TAIL = 4096  # bytes before a journal offset whose hash tells that the journal was not rewritten
CHUNK = 8 << 20  # bytes read at a time
BATCH = 5000  # lines per insert

# The records table has the fields of `Record`, in its order (the dict fields as JSON text), so
# a field added to the record type shows up here without a change; then what the export adds.
_SQL_TYPES = {"int": "INTEGER", "float": "REAL"}
_LINKS = ("parent_id", "root_id", "duplicate_of")
RECORD_FIELDS = [f.name for f in fields(Record)]
_RECORD_DEFS = [f"{f.name} {_SQL_TYPES.get(str(f.type), 'TEXT')}" + (" PRIMARY KEY" if f.name == "id" else "")
                + (" REFERENCES records(id)" if f.name in _LINKS else "") for f in fields(Record)]
ADDED_COLUMNS = {
    "depth": "INTEGER",  # evolutions between the seed and this record; 0 for a seed
    "difficulty": "REAL",  # the judge's latest rating in scores.jsonl, if any
    "line": "INTEGER",  # line in records.jsonl
    "constraint_types": "TEXT",  # the ids of its constraints as a JSON list (a facet), or null
}

TABLES = f"""
CREATE TABLE records ({", ".join(_RECORD_DEFS + [f"{k} {v}" for k, v in ADDED_COLUMNS.items()])});
CREATE VIRTUAL TABLE records_fts USING fts5(instruction, response, content="records", tokenize="porter unicode61");
CREATE TABLE scores (record_id TEXT REFERENCES records(id), judge_key TEXT, difficulty REAL, raw TEXT, judge TEXT,
                     finish_reason TEXT, line INTEGER);
-- how far each file of the run (a path relative to the run folder) has been read: `offset` bytes of
-- a journal and the hash of the TAIL bytes before it, or a whole file's size and hash
CREATE TABLE wizardlite_export (source TEXT PRIMARY KEY, offset INTEGER, tail_sha256 TEXT, rows INTEGER,
                                lines INTEGER);
CREATE TABLE wizardlite_run (key TEXT PRIMARY KEY, value TEXT);
-- the constraint registry's types with their tags, to join records' constraint_types against
CREATE TABLE constraint_types (id TEXT PRIMARY KEY, family TEXT, half TEXT, in_ifeval INTEGER, test_only INTEGER,
                               scope TEXT);
"""
# Made after a full build's bulk insert, which is faster without them. One per facet column;
# the composite ones let the canned queries read an index instead of the wide rows.
INDEXES = """
CREATE INDEX records_parent ON records(parent_id);
CREATE INDEX records_root ON records(root_id);
CREATE INDEX records_duplicate ON records(duplicate_of);
CREATE INDEX records_round ON records(round);
CREATE INDEX records_reason ON records(reason);
CREATE INDEX records_operation_round_status ON records(operation, round, status);
CREATE INDEX records_status_reason ON records(status, reason);
CREATE INDEX records_status_root_depth ON records(status, root_id, depth);
CREATE INDEX scores_record ON scores(record_id);
"""

# Journal lines are parsed by SQLite's JSON functions, in C: about twice as fast as json.loads
# and json.dumps of the dict fields in Python.
INSERT_RECORDS = (f"INSERT OR IGNORE INTO records ({', '.join(RECORD_FIELDS)}, line, constraint_types) SELECT "
                  + ", ".join(f"json_extract(j, '$.\"{name}\"')" for name in RECORD_FIELDS)
                  + ", line, json_extract(j, '$.constraints.instruction_id_list') FROM (SELECT ? AS line, ? AS j) "
                  # CASE, unlike AND, is sure to test validity before the other JSON functions run
                  "WHERE CASE WHEN json_valid(j) THEN json_type(j, '$.id') = 'text' ELSE 0 END")
SCORE_COLUMNS = ("record_id", "judge_key", "difficulty", "raw", "judge", "finish_reason", "line")


@dataclass
class ExportSummary:
    path: Path
    rebuilt: bool
    records_added: int = 0
    records_total: int = 0
    scores_added: int = 0
    eval_tables: list[str] = field(default_factory=list)
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, why)
    seconds: float = 0.0


# ---------------------------------------------------------------------------- reading journals


@dataclass
class _Cursor:
    """How far one journal has been read: `offset` bytes, ending with complete lines."""

    offset: int = 0
    tail_sha256: str = ""
    rows: int = 0
    lines: int = 0


def _tail_hash(path: Path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, offset - TAIL))
        return hashlib.sha256(f.read(offset - max(0, offset - TAIL))).hexdigest()


def _new_lines(path: Path, cur: _Cursor, progress: Progress) -> Iterator[tuple[int, str]]:
    """The non-blank complete lines after `cur.offset`, with their line numbers; moves the
    cursor along. A torn last line (a writer killed mid-line) is left for the next export."""
    task = progress.add_task(path.name, total=path.stat().st_size, completed=cur.offset)
    with open(path, "rb") as f:
        f.seek(cur.offset)
        rest = b""
        while chunk := f.read(CHUNK):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                cur.lines += 1
                cur.offset += len(raw) + 1
                if raw.strip():
                    yield cur.lines, raw.decode("utf-8", errors="replace")
            progress.update(task, completed=cur.offset)
    cur.tail_sha256 = _tail_hash(path, cur.offset)


def _new_objects(path: Path, cur: _Cursor, report: ReadReport, progress: Progress) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in _new_lines(path, cur, progress):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            report.skip(n, f"invalid JSON: {e.msg}")
            continue
        if isinstance(obj, dict):
            yield n, obj
        else:
            report.skip(n, f"not a JSON object ({type(obj).__name__})")


def _batches(items: Iterable[Any], n: int = BATCH) -> Iterator[list[Any]]:
    batch = []
    for x in items:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------- the database


def _source(run: RunLayout, path: Path) -> str:
    return path.relative_to(run.root).as_posix()


def _load_cursor(conn: sqlite3.Connection, source: str) -> _Cursor:
    row = conn.execute("SELECT offset, tail_sha256, rows, lines FROM wizardlite_export WHERE source = ?",
                       (source,)).fetchone()
    return _Cursor(*row) if row else _Cursor()


def _save_cursor(conn: sqlite3.Connection, source: str, cur: _Cursor) -> None:
    conn.execute("INSERT OR REPLACE INTO wizardlite_export VALUES (?, ?, ?, ?, ?)",
                 (source, cur.offset, cur.tail_sha256, cur.rows, cur.lines))


def _only_grew(conn: sqlite3.Connection, run: RunLayout, journal: Path) -> bool:
    """Whether what an earlier export read of `journal` is still its start (it only grew since)."""
    cur = _load_cursor(conn, _source(run, journal))
    return not cur.offset or (journal.is_file() and journal.stat().st_size >= cur.offset
                              and _tail_hash(journal, cur.offset) == cur.tail_sha256)


def _reusable(db: Path, run: RunLayout) -> sqlite3.Connection | None:
    """An open connection to `db` when it is this run's export and its journals only grew since;
    None when it must be rebuilt. A file that is not a wizardlite export is never overwritten."""
    try:
        conn = sqlite3.connect(db)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        raise DataError(f"{db} exists and is not a SQLite file: pass another --export path, or delete it") from None
    if "wizardlite_run" not in tables:
        conn.close()
        raise DataError(f"{db} exists and is not a wizardlite export: pass another --export path, or delete it")
    meta = dict(conn.execute("SELECT key, value FROM wizardlite_run").fetchall())
    fresh = (meta.get("schema") == str(SCHEMA_VERSION) and meta.get("run") == str(run.root.resolve())
             and all(_only_grew(conn, run, journal) for journal in (run.records, run.scores)))
    if not fresh:
        conn.close()
        return None
    return conn


def _not_records(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    for n, line in lines:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield n, f"invalid JSON: {e.msg}"
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            yield n, "not a record (no id)"


def _set_depths(conn: sqlite3.Connection, first_new: int) -> None:
    """Depth of the records after rowid `first_new`. Parents come before their children in the
    journal, so one pass in rowid order finds each parent's depth already set."""
    new = conn.execute("SELECT n.rowid, n.id, n.parent_id, p.depth FROM records n LEFT JOIN records p "
                       "ON p.id = n.parent_id AND p.rowid <= ? WHERE n.rowid > ? ORDER BY n.rowid",
                       (first_new, first_new)).fetchall()
    depth: dict[str, int | None] = {}
    updates = []
    for rowid, rid, parent, old_parent_depth in new:
        up = -1 if parent is None else old_parent_depth if old_parent_depth is not None else depth.get(parent)
        depth[rid] = d = None if up is None else up + 1
        updates.append((d, rowid))
    conn.executemany("UPDATE records SET depth = ? WHERE rowid = ?", updates)


def _add_records(conn: sqlite3.Connection, run: RunLayout, summary: ExportSummary, progress: Progress) -> None:
    source = _source(run, run.records)
    cur = _load_cursor(conn, source)
    first_new = conn.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()[0]
    for batch in _batches(_new_lines(run.records, cur, progress)):
        added = conn.executemany(INSERT_RECORDS, batch).rowcount
        summary.records_added += added
        if added < len(batch):  # lines that are not records (or ids seen before, which are dropped)
            summary.skipped += [(source, n, why) for n, why in _not_records(batch)]
    if summary.records_added:
        _set_depths(conn, first_new)
        conn.execute("INSERT INTO records_fts (rowid, instruction, response) "
                     "SELECT rowid, instruction, response FROM records WHERE rowid > ?", (first_new,))
    if summary.records_added and first_new:  # ratings read by an earlier export for records that only arrive now
        conn.execute("UPDATE records SET difficulty = (SELECT s.difficulty FROM scores s WHERE s.record_id = records.id "
                     "ORDER BY s.rowid DESC LIMIT 1) WHERE rowid > ?", (first_new,))
    cur.rows += summary.records_added
    summary.records_total = cur.rows
    _save_cursor(conn, source, cur)


def _add_scores(conn: sqlite3.Connection, run: RunLayout, summary: ExportSummary, progress: Progress) -> None:
    """The judge's difficulty ratings (`{"id", "difficulty", "raw", "judge_key", "judge", ...}`
    rows); a record's `difficulty` is its latest rating."""
    if not run.scores.is_file():
        return
    source = _source(run, run.scores)
    cur = _load_cursor(conn, source)
    report = ReadReport(source)
    insert = f"INSERT INTO scores ({', '.join(SCORE_COLUMNS)}) VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
    for batch in _batches(_new_objects(run.scores, cur, report, progress)):
        rows = [(o["id"], o.get("judge_key"), o.get("difficulty"), o.get("raw"), (o.get("judge") or {}).get("name"),
                 o.get("finish_reason"), line) for line, o in batch if isinstance(o.get("id"), str)]
        report.skipped += [(line, "no record id") for line, o in batch if not isinstance(o.get("id"), str)]
        conn.executemany(insert, rows)
        conn.executemany("UPDATE records SET difficulty = ? WHERE id = ?", [(r[2], r[0]) for r in rows])
        summary.scores_added += len(rows)
    cur.rows += summary.scores_added
    _save_cursor(conn, source, cur)
    summary.skipped += [(source, n, why) for n, why in report.skipped]


# ---------------------------------------------------------------------------- eval results


def _cell(v: Any) -> Any:
    return v if v is None or isinstance(v, str | int | float) else json.dumps(v, ensure_ascii=False)


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of each leaf of nested objects; a list is a leaf."""
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, obj


def _eval_tables(run: RunLayout) -> dict[str, tuple[Path, Any]]:
    """table -> (file, how to read it into rows): each answer with its verdicts, and the
    results as one (key, value) row per figure ("models.model.prompt_strict", ...)."""
    ev = EvalLayout(run.eval_dir())
    return {"eval_responses": (ev.responses, lambda p: list(iter_jsonl(p))),
            "eval_results": (ev.results, lambda p: [{"key": k, "value": v}
                                                    for k, v in _leaves(json.loads(p.read_text(encoding="utf-8")))])}


def _add_eval(conn: sqlite3.Connection, run: RunLayout, summary: ExportSummary) -> None:
    """The eval stage's answers and results (`wizardlite eval`) as tables, replaced when their
    file changed. The eval stage owns their format; the view shows the fields that are there."""
    for table, (path, read) in _eval_tables(run).items():
        if not path.is_file():
            continue
        source = _source(run, path)
        summary.eval_tables.append(table)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if _load_cursor(conn, source).tail_sha256 == sha:
            continue
        try:
            rows = read(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            summary.skipped.append((source, 0, f"not readable as JSON: {e}"))
            continue
        columns = list(dict.fromkeys(k for r in rows for k in r))
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        if columns:
            conn.execute(f'CREATE TABLE {table} ({", ".join(_quote(c) for c in columns)})')
            conn.executemany(f'INSERT INTO {table} VALUES ({", ".join("?" * len(columns))})',
                             [[_cell(r.get(c)) for c in columns] for r in rows])
        _save_cursor(conn, source, _Cursor(path.stat().st_size, sha, len(rows)))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _add_registry(conn: sqlite3.Connection) -> None:
    """The constraint types of the registry this export was made with, and their tags."""
    from wizardlite.constraints import TYPES

    conn.executemany("INSERT INTO constraint_types VALUES (?, ?, ?, ?, ?, ?)",
                     [(t.id, t.family, t.half, int(t.in_ifeval), int(t.test_only), t.scope) for t in TYPES.values()])


# ---------------------------------------------------------------------------- export


def _progress() -> Progress:
    console = Console(stderr=True)
    return Progress(TextColumn("[bold]export {task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def _fill(conn: sqlite3.Connection, run: RunLayout, summary: ExportSummary) -> None:
    with _progress() as progress:
        _add_records(conn, run, summary, progress)
        _add_scores(conn, run, summary, progress)
    _add_eval(conn, run, summary)


def export(run_dir: Path, db: Path) -> ExportSummary:
    """Write (or bring up to date) the SQLite file `db` of the run in `run_dir`."""
    t0 = time.perf_counter()
    run = RunLayout(Path(run_dir))
    if not run.records.is_file():
        raise DataError(f"no {run.records.name} in {run.root}: pass an evolve run folder, e.g. runs/default")
    conn = _reusable(db, run) if db.exists() else None
    if conn is not None:
        summary = ExportSummary(db, rebuilt=False)
        with conn:
            _fill(conn, run, summary)
        conn.close()
    else:
        summary = ExportSummary(db, rebuilt=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        tmp = db.with_name(f".{db.name}.tmp")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        try:
            # A half-written file is never used (it replaces `db` only when complete), so
            # durability during the build buys nothing.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.executescript(TABLES)
            conn.executemany("INSERT INTO wizardlite_run VALUES (?, ?)",
                             [("schema", str(SCHEMA_VERSION)), ("run", str(run.root.resolve()))])
            _add_registry(conn)
            _fill(conn, run, summary)
            conn.executescript(INDEXES)
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, db)
    summary.seconds = time.perf_counter() - t0
    return summary
