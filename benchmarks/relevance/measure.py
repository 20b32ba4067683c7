"""The off-topic rule (wizardlite/evolve/relevance.py) against records read by hand.

Run as: python benchmarks/relevance/measure.py            (prints the table, writes results.md here)

verdicts.jsonl holds 50 answered records of a verified run (SmolLM2-135M evolving and answering
30 Self-Instruct seeds for 3 rounds, repair on; see NOTES.md), each with a reader's verdict:
does the answer address its instruction at all (right or wrong)? This script embeds every
instruction and answer again with the rule's own model and settings, applies the rule at the
recipe's threshold and at a few others, and counts what it catches. The threshold is not chosen
here: it was set on the Self-Instruct seeds' human answers, and this only measures it.
"""

from __future__ import annotations

import json
from pathlib import Path

from wizardlite.evolve.dedup import Embedder
from wizardlite.io import atomic_write_text
from wizardlite.recipe import EliminateConfig

HERE = Path(__file__).resolve().parent


def main() -> None:
    rows = [json.loads(x) for x in (HERE / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()]
    cfg = EliminateConfig()
    emb = Embedder("all-MiniLM-L6-v2")
    vecs = emb.encode([r["instruction"] for r in rows] + [r["response"] for r in rows])
    n = len(rows)
    for i, r in enumerate(rows):
        r["cos"] = float(vecs[i] @ vecs[n + i])
        r["judged"] = len(r["response"].split()) >= cfg.relevance_min_words
    off = [r for r in rows if r["addresses"] == "no"]
    lines = ["# The off-topic rule on 50 records read by hand", "",
             f"{n} records, {len(off)} whose answer does not address its instruction (reader's verdict). "
             f"Cosine of all-MiniLM-L6-v2 embeddings; answers under {cfg.relevance_min_words} words are not judged.", "",
             "| threshold | eliminated | of them off topic (precision) | off topic caught (recall) | on-topic lost |",
             "|---|---|---|---|---|"]
    for t in sorted({cfg.min_relevance, 0.2, 0.3, 0.4, 0.5}):
        out = [r for r in rows if r["judged"] and r["cos"] < t]
        hit = sum(r["addresses"] == "no" for r in out)
        mark = " (the recipe's)" if t == cfg.min_relevance else ""
        lines.append(f"| {t:.2f}{mark} | {len(out)} | {hit} ({hit / len(out):.0%}) | {hit}/{len(off)} "
                     f"| {len(out) - hit} |" if out else f"| {t:.2f}{mark} | 0 | - | 0/{len(off)} | 0 |")
    lines += ["", "| n | status | cosine | words | addresses it? | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['status']} {r['reason']} | {r['cos']:.3f} | {len(r['response'].split())} "
                     f"| {r['addresses']} | {r['note']} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(HERE / "results.md", text)
    print(text)


if __name__ == "__main__":
    main()
