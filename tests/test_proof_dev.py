"""The proof's dev rounds (benchmarks/proof/dev.py): every round's arms load and their overrides
pass every registry check as the CLI runs them; the breadth round's two arms differ only in the
constraint types they draw, narrow's being exactly IFEval's ids that evolution may draw; and the
table pairs arms on the prompts both answered, on all dev prompts and on its two parts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from wizardlite.cli import load as load_as_the_cli_does
from wizardlite.constraints import TYPES

REPO = Path(__file__).resolve().parents[1]
ROUNDS = sorted(p for p in (REPO / "benchmarks" / "proof" / "dev").iterdir() if p.is_dir())
SCRIPT = REPO / "benchmarks" / "proof" / "dev.py"
sys.path.insert(0, str(SCRIPT.parent))
sys.path.insert(0, str(REPO / "benchmarks"))

import dev  # noqa: E402
from arms import load_arms  # noqa: E402


@pytest.mark.parametrize("folder", ROUNDS, ids=lambda p: p.name)
def test_every_arm_of_every_round_loads_as_the_cli_runs_it(folder: Path):
    arms = load_arms(folder)
    assert "base" in arms and arms["base"].data == "none"
    assert (folder / "NOTES.md").is_file(), "a round says what it asks and what it found"
    for arm in arms.values():
        if arm.data == "evolve":
            recipe = load_as_the_cli_does(REPO / arm.recipe, list(arm.evolve), {})
            assert recipe.evolve.rounds >= 1
        load_as_the_cli_does(REPO / "recipes" / "default.toml", list(arm.finetune), {})


def test_breadth_arms_differ_only_in_the_types_they_draw():
    arms = load_arms(REPO / "benchmarks" / "proof" / "dev" / "breadth")
    narrow, broad = arms["narrow"], arms["broad"]
    assert narrow.recipe == broad.recipe and narrow.finetune == broad.finetune
    types = [o for o in narrow.evolve if o.startswith("verify.types=")]
    assert [o for o in narrow.evolve if o not in types] == list(broad.evolve)
    assert not any(o.startswith(("verify.types=", "verify.half=")) for o in broad.evolve)
    drawn = tomllib.loads("v = " + types[0].split("=", 1)[1])["v"]
    assert sorted(drawn) == sorted(t for t, c in TYPES.items() if c.in_ifeval and not c.test_only)


def _eval_folder(work: Path, arm: str, passed: dict[str, bool]) -> None:
    """An arm's eval folder as `wizardlite eval` leaves it: results.json and responses.jsonl."""
    out = work / arm / "eval"
    out.mkdir(parents=True)
    (out / "results.json").write_text("{}")
    ids = {"p-if": ["punctuation:no_comma"], "p-own": ["lexical:no_digits"],
           "p-mix": ["punctuation:no_comma", "lexical:no_digits"]}
    rows = [{"role": "model", "key": k, "instruction_ids": ids[k.rsplit("-", 1)[0]], "finish": "stop",
             "completion_tokens": 10 + i,
             "verdicts": [{"id": t, "strict": ok, "loose": ok} for t in ids[k.rsplit("-", 1)[0]]]}
            for i, (k, ok) in enumerate(passed.items())]
    (out / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_table_pairs_arms_on_all_prompts_and_on_each_part(tmp_path: Path):
    folder = REPO / "benchmarks" / "proof" / "dev" / "breadth"
    keys = [f"{kind}-{i}" for kind in ("p-if", "p-own", "p-mix") for i in range(10)]
    _eval_folder(tmp_path, "base", {k: False for k in keys})
    _eval_folder(tmp_path, "narrow", {k: k.startswith("p-if") for k in keys})
    _eval_folder(tmp_path, "broad", {k: not k.startswith("p-if") for k in keys})
    s = dev.summarise(folder, tmp_path, {})
    assert s["arms"]["narrow"]["prompt_loose"] == pytest.approx(
        {"all": 1 / 3, "ifeval ids only": 1.0, "with own types": 0.0})
    assert s["vs_base"]["broad"]["with own types"]["diff_points"] == pytest.approx(100.0)
    assert s["vs_base"]["broad"]["with own types"]["n"] == 20
    pair = s["pairs"]["broad - narrow"]
    assert pair["all"]["diff_points"] == pytest.approx(100 * (20 - 10) / 30) and pair["all"]["n"] == 30
    assert pair["ifeval ids only"]["diff_points"] == pytest.approx(-100.0) and pair["ifeval ids only"]["n"] == 10
    assert s["not_yet_evaluated"] == []
    # by instruction: the mixed prompts ask one of each kind, so each kind is asked 20 times
    assert s["arms"]["narrow"]["instruction_loose"] == {"ifeval ids": {"followed": 10, "asked": 20},
                                                        "own types": {"followed": 0, "asked": 20}}
    assert s["arms"]["broad"]["instruction_loose"]["own types"] == {"followed": 20, "asked": 20}
    assert s["arms"]["base"]["median_answer_tokens"] == pytest.approx(24.5)
    dev.write_results(s, tmp_path, quick=False, work=tmp_path)
    table = (tmp_path / "results.md").read_text()
    assert "| broad - narrow | +33.3 [" in table and "(n 30," in table
    assert "| narrow | 50.0% (10/20) | 0.0% (0/20) | 24.5 |" in table


def test_the_driver_lists_what_is_not_evaluated_and_refuses_an_unknown_arm(tmp_path: Path):
    folder = tmp_path / "breadth"
    shutil.copytree(REPO / "benchmarks" / "proof" / "dev" / "breadth", folder)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--work", str(tmp_path / "w"), "--table"],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "Not yet evaluated: base, narrow, broad" in (folder / "results.md").read_text()
    run = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--arm", "wide"],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert run.returncode != 0 and "no arm wide" in run.stderr
