"""One llama_decode step over B sequences, timed alone: how decode tokens/s grows with B, and
what the order of the sequence ids in the batch costs. No sampling, no prompts to read in the
timed part: this is the ceiling the batched backend can reach, and the figures behind
`wizardlite doctor`'s suggested `parallel` and the slot-order rule in llamacpp_batch.py.

Run as: python benchmarks/bench_decode_step.py [--model PATH] [--threads 0] [--slots 32] [--steps 10]

Every slot first reads the same-length prompt (`--prompt-tokens`), so all sequences attend over
contexts of equal length; then, for each B, `--steps` steps decode one token for each of
sequences 0..B-1 and the mean step time is printed. The order table decodes 8 (or 4)
sequences whose ids come in different orders.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2", help="model name or .gguf path (default: the embedded SmolLM2)")
    ap.add_argument("--threads", type=int, default=0, help="0 = physical cores")
    ap.add_argument("--slots", type=int, default=32, help="largest batch tried (and KV streams made)")
    ap.add_argument("--steps", type=int, default=10, help="decode steps timed per batch size")
    ap.add_argument("--prompt-tokens", type=int, default=200)
    ap.add_argument("--n-ctx", type=int, default=512, help="context per sequence")
    args = ap.parse_args()

    import llama_cpp as lc

    from wizardlite import models
    from wizardlite.backends.hardware import physical_cores
    from wizardlite.quiet import route_llama_logs

    path = models.resolve(args.model)
    threads = args.threads or physical_cores()
    route_llama_logs(lc)
    lc.llama_backend_init()
    model = lc.llama_model_load_from_file(str(path).encode(), lc.llama_model_default_params())
    cp = lc.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = args.n_ctx * args.slots, 512, 512, args.slots
    cp.n_threads = cp.n_threads_batch = threads
    cp.kv_unified = False  # one KV stream per sequence, as the backend runs it
    cp.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
    ctx = lc.llama_init_from_model(model, cp)
    mem = lc.llama_get_memory(ctx)
    batch = lc.llama_batch_init(512, 0, 1)

    def decode(items: list[tuple[int, int, int, bool]]) -> float:
        for i, (seq, tok, pos, want) in enumerate(items):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = tok, pos, 1, int(want)
            batch.seq_id[i][0] = seq
        batch.n_tokens = len(items)
        t = time.perf_counter()
        if lc.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed: lower --slots or --n-ctx")
        return time.perf_counter() - t

    P = args.prompt_tokens
    prompt_s = sum(decode([(s, 100 + (i * 7 + s) % 1000, i, i == P - 1) for i in range(P)]) for s in range(args.slots))
    print(f"$ python {' '.join(sys.argv)}")
    print(f"model {Path(path).name}, {threads} threads, llama-cpp-python {lc.__version__}, "
          f"{'GPU offload' if lc.llama_supports_gpu_offload() else 'CPU'}")
    print(f"prompt reading: {args.slots * P / prompt_s:.0f} tok/s ({args.slots} prompts of {P} tokens)\n")

    def steps(seqs: list[int]) -> float:
        total = 0.0
        for k in range(args.steps):
            total += decode([(s, 500, P + k, True) for s in seqs])
        for s in seqs:
            lc.llama_memory_seq_rm(mem, s, P, -1)
        return total / args.steps

    print("B  | ms/step | decode tok/s | x B=1")
    print("---|---------|--------------|------")
    base = None
    for b in (1, 2, 4, 8, 12, 16, 24, 32):
        if b > args.slots:
            break
        dt = steps(list(range(b)))
        base = base or b / dt
        print(f"{b:<2} | {dt * 1000:7.2f} | {b / dt:12.1f} | {b / dt / base:.2f}")

    print("\nsequence ids in the batch | ms/step")
    print("--------------------------|--------")
    for seqs in ([0, 1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1, 0], [3, 0, 5, 1, 7, 2, 6, 4],
                 [0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 4, 6]):
        if max(seqs) < args.slots:
            print(f"{','.join(map(str, seqs)):<25} | {steps(seqs) * 1000:.2f}")

    lc.llama_batch_free(batch)
    lc.llama_free(ctx)
    lc.llama_model_free(model)


if __name__ == "__main__":
    main()
