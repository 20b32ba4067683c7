"""The judge stage on a scripted fake model: reply parsing, the position swap, the counts and
intervals, resume, the same-model flag; one slow run on the embedded SmolLM2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wizardlite.backends import ERROR, GenResult, ModelIdentity, identity
from wizardlite.backends.fake import FakeGenerator
from wizardlite.errors import ConfigError, DataError
from wizardlite.io import Journal, write_jsonl
from wizardlite.judge import compare, score
from wizardlite.judge.contestants import backend_for
from wizardlite.judge.judgement import combine, to_model
from wizardlite.judge.replies import parse_score, parse_verdict
from wizardlite.judge.score import load_scores
from wizardlite.judge.stats import band, tally, wilson
from wizardlite.judge.testset import read_testset
from wizardlite.recipe import BackendConfig, JudgeConfig, recipe_from_dict
from wizardlite.records import ELIMINATED, KEPT, SEED, Record, read_records, record_id

ASSETS = Path(__file__).parent / "assets"
TESTSET = ASSETS / "judge_testset.jsonl"
N_ITEMS = 6  # usable lines of judge_testset.jsonl


def recipe(tmp_path: Path, **judge):
    return recipe_from_dict({"run": {"out": str(tmp_path / "run")}, "evolver": {"backend": "fake"}, "judge": judge})


def factory(gens: dict[str, FakeGenerator]):
    return lambda cfg: gens[cfg.model]


class Killed(Exception):
    """Stands in for kill -9 in the middle of a batch."""


def dies_after(n: int, reply):
    """A fake reply function that answers `n` requests, then dies."""
    count = [0]

    def fn(req):
        count[0] += 1
        if count[0] > n:
            raise Killed
        return reply(req)

    return fn


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text,want", [
    ("8", 8), ("10", 10), ("  3\n", 3), ("8/10", 8), ("Rating: 7 out of 10", 7), ("1-10: 3", 3),
    ("On a scale of 1 to 10, I rate this 6.", 6), ("I'd say 7.5", 8), ("10/10", 10), ("Eight.", 8),
    ("Difficulty: 4 (moderate)", 4),
])
def test_parse_score_finds_the_rating(text, want):
    assert parse_score(text) == want


@pytest.mark.parametrize("text", ["", "0", "15", "Difficulty: high", "This is one of the hardest tasks I know of",
                                  "I cannot rate this."])
def test_parse_score_never_guesses(text):
    assert parse_score(text) is None


@pytest.mark.parametrize("text,want", [
    ("A", "A"), ("b", "B"), ("tie", "tie"), ("Tie.", "tie"), ("[[B]]", "B"), ('{"winner": "A"}', "A"),
    ("Answer B is better.", "B"), ("The better answer is A, because it is complete.", "A"),
    ("A. It covers every step.", "A"), ("Both are equally good.", "tie"), ("Answer A", "A"),
])
def test_parse_verdict(text, want):
    assert parse_verdict(text) == want


@pytest.mark.parametrize("text", ["", "a nice try", "I cannot decide.",
                                  "Answer A is better at style, but answer B is better at facts."])
def test_parse_verdict_without_a_verdict(text):
    assert parse_verdict(text) is None


# ---------------------------------------------------------------------------- statistics


def test_wilson_matches_published_values():
    lo, hi = wilson(8, 10)  # textbook: 0.490 to 0.943
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    lo, hi = wilson(0, 10)  # 0 to 0.278: never below 0
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(50, 100)
    assert lo + hi == pytest.approx(1.0)  # symmetric around 1/2


def test_tally_counts_rates_and_intervals_by_hand():
    t = tally("overall", ["a", "a", "a", "b", "tie", None])
    assert (t.n, t.a, t.b, t.tie, t.unparseable) == (5, 3, 1, 1, 1)
    assert t.a_rate == pytest.approx(0.6) and t.b_rate == pytest.approx(0.2)
    assert t.a_ci == pytest.approx([0.2307, 0.8824], abs=1e-3)  # Wilson for 3 of 5, by hand


def test_position_swap_rule():
    assert to_model("A", "a_first") == "a" and to_model("B", "a_first") == "b"
    assert to_model("A", "b_first") == "b" and to_model("B", "b_first") == "a"
    assert to_model("tie", "b_first") == "tie" and to_model(None, "a_first") is None
    assert combine("a", "a") == "a" and combine("b", "b") == "b"
    assert combine("a", "b") == "tie"  # the orders disagree
    assert combine("a", "tie") == "tie" and combine("tie", "tie") == "tie"
    assert combine(None, "a") is None and combine("b", None) is None


def test_bands():
    assert [band(x) for x in (1, 3, 4, "6", 7, 10, None, "", "hard")] == \
        ["1-3", "1-3", "4-6", "4-6", "7-10", "7-10", None, None, "hard"]


# ---------------------------------------------------------------------------- test sets


def test_testset_skips_malformed_lines_with_their_numbers():
    items, rep = read_testset(TESTSET, JudgeConfig())
    assert len(items) == N_ITEMS and rep.rows == N_ITEMS
    assert [n for n, _ in rep.skipped] == [3, 5, 7, 8]
    assert "same instruction as line 1" in dict(rep.skipped)[7]
    assert items[0].skill == "knowledge" and items[0].difficulty == 2 and items[-1].difficulty is None
    assert len(read_testset(TESTSET, JudgeConfig(limit=2))[0]) == 2
    with pytest.raises(DataError, match="--testset"):
        read_testset(ASSETS / "missing.jsonl", JudgeConfig())


def test_testset_field_names_are_configurable(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"q": "What is 2+2?", "cat": "math", "lvl": 9}) + "\n")
    items, _ = read_testset(p, JudgeConfig(instruction_field="q", skill_field="cat", difficulty_field="lvl"))
    assert (items[0].instruction, items[0].skill, band(items[0].difficulty)) == ("What is 2+2?", "math", "7-10")


WIZARDLM_STYLE = [  # the WizardLM paper's test set spells its fields this way
    {"idx": 1, "Skill": "Math", "Difficulty": 3, "Instruction": "What is 12 times 11?"},
    {"idx": 2, "Skill": "Writing", "Difficulty": 8, "Instruction": "Write a haiku about rain."},
]


def test_testset_fields_are_found_in_any_case_and_named(tmp_path):
    p = tmp_path / "WizardLM_testset.jsonl"
    write_jsonl(p, WIZARDLM_STYLE)
    items, rep = read_testset(p, JudgeConfig())
    assert [(i.instruction, i.skill, i.difficulty) for i in items] == [
        ("What is 12 times 11?", "Math", 3), ("Write a haiku about rain.", "Writing", 8)]
    assert rep.fields == {"instruction": "Instruction", "skill": "Skill", "difficulty": "Difficulty"}


@pytest.mark.parametrize("key", ["prompt", "Question", "INPUT"])
def test_testset_instruction_aliases(tmp_path, key):
    p = tmp_path / "t.jsonl"
    write_jsonl(p, [{key: "Name a prime number.", "category": "math"}])
    items, rep = read_testset(p, JudgeConfig())
    assert items[0].instruction == "Name a prime number." and items[0].skill is None
    assert rep.fields == {"instruction": key, "skill": None, "difficulty": None}


def test_compare_prints_and_reports_the_fields_it_used(tmp_path, capsys):
    p = tmp_path / "WizardLM_testset.jsonl"
    write_jsonl(p, WIZARDLM_STYLE)
    out = tmp_path / "cmp"
    report = compare(recipe(tmp_path), p, "model-a", "model-b", "judge", out, factory=factory(contestants(picks_good)))
    said = " ".join(capsys.readouterr().err.split())
    assert "fields used: instruction <- Instruction, skill <- Skill, difficulty <- Difficulty" in said
    text = report.read_text()
    assert "fields used: instruction <- `Instruction`, skill <- `Skill`, difficulty <- `Difficulty`" in text
    assert "| skill: Math | 1 |" in text and "| difficulty 7-10 | 1 |" in text


# ---------------------------------------------------------------------------- difficulty scores


def make_run(run: Path) -> list[Record]:
    def rec(instr, rnd, status, parent=None):
        rid = record_id(parent, rnd, "seed" if rnd == 0 else "deepen", instr)
        return Record(rid, parent, parent or rid, rnd, "seed" if rnd == 0 else "deepen", instr, status=status)

    s1, s2 = rec("Say hi.", 0, SEED), rec("Add 2 and 3.", 0, SEED)
    rows = [s1, s2, rec("Say hi in French, formally.", 1, KEPT, s1.id), rec("Add 2 and 3, then square it.", 1, KEPT, s2.id),
            rec("Say hi in Klingon.", 1, ELIMINATED, s1.id), rec("Say hi in French, formally!", 2, "duplicate", s1.id)]
    write_jsonl(run / "records.jsonl", [r.to_dict() for r in rows])
    (run / "report.md").write_text("# Evolve report\n\n## Per round\n\nevolve's table\n")
    return rows


def rated(run: Path) -> dict[str, dict]:
    """The judge's scores by instruction, joined with the records the way the reports join them."""
    scores = load_scores(run)
    out = {}
    for r in read_records(run / "records.jsonl"):
        row = scores.get(r.id)
        out[r.instruction] = {"difficulty": row["difficulty"], "difficulty_raw": row["raw"]} if row else {}
    return out


