"""The evolve stage: seeds in, evolved instruction/answer records out.

Run as: wizardlite evolve --recipe recipes/default.toml   (or: just evolve)

    seeds.py       seed files in any common layout -> seed Records
    operations.py  the registry of evolution operations: one prompt each, and reply cleaning
    step.py        one round's work on a chunk of the pool: evolve, check, answer, check, dedup
    rules.py       the registry of elimination rules (the paper's four and a few more)
    dedup.py       exact and near-duplicate detection
    dataset.py     the training set, in messages, Alpaca and ShareGPT form and as a datasets folder
    report.py      progress, report.md, funnel.png, summary.json and the closing table

Every outcome is a record in the journal `records.jsonl`, written by this stage alone; it is
also what makes a killed run resumable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from wizardlite import __version__
from wizardlite.backends import make_generator
from wizardlite.errors import ConfigError
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.operations import OPERATIONS
from wizardlite.evolve.report import finish, progress_display
from wizardlite.evolve.seeds import load_seeds
from wizardlite.evolve.step import Lineages, Models, evolve_chunk, round_
from wizardlite.io import Journal, atomic_write_text, file_sha256
from wizardlite.layout import RunLayout
from wizardlite.recipe import Recipe, recipe_to_dict
from wizardlite.records import KEPT, SEED, Record

# Recipe sections that may change between a run and its resume (they do not alter records).
RESUMABLE_CHANGES = ("output", "finetune", "judge", "judge_model")


def check_recipe(recipe: Recipe) -> list[str]:
    """The names the evolve stage owns: operations must be in the registry."""
    return [f"evolve.operations: unknown operation '{op}' (known: {', '.join(OPERATIONS)})"
            for op in recipe.evolve.operations if op not in OPERATIONS]


# ---------------------------------------------------------------------------- the run


def _chunks(items: Sequence[Record], n: int) -> Iterator[Sequence[Record]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _open_models(recipe: Recipe) -> Models:
    evolver = make_generator(recipe.evolver)
    # Sampling settings are per request; only the model and how it is served decide whether
    # the answerer can share the evolver's loaded model.
    same = recipe.answerer.load_key() == recipe.evolver.load_key()
    answerer = evolver if same else make_generator(recipe.answerer)
    return Models(evolver, answerer, evolver.info.as_dict(), answerer.info.as_dict())


def _check_resume(run: RunLayout, resolved: dict[str, Any]) -> None:
    if not run.resolved.is_file() or not run.records.is_file():
        return
    old = json.loads(run.resolved.read_text())

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        rec = {k: v for k, v in d["recipe"].items() if k not in RESUMABLE_CHANGES}
        rec["run"] = {k: v for k, v in rec.get("run", {}).items() if k != "out"}
        rec["evolve"] = {k: v for k, v in rec.get("evolve", {}).items() if k not in ("rounds", "chunk_size")}
        return {"recipe": rec, "seeds_sha256": d.get("seeds_sha256")}

    before, now = strip(old), strip(resolved)
    if before != now:
        changed = sorted(k for k in now["recipe"] if before["recipe"].get(k) != now["recipe"].get(k))
        if before["seeds_sha256"] != now["seeds_sha256"]:
            changed.append("seed file content")
        raise ConfigError(f"{run.root} holds a run made with other settings ({', '.join(changed)}): "
                          "pass --out NEW_FOLDER, or delete the folder to start over")


def _load_state(journal: Journal, seeds: Sequence[Record]) -> Lineages:
    """The journal's records (the seeds first, written on a fresh start) as lineages."""
    rows = journal.read()
    if not rows:
        journal.append(s.to_dict() for s in seeds)
        rows = [s.to_dict() for s in seeds]
    state = Lineages([Record.from_dict(r) for r in rows if r["status"] == SEED])
    for row in rows:
        if row["status"] != SEED:
            state.add(Record.from_dict(row))
    return state


def _load_deduper(recipe: Recipe, state: Lineages) -> Deduper:
    deduper = Deduper(recipe.dedup)
    if recipe.dedup.against_seeds:
        deduper.add([(s.id, s.instruction) for s in state.seeds])
    for rec in state.records:  # rebuild the index of a resumed run in journal order
        if rec.status == KEPT:
            deduper.add([(rec.id, rec.instruction)])
    return deduper


def run(recipe: Recipe) -> Path:
    """Evolve (or resume) a run; return the run folder."""
    if errs := check_recipe(recipe):
        raise ConfigError("; ".join(errs))
    layout = RunLayout(Path(recipe.run.out))
    started = time.time()
    seeds, seed_report = load_seeds(recipe.seeds)
    resolved = {"version": __version__, "recipe": recipe_to_dict(recipe),
                "seeds_sha256": file_sha256(recipe.seeds.path) if Path(recipe.seeds.path).is_file() else None}
    _check_resume(layout, resolved)
    layout.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(layout.resolved, json.dumps(resolved, indent=2, ensure_ascii=False))

    journal = Journal(layout.records)
    state = _load_state(journal, seeds)
    deduper = _load_deduper(recipe, state)
    total = len(state.seeds) * recipe.evolve.rounds
    runlog = Journal(layout.runlog)
    models = _open_models(recipe)
    resolved["evolver"], resolved["answerer"] = models.evolver_info, models.answerer_info
    atomic_write_text(layout.resolved, json.dumps(resolved, indent=2, ensure_ascii=False))
    try:
        with progress_display(total, state.records) as show:
            for rnd in range(1, recipe.evolve.rounds + 1):
                todo = [p for p in state.pool(rnd) if (rnd, p.id) not in state.done]
                for chunk in _chunks(todo, recipe.evolve.chunk_size):
                    t0 = time.time()
                    new = evolve_chunk(chunk, rnd, recipe, models, deduper, on_result=show.on_result)
                    journal.append(r.to_dict() for r in new)
                    for r in new:
                        state.add(r)
                    runlog.append([{"round": rnd, "records": len(new), "wall_s": round_(time.time() - t0),
                                    "prompt_tokens": sum(r.tokens.get("prompt", 0) for r in new),
                                    "completion_tokens": sum(r.tokens.get("completion", 0) for r in new)}])
                    show.advance(rnd, new)
    finally:
        models.evolver.close()
        if models.answerer is not models.evolver:
            models.answerer.close()
    finish(layout, recipe, state.records, seed_report, wall_s=time.time() - started)
    return layout.root
