"""How far a requantised copy of a GGUF strays from the original: next-token agreement and logit
differences along the original's own greedy continuations of real evolution prompts, and the
speed of each in the batched backend, side by side in one run.

Run as: python benchmarks/bench_quant.py [--model smollm2] [--types q8_0 q4_0] [--n 16] [--max-tokens 48]

For each prompt the original model continues greedily; then both models read prompt plus
continuation (teacher forcing) and, at every continuation position, we compare the argmax
token and the logits. Agreement of 100% would mean identical greedy text; a few percent below
is what one more quantisation step usually costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def continuation_logits(gen, tokens: list[int], start: int):  # noqa: ANN001, ANN201
    """Logits at positions start-1 .. len-2 (each predicts the next token), read in one decode
    call of the backend's engine (the caller keeps texts within one batch)."""
    import numpy as np

    eng, lc = gen.engine, gen.lc
    lc.llama_memory_seq_rm(eng.mem, 0, -1, -1)
    eng._decode_tokens([(0, tok, p, start - 1 <= p < len(tokens) - 1) for p, tok in enumerate(tokens)])
    rows = [np.ctypeslib.as_array(lc.llama_get_logits_ith(gen.ctx, p), shape=(eng.n_vocab,)).copy()
            for p in range(start - 1, len(tokens) - 1)]
    lc.llama_memory_seq_rm(eng.mem, 0, -1, -1)
    return np.stack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--types", nargs="+", default=["q8_0", "q4_0"])
    ap.add_argument("--n", type=int, default=16, help="evolution prompts")
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()

    import numpy as np
    from bench_generate import load_seeds

    from wizardlite import models
    from wizardlite.backends import GenRequest, Sampling, user
    from wizardlite.backends.llamacpp import LlamaCppGenerator
    from wizardlite.evolve.operations import build_prompt
    from wizardlite.recipe import OPERATIONS_GENERAL, BackendConfig

    print("$ python " + " ".join(sys.argv))
    src = models.resolve(args.model)
    _, parents = load_seeds(None, args.n)
    reqs = [GenRequest(user(build_prompt(OPERATIONS_GENERAL[i % 6], p)), Sampling(temperature=0, max_tokens=args.max_tokens))
            for i, p in enumerate(parents)]

    def open_gen(path: Path, parallel: int = 1) -> LlamaCppGenerator:
        return LlamaCppGenerator(BackendConfig(model=str(path), parallel=parallel, n_ctx=1024, prefix_cache=parallel > 1))

    ref = open_gen(src)
    seqs = []
    for req in reqs:
        prompt = ref.prompt_tokens(req)
        out = ref.generate([req])[0]
        cont = ref.tokenize(out.text) if out.text else []
        if cont and len(prompt) + len(cont) <= ref.engine.n_batch:  # one decode call reads it all
            seqs.append((prompt + cont, len(prompt)))
    ref_logits = [continuation_logits(ref, t, s) for t, s in seqs]
    ref.close()

    rows = [("original", src, 1.0, 0.0, 0.0)]
    for qtype in args.types:
        path = models.requantized(src, qtype)
        q = open_gen(path)
        agree = total = 0
        max_diff, mean_diff = 0.0, []
        for (t, s), rl in zip(seqs, ref_logits, strict=True):
            ql = continuation_logits(q, t, s)
            agree += int((ql.argmax(1) == rl.argmax(1)).sum())
            total += len(rl)
            d = np.abs(ql - rl)
            max_diff = max(max_diff, float(d.max()))
            mean_diff.append(float(d.mean()))
        q.close()
        rows.append((qtype, path, agree / total, max_diff, float(np.mean(mean_diff))))

    print(f"\n{len(ref_logits)} prompts, {args.max_tokens} greedy tokens each from {src.name}\n")
    print("model | MB | next-token agreement | max logit diff | mean logit diff | evolutions/h (batched+pfx)")
    print("---|---|---|---|---|---")
    for name, path, agree, mx, mean in rows:
        gen = open_gen(path, parallel=8)
        t = time.perf_counter()
        gen.generate(reqs)
        rate = 3600 * len(reqs) / (time.perf_counter() - t)
        gen.close()
        print(f"{name} | {path.stat().st_size / 1e6:.0f} | {100 * agree:.1f}% | {mx:.2f} | {mean:.3f} | {rate:.0f}")


if __name__ == "__main__":
    main()
