"""The evolve stage: seeds in, evolved instruction/answer records out.

Run as: wizardlite evolve --recipe recipes/default.toml   (or: just evolve)

Each round walks the pool (one current instruction per seed lineage) in a fixed order. For
each instruction: pick an operation, ask the evolver to rewrite it, clean the reply, apply
the instruction rules, generate an answer and ask whether anything was gained, apply the
answer rules, then dedup. A kept child replaces its parent in the pool; a failed one leaves
the parent in the pool for the next round. Every outcome is a record in the journal
`records.jsonl`, which is also what makes a killed run resumable.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from wizardlite import __version__
from wizardlite.backends import Generator, GenRequest, GenResult, Sampling, make_generator, user
from wizardlite.config import Recipe, recipe_to_dict
from wizardlite.dedup import Deduper
from wizardlite.eliminate import (
    BACKEND_ERROR,
    NO_GAIN,
    check_answer,
    check_instruction,
    equality_request,
    parse_equality,
)
from wizardlite.errors import ConfigError
from wizardlite.operations import build_prompt, clean_evolved
from wizardlite.records import (
    DUPLICATE,
    ELIMINATED,
    KEPT,
    SEED,
    Journal,
    Record,
    atomic_write_text,
    derived_seed,
    file_sha256,
    local_rng,
    record_id,
)

RECORDS = "records.jsonl"
RUNLOG = "runlog.jsonl"
RESOLVED = "recipe.resolved.json"
# Recipe sections that may change between a run and its resume (they do not alter records).
RESUMABLE_CHANGES = ("output", "finetune", "judge", "judge_model")
MODEL_IDENTITY = ("backend", "model", "endpoints", "api_key", "n_ctx", "n_gpu_layers", "n_threads", "parallel",
                  "prefix_cache", "timeout_s", "retries", "fake_delay_s")


def choose_operation(run_seed: int, parent_id: str, round: int, weights: dict[str, float]) -> str:
    """The operation for one evolution, from a generator private to (run seed, parent, round)."""
    names = sorted(n for n, w in weights.items() if w > 0)
    rng = local_rng(run_seed, "operation", parent_id, round)
    return rng.choices(names, weights=[weights[n] for n in names], k=1)[0]


# ---------------------------------------------------------------------------- state


class Lineages:
    """The journal's records, indexed: which evolutions are done and what each pool holds."""

    def __init__(self, seeds: Sequence[Record]):
        self.seeds = list(seeds)
        self.by_id: dict[str, Record] = {s.id: s for s in seeds}
        self.done: dict[tuple[int, str], Record] = {}  # (round, parent id) -> outcome
        self.records: list[Record] = list(seeds)

    def add(self, rec: Record) -> None:
        self.by_id[rec.id] = rec
        self.done[(rec.round, rec.parent_id or "")] = rec
        self.records.append(rec)

    def pool(self, round: int) -> list[Record]:
        """The instructions to evolve in `round`: for each seed, the last kept descendant."""
        heads = list(self.seeds)
        for r in range(1, round):
            for i, head in enumerate(heads):
                child = self.done.get((r, head.id))
                if child is not None and child.status == KEPT:
                    heads[i] = child
        return heads


# ---------------------------------------------------------------------------- one chunk


@dataclasses.dataclass
class Models:
    evolver: Generator
    answerer: Generator
    evolver_info: dict[str, Any]
    answerer_info: dict[str, Any]


def _generate(gen: Generator, reqs: list[GenRequest], on_result: Any) -> list[GenResult]:
    return gen.generate(reqs, on_result=on_result) if reqs else []


def evolve_chunk(parents: Sequence[Record], round: int, recipe: Recipe, models: Models, deduper: Deduper,
                 on_result: Any = None) -> list[Record]:
    """Evolve, answer, check and dedup a batch of pool items. Returns one record per parent."""
    seed = recipe.run.seed
    ev_sampling = Sampling.from_config(recipe.evolver)
    ans_sampling = Sampling.from_config(recipe.answerer)
    ops = [choose_operation(seed, p.id, round, recipe.evolve.operations) for p in parents]
    reqs = [GenRequest(user(build_prompt(op, p.instruction)), ev_sampling, derived_seed(seed, "evolve", p.id, round),
                       task="evolve") for op, p in zip(ops, parents, strict=True)]
    evolved = _generate(models.evolver, reqs, on_result)

    children = [clean_evolved(r.text) for r in evolved]
    reasons: list[str | None] = []
    for p, child, res in zip(parents, children, evolved, strict=True):
        reasons.append(BACKEND_ERROR if res.error else check_instruction(child, p.instruction, res, recipe.eliminate))

    # Answers and the equality check go out together, so a batched backend fills its slots.
    live = [i for i, r in enumerate(reasons) if r is None]
    answer_reqs = [GenRequest(user(children[i]), ans_sampling, derived_seed(seed, "answer", parents[i].id, round),
                              task="answer") for i in live]
    equal_reqs = [equality_request(parents[i].instruction, children[i], derived_seed(seed, "equal", parents[i].id, round))
                  for i in live] if recipe.eliminate.no_gain else []
    if models.answerer is models.evolver:
        both = _generate(models.evolver, answer_reqs + equal_reqs, on_result)
        answers, equals = both[: len(live)], both[len(live):]
    else:
        answers = _generate(models.answerer, answer_reqs, on_result)
        equals = _generate(models.evolver, equal_reqs, on_result)
    answer_of = dict(zip(live, answers, strict=True))
    equal_of = dict(zip(live, equals, strict=False))

    out: list[Record] = []
    for i, p in enumerate(parents):
        ev, child = evolved[i], children[i]
        ans = answer_of.get(i)
        eq = equal_of.get(i)
        reason = reasons[i]
        gen: dict[str, Any] = {"evolve_seed": reqs[i].seed, "evolve_sampling": dataclasses.asdict(ev_sampling),
                               "evolve_finish": ev.finish_reason, "raw_evolved": ev.text}
        if ev.error:
            gen["error"] = ev.error
        if ans is not None:
            gen |= {"answer_seed": answer_reqs[live.index(i)].seed, "answer_sampling": dataclasses.asdict(ans_sampling),
                    "answer_finish": ans.finish_reason}
            if ans.error:
                reason, gen["error"] = BACKEND_ERROR, ans.error
        if eq is not None:
            gen["equality_reply"] = eq.text
            gen["equality"] = parse_equality(eq.text)
        if reason is None and gen.get("equality") is True:
            reason = NO_GAIN
        if reason is None and ans is not None:
            reason = check_answer(ans, recipe.eliminate)
        results = [r for r in (ev, ans, eq) if r is not None]
        out.append(Record(
            id=record_id(p.id, round, ops[i], child),
            parent_id=p.id, root_id=p.root_id, round=round, operation=ops[i],
            instruction=child, response=ans.text if ans is not None else "",
            status=ELIMINATED if reason else KEPT, reason=reason or "",
            evolver=models.evolver_info, answerer=models.answerer_info if ans is not None else {},
            generation=gen,
            timings={k: round_(r.seconds) for k, r in (("evolve_s", ev), ("answer_s", ans), ("equality_s", eq)) if r},
            tokens={"prompt": sum(r.prompt_tokens for r in results), "completion": sum(r.completion_tokens for r in results)},
        ))

    kept = [r for r in out if r.status == KEPT]
    for rec, (dup_of, sim) in zip(kept, deduper.check([(r.id, r.instruction) for r in kept]), strict=True):
        rec.scores["max_similarity"] = round_(sim, 4)
        if dup_of is not None:
            rec.status, rec.reason, rec.duplicate_of = DUPLICATE, "duplicate", dup_of
    return out


