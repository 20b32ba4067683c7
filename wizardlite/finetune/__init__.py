"""The fine-tuning stage: an evolve run's training set in, a LoRA adapter, a merged model and a
GGUF out.

Run as: wizardlite finetune --recipe recipes/default.toml   (or: just finetune)

Steps: pick the engine (engine.py: unsloth or qlora on an NVIDIA GPU, cpu otherwise), turn the
base into a plain HF folder (wizardlite.gguf.to_hf), render the data with the base's chat template
(data.py), load the model the engine's way (cpu.py, qlora.py, unsloth.py), train it with TRL's
SFTTrainer (trainer.py, the same for every engine), then write (export.py) adapter/, merged/,
model.gguf (+ model.<type>.gguf, adapter.gguf; by llama.cpp's converter, wizardlite.gguf.convert),
a Modelfile for Ollama, metrics.jsonl, loss.png and recipe.resolved.json into the output folder
(default <run.out>/ft). Running the same command again resumes an interrupted run from its last
checkpoint (checkpoints/). Under `accelerate launch` every process trains and the first one writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from wizardlite import __version__
from wizardlite.errors import ConfigError, ModelError
from wizardlite.finetune import data as ft_data
from wizardlite.finetune import engine as ft_engine
from wizardlite.finetune import parity
from wizardlite.finetune.data import TrainData
from wizardlite.finetune.engine import TrainResult, choose_engine
from wizardlite.finetune.export import export_adapter
from wizardlite.gguf import convert, to_hf
from wizardlite.gguf.ollama import end_of_turn
from wizardlite.gguf.to_hf import SOURCE
from wizardlite.io import atomic_write_text, iter_jsonl, tree_sha256
from wizardlite.layout import FinetuneLayout, RunLayout
from wizardlite.models import model_sha256
from wizardlite.quiet import library_bars_off, quiet_handled_loggers
from wizardlite.recipe import FinetuneConfig, Recipe, recipe_to_dict
from wizardlite.records import content_hash
from wizardlite.report import pyplot, save_figure

# FinetuneConfig fields that do not change the trained weights: a checkpoint stays valid across them.
NOT_TRAINING = ("out", "export", "gguf_types", "log_every", "save_every", "merged_dtype", "data", "base", "engine",
                "gradient_checkpointing", "parity")


def load_tokenizer(base_dir: Path, chat_template: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    if chat_template:
        tokenizer.chat_template = chat_template  # the recipe's template wins, and ships with the outputs
    if not tokenizer.chat_template:
        raise ConfigError(f"the base {base_dir} has no chat template: set finetune.chat_template to a Jinja template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def base_identity(base_dir: Path) -> str:
    stamp = base_dir / SOURCE
    if stamp.is_file():
        return str(json.loads(stamp.read_text(encoding="utf-8"))["sha256"])
    files = sorted(base_dir.glob("*.safetensors")) + [base_dir / "config.json"]
    return content_hash([model_sha256(f) for f in files if f.is_file()], n=64)


@dataclasses.dataclass
class _Prepared:
    cfg: FinetuneConfig
    engine: str
    base_dir: Path
    tokenizer: Any
    data: TrainData
    data_info: dict[str, Any]
    fingerprint: str


def _prepare(recipe: Recipe, console: Console, timings: dict[str, float]) -> _Prepared:
    """Pick the engine, make the base a plain HF folder, read and tokenize the data."""
    cfg = recipe.finetune
    if errs := cfg.check():
        raise ConfigError("; ".join(errs))
    data_path = ft_data.find_data(Path(cfg.data or recipe.run.out))
    choice = choose_engine(cfg.engine)  # before anything imports transformers: Unsloth must come first
    used = choice.engine
    console.print(f"engine: [bold]{used}[/] (asked: {cfg.engine}): {choice.why}")
    t = time.perf_counter()
    base_dir = to_hf.base_folder(cfg.base)
    timings["base_s"] = time.perf_counter() - t
    console.print(f"base: {cfg.base} -> {base_dir}")
    tokenizer = load_tokenizer(base_dir, cfg.chat_template)
    if "gguf" in cfg.export:
        convert.check_exportable(base_dir, end_of_turn(tokenizer.chat_template, tokenizer.eos_token))
    t = time.perf_counter()
    td = ft_data.prepare(data_path, tokenizer, cfg.max_length, cfg.loss_on, cfg.eval_fraction, cfg.seed, cfg.eval_min)
    timings["data_s"] = time.perf_counter() - t
    data_info = {"path": str(data_path), "sha256": tree_sha256(data_path), "formats": dict(td.formats),
                 "train": len(td.train), "eval": len(td.eval), "train_tokens": td.tokens,
                 "skipped_lines": [{"line": n, "reason": r} for n, r in td.report.skipped],
                 "truncated": td.truncated, "dropped_too_long": td.dropped}
    console.print(f"data: {data_path}: {len(td.train)} train + {len(td.eval)} eval conversations, "
                  f"{td.tokens} train tokens; {len(td.report.skipped)} lines skipped, {td.truncated} cut at "
                  f"max_length, {td.dropped} dropped")
    train_fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_TRAINING}
    fingerprint = content_hash(train_fields, data_info["sha256"], base_identity(base_dir), used, n=32)
    return _Prepared(cfg, used, base_dir, tokenizer, td, data_info, fingerprint)


def _train(p: _Prepared, out: FinetuneLayout, console: Console, on_step: Any,
           timings: dict[str, float]) -> tuple[TrainResult, Any]:
    """Load the model the engine's way and train it; (what happened, the tokenizer trained with)."""
    from wizardlite.finetune import trainer

    t = time.perf_counter()
    loaded = ft_engine.load_model(p.engine, p.cfg, p.base_dir, p.tokenizer)
    timings["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = trainer.train(p.cfg, loaded, p.data, out, p.fingerprint, console, on_step)
    timings["train_s"] = time.perf_counter() - t
    return result, loaded.tokenizer


def run(recipe: Recipe, console: Console | None = None, on_step: Any = None) -> Path:
    """Fine-tune `recipe.finetune.base` on the training set; return the output folder.
    `on_step(step)` is called after each optimizer step (tests interrupt with it)."""
    from wizardlite.finetune.trainer import is_main_process

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never touch a hub, whatever the caller forgot
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    quiet_handled_loggers()  # bitsandbytes' Hub-kernel warning, also when called outside the CLI
    # OpenMP threads that spin while they wait for each other take the CPU from whatever else
    # runs on the machine, and from each other: with a second busy process on 2 cores a step
    # was 10x slower with the default policy, and as fast as one idle thread with PASSIVE.
    # Read when torch loads its OpenMP runtime, so it must be set before the first `import torch`.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    console = console or Console(stderr=True)
    if recipe.finetune.seeds:
        return _run_seeds(recipe, console, on_step)
    timings: dict[str, float] = {}
    out = RunLayout(Path(recipe.run.out)).finetune(recipe.finetune.out)  # a file in the way fails here, not after the data
    main = is_main_process()
    if not main:
        console = Console(quiet=True)  # one process speaks, and writes
    p = _prepare(recipe, console, timings)
    out.root.mkdir(parents=True, exist_ok=True)
    versions = _versions(p.engine)
    resolved = {"recipe": recipe_to_dict(recipe), "wizardlite": __version__, "engine": p.engine,
                "trainer": {"library": "trl", "version": versions["trl"], "class": "SFTTrainer"},
                "base": {"name": p.cfg.base, "folder": str(p.base_dir), "sha256": base_identity(p.base_dir)},
                "data": p.data_info, "versions": versions, "status": "running"}
    if main:
        atomic_write_text(out.resolved, json.dumps(resolved, indent=2, ensure_ascii=False))

    with library_bars_off():  # transformers' "Loading weights" and "Writing model shards" bars
        result, tokenizer = _train(p, out, console, on_step, timings)
        if not main:
            return out.root
        outputs = export_adapter(p.cfg, out, tokenizer, p.base_dir, timings, console)
        # does each GGUF answer held-out prompts as the merged model does? (finetune.parity prompts; 0: off)
        checked = parity.after_export(p.cfg.parity, out, outputs, p.cfg.gguf_types, tokenizer, p.base_dir,
                                      p.data_info["path"], [e.key for e in p.data.eval], console, timings)
    _plot(out)
    results = {"steps": result.steps, "resumed_from": result.resumed_from, "tokens_per_s": round(result.tokens_per_s, 1),
               "eval_loss_before": result.eval_before, "eval_loss_after": result.eval_after,
               "last_train_loss": result.last_loss, "seconds": {k: round(v, 2) for k, v in timings.items()},
               "outputs": outputs, "parity": [r.to_json() for r in checked]}
    resolved |= {"status": "done", "results": results}
    atomic_write_text(out.resolved, json.dumps(resolved, indent=2, ensure_ascii=False))
    _summary(console, p.engine, p.cfg, p.data, result, timings, outputs, parity.rows(checked))
    if problem := parity.failure(checked):  # everything is written; the GGUF is not what was trained
        raise ModelError(problem)
    return out.root


def _run_seeds(recipe: Recipe, console: Console, on_step: Any) -> Path:
    """`finetune.seeds`: one whole fine-tune per seed in <out>/seed-N (a finished one, of the same
    settings and data, is kept as it is), then their mean into <out> as one model."""
    from wizardlite.finetune.average import average, up_to_date  # average.py imports this module

    cfg = recipe.finetune
    if errs := cfg.check():
        raise ConfigError("; ".join(errs))
    root = RunLayout(Path(recipe.run.out)).finetune(cfg.out).root
    members = []
    for i, seed in enumerate(cfg.seeds, 1):
        member = dataclasses.replace(recipe, finetune=dataclasses.replace(cfg, seed=seed, seeds=(),
                                                                          out=str(root / f"seed-{seed}")))
        folder = Path(member.finetune.out)
        if _finished(member, folder):
            console.print(f"fine-tune {i} of {len(cfg.seeds)} (seed {seed}): done before, in {folder}")
        else:
            console.rule(f"fine-tune {i} of {len(cfg.seeds)}: seed {seed} -> {folder}")
            run(member, console, on_step)
        members.append(folder)
    if up_to_date(root, members):
        console.print(f"the mean of these {len(members)} fine-tunes: done before, in {root}")
        return root
    console.rule(f"the mean of {len(members)} fine-tunes -> {root}")
    return average(members, root, console)


def _finished(member: Recipe, folder: Path) -> bool:
    """Whether `folder` holds a finished fine-tune of exactly `member`'s settings and data."""
    resolved = FinetuneLayout(folder).resolved
    if not resolved.is_file():
        return False
    info = json.loads(resolved.read_text(encoding="utf-8"))
    if info.get("status") != "done" or info["recipe"]["finetune"] != recipe_to_dict(member)["finetune"]:
        return False
    data = ft_data.find_data(Path(member.finetune.data or member.run.out))
    return bool(info["data"]["sha256"] == tree_sha256(data))


def _versions(engine: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "gguf", "llama_cpp_python"]
    names += ["unsloth", "unsloth_zoo"] if engine == "unsloth" else []
    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "missing"
    return out


def _plot(out: FinetuneLayout) -> Path | None:
    """loss.png: train loss per step and eval loss where measured."""
    if not out.metrics.is_file():
        return None
    rows = list(iter_jsonl(out.metrics))
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    fig, ax = pyplot().subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", lw=1.2)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o--", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (per trained token)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out.loss_plot, dpi=100)
    return out.loss_plot


