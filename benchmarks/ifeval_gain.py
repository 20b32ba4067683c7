"""Does verified evolution help a model follow instructions? One model, many arms, IFEval.

Run as: just bench-ifeval-gain                    (every arm; resumable: run it again to continue)
        python benchmarks/ifeval_gain.py --arm verified
        python benchmarks/ifeval_gain.py --quick       (a tiny version of everything, to try the pipeline)
        python benchmarks/ifeval_gain.py --table       (only the table, from the arms evaluated so far)
        python benchmarks/arms.py benchmarks/arms/ifeval_gain   (the arms, one line each)

Every arm starts from the same seeds: the 175 Self-Instruct seeds (recipes/seeds/self_instruct.jsonl)
plus the project's own (recipes/seeds/general.jsonl). The same model, SmolLM2-135M-Instruct,
evolves, answers and is fine-tuned, with the fine-tune settings of recipes/default.toml unless
the arm overrides them.

The arms are data: one TOML file each in benchmarks/arms/ifeval_gain/ (format: benchmarks/arms.py),
saying how the arm's rows are made (none, the answered seeds, its own evolve run with recipe
overrides, an equal-size cut of two arms, or another arm's rows) and how its model is tuned
(fine-tune overrides, or the mean of other arms' fine-tunes). Adding an arm is adding a file.

Every training set is decontaminated against the evaluation prompts; every model answers all 541
IFEval prompts with `wizardlite eval`. Each step is skipped when its output exists, and each
wizardlite command resumes from its own journal, so a killed run continues where it stopped.
Model files stay under --work (not committed). The table goes to benchmarks/results/ifeval_gain.md
and .json, with a plot of every arm against base (.png) and, for a setting tuned with several
fine-tune seeds, the seeds' mean against base.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from arms import Arm, load_arms
from clock import StepClock

from wizardlite.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
IFEVAL = ROOT / "recipes" / "testsets" / "ifeval_input_data.jsonl"
SELF_INSTRUCT_SEEDS = ROOT / "recipes" / "seeds" / "self_instruct.jsonl"
OWN_SEEDS = ROOT / "recipes" / "seeds" / "general.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
BASE_MODEL = "smollm2-q8_0"


ARM_SPECS: dict[str, Arm] = load_arms(ROOT / "benchmarks" / "arms" / "ifeval_gain")
ARMS = tuple(ARM_SPECS)
# what an evolve run resumes from: its journal and the files beside it
JOURNAL_FILES = ("records.jsonl", "runlog.jsonl", "recipe.resolved.json", "dedup_index.f32", "dedup_index.ids")


def seeds_like(arm: str) -> str | None:
    """The arm tuned on the answered seeds with `arm`'s fine-tune settings (the goal's fair "beats
    seeds"), if there is one."""
    setting = ARM_SPECS[arm].ft_setting
    return next((a for a in ARMS if data_arm(a) == "seeds" and ARM_SPECS[a].ft_setting == setting), None)


def data_arm(arm: str) -> str:
    """The arm whose training set `arm` is tuned on: its own, or the arm its file names."""
    return ARM_SPECS[arm].data_arm


def average_of(arm: str) -> tuple[str, ...]:
    """The arms whose fine-tunes `arm` averages (none for an arm that is its own fine-tune)."""
    return ARM_SPECS[arm].average


def set_flags(overrides: tuple[str, ...]) -> list[str]:
    """`--set KEY=VALUE` for each recipe override."""
    return [a for o in overrides for a in ("--set", o)]


