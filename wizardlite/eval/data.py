"""Reading IFEval's JSONL as it is: one prompt a line, with `key`, `prompt`,
`instruction_id_list` and `kwargs` (one dict per instruction; null values mean "not set").

A line that is not JSON, lacks a prompt, or whose lists disagree is skipped with its line
number. So is a prompt with an instruction id that no checker knows: a prompt-level verdict
needs every one of its instructions checked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizardlite.io import ReadReport, iter_jsonl_numbered


@dataclass(frozen=True)
class EvalPrompt:
    key: str
    prompt: str
    instruction_ids: tuple[str, ...]
    kwargs: tuple[dict[str, Any], ...]  # null values dropped
    line: int


def _parse(n: int, obj: dict[str, Any], known: Collection[str]) -> EvalPrompt | str:
    """The prompt of one line, or why the line is skipped."""
    prompt, ids, kwargs = obj.get("prompt"), obj.get("instruction_id_list"), obj.get("kwargs")
    if not isinstance(prompt, str) or not prompt.strip():
        return "no 'prompt' text"
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return "'instruction_id_list' is not a list of instruction ids"
    if kwargs is None:
        kwargs = [{}] * len(ids)
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        return f"'kwargs' must be a list of {len(ids)} object(s), one per instruction"
    if not all(k is None or isinstance(k, dict) for k in kwargs):
        return "'kwargs' holds something that is not an object"
    unknown = [i for i in ids if i not in known]
    if unknown:
        return f"unknown instruction id(s) {', '.join(repr(i) for i in unknown)}"
    clean = tuple({k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs)
    return EvalPrompt(str(obj.get("key", f"line{n}")), prompt, tuple(ids), clean, n)


def read_prompts(path: str | Path, known: Collection[str], limit: int = 0) -> tuple[list[EvalPrompt], ReadReport]:
    """The usable prompts of an IFEval-format file (the first `limit`, when > 0), and what was
    skipped. Duplicate keys are skipped too: results are joined by key."""
    report = ReadReport(str(path))
    prompts: list[EvalPrompt] = []
    seen: set[str] = set()
    for n, obj in iter_jsonl_numbered(path, report, errors="replace"):
        got = _parse(n, obj, known)
        if isinstance(got, str):
            report.skip(n, got)
        elif got.key in seen:
            report.skip(n, f"key {got.key} appears twice; the first one is used")
        else:
            seen.add(got.key)
            prompts.append(got)
            report.rows += 1
            if limit and len(prompts) >= limit:
                break
    return prompts, report
