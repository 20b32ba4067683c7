"""Do the tuned models follow a constraint when it is asked in the training data's own words?

Run as: just bench-constraint-probe                       (base and the arms below; resumable)
        python benchmarks/constraint_probe.py --arm r8-epochs4

The counterpart of ifeval_gain.py, on the same models. IFEval asks for its constraints in its
own wording, often several at once; the evolved training sets ask for the same constraint types
in wizardlite's phrasings (wizardlite/constraints). When a tuned model fails a type on IFEval,
this tells apart two causes: it did not learn the behaviour at all, or it learned it for the
wording it was trained on and that did not carry over to IFEval's.

The probe: for each of the 18 constraint types that wizardlite and IFEval share, PER_TYPE prompts,
each a Self-Instruct seed (recipes/seeds/self_instruct.jsonl) with one constraint of that type drawn
by the registry and asked in one of its phrasings, exactly as the `verifiable_constraints`
operation writes them (fixed seed). The seeds are also the evolved runs' starting instructions,
so this is the training distribution, not held-out data: the constraint draws are new, the
instructions are not. Each model answers with `wizardlite eval` (IFEval's checkers, the same
settings as ifeval_gain.py) and is compared, paired, with the untouched base. The models come
from ifeval_gain's work folder: run that arm first.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

from ifeval_gain import (
    BASE_MODEL,
    RESULTS,
    ROOT,
    SELF_INSTRUCT_SEEDS,
    _answers,
    _model_path,
    diff_ci,
    paired_entry,
    wl,
)

from wizardlite import constraints as C
from wizardlite.io import atomic_write_text

PER_TYPE = 6
SEED = 20261202
ARMS = ("base", "r8-epochs4", "r8-rank64", "r8-rank128")
GAIN_WORK = ROOT / "benchmarks" / "work" / "ifeval_gain"
WORK = ROOT / "benchmarks" / "work" / "constraint_probe"


def seed_instructions() -> list[str]:
    """The Self-Instruct seeds as wizardlite's seed reader makes them: the instruction, then its input if any."""
    from wizardlite.evolve.seeds import load_seeds
    from wizardlite.recipe import SeedsConfig

    return [s.instruction for s in load_seeds(SeedsConfig(path=str(SELF_INSTRUCT_SEEDS)))[0]]


def probe_prompts(instructions: list[str], per_type: int = PER_TYPE, seed: int = SEED) -> list[dict[str, Any]]:
    """IFEval-format rows: per shared type, `per_type` seeds, each with one constraint of that type
    appended in one of the registry's phrasings (a seed the type finds nothing in is passed over)."""
    rng = random.Random(seed)
    rows = []
    for tid in sorted(t for t, ct in C.TYPES.items() if ct.in_ifeval):
        order = rng.sample(range(len(instructions)), len(instructions))
        made = 0
        for i in order:
            kwargs = C.TYPES[tid].sample(rng, instructions[i])
            if kwargs is None:
                continue
            c = C.Constraint(tid, kwargs)
            rows.append({"key": f"{tid}#{made}", "prompt": f"{instructions[i]}\n\n{C.phrase(c, rng)}",
                         **C.to_ifeval([c])})
            made += 1
            if made == per_type:
                break
    return rows


def model_for(arm: str) -> str:
    model = _model_path(GAIN_WORK, arm)
    if arm != "base" and model == BASE_MODEL:
        sys.exit(f"no model for {arm}: run `python benchmarks/ifeval_gain.py --arm {arm}` first")
    return model


def summarise(arms: list[str]) -> dict[str, Any]:
    from wizardlite.eval.report import verdicts

    answers = {a: _answers(WORK / a) for a in arms if (WORK / a / "results.json").is_file()}
    out: dict[str, Any] = {"per_type": PER_TYPE, "seed": SEED, "arms": {}, "paired_vs_base": {}}
    for arm, rows in answers.items():
        per: dict[str, list[int]] = {}
        for key, r in rows.items():
            tid = key.split("#")[0]
            per.setdefault(tid, [0, 0])
            per[tid][0] += all(v["strict"] for v in r["verdicts"])
            per[tid][1] += 1
        followed = sum(f for f, _ in per.values())
        out["arms"][arm] = {"followed": followed, "prompts": len(rows), "per_type": per,
                            "median_words": sorted(len(r["response"].split()) for r in rows.values())[len(rows) // 2]}
        if arm != "base" and "base" in answers:
            out["paired_vs_base"][arm] = paired_entry(verdicts(rows), verdicts(answers["base"]), "prompt_strict")
    return out


def write_results(s: dict[str, Any]) -> None:
    atomic_write_text(RESULTS / "constraint_probe.json", json.dumps(s, indent=2) + "\n")
    arms = list(s["arms"])
    lines = ["# Constraint probe: the training data's own phrasings", "",
             f"{PER_TYPE} prompts per constraint type shared with IFEval (a Self-Instruct seed plus one constraint "
             "in wizardlite's wording); followed / asked, strict. Paired difference against base in points "
             "(paired bootstrap 95% interval, exact McNemar p).", "",
             "| type | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    types = sorted({t for a in arms for t in s["arms"][a]["per_type"]})
    for t in types:
        cells = [s["arms"][a]["per_type"].get(t, [0, 0]) for a in arms]
        lines.append(f"| {t} | " + " | ".join(f"{f}/{n}" for f, n in cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{s['arms'][a]['followed']}/{s['arms'][a]['prompts']}**"
                                            for a in arms) + " |")
    lines.append("| median words | " + " | ".join(str(s["arms"][a]["median_words"]) for a in arms) + " |")

    def vs(a: str) -> str:
        p = s["paired_vs_base"].get(a)
        return "{}, p={}".format(*diff_ci(p)) if p else "-"
    lines.append("| vs base | " + " | ".join(vs(a) for a in arms) + " |")
    atomic_write_text(RESULTS / "constraint_probe.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arm", choices=ARMS, action="append", help="only this model (repeatable); default: all")
    ap.add_argument("--table", action="store_true", help="only write the table of the models answered so far")
    args = ap.parse_args()
    if not SELF_INSTRUCT_SEEDS.is_file():
        sys.exit(f"no seeds at {SELF_INSTRUCT_SEEDS}: restore it with `git checkout -- recipes/seeds/self_instruct.jsonl`")
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / "probe.jsonl"
    atomic_write_text(data, "".join(json.dumps(r) + "\n" for r in probe_prompts(seed_instructions())))
    for arm in [] if args.table else args.arm or ARMS:
        if not (WORK / arm / "results.json").is_file():
            print(f"[{arm}]", flush=True)
            wl("eval", "--recipe", "recipes/default.toml", "--data", str(data), "--model", model_for(arm),
               "--out", str(WORK / arm), log=WORK / "log.txt")
    write_results(summarise(list(ARMS)))


if __name__ == "__main__":
    main()
