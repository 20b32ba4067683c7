"""The evolve stage: seeds in, evolved instruction/answer records out.

Run as: wizardlite evolve --recipe recipes/default.toml   (or: just evolve)

    seeds.py       seed files in any common layout -> seed Records
    operations.py  the registry of evolution operations: one prompt each, and reply cleaning
    step.py        one evolution: evolve, check, answer, check; the pool of each round
    pipeline.py    evolutions streamed through the backends, records journaled in a fixed order
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardlite import __version__
from wizardlite.backends import make_generator
from wizardlite.errors import ConfigError
from wizardlite.evolve.decontam import decontaminator
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.operations import OPERATIONS
from wizardlite.evolve.pipeline import Pipeline
from wizardlite.evolve.report import finish, progress_display
from wizardlite.evolve.seeds import fit_context, load_seeds
from wizardlite.evolve.select import run_selection
from wizardlite.evolve.step import Lineages, Models, round_
from wizardlite.io import Journal, atomic_write_text, file_sha256
from wizardlite.layout import RunLayout
from wizardlite.recipe import Recipe, recipe_to_dict
from wizardlite.records import KEPT, SEED, Record

# Recipe sections that may change between a run and its resume (they do not alter records).
RESUMABLE_CHANGES = ("output", "finetune", "judge", "judge_model", "eval", "select")


def check_recipe(recipe: Recipe) -> list[str]:
    """The names the evolve stage owns: operations and constraint types must be in their registries,
    and a test-only constraint type is never drawn in evolution."""
    from wizardlite.constraints import TYPES

    errs = [f"evolve.operations: unknown operation '{op}' (known: {', '.join(OPERATIONS)})"
            for op in recipe.evolve.operations if op not in OPERATIONS]
    for t in recipe.verify.types:
        if t not in TYPES:
            errs.append(f"verify.types: unknown constraint type '{t}' (`wizardlite constraints` lists them)")
        elif TYPES[t].test_only:
            errs.append(f"verify.types: '{t}' is test-only (kept for held-out tests): remove it")
    return errs


# ---------------------------------------------------------------------------- the run


def _open_models(recipe: Recipe) -> Models:
    evolver = make_generator(recipe.evolver)
    # Sampling settings are per request; only the model and how it is served decide whether
    # the answerer can share the evolver's loaded model.
    same = recipe.answerer.load_key() == recipe.evolver.load_key()
    answerer = evolver if same else make_generator(recipe.answerer)
    return Models(evolver, answerer, evolver.info.as_dict(), answerer.info.as_dict())


def _resolved(recipe: Recipe) -> dict[str, Any]:
    """What a run records of its settings and input files, to refuse a resume that would mix two runs."""
    resolved = {"version": __version__, "recipe": recipe_to_dict(recipe),
                "seeds_sha256": file_sha256(recipe.seeds.path) if Path(recipe.seeds.path).is_file() else None}
    if recipe.decontaminate.files:
        resolved["decontaminate_sha256"] = {f: file_sha256(f) for f in recipe.decontaminate.files if Path(f).is_file()}
    return resolved


def _check_resume(run: RunLayout, resolved: dict[str, Any]) -> None:
    if not run.resolved.is_file() or not run.records.is_file():
        return
    old = json.loads(run.resolved.read_text())

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        # A section the older run's recipe did not have yet had its defaults there.
        rec = {k: v for k, v in (recipe_to_dict(Recipe()) | d["recipe"]).items() if k not in RESUMABLE_CHANGES}
        rec["run"] = {k: v for k, v in rec.get("run", {}).items() if k != "out"}
        rec["evolve"] = {k: v for k, v in rec.get("evolve", {}).items() if k not in ("rounds", "chunk_size")}
        # Files are compared by content, so a journal copied to a clone at another path resumes there;
        # a file that was missing is known only by its path.
        if d.get("seeds_sha256"):
            rec["seeds"] = {**rec.get("seeds", {}), "path": d["seeds_sha256"]}
        hashes = d.get("decontaminate_sha256") or {}
        files = rec.get("decontaminate", {}).get("files", [])
        rec["decontaminate"] = {**rec.get("decontaminate", {}), "files": [hashes.get(f, f) for f in files]}
        return rec

    before, now = strip(old), strip(resolved)
    if before != now:
        changed = sorted(k for k in now if before.get(k) != now.get(k))
        if old.get("seeds_sha256") != resolved.get("seeds_sha256"):
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


def _load_deduper(recipe: Recipe, state: Lineages, layout: RunLayout) -> Deduper:
    """The index of a fresh or resumed run, in journal order; the vectors a killed run stored
    beside its journal are read back, not embedded again."""
    deduper = Deduper(recipe.dedup, store=layout.dedup_index)
    members = list(state.seeds) if recipe.dedup.against_seeds else []
    members += [r for r in state.records if r.status == KEPT]
    deduper.add([(r.id, r.instruction) for r in members])
    return deduper


def _tasks(state: Lineages, rounds: int) -> tuple[list[Record], list[tuple[int, int]]]:
    """The evolutions still to do, as (round, lineage) in canonical order (round by round, seeds
    in order), and each lineage's head before its first one. The journal holds a prefix of
    that order, so a lineage's done rounds come before its others."""
    heads: list[Record] = list(state.seeds)
    tasks: list[tuple[int, int]] = []
    todo: set[int] = set()  # lineages with a round still to do: their heads stay put
    for rnd in range(1, rounds + 1):
        for i, head in enumerate(heads):
            rec = None if i in todo else state.done.get((rnd, head.id))
            if rec is None:
                todo.add(i)
                tasks.append((rnd, i))
            elif rec.status == KEPT:
                heads[i] = rec
    return heads, tasks


