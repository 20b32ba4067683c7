"""The one trainer: TRL's SFTTrainer drives every fine-tune, whichever engine loaded the model.

Run as: (library module, used by `wizardlite finetune`)

The data arrive tokenized by data.py (the chat template, the cut at max_length, the trained
tokens) as `input_ids` and `labels` (IGNORE where no loss is taken); TRL uses a labels column as
it is, so every engine trains on exactly those tokens. Batches are grouped by length
(data.grouped_order, seeded per epoch). TRL projects the output layer only on labelled positions
(on the CPU through trl_cpu.py, since TRL 1.15 does that with a GPU kernel).

Resume: TRL's own checkpoints in <out>/checkpoints/ (every `save_every` steps, at the end, and
when Ctrl-C asks to stop); the next run with the same recipe, data and base continues from the
last complete one, and metrics.jsonl forgets the rows after it. The first Ctrl-C finishes the
step, saves, and stops; a second one stops at once.
"""

from __future__ import annotations

import contextlib
import gc
import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite.errors import ConfigError
from wizardlite.finetune.data import Example, TrainData, grouped_order
from wizardlite.finetune.engine import Loaded, TrainResult, gradient_checkpointing, progress
from wizardlite.finetune.trl_cpu import log_probs_on
from wizardlite.io import Journal
from wizardlite.layout import FinetuneLayout
from wizardlite.recipe import FinetuneConfig

CHECKPOINTS = "checkpoints"  # under the fine-tune's output folder
STAMP = "fingerprint.txt"  # which recipe, data and base the checkpoints belong to


def is_main_process() -> bool:
    """Rank 0, or no launcher at all: the process that writes the output folder."""
    import os

    return int(os.environ.get("RANK", "0")) == 0


def dataset(examples: list[Example]) -> Any:
    import datasets

    return datasets.Dataset.from_dict({"input_ids": [list(e.input_ids) for e in examples],
                                       "labels": [list(e.labels) for e in examples]})


def sft_config(cfg: FinetuneConfig, loaded: Loaded, output_dir: Path, **overrides: Any) -> Any:
    """The recipe as TRL's SFTConfig: the same keys mean the same on every engine."""
    from trl import SFTConfig

    on_cpu = loaded.device == "cpu"
    # Unsloth's model carries its own checkpointing; the others switch the HF one on here
    checkpointing = gradient_checkpointing(cfg.gradient_checkpointing, loaded.device) and not loaded.own_checkpointing
    args: dict[str, Any] = dict(
        output_dir=str(output_dir), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the steps
        lr_scheduler_type="linear", weight_decay=cfg.weight_decay, max_grad_norm=1.0, optim="adamw_torch",
        seed=cfg.seed, data_seed=cfg.seed, max_length=cfg.max_length, packing=cfg.packing,
        bf16=loaded.precision == "bf16", fp16=loaded.precision == "fp16", use_cpu=on_cpu,
        gradient_checkpointing=checkpointing, logging_steps=cfg.log_every, save_strategy="steps",
        save_steps=cfg.save_every, save_total_limit=1, eval_strategy="no", report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", dataloader_pin_memory=not on_cpu, log_level="error",
    )
    return SFTConfig(**(args | overrides))


def make_trainer(cfg: FinetuneConfig, loaded: Loaded, data: TrainData, args: Any, callbacks: list[Any]) -> Any:
    """SFTTrainer (Unsloth's, when its import patched TRL) with length-grouped, seeded batches."""
    import datasets
    import torch
    from transformers import PrinterCallback
    from trl import SFTTrainer

    class Grouped(torch.utils.data.Sampler[int]):
        def __init__(self, lengths: list[int], batch_size: int, seed: int) -> None:
            self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __iter__(self) -> Iterator[int]:
            return iter(grouped_order(self.lengths, self.batch_size, self.seed, self.epoch))

        def __len__(self) -> int:
            return len(self.lengths)

    class Trainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            ds: Any = self.train_dataset if train_dataset is None else train_dataset
            return Grouped([len(x) for x in ds["input_ids"]], self.args.per_device_train_batch_size, self.args.seed)

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # TRL's passes over the (already tokenized) data take milliseconds
    try:
        trainer = Trainer(model=loaded.model, args=args, processing_class=loaded.tokenizer,
                          train_dataset=dataset(data.train), eval_dataset=dataset(data.eval) if data.eval else None,
                          callbacks=callbacks)
    finally:
        if bars:
            datasets.enable_progress_bars()
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the progress bar says it
    return trainer


