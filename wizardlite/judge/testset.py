"""Test sets for the pairwise comparison: JSONL with an instruction per line, and optionally a
skill and a difficulty."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizardlite.errors import DataError
from wizardlite.io import ReadReport, iter_jsonl_numbered
from wizardlite.recipe import JudgeConfig
from wizardlite.records import content_hash


@dataclass(frozen=True)
class TestItem:
    __test__ = False  # not a pytest class

    id: str
    line: int
    instruction: str
    skill: str | None = None
    difficulty: Any = None


def read_testset(path: Path, cfg: JudgeConfig) -> tuple[list[TestItem], ReadReport]:
    """Test items of a JSONL file. Malformed lines and repeated instructions are skipped and
    noted with their line numbers in the report."""
    if not path.is_file():
        raise DataError(f"no test set at {path}: pass --testset PATH (JSONL with an "
                        f"'{cfg.instruction_field}' field per line) or set judge.testset in the recipe")
    report = ReadReport(str(path))
    items: list[TestItem] = []
    seen: dict[str, int] = {}
    for n, obj in iter_jsonl_numbered(path, report):
        text = obj.get(cfg.instruction_field)
        if not isinstance(text, str) or not text.strip():
            report.skip(n, f"no '{cfg.instruction_field}' text")
            continue
        iid = content_hash(text.strip())
        if iid in seen:
            report.skip(n, f"same instruction as line {seen[iid]}")
            continue
        seen[iid] = n
        skill = obj.get(cfg.skill_field)
        items.append(TestItem(iid, n, text.strip(), str(skill) if skill not in (None, "") else None,
                              obj.get(cfg.difficulty_field)))
        if cfg.limit and len(items) >= cfg.limit:
            break
    report.rows = len(items)  # usable test items, not every JSON line
    return items, report
