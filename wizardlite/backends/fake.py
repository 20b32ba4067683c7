"""A scripted generator for tests: queue replies, then assert on what was asked.

    gen = FakeGenerator(["first reply", "second reply"])   # replies in order
    gen = FakeGenerator(lambda req: "...")                 # or a function of the request
    ...
    assert gen.requests[0].task == "evolve"
    gen = FakeGenerator(fn, capacity=4, shuffle=7)         # 4 in flight, finished in a scrambled order

`FakeGenerator.rule_based()` is a deterministic stand-in usable from a recipe
(`backend = "fake"`), so the CLI can be exercised end to end, killed and resumed, without a
model.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

from wizardlite.backends import base
from wizardlite.backends.base import LENGTH, STOP, Callback, GenRequest, GenResult, ModelIdentity, ModelInfo
from wizardlite.recipe import BackendConfig

Reply = str | GenResult


class FakeGenerator:
    """`capacity` requests are in flight at once; with `shuffle` (a seed) they finish in a
    scrambled order, as on a real batched backend, instead of first in, first out."""

    def __init__(self, script: Sequence[Reply] | Callable[[GenRequest], Reply], name: str = "fake", delay_s: float = 0.0,
                 capacity: int = 1, shuffle: int | None = None):
        self.info = ModelInfo(name=name, sha256=hashlib.sha256(name.encode()).hexdigest(), backend="fake")
        self._fn = script if callable(script) else None
        self._queue: deque[Reply] = deque([] if callable(script) else script)
        self.requests: list[GenRequest] = []
        self.delay_s = delay_s
        self.capacity = capacity
        self.shuffle = shuffle

    def _reply(self, req: GenRequest) -> GenResult:
        if self._fn is not None:
            r = self._fn(req)
        elif self._queue:
            r = self._queue.popleft()
        else:
            raise AssertionError(f"FakeGenerator ran out of scripted replies at request {len(self.requests)} ({req.task})")
        if isinstance(r, GenResult):
            return r
        words = r.split()
        cut = len(words) > req.sampling.max_tokens
        text = " ".join(words[: req.sampling.max_tokens]) if cut else r
        prompt_tokens = sum(len(m["content"].split()) for m in req.messages)
        return GenResult(text, LENGTH if cut else STOP, prompt_tokens, min(len(words), req.sampling.max_tokens))

    def generate(self, requests: Sequence[GenRequest], on_result: Callback | None = None) -> list[GenResult]:
        return base.collect(self, requests, on_result)

    def serve(self, feed: base.Feed, on_result: Callback) -> None:
        rng = random.Random(self.shuffle) if self.shuffle is not None else None
        live: list[tuple[int, GenRequest]] = []
        while True:
            live += feed.take(self.capacity - len(live))
            if not live:
                if feed.drained:
                    return
                feed.wait()
                continue
            i, req = live.pop(rng.randrange(len(live)) if rng else 0)
            self.requests.append(req)
            if self.delay_s:
                time.sleep(self.delay_s)
            on_result(i, self._reply(req))

    def close(self) -> None:
        pass

    @classmethod
    def rule_based(cls, delay_s: float = 0.0) -> FakeGenerator:
        return cls(_rule_based_reply, name="fake-rules", delay_s=delay_s)


def _rule_based_reply(req: GenRequest) -> str:
    """Deterministic replies that depend only on the prompt and seed, so a killed and resumed
    run gives the same records as an uninterrupted one."""
    prompt = req.messages[-1]["content"]
    h = int(hashlib.sha256(f"{req.seed}|{prompt}".encode()).hexdigest(), 16)
    if req.task == "equal":
        return "Equal" if h % 7 == 0 else "Not Equal"
    if req.task == "score":
        return str(1 + h % 10)
    if req.task == "judge":
        return ["A", "B", "tie"][h % 3]
    if req.task == "evolve":
        head = req.subject.strip().splitlines()[0] if req.subject.strip() else prompt[:80]
        extras = ["within 50 words", "using an example", "for a beginner", "in three steps", "with a table",
                  "citing a trade-off", "in the past tense", "for a child"]
        if h % 11 == 0:
            return "Sorry, I can't rewrite that."
        return f"{head.rstrip('?.!')} {extras[h % len(extras)]} (variant {h % 1000})."
    if h % 13 == 0:
        return "Sorry, I cannot help with that."
    n = 20 + h % 60
    return " ".join(f"word{(h >> (i % 64)) % 97}" for i in range(n)) + "."


# ---------------------------------------------------------------------------- registry entry


def load(cfg: BackendConfig) -> FakeGenerator:
    gen = FakeGenerator.rule_based(delay_s=cfg.fake_delay_s)
    gen.capacity = cfg.parallel or 1
    return gen


def identity(cfg: BackendConfig) -> ModelIdentity:
    return ModelIdentity(cfg.backend, cfg.model)


def check(cfg: BackendConfig, where: str) -> list[str]:
    return []