def _log_callback(console: Console, metrics: Journal, on_step: Callable[[int], None] | None,
                  stop: dict[str, bool]) -> Any:
    """Progress bar, metrics.jsonl rows, the tests' on_step hook, and the stop that Ctrl-C asks for."""
    from transformers import TrainerCallback

    class Log(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = self.t_log = time.perf_counter()
            self.tokens_log = state.num_input_tokens_seen
            self.bar = progress(console if state.is_world_process_zero else Console(quiet=True))
            self.bar.start()
            self.task = self.bar.add_task("finetune", total=state.max_steps, completed=state.global_step,
                                          loss="-", tps="-")
            self.tokens0 = state.num_input_tokens_seen

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            logs = logs or {}
            if "loss" not in logs or not state.is_world_process_zero:
                return
            now, tokens = time.perf_counter(), state.num_input_tokens_seen
            tps = (tokens - self.tokens_log) / max(now - self.t_log, 1e-9)
            metrics.append([{"step": state.global_step, "loss": round(float(logs["loss"]), 5),
                             "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                             "tokens_per_s": round(tps, 1), "tokens": tokens - self.tokens_log,
                             "elapsed_s": round(now - self.t0, 2)}])
            self.t_log, self.tokens_log = now, tokens
            self.bar.update(self.task, loss=f"{logs['loss']:.3f}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            seen = state.num_input_tokens_seen - self.tokens0
            self.bar.update(self.task, completed=state.global_step, tps=f"{seen / (time.perf_counter() - self.t0):.0f}")
            if on_step is not None:
                on_step(state.global_step)
            if stop["asked"]:
                control.should_save = control.should_training_stop = True

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.bar.stop()

    return Log()


@contextlib.contextmanager
def first_ctrl_c_stops(stop: dict[str, bool], console: Console) -> Iterator[None]:
    """The first Ctrl-C asks the trainer to stop after the step it is in (and save it); a second
    one interrupts at once, as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask(signum: int, frame: Any) -> None:
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True
        console.print("[yellow]stopping after this step, with a checkpoint (Ctrl-C again to stop at once)[/]")

    previous = signal.signal(signal.SIGINT, ask)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def last_checkpoint(folder: Path, fingerprint: str, console: Console) -> Path | None:
    """The last complete checkpoint of this run. transformers writes trainer_state.json last, so
    a checkpoint without it was cut short (kill -9) and is removed. Checkpoints of another recipe,
    data or base are removed too."""
    stamp = folder / STAMP
    main = is_main_process()
    if folder.is_dir() and (not stamp.is_file() or stamp.read_text(encoding="utf-8") != fingerprint):
        console.print(f"[yellow]{folder} is from another recipe, data or base: starting over[/]")
        if main:
            shutil.rmtree(folder)
    found = []
    for p in folder.glob("checkpoint-*") if folder.is_dir() else []:
        if (p / "trainer_state.json").is_file():
            found.append(p)
        elif main:
            shutil.rmtree(p, ignore_errors=True)
    if main:
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint, encoding="utf-8")
    return max(found, key=lambda p: int(p.name.rsplit("-", 1)[-1])) if found else None


def _restart_metrics(metrics: Journal, start: int) -> float | None:
    """Keep the metrics rows up to the checkpoint (a resumed run must not repeat the steps after
    it); the eval loss before training, when it was measured."""
    kept = [r for r in metrics.read() if int(r.get("step", 0)) <= start] if start and metrics.path.is_file() else []
    if is_main_process():
        metrics.path.write_text("")
        metrics.append(kept)
    return next((r["eval_loss"] for r in kept if r.get("step") == 0 and "eval_loss" in r), None)


@contextlib.contextmanager
def out_of_memory_is_a_config_error(cfg: FinetuneConfig) -> Iterator[None]:
    try:
        yield
    except RuntimeError as e:  # torch.OutOfMemoryError is one
        text = str(e).lower()
        if "out of memory" in text or "can't allocate memory" in text:
            raise ConfigError(f"out of memory at batch_size={cfg.batch_size}, max_length={cfg.max_length}, "
                              f"rank={cfg.rank}: lower finetune.batch_size first (raise grad_accum to keep the "
                              "effective batch), then max_length or rank, or set finetune.gradient_checkpointing "
                              "= true") from None
        raise


def train(cfg: FinetuneConfig, loaded: Loaded, data: TrainData, layout: FinetuneLayout, fingerprint: str,
          console: Console, on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train the loaded model's LoRA adapters; save them (and the tokenizer) to layout.adapter and
    let the model go. `on_step(step)` is called after each optimizer step."""
    folder = layout.root / CHECKPOINTS
    last = last_checkpoint(folder, fingerprint, console)
    resumed = json.loads((last / "trainer_state.json").read_text()) if last else {}
    start, tokens_before = int(resumed.get("global_step", 0)), int(resumed.get("num_input_tokens_seen", 0))
    metrics = Journal(layout.metrics)
    eval_before = _restart_metrics(metrics, start)
    stop = {"asked": False}
    trainer = make_trainer(cfg, loaded, data, sft_config(cfg, loaded, folder),
                           [_log_callback(console, metrics, on_step, stop)])
    with out_of_memory_is_a_config_error(cfg), log_probs_on(loaded.device):
        if start == 0 and data.eval:
            eval_before = float(trainer.evaluate()["eval_loss"])
            if trainer.is_world_process_zero():
                metrics.append([{"step": 0, "eval_loss": eval_before}])
        if last is not None:
            console.print(f"resuming from step {start} ({last})")
        t0 = time.perf_counter()
        with first_ctrl_c_stops(stop, console):
            trainer.train(resume_from_checkpoint=str(last) if last else None)
        seconds = time.perf_counter() - t0
        if stop["asked"]:
            raise KeyboardInterrupt
        eval_after = float(trainer.evaluate()["eval_loss"]) if data.eval else None
    state = trainer.state
    if eval_after is not None and trainer.is_world_process_zero():
        metrics.append([{"step": state.global_step, "eval_loss": eval_after}])
    losses = [r["loss"] for r in state.log_history if "loss" in r]
    trainer.save_model(str(layout.adapter))  # the adapter only (PEFT), on the main process
    if trainer.is_world_process_zero():
        loaded.tokenizer.save_pretrained(str(layout.adapter))
    seen = state.num_input_tokens_seen - tokens_before
    loaded.model = trainer.model = trainer.model_wrapped = None
    del trainer
    gc.collect()
    return TrainResult(state.global_step, start, int(seen), seconds, eval_before, eval_after,
                       losses[-1] if losses else None)

