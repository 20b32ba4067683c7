"""JSONL and file I/O every stage shares: line-numbered reading that skips bad lines, atomic
writes, the kill-safe append-only `Journal`, and file hashes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
