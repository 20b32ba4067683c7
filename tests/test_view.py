"""`wizardlite view`: the SQLite export of a fake-backend run (every record, its parent links, a
seed's whole tree, appends after a resume), the Datasette pages it serves, and those pages in a
real headless Chromium."""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizardlite.errors import DataError
from wizardlite.recipe import recipe_from_dict
from wizardlite.records import ELIMINATED, SEED, read_records
from wizardlite.view.database import export
from wizardlite.view.plugin import word_diff
from wizardlite.view.queries import CANNED, LINEAGE

ASSETS = Path(__file__).parent / "assets"


def evolve(out: Path, rounds: int) -> Path:
    from wizardlite.evolve import run

    return run(recipe_from_dict({"run": {"out": str(out), "seed": 11},
                                 "seeds": {"path": str(ASSETS / "seeds_small.jsonl")},
                                 "evolver": {"backend": "fake"}, "evolve": {"rounds": rounds, "chunk_size": 4},
                                 "dedup": {"near": False}, "output": {"formats": ["messages"]}}))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return evolve(tmp_path_factory.mktemp("view") / "run", rounds=3)


def rows(db: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_export_has_every_record_with_its_parent_links(small_run, tmp_path):
    s = export(small_run, tmp_path / "run.db")
    recs = read_records(small_run / "records.jsonl")
    got = {r["id"]: r for r in rows(tmp_path / "run.db", "SELECT * FROM records")}
    assert s.rebuilt and s.records_total == len(recs) == len(got) and not s.skipped
    for r in recs:
        row = got[r.id]
        assert (row["parent_id"], row["root_id"], row["round"], row["operation"], row["status"], row["reason"]) == \
               (r.parent_id, r.root_id, r.round, r.operation, r.status, r.reason)
        assert row["instruction"] == r.instruction and row["response"] == r.response
        assert json.loads(row["generation"]) == r.generation and json.loads(row["meta"]) == r.meta
        assert row["depth"] == (0 if r.parent_id is None else got[r.parent_id]["depth"] + 1)
    assert {r.status for r in recs} >= {SEED, ELIMINATED}
    # full-text search on instructions and responses
    word = re.findall(r"\w+", recs[-1].instruction)[0]  # a bare word: FTS5 reads punctuation as syntax
    hits = rows(tmp_path / "run.db", "SELECT rowid FROM records_fts WHERE records_fts MATCH ?", word)
    assert got[recs[-1].id]["line"] and len(hits) >= 1


def test_lineage_query_returns_the_whole_tree(small_run, tmp_path):
    export(small_run, tmp_path / "run.db")
    recs = read_records(small_run / "records.jsonl")
    by_id = {r.id: r for r in recs}

    def seed_of(rid: str) -> str:  # walk the parent links in the journal itself
        while by_id[rid].parent_id:
            rid = by_id[rid].parent_id  # type: ignore[assignment]
        return rid

    for r in recs:
        tree = rows(tmp_path / "run.db", LINEAGE, r.id)
        assert {t["id"] for t in tree} == {x.id for x in recs if seed_of(x.id) == seed_of(r.id)}
        levels = {t["id"]: t["level"] for t in tree}
        assert all(t["level"] == levels[t["parent_id"]] + 1 for t in tree if t["parent_id"])


def test_reexport_after_resume_adds_only_the_new_rows(tmp_path):
    run = evolve(tmp_path / "run", rounds=2)
    db = tmp_path / "run.db"
    first = export(run, db)
    before = {r["id"]: tuple(r) for r in rows(db, "SELECT rowid, * FROM records")}
    evolve(tmp_path / "run", rounds=3)  # resume: one more round appended to the same journal
    second = export(run, db)
    after = {r["id"]: tuple(r) for r in rows(db, "SELECT rowid, * FROM records")}
    journal = read_records(run / "records.jsonl")
    assert not second.rebuilt and second.records_added == len(journal) - first.records_total > 0
    assert len(after) == len(journal) and all(after[i] == row for i, row in before.items())
    assert rows(db, "SELECT count(*) FROM records_fts")[0][0] == len(journal)
    assert {r["id"]: r["line"] for r in rows(db, "SELECT id, line FROM records")} == \
           {r.id: n for n, r in enumerate(journal, start=1)}
    assert export(run, db).records_added == 0

    # the judge's ratings join in; a torn last line waits for the writer to finish it
    last = journal[-1]
    score = json.dumps({"id": last.id, "judge_key": "k", "judge": {"name": "j"}, "raw": "7", "difficulty": 7})
    with open(run / "scores.jsonl", "w") as f:
        f.write(score + "\n" + score[:20])
    s = export(run, db)
    assert s.scores_added == 1 and not s.rebuilt
    assert rows(db, "SELECT difficulty FROM records WHERE id = ?", last.id)[0][0] == 7
    with open(run / "scores.jsonl", "a") as f:
        f.write(score[20:].replace('"difficulty": 7', '"difficulty": 9') + "\n")
    assert export(run, db).scores_added == 1
    assert rows(db, "SELECT difficulty FROM records WHERE id = ?", last.id)[0][0] == 9


def test_a_rewritten_journal_rebuilds_and_other_files_are_never_overwritten(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    db = tmp_path / "run.db"
    export(run, db)
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    (run / "records.jsonl").write_text("".join(lines[:-3]) + "not json\n[1]\n")
    s = export(run, db)
    assert s.rebuilt and s.records_total == len(lines) - 3
    assert s.skipped == [("records.jsonl", len(lines) - 2, "invalid JSON: Expecting value"),
                         ("records.jsonl", len(lines) - 1, "not a record (no id)")]
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE mine (x)").connection.commit()
    with pytest.raises(DataError, match="not a wizardlite export"):
        export(run, other)
    with pytest.raises(DataError, match="no records.jsonl"):
        export(tmp_path, tmp_path / "x.db")


def test_eval_results_become_tables(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "eval").mkdir()
    answer = {"role": "model", "key": 1, "prompt": "Write 3 lines.", "verdicts": [{"id": "a:b", "strict": True}],
              "prompt_strict": True}
    (run / "eval" / "responses.jsonl").write_text(json.dumps(answer) + "\n")
    (run / "eval" / "results.json").write_text(json.dumps({"prompts": 1, "models": {"model": {"prompt_strict": 0.25}}}))
    s = export(run, tmp_path / "run.db")
    assert s.eval_tables == ["eval_responses", "eval_results"]
    assert [tuple(r) for r in rows(tmp_path / "run.db", "SELECT * FROM eval_responses")] == \
           [("model", 1, "Write 3 lines.", '[{"id": "a:b", "strict": true}]', 1)]
    assert rows(tmp_path / "run.db", "SELECT value FROM eval_results WHERE key = 'models.model.prompt_strict'")[0][0] == 0.25
    (run / "eval" / "results.json").write_text(json.dumps({"prompts": 2}))
    assert [tuple(r) for r in rows(export(run, tmp_path / "run.db").path, "SELECT * FROM eval_results")] == [("prompts", 2)]


def test_word_diff_marks_what_changed():
    assert word_diff("Name three rivers.", "Name three long rivers.") == "Name three <ins>long </ins>rivers."
    assert word_diff("a b <c>", "x y <c>") == "<del>a b</del><ins>x y</ins> &lt;c&gt;"


# ---------------------------------------------------------------------------- the pages


def get(ds, path: str) -> str:
    async def go() -> str:
        res = await ds.client.get(path)
        assert res.status_code == 200, (path, res.status_code, res.text[:500])
        return res.text

    return asyncio.run(go())


def page_text(fragment: str) -> str:
    """What a reader sees of an instruction: the HTML less deleted words, tags and entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<del>.*?</del>", "", fragment, flags=re.S))).strip()


def cards(page: str) -> list[tuple[str, str]]:
    """(status, text as read) of each record card of the lineage section."""
    return [(status, page_text(text)) for status, text in
            re.findall(r'<div class="card (\w+)[^"]*">.*?<div class="text">(.*?)</div>', page, flags=re.S)]


def an_eliminated_child(db: Path) -> sqlite3.Row:
    return rows(db, "SELECT c.id, c.instruction, c.reason, c.root_id, p.instruction AS parent FROM records c "
                    "JOIN records p ON p.id = c.parent_id WHERE c.status = 'eliminated' ORDER BY c.rowid LIMIT 1")[0]


def test_record_page_seed_tree_and_queries_through_datasette(small_run, tmp_path):
    from wizardlite.view.serve import datasette

    db = export(small_run, tmp_path / "run.db").path
    ds = datasette(db, "runs/x")
    child = an_eliminated_child(db)
    page = get(ds, f"/run/records/{child['id']}")
    assert ("seed", child["parent"]) in cards(page) or any(t == child["parent"] for _, t in cards(page))
    assert ("eliminated", child["instruction"]) in cards(page)
    assert f'<span class="reason">{child["reason"]}</span>' in page
    tree = get(ds, f"/run/records/{child['root_id']}")
    members = rows(db, "SELECT status, instruction FROM records WHERE root_id = ?", child["root_id"])
    assert 'id="tree"' in tree and {(m["status"], m["instruction"]) for m in members} <= set(cards(tree))
    table = get(ds, "/run/records?_search=" + child["instruction"].split()[0])
    assert child["id"] in table
    assert all(f'id="facet-{f}"' in get(ds, "/run/records") for f in ("round", "operation", "status", "reason"))
    for name in CANNED:
        out = get(ds, f"/run/{name}" + (f"?id={child['id']}" if name == "lineage" else ""))
        assert f'href="/run/records/{child["id"]}"' in out or name != "lineage"
    assert child["reason"] in get(ds, "/run/eliminated_by_reason")


# ---------------------------------------------------------------------------- a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium(profile: Path, *args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={profile}",
             "--window-size=1280,1600", "--hide-scrollbars"]
    res = subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)")
def test_record_and_tree_pages_in_headless_chromium(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "wizardlite", "view", str(run), "--port", str(port), "--no-open"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, server.stdout.read() if server.stdout else ""
                time.sleep(0.2)
        child = an_eliminated_child(run / "run.db")
        base = f"http://127.0.0.1:{port}/run/records"
        dom = chromium(tmp_path / "profile", "--dump-dom", f"{base}/{child['id']}")
        assert child["parent"] in [t for _, t in cards(dom)]
        assert ("eliminated", child["instruction"]) in cards(dom)
        assert f'<span class="reason">{child["reason"]}</span>' in dom
        tree = chromium(tmp_path / "profile", "--dump-dom", f"{base}/{child['root_id']}")
        assert ("eliminated", child["instruction"]) in cards(tree) and child["reason"] in tree
        assert ("seed", child["parent"]) in cards(tree) or child["parent"] in [t for _, t in cards(tree)]
        for name, url in (("record", f"{base}/{child['id']}"), ("tree", f"{base}/{child['root_id']}")):
            chromium(tmp_path / "profile", f"--screenshot={tmp_path / name}.png", url)
            assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0 and "view stopped" in out, out  # Ctrl-C stopped it cleanly


def test_export_command_and_a_taken_port(small_run, tmp_path):
    from typer.testing import CliRunner

    from wizardlite.cli import app
    from wizardlite.errors import ConfigError
    from wizardlite.view.serve import pick_port

    res = CliRunner().invoke(app, ["view", str(small_run), "--export", str(tmp_path / "x.db")])
    assert res.exit_code == 0 and (tmp_path / "x.db").is_file(), res.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match="in use"):
            pick_port(s.getsockname()[1])


# ---------------------------------------------------------------------------- verification on a record's page

NO_COMMA, WORDS = "punctuation:no_comma", "length_constraints:number_words"
CONSTRAINTS = {"instruction_id_list": [NO_COMMA, WORDS], "kwargs": [{}, {"relation": "at least", "num_words": 5}],
               "phrases": ["Do not use any commas.", "Write at least 5 words."]}


def attempt(text: str, verdicts: list[bool], finish: str = "stop", **more: object) -> dict[str, object]:
    return {"seed": 1, "finish": finish, "text": text, "verdicts": verdicts, **more}


# (name, status, reason, response, attempts) as verified evolution writes them (wizardlite/evolve/step.py)
VERIFIED = [
    ("second", "kept", "", "Rivers carry rain back to the sea.",
     [attempt("Rivers, lakes.", [False, False]), attempt("Rivers carry rain back to the sea.", [True, True])]),
    ("repaired", "kept", "", "Rivers carry rain back to the sea",
     [attempt("Rivers carry rain, back to the sea", [False, True], repaired="Rivers carry rain back to the sea",
              repaired_verdicts=[True, True])]),
    ("failed", "eliminated", "constraint_failed", "Rivers.",
     [attempt("Rivers.", [True, False]), attempt("Rivers carry rain back to the", [True, True], finish="length")]),
]


def verified_run(root: Path) -> tuple[Path, dict[str, str]]:
    """A journal with a seed and one constrained child per case of VERIFIED; their ids by name."""
    from wizardlite.records import Record, record_id

    seed_text = "Write about rivers."
    sid = record_id(None, 0, "seed", seed_text)
    recs = [Record(id=sid, parent_id=None, root_id=sid, round=0, operation="seed", instruction=seed_text)]
    ids = {}
    for name, status, reason, response, attempts in VERIFIED:
        text = f"{seed_text} ({name}) Do not use any commas. Write at least 5 words."
        ids[name] = record_id(sid, 1, "verifiable_constraints", text)
        recs.append(Record(id=ids[name], parent_id=sid, root_id=sid, round=1, operation="verifiable_constraints",
                           instruction=text, response=response, status=status, reason=reason,
                           generation={"attempts": attempts}, constraints=CONSTRAINTS))
    root.mkdir(parents=True)
    (root / "records.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in recs))
    return root, ids


def test_verification_says_which_answer_was_kept_and_why_the_others_were_not():
    from wizardlite.view.plugin import verification

    got = {name: verification(json.dumps(CONSTRAINTS), json.dumps({"attempts": attempts}))
           for name, _, _, _, attempts in VERIFIED}
    second, fixed, failed = got["second"], got["repaired"], got["failed"]
    assert verification("{}", json.dumps({"attempts": VERIFIED[0][4]})) is None  # no constraints, no section
    assert [c["id"] for c in second["constraints"]] == [NO_COMMA, WORDS]
    assert second["constraints"][1]["asked"] == "Write at least 5 words."
    assert second["constraints"][1]["args"] == "relation='at least', num_words=5"
    # a verdict per constraint per answer, in the table's layout (constraint rows, answer columns)
    assert [[cell["ok"] for cell in c["cells"]] for c in second["constraints"]] == [[False, True], [False, True]]
    assert [a["kept"] for a in second["answers"]] == [False, True] and not second["repaired"]
    assert second["outcome"] == "answer 2 of 2 passed every checker as written"
    assert second["answers"][0]["why"] == f"failed {NO_COMMA}; {WORDS} (relation='at least', num_words=5)"
    # repaired: the verdict as written and after the repair, and what the repair changed
    assert fixed["repaired"] and fixed["answers"][0]["kept"]
    assert [(c["cells"][0]["ok"], c["cells"][0]["repaired_ok"]) for c in fixed["constraints"]] == \
           [(False, True), (True, True)]
    assert "<del>,</del>" in fixed["answers"][0]["repair_diff"]
    assert "repaired" in fixed["outcome"]
    # failed: nothing kept; one answer fails a checker, the other passes but was cut off
    assert not any(a["kept"] for a in failed["answers"])
    assert failed["outcome"] == "none of the 2 answers passed every checker"
    assert failed["answers"][0]["why"] == f"failed {WORDS} (relation='at least', num_words=5)"
    assert "cut off at the token limit" in failed["answers"][1]["why"]


def test_the_record_page_shows_the_verdicts_the_kept_answer_and_the_repair(tmp_path):
    from wizardlite.view.serve import datasette

    run, ids = verified_run(tmp_path / "run")
    ds = datasette(export(run, tmp_path / "run.db").path, "runs/x")
    pages = {name: get(ds, f"/run/records/{rid}") for name, rid in ids.items()}
    for name, page in pages.items():
        table = page.split('id="verification"', 1)[1]
        assert table.count('<tr class="constraint">') == 2 and "Write at least 5 words." in table, name
    second = pages["second"].split('id="verification"', 1)[1]
    assert "answer 2 of 2 passed every checker as written" in second and "answer 2 (kept)" in second
    assert re.findall(r'<td class="(\w+)">', second)[:4] == ["fail", "pass", "fail", "pass"]
    fixed = pages["repaired"].split('id="verification"', 1)[1]
    assert '<td class="fixed">fail, repaired: pass</td>' in fixed and "kept once code repaired its format" in fixed
    assert "<del>,</del>" in fixed
    failed = pages["failed"].split('id="verification"', 1)[1]
    assert '<span class="reason">constraint_failed</span>' in failed and "(kept)" not in failed
    assert f"failed {WORDS} (relation=&#39;at least&#39;, num_words=5)" in failed
    assert "cut off at the token limit" in failed
    (seed,) = rows(tmp_path / "run.db", "SELECT id FROM records WHERE parent_id IS NULL")[0]
    assert 'id="verification"' not in get(ds, f"/run/records/{seed}")  # no constraints, no such section
