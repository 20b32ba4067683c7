"""Fine-tuning throughput, measured side by side in one run.

Run as: python benchmarks/bench_finetune.py                 # CPU: wizardlite engine vs a plain PyTorch+PEFT loop
        python benchmarks/bench_finetune.py --trl           # ... and TRL's SFTTrainer (defaults, then without bf16 / checkpointing)
        python benchmarks/bench_finetune.py --gpu --base PATH  # NVIDIA GPU: Unsloth vs HF+PEFT+bitsandbytes (pip install .[gpu])

CPU: both loops get the same model, the same LoRA settings and the very same batches, and
their steps alternate (plain, ours, ours, plain, ...) so that load from other processes on a
shared machine falls on both alike. tokens/s counts real (non-padding) tokens; the first step
of each is a warm-up and not counted. TRL cannot be interleaved step by step (it owns its
loop), so it runs after, on the same conversations, and its ratio is noisier.
GPU: each engine runs in its own process (Unsloth patches transformers on import), on the same
batches; tokens/s and peak CUDA memory are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `wizardlite finetune` does; see wizardlite/finetune/__init__.py
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def setup(args: argparse.Namespace) -> tuple[Any, Any, Any, list]:
    import dataclasses

    from wizardlite.finetune import data as ft_data
    from wizardlite.finetune import load_tokenizer
    from wizardlite.gguf.to_hf import base_folder
    from wizardlite.recipe import FinetuneConfig

    cfg = dataclasses.replace(FinetuneConfig(), batch_size=args.batch_size, max_length=args.max_length,
                              rank=args.rank, alpha=2 * args.rank, dropout=args.dropout)
    base = base_folder(args.base)
    tok = load_tokenizer(base, "")
    data = ft_data.prepare(args.data, tok, args.max_length, "responses", 0.0, seed=0)
    steps = ft_data.schedule(data.train, args.batch_size, 100.0, args.steps + 1, 1, False, args.max_length, seed=0)
    return cfg, base, tok, steps


def plain_model(base: Path, args: argparse.Namespace) -> Any:
    """What one writes by hand: load, wrap with PEFT, call the model with labels."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    return get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=args.dropout,
                                            target_modules=TARGETS, task_type="CAUSAL_LM"))


def plain_step(model: Any, batch: dict, opt: Any) -> int:
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    out.loss.backward()
    opt.step()
    opt.zero_grad()
    return int(batch["attention_mask"].sum())


def bench_cpu(args: argparse.Namespace) -> dict[str, float]:
    import torch

    from wizardlite.finetune import cpu as train_cpu
    from wizardlite.finetune.data import collate

    cfg, base, tok, steps = setup(args)
    pad = int(tok.pad_token_id)
    ours = train_cpu.load_lora_model(cfg, base)
    ours.train()
    ours_params = [p for p in ours.parameters() if p.requires_grad]
    ours_opt = torch.optim.AdamW(ours_params, lr=1e-4)
    plain = plain_model(base, args)
    plain.train()
    plain_opt = torch.optim.AdamW([p for p in plain.parameters() if p.requires_grad], lr=1e-4)
    times: dict[str, list[float]] = {"plain": [], "wizardlite": []}
    tokens: dict[str, list[int]] = {"plain": [], "wizardlite": []}
    print(f"{len(steps)} steps of batch {args.batch_size}, max_length {args.max_length}; "
          f"rows {sum(len(b) for s in steps for b in s)}; torch threads {torch.get_num_threads()}")
    for i, step in enumerate(steps):
        batch = collate(step[0], pad)
        order = ["plain", "wizardlite"] if i % 2 == 0 else ["wizardlite", "plain"]
        for name in order:
            t = time.perf_counter()
            if name == "plain":
                n = plain_step(plain, batch, plain_opt)
            else:
                _, n = train_cpu.train_step(ours, [batch], ours_params, ours_opt, None)
            dt = time.perf_counter() - t
            if i > 0:  # step 0 warms up allocators and kernels
                times[name].append(dt)
                tokens[name].append(n)
        print(f"  step {i}: {n} tokens, " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items() if v and i > 0))
    res = {k: sum(tokens[k]) / sum(times[k]) for k in times}
    res["ratio_steps_median"] = statistics.median(p / w for p, w in zip(times["plain"], times["wizardlite"], strict=True))
    return res


