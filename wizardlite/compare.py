"""Pairwise comparison: two models answer a test set and a judge model picks the better answer.

Run as: wizardlite compare --testset tests.jsonl --a runs/x/ft/model.gguf --b models/base.gguf --judge models/judge.gguf --out runs/cmp

Both contestants answer every instruction with the same sampling settings and the same
per-instruction seed, one model loaded at a time (A, then B, then the judge; a model that plays
two roles in a row stays loaded). The judge sees
each pair twice, once with A's answer first and once with B's answer first, because judges
favour a position; it replies "A", "B" or "tie" for the answer *shown* first or second (a GBNF
grammar holds it to that), and we map positions back to models:
  - both orders pick the same model -> a win for that model;
  - the orders disagree, or either says tie -> a tie;
  - either reply has no verdict in it -> unparseable, left out of the counts and reported.
Win rates carry a 95% Wilson score interval.

Every stage writes a journal (answers_a.jsonl, answers_b.jsonl, judgements.jsonl) as results
arrive, so a killed comparison resumes without redoing finished work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from wizardlite import __version__
from wizardlite.backends import CONTEXT, ERROR, LENGTH, GenRequest, GenResult, Sampling, user
from wizardlite.config import BackendConfig, Recipe
from wizardlite.errors import ConfigError, DataError
from wizardlite.judge import (
    VERDICT_GRAMMAR,
    Factory,
    OneAtATime,
    TestItem,
    backend_for,
    band,
    identity,
    judge_config,
    parse_verdict,
    progress_bar,
    read_testset,
    same_model,
)
from wizardlite.records import Journal, atomic_write_text, content_hash, derived_seed, file_sha256

META = "comparison.json"
JUDGEMENTS = "judgements.jsonl"
ORDERS = ("a_first", "b_first")

JUDGE_SYSTEM = "You are a careful, impartial judge of answers written by AI assistants."
JUDGE_PROMPT = (
    "Two assistants answered the same instruction. Decide which answer is better: more helpful, correct, "
    "relevant and clear. Do not let the order in which they are shown, or length alone, sway you. Reply with "
    "one word: A if Answer A is better, B if Answer B is better, tie if they are equally good or equally bad.\n\n"
    "### Instruction\n{instruction}\n\n### Answer A\n{first}\n\n### Answer B\n{second}\n\n### Verdict (A, B or tie)"
)


def compare_models(recipe: Recipe, testset: Path, a: str, b: str, judge: str | None, out: Path, *,
                   factory: Factory) -> Path:
    from wizardlite.compare_report import summarize, write_outputs

    items, read = read_testset(testset, recipe.judge)
    if not items:
        raise DataError(f"{testset} holds no usable test items ({len(read.skipped)} line(s) skipped): "
                        f"each line needs a '{recipe.judge.instruction_field}' field")
    base = recipe.judge_model
    cfgs = {"a": backend_for(a, base), "b": backend_for(b, base), "judge": judge_config(recipe, judge)}
    idents = {k: identity(c) for k, c in cfgs.items()}
    # A model name and its path are one model: load it by path, so that a role change reuses it.
    cfgs = {k: replace(c, model=idents[k]["path"]) if "path" in idents[k] else c for k, c in cfgs.items()}
    meta = {"version": __version__, "run_seed": recipe.run.seed, "models": idents,
            "answer_sampling": asdict(answer_sampling(recipe)), "judge_sampling": asdict(judge_sampling(recipe)),
            "system_prompt": recipe.output.system_prompt, "judge_prompt": content_hash(JUDGE_SYSTEM, JUDGE_PROMPT),
            "testset": str(testset), "testset_sha256": file_sha256(testset)}
    check_resume(out, meta)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / META, json.dumps(meta, indent=2, ensure_ascii=False))

    models = OneAtATime(factory)
    try:
        answers = {side: answer_all(side, cfgs[side], items, recipe, out, models) for side in ("a", "b")}
        rows = judge_all(cfgs["judge"], items, answers, recipe, out, models)
    finally:
        models.close()
    summary = summarize(rows, items, answers, idents)
    return write_outputs(out, summary, meta, read, testset)


def answer_sampling(recipe: Recipe) -> Sampling:
    """One Sampling for both contestants, from the judge section's settings."""
    return Sampling.from_config(recipe.judge_model, max_tokens=recipe.judge.answer_max_tokens)