SCORE_REPLIES = {"Say hi.": "1", "Add 2 and 3.": "2/10", "Say hi in French, formally.": "I'd rate it 4.",
                 "Add 2 and 3, then square it.": "no idea", "Say hi in Klingon.": "9"}


def score_reply(req):
    instr = req.messages[-1]["content"].split("### Instruction\n")[1].split("\n\n###")[0]
    return SCORE_REPLIES[instr]


def test_score_writes_scores_plot_and_report_section(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    records_before = (run / "records.jsonl").read_bytes()
    judge = FakeGenerator(score_reply, name="judge")
    png = score(recipe(tmp_path), run, "judge", factory=factory({"judge": judge}))

    assert png == run / "difficulty.png" and png.read_bytes()[:4] == b"\x89PNG"
    assert len(judge.requests) == 4  # seeds and kept only
    assert all(r.task == "score" and r.grammar == 'root ::= [1-9] | "10"' for r in judge.requests)
    # evolve's files are left as they were: the judge writes only its own
    assert (run / "records.jsonl").read_bytes() == records_before
    assert (run / "report.md").read_text() == "# Evolve report\n\n## Per round\n\nevolve's table\n"
    by = rated(run)
    assert len(by) == 6
    assert by["Say hi."] == {"difficulty": 1, "difficulty_raw": "1"}
    assert by["Add 2 and 3."]["difficulty"] == 2
    assert by["Add 2 and 3, then square it."] == {"difficulty": None, "difficulty_raw": "no idea"}
    assert by["Say hi in Klingon."] == {} and by["Say hi in French, formally!"] == {}

    report = (run / "difficulty.md").read_text()
    assert report.startswith("# Difficulty")
    table = {m[0]: m[1:] for m in re.findall(
        r"^\| (\w+) \| (\d+) \| ([\d.-]+) \| ([\d.-]+) \| ([\d.-]+) \| (\d+) \| ([\d.]+) \|$", report, re.M)}
    assert table["0"] == ("2", "1.50", "1.50", "0.50", "0", "3.0")
    assert table["1"] == ("2", "4.00", "4.00", "0.00", "1", "6.0")
    assert table["all"] == ("4", "2.33", "2.00", "1.25", "1", "4.5")
    assert "Warning" not in report  # 3 ratings, and different ones

    # A second run asks nothing (journal) and writes the same report.
    again = FakeGenerator(score_reply, name="judge")
    score(recipe(tmp_path), run, "judge", factory=factory({"judge": again}))
    assert again.requests == []
    assert (run / "difficulty.md").read_text() == report

    # Eliminated records on request; only the missing one is asked.
    more = FakeGenerator(score_reply, name="judge")
    score(recipe(tmp_path), run, "judge", include_eliminated=True, factory=factory({"judge": more}))
    assert [r.task for r in more.requests] == ["score"]
    assert rated(run)["Say hi in Klingon."]["difficulty"] == 9


def test_score_resumes_from_its_journal(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    with pytest.raises(Killed):
        score(recipe(tmp_path), run, "judge", factory=factory({"judge": FakeGenerator(dies_after(2, score_reply), "judge")}))
    assert len(Journal(run / "scores.jsonl").read()) == 2
    judge = FakeGenerator(score_reply, name="judge")
    score(recipe(tmp_path), run, "judge", factory=factory({"judge": judge}))
    assert len(judge.requests) == 2
    rows = Journal(run / "scores.jsonl").read()
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    # A different judge does not reuse the first one's ratings.
    other = FakeGenerator(lambda req: "5", name="other")
    score(recipe(tmp_path), run, "other", factory=factory({"other": other}))
    assert len(other.requests) == 4


def test_a_judge_that_rates_everything_alike_is_called_out(tmp_path):
    run = tmp_path / "run"
    seeds = [Record(record_id(None, 0, "seed", f"Task number {i}."), None, "", 0, "seed", f"Task number {i}.",
                    status=SEED) for i in range(12)]
    write_jsonl(run / "records.jsonl", [r.to_dict() for r in seeds])
    alike = FakeGenerator(lambda req: "10" if "number 3." not in req.messages[-1]["content"] else "7", name="judge")
    score(recipe(tmp_path), run, "judge", factory=factory({"judge": alike}))
    assert "does not tell instructions apart" in (run / "difficulty.md").read_text()  # 11 of 12 are 10

    varied = FakeGenerator(lambda req: str(1 + len(req.messages[-1]["content"]) % 3), name="judge")
    (run / "scores.jsonl").unlink()
    score(recipe(tmp_path), run, "judge", factory=factory({"judge": varied}))
    assert "does not tell instructions apart" not in (run / "difficulty.md").read_text()


def test_score_backend_errors_are_retried_not_guessed(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    flaky = FakeGenerator(lambda req: GenResult("", ERROR, error="boom") if "Say hi." in req.messages[-1]["content"]
                          else score_reply(req), name="judge")
    score(recipe(tmp_path), run, "judge", factory=factory({"judge": flaky}))
    assert rated(run)["Say hi."] == {}  # no reply, so no row: asked again next time
    assert "got no reply" in (run / "difficulty.md").read_text()
    retry = FakeGenerator(score_reply, name="judge")
    score(recipe(tmp_path), run, "judge", factory=factory({"judge": retry}))
    assert len(retry.requests) == 1


def test_score_without_records_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="wizardlite evolve"):
        score(recipe(tmp_path), tmp_path / "nothing", factory=factory({}))


# ---------------------------------------------------------------------------- comparison


def answers(name: str, text: str) -> FakeGenerator:
    return FakeGenerator(lambda req: text, name=name)


def picks_good(req):
    """A fair judge: picks the position that holds 'good answer'."""
    p = req.messages[-1]["content"]
    first = p.split("### Answer A\n")[1].split("\n\n### Answer B")[0]
    return "A" if "good" in first else "B"


def contestants(judge_fn, a="good answer", b="bad answer"):
    return {"model-a": answers("model-a", a), "model-b": answers("model-b", b),
            "judge": FakeGenerator(judge_fn, name="judge")}


def judgements(out: Path) -> list[dict]:
    return Journal(out / "judgements.jsonl").read()


def test_compare_counts_a_clear_winner(tmp_path):
    gens = contestants(picks_good)
    out = tmp_path / "cmp"
    report = compare(recipe(tmp_path), TESTSET, "model-a", "model-b", "judge", out, factory=factory(gens))

    # Same sampling and the same seed per instruction for both contestants.
    ra, rb = gens["model-a"].requests, gens["model-b"].requests
    assert len(ra) == len(rb) == N_ITEMS
    assert [(r.seed, r.sampling, r.messages) for r in ra] == [(r.seed, r.sampling, r.messages) for r in rb]
    assert len({r.seed for r in ra}) == N_ITEMS
    # Each pair judged in both orders, with the verdict grammar.
    jr = gens["judge"].requests
    assert len(jr) == 2 * N_ITEMS and all(r.grammar == 'root ::= "A" | "B" | "tie"' for r in jr)
    assert sum("### Answer A\ngood answer" in r.messages[-1]["content"] for r in jr) == N_ITEMS

    rows = judgements(out)
    assert len(rows) == N_ITEMS and all(r["verdict"] == "a" and r["flipped"] is False for r in rows)
    assert {r["raw_a_first"] for r in rows} == {"A"} and {r["raw_b_first"] for r in rows} == {"B"}
    assert rows[0]["answer_a"] == "good answer" and rows[0]["instruction"] == "Name three primary colours."

    summary = json.loads((out / "summary.json").read_text())
    groups = {g["group"]: g for g in summary["groups"]}
    assert (groups["overall"]["a"], groups["overall"]["tie"], groups["overall"]["b"]) == (N_ITEMS, 0, 0)
    assert groups["overall"]["a_ci"] == pytest.approx(list(wilson(N_ITEMS, N_ITEMS)))
    assert {k: g["n"] for k, g in groups.items() if k != "overall"} == {
        "skill: knowledge": 2, "skill: math": 2, "skill: writing": 2,
        "difficulty 1-3": 2, "difficulty 4-6": 2, "difficulty 7-10": 1}
    assert summary["consistency"]["flipped"] == 0 and summary["flags"] == []

    text = report.read_text()
    assert "| overall | 6 | 6 | 0 | 0 | 0 |" in text and "Wilson" in text and "Warning" not in text
    assert "line 3: invalid JSON" in text
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_position_biased_judge_gives_ties_and_flips(tmp_path):
    gens = contestants(lambda req: "A")  # always the answer shown first
    out = tmp_path / "cmp"
    compare(recipe(tmp_path), TESTSET, "model-a", "model-b", "judge", out, factory=factory(gens))
    rows = judgements(out)
    assert all(r["verdict_a_first"] == "a" and r["verdict_b_first"] == "b" for r in rows)
    assert all(r["verdict"] == "tie" and r["flipped"] for r in rows)
    c = json.loads((out / "summary.json").read_text())["consistency"]
    assert (c["flipped"], c["both_parsed"], c["first_shown"], c["positional_picks"]) == (N_ITEMS, N_ITEMS, 2 * N_ITEMS,
                                                                                         2 * N_ITEMS)


def test_a_positional_judge_is_called_out_once_there_are_enough_pairs():
    from wizardlite.judge.stats import consistency, position_flags

    def judged(n, flips):  # per pair: flipped, then the positions picked in the two orders
        return consistency([i < flips for i in range(n)],
                           [p for i in range(n) for p in ("A", "A" if i < flips else "B")])

    assert "follows position" in position_flags(judged(12, 12))[0]
    assert "24 of 24 picks" in position_flags(judged(12, 12))[0]
    assert position_flags(judged(12, 6)) == []  # half flipped: not above the line
    assert position_flags(judged(6, 6)) == []  # too few pairs to say


def test_compare_unparseable_replies_are_left_out(tmp_path):
    replies = iter(["A", "I am not sure", "B", "B"] + ["tie"] * 100)
    gens = contestants(lambda req: next(replies))
    out = tmp_path / "cmp"
    compare(recipe(tmp_path), TESTSET, "model-a", "model-b", "judge", out, factory=factory(gens))
    overall = json.loads((out / "summary.json").read_text())["groups"][0]
    # pair 1: unparseable; pair 2: B shown first then B shown second -> a_first says b, b_first says a -> tie
    assert (overall["n"], overall["unparseable"], overall["a"], overall["b"], overall["tie"]) == (5, 1, 0, 0, 5)


def test_compare_resumes_without_redoing_work(tmp_path):
    out = tmp_path / "cmp"
    r = recipe(tmp_path)
    # Killed while A answers: two answers are in the journal.
    gens = contestants(picks_good)
    gens["model-a"] = FakeGenerator(dies_after(2, lambda req: "good answer"), name="model-a")
    with pytest.raises(Killed):
        compare(r, TESTSET, "model-a", "model-b", "judge", out, factory=factory(gens))
    assert len(Journal(out / "answers_a.jsonl").read()) == 2
    # Killed while judging: after 3 judge replies, only the first pair is complete.
    gens = contestants(dies_after(3, picks_good))
    with pytest.raises(Killed):
        compare(r, TESTSET, "model-a", "model-b", "judge", out, factory=factory(gens))
    assert len(gens["model-a"].requests) == N_ITEMS - 2 and len(gens["model-b"].requests) == N_ITEMS
    assert len(judgements(out)) == 1
    # The rest: no answers asked again, only the missing judgements.
    gens = contestants(picks_good)
    compare(r, TESTSET, "model-a", "model-b", "judge", out, factory=factory(gens))
    assert gens["model-a"].requests == [] and gens["model-b"].requests == []
    assert len(gens["judge"].requests) == 2 * (N_ITEMS - 1)
    rows = judgements(out)
    assert len(rows) == N_ITEMS and len({x["id"] for x in rows}) == N_ITEMS
    assert json.loads((out / "summary.json").read_text())["groups"][0]["a"] == N_ITEMS
    # Other models in the same folder: refused, not mixed.
    with pytest.raises(ConfigError, match="other settings"):
        compare(r, TESTSET, "model-a", "model-b", "model-a", out, factory=factory(contestants(picks_good)))


def test_judge_that_is_a_contestant_is_flagged(tmp_path):
    gens = contestants(picks_good)
    gens["model-a"] = FakeGenerator(lambda req: "A" if req.task == "judge" else "good answer", name="model-a")
    out = tmp_path / "cmp"
    compare(recipe(tmp_path), TESTSET, "model-a", "model-b", "model-a", out, factory=factory(gens))
    assert "the judge is the same model as contestant A" in (out / "report.md").read_text()
    assert json.loads((out / "summary.json").read_text())["flags"]


def test_one_model_loaded_at_a_time(tmp_path):
    gens = contestants(picks_good)
    gens["model-b"] = FakeGenerator(lambda req: "B" if req.task == "judge" else "bad answer", name="model-b")
    events = []

    class Tracked:
        def __init__(self, name):
            self.gen, self.name = gens[name], name
            self.info = self.gen.info
            events.append(("load", name))

        def generate(self, reqs, on_result=None):
            return self.gen.generate(reqs, on_result)

        def close(self):
            events.append(("close", self.name))

    compare(recipe(tmp_path), TESTSET, "model-a", "model-b", "model-b", tmp_path / "cmp",
            factory=lambda cfg: Tracked(cfg.model))
    # B answers and then judges: loaded once, and never two models at once.
    assert events == [("load", "model-a"), ("close", "model-a"), ("load", "model-b"), ("close", "model-b")]


def fake_gguf(path: Path, fill: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + fill * 2048)
    return path


def test_same_model_by_sha256_or_path(tmp_path, monkeypatch):
    monkeypatch.setenv("WIZARDLITE_CACHE", str(tmp_path / "cache"))
    base = recipe(tmp_path).judge_model
    x = fake_gguf(tmp_path / "x" / "m.gguf", b"\x01")
    copy = fake_gguf(tmp_path / "y" / "copy.gguf", b"\x01")
    other = fake_gguf(tmp_path / "z" / "other.gguf", b"\x02")
    ids = {p: identity(backend_for(str(p), BackendConfig())) for p in (x, copy, other)}
    assert ids[x].backend == "llamacpp" and len(ids[x].sha256) == 64
    assert ids[x].same_weights(ids[copy]) and not ids[x].same_weights(ids[other])
    assert ids[x].same_weights(ModelIdentity("llamacpp", "", path=ids[x].path))
    # A requantised copy is its source's weights, rounded again: same model for the flag.
    requant = ModelIdentity("llamacpp", "", sha256="f" * 64, derived_from=ids[x].sha256)
    assert requant.same_weights(ids[x]) and ids[copy].same_weights(requant) and not requant.same_weights(ids[other])
    url = backend_for("http://127.0.0.1:8080/v1/", base)
    assert (url.backend, url.endpoints) == ("http", ("http://127.0.0.1:8080/v1",))
    assert identity(url).same_weights(identity(url))
    assert not identity(url).same_weights(identity(backend_for("http://127.0.0.1:9090/v1", base)))


# ---------------------------------------------------------------------------- command line


def test_cli_judge_scores_then_compares_on_the_fake_backend(tmp_path):
    from typer.testing import CliRunner

    from wizardlite.cli import app

    run = tmp_path / "run"
    make_run(run)
    rec = tmp_path / "r.toml"
    rec.write_text(f'[run]\nout = "{run}"\n[evolver]\nbackend = "fake"\n[judge]\ntestset = "{TESTSET}"\n')
    res = CliRunner().invoke(app, ["judge", "--recipe", str(rec)])
    assert res.exit_code == 0, res.output
    assert "no fine-tuned model" in res.output and (run / "difficulty.png").is_file()
    assert not (run / "judge").exists()

    fake_gguf(run / "ft" / "model.gguf", b"\x03")
    res = CliRunner().invoke(app, ["judge", "--recipe", str(rec)])
    assert res.exit_code == 0, res.output
    assert len(judgements(run / "judge")) == N_ITEMS and (run / "judge" / "report.md").is_file()
    meta = json.loads((run / "judge" / "comparison.json").read_text())
    assert meta["models"]["a"]["model"].endswith("ft/model.gguf") and meta["models"]["b"]["model"] == "smollm2"

    res = CliRunner().invoke(app, ["compare", "--recipe", str(rec), "--a", "x", "--b", "y", "--out", str(tmp_path / "c"),
                                   "--set", "judge.limit=2"])
    assert res.exit_code == 0, res.output
    assert len(judgements(tmp_path / "c")) == 2
    res = CliRunner().invoke(app, ["score", str(tmp_path / "none"), "--recipe", str(rec)])
    assert res.exit_code == 1 and "wizardlite evolve" in res.output


# ---------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_smollm2_as_contestants_and_judge(tmp_path):
    from wizardlite.models import resolve

    gguf = str(resolve("smollm2"))
    lines = [json.loads(x) for x in TESTSET.read_text().splitlines()[:2]]
    testset = tmp_path / "t.jsonl"
    testset.write_text("".join(json.dumps(x) + "\n" for x in [*lines, {"instruction": "What is the capital of France?"}]))
    r = recipe_from_dict({"run": {"out": str(tmp_path / "run")},
                          "evolver": {"backend": "llamacpp", "model": gguf, "n_ctx": 1024, "parallel": 4},
                          "judge": {"answer_max_tokens": 12, "judge_max_tokens": 4}})
    # Difficulty: the grammar holds the reply to a number, so every rating parses.
    make_run(tmp_path / "run")
    score(r, tmp_path / "run")
    scores = load_scores(tmp_path / "run")
    chosen = [x for x in read_records(tmp_path / "run" / "records.jsonl") if x.status in (SEED, KEPT)]
    assert len(chosen) == 4 and all(1 <= scores[x.id]["difficulty"] <= 10 for x in chosen)

    out = tmp_path / "cmp"
    compare(r, testset, gguf, "smollm2", None, out)
    rows = judgements(out)
    assert len(rows) == 3 and len(Journal(out / "answers_a.jsonl").read()) == 3
    # Same weights, same seed, same settings: the two contestants write the same answers.
    assert all(x["answer_a"] == x["answer_b"] and x["answer_a"] for x in rows)
    assert all(x["position_a_first"] in ("A", "B", "tie") for x in rows)  # the grammar held
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["groups"][0]
    assert overall["a"] + overall["tie"] + overall["b"] + overall["unparseable"] == 3
    assert any("judge is the same model" in f for f in summary["flags"])
    assert any("A and B are the same model" in f for f in summary["flags"])
