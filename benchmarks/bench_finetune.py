"""Fine-tuning throughput and memory on the CPU, measured side by side in one run.

Run as: python benchmarks/bench_finetune.py                # or: just bench-finetune
        python benchmarks/bench_finetune.py --steps 4 --rounds 1 --no-write   # a quick look

Three ways to train the same LoRA on the same conversations:
    peft-loop   what one writes by hand: transformers + PEFT, AdamW, a linear schedule, grad clipping
    trl-cpu     wizardlite's cpu engine: TRL's SFTTrainer as `wizardlite finetune` builds it
    trl-qlora   wizardlite's qlora engine: the base in 4-bit NF4 (bitsandbytes' CPU kernels), same trainer

Each arm runs in a process of its own (so that its peak RSS is its own), on the same model, LoRA
settings, batch order (data.grouped_order) and padded batches. tokens/s counts real (non-padding)
tokens over the timed optimizer steps; the first step of each arm is a warm-up and not counted.
The arms run in rounds whose order is reversed each time (A B C, C B A, ...), so that drift in the
machine's load falls on all of them alike; the goal (issue 29: trl-cpu >= 0.9x peft-loop) is read
on the per-round ratios. GPU engines (Unsloth vs qlora) are measured by `just gpu-check`.
Writes benchmarks/results/bench_finetune.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `wizardlite finetune` does
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ARMS = ("peft-loop", "trl-cpu", "trl-qlora")
GOAL = 0.9  # trl-cpu / peft-loop tokens/s
RESULTS = REPO / "benchmarks" / "results"


def recipe_config(args: argparse.Namespace) -> Any:
    import dataclasses

    from wizardlite.recipe import FinetuneConfig

    return dataclasses.replace(FinetuneConfig(), batch_size=args.batch_size, max_length=args.max_length,
                               rank=args.rank, alpha=2 * args.rank, max_steps=args.steps + 1, eval_fraction=0.0,
                               log_every=1, gradient_checkpointing=False)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def prepared(args: argparse.Namespace) -> tuple[Any, Path, Any, Any]:
    from wizardlite.finetune import data as ft_data
    from wizardlite.finetune import load_tokenizer
    from wizardlite.gguf.to_hf import base_folder

    cfg = recipe_config(args)
    base = base_folder(args.base)
    tok = load_tokenizer(base, "")
    data = ft_data.prepare(args.data, tok, cfg.max_length, cfg.loss_on, 0.0, cfg.seed)
    return cfg, base, tok, data


def run_peft_loop(args: argparse.Namespace) -> dict[str, Any]:
    """The hand-written loop, built only from transformers, PEFT and torch."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    from wizardlite.finetune.data import collate, grouped_order

    cfg, base, tok, data = prepared(args)
    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, local_files_only=True)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                             target_modules=list(cfg.target_modules), task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, max(1, round(cfg.warmup_ratio * cfg.max_steps)), cfg.max_steps)
    lengths, n = [len(e.input_ids) for e in data.train], cfg.batch_size
    batches = []  # epoch after epoch, as the trainer's sampler gives them
    for epoch in range(cfg.max_steps * n // len(lengths) + 1):
        order = grouped_order(lengths, n, cfg.seed, epoch)
        batches += [[data.train[i] for i in order[j:j + n]] for j in range(0, len(order), n)]
    pad = int(tok.pad_token_id)
    tokens, seconds, loss = 0, 0.0, float("nan")
    for step in range(cfg.max_steps):
        batch = collate(batches[step], pad)
        t = time.perf_counter()
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t
        loss = float(out.loss)
        if step > 0:
            tokens, seconds = tokens + int(batch["attention_mask"].sum()), seconds + dt
    return {"tokens": tokens, "seconds": seconds, "final_loss": loss}


def run_trl(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    """wizardlite's engine as `wizardlite finetune` runs it, less checkpoints and the progress bar."""
    from transformers import TrainerCallback

    from wizardlite.finetune import engine as ft_engine
    from wizardlite.finetune.trainer import make_trainer, sft_config
    from wizardlite.finetune.trl_cpu import log_probs_on

    cfg, base, tok, data = prepared(args)
    loaded = ft_engine.load_model(engine, cfg, base, tok)
    timed: dict[str, Any] = {"tokens": 0, "seconds": 0.0, "loss": float("nan")}

    class Clock(TrainerCallback):
        def on_step_begin(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t, self.seen = time.perf_counter(), state.num_input_tokens_seen

        def on_step_end(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step > 1:  # the first step is a warm-up
                timed["seconds"] += time.perf_counter() - self.t
                timed["tokens"] += state.num_input_tokens_seen - self.seen

        def on_log(self, a: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                timed["loss"] = float(logs["loss"])

    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(cfg, loaded, data, sft_config(cfg, loaded, Path(tmp), save_strategy="no"), [Clock()])
        with log_probs_on(loaded.device):
            trainer.train()
    return {"tokens": timed["tokens"], "seconds": timed["seconds"], "final_loss": timed["loss"],
            "precision": loaded.precision}


def one(args: argparse.Namespace) -> None:
    """One arm in this process: one JSON line on stdout."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    res = run_peft_loop(args) if args.one == "peft-loop" else run_trl(args, args.one.removeprefix("trl-"))
    res |= {"arm": args.one, "tokens_per_s": res["tokens"] / res["seconds"], "peak_rss_mib": peak_rss_mib(),
            "wall_s": time.perf_counter() - t, "torch_threads": torch.get_num_threads()}
    print(json.dumps(res))


def child(arm: str, argv: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--one", arm, *argv], capture_output=True, text=True)
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"{arm} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(line)


def ci95(xs: list[float]) -> tuple[float, float] | None:
    """A t interval for the mean of the per-round ratios (None for one round)."""
    if len(xs) < 2:
        return None
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36}.get(len(xs), 2.0)
    m, half = statistics.mean(xs), t * statistics.stdev(xs) / len(xs) ** 0.5
    return m - half, m + half


def table(runs: list[dict[str, Any]], rounds: int) -> tuple[list[str], dict[str, Any]]:
    by_arm = {a: [r for r in runs if r["arm"] == a] for a in ARMS}
    ratios = {a: [by_arm[a][i]["tokens_per_s"] / by_arm["peft-loop"][i]["tokens_per_s"] for i in range(rounds)]
              for a in ARMS}
    lines = ["| arm | tokens/s (per round) | mean | vs peft-loop (per round) | peak RSS MiB | final loss |",
             "|---|---|---|---|---|---|"]
    summary: dict[str, Any] = {}
    for a in ARMS:
        tps = [r["tokens_per_s"] for r in by_arm[a]]
        rss = max(r["peak_rss_mib"] for r in by_arm[a])
        summary[a] = {"tokens_per_s": statistics.mean(tps), "ratio_mean": statistics.mean(ratios[a]),
                      "ratio_ci95": ci95(ratios[a]), "peak_rss_mib": rss, "final_loss": by_arm[a][-1]["final_loss"]}
        lines.append(f"| {a} | {', '.join(f'{x:.0f}' for x in tps)} | {statistics.mean(tps):.0f} | "
                     f"{', '.join(f'{x:.2f}x' for x in ratios[a])} | {rss:.0f} | {by_arm[a][-1]['final_loss']:.3f} |")
    return lines, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="smollm2")
    ap.add_argument("--data", default=str(REPO / "recipes" / "seeds" / "general.jsonl"))
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8, help="timed optimizer steps per arm (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=2, help="each arm runs once per round; order reverses each round")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    ap.add_argument("--one", choices=ARMS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args)
    argv = [a for a in sys.argv[1:] if a != "--no-write"]
    command = "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]])
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus"
    print(f"command: {command}\nmachine: {machine}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{args.steps} timed steps of batch {args.batch_size}, max_length {args.max_length}, rank {args.rank}; "
          f"{args.rounds} rounds")
    runs = []
    for r in range(args.rounds):
        for arm in ARMS if r % 2 == 0 else ARMS[::-1]:
            res = child(arm, argv) | {"round": r}
            runs.append(res)
            print(f"  round {r} {arm:10s} {res['tokens_per_s']:7.1f} tokens/s  peak RSS {res['peak_rss_mib']:6.0f} MiB  "
                  f"loss {res['final_loss']:.3f}  ({res['wall_s']:.0f} s)")
    lines, summary = table(runs, args.rounds)
    load_end = os.getloadavg()[0]
    cpu = summary["trl-cpu"]
    verdict = (f"trl-cpu / peft-loop: {cpu['ratio_mean']:.2f}x (goal >= {GOAL}x: "
               f"{'met' if cpu['ratio_mean'] >= GOAL else 'MISSED'})")
    print("\n" + "\n".join(lines) + f"\n\n{verdict}\nload average {load_end:.1f} at end")
    if args.no_write:
        return
    import torch
    import transformers
    import trl

    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = [f"# bench_finetune: {time.strftime('%Y-%m-%d')}", "", f"`{command}`", "",
          f"{machine}; {versions}; torch threads {runs[0]['torch_threads']}; load average at end {load_end:.1f}.",
          f"{args.steps} timed steps per arm (after a warm-up) of batch {args.batch_size}, max_length "
          f"{args.max_length}, LoRA rank {args.rank} on {args.base}; {args.rounds} rounds, order reversed each round.",
          "", *lines, "", verdict, ""]
    (RESULTS / "bench_finetune.md").write_text("\n".join(md), encoding="utf-8")
    (RESULTS / "bench_finetune.json").write_text(json.dumps(
        {"command": command, "machine": machine, "versions": versions, "date": time.strftime("%Y-%m-%d"),
         "runs": runs, "summary": summary, "goal": GOAL}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'bench_finetune.md'}")


if __name__ == "__main__":
    main()
