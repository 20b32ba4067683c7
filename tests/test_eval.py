"""`wizardlite eval` with a scripted model: the files it writes and their agreement, the paired
statistics on a hand-computed case, resume after SIGKILL, and which model a spec names."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizardlite.backends.fake import FakeGenerator
from wizardlite.backends.spec import backend_for
from wizardlite.errors import ConfigError
from wizardlite.eval import run
from wizardlite.eval.stats import accuracies, mcnemar_p, paired, paired_mean
from wizardlite.recipe import BackendConfig, load_recipe

ASSETS = Path(__file__).parent / "assets"
TINY = ASSETS / "ifeval_tiny.jsonl"

# ---------------------------------------------------------------------------- statistics

# Five prompts; verdicts per instruction (strict = loose here).
MODEL = {"p1": [True], "p2": [True, True], "p3": [True, False], "p4": [False], "p5": [True]}
AGAINST = {"p1": [False], "p2": [True, False], "p3": [True, False], "p4": [False], "p5": [True]}


def as_verdicts(d):
    return {k: {"strict": v, "loose": v} for k, v in d.items()}


def wilson_by_hand(k, n, z=1.959963984540054):
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def test_accuracies_on_a_hand_computed_case():
    acc = accuracies(as_verdicts(MODEL), bootstrap=2000, seed=1)
    # prompt level: p1, p2, p5 follow every instruction -> 3/5; instruction level: 5 of 7
    assert (acc["prompt_strict"].followed, acc["prompt_strict"].total) == (3, 5)
    assert acc["inst_strict"].value == pytest.approx(5 / 7)
    assert acc["prompt_strict"].ci == pytest.approx(wilson_by_hand(3, 5), abs=1e-9)
    lo, hi = acc["inst_strict"].ci
    assert lo < 5 / 7 < hi and 0 <= lo and hi <= 1


def test_paired_comparison_on_a_hand_computed_case():
    pair = paired(as_verdicts(MODEL), as_verdicts(AGAINST), bootstrap=2000, seed=1)
    ps = pair["prompt_strict"]
    # model 3/5, against 1/5: +40 points; p1 and p2 flipped towards the model, none the other way
    assert ps.difference_points == pytest.approx(40.0)
    assert (ps.model_only, ps.against_only) == (["p1", "p2"], [])
    # exact McNemar: 2 discordant pairs, both one way: p = 2 * 0.5**2
    assert ps.mcnemar_p == pytest.approx(0.5)
    # every resample keeps only non-negative differences, so the interval starts at exactly 0
    assert ps.ci95[0] == 0.0 and 40 <= ps.ci95[1] <= 100
    # instruction level: 5/7 - 3/7
    assert pair["inst_strict"].difference_points == pytest.approx(100 * 2 / 7)
    swapped = paired(as_verdicts(AGAINST), as_verdicts(MODEL), bootstrap=2000, seed=1)["prompt_strict"]
    assert swapped.difference_points == pytest.approx(-40.0)
    assert swapped.ci95 == pytest.approx((-ps.ci95[1], -ps.ci95[0]))
    # asking for one metric gives that metric's figures unchanged, and only it
    alone = paired(as_verdicts(MODEL), as_verdicts(AGAINST), bootstrap=2000, seed=1, metrics=("inst_strict",))
    assert list(alone) == ["inst_strict"] and alone["inst_strict"] == pair["inst_strict"]


def test_paired_mean_of_several_models_on_a_hand_computed_case():
    # a second model that follows only p1 and p4: prompt level 2/5 against AGAINST's 1/5
    other = {"p1": [True], "p2": [False, True], "p3": [False, False], "p4": [True], "p5": [False]}
    both = paired_mean([as_verdicts(MODEL), as_verdicts(other)], as_verdicts(AGAINST), "prompt_strict",
                       bootstrap=2000, seed=1)
    assert both.each == pytest.approx((40.0, 20.0))
    assert both.difference_points == pytest.approx(30.0)
    assert both.prompts == 5
    lo, hi = both.ci95
    assert lo <= 30.0 <= hi
    # one model alone is the paired comparison itself, interval and all (same resamples)
    one = paired_mean([as_verdicts(MODEL)], as_verdicts(AGAINST), "prompt_strict", bootstrap=2000, seed=1)
    ps = paired(as_verdicts(MODEL), as_verdicts(AGAINST), bootstrap=2000, seed=1)["prompt_strict"]
    assert one.difference_points == pytest.approx(ps.difference_points)
    assert one.ci95 == pytest.approx(ps.ci95)
    # only the prompts every model answered count
    fewer = {k: v for k, v in MODEL.items() if k != "p1"}
    assert paired_mean([as_verdicts(fewer), as_verdicts(other)], as_verdicts(AGAINST), "prompt_strict").prompts == 4
    assert paired_mean([], as_verdicts(AGAINST)) is None


def test_mcnemar_exact_values():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == pytest.approx(1.0)
    assert mcnemar_p(9, 1) == pytest.approx(2 * 11 / 1024)  # P(X <= 1), X ~ Bin(10, 1/2), two-sided


# ---------------------------------------------------------------------------- the stage

# Scripted answers, by a word of the prompt: these follow their instructions...
GOOD = {"lighthouse": "The keeper climbs the stairs and lights the lamp.",
        "cook": "* It saves money\n* It is fun",
        "kite": "<<the lost kite>>\nthe kite flew away over the hill and nobody saw it again.",
        "compiler": " ".join(["A compiler translates source code into machine code."] * 6),
        "JSON": '{"tea": "boil water, steep two minutes"}',
        "goodbye": "Goodbye and good luck. See you soon.",
        "autumn": "Amber leaves fall; amber light fades.",
        "quotes": '"A prime number has exactly two divisors."'}
# ...and these do not
BAD = {k: "Sure, here it is, with commas, CAPITALS and no structure at all." for k in GOOD}


def scripted(answers):
    def reply(req):
        prompt = req.messages[-1]["content"]
        return next(text for word, text in answers.items() if word in prompt)

    return reply


def factory_for(by_model):
    made = []

    def factory(cfg: BackendConfig):
        gen = FakeGenerator(scripted(by_model[cfg.model]), name=cfg.model)
        made.append((cfg, gen))
        return gen

    factory.made = made
    return factory


def recipe(tmp_path, **evals):
    sets = {"run.out": str(tmp_path / "run"), "evolver.backend": "fake", "eval.data": str(TINY),
            "eval.out": str(tmp_path / "eval"), "eval.bootstrap": 500} | {f"eval.{k}": v for k, v in evals.items()}
    return load_recipe(None, sets)


def test_eval_writes_files_that_agree(tmp_path):
    factory = factory_for({"good": GOOD, "bad": BAD})
    report = run(recipe(tmp_path), "good", "bad", factory=factory)
    out = report.parent
    assert {p.name for p in out.iterdir()} >= {"report.md", "results.json", "responses.jsonl", "per_type.png",
                                              "recipe.resolved.json", "runlog.jsonl"}
    rows = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and {r["role"] for r in rows} == {"model", "against"}
    res = json.loads((out / "results.json").read_text())
    for role in ("model", "against"):
        mine = [r for r in rows if r["role"] == role]
        m = res["models"][role]
        assert m["prompt_strict"] == pytest.approx(sum(r["prompt_strict"] for r in mine) / 8)
        assert m["prompt_loose"] == pytest.approx(sum(r["prompt_loose"] for r in mine) / 8)
        flat = [v for r in mine for v in r["verdicts"]]
        assert len(flat) == 9
        assert m["inst_strict"] == pytest.approx(sum(v["strict"] for v in flat) / 9)
        assert m["inst_loose"] == pytest.approx(sum(v["loose"] for v in flat) / 9)
        assert m["answered"] == 8 and m["cut_at_limit"] == 0
    assert res["models"]["model"]["prompt_strict"] == 1.0
    assert res["models"]["against"]["prompt_strict"] == 0.0
    diff = res["paired"]["prompt_strict"]
    assert diff["difference_points"] == pytest.approx(100.0) and diff["model_only"] == 8
    assert diff["ci95"] == [100.0, 100.0]
    # greedy by default, the same seed for both models, IFEval's prompt sent as it is
    reqs = {name: gen.requests for cfg, gen in factory.made for name in [cfg.model]}
    assert all(r.sampling.temperature == 0.0 and r.sampling.max_tokens == 1024 for r in reqs["good"])
    assert [r.seed for r in reqs["good"]] == [r.seed for r in reqs["bad"]]
    assert reqs["good"][0].messages[-1]["content"].startswith("Describe a lighthouse keeper")
    md = (out / "report.md").read_text()
    assert "+100.0" in md and "per_type.png" in md and "differ from the reference" in md


def test_eval_scores_a_file_of_the_registrys_own_ids(tmp_path):
    data = tmp_path / "own.jsonl"
    data.write_text(json.dumps({"key": "dev-1", "prompt": "Describe a lighthouse.\n\nNo digits at all.",
                                "instruction_id_list": ["lexical:no_digits", "punctuation:no_comma"],
                                "kwargs": [{}, {}]}) + "\n")
    run(recipe(tmp_path, data=str(data)), "good", factory=factory_for({"good": {"lighthouse": "It has 2 lamps."}}))
    res = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert res["prompts"] == 1 and res["skipped_lines"] == []
    assert res["models"]["model"]["inst_strict"] == pytest.approx(0.5)  # a digit, but no comma
    assert set(res["models"]["model"]["per_type"]) == {"lexical:no_digits", "punctuation:no_comma"}


def test_a_rerun_generates_nothing_and_another_model_in_the_folder_is_refused(tmp_path):
    factory = factory_for({"good": GOOD, "bad": BAD})
    run(recipe(tmp_path), "good", factory=factory)
    run(recipe(tmp_path), "good", "bad", factory=factory)  # adding --against later is fine
    assert [cfg.model for cfg, _ in factory.made] == ["good", "bad"]
    with pytest.raises(ConfigError, match="other settings"):
        run(recipe(tmp_path), "bad", factory=factory)
    with pytest.raises(ConfigError, match="other settings"):
        run(recipe(tmp_path, max_tokens=64), "good", factory=factory)


def test_answers_cut_at_the_limit_are_counted(tmp_path):
    long = {k: " ".join(["word"] * 50) for k in GOOD}
    run(recipe(tmp_path, max_tokens=10), "long", factory=factory_for({"long": long}))
    res = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert res["models"]["model"]["cut_at_limit"] == 8


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="--data"):
        run(load_recipe(None, {"run.out": str(tmp_path)}), "good", factory=factory_for({}))


# ---------------------------------------------------------------------------- model specs


def test_a_run_folder_names_its_fine_tuned_gguf(tmp_path):
    base = BackendConfig()
    (tmp_path / "run" / "ft").mkdir(parents=True)
    gguf = tmp_path / "run" / "ft" / "model.gguf"
    gguf.write_bytes(b"GGUF")
    assert backend_for(str(tmp_path / "run"), base).model == str(gguf)
    assert backend_for(str(tmp_path / "run" / "ft"), base).model == str(gguf)
    assert backend_for("smollm2", base).model == "smollm2"
    url = backend_for("http://127.0.0.1:8080/v1/", base)
    assert (url.backend, url.endpoints) == ("http", ("http://127.0.0.1:8080/v1",))
    with pytest.raises(ConfigError, match="finetune"):
        backend_for(str(tmp_path), base)


# ---------------------------------------------------------------------------- resume after SIGKILL


def eval_cli(out: Path, delay: float) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "wizardlite", "eval", "--data", str(TINY), "--model", "m1", "--against", "m2",
           "--out", str(out), "--set", "evolver.backend=fake", "--set", f"evolver.fake_delay_s={delay}",
           "--set", "eval.bootstrap=500", "--set", f"run.out={out.parent / 'run'}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def answers(out: Path) -> list[tuple]:
    rows = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    keys = [(r["role"], r["key"]) for r in rows]
    assert len(keys) == len(set(keys)), "an answer was journaled twice"
    return sorted((r["role"], r["key"], r["response"], json.dumps(r["verdicts"])) for r in rows)


def test_a_killed_eval_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    ref = tmp_path / "ref" / "eval"  # uninterrupted, in this process: the same recipe, the same fake model
    run(load_recipe(None, {"evolver.backend": "fake", "eval.data": str(TINY), "eval.out": str(ref),
                           "eval.bootstrap": 500, "run.out": str(ref.parent / "run")}), "m1", "m2")
    out = tmp_path / "killed" / "eval"
    p = eval_cli(out, 0.3)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill it once a few answers are journaled, mid-way through the model
        if (out / "responses.jsonl").exists() and (out / "responses.jsonl").read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = (out / "responses.jsonl").read_bytes().count(b"\n")
    assert 3 <= done < 16
    p = eval_cli(out, 0.0)
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    assert answers(out) == answers(ref)
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, ref))
    assert got["models"]["model"]["prompt_strict"] == want["models"]["model"]["prompt_strict"]
    assert got["paired"] == want["paired"]


# ---------------------------------------------------------------------------- the embedded model


@pytest.mark.slow
def test_the_embedded_model_on_a_few_ifeval_prompts(tmp_path, repo):
    data = repo / "recipes" / "testsets" / "ifeval_input_data.jsonl"
    cfg = load_recipe(repo / "recipes" / "default.toml",
                      {"run.out": str(tmp_path / "run"), "eval.data": str(data), "eval.out": str(tmp_path / "eval"),
                       "eval.limit": 4, "eval.max_tokens": 48, "eval.bootstrap": 500, "evolver.parallel": 4})
    report = run(cfg, "smollm2-q8_0")
    rows = [json.loads(x) for x in (report.parent / "responses.jsonl").read_text().splitlines()]
    res = json.loads((report.parent / "results.json").read_text())["models"]["model"]
    assert len(rows) == 4 == res["answered"] and all(r["response"].strip() for r in rows)
    assert res["cut_at_limit"] == sum(r["finish"] == "length" for r in rows)
    assert all(r["completion_tokens"] <= 48 for r in rows)
    n_inst = sum(len(r["instruction_ids"]) for r in rows)
    assert res["counts"]["inst_strict"] == [sum(v["strict"] for r in rows for v in r["verdicts"]), n_inst]
    assert res["counts"]["prompt_loose"] == [sum(r["prompt_loose"] for r in rows), 4]
    assert sum(t["n"] for t in res["per_type"].values()) == n_inst
    assert res["tokens_per_s"] and res["tokens_per_s"] > 0