def judge_sampling(recipe: Recipe) -> Sampling:
    cfg = replace(recipe.judge_model, temperature=recipe.judge.judge_temperature)
    return Sampling.from_config(cfg, max_tokens=recipe.judge.judge_max_tokens)


def check_resume(out: Path, meta: dict[str, Any]) -> None:
    """A folder holding another comparison (other models, sampling, seed or prompts) is not
    resumed: its journals would mix two experiments. A changed test set is fine: work is
    keyed by the instruction's content hash, so only new items are done."""
    path = out / META
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    keys = ("run_seed", "models", "answer_sampling", "judge_sampling", "system_prompt", "judge_prompt")
    changed = [k for k in keys if old.get(k) != meta.get(k)]
    if changed:
        raise ConfigError(f"{out} holds a comparison made with other settings ({', '.join(changed)}): "
                          "pass --out NEW_FOLDER, or delete the folder to start over")


# ---------------------------------------------------------------------------- answers


def answer_request(item: TestItem, recipe: Recipe) -> GenRequest:
    # The seed depends on the instruction only, so A and B sample with the same seed.
    return GenRequest(user(item.instruction, system=recipe.output.system_prompt), answer_sampling(recipe),
                      seed=derived_seed(recipe.run.seed, "answer", item.id), task="answer")


def answer_all(side: str, cfg: BackendConfig, items: Sequence[TestItem], recipe: Recipe, out: Path,
               models: OneAtATime) -> dict[str, dict[str, Any]]:
    """Answers of one contestant, id -> journal row. Only missing answers are generated;
    a backend error is not journaled, so the next run asks again."""
    journal = Journal(out / f"answers_{side}.jsonl")
    done = {row["id"]: row for row in journal.read()}
    todo = [it for it in items if it.id not in done]
    if not todo:
        return done
    gen = models.get(cfg)
    reqs = [answer_request(it, recipe) for it in todo]
    with progress_bar(f"answers {side.upper()}", len(items), len(items) - len(todo)) as advance:
        def on_result(i: int, res: GenResult) -> None:
            advance()
            if res.finish_reason == ERROR:
                return
            row = {"id": todo[i].id, "answer": res.text, "finish_reason": res.finish_reason, "seed": reqs[i].seed,
                   "completion_tokens": res.completion_tokens, "seconds": round(res.seconds, 3),
                   "model": gen.info.as_dict()}
            journal.append([row])
            done[row["id"]] = row

        gen.generate(reqs, on_result)
    return done


# ---------------------------------------------------------------------------- judging


def judge_request(item: TestItem, first: str, second: str, order: str, recipe: Recipe) -> GenRequest:
    prompt = JUDGE_PROMPT.format(instruction=item.instruction, first=first.strip() or "(empty)",
                                 second=second.strip() or "(empty)")
    return GenRequest(user(prompt, system=JUDGE_SYSTEM), judge_sampling(recipe),
                      seed=derived_seed(recipe.run.seed, "judge", item.id, order), grammar=VERDICT_GRAMMAR, task="judge")


def to_model(position: str | None, order: str) -> str | None:
    """Map a positional verdict (A = shown first) to a model ("a", "b") for one order."""
    if position is None or position == "tie":
        return position
    first, second = ("a", "b") if order == "a_first" else ("b", "a")
    return first if position == "A" else second


def combine(v_a_first: str | None, v_b_first: str | None) -> str | None:
    """Both orders pick the same model -> that model; they disagree or either says tie ->
    tie; either unparseable -> None."""
    if v_a_first is None or v_b_first is None:
        return None
    if v_a_first == v_b_first and v_a_first in ("a", "b"):
        return v_a_first
    return "tie"


