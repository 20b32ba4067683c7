"""One evolution of one pool item, and the pool itself (pipeline.py schedules the evolutions).

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

from wizardlite.backends import STOP, Generator, GenRequest, GenResult, Sampling, user
from wizardlite.evolve.decontam import Decontaminator
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.operations import OPERATIONS, build_prompt, clean_evolved
from wizardlite.evolve.relevance import Relevance
from wizardlite.evolve.rules import (
    BACKEND_ERROR,
    check_answer,
    check_instruction,
    equality_request,
    parse_equality,
)
from wizardlite.evolve.verify import (
    CONSTRAINT_FAILED,
    check_answers,
    constrain,
    first_pass,
    inherit,
    repaired,
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


# ---------------------------------------------------------------------------- one evolution


@dataclasses.dataclass
class Models:
    evolver: Generator
    answerer: Generator
    evolver_info: dict[str, Any]
    answerer_info: dict[str, Any]


@dataclasses.dataclass
class Item:
    """One parent's evolution in progress: the operation, the evolver's request and result,
    the cleaned child and the rule it broke, then the answers and the equality check. A child
    with constraints (verify.py) gets several answers, one per attempt."""

    parent: Record
    round: int
    op: str
    evolve_req: GenRequest | None  # None: the program makes the child (verifiable_constraints)
    evolved: GenResult | None = None
    child: str = ""
    reason: str | None = None
    constraints: dict[str, Any] = dataclasses.field(default_factory=dict)
    answer_reqs: list[GenRequest] = dataclasses.field(default_factory=list)
    answers: dict[int, GenResult] = dataclasses.field(default_factory=dict)  # attempt -> result
    equal: GenResult | None = None
    waiting: int = 1  # results still to come

    @property
    def ready(self) -> bool:
        return self.waiting == 0


def start(parent: Record, round: int, recipe: Recipe) -> Item:
    """Pick the operation and build the evolver's request (none for an operation the program
    carries out itself)."""
    seed = recipe.run.seed
    op = choose_operation(seed, parent.id, round, recipe.evolve.operations)
    if OPERATIONS[op].kind == "verifiable":
        return Item(parent, round, op, None)
    req = GenRequest(user(build_prompt(op, parent.instruction)), Sampling.from_config(recipe.evolver),
                     derived_seed(seed, "evolve", parent.id, round), task="evolve", subject=parent.instruction)
    return Item(parent, round, op, req)


def first_asks(it: Item, recipe: Recipe) -> list[GenRequest]:
    """What to send when the item is admitted: the evolver's request, or, for a child the program
    makes, its answers at once."""
    if it.evolve_req is not None:
        return [it.evolve_req]
    text, it.constraints = constrain(it.parent, recipe.run.seed, it.round, recipe.verify)
    return _after_child(it, text, GenResult(text), recipe)


def evolved(it: Item, res: GenResult, recipe: Recipe) -> list[GenRequest]:
    """Take the evolver's reply: clean it, apply the instruction rules, and return what to ask
    next: the answer and (rule 1) whether anything was gained. Both go out at once, so a
    batched backend keeps its slots full."""
    child = clean_evolved(res.text)
    it.constraints = inherit(it.parent, child)
    return _after_child(it, child, res, recipe)


def _after_child(it: Item, child: str, res: GenResult, recipe: Recipe) -> list[GenRequest]:
    seed, p = recipe.run.seed, it.parent
    it.evolved, it.child = res, child
    it.reason = BACKEND_ERROR if res.error else check_instruction(it.child, p.instruction, res, recipe.eliminate)
    it.waiting = 0
    if it.reason is not None:
        return []
    attempts = recipe.verify.k if it.constraints else 1
    sampling = Sampling.from_config(recipe.answerer)
    # Attempt 0 keeps the seed an unconstrained answer has always had; the others get their own.
    it.answer_reqs = [GenRequest(user(it.child), sampling, derived_seed(seed, "answer", p.id, it.round, *([a] if a else [])),
                                 task="answer") for a in range(attempts)]
    asks = list(it.answer_reqs)
    if recipe.eliminate.no_gain and it.evolve_req is not None:  # a program-made child is not asked about
        asks.append(equality_request(p.instruction, it.child, derived_seed(seed, "equal", p.id, it.round)))
    it.waiting = len(asks)
    return asks


def answered(it: Item, req: GenRequest, res: GenResult) -> None:
    """Take an answer or the equality check (told apart by the request's task)."""
    if req.task == "answer":
        it.answers[next(i for i, r in enumerate(it.answer_reqs) if r is req)] = res
    else:
        it.equal = res
    it.waiting -= 1


def _choose_answer(it: Item, gen: dict[str, Any], repair: bool) -> tuple[int | None, str | None, str | None]:
    """(the attempt whose answer is kept, a reason to eliminate, the kept text when a repair
    changed it): with constraints, the first answer that ended by itself and passes every
    checker; with `repair`, failing that, the first that passes once repaired. Every attempt is
    kept in `gen`."""
    if not it.answers:
        return None, None, None
    if not it.constraints:
        return 0, None, None
    order = sorted(it.answers)
    texts = [it.answers[a].text for a in order]
    verdicts = check_answers(texts, it.constraints)
    gen["attempts"] = [{"seed": it.answer_reqs[a].seed, "finish": it.answers[a].finish_reason, "text": t,
                        "verdicts": v} for a, t, v in zip(order, texts, verdicts, strict=True)]
    finished = [it.answers[a].finish_reason == STOP for a in order]
    i = first_pass(verdicts, finished)
    if i is not None:
        return order[i], None, None
    if repair:
        fixed = repaired(texts, it.constraints)
        fixed_verdicts = check_answers(fixed, it.constraints)
        i = first_pass(fixed_verdicts, finished)
        if i is not None:
            gen["attempts"][i] |= {"repaired": fixed[i], "repaired_verdicts": fixed_verdicts[i]}
            return order[i], None, fixed[i]
    # eliminated: the record shows the first answer that passes though cut off, if any
    first = first_pass(verdicts)
    return (order[first] if first is not None else 0), CONSTRAINT_FAILED, None


def _record(it: Item, recipe: Recipe, models: Models) -> Record:
    """The record of one evolution, with the reason it failed, if it did."""
    p, ev, child = it.parent, it.evolved, it.child
    assert ev is not None, "a record of an evolution that has not come back"
    eq, reason = it.equal, it.reason
    gen: dict[str, Any] = {}
    if it.evolve_req is not None:
        gen |= {"evolve_seed": it.evolve_req.seed, "evolve_sampling": dataclasses.asdict(it.evolve_req.sampling),
                "evolve_finish": ev.finish_reason, "raw_evolved": ev.text}
    if ev.error:
        gen["error"] = ev.error
    chosen, failed, repaired = _choose_answer(it, gen, recipe.verify.repair)
    ans = it.answers[chosen] if chosen is not None else None
    if ans is not None and chosen is not None:
        req = it.answer_reqs[chosen]
        gen |= {"answer_seed": req.seed, "answer_sampling": dataclasses.asdict(req.sampling),
                "answer_finish": ans.finish_reason}
        if ans.error:
            reason, gen["error"] = BACKEND_ERROR, ans.error
    if eq is not None:
        gen["equality_reply"] = eq.text
        gen["equality"] = parse_equality(eq.text)
    if reason is None and ans is not None:
        reason = check_answer(ans, recipe.eliminate, gen.get("equality")) or failed
    results = [r for r in (ev, eq, *it.answers.values()) if r is not None]
    timings = {k: round_(r.seconds) for k, r in (("evolve_s", ev), ("answer_s", ans), ("equality_s", eq)) if r}
    if it.evolve_req is None:
        timings.pop("evolve_s", None)
    return Record(
        id=record_id(p.id, it.round, it.op, child),
        parent_id=p.id, root_id=p.root_id, round=it.round, operation=it.op,
        instruction=child, response=repaired or (ans.text if ans is not None else ""),
        status=ELIMINATED if reason else KEPT, reason=reason or "",
        evolver=models.evolver_info if it.evolve_req is not None else {},
        answerer=models.answerer_info if ans is not None else {},
        generation=gen, timings=timings,
        tokens={"prompt": sum(r.prompt_tokens for r in results), "completion": sum(r.completion_tokens for r in results)},
        constraints=it.constraints,
    )


def _dedup(records: list[Record], deduper: Deduper) -> None:
    kept = [r for r in records if r.status == KEPT]
    for rec, (dup_of, sim) in zip(kept, deduper.check([(r.id, r.instruction) for r in kept]), strict=True):
        rec.scores["max_similarity"] = None if sim is None else round_(sim, 4)  # None: none within threshold - 0.1
        if dup_of is not None:
            rec.status, rec.reason, rec.duplicate_of = DUPLICATE, "duplicate", dup_of


def check_records(records: list[Record], deduper: Deduper, decontam: Decontaminator | None = None,
                  relevance: Relevance | None = None) -> None:
    """The checks run on a batch of finished records just before they are journaled, in journal
    order: decontamination, then off-topic answers (so neither kind of record joins the dedup
    index), then dedup, which depends on the records before."""
    if decontam is not None:
        decontam.mark(records)
    if relevance is not None:
        relevance.mark(records)
    _dedup(records, deduper)


def round_(x: float, n: int = 3) -> float:
    return float(f"{x:.{n}f}")