def wl(*args: str, log: Path) -> None:
    """Run one wizardlite command; its output goes to `log`. A failure stops the experiment."""
    cmd = [sys.executable, "-m", "wizardlite", *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    print("  $ wizardlite " + " ".join(args), flush=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if rc.returncode != 0:
        sys.exit(f"failed (exit {rc.returncode}): wizardlite {' '.join(args)}; see {log}")


class Experiment:
    """Makes and evaluates arms, each step skipped when its output exists. By default the arms of
    benchmarks/arms/ifeval_gain on IFEval; another driver passes its own arms, evaluation file and
    the files every training set is decontaminated against (benchmarks/proof/dev.py)."""

    def __init__(self, work: Path, quick: bool, specs: dict[str, Arm] | None = None,
                 eval_file: Path = IFEVAL, decontaminate: tuple[Path, ...] = (IFEVAL,),
                 seeds: Path | None = None, ft_recipe: Path = ROOT / "recipes" / "default.toml"):
        self.work, self.quick = work, quick
        self.specs = ARM_SPECS if specs is None else specs
        self.eval_file, self.seeds, self.ft_recipe = eval_file, seeds, ft_recipe
        self.clock = StepClock(work / "timings.json")
        self.decon_files = [str(f) for f in decontaminate]
        self.decon = ["--set", f"decontaminate.files={json.dumps(self.decon_files)}"]
        # --quick: a few seeds, one round, a few fine-tune steps, 40 prompts: minutes, not hours
        # (--set after the arm's own: a flag such as --rounds would lose to an arm's evolve.rounds)
        self.evolve_extra = ["--limit", "12", "--set", "evolve.rounds=1"] if quick else []
        self.ft_extra = ["--max-steps", "4"] if quick else []
        self.eval_extra = ["--limit", "40", "--max-tokens", "256"] if quick else []

    # ---------------------------------------------------------------- data

    def seeds_file(self) -> Path:
        """Both seed sets in one JSONL, read with wizardlite's own seed reader (or the file given)."""
        if self.seeds is not None:
            return self.seeds
        path = self.work / "seeds.jsonl"
        if not path.is_file():
            from wizardlite.evolve.seeds import load_seeds
            from wizardlite.recipe import SeedsConfig

            rows = []
            for src in (SELF_INSTRUCT_SEEDS, OWN_SEEDS):
                seeds, _ = load_seeds(SeedsConfig(path=str(src)))
                rows += [{"instruction": s.instruction} for s in seeds]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    def evolve(self, arm: str) -> Path:
        """An arm's own evolve run (data = "evolve"): its recipe with its overrides."""
        spec, out = self.specs[arm], self.work / arm
        if not (out / "data" / "train.jsonl").is_file():
            start = spec.start_from
            if start and not (out / "records.jsonl").is_file():
                # a run that differs only after evolution (selection) resumes a copy of the finished one
                self.evolve(start)
                out.mkdir(parents=True, exist_ok=True)
                for name in JOURNAL_FILES:
                    if (self.work / start / name).is_file():
                        shutil.copyfile(self.work / start / name, out / name)
            wl("evolve", "--recipe", spec.recipe, "--seeds", str(self.seeds_file()), "--out", str(out),
               *self.decon, *set_flags(spec.evolve), *self.evolve_extra, log=out / "log.txt")
        return out / "data" / "train.jsonl"

    def training_set(self, arm: str) -> Path:
        """The rows an arm that makes its own training set is tuned on (see data_arm)."""
        spec = self.specs[arm]
        if spec.data == "answered-seeds":
            return self.answered_seeds()
        if spec.data == "equal":
            for a in spec.equal_of:
                self.training_set(a)
            return self.equal_data(arm, spec.equal_of)
        if spec.data == "evolve":
            return self.evolve(arm)
        raise ValueError(f"{arm} makes no training set of its own (data = {spec.data!r})")

    def answered_seeds(self) -> Path:
        """The seeds answered by the model: an evolve run with no evolution at all would be the
        same thing; here the answerer of recipes/default.toml answers each seed once."""
        out = self.work / "seeds" / "data" / "train.jsonl"
        if out.is_file():
            return out
        import functools

        from wizardlite.backends import GenRequest, Sampling, make_generator, user
        from wizardlite.evolve.decontam import Decontaminator
        from wizardlite.evolve.dedup import Embedder
        from wizardlite.quiet import quiet_handled_loggers
        from wizardlite.recipe import load_recipe
        from wizardlite.records import KEPT, Record, derived_seed

        quiet_handled_loggers()  # as the CLI does: bitsandbytes' Hub-kernel warning, under sentence-transformers
        recipe = load_recipe(ROOT / "recipes" / "default.toml", {"decontaminate.files": self.decon_files})
        seeds = [json.loads(line)["instruction"] for line in self.seeds_file().read_text().splitlines()]
        if self.quick:
            seeds = seeds[:12]
        records = [Record(str(i), None, str(i), 0, "seed", s, status=KEPT) for i, s in enumerate(seeds)]
        Decontaminator(recipe.decontaminate, functools.cache(lambda: Embedder(recipe.dedup.model))).mark(records)
        clean = [r.instruction for r in records if r.status == KEPT]
        gen = make_generator(recipe.answerer)
        try:
            sampling = Sampling.from_config(recipe.answerer)
            reqs = [GenRequest(user(s), sampling, derived_seed(recipe.run.seed, "answer", s), task="answer") for s in clean]
            results = gen.generate(reqs)
        finally:
            gen.close()
        rows = [{"messages": [{"role": "user", "content": s}, {"role": "assistant", "content": r.text}]}
                for s, r in zip(clean, results, strict=True) if r.finish_reason == "stop" and r.text.strip()]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return out

    def equal_data(self, arm: str, of: tuple[str, ...]) -> Path:
        """The larger of two arms' training sets, cut at random (fixed seed) to the other's size."""
        out = self.work / arm / "data" / "train.jsonl"
        if out.is_file():
            return out
        sets = {a: (self.work / a / "data" / "train.jsonl").read_text().splitlines() for a in of}
        small = min(len(v) for v in sets.values())
        big = max(sets, key=lambda a: len(sets[a]))
        rows = random.Random(0).sample(sets[big], small)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
        (out.parent / "source.txt").write_text(f"{big} subsampled to {small} rows (the size of the other arm)\n")
        return out

    # ---------------------------------------------------------------- model and eval

    def finetune(self, arm: str, data: Path, overrides: tuple[str, ...] = ()) -> Path:
        gguf = self.work / arm / "ft" / "model.gguf"
        if not gguf.is_file():
            wl("finetune", "--recipe", str(self.ft_recipe), "--data", str(data), "--out", str(gguf.parent),
               *self.ft_extra, *set_flags(overrides), log=self.work / arm / "log.txt")
        return gguf

    def average(self, arm: str, members: list[Path]) -> Path:
        gguf = self.work / arm / "ft" / "model.gguf"
        if not gguf.is_file():
            wl("average", *map(str, members), "--out", str(gguf.parent), log=self.work / arm / "log.txt")
        return gguf

    def evaluate(self, arm: str, model: str, data: Path | None = None, name: str = "eval") -> Path:
        """`model` answers `data` (default: the experiment's evaluation file) into <arm>/<name>."""
        out = self.work / arm / name
        if not (out / "results.json").is_file():
            wl("eval", "--recipe", "recipes/default.toml", "--data", str(data or self.eval_file), "--model", model,
               "--out", str(out), *self.eval_extra, log=self.work / arm / "log.txt")
        return out

    def run(self, arm: str) -> None:
        print(f"[{arm}]", flush=True)
        spec = self.specs[arm]
        with self.clock.timing(arm):  # wall seconds per arm, summed over sessions, kept if one is cut off
            if spec.data == "none":
                self.evaluate(arm, BASE_MODEL)
            elif spec.average:
                members = [self.finetune(a, self.training_set(self.specs[a].data_arm), self.specs[a].finetune).parent
                           for a in spec.average]
                self.evaluate(arm, str(self.average(arm, members)))
            else:
                self.evaluate(arm, str(self.finetune(arm, self.training_set(spec.data_arm), spec.finetune)))

    @property
    def timings(self) -> dict[str, float]:
        return self.clock.read()


# ---------------------------------------------------------------- the table


def _answers(folder: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(x) for x in (folder / "responses.jsonl").read_text().splitlines() if x.strip()]
    return {r["key"]: r for r in rows if r.get("role") == "model"}


def _model_path(work: Path, arm: str) -> str:
    """The GGUF an arm was evaluated with (under --work, not committed), or the embedded base's name."""
    gguf = work / arm / "ft" / "model.gguf"
    if not gguf.is_file():
        return BASE_MODEL
    return str(gguf.relative_to(ROOT)) if gguf.is_relative_to(ROOT) else str(gguf)


def paired_entry(model: dict[str, Any], against: dict[str, Any], metric: str) -> dict[str, Any] | None:
    """`metric`'s paired difference of two verdict sets (eval.report.verdicts), as the results JSON keeps it."""
    from wizardlite.eval.stats import paired

    p = paired(model, against, metrics=(metric,))
    if not p:
        return None
    m = p[metric]
    return {"diff_points": m.difference_points, "ci95": list(m.ci95), "mcnemar_p": m.mcnemar_p}


def diff_ci(p: dict[str, Any]) -> tuple[str, str]:
    """A paired_entry as "+d [+lo, +hi]", and its McNemar p ("-" when none)."""
    pv = "-" if p.get("mcnemar_p") is None else f"{p['mcnemar_p']:.3g}"
    return f"{p['diff_points']:+.1f} [{p['ci95'][0]:+.1f}, {p['ci95'][1]:+.1f}]", pv


def summarise(work: Path, timings: dict[str, float]) -> dict[str, Any]:
    from wizardlite.eval.report import verdicts
    from wizardlite.eval.stats import paired_mean

    arms: dict[str, Any] = {}
    answers: dict[str, dict[str, Any]] = {}  # each arm's verdicts
    for arm in ARMS:
        res = work / arm / "eval" / "results.json"
        if not res.is_file():
            continue
        m = json.loads(res.read_text())["models"]["model"]
        train = work / data_arm(arm) / "data" / "train.jsonl"
        arms[arm] = {"prompt_strict": m["prompt_strict"], "prompt_loose": m["prompt_loose"],
                     "inst_strict": m["inst_strict"], "inst_loose": m["inst_loose"], "ci95": m["ci95"],
                     "train_rows": sum(1 for _ in train.open()) if train.is_file() else 0,
                     "model": _model_path(work, arm), "model_name": m["name"], "answered": m["answered"],
                     "cut_at_limit": m["cut_at_limit"],
                     "wall_s": round(timings.get(arm, 0.0), 1) or None}
        answers[arm] = verdicts(_answers(work / arm / "eval"))
    out: dict[str, Any] = {"arms": arms}
    # the goal's two comparisons: every arm against base, and the evolved arms against seeds (the
    # seeds arm, and the seeds tuned with the arm's own fine-tune settings); and each arm against
    # verified, the recipe the variants change
    refs = {"paired_vs_base": lambda arm: "base", "paired_vs_seeds": lambda arm: "seeds",
            "paired_vs_seeds_same_ft": seeds_like, "paired_vs_verified": lambda arm: "verified"}
    for key, ref_of in refs.items():
        out[key] = {}
        for arm, rows in answers.items():
            ref = ref_of(arm)
            if ref not in answers or arm in ("base", ref) or (key != "paired_vs_base" and data_arm(arm) == "seeds"):
                continue
            p = paired_entry(rows, answers[ref], "prompt_loose")
            if p:
                out[key][arm] = {**p, "against": ref}
    # one setting tuned with several fine-tune seeds: their mean against base (prompts resampled, the
    # seeds held fixed, so the interval does not cover where another seed would land)
    out["repeats_vs_base"] = {}
    if "base" in answers:
        for arms_alike in repeats(answers):
            m = paired_mean([answers[a] for a in arms_alike], answers["base"], "prompt_loose")
            if m:
                out["repeats_vs_base"][arms_alike[0]] = {
                    "arms": list(arms_alike), "diff_points": m.difference_points, "ci95": list(m.ci95),
                    "each": dict(zip(arms_alike, m.each, strict=True)), "prompts": m.prompts}
    return out


def repeats(evaluated: Iterable[str]) -> list[tuple[str, ...]]:
    """Groups of evaluated arms that differ only in the fine-tune seed (same rows, same settings);
    an average of fine-tunes is no seed of its own."""
    groups: dict[tuple[str, frozenset[str]], list[str]] = {}
    for arm in evaluated:
        if arm != "base" and not average_of(arm):
            groups.setdefault((data_arm(arm), ARM_SPECS[arm].ft_setting), []).append(arm)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def write_results(s: dict[str, Any], quick: bool, work: Path) -> None:
    """The table into benchmarks/results/ (a --quick smoke test's into its work folder: it is no result)."""
    folder, name = (work, "ifeval_gain_quick") if quick else (RESULTS, "ifeval_gain")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / f"{name}.json", json.dumps(s, indent=2) + "\n")
    lines = [f"# IFEval gain{' (--quick: a smoke test, not a result)' if quick else ''}", "",
             "Prompt-level accuracy on IFEval (541 prompts unless --quick) with 95% intervals; paired difference "
             "of prompt-level loose accuracy against base, seeds and verified (paired bootstrap), in points. "
             "\"Seeds tuned alike\": against the arm tuned on the seeds with the row's own fine-tune settings "
             "(the seed aside), where one was run.", "",
             "| arm | train rows | prompt strict | prompt loose | loose vs base [95% CI] | McNemar p "
             "| loose vs seeds [95% CI] | McNemar p | vs seeds tuned alike [95% CI] | McNemar p "
             "| loose vs verified [95% CI] | McNemar p | cut at limit | wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def vs(p: dict[str, Any] | None) -> str:
        return " | ".join(diff_ci(p)) if p else "- | -"

    for arm, a in s["arms"].items():
        ci = a["ci95"]
        wall = f"{a['wall_s'] / 60:.0f} min" if a.get("wall_s") else "-"
        lines.append(f"| {arm} | {a['train_rows']} | {100 * a['prompt_strict']:.1f} "
                     f"[{100 * ci['prompt_strict'][0]:.1f}, {100 * ci['prompt_strict'][1]:.1f}] | "
                     f"{100 * a['prompt_loose']:.1f} [{100 * ci['prompt_loose'][0]:.1f}, {100 * ci['prompt_loose'][1]:.1f}]"
                     f" | {vs(s['paired_vs_base'].get(arm))} | {vs(s['paired_vs_seeds'].get(arm))}"
                     f" | {vs(s['paired_vs_seeds_same_ft'].get(arm))}"
                     f" | {vs(s['paired_vs_verified'].get(arm))} | {a['cut_at_limit']} | {wall} |")
    for first, r in s.get("repeats_vs_base", {}).items():
        each = ", ".join(f"{arm} {d:+.1f}" for arm, d in r["each"].items())
        lines += ["", f"{first} over its {len(r['arms'])} fine-tune seeds ({each}): mean loose vs base "
                  f"{diff_ci(r)[0]} on {r['prompts']} prompts. The interval resamples prompts with the "
                  "seeds held fixed; it does not cover where another seed would land."]
    if s["paired_vs_base"]:
        plot(s, folder / f"{name}.png")
        lines += ["", f"![loose vs base, every arm]({name}.png)"]
    missing = [arm for arm in ARMS if arm not in s["arms"]]
    if missing:
        lines += ["", f"Not yet evaluated: {', '.join(missing)} (run the experiment again: it resumes)."]
    atomic_write_text(folder / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(s: dict[str, Any], path: Path) -> None:
    """Each arm's paired loose difference against base with its interval (a square for an average
    of fine-tunes), the seed means below them as diamonds, and the goal's +5 marked."""
    from wizardlite.report import pyplot, save_figure

    rows = [(arm, p, "s" if average_of(arm) else "o") for arm, p in s["paired_vs_base"].items()]
    rows += [(f"{first} (mean of {len(r['arms'])} seeds)", r, "D") for first, r in s.get("repeats_vs_base", {}).items()]
    rows.reverse()  # the first arm at the top
    fig, ax = pyplot().subplots(figsize=(7.5, 0.9 + 0.32 * len(rows)))
    for y, (_, p, marker) in enumerate(rows):
        lo, hi = p["ci95"]
        colour = "tab:green" if lo > 0 else "tab:red" if hi < 0 else "tab:grey"
        ax.errorbar(p["diff_points"], y, xerr=[[p["diff_points"] - lo], [hi - p["diff_points"]]], fmt=marker,
                    color=colour, capsize=3, markersize=5)
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(5, color="tab:blue", linestyle=":", linewidth=1, label="goal: +5 points")
    ax.set_xlabel("prompt-level loose accuracy minus base's, points (paired 95% interval)")
    # paired_vs_base has rows only when base was evaluated
    ax.set_title(f"IFEval ({s['arms']['base']['answered']} prompts): each tuned arm against the untouched model",
                 fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arm", choices=ARMS, action="append", help="run only this arm (repeatable); default: all")
    ap.add_argument("--work", type=Path, default=None, help="where models and runs go (default: benchmarks/work/ifeval_gain)")
    ap.add_argument("--quick", action="store_true", help="a tiny version of every arm, to try the pipeline")
    ap.add_argument("--table", action="store_true", help="only write the table of the arms evaluated so far")
    args = ap.parse_args()
    if not IFEVAL.is_file():
        sys.exit(f"no IFEval prompts at {IFEVAL}: restore it with `git checkout -- {IFEVAL.relative_to(ROOT)}`")
    work = args.work or ROOT / "benchmarks" / "work" / ("ifeval_gain_quick" if args.quick else "ifeval_gain")
    exp = Experiment(work, args.quick)
    for arm in [] if args.table else args.arm or ARMS:
        exp.run(arm)
    write_results(summarise(work, exp.timings), args.quick, work)


if __name__ == "__main__":
    main()
