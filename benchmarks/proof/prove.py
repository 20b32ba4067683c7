"""The proof: the shipped recipe, pre-registered, on three test sets nobody tuned on.

Run as: just prove                                   (resumable: run it again to continue)
        python benchmarks/proof/prove.py --plan      (the steps, which are done, and the time left)
        just prove --arm paper                       (one arm's steps; or one step, by its id in --plan:
                                                      --arm shipped/heldout_types-b, once its model is made)
        python benchmarks/proof/prove.py --table     (results from the evaluations done so far)
        python benchmarks/proof/prove.py --quick     (a tiny version of every step, to try the pipeline)

What runs is written down before it runs: benchmarks/proof/PROTOCOL.md says why and what counts,
and the arm files in benchmarks/proof/protocol/ (format: benchmarks/arms.py) say how each arm is
made. The driver refuses to start while either has uncommitted changes, or when the shipped
recipe's sha256 is not the one PROTOCOL.md names; every result carries the protocol's commit.

The arm named `shipped` is the recipe being proven (its `recipe`, with no overrides): it is evolved
with `wizardlite evolve --recipe R` and fine-tuned with `wizardlite finetune --recipe R`, as a user
runs it. Every other tuned arm is fine-tuned with the same recipe (tuned alike) on rows made from
the same seeds, decontaminated against the same files. An arm `base` (data = "none") and an arm
`seeds` (data = "answered-seeds") are required: the goals are stated against them.

Tests (each evaluated once per arm; a finished evaluation is never run again):
    ifeval          T1: IFEval's 541 prompts (recipes/testsets/ifeval_input_data.jsonl)
    heldout_types   T2: IFEval's prompts whose constraints all lie in one half of the registry
                    (benchmarks/proof/sets/t2_half_a.jsonl, t2_half_b.jsonl). An arm whose recipe
                    draws verifiable constraints is evolved twice more, once per half
                    (verify.half), and the model of each half answers the other half's prompts;
                    an arm without them answers both files with its one model.
    new_types       T3: 113 prompts of the 12 test-only types evolution never draws
                    (benchmarks/proof/sets/t3_new.jsonl)
With `finetune.seeds` in the recipe, an arm's model is the mean of its seeds' fine-tunes; the
shipped arm's members are evaluated too, each on every test.

Outputs: benchmarks/results/proof.md and proof.json (recipe_sha256, protocol_commit, and under
tests.<test> the paired differences shipped_vs_base and shipped_vs_seeds, prompt-level loose,
paired bootstrap); each arm's training rows and per-prompt answers under benchmarks/proof/runs/
(committed: they are small, and anyone can rescore them). Models stay under --work. A clone whose
--work lacks what runs/ holds gets it back first, so the proof resumes from its last committed
steps: a fine-tune whose every evaluation is in runs/ is not made again. An evolve not finished
yet has its journal copied to runs/<arm>/journal/ every 10 minutes (commit it before a session
ends): a checkout on another machine resumes it from there, not from round 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: arms, ifeval_gain

from arms import Arm, load_arms  # noqa: E402
from clock import StepClock, every  # noqa: E402
from ifeval_gain import IFEVAL, JOURNAL_FILES, ROOT, Experiment, _answers, diff_ci, paired_entry  # noqa: E402

from wizardlite.io import atomic_write_text, file_sha256  # noqa: E402

PROOF = ROOT / "benchmarks" / "proof"
PROTOCOL = PROOF / "PROTOCOL.md"
ARMS_DIR = PROOF / "protocol"
SETS = PROOF / "sets"
HALVES = {"a": SETS / "t2_half_a.jsonl", "b": SETS / "t2_half_b.jsonl"}  # prompts whose ids all lie in that half
TESTS = {"ifeval": IFEVAL, "heldout_types": None, "new_types": SETS / "t3_new.jsonl"}
REQUIRED = {"base": "none", "seeds": "answered-seeds", "shipped": "evolve"}
GOALS = {"ifeval": 5.0, "heldout_types": 2.0, "new_types": 0.0}  # shipped - base, points (PROTOCOL.md)
METRIC = "prompt_loose"
# what resumes an evolve on another machine; the near-duplicate index's vectors are binary and
# are embedded again on resume
JOURNAL = tuple(f for f in JOURNAL_FILES if not f.startswith("dedup_index"))
JOURNAL_EVERY_S = 600.0


class ProtocolError(SystemExit):
    pass


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def registered(protocol: Path, arms_dir: Path, recipe: Path, cwd: Path = ROOT) -> str:
    """The commit of the protocol, after checking that what is about to run is what it registered:
    PROTOCOL.md and the arm files committed with no change since, and the shipped recipe's sha256
    the one PROTOCOL.md names (a line `recipe_sha256: <hex>`)."""
    rel = [str(p.relative_to(cwd)) for p in (protocol, arms_dir)]
    if not protocol.is_file():
        raise ProtocolError(f"no {rel[0]}: write the protocol (arms, metrics, goals, stopping rule) and commit it first")
    if dirty := git("status", "--porcelain", "--", *rel, cwd=cwd):
        raise ProtocolError(f"the protocol has uncommitted changes ({dirty.splitlines()[0].strip()}): "
                            "commit it before any test-set run")
    commit = git("log", "-1", "--format=%H", "--", *rel, cwd=cwd)
    if not commit:
        raise ProtocolError(f"{rel[0]} is not committed: commit the protocol before any test-set run")
    named = re.search(r"recipe_sha256:\s*`?([0-9a-f]{64})", protocol.read_text(encoding="utf-8"))
    if not named:
        raise ProtocolError(f"{rel[0]} names no `recipe_sha256: <hex>` of the recipe it registers")
    if named.group(1) != (actual := file_sha256(recipe)):
        raise ProtocolError(f"{recipe.relative_to(cwd)} is not the recipe the protocol registered (sha256 "
                            f"{actual[:12]}..., registered {named.group(1)[:12]}...): a changed recipe needs "
                            "a new dev round and a new protocol")
    return commit


def needs_halves(spec: Arm) -> bool:
    """Whether the arm's rows carry verifiable constraints, so that T2 needs runs on one half each."""
    if spec.data != "evolve":
        return False
    from wizardlite.recipe import load_recipe

    recipe = load_recipe(ROOT / spec.recipe, list(spec.evolve))
    return recipe.evolve.operations.get("verifiable_constraints", 0) > 0


