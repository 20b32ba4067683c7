"""The CPU engine: LoRA with PEFT in a plain PyTorch loop.

Run as: wizardlite finetune --set finetune.engine=cpu

Why not TRL's SFTTrainer here: with its defaults it trains ~20x slower on a CPU without bf16
hardware (see benchmarks/README.md): bf16 autocast, on by default, falls back to slow
kernels on AVX2 CPUs, and gradient checkpointing, also on by default, runs every forward
twice. This loop keeps fp32, no checkpointing, length-grouped batches padded only to the
longest row, and computes the output layer only where a loss is taken (the 49k-wide head
is a fifth of the model's compute on SmolLM2).

Resume: every `save_every` steps, and on Ctrl-C, the adapter, optimizer, scheduler and step
go to checkpoint.pt (written whole or not at all). The batches of the whole run are fixed in
advance from the seed, so a resumed run continues with exactly the batch it would have seen.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite.errors import ConfigError
from wizardlite.finetune.data import IGNORE, Example, TrainData, collate, schedule
from wizardlite.finetune.engine import TrainResult, lora_targets, progress
from wizardlite.io import Journal
from wizardlite.layout import FinetuneLayout
from wizardlite.recipe import FinetuneConfig


def load_lora_model(cfg: FinetuneConfig, base_dir: Path) -> Any:
    """The base in fp32 with fresh LoRA adapters on `cfg.target_modules` (seeded)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(cfg.seed)  # the LoRA A matrices are drawn from torch's global generator
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32, local_files_only=True)
    model.config.use_cache = False
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias="none",
                      target_modules=lora_targets(model, cfg.target_modules), task_type="CAUSAL_LM")
    try:
        with warnings.catch_warnings():
            # PEFT asks transformers for a property that transformers 5 renamed: a FutureWarning
            # meant for PEFT's authors, not for our users.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, lora)
    except ValueError as e:
        raise ConfigError(f"finetune.target_modules {list(cfg.target_modules)} do not fit this model ({e})") from None


def token_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """(sum of token losses, number of tokens) over the labelled positions of a batch. The
    output layer runs only on the positions that have a label."""
    import torch.nn.functional as F

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = getattr(causal, causal.base_model_prefix)
    hidden = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).last_hidden_state
    target = batch["labels"][:, 1:]
    keep = target != IGNORE
    logits = causal.get_output_embeddings()(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), target[keep], reduction="sum"), int(keep.sum())


def evaluate(model: Any, examples: Sequence[Example], batch_size: int, pad_id: int) -> float | None:
    import torch

    if not examples:
        return None
    model.eval()
    total, count = 0.0, 0
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    with torch.no_grad():
        for i in range(0, len(ordered), batch_size):
            loss, n = token_loss(model, collate(ordered[i:i + batch_size], pad_id))
            total, count = total + float(loss), count + n
    model.train()
    return total / max(count, 1)


def train_step(model: Any, micro: list[dict[str, Any]], params: list[Any], opt: Any, sched: Any | None) -> tuple[float, int]:
    """One optimizer step over `grad_accum` micro-batches: (mean loss per trained token, real
    tokens processed). The benchmark times this very function."""
    import torch

    n_step = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro)
    total = 0.0
    for batch in micro:
        loss, _ = token_loss(model, batch)
        (loss / max(n_step, 1)).backward()  # a mean over the step's tokens, however they are split
        total += float(loss.detach())
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    if sched is not None:
        sched.step()
    opt.zero_grad(set_to_none=True)
    return total / max(n_step, 1), sum(int(b["attention_mask"].sum()) for b in micro)


def lr_lambda(total: int, warmup_ratio: float) -> Callable[[int], float]:
    """Linear warmup, then linear decay to zero: the schedule TRL uses by default, so both
    engines read `learning_rate` and `warmup_ratio` the same way."""
    warm = math.ceil(total * warmup_ratio)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return f


def _save_checkpoint(path: Path, model: Any, opt: Any, sched: Any, step: int, fingerprint: str) -> None:
    import torch
    from peft import get_peft_model_state_dict

    state = {"step": step, "fingerprint": fingerprint, "adapter": get_peft_model_state_dict(model),
             "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state()}
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, fingerprint: str, console: Console) -> dict[str, Any] | None:
    import torch

    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != fingerprint:
        console.print(f"[yellow]{path} is from another recipe, data or base: starting over[/]")
        return None
    return state