def judgement_row(item: TestItem, ans: dict[str, dict[str, Any]], results: dict[str, GenResult],
                  reqs: dict[str, GenRequest], judge_info: dict[str, Any]) -> dict[str, Any]:
    pos = {o: parse_verdict(results[o].text) for o in ORDERS}
    ver = {o: to_model(pos[o], o) for o in ORDERS}
    both = ver["a_first"] is not None and ver["b_first"] is not None
    return {
        "id": item.id, "line": item.line, "instruction": item.instruction, "skill": item.skill,
        "difficulty": item.difficulty, "band": band(item.difficulty),
        "answer_a": ans["a"]["answer"], "answer_b": ans["b"]["answer"],
        "finish_a": ans["a"]["finish_reason"], "finish_b": ans["b"]["finish_reason"],
        "raw_a_first": results["a_first"].text, "raw_b_first": results["b_first"].text,
        "position_a_first": pos["a_first"], "position_b_first": pos["b_first"],
        "verdict_a_first": ver["a_first"], "verdict_b_first": ver["b_first"],
        "verdict": combine(ver["a_first"], ver["b_first"]),
        "flipped": (ver["a_first"] != ver["b_first"]) if both else None,
        "judge_finish": {o: results[o].finish_reason for o in ORDERS},
        "judge_seeds": {o: reqs[o].seed for o in ORDERS}, "judge": judge_info,
    }


def judge_all(cfg: BackendConfig, items: Sequence[TestItem], answers: dict[str, dict[str, dict[str, Any]]],
              recipe: Recipe, out: Path, models: OneAtATime) -> list[dict[str, Any]]:
    """Judge every pair that has both answers and no judgement yet; return the judgements of
    the current test items. A pair is journaled once both of its orders are in."""
    journal = Journal(out / JUDGEMENTS)
    done = {row["id"]: row for row in journal.read()}
    ready = [it for it in items if it.id in answers["a"] and it.id in answers["b"]]
    todo = [it for it in ready if it.id not in done]
    if todo:
        reqs: list[GenRequest] = []
        for it in todo:
            a, b = answers["a"][it.id]["answer"], answers["b"][it.id]["answer"]
            reqs += [judge_request(it, a, b, "a_first", recipe), judge_request(it, b, a, "b_first", recipe)]
        pending: dict[int, dict[str, GenResult]] = {}
        gen = models.get(cfg)
        with progress_bar("judging", len(ready), len(ready) - len(todo)) as advance:
            def on_result(i: int, res: GenResult) -> None:
                k, order = divmod(i, 2)
                got = pending.setdefault(k, {})
                got[ORDERS[order]] = res
                if len(got) < 2:
                    return
                del pending[k]
                advance()
                if any(r.finish_reason == ERROR for r in got.values()):
                    return  # not journaled: the next run asks again
                it = todo[k]
                ans = {s: answers[s][it.id] for s in ("a", "b")}
                row = judgement_row(it, ans, got, {"a_first": reqs[2 * k], "b_first": reqs[2 * k + 1]},
                                    gen.info.as_dict())
                journal.append([row])
                done[it.id] = row

            gen.generate(reqs, on_result)
    return [done[it.id] for it in items if it.id in done]


def count_cut(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Answers cut at max_tokens and judge prompts that did not fit the context."""
    return {"answer_a_cut": sum(r["finish_a"] == LENGTH for r in rows),
            "answer_b_cut": sum(r["finish_b"] == LENGTH for r in rows),
            "judge_context": sum(any(f == CONTEXT for f in r["judge_finish"].values()) for r in rows)}


def flags(idents: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings for the report when one model plays two roles."""
    out = []
    for side in ("a", "b"):
        if same_model(idents["judge"], idents[side]):
            out.append(f"the judge is the same model as contestant {side.upper()}: it may favour its own answers")
    if same_model(idents["a"], idents["b"]):
        out.append("A and B are the same model: any difference is sampling noise")
    return out