def run(recipe: Recipe) -> Path:
    """Evolve (or resume) a run; return the run folder."""
    if errs := check_recipe(recipe):
        raise ConfigError("; ".join(errs))
    layout = RunLayout(Path(recipe.run.out))
    started = time.time()
    seeds, seed_report = load_seeds(recipe.seeds)
    resolved = _resolved(recipe)
    _check_resume(layout, resolved)
    layout.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(layout.resolved, json.dumps(resolved, indent=2, ensure_ascii=False))

    models = _open_models(recipe)
    seeds = fit_context(seeds, seed_report, models.evolver, recipe)  # too long for the context: skipped, not retried
    journal = Journal(layout.records)
    state = _load_state(journal, seeds)
    deduper = _load_deduper(recipe, state, layout)
    decontam = decontaminator(recipe.decontaminate, lambda: deduper.embedder)
    total = len(state.seeds) * recipe.evolve.rounds
    runlog = Journal(layout.runlog)
    resolved["evolver"], resolved["answerer"] = models.evolver_info, models.answerer_info
    atomic_write_text(layout.resolved, json.dumps(resolved, indent=2, ensure_ascii=False))
    try:
        with progress_display(total, state.records) as show:
            last = [time.time()]

            def commit(new: list[Record]) -> None:
                journal.append(vars(r) for r in new)  # the JSON of to_dict(), without its deep copy
                for r in new:
                    state.add(r)
                runlog.append([{"round": new[-1].round, "records": len(new), "wall_s": round_(time.time() - last[0]),
                                "prompt_tokens": sum(r.tokens.get("prompt", 0) for r in new),
                                "completion_tokens": sum(r.tokens.get("completion", 0) for r in new)}])
                last[0] = time.time()
                show.advance(new[-1].round, new)

            heads, tasks = _tasks(state, recipe.evolve.rounds)
            Pipeline(heads, tasks, recipe, models, deduper, commit, on_result=show.on_result, decontam=decontam).run()
    finally:
        models.evolver.close()
        if models.answerer is not models.evolver:
            models.answerer.close()
    ifd, selected = run_selection(state.records, recipe, layout.ifd) if recipe.select.ifd else (None, None)
    finish(layout, recipe, state.records, seed_report, wall_s=time.time() - started, ifd=ifd, selected=selected)
    return layout.root
