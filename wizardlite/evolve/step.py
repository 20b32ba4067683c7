"""One evolution step over a chunk of the pool, and the pool itself.

Each round walks the pool (one current instruction per seed lineage) in a fixed order. For
each instruction: pick an operation, ask the evolver to rewrite it, clean the reply, apply
the instruction rules, generate an answer and ask whether anything was gained, apply the
answer rules, then dedup. A kept child replaces its parent in the pool; a failed one leaves
the parent in the pool for the next round. Every outcome is a record in the journal
`records.jsonl`, which is also what makes a killed run resumable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from wizardlite.backends import Generator, GenRequest, GenResult, Sampling, user
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.operations import build_prompt, clean_evolved
from wizardlite.evolve.rules import (
    BACKEND_ERROR,
    check_answer,
    check_instruction,
    equality_request,
    parse_equality,
)
from wizardlite.recipe import Recipe
from wizardlite.records import DUPLICATE, ELIMINATED, KEPT, Record, derived_seed, local_rng, record_id


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


@dataclasses.dataclass
class _Chunk:
    """One chunk's work in progress: per parent, the operation, the evolver's request and
    result, the cleaned child, and what came back for it later."""

    parents: Sequence[Record]
    round: int
    ops: list[str]
    evolve_reqs: list[GenRequest]
    evolved: list[GenResult] = dataclasses.field(default_factory=list)
    children: list[str] = dataclasses.field(default_factory=list)
    reasons: list[str | None] = dataclasses.field(default_factory=list)
    answer_reqs: dict[int, GenRequest] = dataclasses.field(default_factory=dict)
    answers: dict[int, GenResult] = dataclasses.field(default_factory=dict)
    equals: dict[int, GenResult] = dataclasses.field(default_factory=dict)


def _evolve(parents: Sequence[Record], round: int, recipe: Recipe, models: Models, on_result: Any) -> _Chunk:
    """Ask the evolver for every child, clean the replies, apply the instruction rules."""
    seed = recipe.run.seed
    sampling = Sampling.from_config(recipe.evolver)
    ops = [choose_operation(seed, p.id, round, recipe.evolve.operations) for p in parents]
    reqs = [GenRequest(user(build_prompt(op, p.instruction)), sampling, derived_seed(seed, "evolve", p.id, round),
                       task="evolve", subject=p.instruction) for op, p in zip(ops, parents, strict=True)]
    c = _Chunk(parents, round, ops, reqs)
    c.evolved = _generate(models.evolver, reqs, on_result)
    c.children = [clean_evolved(r.text) for r in c.evolved]
    for p, child, res in zip(parents, c.children, c.evolved, strict=True):
        c.reasons.append(BACKEND_ERROR if res.error else check_instruction(child, p.instruction, res, recipe.eliminate))
    return c


def _answer(c: _Chunk, recipe: Recipe, models: Models, on_result: Any) -> None:
    """Answer the surviving children and ask whether each gained anything over its parent.
    Both go out together, so a batched backend fills its slots."""
    seed, rnd = recipe.run.seed, c.round
    sampling = Sampling.from_config(recipe.answerer)
    live = [i for i, r in enumerate(c.reasons) if r is None]
    c.answer_reqs = {i: GenRequest(user(c.children[i]), sampling, derived_seed(seed, "answer", c.parents[i].id, rnd),
                                   task="answer") for i in live}
    equal_reqs = [equality_request(c.parents[i].instruction, c.children[i],
                                   derived_seed(seed, "equal", c.parents[i].id, rnd))
                  for i in live] if recipe.eliminate.no_gain else []
    answer_reqs = list(c.answer_reqs.values())
    if models.answerer is models.evolver:
        both = _generate(models.evolver, answer_reqs + equal_reqs, on_result)
        answers, equals = both[: len(live)], both[len(live):]
    else:
        answers = _generate(models.answerer, answer_reqs, on_result)
        equals = _generate(models.evolver, equal_reqs, on_result)
    c.answers = dict(zip(live, answers, strict=True))
    c.equals = dict(zip(live, equals, strict=False))


def _record(c: _Chunk, i: int, recipe: Recipe, models: Models) -> Record:
    """The record of parent i's evolution, with the reason it failed, if it did."""
    p, ev, child = c.parents[i], c.evolved[i], c.children[i]
    ans, eq, reason = c.answers.get(i), c.equals.get(i), c.reasons[i]
    gen: dict[str, Any] = {"evolve_seed": c.evolve_reqs[i].seed, "evolve_sampling": dataclasses.asdict(c.evolve_reqs[i].sampling),
                           "evolve_finish": ev.finish_reason, "raw_evolved": ev.text}
    if ev.error:
        gen["error"] = ev.error
    if ans is not None:
        gen |= {"answer_seed": c.answer_reqs[i].seed, "answer_sampling": dataclasses.asdict(c.answer_reqs[i].sampling),
                "answer_finish": ans.finish_reason}
        if ans.error:
            reason, gen["error"] = BACKEND_ERROR, ans.error
    if eq is not None:
        gen["equality_reply"] = eq.text
        gen["equality"] = parse_equality(eq.text)
    if reason is None and ans is not None:
        reason = check_answer(ans, recipe.eliminate, gen.get("equality"))
    results = [r for r in (ev, ans, eq) if r is not None]
    return Record(
        id=record_id(p.id, c.round, c.ops[i], child),
        parent_id=p.id, root_id=p.root_id, round=c.round, operation=c.ops[i],
        instruction=child, response=ans.text if ans is not None else "",
        status=ELIMINATED if reason else KEPT, reason=reason or "",
        evolver=models.evolver_info, answerer=models.answerer_info if ans is not None else {},
        generation=gen,
        timings={k: round_(r.seconds) for k, r in (("evolve_s", ev), ("answer_s", ans), ("equality_s", eq)) if r},
        tokens={"prompt": sum(r.prompt_tokens for r in results), "completion": sum(r.completion_tokens for r in results)},
    )


def _dedup(records: list[Record], deduper: Deduper) -> None:
    kept = [r for r in records if r.status == KEPT]
    for rec, (dup_of, sim) in zip(kept, deduper.check([(r.id, r.instruction) for r in kept]), strict=True):
        rec.scores["max_similarity"] = round_(sim, 4)
        if dup_of is not None:
            rec.status, rec.reason, rec.duplicate_of = DUPLICATE, "duplicate", dup_of


def evolve_chunk(parents: Sequence[Record], round: int, recipe: Recipe, models: Models, deduper: Deduper,
                 on_result: Any = None) -> list[Record]:
    """Evolve, answer, check and dedup a batch of pool items. Returns one record per parent."""
    c = _evolve(parents, round, recipe, models, on_result)
    _answer(c, recipe, models, on_result)
    out = [_record(c, i, recipe, models) for i in range(len(parents))]
    _dedup(out, deduper)
    return out


def round_(x: float, n: int = 3) -> float:
    return float(f"{x:.{n}f}")


