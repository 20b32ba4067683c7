"""Test sets for the pairwise comparison: JSONL with an instruction per line, and optionally a
skill and a difficulty.

Field names are matched in any case (the WizardLM paper's own test set writes `Instruction`,
`Skill`, `Difficulty`), and a line without the instruction field may name it `prompt`,
`question` or `input`. The report says which fields were used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardlite.errors import DataError
from wizardlite.io import ReadReport, iter_jsonl_numbered
from wizardlite.recipe import JudgeConfig
from wizardlite.records import content_hash

INSTRUCTION_ALIASES = ("prompt", "question", "input")  # tried after judge.instruction_field


@dataclass(frozen=True)
class TestItem:
    __test__ = False  # not a pytest class

    id: str
    line: int
    instruction: str
    skill: str | None = None
    difficulty: Any = None


@dataclass
class TestsetReport(ReadReport):
    """What `ReadReport` says, and the field each role was read from, with how many items."""

    used: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, str | None]:
        """Role -> the field name most items took it from (None: no item had it)."""
        return {role: (c.most_common(1)[0][0] if c else None) for role, c in self.used.items()}

    def describe(self, quote: str = "") -> str:
        """"instruction <- Instruction, skill <- Skill, difficulty: none"."""
        parts = []
        for role, c in self.used.items():
            names = [f"{quote}{k}{quote}" + (f" ({n})" if len(c) > 1 else "") for k, n in c.most_common()]
            parts.append(f"{role} <- {', '.join(names)}" if names else f"{role}: none")
        return ", ".join(parts)


def instruction_names(cfg: JudgeConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys((cfg.instruction_field, *INSTRUCTION_ALIASES)))


def find_field(obj: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The key of `obj` that the first of `names` matches, exactly or else in another case."""
    lower = {k.lower(): k for k in reversed(list(obj)) if isinstance(k, str)}  # the first spelling wins
    for name in names:
        if name in obj:
            return name
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def read_testset(path: Path, cfg: JudgeConfig) -> tuple[list[TestItem], TestsetReport]:
    """Test items of a JSONL file. Malformed lines and repeated instructions are skipped and
    noted with their line numbers in the report."""
    names = instruction_names(cfg)
    if not path.is_file():
        raise DataError(f"no test set at {path}: pass --testset PATH (JSONL with an "
                        f"'{cfg.instruction_field}' field per line) or set judge.testset in the recipe")
    report = TestsetReport(str(path), used={"instruction": Counter(), "skill": Counter(), "difficulty": Counter()})
    items: list[TestItem] = []
    seen: dict[str, int] = {}
    for n, obj in iter_jsonl_numbered(path, report):
        key = find_field(obj, names)
        text = obj.get(key) if key else None
        if not isinstance(text, str) or not text.strip():
            report.skip(n, f"no instruction text (looked for {', '.join(names)}, in any case)")
            continue
        iid = content_hash(text.strip())
        if iid in seen:
            report.skip(n, f"same instruction as line {seen[iid]}")
            continue
        seen[iid] = n
        extra = {role: find_field(obj, (name,)) for role, name in (("skill", cfg.skill_field),
                                                                   ("difficulty", cfg.difficulty_field))}
        for role, k in (("instruction", key), *extra.items()):
            if k is not None:
                report.used[role][k] += 1
        skill = obj.get(extra["skill"]) if extra["skill"] else None
        items.append(TestItem(iid, n, text.strip(), str(skill) if skill not in (None, "") else None,
                              obj.get(extra["difficulty"]) if extra["difficulty"] else None))
        if cfg.limit and len(items) >= cfg.limit:
            break
    report.rows = len(items)  # usable test items, not every JSON line
    return items, report