@dataclasses.dataclass
class Step:
    id: str  # "<arm>/<what>", also its key in steps.json
    kind: str  # evolve | seeds | finetune | eval:<test>; the time left is estimated per kind
    done: Callable[[], bool]
    run: Callable[[], Any]
    # how much work the step is, where its kind's steps differ in it (a fine-tune's training rows);
    # None: unknown, or all alike
    size: Callable[[], float | None] = lambda: None
    needs: tuple[str, ...] = ()  # the steps that make what this one uses (an evaluation: its model's fine-tune)


class Proof:
    def __init__(self, work: Path, quick: bool, arms_dir: Path = ARMS_DIR, runs: Path | None = None):
        from wizardlite.recipe import load_recipe

        self.specs = load_arms(arms_dir)
        wrong = [f"'{a}' (data = \"{d}\")" for a, d in REQUIRED.items() if self.specs.get(a, None) is None
                 or self.specs[a].data != d]
        if wrong:
            raise ProtocolError(f"{arms_dir}: the protocol needs the arms {', '.join(wrong)}")
        if averaged := [a for a, sp in self.specs.items() if sp.average or sp.data == "equal"]:
            raise ProtocolError(f"{', '.join(averaged)}: a proof arm averages its seeds with the recipe's "
                                "finetune.seeds, not with `average`; and makes its own rows (no \"equal\")")
        shipped = self.specs["shipped"]
        if shipped.evolve or shipped.finetune or shipped.average or shipped.start_from:
            raise ProtocolError("the shipped arm is its recipe as shipped: no overrides, no average, no start_from")
        self.recipe_path = ROOT / shipped.recipe
        self.recipe = load_recipe(self.recipe_path)
        decon = tuple(Path(f) if Path(f).is_absolute() else ROOT / f for f in self.recipe.decontaminate.files)
        missing = [f for f in (IFEVAL, ROOT / "recipes" / "testsets" / "heldout.jsonl") if f not in decon]
        if missing:
            raise ProtocolError(f"{shipped.recipe} must decontaminate against the test sets' sources: add "
                                f"{', '.join(str(f.relative_to(ROOT)) for f in missing)} to [decontaminate] files")
        self.halves: dict[str, str] = {}  # the per-half runs of T2, as arms of their own: name -> its arm
        for arm, spec in list(self.specs.items()):
            if needs_halves(spec):
                for h in HALVES:
                    self.specs[f"{arm}-half-{h}"] = dataclasses.replace(
                        spec, name=f"{arm}-half-{h}", evolve=(*spec.evolve, f"verify.half={h}"))
                    self.halves[f"{arm}-half-{h}"] = arm
        self.work, self.quick = work, quick
        self.exp = Experiment(work, quick, specs=self.specs, decontaminate=decon,
                              seeds=ROOT / self.recipe.seeds.path, ft_recipe=self.recipe_path)
        self.clock = StepClock(work / "steps.json")
        self.runs = runs or (work / "runs" if quick else PROOF / "runs")  # what is committed of each arm

    # ---------------------------------------------------------------- the plan

    def model_dir(self, arm: str) -> Path:
        return self.work / arm / "ft"

    def members(self, arm: str) -> list[str]:
        """The shipped arm's fine-tunes averaged into its model, by folder name (seed-N)."""
        return [f"seed-{s}" for s in self.recipe.finetune.seeds] if arm == "shipped" else []

    def evals(self, arm: str) -> list[tuple[str, str, Path, str]]:
        """(test, folder name, data, model) for every evaluation of the arm and of its members."""
        models = [("", "")] + [(f"-{m}", m) for m in self.members(arm)]
        out = []
        for suffix, member in models:
            def model(a: str, member: str = member) -> str:
                if self.specs[a].data == "none":
                    return "smollm2-q8_0"
                folder = self.model_dir(a) / member if member else self.model_dir(a)
                return str(folder / "model.gguf")
            for test, data in TESTS.items():
                if data is not None:
                    out.append((test, f"{test}{suffix}", data, model(arm)))
                    continue
                for h, half_data in HALVES.items():  # T2: the model that never saw half h answers it
                    other = next(x for x in HALVES if x != h)
                    trained = f"{arm}-half-{other}" if f"{arm}-half-{other}" in self.halves else arm
                    out.append((test, f"{test}-{h}{suffix}", half_data, model(trained)))
        return out

    def rows(self, arm: str) -> Path:
        """The training rows the arm is tuned on (its own, or those of the arm its `data` names)."""
        made_by = self.specs[self.specs[arm].data_arm]
        folder = "seeds" if made_by.data == "answered-seeds" else made_by.name  # where Experiment writes them
        return self.work / folder / "data" / "train.jsonl"

    def plan(self) -> list[Step]:
        """Every step in the order it runs: the rows of every arm, the fine-tunes, the evaluations."""
        steps: list[Step] = []
        exp = self.exp
        for arm, spec in self.specs.items():
            if spec.data == "evolve":
                # evolves differ by recipe (8 verified rounds take twice the paper's): a half is timed as its arm
                kind = f"evolve:{self.halves.get(arm, arm)}"
                steps.append(Step(f"{arm}/evolve", kind, self.rows(arm).is_file, lambda a=arm: exp.evolve(a)))
            elif spec.data == "answered-seeds":
                steps.append(Step(f"{arm}/seeds", "seeds", self.rows(arm).is_file, exp.answered_seeds))
        for arm, spec in self.specs.items():
            if spec.data != "none":
                steps.append(Step(f"{arm}/finetune", "finetune", lambda a=arm: self.tuned(a),
                                  lambda a=arm: exp.finetune(a, self.rows(a), self.specs[a].finetune),
                                  lambda a=arm: self.row_count(a)))
        for arm in self.specs:
            if arm in self.halves:
                continue  # a half's model is evaluated as its arm's T2 answers
            for test, name, data, model in self.evals(arm):
                res = self.work / arm / name / "results.json"
                tuned = [f"{a}/finetune" for a in self.specs if model.startswith(f"{self.model_dir(a)}/")]
                steps.append(Step(f"{arm}/{name}", f"eval:{test}", res.is_file,
                                  lambda a=arm, m=model, d=data, n=name: exp.evaluate(a, m, d, n), needs=tuple(tuned)))
        return steps

    def tuned(self, arm: str) -> bool:
        """Whether the arm's fine-tune is done: its model is here, or every evaluation of its models
        is (a checkout that kept only the published answers need not tune the arm again)."""
        if (self.model_dir(arm) / "model.gguf").is_file():
            return True
        inside = str(self.model_dir(arm)) + "/"
        uses = [self.work / a / name / "results.json" for a in self.specs if a not in self.halves
                for _, name, _, model in self.evals(a) if model.startswith(inside)]
        return bool(uses) and all(f.is_file() for f in uses)

    @property
    def timings(self) -> dict[str, float]:
        return self.clock.read()

    def row_count(self, arm: str) -> float | None:
        """The training rows of the arm, or, before a half has made its own, its arm's (a guess)."""
        for a in (arm, self.halves.get(arm)):
            if a and self.rows(a).is_file():
                with self.rows(a).open() as f:
                    return float(sum(1 for line in f if line.strip()))
        return None

    def time_left(self, steps: list[Step]) -> tuple[float, list[str]]:
        """Seconds left, each step not done estimated from the done steps of its kind: by their
        seconds per unit of size where both have one (a fine-tune's rows), else by their mean;
        and the kinds with nothing done to go by."""
        t = self.timings
        by_kind: dict[str, list[tuple[float, float | None]]] = {}
        for s in steps:
            if s.done() and s.id in t:
                by_kind.setdefault(s.kind, []).append((t[s.id], s.size()))
        left, unknown = 0.0, set()
        for s in steps:
            if s.done():
                continue
            done = by_kind.get(s.kind)
            if not done:
                unknown.add(s.kind)
                continue
            sized = [(sec, size) for sec, size in done if size]
            if (size := s.size()) and sized:
                left += size * sum(sec for sec, _ in sized) / sum(n for _, n in sized)
            else:
                left += sum(sec for sec, _ in done) / len(done)
        return left, sorted(unknown)

    def status(self, steps: list[Step]) -> str:
        done = sum(s.done() for s in steps)
        left, unknown = self.time_left(steps)
        text = f"{done} of {len(steps)} steps done"
        if not unknown:
            return text + f"; about {left / 3600:.1f} h left, from the steps done so far"
        known = f"{left / 3600:.1f} h for the kinds begun, " if left else ""
        return text + f"; {known}no estimate yet for {', '.join(unknown)} (none done)"

    def run(self, only: str | None = None) -> None:
        """Every step not done, in order; with `only`, that arm's steps or the one step of that id."""
        steps = self.plan()
        chosen = [s for s in steps if not only or s.id == only or s.id.startswith(only + "/")]
        if not chosen:
            raise ProtocolError(f"--arm {only}: no arm or step of that name; `--plan` lists the steps")
        done = {s.id for s in steps if s.done()} | {s.id for s in chosen}  # a chosen need runs first
        for s in chosen:
            if not s.done() and (missing := [n for n in s.needs if n not in done]):
                raise ProtocolError(f"[{s.id}] uses the model of {', '.join(missing)}, not done yet: "
                                    f"run `just prove --arm {missing[0]}` first")
        for s in chosen:
            if s.done():
                continue
            print(f"[{s.id}] {self.status(steps)}", flush=True)
            with self.clock.timing(s.id), every(JOURNAL_EVERY_S, self.publish_journals):
                s.run()  # a step resumed in another session adds its new time
            if not self.quick:
                self.publish()  # committed, a finished step survives a checkout that loses --work
        print(self.status(steps), flush=True)

    # ---------------------------------------------------------------- results

    def verdicts(self, arm: str, test: str, suffix: str = "") -> dict[str, Any] | None:
        """The arm's verdicts on one test (T2: both halves together), or None until all are in."""
        from wizardlite.eval.report import verdicts

        names = [n for t, n, _, _ in self.evals(arm) if t == test and n.endswith(suffix)
                 and (suffix or not re.search(r"-seed-\d+$", n))]
        folders = [self.work / arm / n for n in names]
        if not folders or not all((f / "results.json").is_file() for f in folders):
            return None
        out: dict[str, Any] = {}
        for f in folders:
            out |= verdicts(_answers(f))
        return out

    def summarise(self, commit: str | None) -> dict[str, Any]:
        from wizardlite.eval.stats import accuracies, paired_mean

        rel = self.recipe_path.relative_to(ROOT) if self.recipe_path.is_relative_to(ROOT) else self.recipe_path
        s: dict[str, Any] = {"recipe": str(rel), "recipe_sha256": file_sha256(self.recipe_path),
                             "protocol_commit": commit, "metric": METRIC, "tests": {}}
        arms = [a for a in self.specs if a not in self.halves]
        for test in TESTS:
            v = {a: self.verdicts(a, test) for a in arms}
            members = {m: self.verdicts("shipped", test, f"-{m}") for m in self.members("shipped")}
            t: dict[str, Any] = {"arms": {a: {"prompt_loose": accuracies(x, 1000, 0)[METRIC].value, "n": len(x)}
                                          for a, x in v.items() if x}}
            for ref in ("base", "seeds"):
                if v.get("shipped") and v.get(ref):
                    p = paired_entry(v["shipped"], v[ref], METRIC)
                    if p:
                        t[f"shipped_vs_{ref}"] = {**p, "n": len(set(v["shipped"]) & set(v[ref]))}
            t["vs_base"] = {a: paired_entry(x, v["base"], METRIC) for a, x in v.items()
                            if x and a != "base" and v.get("base")}
            done = [x for x in members.values() if x]
            if v.get("base") and len(done) == len(members) and len(done) > 1:
                m = paired_mean(done, v["base"], METRIC)
                if m:
                    t["shipped_members_vs_base"] = {"diff_points": m.difference_points, "ci95": list(m.ci95),
                                                    "each": dict(zip(members, m.each, strict=True)), "n": m.prompts}
            goal = GOALS[test]
            if "shipped_vs_base" in t:
                d, lo = t["shipped_vs_base"]["diff_points"], t["shipped_vs_base"]["ci95"][0]
                met = d >= goal and (test == "new_types" or lo > 0)
                if test == "ifeval":
                    met = met and t.get("shipped_vs_seeds", {}).get("diff_points", -1.0) > 0
                t["goal"] = {"shipped_minus_base_at_least": goal, "met": met}
            s["tests"][test] = t
        s["not_done"] = [st.id for st in self.plan() if not st.done()]
        return s

    def published(self) -> list[tuple[Path, Path]]:
        """(file under --work, its copy under runs/) for every output of a finished step that is
        committed: each arm's training rows, each evaluation's answers and results (the step
        times go by publish() and restore(), filtered)."""
        pairs: list[tuple[Path, Path]] = []
        for arm, spec in self.specs.items():
            if spec.data != "none":
                pairs.append((self.rows(arm), self.runs / arm / "train.jsonl"))
            for _, name, _, _ in self.evals(arm) if arm not in self.halves else []:
                pairs += [(self.work / arm / name / f, self.runs / arm / f"{name}.{f}")
                          for f in ("responses.jsonl", "results.json")]
        return pairs

    def publish(self) -> None:
        """The outputs of the finished steps into runs/ (benchmarks/proof/runs/, committed). An
        evaluation's answers go only once its results.json says it finished; a step's time only
        once it is done, or while its evolve's journal is published (what a clone resumes)."""
        for src, dest in self.published():
            if src.is_file() and (
                    src.suffix != ".jsonl" or src.name == "train.jsonl" or (src.parent / "results.json").is_file()):
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
        self.publish_journals()
        if times := self.timings:
            kept = {s.id for s in self.plan() if s.done()} | self.journalled()
            self.runs.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.runs / "steps.json",
                              json.dumps({k: v for k, v in times.items() if k in kept}, indent=2) + "\n")

    def journal(self, arm: str) -> list[tuple[Path, Path]]:
        """(under --work, under runs/) of each file of the arm's evolve journal."""
        return [(self.work / arm / f, self.runs / arm / "journal" / f) for f in JOURNAL]

    def journalled(self) -> set[str]:
        """The evolve steps not done whose journal runs/ holds: a clone resumes them from there."""
        return {f"{arm}/evolve" for arm, spec in self.specs.items() if spec.data == "evolve"
                and not self.rows(arm).is_file() and (self.runs / arm / "journal" / "records.jsonl").is_file()}

    def publish_journals(self) -> None:
        """Each unfinished evolve's journal into runs/<arm>/journal/; a finished one's is removed
        from there, its rows being what is kept. A journal copied as it is appended to may end
        in a torn line, which the resumed run cuts off (wizardlite.io.Journal)."""
        for arm, spec in self.specs.items():
            if spec.data != "evolve":
                continue
            if self.rows(arm).is_file():
                shutil.rmtree(self.runs / arm / "journal", ignore_errors=True)
            elif (self.work / arm / "records.jsonl").is_file():
                for src, dest in self.journal(arm):
                    if src.is_file():
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(src, dest)

    def restore(self) -> None:
        """What runs/ holds and --work lacks, back into --work, so that a fresh clone resumes the
        proof where the last committed steps left it: their rows and answers are not made again.
        An unfinished evolve's published journal comes back too, where --work has none.
        The step times are merged, the ones under --work kept. A published time of a step that is
        not done, and that --work does not time itself, is dropped unless its journal came back:
        it timed partial work that only the machine which ran it had, so the step starts again
        from nothing and from 0 s."""
        pairs = self.published()
        resumed = self.journalled()
        for step in resumed:
            arm = step.split("/")[0]
            if not (self.work / arm / "records.jsonl").is_file():
                pairs += self.journal(arm)
        for src, dest in pairs:
            if dest.is_file() and not src.is_file():
                src.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(dest, src)
        if (self.runs / "steps.json").is_file():
            done = {s.id for s in self.plan() if s.done()} | resumed
            published = json.loads((self.runs / "steps.json").read_text())
            kept = {k: v for k, v in published.items() if k in done} | self.timings
            atomic_write_text(self.work / "steps.json", json.dumps(kept, indent=2) + "\n")


