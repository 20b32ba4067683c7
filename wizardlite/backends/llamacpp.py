"""The in-process llama.cpp backend (llama-cpp-python's low-level API).

One GGUF, one context, `parallel` sequences decoded together (continuous batching, see
llamacpp_batch.py). `parallel = 1` runs one sequence at a time, as most local tools do. The
GGUF's own chat template (tokenizer.chat_template) turns messages into the prompt.

    gen = LlamaCppGenerator(BackendConfig(model="smollm2", parallel=8))
    results = gen.generate([GenRequest(user("Name three rivers."))])
    gen.stats   # prompt tokens seen vs. evaluated (shared-prefix reuse), completion tokens, seconds

Run as: wizardlite evolve recipes/default.toml   (backend = "llamacpp" is the default)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardlite import models
from wizardlite.backends import base
from wizardlite.backends.base import ERROR, Callback, GenRequest, GenResult, ModelIdentity, ModelInfo
from wizardlite.backends.hardware import physical_cores, suggested_parallel
from wizardlite.backends.llamacpp_batch import BatchEngine, Job
from wizardlite.errors import ConfigError, ModelError
from wizardlite.quiet import llama_errors, llama_said, route_llama_logs
from wizardlite.recipe import BackendConfig

# End-of-turn markers of common chat templates. A template that writes one of them ends its
# turns with it, so it stops generation even where the GGUF does not flag it end-of-generation.
TURN_END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>")
MAX_PREFIXES = 16  # shared-prefix KV snapshots kept in host memory: a few per evolution operation

class LlamaCppGenerator:
    def __init__(self, cfg: BackendConfig, verbose: bool = False):
        self.path = Path(models.resolve(cfg.model))  # a missing or non-GGUF file fails here, before the import
        import llama_cpp as lc

        self.lc = lc
        self.cfg = cfg
        self.info = ModelInfo(name=self.path.name, sha256=models.model_sha256(self.path), backend="llamacpp")
        if cfg.parallel:
            self.n_slots = cfg.parallel
        else:  # 0 = the machine's suggestion (wizardlite doctor)
            self.n_slots = suggested_parallel("llamacpp")
        self.capacity = self.n_slots
        self.n_ctx = cfg.n_ctx
        self.n_threads = cfg.n_threads or physical_cores()
        self.model = self.ctx = self.engine = None

        route_llama_logs(lc, verbose)  # llama.cpp's log only with --verbose; its errors go into ours
        lc.llama_backend_init()
        mparams = lc.llama_model_default_params()
        mparams.n_gpu_layers = 0x7FFFFFFF if cfg.n_gpu_layers < 0 else cfg.n_gpu_layers  # -1 = every layer
        llama_errors.clear()
        self.model = lc.llama_model_load_from_file(str(self.path).encode(), mparams)
        if not self.model:
            raise ModelError(f"llama.cpp could not load {self.path}{llama_said()}: the file is corrupt or truncated, or its "
                             f"architecture is newer than llama-cpp-python {lc.__version__}; re-download or reconvert it")
        self.vocab = lc.llama_model_get_vocab(self.model)

        # One KV stream of n_ctx cells per slot (kv_unified off): a sequence's cells then sit at the
        # same places whatever shares the batch, which keeps batched output equal to sequential.
        n_batch = max(512, self.n_slots)
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = self.n_ctx * self.n_slots
        cparams.n_batch = cparams.n_ubatch = n_batch
        cparams.n_seq_max = self.n_slots
        cparams.n_threads = cparams.n_threads_batch = self.n_threads
        cparams.kv_unified = False
        # On the CPU, flash attention rounds differently with the number of prompt tokens read
        # at once, which would make prefix reuse change outputs; the plain path does not. GPU
        # builds keep llama.cpp's choice (faster, and GPU kernels are picked by shape anyway).
        self.offloaded = bool(lc.llama_supports_gpu_offload()) and cfg.n_gpu_layers != 0
        if not self.offloaded:
            cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.no_perf = True
        self.ctx = lc.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            self.close()
            raise ModelError(f"llama.cpp could not create a context of {self.n_ctx} x {self.n_slots} tokens for "
                             f"{self.path.name}{llama_said()}: lower n_ctx or parallel")
        self._formatter = self._chat_formatter()
        self.engine = BatchEngine(lc, self.ctx, self.vocab, n_slots=self.n_slots, n_ctx=self.n_ctx, n_batch=n_batch,
                                  stop_ids=self._stop_ids(), max_prefixes=MAX_PREFIXES if cfg.prefix_cache else 0)
        self.stats = self.engine.stats

    # ------------------------------------------------------------------ prompts

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return (self.lc.llama_vocab_get_text(self.vocab, token) or b"").decode("utf-8", errors="replace")

    def _chat_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        raw = self.lc.llama_model_chat_template(self.model, None)
        self.template = raw.decode("utf-8", errors="replace") if raw else ""
        if not self.template:
            return None
        return Jinja2ChatFormatter(self.template, eos_token=self._token_text(self.lc.llama_vocab_eos(self.vocab)),
                                   bos_token=self._token_text(self.lc.llama_vocab_bos(self.vocab)))

    def _stop_ids(self) -> set[int]:
        ids = set()
        for marker in TURN_END_MARKERS:
            if marker in self.template:
                toks = self.tokenize(marker)
                if len(toks) == 1:
                    ids.add(toks[0])
        return ids

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text the model sees for these messages."""
        if self._formatter is None:  # a base model without a template: a plain transcript
            turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
            return "\n\n".join(turns) + "\n\nAssistant:"
        return self._formatter(messages=[dict(m) for m in messages]).prompt

    def tokenize(self, text: str) -> list[int]:
        """Tokens of `text`, special tokens parsed (the template writes them as text)."""
        lc = self.lc
        data = text.encode("utf-8")
        size = len(data) + 16
        for _ in range(2):
            buf = (lc.llama_token * size)()
            n = lc.llama_tokenize(self.vocab, data, len(data), buf, size, False, True)
            if n >= 0:
                return list(buf[:n])
            size = -n
        raise ModelError(f"{self.path.name}: llama.cpp could not tokenize a prompt of {len(data)} bytes")

    def prompt_tokens(self, req: GenRequest) -> list[int]:
        toks = self.tokenize(self.render(req.messages))
        bos = self.lc.llama_vocab_bos(self.vocab)
        # Templates that write the BOS themselves (Llama 3, Mistral) must not get a second one.
        if self.lc.llama_vocab_get_add_bos(self.vocab) and bos >= 0 and (not toks or toks[0] != bos):
            toks.insert(0, bos)
        return toks

    # ------------------------------------------------------------------ Generator protocol

    def generate(self, requests: Sequence[GenRequest], on_result: Callback | None = None) -> list[GenResult]:
        return base.collect(self, requests, on_result)

    def serve(self, feed: base.Feed, on_result: Callback) -> None:
        if self.engine is None:
            raise ModelError("this LlamaCppGenerator is closed: build a new one")

        def pull(block: bool) -> list[Job] | None:
            if block:
                feed.wait()
            new = feed.take()
            if not new and feed.drained:
                return None
            jobs = []
            for i, req in new:
                try:
                    toks = self.prompt_tokens(req)
                except Exception as e:  # a template that rejects these messages (e.g. roles out of order)
                    on_result(i, GenResult("", ERROR, error=f"chat template failed: {e}"))
                    continue
                jobs.append(Job(i, toks, req.sampling, req.seed, req.grammar))
            return jobs

        self.engine.run(pull, on_result)

    def model_bytes(self) -> int:
        return int(self.lc.llama_model_size(self.model)) if self.model else 0

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if self.ctx:
            self.lc.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            self.lc.llama_model_free(self.model)
            self.model = None

    def __del__(self) -> None:  # a generator dropped without close() still frees its memory
        try:
            self.close()
        except Exception:  # half-built, or the interpreter is shutting down
            pass

    def __enter__(self) -> LlamaCppGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- registry entry


def load(cfg: BackendConfig) -> LlamaCppGenerator:
    try:
        return LlamaCppGenerator(cfg)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ConfigError(
            f"llama-cpp-python is not importable ({e}): run `pip install llama-cpp-python` "
            "(GPU: CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install llama-cpp-python), or use backend = \"http\""
        ) from None


def identity(cfg: BackendConfig) -> ModelIdentity:
    """A GGUF by resolved path and content; a requantised copy also names its source, since it
    judges like its source (same weights, give or take rounding)."""
    path = models.resolve(cfg.model)
    source = models.derived_from(cfg.model)
    return ModelIdentity("llamacpp", cfg.model, str(path.resolve()), models.model_sha256(path),
                         models.model_sha256(source) if source is not None else "")


def check(cfg: BackendConfig, where: str) -> list[str]:
    return []
