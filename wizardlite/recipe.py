"""Recipes: TOML files turned into typed, frozen, validated configs.

A recipe holds one section per stage. Every stage validates the whole file, so a typo in any
section is reported whichever command is run; all errors in a file are reported together.
Command-line overrides (`--set evolve.rounds=2`) are applied to the raw data before
validation.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardlite.errors import ConfigError

# ---------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class RunConfig:
    seed: int = 1234
    out: str = "runs/default"  # evolve run folder; finetune and judge read from it by default


@dataclass(frozen=True)
class SeedsConfig:
    path: str = "recipes/seeds/general.jsonl"
    format: str = "auto"  # auto | jsonl | json | csv | parquet | hf
    # Field names. Empty means "detect": Alpaca, ShareGPT, messages, prompt/instruction, and
    # the Self-Instruct layout (instruction + instances[0].input/output).
    instruction_field: str = ""
    input_field: str = ""
    output_field: str = ""
    limit: int = 0  # 0 = all

    def check(self) -> list[str]:
        if self.format not in ("auto", "jsonl", "json", "csv", "parquet", "hf"):
            return [f"seeds.format: '{self.format}' is not one of auto, jsonl, json, csv, parquet, hf"]
        return [] if self.limit >= 0 else ["seeds.limit must be >= 0"]


@dataclass(frozen=True)
class BackendConfig:
    """How to reach a model. Shared by the evolver, the answerer and the judge."""

    backend: str = "llamacpp"  # a name in wizardlite.backends.BACKENDS: llamacpp | http | fake
    # a name from `wizardlite models`, or a path to a .gguf. smollm2-q8_0 is the embedded SmolLM2
    # requantised from Q4_1 to Q8_0 on first use: 96% next-token agreement with the shipped file, and
    # llama.cpp reads prompts and decodes batches faster in Q8_0 on CPUs (benchmarks/README.md)
    model: str = "smollm2-q8_0"
    endpoints: tuple[str, ...] = ()  # http backend: OpenAI-compatible base URLs, e.g. http://127.0.0.1:8080/v1
    api_key: str = ""
    n_ctx: int = 2048  # context per sequence
    n_gpu_layers: int = -1  # -1 = all layers when llama.cpp was built with a GPU backend
    n_threads: int = 0  # 0 = physical cores
    # sequences decoded together (llamacpp) or requests in flight per endpoint (http);
    # 0 = what `wizardlite doctor` suggests for this machine
    parallel: int = 0
    prefix_cache: bool = True  # reuse the KV state of a shared prompt prefix (llamacpp)
    timeout_s: float = 300.0
    retries: int = 3
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    fake_delay_s: float = 0.0  # fake backend only: seconds per request, for tests of interruption

    def check(self, name: str) -> list[str]:
        """Ranges only: the backend's name and its own needs are checked by its registry entry
        (`wizardlite.backends.check_recipe`)."""
        errs = []
        if self.parallel < 0:
            errs.append(f"{name}.parallel must be >= 1, or 0 for the machine's suggested value")
        if self.max_tokens < 1:
            errs.append(f"{name}.max_tokens must be >= 1")
        if not 0.0 <= self.temperature <= 5.0:
            errs.append(f"{name}.temperature must be between 0 and 5")
        return errs

    def load_key(self) -> BackendConfig:
        """These settings without the sampling ones, which travel with each request: two configs
        with equal keys can share one loaded model."""
        return dataclasses.replace(self, **{k: getattr(BackendConfig, k) for k in SAMPLING_FIELDS})


SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "repeat_penalty", "max_tokens")


OPERATIONS_GENERAL = ("constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth")


@dataclass(frozen=True)
class EvolveConfig:
    rounds: int = 4
    # operation name -> weight. The paper picks uniformly among the six general operations.
    operations: dict[str, float] = field(default_factory=lambda: {op: 1.0 for op in OPERATIONS_GENERAL})
    # finished records deduplicated and journaled together (one embedding batch), or fewer after
    # 2 s. Not a limit on work in flight: the backends' capacity sets that (evolve/pipeline.py)
    chunk_size: int = 256

    def check(self) -> list[str]:
        """Ranges only: operation names are checked by the evolve stage's registry
        (`wizardlite.evolve.check_recipe`)."""
        errs = []
        if isinstance(self.rounds, int) and self.rounds < 1:
            errs.append("evolve.rounds must be >= 1")
        for op, w in self.operations.items():
            if w < 0:
                errs.append(f"evolve.operations.{op}: weight must be >= 0")
        if self.operations and sum(self.operations.values()) <= 0:
            errs.append("evolve.operations: at least one weight must be > 0")
        if not self.operations:
            errs.append("evolve.operations: choose at least one operation")
        if self.chunk_size < 1:
            errs.append("evolve.chunk_size must be >= 1")
        return errs


@dataclass(frozen=True)
class EliminateConfig:
    no_gain: bool = True  # rule 1: the model judges parent and child equal
    sorry_short: bool = True  # rule 2: "sorry" in an answer of fewer than `sorry_max_words` words
    stopwords_only: bool = True  # rule 3: answer is only punctuation and stop words
    copied_prompt: bool = True  # rule 4: instruction copies the evolving prompt's words
    empty_or_unchanged: bool = True  # beyond the paper: empty, or same as the parent
    truncated: bool = True  # beyond the paper: evolver or answer cut off at the token limit
    sorry_max_words: int = 80
    extra_markers: tuple[str, ...] = ()  # more phrases that betray a copied prompt
    # beyond the paper: an answer whose embedding is far from its instruction's (evolve/relevance.py)
    off_topic: bool = True
    min_relevance: float = 0.1  # cosine below which an answer is off topic (set on human answers)
    relevance_min_words: int = 8  # shorter answers (labels, numbers) are not judged

    def check(self) -> list[str]:
        return [] if -1.0 <= self.min_relevance <= 1.0 else ["eliminate.min_relevance must be in [-1, 1]"]


@dataclass(frozen=True)
class DedupConfig:
    enabled: bool = True
    exact: bool = True
    near: bool = True
    model: str = "all-MiniLM-L6-v2"  # a name from `wizardlite models`, or a sentence-transformers folder
    threshold: float = 0.92  # cosine similarity at or above which two instructions are duplicates
    against_seeds: bool = True
    batch_size: int = 64

    def check(self) -> list[str]:
        return [] if 0.0 < self.threshold <= 1.0 else ["dedup.threshold must be in (0, 1]"]


@dataclass(frozen=True)
class OutputConfig:
    include_seeds: bool = False  # put seeds that carry an answer into the training set too
    formats: tuple[str, ...] = ("messages",)  # messages | alpaca | sharegpt
    system_prompt: str = ""

    def check(self) -> list[str]:
        bad = [f for f in self.formats if f not in ("messages", "alpaca", "sharegpt")]
        return [f"output.formats: unknown format '{f}' (messages, alpaca, sharegpt)" for f in bad]


GGUF_TYPES = ("f16", "q8_0", "q4_k_m", "q5_k_m")  # F16 from llama.cpp's converter, the rest quantised from it


@dataclass(frozen=True)
class FinetuneConfig:
    # auto | cpu | qlora | unsloth: every engine trains through TRL's SFTTrainer; they differ in how the
    # model is loaded (wizardlite/finetune/engine.py). auto: unsloth on a CUDA GPU when it imports, else
    # qlora on a CUDA GPU, else cpu
    engine: str = "auto"
    base: str = "smollm2"  # a name from `wizardlite models`, an HF folder, or a .gguf
    data: str = ""  # default: the evolve run folder's training set
    out: str = ""  # default: <run.out>/ft
    chat_template: str = ""  # a Jinja template; replaces the base's, and is required when the base has none
    rank: int = 16
    alpha: int = 32
    # 0 by default: the LoRA dropout masks cost ~12% of a CPU step (random numbers for every
    # input of every adapted layer), and Unsloth's fast kernels only run with dropout 0.
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 2e-4
    epochs: float = 2.0
    max_steps: int = 0  # > 0 overrides epochs
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    packing: bool = False
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    eval_fraction: float = 0.1
    # ...but at least this many held out (never more than a quarter of the data), so that the
    # eval loss on a small set is not one or two conversations' noise
    eval_min: int = 8
    loss_on: str = "responses"  # responses | all
    load_in_4bit: bool = True  # unsloth engine: a 4-bit base (QLoRA); false: LoRA on a 16-bit base
    # auto | fp32 | bf16 | fp16: the weights and autocast of training; auto is bf16 on a GPU that has it
    # (else fp16) and fp32 on the CPU (bf16 autocast there was 20x slower on a CPU without bf16 arithmetic)
    precision: str = "auto"
    # unset: on with a GPU (memory is what limits there), off on the CPU, where it runs every layer's
    # forward twice (1.6x slower) and LoRA's activations fit in RAM
    gradient_checkpointing: bool | None = None
    save_every: int = 50  # steps between checkpoints
    log_every: int = 1
    seed: int = 3407
    # two or more: one fine-tune per seed (in <out>/seed-N, each a whole fine-tune with its own GGUF),
    # and the model in <out> is their mean (finetune/average.py); empty: one fine-tune with `seed`
    seeds: tuple[int, ...] = ()
    export: tuple[str, ...] = ("adapter", "merged", "gguf")
    # f16 | q8_0 | q4_k_m | q5_k_m; the first is written as model.gguf, the others as model.<type>.gguf
    gguf_types: tuple[str, ...] = ("q8_0",)
    # bf16 | f16 | f32: weights saved in merged/; the merge itself is in fp32 where the base fits in RAM, and
    # the GGUF is written from it (or from merged/ when that is f16 or f32), so it is rounded once
    merged_dtype: str = "bf16"
    # held-out prompts each exported GGUF must answer as the merged model does (finetune/parity.py); 0: no check
    parity: int = 8

    def check(self) -> list[str]:
        errs = []
        if len(self.seeds) == 1:
            errs.append("finetune.seeds: one seed is one fine-tune: set finetune.seed instead (seeds is for two or more)")
        if len(set(self.seeds)) < len(self.seeds):
            errs.append("finetune.seeds: a seed is named twice: each fine-tune counts once in the mean")
        if self.seeds and "adapter" not in self.export:
            errs.append("finetune.seeds: the mean is taken of the adapters: keep \"adapter\" in finetune.export")
        if self.parity < 0:
            errs.append("finetune.parity must be >= 0 (0 turns the check off)")
        if self.engine not in ("auto", "cpu", "qlora", "unsloth"):
            errs.append(f"finetune.engine: '{self.engine}' is not one of auto, cpu, qlora, unsloth")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            errs.append(f"finetune.precision: '{self.precision}' is not one of auto, fp32, bf16, fp16")
        if not 0.0 <= self.warmup_ratio < 1.0:
            errs.append("finetune.warmup_ratio must be in [0, 1)")
        if self.loss_on not in ("responses", "all"):
            errs.append(f"finetune.loss_on: '{self.loss_on}' is not one of responses, all")
        if not 0.0 <= self.eval_fraction < 1.0:
            errs.append("finetune.eval_fraction must be in [0, 1)")
        if self.eval_min < 0:
            errs.append("finetune.eval_min must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            errs.append("finetune.dropout must be in [0, 1)")
        for t in self.gguf_types:
            if t not in GGUF_TYPES:
                errs.append(f"finetune.gguf_types: '{t}' is not one of {', '.join(GGUF_TYPES)}")
        if self.merged_dtype not in ("bf16", "f16", "f32"):
            errs.append(f"finetune.merged_dtype: '{self.merged_dtype}' is not one of bf16, f16, f32")
        for e in self.export:
            if e not in ("adapter", "merged", "gguf"):
                errs.append(f"finetune.export: '{e}' is not one of adapter, merged, gguf")
        for k in ("rank", "alpha", "batch_size", "grad_accum", "max_length", "save_every", "log_every"):
            if getattr(self, k) < 1:
                errs.append(f"finetune.{k} must be >= 1")
        return errs


@dataclass(frozen=True)
class JudgeConfig:
    testset: str = "recipes/testsets/general.jsonl"
    instruction_field: str = "instruction"
    skill_field: str = "skill"
    difficulty_field: str = "difficulty"
    answer_max_tokens: int = 384
    out: str = ""  # default: <run.out>/judge
    limit: int = 0  # use only the first N test items; 0 = all
    # The judge's own sampling: greedy by default, so a rerun gives the same verdicts. Its
    # replies are a number or a letter (grammar-constrained); a few tokens leave room for
    # backends that ignore the grammar ("8/10", "Answer A").
    judge_temperature: float = 0.0
    judge_max_tokens: int = 16
    include_eliminated: bool = False  # `wizardlite judge` also rates eliminated instructions

    def check(self) -> list[str]:
        errs = []
        if self.limit < 0:
            errs.append("judge.limit must be >= 0")
        if self.answer_max_tokens < 1 or self.judge_max_tokens < 1:
            errs.append("judge.answer_max_tokens and judge.judge_max_tokens must be >= 1")
        if not 0.0 <= self.judge_temperature <= 5.0:
            errs.append("judge.judge_temperature must be between 0 and 5")
        return errs


@dataclass(frozen=True)
class DecontaminateConfig:
    """Evolve drops a kept instruction that overlaps a prompt of these evaluation files."""

    # IFEval JSONL, or any JSONL with an instruction field; none by default (the check is off)
    files: tuple[str, ...] = ()
    field: str = ""  # the prompt field; empty = detect: prompt, instruction, question, input
    ngram: int = 13  # words in a shared run that counts as overlap (GPT-3's 13-gram); 0 = off
    # cosine similarity (dedup.model embeddings) at or above which an instruction is a paraphrase; 0 = off.
    # all-MiniLM-L6-v2 on IFEval: light paraphrases 0.90-0.95, distinct IFEval prompts at most 0.77
    threshold: float = 0.85

    def check(self) -> list[str]:
        errs = []
        if self.ngram < 0:
            errs.append("decontaminate.ngram must be >= 0 (0 turns the n-gram test off)")
        if not 0.0 <= self.threshold <= 1.0:
            errs.append("decontaminate.threshold must be in [0, 1] (0 turns the embedding test off)")
        return errs


@dataclass(frozen=True)
class EvalConfig:
    """`wizardlite eval`: verifiable instruction following (IFEval). The model settings (n_ctx,
    parallel...) come from [evolver]; sampling is greedy by default, as IFEval reports it."""

    data: str = ""  # an IFEval-format JSONL; the user brings it (nothing is downloaded)
    out: str = ""  # default: <run.out>/eval
    max_tokens: int = 1024  # IFEval asks for answers of up to several hundred words
    temperature: float = 0.0
    repeat_penalty: float = 1.0  # 1 = off: plain greedy decoding
    limit: int = 0  # use only the first N prompts; 0 = all
    bootstrap: int = 10000  # resamples for the paired intervals

    def check(self) -> list[str]:
        errs = []
        if self.max_tokens < 1:
            errs.append("eval.max_tokens must be >= 1")
        if not 0.0 <= self.temperature <= 5.0:
            errs.append("eval.temperature must be between 0 and 5")
        if self.limit < 0:
            errs.append("eval.limit must be >= 0")
        if self.bootstrap < 100:
            errs.append("eval.bootstrap must be >= 100")
        return errs


@dataclass(frozen=True)
class VerifyConfig:
    """The verifiable_constraints operation, and the answers it must get right."""

    min_constraints: int = 1  # constraints one evolution adds
    max_constraints: int = 3
    types: tuple[str, ...] = ()  # constraint types to draw from; empty = every type in the registry
    half: str = "all"  # "a" | "b": draw only from that half of the registry (held-out-type experiments)
    k: int = 4  # answers tried per constrained instruction; the first that passes every check is kept
    # When no answer passes as written: apply the constraints' repairs (lowercase, quotes, end
    # phrase...; wizardlite.constraints) and keep the first finished answer that then passes.
    repair: bool = False

    def check(self) -> list[str]:
        errs = []
        if not 1 <= self.min_constraints <= self.max_constraints:
            errs.append("verify.min_constraints must be >= 1 and <= verify.max_constraints")
        if self.k < 1:
            errs.append("verify.k must be >= 1")
        if self.half not in ("all", "a", "b"):
            errs.append(f"verify.half must be all, a or b (got '{self.half}')")
        return errs


@dataclass(frozen=True)
class SelectConfig:
    """Selection of the training set by instruction-following difficulty (IFD), scored with
    finetune.base: loss of the answer given the instruction / loss of the answer alone."""

    ifd: bool = False  # score the kept records and select by IFD
    max_ifd: float = 1.0  # drop records at or above: the instruction does not help predict the answer
    top_fraction: float = 1.0  # then keep this fraction with the highest IFD

    def check(self) -> list[str]:
        errs = []
        if not 0.0 < self.top_fraction <= 1.0:
            errs.append("select.top_fraction must be in (0, 1]")
        if self.max_ifd <= 0:
            errs.append("select.max_ifd must be > 0")
        return errs


@dataclass(frozen=True)
class Recipe:
    run: RunConfig = field(default_factory=RunConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    evolver: BackendConfig = field(default_factory=BackendConfig)
    answerer: BackendConfig = field(default_factory=BackendConfig)  # unset keys follow [evolver]
    judge_model: BackendConfig = field(default_factory=BackendConfig)  # unset keys follow [evolver]
    evolve: EvolveConfig = field(default_factory=EvolveConfig)
    eliminate: EliminateConfig = field(default_factory=EliminateConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    select: SelectConfig = field(default_factory=SelectConfig)

    def check(self) -> list[str]:
        """Every section's own check, found by walking the fields: a new section is checked
        without being listed anywhere. Model sections are told their name for the messages."""
        errs: list[str] = []
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            try:
                if isinstance(section, BackendConfig):
                    errs += section.check(f.name)
                elif hasattr(section, "check"):
                    errs += section.check()
            except TypeError:
                pass  # a value of the wrong type in that section, already reported
        return errs


# Sections whose unset keys are taken from [evolver].
INHERITS_EVOLVER = ("answerer", "judge_model")

# ---------------------------------------------------------------------------- building


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str, errors: list[str]) -> Any:
    """Check `value` against the annotation `tp`; convert lists to tuples. Errors are appended."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where, errors)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append(f"{where}: expected a table, got {type(value).__name__}")
            return tp()
        return _build(tp, value, where, errors)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            errors.append(f"{where}: expected a list, got {type(value).__name__}")
            return ()
        return tuple(_coerce(v, args[0], f"{where}[{i}]", errors) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{where}: expected a table, got {type(value).__name__}")
            return {}
        return {str(k): _coerce(v, args[1], f"{where}.{k}", errors) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        errors.append(f"{where}: expected {_type_name(tp)}, got a boolean")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        errors.append(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], where: str, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            errors.append(f"{where + '.' if where else ''}{key}: unknown key (known: {', '.join(sorted(known))})")
    kwargs = {}
    for key in known & set(data):
        kwargs[key] = _coerce(data[key], hints[key], f"{where + '.' if where else ''}{key}", errors)
    return cls(**kwargs)


def _parse_value(text: str) -> Any:
    """Parse the right-hand side of `--set key=value` as TOML, falling back to a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Apply `section.key=value` overrides to raw recipe data (a copy is returned)."""
    data = json.loads(json.dumps(data))
    items = overrides.items() if isinstance(overrides, dict) else (_split(o) for o in overrides)
    for dotted, value in items:
        parts = dotted.split(".")
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {dotted}: '{p}' is not a section")
        node[parts[-1]] = _parse_value(value) if isinstance(value, str) and not isinstance(overrides, dict) else value
    return data


def _split(override: str) -> tuple[str, str]:
    if "=" not in override:
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. --set evolve.rounds=2")
    k, v = override.split("=", 1)
    return k.strip(), v.strip()


Check = Callable[[Recipe], list[str]]


def recipe_from_dict(data: dict[str, Any], source: str = "recipe", checks: Sequence[Check] = ()) -> Recipe:
    """Build and validate a recipe. `checks` are the checks of names that other layers own
    (backends, evolution operations): the CLI passes them all, so every problem in a file is
    reported together whichever command runs."""
    data = dict(data)
    evolver = data.get("evolver", {})
    if isinstance(evolver, dict):
        # Inherit only valid keys: a typo in [evolver] is reported once, under [evolver].
        known = {f.name for f in dataclasses.fields(BackendConfig)}
        inherited = {k: v for k, v in evolver.items() if k in known}
        for name in INHERITS_EVOLVER:
            if isinstance(data.get(name, {}), dict):
                data[name] = {**inherited, **data.get(name, {})}
    errors: list[str] = []
    recipe = _build(Recipe, data, "", errors)
    errors += recipe.check()
    for check in checks:
        try:
            errors += check(recipe)
        except TypeError:
            pass  # a value of the wrong type, already reported

    if errors:
        lines = "\n".join(f"  - {e}" for e in errors)
        raise ConfigError(f"{source}: {len(errors)} problem(s):\n{lines}")
    return recipe


def load_recipe(path: str | Path | None, overrides: list[str] | dict[str, Any] | None = None,
                checks: Sequence[Check] = (), flags: dict[str, Any] | None = None) -> Recipe:
    """Read a TOML recipe (or the defaults when `path` is None), apply overrides, validate.
    `flags` are a command's own options (`--rounds 2` as {"evolve.rounds": 2}; None values are
    unset): they apply first, and `overrides` (`--set` strings or a dict) after them."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"no recipe at {p}: pass --recipe PATH (the shipped ones are in recipes/)")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
        source = str(p)
    if flags:
        data = apply_overrides(data, {k: v for k, v in flags.items() if v is not None})
    if overrides:
        data = apply_overrides(data, overrides)
    return recipe_from_dict(data, source, checks)


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(recipe)))
