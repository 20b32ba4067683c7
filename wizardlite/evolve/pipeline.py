"""The evolve stage's scheduler: evolutions stream through the backends, and their records are
checked and journaled in one fixed order.

Run as: wizardlite evolve --recipe recipes/default.toml   (driven by wizardlite/evolve/__init__.py)

Every evolution is a task (round, lineage), and the tasks have one canonical order: round by
round, and within a round the order of the seeds. The backends work on many tasks at once and
finish them in any order:

- an evolution whose child passes the instruction rules sends out its answer and its equality
  check at once, without waiting for any other evolution;
- new evolutions are admitted while fewer than twice the backends' capacity of requests are
  out, so slots and endpoints never drain; a lineage's next round is admitted as soon as its
  previous one is journaled, so rounds overlap too;
- a finished record waits until every record before it in the canonical order has finished;
  then they are checked (dedup) and journaled together, in that order.

The journal, and every decision that depends on the records before (dedup), is therefore the
same whatever order the backends finish in, and a killed run resumes from a prefix of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from wizardlite.backends import Callback, GenRequest, GenResult
from wizardlite.backends.base import Feed
from wizardlite.evolve.decontam import Decontaminator
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.relevance import relevance
from wizardlite.evolve.step import Item, Models, _record, answered, check_records, evolved, first_asks, start
from wizardlite.recipe import Recipe
from wizardlite.records import KEPT, Record

COMMIT_AFTER_S = 2.0  # finished records wait at most this long for `evolve.chunk_size` others


class Pipeline:
    """Runs `tasks` ((round, lineage) pairs in canonical order), starting each lineage from
    `heads[lineage]`; hands each run of consecutive finished, checked records to `commit`."""

    def __init__(self, heads: Sequence[Record], tasks: Sequence[tuple[int, int]], recipe: Recipe, models: Models,
                 deduper: Deduper, commit: Callable[[list[Record]], None], on_result: Callback | None = None,
                 decontam: Decontaminator | None = None):
        self.heads, self.tasks = list(heads), list(tasks)
        self.decontam = decontam
        self.relevance = relevance(recipe.eliminate, lambda: deduper.embedder)
        self.recipe, self.models, self.deduper = recipe, models, deduper
        self.commit, self.on_result = commit, on_result
        self.gens = {"evolver": models.evolver}
        if models.answerer is not models.evolver:
            self.gens["answerer"] = models.answerer
        self.feeds = {name: Feed() for name in self.gens}
        self.capacity = sum(max(1, getattr(g, "capacity", 1)) for g in self.gens.values())
        self.routes: dict[tuple[str, int], tuple[int, GenRequest]] = {}  # (feed, index) -> (task, request)
        self.items: dict[int, Item] = {}  # task position -> work in progress
        self.ready: dict[int, Record] = {}  # task position -> finished record, not yet journaled
        self.admitted = self.committed = self.run_end = 0  # tasks[committed:run_end] are all ready
        self.busy: set[int] = set()  # lineages with a task admitted and not yet journaled
        self.outstanding = 0  # requests out on the backends
        self.last_commit = time.monotonic()
        self.lock = threading.RLock()
        self.stopped = False
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ driving the backends

    def run(self) -> None:
        with self.lock:
            self._admit()
            self._maybe_commit()
        helper = None
        if "answerer" in self.gens:  # a second model: its backend runs beside the evolver's
            helper = threading.Thread(target=self._serve, args=("answerer",), daemon=True)
            helper.start()
        try:
            self._serve("evolver")
        finally:
            with self.lock:
                self.stopped = self.committed < len(self.tasks)
            if self.stopped:  # failed or interrupted: the other backend stops too
                for feed in self.feeds.values():
                    feed.close(drop_waiting=True)
            if helper is not None:
                helper.join()
        if self.error is not None:
            raise self.error

    def _serve(self, name: str) -> None:
        try:
            self.gens[name].serve(self.feeds[name], lambda i, res: self._done(name, i, res))
        except BaseException as e:
            if name == "evolver":
                raise
            with self.lock:
                self.error, self.stopped = self.error or e, True
            for feed in self.feeds.values():
                feed.close(drop_waiting=True)

    def _send(self, req: GenRequest, pos: int) -> None:
        name = "answerer" if req.task == "answer" and "answerer" in self.feeds else "evolver"
        i = self.feeds[name].put([req])
        self.routes[(name, i)] = (pos, req)  # under the lock: its result waits for this
        self.outstanding += 1

    def _done(self, name: str, i: int, res: GenResult) -> None:
        with self.lock:
            if self.stopped:
                return
            if self.on_result:
                self.on_result(i, res)
            pos, req = self.routes.pop((name, i))
            self.outstanding -= 1
            it = self.items[pos]
            if req.task == "evolve":
                for ask in evolved(it, res, self.recipe):
                    self._send(ask, pos)
            else:
                answered(it, req, res)
            if it.ready:
                self._finish(pos)
            self._admit()
            self._maybe_commit()

    def _finish(self, pos: int) -> None:
        self.ready[pos] = _record(self.items.pop(pos), self.recipe, self.models)
        while self.run_end in self.ready:
            self.run_end += 1

    # ------------------------------------------------------------------ the order

    def _admit(self) -> None:
        """Start tasks in canonical order while the backends have room; a task waits while an
        earlier round of its lineage is not journaled."""
        while self.outstanding < 2 * self.capacity and self.admitted < len(self.tasks):
            rnd, lineage = self.tasks[self.admitted]
            if lineage in self.busy:
                return
            self.busy.add(lineage)
            pos, self.admitted = self.admitted, self.admitted + 1
            it = self.items[pos] = start(self.heads[lineage], rnd, self.recipe)
            for ask in first_asks(it, self.recipe):
                self._send(ask, pos)
            if it.ready:  # made by the program and refused by a rule: nothing to wait for
                self._finish(pos)

    def _maybe_commit(self) -> None:
        n = self.run_end - self.committed
        starving = self.outstanding < self.capacity  # the backends would idle waiting for this
        due = n >= self.recipe.evolve.chunk_size or time.monotonic() - self.last_commit >= COMMIT_AFTER_S
        if n and (due or starving):
            span = range(self.committed, self.run_end)
            records = [self.ready.pop(p) for p in span]
            check_records(records, self.deduper, self.decontam, self.relevance)
            self.commit(records)
            for p, rec in zip(span, records, strict=True):
                lineage = self.tasks[p][1]
                self.busy.discard(lineage)
                if rec.status == KEPT:
                    self.heads[lineage] = rec
            self.committed, self.last_commit = self.run_end, time.monotonic()
            self._admit()
            if self.run_end > self.committed and not self.outstanding:  # admitted and finished at once
                self._maybe_commit()
                return
        if self.committed == len(self.tasks):
            for feed in self.feeds.values():
                feed.close()


def evolve_chunk(parents: Sequence[Record], round: int, recipe: Recipe, models: Models, deduper: Deduper,
                 on_result: Callback | None = None) -> list[Record]:
    """Evolve, answer, check and dedup some pool items for one round; one record per parent,
    in the parents' order."""
    out: list[Record] = []
    Pipeline(parents, [(round, i) for i in range(len(parents))], recipe, models, deduper, out.extend, on_result).run()
    return out
