"""IFEval on the embedded model: the four accuracies, wall time, tokens/s and answers cut at the
token limit; then every journaled answer re-scored by Google's reference scorer (lm-eval's copy)
and by if-verifiable's own scoring loop, verdict by verdict, against wizardlite's verdicts.

Run as: python benchmarks/bench_ifeval.py [--model smollm2-q8_0] [--max-tokens 1024] [--out runs/bench-ifeval]
        python benchmarks/bench_ifeval.py --score-only      # score what the journal holds so far
        (or: just bench-ifeval)

Generation is `wizardlite eval` itself, so the run resumes from runs/bench-ifeval/responses.jsonl
after a kill. The cross-check needs lm-eval (`pip install -e .[ifeval-reference]`); without it
only if-verifiable's loop is compared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wizardlite.eval import run  # noqa: E402
from wizardlite.eval.checkers import check, checkers, offline_punkt  # noqa: E402
from wizardlite.eval.data import read_prompts  # noqa: E402
from wizardlite.eval.report import HEADER, accuracy_rows, summarize  # noqa: E402
from wizardlite.io import iter_jsonl  # noqa: E402
from wizardlite.layout import EvalLayout  # noqa: E402
from wizardlite.recipe import load_recipe  # noqa: E402
from wizardlite.report import table_md  # noqa: E402


def reference_verdicts(raw: dict[str, Any], response: str) -> tuple[list[bool], list[bool]] | None:
    """Strict and loose verdicts of lm-eval's copy of Google's scorer (evaluation_lib), or None
    when lm-eval is not installed."""
    try:
        from lm_eval.tasks.ifeval import utils
    except ImportError:
        return None
    inp = utils.InputExample(key=raw["key"], instruction_id_list=raw["instruction_id_list"], prompt=raw["prompt"],
                             kwargs=raw["kwargs"])
    return (utils.test_instruction_following_strict(inp, response).follow_instruction_list,
            utils.test_instruction_following_loose(inp, response).follow_instruction_list)


def library_loop_verdicts(raw: dict[str, Any], response: str) -> tuple[list[bool], list[bool]]:
    """if-verifiable's own loop (evaluate_instructions), which wizardlite does not use: it strips
    <think> blocks and returns no verdict at all for an empty answer."""
    from if_verifiable.common import evaluate_instructions
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    results, _ = evaluate_instructions(response, raw["instruction_id_list"], raw["kwargs"], raw["prompt"],
                                       INSTRUCTION_DICT)
    return [r.strict_pass for r in results], [r.loose_pass for r in results]


def cross_check(rows: list[dict[str, Any]], raw: dict[str, dict[str, Any]], scorer: Any) -> dict[str, Any]:
    """Agreement of wizardlite's verdicts with another scorer's on the same answers."""
    out: dict[str, Any] = {"prompts": 0, "prompt_agree": {"strict": 0, "loose": 0},
                           "instructions": 0, "inst_agree": {"strict": 0, "loose": 0}, "disagreements": []}
    for r in rows:
        got = scorer(raw[r["key"]], r["response"])
        if got is None:
            return {}
        mine = {"strict": [v["strict"] for v in r["verdicts"]], "loose": [v["loose"] for v in r["verdicts"]]}
        theirs = {"strict": list(got[0]), "loose": list(got[1])}
        out["prompts"] += 1
        out["instructions"] += len(mine["strict"])
        for mode in ("strict", "loose"):
            out["prompt_agree"][mode] += all(mine[mode]) == (all(theirs[mode]) and len(theirs[mode]) > 0)
            pairs = list(zip(mine[mode], theirs[mode], strict=False))
            out["inst_agree"][mode] += sum(a == b for a, b in pairs)
            if mine[mode] != theirs[mode]:
                out["disagreements"].append({"key": r["key"], "mode": mode, "ids": r["instruction_ids"],
                                             "wizardlite": mine[mode], "other": theirs[mode],
                                             "response_start": r["response"][:80]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO / "recipes" / "testsets" / "ifeval_input_data.jsonl"))
    ap.add_argument("--model", default="smollm2-q8_0")
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-ifeval")
    ap.add_argument("--score-only", action="store_true", help="no generation: score the journal as it is")
    args = ap.parse_args()

    recipe = load_recipe(REPO / "recipes" / "default.toml",
                         {"eval.data": args.data, "eval.out": args.out, "eval.max_tokens": args.max_tokens,
                          "eval.limit": args.limit})
    layout = EvalLayout(Path(args.out))
    started = time.time()
    if not args.score_only:
        run(recipe, args.model)
    raw = {str(r["key"]): r for r in iter_jsonl(args.data)}
    rows = [r for r in iter_jsonl(layout.responses) if r["role"] == "model" and r["key"] in raw]
    if not rows:
        sys.exit(f"no answers in {layout.responses} yet: run without --score-only first")
    # Verdicts by the checkers as they are now (the journal keeps those of the run that wrote it).
    prompts = {p.key: p for p in read_prompts(args.data, checkers())[0]}
    for r in rows:
        verdicts = check(prompts[r["key"]], r["response"])
        r["verdicts"] = [v.as_dict() for v in verdicts]
    runlog = list(iter_jsonl(layout.runlog)) if layout.runlog.is_file() else []
    res = summarize({"model": {r["key"]: r for r in rows}}, {"model": args.model}, runlog, recipe.eval.bootstrap,
                    recipe.run.seed)
    m = res["models"]["model"]
    print(f"\n## IFEval, {args.model}: {len(rows)} of {len(raw)} prompts answered "
          f"(max_tokens {args.max_tokens}, greedy)\n")
    print(table_md(HEADER, accuracy_rows(res)))
    print(f"\ngeneration: {m['completion_tokens']} tokens in {m['wall_s']} s of wall time over all sessions = "
          f"{m['tokens_per_s']} tokens/s; {m['cut_at_limit']} of {len(rows)} answers cut at {args.max_tokens} tokens "
          f"(this process: {time.time() - started:.0f} s)")

    offline_punkt()
    import langdetect

    langdetect.DetectorFactory.seed = 0  # the same seed for every scorer, so only their logic differs
    for name, scorer in (("lm-eval (Google's reference scorer)", reference_verdicts),
                         ("if-verifiable's evaluate_instructions", library_loop_verdicts)):
        c = cross_check(rows, raw, scorer)
        if not c:
            print(f"\n{name}: not installed (pip install -e .[ifeval-reference])")
            continue
        print(f"\n### wizardlite vs {name}\n")
        print(table_md(["level", "strict agree", "loose agree"],
                       [["prompt", f"{c['prompt_agree']['strict']} / {c['prompts']}",
                         f"{c['prompt_agree']['loose']} / {c['prompts']}"],
                        ["instruction", f"{c['inst_agree']['strict']} / {c['instructions']}",
                         f"{c['inst_agree']['loose']} / {c['instructions']}"]]))
        for d in c["disagreements"][:20]:
            print(f"- key {d['key']} ({d['mode']}): {json.dumps(d)}")
    print(f"\ncommand: python benchmarks/bench_ifeval.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