def bench_trl(args: argparse.Namespace, variant: str) -> float:
    """tokens/s of TRL's SFTTrainer; `variant` turns off the defaults that cost the most on CPU.
    use_cpu=True is needed in every variant: with bf16 on (TRL's default) and no GPU,
    TrainingArguments otherwise refuses to start."""
    import datasets
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from wizardlite.finetune import data as ft_data
    from wizardlite.gguf.to_hf import base_folder

    base = base_folder(args.base)
    convs, _, _ = ft_data.read_conversations(args.data)
    ds = datasets.Dataset.from_list([{"messages": c} for c in convs])
    extra: dict[str, Any] = {}
    if variant in ("fp32", "fp32-nockpt"):
        extra["bf16"] = False
    if variant == "fp32-nockpt":
        extra["gradient_checkpointing"] = False
    timing: dict[str, list[float]] = {"t": [], "tok": []}

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):  # noqa: ANN001, ANN003, ANN201
            self.t, self.seen = time.perf_counter(), state.num_input_tokens_seen

        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001, ANN003, ANN201
            if state.global_step > 1:  # the first step is a warm-up
                timing["t"].append(time.perf_counter() - self.t)
                timing["tok"].append(state.num_input_tokens_seen - self.seen)

    with tempfile.TemporaryDirectory() as tmp:
        conf = SFTConfig(output_dir=tmp, max_steps=args.trl_steps + 1, per_device_train_batch_size=args.batch_size,
                         max_length=args.max_length, report_to="none", include_num_input_tokens_seen="non_padding",
                         save_strategy="no", disable_tqdm=True, use_cpu=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(str(base))
        peft = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=args.dropout, target_modules=TARGETS,
                          task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=model, args=conf, train_dataset=ds, peft_config=peft, callbacks=[Clock()])
        trainer.train()
    return sum(timing["tok"]) / sum(timing["t"])


# ---------------------------------------------------------------------------- GPU


def gpu_one(args: argparse.Namespace) -> None:
    """One engine on the GPU, in this process: print a JSON line with tokens/s and peak memory."""
    import torch

    from wizardlite.finetune.data import collate

    if args.gpu_one == "unsloth":
        from unsloth import FastLanguageModel  # first, so that it can patch transformers

        _, base, tok, steps = setup(args)
        model, _ = FastLanguageModel.from_pretrained(model_name=str(base), max_seq_length=args.max_length,
                                                     load_in_4bit=True, dtype=None)
        model = FastLanguageModel.get_peft_model(model, r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                                                 target_modules=TARGETS, use_gradient_checkpointing="unsloth",
                                                 random_state=0)
    else:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        _, base, tok, steps = setup(args)
        q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(str(base), quantization_config=q, device_map={"": 0},
                                                     dtype=torch.bfloat16)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                                                 target_modules=TARGETS, task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    torch.cuda.reset_peak_memory_stats()
    seen, spent = 0, 0.0
    for i, step in enumerate(steps):
        batch = {k: v.cuda() for k, v in collate(step[0], int(tok.pad_token_id)).items()}
        torch.cuda.synchronize()
        t = time.perf_counter()
        n = plain_step(model, batch, opt)
        torch.cuda.synchronize()
        if i > 0:
            seen, spent = seen + n, spent + time.perf_counter() - t
    print(json.dumps({"engine": args.gpu_one, "tokens_per_s": seen / spent,
                      "peak_gib": torch.cuda.max_memory_allocated() / 2**30}))


def bench_gpu(args: argparse.Namespace) -> None:
    rows = []
    for engine in ("unsloth", "hf-bnb"):
        cmd = [sys.executable, __file__, "--gpu-one", engine] + [a for a in sys.argv[1:] if a != "--gpu"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in reversed(res.stdout.splitlines()) if x.startswith("{")), None)
        if line is None:
            print(f"{engine} failed:\n{res.stderr[-2000:]}")
            continue
        rows.append(json.loads(line))
    for r in rows:
        print(f"{r['engine']:10s} {r['tokens_per_s']:9.0f} tokens/s   peak {r['peak_gib']:.2f} GiB")
    if len(rows) == 2:
        print(f"unsloth / hf-bnb: {rows[0]['tokens_per_s'] / rows[1]['tokens_per_s']:.2f}x speed, "
              f"{rows[0]['peak_gib'] / rows[1]['peak_gib']:.2f}x memory")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="smollm2")
    ap.add_argument("--data", default=str(REPO / "recipes" / "seeds" / "general.jsonl"))
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--dropout", type=float, default=0.0, help="LoRA dropout (the recipe default is 0)")
    ap.add_argument("--steps", type=int, default=6, help="measured steps per loop (after one warm-up)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default); 1 is steadier "
                    "on a machine shared with other jobs, where OpenMP threads wait on each other")
    ap.add_argument("--trl", action="store_true", help="also time TRL's SFTTrainer")
    ap.add_argument("--trl-steps", type=int, default=3)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--gpu-one", choices=["unsloth", "hf-bnb"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gpu_one:
        return gpu_one(args)
    print("command: python " + " ".join([os.path.relpath(__file__, REPO)] + sys.argv[1:]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if args.gpu:
        return bench_gpu(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    res = bench_cpu(args)
    print(f"\nplain PyTorch+PEFT loop   {res['plain']:8.1f} tokens/s")
    print(f"wizardlite cpu engine     {res['wizardlite']:8.1f} tokens/s   "
          f"ratio {res['wizardlite'] / res['plain']:.2f}x (median of per-step ratios {res['ratio_steps_median']:.2f}x)")
    if args.trl:
        for variant in ("defaults", "fp32", "fp32-nockpt"):
            tps = bench_trl(args, variant)
            print(f"TRL SFTTrainer {variant:11s} {tps:8.1f} tokens/s   vs plain loop {tps / res['plain']:.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
