"""Generation throughput of the in-process llama.cpp backend: sequential vs. continuous batching,
and prompt tokens evaluated with vs. without shared-prefix reuse, side by side in one process
on the same GGUF and the same real evolution prompts.

Run as: python benchmarks/bench_generate.py [--model PATH] [--n 32] [--parallel 8] [--max-tokens 64]

Three runs over the same prompts (greedy, so their texts can be compared):
  sequential   parallel=1, prefix reuse off   (one sequence at a time, as most local tools do)
  batched      parallel=P, prefix reuse off   (continuous batching alone)
  batched+pfx  parallel=P, prefix reuse on    (what wizardlite runs by default)
Works unchanged on a CUDA build of llama-cpp-python (--n-gpu-layers -1 offloads every layer).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SEED_FILES = (REPO / "recipes" / "seeds" / "self_instruct.jsonl", REPO / "recipes" / "seeds" / "general.jsonl")
GOAL_BATCH = 1.3  # batched decode tokens/s over sequential, on the 2-core CPU
GOAL_PREFIX = 0.5  # prompt tokens evaluated with reuse over without


def load_seeds(path: Path | None, n: int) -> tuple[Path, list[str]]:
    for p in [path] if path else SEED_FILES:
        if p and p.is_file():
            out = []
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    inp = row.get("input") or (row.get("instances") or [{}])[0].get("input", "")
                    out.append(row["instruction"] + (f"\n\n{inp}" if inp else ""))
            return p, [out[i % len(out)] for i in range(n)]
    raise SystemExit(f"no seed file found (tried {', '.join(map(str, SEED_FILES))}): pass --seeds PATH")


def copy_bandwidth_gbs(mb: int = 256, repeats: int = 5) -> float:
    """Host memory bandwidth estimate: best of a few numpy copies, counting read + write."""
    import numpy as np

    a = np.ones(mb * (1 << 20) // 8)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best / 1e9


def device_bandwidth_gbs() -> float | None:
    """GPU memory bandwidth estimate (torch device-to-device copy), when torch sees a GPU."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        a = torch.ones(512 << 20, dtype=torch.uint8, device="cuda")
        b = torch.empty_like(a)
        b.copy_(a)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            b.copy_(a)
        torch.cuda.synchronize()
        return 2 * a.numel() * 10 / (time.perf_counter() - t) / 1e9
    except Exception:
        return None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_mode(name: str, cfg, requests) -> dict:  # noqa: ANN001
    from wizardlite.backends import GenRequest, Sampling, user
    from wizardlite.backends.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator(cfg)
    try:
        gen.generate([GenRequest(user("Hi"), Sampling(temperature=0, max_tokens=4))])  # warm-up: graphs, buffers
        for k in gen.stats:
            gen.stats[k] = 0
        load0 = os.getloadavg()[0]
        cpu0, t = time.process_time(), time.perf_counter()
        results = gen.generate(requests)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu0
        load = max(load0, os.getloadavg()[0])  # other processes on the machine skew every figure
        s = dict(gen.stats)
        return {"name": name, "wall": wall, "results": results, "stats": s, "model_bytes": gen.model_bytes(),
                "gpu": bool(gen.lc.llama_supports_gpu_offload()) and cfg.n_gpu_layers != 0, "rss": peak_rss_mb(),
                "threads": gen.n_threads, "file": gen.info.name, "load": load,
                "core_share": cpu / wall / gen.n_threads}
    finally:
        gen.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-q8_0", help="model name or .gguf path (default: the evolver of recipes/default.toml)")
    ap.add_argument("--n", type=int, default=32, help="evolution prompts (default 32, the evolver's chunk size)")
    ap.add_argument("--parallel", type=int, default=8, help="sequences decoded together in the batched runs")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--n-ctx", type=int, default=1024, help="context per sequence")
    ap.add_argument("--threads", type=int, default=0, help="0 = physical cores")
    ap.add_argument("--n-gpu-layers", type=int, default=-1, help="-1 = all (CUDA/Metal builds); ignored on CPU builds")
    ap.add_argument("--seeds", type=Path, default=None, help="seed JSONL (default: shared seed_tasks.jsonl)")
    ap.add_argument("--repeat", type=int, default=1, help="run the three modes this many times, interleaved; keep "
                    "each mode's fastest run (for machines shared with other work)")
    args = ap.parse_args()

    from wizardlite.backends import GenRequest, Sampling, user
    from wizardlite.evolve.operations import build_prompt
    from wizardlite.recipe import OPERATIONS_GENERAL, BackendConfig

    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")
                   if k in os.environ)
    print("$ " + (env + " " if env else "") + "python " + " ".join(shlex.quote(a) for a in sys.argv))
    seed_path, parents = load_seeds(args.seeds, args.n)
    ops = [OPERATIONS_GENERAL[i % len(OPERATIONS_GENERAL)] for i in range(args.n)]
    sampling = Sampling(temperature=0.0, max_tokens=args.max_tokens)  # greedy: texts comparable across runs
    requests = [GenRequest(user(build_prompt(op, p)), sampling, seed=i, task="evolve")
                for i, (op, p) in enumerate(zip(ops, parents, strict=True))]
    print(f"{args.n} evolution prompts from {seed_path.name}, operations cycling over {', '.join(OPERATIONS_GENERAL)}; "
          f"greedy, max_tokens={args.max_tokens}, n_ctx={args.n_ctx} per sequence")

    base = dict(backend="llamacpp", model=args.model, n_ctx=args.n_ctx, n_threads=args.threads,
                n_gpu_layers=args.n_gpu_layers)
    modes = (("sequential", 1, False), ("batched", args.parallel, False), ("batched+pfx", args.parallel, True))
    best: dict[str, dict] = {}
    for rep in range(args.repeat):
        for name, par, pfx in modes:
            print(f"  [{rep + 1}/{args.repeat}] {name} (parallel={par}, prefix reuse {'on' if pfx else 'off'}) ...",
                  flush=True)
            r = run_mode(name, BackendConfig(**base, parallel=par, prefix_cache=pfx), requests)
            if name not in best or r["wall"] < best[name]["wall"]:
                best[name] = r
    report(args, [best[name] for name, _, _ in modes])