def eval_loss(before: str, after: str, n_eval: int, eval_min: int) -> str:
    """The summary's eval loss, with the number of conversations it is measured on, and a
    warning when the data was too small to hold out finetune.eval_min of them."""
    if not n_eval:
        return "no eval set (finetune.eval_fraction is 0, or fewer than 4 conversations)"
    text = f"{before} -> {after} on {n_eval} held-out conversations"
    if n_eval < eval_min:
        text += (f"\n[yellow]only {n_eval} (finetune.eval_min is {eval_min}; the data is too small to hold out more): "
                 "too few to tell a change from noise[/]")
    return text


def _summary(console: Console, engine: str, cfg: FinetuneConfig, td: Any, result: Any, timings: dict[str, float],
             outputs: dict[str, str], rows: list[tuple[str, str]] | None = None) -> None:
    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    table = Table(title="finetune")
    table.add_column("")
    table.add_column("value")
    table.add_row("engine", f"{engine} (TRL SFTTrainer)")
    table.add_row("base", cfg.base)
    table.add_row("conversations", f"{len(td.train)} train, {len(td.eval)} eval")
    table.add_row("steps", f"{result.steps}" + (f" (resumed at {result.resumed_from})" if result.resumed_from else ""))
    table.add_row("tokens/s", f"{result.tokens_per_s:.0f}")
    table.add_row("eval loss", eval_loss(fmt(result.eval_before), fmt(result.eval_after), len(td.eval), cfg.eval_min))
    table.add_row("time", ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in timings.items()))
    for k, v in outputs.items():
        table.add_row(k, v)
    for k, v in rows or []:
        table.add_row(k, v)
    console.print(table)
