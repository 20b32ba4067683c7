"""A dev round of the proof: arms evaluated on the dev set only, never on a test set.

Run as: python benchmarks/proof/dev.py benchmarks/proof/dev/breadth           (resumable: run it again)
        python benchmarks/proof/dev.py benchmarks/proof/dev/breadth --arm base
        python benchmarks/proof/dev.py benchmarks/proof/dev/breadth --table   (the table so far)
        python benchmarks/proof/dev.py benchmarks/proof/dev/breadth --quick   (a tiny version, to try it)

A round is a folder of arm files (format: benchmarks/arms.py) and a NOTES.md that says what the
round asks and what it found. Every arm starts from the seeds of benchmarks/ifeval_gain.py (the
175 Self-Instruct seeds and the project's 16); every training set is decontaminated against
IFEval, the held-out instructions the dev and T3 prompts are built on
(recipes/testsets/heldout.jsonl) and the dev prompts themselves; every model answers the dev
set's 249 prompts (benchmarks/proof/sets/dev.jsonl), scored by the registry's own checkers.
The steps, their resuming and the work folder are those of ifeval_gain.py's Experiment.

The table (benchmarks/proof/dev/<round>/results.md and .json) gives each arm's prompt-level loose
accuracy, its paired difference from base, and every pair of tuned arms against each other, on
all dev prompts and on two parts of them: the prompts whose constraints are all IFEval's ids, and
the prompts with at least one of the registry's own types.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: arms, ifeval_gain

from arms import load_arms  # noqa: E402
from ifeval_gain import IFEVAL, ROOT, Experiment, _answers, diff_ci, paired_entry  # noqa: E402

from wizardlite.io import atomic_write_text  # noqa: E402

DEV = ROOT / "benchmarks" / "proof" / "sets" / "dev.jsonl"
HELDOUT = ROOT / "recipes" / "testsets" / "heldout.jsonl"
SUBSETS = ("all", "ifeval ids only", "with own types")


def subset_of(ids: list[str]) -> str:
    from wizardlite.constraints import TYPES

    return "ifeval ids only" if all(TYPES[i].in_ifeval for i in ids if i in TYPES) else "with own types"


def instruction_loose(answers: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Instructions followed (loose) and asked, split into IFEval's ids and the registry's own
    types: which kind of constraint an arm learned, where prompt-level figures mix both."""
    from wizardlite.constraints import TYPES

    out = {k: {"followed": 0, "asked": 0} for k in ("ifeval ids", "own types")}
    for r in answers.values():
        for v in r["verdicts"]:
            kind = out["ifeval ids" if v["id"] in TYPES and TYPES[v["id"]].in_ifeval else "own types"]
            kind["asked"] += 1
            kind["followed"] += bool(v["loose"])
    return out


def summarise(folder: Path, work: Path, timings: dict[str, float]) -> dict[str, Any]:
    from wizardlite.eval.report import verdicts
    from wizardlite.eval.stats import accuracies

    specs = load_arms(folder)
    rows = {a: _answers(work / a / "eval") for a in specs if (work / a / "eval" / "results.json").is_file()}
    v = {a: verdicts(answers) for a, answers in rows.items()}
    out: dict[str, Any] = {"dev_set": str(DEV.relative_to(ROOT)), "arms": {}, "vs_base": {}, "pairs": {}}
    parts: dict[str, set[str]] = {s: set() for s in SUBSETS}
    for answers in rows.values():
        for k, r in answers.items():
            parts["all"].add(k)
            parts[subset_of(r["instruction_ids"])].add(k)
    for arm, answers in rows.items():
        train = work / specs[arm].data_arm / "data" / "train.jsonl"
        out["arms"][arm] = {
            "about": specs[arm].about, "answered": len(answers),
            "train_rows": sum(1 for _ in train.open()) if train.is_file() else 0,
            "cut_at_limit": sum(r["finish"] == "length" for r in answers.values()),
            "wall_s": round(timings.get(arm, 0.0), 1) or None,
            "median_answer_tokens": statistics.median(r["completion_tokens"] for r in answers.values()),
            "instruction_loose": instruction_loose(answers),
            "prompt_loose": {s: accuracies({k: x for k, x in v[arm].items() if k in parts[s]}, 1000, 0)["prompt_loose"].value
                             for s in SUBSETS if parts[s] & set(v[arm])}}

    def compare(a: str, b: str) -> dict[str, Any]:
        res = {}
        for s in SUBSETS:
            p = paired_entry({k: x for k, x in v[a].items() if k in parts[s]}, v[b], "prompt_loose")
            if p:
                res[s] = {**p, "n": len(parts[s] & set(v[a]) & set(v[b]))}
        return res

    tuned = [a for a in rows if specs[a].data != "none"]
    if "base" in rows:
        out["vs_base"] = {a: compare(a, "base") for a in tuned}
    out["pairs"] = {f"{b} - {a}": compare(b, a) for a, b in itertools.combinations(tuned, 2)}
    out["not_yet_evaluated"] = [a for a in specs if a not in rows]
    return out


