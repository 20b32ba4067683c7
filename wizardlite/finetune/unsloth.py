"""The GPU engine: Unsloth's FastLanguageModel (4-bit QLoRA, its own gradient checkpointing)
trained through TRL's SFTTrainer.

Run as: wizardlite finetune --set finetune.engine=unsloth   (needs an NVIDIA GPU and `pip install ".[gpu]"`)

Unsloth is imported only here, and only when this engine was chosen: it refuses to import on a
machine without a GPU, and it pins TRL (<= 1.15) and transformers (<= 5.17), which is why it is
an optional extra. The data arrive already tokenized by ft_data (the same chat template, the
same truncation, the same trained tokens as the CPU engine) as `input_ids` plus a
`completion_mask` that marks the trained tokens, so the recipe's keys mean the same on both
engines. Resume uses the Trainer's own checkpoints under <out>/trainer/.

Not run in this project's CI (no GPU there): see benchmarks/README.md.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite.finetune.data import IGNORE, TrainData
from wizardlite.finetune.engine import TrainResult, lora_targets, progress
from wizardlite.io import Journal
from wizardlite.layout import FinetuneLayout
from wizardlite.recipe import FinetuneConfig


def _rows(examples: list[Any]) -> list[dict[str, list[int]]]:
    return [{"input_ids": list(e.input_ids), "completion_mask": [int(x != IGNORE) for x in e.labels]} for e in examples]


def _sft_config(cfg: FinetuneConfig, trainer_dir: Path, bf16: bool) -> Any:
    from trl import SFTConfig

    # transformers 5 folded warmup_ratio into warmup_steps (a float below 1 is a ratio)
    known = {f.name for f in dataclasses.fields(SFTConfig)}
    warmup: dict[str, Any] = {"warmup_ratio" if "warmup_ratio" in known else "warmup_steps": cfg.warmup_ratio}
    args = SFTConfig(
        output_dir=str(trainer_dir), per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1, **warmup,
        weight_decay=cfg.weight_decay, lr_scheduler_type="linear", max_grad_norm=1.0, optim="adamw_torch",
        seed=cfg.seed, data_seed=cfg.seed, max_length=cfg.max_length, packing=cfg.packing,
        completion_only_loss=True, bf16=bf16, fp16=not bf16, logging_steps=cfg.log_every,
        save_strategy="steps", save_steps=cfg.save_every, save_total_limit=1, eval_strategy="no",
        report_to="none", disable_tqdm=True, include_num_input_tokens_seen=True,
        gradient_checkpointing=False,  # Unsloth's own checkpointing is already in the model
    )
    return args


def _log_callback(console: Console, metrics: Journal, clock: dict[str, Any]) -> Any:
    """A TrainerCallback that draws the progress bar and writes metrics.jsonl."""
    from transformers import TrainerCallback

    class Log(TrainerCallback):
        def on_train_begin(self, a, state, control, **kw):  # noqa: ANN001, ANN003, ANN201
            self.progress = progress(console)
            self.progress.start()
            self.task = self.progress.add_task("finetune", total=state.max_steps, completed=state.global_step,
                                               loss="-", tps="-")
            clock["tokens0"] = state.num_input_tokens_seen

        def on_log(self, a, state, control, logs=None, **kw):  # noqa: ANN001, ANN003, ANN201
            logs = logs or {}
            tps = (state.num_input_tokens_seen - clock["tokens0"]) / max(time.perf_counter() - clock["t0"], 1e-9)
            if "loss" in logs:
                metrics.append([{"step": state.global_step, "loss": logs["loss"], "lr": logs.get("learning_rate"),
                                 "tokens_per_s": round(tps, 1)}])
                self.progress.update(self.task, loss=f"{logs['loss']:.3f}", tps=f"{tps:.0f}")

        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001, ANN003, ANN201
            self.progress.update(self.task, completed=state.global_step)

        def on_train_end(self, a, state, control, **kw):  # noqa: ANN001, ANN003, ANN201
            self.progress.stop()

    return Log()


def train(cfg: FinetuneConfig, base_dir: Path, data: TrainData, tokenizer: Any, layout: FinetuneLayout,
          console: Console, fingerprint: str = "") -> tuple[TrainResult, Path]:
    """Train, then save adapter/ and merged/ (16-bit). Returns (result, merged folder)."""
    from unsloth import FastLanguageModel, is_bfloat16_supported  # noqa: I001 (first: it patches transformers and TRL)

    import datasets
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTTrainer

    model, _ = FastLanguageModel.from_pretrained(model_name=str(base_dir), max_seq_length=cfg.max_length,
                                                 dtype=None, load_in_4bit=cfg.load_in_4bit)
    model = FastLanguageModel.get_peft_model(
        model, r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias="none",
        target_modules=lora_targets(model, cfg.target_modules), random_state=cfg.seed,
        use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False)
    out = layout.root
    trainer_dir = out / "trainer"
    stamp = trainer_dir / "fingerprint.txt"
    if trainer_dir.is_dir() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        console.print(f"[yellow]{trainer_dir} is from another recipe, data or base: starting over[/]")
        shutil.rmtree(trainer_dir)
    trainer_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    args = _sft_config(cfg, trainer_dir, is_bfloat16_supported())
    metrics = Journal(layout.metrics)
    clock = {"t0": time.perf_counter(), "tokens0": 0}

    trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=datasets.Dataset.from_list(_rows(data.train)),
                         eval_dataset=datasets.Dataset.from_list(_rows(data.eval)) if data.eval else None,
                         callbacks=[_log_callback(console, metrics, clock)])
    last = get_last_checkpoint(str(trainer_dir))
    start = int(last.rsplit("-", 1)[-1]) if last else 0
    eval_before = None
    if last is None:
        metrics.path.write_text("")
        if data.eval:
            eval_before = float(trainer.evaluate()["eval_loss"])
            metrics.append([{"step": 0, "eval_loss": eval_before}])
    else:
        console.print(f"resuming from {last}")
        eval_before = next((r["eval_loss"] for r in metrics.read() if r.get("step") == 0 and "eval_loss" in r), None)
    t0 = clock["t0"] = time.perf_counter()
    state = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - t0
    eval_after = float(trainer.evaluate()["eval_loss"]) if data.eval else None
    steps = trainer.state.global_step
    if eval_after is not None:
        metrics.append([{"step": steps, "eval_loss": eval_after}])
    model.save_pretrained(str(layout.adapter))
    tokenizer.save_pretrained(str(layout.adapter))
    merged = layout.merged
    model.save_pretrained_merged(str(merged), tokenizer, save_method="merged_16bit")
    (layout.adapter / "trainer_state.json").write_text(json.dumps({"train_loss": state.training_loss}))
    seen = trainer.state.num_input_tokens_seen - clock["tokens0"]
    return TrainResult(steps, start, int(seen), seconds, eval_before, eval_after, state.training_loss), merged