def round_(x: float, n: int = 3) -> float:
    return float(f"{x:.{n}f}")


# ---------------------------------------------------------------------------- the run


def _chunks(items: Sequence[Record], n: int) -> Iterator[Sequence[Record]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _open_models(recipe: Recipe) -> Models:
    evolver = make_generator(recipe.evolver)
    # Sampling settings are per request; only the model and how it is served decide whether
    # the answerer can share the evolver's loaded model.
    same = all(getattr(recipe.answerer, k) == getattr(recipe.evolver, k) for k in MODEL_IDENTITY)
    answerer = evolver if same else make_generator(recipe.answerer)
    return Models(evolver, answerer, evolver.info.as_dict(), answerer.info.as_dict())


def _check_resume(out: Path, resolved: dict[str, Any]) -> None:
    path = out / RESOLVED
    if not path.is_file() or not (out / RECORDS).is_file():
        return
    old = json.loads(path.read_text())
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        rec = {k: v for k, v in d["recipe"].items() if k not in RESUMABLE_CHANGES}
        rec["run"] = {k: v for k, v in rec.get("run", {}).items() if k != "out"}
        rec["evolve"] = {k: v for k, v in rec.get("evolve", {}).items() if k not in ("rounds", "chunk_size")}
        return {"recipe": rec, "seeds_sha256": d.get("seeds_sha256")}
    if strip(old) != strip(resolved):
        changed = sorted(k for k in strip(resolved)["recipe"] if strip(old)["recipe"].get(k) != strip(resolved)["recipe"].get(k))
        if strip(old)["seeds_sha256"] != strip(resolved)["seeds_sha256"]:
            changed.append("seed file content")
        raise ConfigError(f"{out} holds a run made with other settings ({', '.join(changed)}): "
                          "pass --out NEW_FOLDER, or delete the folder to start over")


def run(recipe: Recipe) -> Path:
    """Evolve (or resume) a run; return the run folder."""
    from wizardlite.evolve_output import finish, progress_display
    from wizardlite.seeds import load_seeds

    out = Path(recipe.run.out)
    started = time.time()
    seeds, seed_report = load_seeds(recipe.seeds)
    resolved = {"version": __version__, "recipe": recipe_to_dict(recipe),
                "seeds_sha256": file_sha256(recipe.seeds.path) if Path(recipe.seeds.path).is_file() else None}
    _check_resume(out, resolved)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RESOLVED, json.dumps(resolved, indent=2, ensure_ascii=False))

    journal = Journal(out / RECORDS)
    rows = journal.read()
    if not rows:
        journal.append(s.to_dict() for s in seeds)
        rows = [s.to_dict() for s in seeds]
    state = Lineages([Record.from_dict(r) for r in rows if r["status"] == SEED])
    for row in rows:
        if row["status"] != SEED:
            state.add(Record.from_dict(row))

    deduper = Deduper(recipe.dedup)
    if recipe.dedup.against_seeds:
        deduper.add([(s.id, s.instruction) for s in state.seeds])
    for rec in state.records:  # rebuild the index of a resumed run in journal order
        if rec.status == KEPT:
            deduper.add([(rec.id, rec.instruction)])

    total = len(state.seeds) * recipe.evolve.rounds
    runlog = Journal(out / RUNLOG)
    models = _open_models(recipe)
    resolved["evolver"], resolved["answerer"] = models.evolver_info, models.answerer_info
    atomic_write_text(out / RESOLVED, json.dumps(resolved, indent=2, ensure_ascii=False))
    try:
        with progress_display(total, state) as show:
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
    finish(out, recipe, state.records, seed_report, wall_s=time.time() - started)
    return out