def write_results(s: dict[str, Any], folder: Path, quick: bool, work: Path) -> None:
    dest = work if quick else folder
    name = "results_quick" if quick else "results"
    atomic_write_text(dest / f"{name}.json", json.dumps(s, indent=2) + "\n")
    head = " | ".join(SUBSETS)
    lines = [f"# Dev round `{folder.name}`{' (--quick: a smoke test, not a result)' if quick else ''}", "",
             f"Prompt-level loose accuracy on `{s['dev_set']}` (dev only: no test set was used), in %, on all "
             "prompts, the prompts whose constraints are all IFEval's ids, and those with one of the registry's "
             "own types; paired differences in points with a paired bootstrap 95% interval and McNemar's p.", "",
             f"| arm | train rows | answered | cut at limit | {head} | wall |", "|---|---|---|---|---|---|---|---|"]
    for arm, a in s["arms"].items():
        acc = " | ".join(f"{100 * a['prompt_loose'][p]:.1f}" if p in a["prompt_loose"] else "-" for p in SUBSETS)
        wall = f"{a['wall_s'] / 60:.0f} min" if a.get("wall_s") else "-"
        lines.append(f"| {arm} | {a['train_rows']} | {a['answered']} | {a['cut_at_limit']} | {acc} | {wall} |")
    kinds = ("ifeval ids", "own types")
    lines += ["", "Instruction-level loose accuracy by kind of instruction (followed / asked), and the median "
              "answer length:", "", f"| arm | {' | '.join(kinds)} | median answer tokens |", "|---|---|---|---|"]
    for arm, a in s["arms"].items():
        il = a["instruction_loose"]
        cells = [f"{100 * il[k]['followed'] / il[k]['asked']:.1f}% ({il[k]['followed']}/{il[k]['asked']})"
                 if il[k]["asked"] else "-" for k in kinds]
        lines.append(f"| {arm} | {' | '.join(cells)} | {a['median_answer_tokens']:g} |")
    comparisons = [(f"{a} - base", c) for a, c in s["vs_base"].items()] + list(s["pairs"].items())
    if comparisons:
        lines += ["", f"| comparison | {head} |", "|---|---|---|---|"]
        for label, c in comparisons:
            cells = [f"{diff_ci(c[p])[0]} (n {c[p]['n']}, p {diff_ci(c[p])[1]})" if p in c else "-" for p in SUBSETS]
            lines.append(f"| {label} | {' | '.join(cells)} |")
    if s["not_yet_evaluated"]:
        lines += ["", f"Not yet evaluated: {', '.join(s['not_yet_evaluated'])} (run the round again: it resumes)."]
    atomic_write_text(dest / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("round", type=Path, help="the round's folder of arm files, e.g. benchmarks/proof/dev/breadth")
    ap.add_argument("--arm", action="append", help="run only this arm (repeatable); default: all, in order")
    ap.add_argument("--work", type=Path, default=None, help="models and runs (default: benchmarks/work/dev/<round>)")
    ap.add_argument("--quick", action="store_true", help="a tiny version of every arm, to try the pipeline")
    ap.add_argument("--table", action="store_true", help="only write the table of the arms evaluated so far")
    args = ap.parse_args()
    folder = args.round.resolve()
    specs = load_arms(folder)
    if unknown := sorted(set(args.arm or ()) - set(specs)):
        sys.exit(f"no arm {', '.join(unknown)} in {folder}: it has {', '.join(specs)}")
    if unsupported := [a for a, sp in specs.items() if sp.data in ("answered-seeds", "equal")]:
        sys.exit(f"{', '.join(unsupported)}: a dev round makes rows by evolving (or names another arm's)")
    for f in (DEV, HELDOUT, IFEVAL):
        if not f.is_file():
            sys.exit(f"missing {f.relative_to(ROOT)}: restore it with `git checkout -- {f.relative_to(ROOT)}`")
    work = args.work or ROOT / "benchmarks" / "work" / "dev" / (folder.name + ("_quick" if args.quick else ""))
    exp = Experiment(work, args.quick, specs=specs, eval_file=DEV, decontaminate=(IFEVAL, HELDOUT, DEV))
    for arm in [] if args.table else args.arm or list(specs):
        exp.run(arm)
    write_results(summarise(folder, work, exp.timings), folder, args.quick, work)


if __name__ == "__main__":
    main()
