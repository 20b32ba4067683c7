"""The one record type and its content-hashed ids.

Every stage reads and writes `Record`s. A record's id is a hash of its parent's id and its own
content, so the same content under the same parent always gets the same id: reruns, resume
and exact dedup rely on that.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from wizardlite.io import ReadReport, iter_jsonl_numbered

# Record.status values
SEED = "seed"
KEPT = "kept"
ELIMINATED = "eliminated"
DUPLICATE = "duplicate"


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
    # How the record was generated. Keys, each present only when that step ran:
    #   evolve_seed, evolve_sampling (Sampling as a dict), evolve_finish (a GenResult.finish_reason),
    #   raw_evolved (the evolver's reply before cleaning), answer_seed, answer_sampling, answer_finish,
    #   equality_reply and equality (rule 1: the model's reply and True/False/None), error (a backend's).
    generation: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    tokens: dict[str, int] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    # Constraints that code checks (verifiable_constraints), in IFEval's form: instruction_id_list,
    # kwargs, and the sentences that ask for them (phrases); empty when there are none.
    constraints: dict[str, Any] = field(default_factory=dict)
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
