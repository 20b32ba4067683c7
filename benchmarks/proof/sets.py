"""The proof's evaluation sets (issue 30), built from the project's own material, the same bytes
every time.

Run as: python benchmarks/proof/sets.py            (writes benchmarks/proof/sets/, prints the counts)
        python benchmarks/proof/sets.py --check    (rebuilds in memory; exit 1 if a committed file differs)

    dev.jsonl         held-out prompts, each with 1-3 constraints the registry draws as evolution
                      does (no conflicting pair, never a test-only type), asked in the phrasings
                      training never uses: every tuning choice is made here
    t2_half_a.jsonl   IFEval prompts all of whose instructions lie in half A of the registry: the
                      held-out-type test of a model evolved with verify.half = "b"
    t2_half_b.jsonl   the same for half B: the test of a model evolved with verify.half = "a"
    t3_new.jsonl      the other held-out prompts, each with 1-3 constraints of the test-only types
                      (wizardlite/constraints/heldout.py), in their held-out phrasings
    manifest.json     the counts, the types used and the sha256 of every source

The held-out prompts are recipes/testsets/heldout.jsonl (written for wizardlite), which no recipe
and no arm evolves; a content-hash rule splits them between dev and T3, so a prompt's set does
not depend on the others. Every random choice comes from a generator private to (SEED, the set,
the prompt), and every prompt's constraints are kept only with an answer the registry's builders
make and its checkers pass (`constraints.witness`). All files are IFEval's input format, scored
by `wizardlite eval --data FILE` (the project's own ids by the registry's checkers). A change to
the registry's samplers or phrasings changes these files: `--check` and tests/test_proof_sets.py
say so, and a rebuild then needs a new protocol.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from wizardlite import constraints as C
from wizardlite.io import atomic_write_text, file_sha256
from wizardlite.records import content_hash, local_rng

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "recipes" / "testsets" / "heldout.jsonl"
IFEVAL = ROOT / "recipes" / "testsets" / "ifeval_input_data.jsonl"
OUT = Path(__file__).resolve().parent / "sets"
SEED = 30  # the number: one fixed seed for every draw
T3_SHARE = 3  # one held-out prompt in three goes to T3
MIN_CONSTRAINTS, MAX_CONSTRAINTS = 1, 3
TRIES = 10  # draws per prompt before giving up on one the builders cannot satisfy
FILES = ("dev.jsonl", "t2_half_a.jsonl", "t2_half_b.jsonl", "t3_new.jsonl", "manifest.json")


def test_only_types() -> list[str]:
    return sorted(t for t, ct in C.TYPES.items() if ct.test_only)


def heldout_prompts(path: Path = HELDOUT) -> list[str]:
    """The held-out prompts as the seed reader makes them (instruction, then its input)."""
    from wizardlite.evolve.seeds import load_seeds
    from wizardlite.recipe import SeedsConfig

    seeds, report = load_seeds(SeedsConfig(path=str(path)))
    if report.skipped:
        raise SystemExit(f"{path}: {len(report.skipped)} line(s) skipped, first {report.skipped[0]}: fix the file")
    return [s.instruction for s in seeds]


def set_of(prompt: str) -> str:
    """'dev' or 't3', from the prompt's own hash."""
    h = int(hashlib.sha256(f"wizardlite-proof-split|{prompt.strip()}".encode()).hexdigest()[:8], 16)
    return "t3" if h % T3_SHARE == 0 else "dev"


def constrained(name: str, prompt: str, allowed: list[str]) -> dict[str, Any]:
    """One IFEval-format row: `prompt` with 1-3 constraints drawn among `allowed`, asked in their
    held-out phrasings after a blank line, as the verifiable_constraints operation appends them."""
    rng = local_rng(SEED, name, prompt)
    for _ in range(TRIES):
        cons = C.draw(rng, prompt, [], rng.randint(MIN_CONSTRAINTS, MAX_CONSTRAINTS), allowed=allowed)
        if cons and C.witness(cons) is not None:
            break
    else:
        raise SystemExit(f"no satisfiable constraints for {prompt[:60]!r} in {TRIES} draws")
    sentences = [C.phrase(c, rng, held_out=True) for c in cons]
    return {"key": f"{name}-{content_hash(prompt, n=10)}", "prompt": prompt.rstrip() + "\n\n" + " ".join(sentences),
            **C.to_ifeval(cons)}


def halves(row: dict[str, Any]) -> set[str]:
    """The registry halves of an IFEval row's instructions."""
    return {C.half_of(i) for i in row["instruction_id_list"]}


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    types: dict[str, int] = {}
    for r in rows:
        for i in r["instruction_id_list"]:
            types[i] = types.get(i, 0) + 1
    return {"prompts": len(rows), "instructions": sum(types.values()), "types": dict(sorted(types.items()))}


def render() -> dict[str, str]:
    """Every file of the sets, name -> text."""
    prompts = heldout_prompts()
    dev = [constrained("dev", p, C.pool()) for p in prompts if set_of(p) == "dev"]
    t3 = [constrained("t3", p, test_only_types()) for p in prompts if set_of(p) == "t3"]
    lines = [line for line in IFEVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    t2 = {h: [line for line in lines if halves(json.loads(line)) == {h}] for h in ("a", "b")}
    t2_rows = {h: [json.loads(line) for line in t2[h]] for h in t2}
    files = {"dev.jsonl": jsonl(dev), "t3_new.jsonl": jsonl(t3),
             **{f"t2_half_{h}.jsonl": "".join(line + "\n" for line in t2[h]) for h in t2}}
    manifest = {
        "built_by": "python benchmarks/proof/sets.py", "seed": SEED,
        "sources": {str(p.relative_to(ROOT)): file_sha256(p) for p in (HELDOUT, IFEVAL)},
        "split": f"sha256('wizardlite-proof-split|' + prompt)[:8] % {T3_SHARE} == 0 -> t3, else dev",
        "ifeval_prompts": len(lines), "ifeval_mixed_halves": len(lines) - len(t2["a"]) - len(t2["b"]),
        "sets": {"dev.jsonl": stats(dev), "t2_half_a.jsonl": stats(t2_rows["a"]),
                 "t2_half_b.jsonl": stats(t2_rows["b"]), "t3_new.jsonl": stats(t3)},
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return {name: files[name] for name in FILES}


def stale(out: Path, files: dict[str, str]) -> list[str]:
    """The files under `out` that are missing or differ from `files`."""
    return [n for n, text in files.items() if not (out / n).is_file() or (out / n).read_bytes() != text.encode()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"folder to write (default {OUT.relative_to(ROOT)})")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file in --out differs")
    args = ap.parse_args()
    files = render()
    if args.check:
        bad = stale(args.out, files)
        if bad:
            sys.exit(f"{', '.join(bad)} in {args.out} differ from a rebuild: the registry or a source changed "
                     "(rebuild with `python benchmarks/proof/sets.py`, and pre-register the new sets)")
        print(f"{args.out}: all {len(files)} files match a rebuild")
        return
    for name, text in files.items():
        atomic_write_text(args.out / name, text)
    sets = json.loads(files["manifest.json"])["sets"]
    print(f"{'file':<18}{'prompts':>8}{'instructions':>14}{'types':>7}")
    for name, s in sets.items():
        print(f"{name:<18}{s['prompts']:>8}{s['instructions']:>14}{len(s['types']):>7}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