def write_results(s: dict[str, Any], folder: Path, name: str) -> None:
    atomic_write_text(folder / f"{name}.json", json.dumps(s, indent=2) + "\n")
    lines = [f"# The proof: `{s['recipe']}`", "",
             f"Recipe sha256 `{s['recipe_sha256'][:16]}...`, protocol commit `{s['protocol_commit'] or 'none (--quick)'}`"
             " (`benchmarks/proof/PROTOCOL.md`). Prompt-level loose accuracy; differences in points, paired "
             "bootstrap 95% interval, McNemar's p.", ""]
    for test, t in s["tests"].items():
        lines += [f"## {test}", "", "| arm | prompts | loose % | vs base | McNemar p |",
                  "|---|---|---|---|---|"]
        for arm, a in t["arms"].items():
            p = t["vs_base"].get(arm)
            vs, pv = diff_ci(p) if p else ("-", "-")
            lines.append(f"| {arm} | {a['n']} | {100 * a['prompt_loose']:.1f} | {vs} | {pv} |")
        for key in ("shipped_vs_base", "shipped_vs_seeds", "shipped_members_vs_base"):
            if key in t:
                p = t[key]
                vs, pv = diff_ci(p)
                lines.append(f"\n{key}: {vs} on {p['n']} prompts" + ("" if pv == "-" else f", McNemar p {pv}"))
        if "goal" in t:
            g = t["goal"]
            lines.append(f"\ngoal (shipped - base >= {g['shipped_minus_base_at_least']:+.0f}): "
                         f"**{'met' if g['met'] else 'missed'}**")
        lines.append("")
    if s["not_done"]:
        lines.append(f"Not done yet ({len(s['not_done'])} steps): run `just prove` again; it resumes.")
    atomic_write_text(folder / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    # `kill` (SIGTERM) ends the driver as Ctrl-C would: the running step's time and an unfinished
    # evolve's journal are written on the way out, ready to commit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="models and runs (default: benchmarks/work/proof)")
    ap.add_argument("--arm", help="run only this arm's steps, or only the step of this id (`--plan` lists them)")
    ap.add_argument("--plan", action="store_true", help="list the steps, which are done, and the time left")
    ap.add_argument("--table", action="store_true", help="only write the results of what is done")
    ap.add_argument("--quick", action="store_true", help="a tiny version of every step (not a result; "
                    "no protocol check; --arms-dir to try other arms)")
    ap.add_argument("--arms-dir", type=Path, default=ARMS_DIR, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.work or ROOT / "benchmarks" / "work" / ("proof_quick" if args.quick else "proof")
    proof = Proof(work, args.quick, args.arms_dir)
    commit = None if args.quick else registered(PROTOCOL, args.arms_dir, proof.recipe_path)
    if not args.quick:
        proof.restore()
    steps = proof.plan()
    if args.plan:
        for s in steps:
            print(f"{'done' if s.done() else '    '}  {s.id}")
        print(proof.status(steps))
        return
    if not args.table:
        proof.run(args.arm)
    if not args.quick:
        proof.publish()
    write_results(proof.summarise(commit), work if args.quick else ROOT / "benchmarks" / "results",
                  "proof_quick" if args.quick else "proof")


if __name__ == "__main__":
    main()
