"""The one record type, its content-hashed ids, and JSONL input/output.

Every stage reads and writes `Record`s. A record's id is a hash of its parent's id and its own
content, so the same content under the same parent always gets the same id: reruns, resume
and exact dedup rely on that.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Record.status values
SEED = "seed"
KEPT = "kept"
ELIMINATED = "eliminated"
DUPLICATE = "duplicate"
STATUSES = (SEED, KEPT, ELIMINATED, DUPLICATE)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(*parts: Any, n: int = 16) -> str:
    return hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()[:n]


def record_id(parent_id: str | None, round: int, operation: str, instruction: str) -> str:
    """Id of a record: hash over (parent id, content). The round is part of the content so that
    a parent retried in a later round and producing the same text gets a distinct id."""
    return content_hash(parent_id, round, operation, instruction.strip())


def local_rng(run_seed: int, *keys: Any) -> random.Random:
    """A random generator private to one decision. Never use the global RNG: choices must not
    depend on the order in which records happen to be processed."""
    return random.Random(int(content_hash(run_seed, *keys, n=16), 16))


def derived_seed(run_seed: int, *keys: Any) -> int:
    """A 31-bit sampling seed for one generation, derived like `local_rng`."""
    return int(content_hash("seed", run_seed, *keys, n=8), 16) & 0x7FFFFFFF


@dataclass
class Record:
    """One instruction in the evolution tree. The schema is fixed whatever the flags."""

    id: str
    parent_id: str | None
    root_id: str
    round: int
    operation: str
    instruction: str
    response: str = ""
    status: str = SEED
    reason: str = ""
    duplicate_of: str | None = None
    evolver: dict[str, Any] = field(default_factory=dict)  # {"name", "sha256"}
    answerer: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)  # sampling settings and seeds used
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    tokens: dict[str, int] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # source fields we carry along (skill, source line...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown record fields: {sorted(unknown)}")
        return cls(**d)


# ---------------------------------------------------------------------------- JSONL

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


def read_records(path: str | Path, report: ReadReport | None = None) -> list[Record]:
    out = []
    for n, obj in iter_jsonl_numbered(path, report):
        try:
            out.append(Record.from_dict(obj))
        except (TypeError, ValueError) as e:
            if report is not None:
                report.skip(n, f"not a record: {e}")
            continue
        if report is not None:
            report.rows += 1
    return out


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
