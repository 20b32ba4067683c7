"""The generator interface every backend implements, and the factory that picks one.

A backend takes a batch of requests and returns one result per request, in order. Batches
let a backend keep many sequences in flight (llama.cpp slots, concurrent HTTP requests);
a caller that has one prompt passes a list of one.

Backends: `llamacpp` (in-process llama-cpp-python), `http` (OpenAI-compatible endpoints),
`fake` (scripted, for tests). Heavy libraries are imported inside each backend module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wizardlite.config import BackendConfig
from wizardlite.errors import ConfigError

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


class Generator(Protocol):
    info: ModelInfo

    def generate(self, requests: Sequence[GenRequest], on_result: Callback | None = None) -> list[GenResult]:
        """Run every request; call `on_result(index, result)` as each finishes (any order);
        return the results in request order. A failure of one request is reported in its
        result (finish_reason ERROR), not raised, unless the backend as a whole is broken."""
        ...

    def close(self) -> None: ...


def user(text: str, system: str = "") -> tuple[dict[str, str], ...]:
    """Messages for a single-turn prompt."""
    msgs = ({"role": "system", "content": system},) if system else ()
    return msgs + ({"role": "user", "content": text},)


def make_generator(cfg: BackendConfig) -> Generator:
    """Build the backend a config names. Import errors become messages that say what to install."""
    if cfg.backend == "fake":
        from wizardlite.backends.fake import FakeGenerator

        return FakeGenerator.rule_based(delay_s=cfg.fake_delay_s)
    if cfg.backend == "http":
        from wizardlite.backends.http import HttpGenerator

        return HttpGenerator(cfg)
    if cfg.backend == "llamacpp":
        try:
            from wizardlite.backends.llamacpp import LlamaCppGenerator
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError(
                f"llama-cpp-python is not importable ({e}): run `pip install llama-cpp-python` "
                "(GPU: CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install llama-cpp-python), or use backend = \"http\""
            ) from None
        return LlamaCppGenerator(cfg)
    raise ConfigError(f"unknown backend '{cfg.backend}': use llamacpp, http or fake")