def _resume(path: Path, fingerprint: str, model: Any, opt: Any, sched: Any, total: int, console: Console) -> int:
    """Restore the adapter, optimizer, scheduler and RNG from a checkpoint of this run; the step to start after."""
    import torch
    from peft import set_peft_model_state_dict

    state = _load_checkpoint(path, fingerprint, console)
    if state is None:
        return 0
    set_peft_model_state_dict(model, state["adapter"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    console.print(f"resuming from step {state['step']} of {total} ({path})")
    return int(state["step"])


def _restart_metrics(metrics: Journal, start: int) -> float | None:
    """Keep the metrics rows up to the checkpoint (a resumed run must not repeat the steps after
    it); the eval loss before training, when it was measured."""
    kept = [r for r in metrics.read() if int(r.get("step", 0)) <= start] if start else []
    metrics.path.write_text("")
    metrics.append(kept)
    return next((r["eval_loss"] for r in kept if r.get("step") == 0 and "eval_loss" in r), None)


def train(cfg: FinetuneConfig, base_dir: Path, data: TrainData, pad_id: int, layout: FinetuneLayout, fingerprint: str,
          console: Console, on_step: Callable[[int], None] | None = None) -> tuple[Any, TrainResult]:
    """Train LoRA adapters; return the PEFT model (adapters not merged) and what happened.
    `on_step(step)` is called after each optimizer step (tests use it to interrupt a run)."""
    import torch

    model = load_lora_model(cfg, base_dir)
    model.train()
    steps = schedule(data.train, cfg.batch_size, cfg.epochs, cfg.max_steps, cfg.grad_accum, cfg.packing,
                     cfg.max_length, cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(len(steps), cfg.warmup_ratio))
    ckpt_path, metrics = layout.checkpoint, Journal(layout.metrics)
    start = _resume(ckpt_path, fingerprint, model, opt, sched, len(steps), console)
    eval_before = _restart_metrics(metrics, start)
    if start == 0 and data.eval:
        eval_before = evaluate(model, data.eval, cfg.batch_size, pad_id)
        metrics.append([{"step": 0, "eval_loss": eval_before}])

    t0, seen, last_loss, done = time.perf_counter(), 0, None, start
    try:
        with progress(console) as bar:
            task = bar.add_task("finetune", total=len(steps), completed=start, loss="-", tps="-")
            for step in range(start + 1, len(steps) + 1):
                t_step = time.perf_counter()
                lr = sched.get_last_lr()[0]
                last_loss, tokens = train_step(model, [collate(b, pad_id) for b in steps[step - 1]], params, opt, sched)
                done = step
                seen += tokens
                dt = time.perf_counter() - t_step
                if step % cfg.log_every == 0 or step == len(steps):
                    metrics.append([{"step": step, "loss": round(last_loss, 5), "lr": lr,
                                     "tokens_per_s": round(tokens / dt, 1), "tokens": tokens,
                                     "elapsed_s": round(time.perf_counter() - t0, 2)}])
                bar.update(task, advance=1, loss=f"{last_loss:.3f}", tps=f"{seen / (time.perf_counter() - t0):.0f}")
                if step % cfg.save_every == 0 and step < len(steps):
                    _save_checkpoint(ckpt_path, model, opt, sched, step, fingerprint)
                if on_step is not None:
                    on_step(step)
    except KeyboardInterrupt:
        if done > start:  # keep the finished steps; the next run continues after them
            _save_checkpoint(ckpt_path, model, opt, sched, done, fingerprint)
        raise
    except RuntimeError as e:
        if "out of memory" in str(e).lower() or "can't allocate memory" in str(e).lower():
            raise ConfigError(f"out of memory at batch_size={cfg.batch_size}, max_length={cfg.max_length}, "
                              f"rank={cfg.rank}: lower finetune.batch_size first (raise grad_accum to keep the "
                              "effective batch), then max_length or rank") from None
        raise
    seconds = time.perf_counter() - t0
    _save_checkpoint(ckpt_path, model, opt, sched, len(steps), fingerprint)
    eval_after = evaluate(model, data.eval, cfg.batch_size, pad_id)
    if eval_after is not None:
        metrics.append([{"step": len(steps), "eval_loss": eval_after}])
    return model, TrainResult(len(steps), start, seen, seconds, eval_before, eval_after, last_loss)
