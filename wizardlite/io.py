"""JSONL and file I/O every stage shares: line-numbered reading that skips bad lines, rows of
JSON, CSV, parquet and `datasets` folders, atomic writes, the kill-safe append-only `Journal`,
and file hashes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardlite.errors import DataError


@dataclass
class ReadReport:
    """What went wrong while reading a file: (line number, reason) for each skipped line."""

    path: str
    rows: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def skip(self, line: int, reason: str) -> None:
        self.skipped.append((line, reason))


def iter_jsonl(path: str | Path, report: ReadReport | None = None) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file. A malformed line is skipped and noted in
    `report` with its line number; it never stops the read."""
    for _, obj in iter_jsonl_numbered(path, report):
        yield obj


def iter_jsonl_numbered(path: str | Path, report: ReadReport | None = None,
                        errors: str = "strict") -> Iterator[tuple[int, dict[str, Any]]]:
    """Like `iter_jsonl`, with each object's line number. `errors` is how undecodable bytes are
    handled ("replace" for files written by other tools). Counting usable rows is the
    caller's business: what counts as usable differs (a record, a seed, a conversation)."""
    with open(path, encoding="utf-8", errors=errors) as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                if report is not None:
                    report.skip(n, f"invalid JSON: {e.msg}")
                continue
            if not isinstance(obj, dict):
                if report is not None:
                    report.skip(n, f"not a JSON object ({type(obj).__name__})")
                continue
            yield n, obj


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole file so that readers see either the old or the new content, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


class Journal:
    """An append-only JSONL file that survives `kill -9`.

    Each `append` writes whole lines in one call and fsyncs. On open, a torn last line (the
    process died mid-write) is cut off, so a resumed run neither loses a complete record nor
    reads a half one.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return list(iter_jsonl(self.path))

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if not text:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's file names and contents (a `datasets` folder)."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------- rows of any table

ROW_FORMATS = ("jsonl", "json", "csv", "parquet", "hf")
_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
              ".parquet": "parquet", ".pq": "parquet"}
# Keys that wrap the list of rows in a JSON object, e.g. {"data": [...]}.
_WRAPPERS = ("data", "rows", "examples", "records", "items", "train")
Row = dict[str, Any]


def is_datasets_folder(path: Path) -> bool:
    """A folder written by `datasets`' save_to_disk (a Dataset or a DatasetDict)."""
    return path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json", "dataset_info.json"))


def detect_format(path: Path) -> str | None:
    """One of ROW_FORMATS from the file's suffix, or from its first bytes when the suffix says
    nothing; None when neither tells (the caller knows what to suggest)."""
    if path.is_dir():
        return "hf" if is_datasets_folder(path) else None
    if path.suffix.lower() in _BY_SUFFIX:
        return _BY_SUFFIX[path.suffix.lower()]
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    return "json" if head[:1] in (b"{", b"[") else None  # JSON-looking: JSON, or JSONL (see _read_json)


def read_rows(path: Path, fmt: str, report: ReadReport) -> Iterator[tuple[int, Row]]:
    """(line or row number, row) of a table in one of ROW_FORMATS. A row we cannot use is
    noted in `report` with its number; a file we cannot read at all is a DataError."""
    return _READERS[fmt](path, report)


def _read_jsonl(path: Path, report: ReadReport) -> Iterator[tuple[int, Row]]:
    return iter_jsonl_numbered(path, report, errors="replace")  # such files come from anywhere


def _read_json(path: Path, report: ReadReport) -> Iterator[tuple[int, Row]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # one object per line under a .json name: read it as JSONL
            yield from _read_jsonl(path, report)
            return
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix it or save it as JSONL") from None
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        key = next((k for k in _WRAPPERS if k in lists), None)
        if key is None and len(lists) == 1:
            key = next(iter(lists))
        if key is None:
            raise DataError(f"{path}: a JSON object without an obvious list of rows (keys: {', '.join(data)}); "
                            "save the rows as a JSON list or as JSONL")
        data = data[key]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    # A JSON list has no useful line numbers; the row number (1-based) stands in for them.
    for n, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield n, obj
        else:
            report.skip(n, f"not a JSON object ({type(obj).__name__})")


def _read_csv(path: Path, report: ReadReport) -> Iterator[tuple[int, Row]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        start = 2  # line of the first data row, after the header
        for row in reader:
            n, start = start, reader.line_num + 1  # a quoted cell may span lines
            if None in row:  # more cells than header columns
                report.skip(n, f"{len(row) - 1 + len(row[None])} cells but {len(row) - 1} columns in the header")
                continue
            yield n, {k: ("" if v is None else v) for k, v in row.items()}


def _read_parquet(path: Path, report: ReadReport) -> Iterator[tuple[int, Row]]:
    import pyarrow.parquet as pq

    yield from enumerate(pq.read_table(path).to_pylist(), start=1)


def _read_hf(path: Path, report: ReadReport) -> Iterator[tuple[int, Row]]:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        ds = ds[split]
    yield from enumerate(ds, start=1)


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet, "hf": _read_hf}
