"""The generator interface every backend implements, and what identifies a model.

A backend takes a batch of requests and returns one result per request, in order. Batches
let a backend keep many sequences in flight (llama.cpp slots, concurrent HTTP requests);
a caller that has one prompt passes a list of one.

A pipeline that decides its next requests from the results of earlier ones (the evolve stage:
an answer as soon as an evolution passes the rules) uses `serve` with a `Feed` instead: it
puts more requests while the backend works, so slots and endpoints never drain between
steps. `generate` is `serve` over a feed closed from the start (`collect`).

The backends themselves are registered in `wizardlite.backends` (the package's __init__).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wizardlite.recipe import BackendConfig

# GenResult.finish_reason values
STOP = "stop"  # the model ended the answer itself
LENGTH = "length"  # cut off at max_tokens
CONTEXT = "context"  # the prompt does not fit the context window; nothing generated
ERROR = "error"  # the backend failed for this request (see GenResult.error)


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    max_tokens: int = 512

    @classmethod
    def from_config(cls, cfg: BackendConfig, max_tokens: int | None = None) -> Sampling:
        return cls(cfg.temperature, cfg.top_p, cfg.top_k, cfg.repeat_penalty, max_tokens or cfg.max_tokens)


@dataclass(frozen=True)
class GenRequest:
    """One chat completion. `task` names what it is for (evolve, answer, equal, score, judge,
    chat): backends ignore it except the fake one, and logs show it."""

    messages: tuple[dict[str, str], ...]
    sampling: Sampling = field(default_factory=Sampling)
    seed: int = 0
    grammar: str | None = None  # GBNF; backends that cannot enforce it ignore it
    task: str = "chat"
    # The text the request works on (an evolution's parent instruction): backends ignore it;
    # the fake one builds its scripted replies from it instead of parsing our prompts.
    subject: str = ""


@dataclass
class GenResult:
    text: str
    finish_reason: str = STOP
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class ModelInfo:
    name: str  # file name or served model id
    sha256: str = ""  # of the model file when we can read it
    backend: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "backend": self.backend}


Callback = Callable[[int, GenResult], None]


class Feed:
    """Requests that keep arriving while a backend works on them. The caller `put`s requests
    (from a result callback, or from another thread) and `close`s the feed when no more will
    come; the backend `take`s them in order. Each request's index is its position in the order
    of `put`s, counted from 0 over the feed's life."""

    def __init__(self, requests: Sequence[GenRequest] = ()):
        self._cond = threading.Condition()
        self._items: list[GenRequest] = list(requests)
        self._taken = 0
        self._closed = False
        self._listeners: list[Callable[[], None]] = []

    def put(self, requests: Sequence[GenRequest]) -> int:
        """Queue requests; return the index of the first."""
        with self._cond:
            if self._closed:
                raise RuntimeError("put on a closed Feed")
            first = len(self._items)
            self._items.extend(requests)
            self._cond.notify_all()
            listeners = list(self._listeners)
        for wake in listeners:
            wake()
        return first

    def close(self, drop_waiting: bool = False) -> None:
        """No more requests will come; `drop_waiting` also forgets those not yet taken (a
        pipeline that failed stops its backends without running them)."""
        with self._cond:
            self._closed = True
            if drop_waiting:
                del self._items[self._taken :]
            self._cond.notify_all()
            listeners = list(self._listeners)
        for wake in listeners:
            wake()

    def take(self, limit: int | None = None) -> list[tuple[int, GenRequest]]:
        """The requests not taken yet (at most `limit`), without waiting."""
        with self._cond:
            end = len(self._items) if limit is None else min(len(self._items), self._taken + limit)
            got = [(i, self._items[i]) for i in range(self._taken, end)]
            self._taken = end
            return got

    def wait(self, timeout: float | None = None) -> None:
        """Block until a request is waiting or the feed is closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._taken < len(self._items), timeout)

    @property
    def drained(self) -> bool:
        """Closed, and every request taken: the backend may return once those have finished."""
        with self._cond:
            return self._closed and self._taken == len(self._items)

    def listen(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake()` after every put and close (for a backend that waits on something else);
        returns the function that stops it."""
        with self._cond:
            self._listeners.append(wake)
        return lambda: self._listeners.remove(wake)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class Generator(Protocol):
    info: ModelInfo
    capacity: int  # requests it works on at once (llama.cpp slots, endpoints x parallel)

    def generate(self, requests: Sequence[GenRequest], on_result: Callback | None = None) -> list[GenResult]:
        """Run every request; call `on_result(index, result)` as each finishes (any order);
        return the results in request order. A failure of one request is reported in its
        result (finish_reason ERROR), not raised, unless the backend as a whole is broken."""
        ...

    def serve(self, feed: Feed, on_result: Callback) -> None:
        """Run the feed's requests as they come, `on_result(index, result)` as each finishes
        (any order; it may put more into the feed), until the feed is closed and all are done."""
        ...

    def close(self) -> None: ...


def collect(gen: Generator, requests: Sequence[GenRequest], on_result: Callback | None = None) -> list[GenResult]:
    """`generate` for a backend that has `serve`: one closed feed, results in request order."""
    results: list[GenResult | None] = [None] * len(requests)

    def keep(i: int, res: GenResult) -> None:
        results[i] = res
        if on_result:
            on_result(i, res)

    if requests:
        feed = Feed(requests)
        feed.close()
        gen.serve(feed, keep)
    return [r if r is not None else GenResult("", ERROR, error="not run") for r in results]


def user(text: str, system: str = "") -> tuple[dict[str, str], ...]:
    """Messages for a single-turn prompt."""
    msgs = ({"role": "system", "content": system},) if system else ()
    return msgs + ({"role": "user", "content": text},)


@dataclass(frozen=True)
class ModelIdentity:
    """What a model is, known before loading it: a local file by resolved path and sha256 (and
    the sha256 of the file a requantised copy was made from), a served model by its id and
    endpoints. The one answer to "is this the same model?"."""

    backend: str
    model: str
    path: str = ""
    sha256: str = ""
    derived_from: str = ""
    endpoints: tuple[str, ...] = ()

    def same_weights(self, other: ModelIdentity) -> bool:
        """Same file content (or one requantised from the other, or both from one file), same
        path, or the same model served by the same endpoints."""
        roots = [{i.sha256, i.derived_from} - {""} for i in (self, other)]
        if roots[0] & roots[1]:
            return True
        if self.path and self.path == other.path:
            return True
        return (self.backend == other.backend != "llamacpp" and self.model == other.model
                and self.endpoints == other.endpoints)

    def key(self) -> str:
        """A short string that changes when the weights do: journal rows written by another
        model are not reused."""
        return self.sha256 or "|".join((self.backend, self.model, str(list(self.endpoints)) if self.endpoints else ""))

    def describe(self) -> str:
        if self.backend == "llamacpp":
            return f"{Path(self.path).name} (llamacpp, sha256 {self.sha256[:12]})"
        if self.backend == "http":
            return f"{self.model} (http, {', '.join(self.endpoints)})"
        return f"{self.model} ({self.backend})"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelIdentity:
        return cls(d.get("backend", ""), d.get("model", ""), d.get("path", ""), d.get("sha256", ""),
                   d.get("derived_from", ""), tuple(d.get("endpoints", ())))

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"backend": self.backend, "model": self.model}
        if self.path:
            d |= {"path": self.path, "sha256": self.sha256}
        if self.derived_from:
            d["derived_from"] = self.derived_from
        if self.endpoints:
            d["endpoints"] = list(self.endpoints)
        return d
