"""The evolve stage's training set: kept records as chat messages (JSONL and a `datasets`
folder), and in Alpaca and ShareGPT form when the recipe asks."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardlite.io import write_jsonl
from wizardlite.layout import RunLayout
from wizardlite.recipe import Recipe
from wizardlite.records import KEPT, SEED, Record


def training_rows(records: Sequence[Record], recipe: Recipe,
                  selected: set[str] | None = None) -> list[Record]:
    """Kept records with an answer (and answered seeds, with output.include_seeds); only those in
    `selected` when [select] chose some."""
    keep = [r for r in records if r.status == KEPT and r.response.strip() and (selected is None or r.id in selected)]
    if recipe.output.include_seeds:
        keep = [r for r in records if r.status == SEED and r.response.strip()] + keep
    return keep


def as_messages(r: Record, system: str = "") -> dict[str, Any]:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": r.instruction}, {"role": "assistant", "content": r.response}]
    return {"id": r.id, "messages": msgs}


def as_alpaca(r: Record) -> dict[str, Any]:
    return {"id": r.id, "instruction": r.instruction, "input": "", "output": r.response}


def as_sharegpt(r: Record, system: str = "") -> dict[str, Any]:
    conv = ([{"from": "system", "value": system}] if system else []) + [
        {"from": "human", "value": r.instruction}, {"from": "gpt", "value": r.response}]
    return {"id": r.id, "conversations": conv}


def write_dataset(run: RunLayout, rows: Sequence[Record], recipe: Recipe) -> dict[str, Path]:
    sysmsg = recipe.output.system_prompt
    written = {"messages": run.train}
    write_jsonl(written["messages"], (as_messages(r, sysmsg) for r in rows))
    if "alpaca" in recipe.output.formats:
        written["alpaca"] = run.export("alpaca")
        write_jsonl(written["alpaca"], (as_alpaca(r) for r in rows))
    if "sharegpt" in recipe.output.formats:
        written["sharegpt"] = run.export("sharegpt")
        write_jsonl(written["sharegpt"], (as_sharegpt(r, sysmsg) for r in rows))
    # The datasets folder is written beside its final place, then swapped in.
    import datasets

    datasets.disable_progress_bars()
    tmp, final = run.data / ".hf.tmp", run.hf
    shutil.rmtree(tmp, ignore_errors=True)
    msgs = [as_messages(r, sysmsg) for r in rows]
    ds = (datasets.Dataset.from_list(msgs) if msgs
          else datasets.Dataset.from_dict({"id": [], "messages": []}, features=_empty_features()))
    ds.save_to_disk(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    written["hf"] = final
    return written


def _empty_features() -> Any:
    import datasets

    msg = {"role": datasets.Value("string"), "content": datasets.Value("string")}
    return datasets.Features({"id": datasets.Value("string"), "messages": [msg]})