def report(args: argparse.Namespace, runs: list[dict]) -> None:
    import llama_cpp

    seq, bat, pfx = runs
    print(f"\n{os.cpu_count()} CPUs. 'load avg': 1-minute load during the run; 'core share': CPU time used / "
          "(wall time x threads). A load above the thread count or a share well below 1 means other processes "
          "were competing and the figures are pessimistic.")
    if args.repeat > 1:
        print(f"Each mode ran {args.repeat} times, interleaved; the table shows each mode's fastest run.")
    print(f"model {seq['file']} ({seq['model_bytes'] / 1e6:.0f} MB of tensors), llama-cpp-python "
          f"{llama_cpp.__version__}, {'GPU offload' if seq['gpu'] else 'CPU'}, {seq['threads']} threads\n")
    hdr = ("mode", "parallel", "avg live", "wall s", "decode tok/s", "end-to-end tok/s", "prompt tok eval/total", "evolutions/h",
           "peak RSS MB", "load avg", "core share")
    rows = []
    for r, par in ((seq, 1), (bat, args.parallel), (pfx, args.parallel)):
        s = r["stats"]
        rows.append((r["name"], str(par), f"{s['decode_tokens'] / max(1, s['decode_steps']):.1f}", f"{r['wall']:.1f}",
                     f"{s['decode_tokens'] / s['decode_seconds']:.1f}",
                     f"{s['completion_tokens'] / r['wall']:.1f}",
                     f"{s['prompt_tokens_evaluated']}/{s['prompt_tokens_total']}",
                     f"{3600 * args.n / r['wall']:.0f}", f"{r['rss']:.0f}", f"{r['load']:.1f}",
                     f"{r['core_share']:.2f}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(hdr)]
    print(" | ".join(h.ljust(w) for h, w in zip(hdr, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))

    def tps(r: dict) -> float:
        return r["stats"]["decode_tokens"] / r["stats"]["decode_seconds"]

    batch_ratio = tps(bat) / tps(seq)
    e2e_ratio = seq["wall"] / pfx["wall"]
    prefix_ratio = pfx["stats"]["prompt_tokens_evaluated"] / bat["stats"]["prompt_tokens_evaluated"]
    print(f"\nbatched / sequential decode tok/s:     {batch_ratio:.2f}x   (goal >= {GOAL_BATCH}x: "
          f"{'met' if batch_ratio >= GOAL_BATCH else 'NOT met'})")
    print(f"prompt tokens evaluated, reuse / none: {prefix_ratio:.2f}x   (goal <= {GOAL_PREFIX}x: "
          f"{'met' if prefix_ratio <= GOAL_PREFIX else 'NOT met'})")
    print(f"end-to-end wall, sequential / batched+pfx: {e2e_ratio:.2f}x")

    single = tps(seq)
    if seq["gpu"]:
        bw, label = device_bandwidth_gbs(), "GPU copy bandwidth (torch, read+write)"
    else:
        bw, label = copy_bandwidth_gbs(), "host copy bandwidth (numpy, read+write; an estimate)"
    if bw:
        bound = bw * 1e9 / seq["model_bytes"]
        print(f"single-stream bound: {label} {bw:.1f} GB/s / {seq['model_bytes'] / 1e6:.0f} MB of weights = "
              f"{bound:.0f} tok/s; measured single stream {single:.1f} tok/s ({100 * single / bound:.0f}% of it)")
    else:
        print("single-stream bound: memory bandwidth could not be measured here (no torch with CUDA)")

    for other in (bat, pfx):
        same = sum(a.text == b.text for a, b in zip(seq["results"], other["results"], strict=True))
        print(f"greedy texts identical, sequential vs {other['name']}: {same}/{len(seq['results'])}")


if __name__ == "__main__":
    main()
