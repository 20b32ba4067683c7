"""Where the constraint registry shows: `wizardlite constraints`, the evolve report's pass rate
per type, and the data browser's constraint_types column, table, facet and query."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from wizardlite import constraints as C
from wizardlite.cli import app
from wizardlite.evolve.report import pass_rate_section, pass_rates
from wizardlite.records import ELIMINATED, KEPT, Record, record_id

NO_COMMA, WORDS, TITLE = "punctuation:no_comma", "length_constraints:number_words", "detectable_format:title"


def constrained(name: str, ids: list[str], verdicts: list[list[bool]], status: str = KEPT) -> Record:
    text = f"Write about rivers ({name})."
    rid = record_id("seed", 1, "verifiable_constraints", text)
    cons = {"instruction_id_list": ids, "kwargs": [{} for _ in ids], "phrases": ids}
    attempts = [{"seed": i, "finish": "stop", "text": "x", "verdicts": v} for i, v in enumerate(verdicts)]
    return Record(id=rid, parent_id="seed", root_id="seed", round=1, operation="verifiable_constraints",
                  instruction=text, response="x", status=status, generation={"attempts": attempts}, constraints=cons)


RECORDS = [constrained("a", [NO_COMMA, WORDS], [[False, True], [True, True]]),
           constrained("b", [NO_COMMA], [[True]]),
           constrained("c", [TITLE, WORDS], [[False, True], [False, False]], ELIMINATED),
           Record(id="plain", parent_id="seed", root_id="seed", round=1, operation="deepen", instruction="Go.")]


def test_the_report_ranks_types_by_how_often_answers_meet_them():
    rates = pass_rates(RECORDS)
    assert rates == {NO_COMMA: (2, 3), WORDS: (3, 4), TITLE: (0, 2)}  # every attempt, as recorded
    lines = [ln for ln in "\n".join(pass_rate_section(RECORDS)).splitlines() if ln.startswith("| ")][1:]
    assert [ln.split("|")[1].strip() for ln in lines] == [TITLE, NO_COMMA, WORDS]  # least met first
    assert lines[0].split("|")[2].strip() == "structure" and lines[0].split("|")[-2].strip() == "0%"
    assert pass_rate_section(RECORDS[-1:]) == []  # no constraints, no section


def test_the_constraints_command_lists_filters_and_shows_a_type():
    run = CliRunner().invoke(app, ["constraints"], env={"COLUMNS": "200"})
    assert run.exit_code == 0, run.output
    assert f"{len(C.TYPES)} types" in run.output and NO_COMMA in run.output
    held = CliRunner().invoke(app, ["constraints", "--tag", "test-only"], env={"COLUMNS": "200"})
    listed = {t for t in C.TYPES if t in held.output}
    assert listed == {t for t, ct in C.TYPES.items() if ct.test_only}
    fam = CliRunner().invoke(app, ["constraints", "--family", "case"], env={"COLUMNS": "200"})
    assert {t for t in C.TYPES if t in fam.output} >= {t for t, ct in C.TYPES.items() if ct.family == "case"}
    assert NO_COMMA not in fam.output
    one = CliRunner().invoke(app, ["constraints", "--show", TITLE], env={"COLUMNS": "200"})
    assert one.exit_code == 0 and all(p in one.output for p in C.TYPES[TITLE].phrasings)
    assert "startend:quotation" in one.output  # its conflicts, with reasons
    bad = CliRunner().invoke(app, ["constraints", "--family", "nope"])
    assert bad.exit_code == 1 and "no constraint family" in bad.output


def test_the_browser_can_filter_records_by_constraint_type(tmp_path: Path):
    from wizardlite.view.database import export
    from wizardlite.view.queries import CONSTRAINTS_MET, metadata
    from wizardlite.view.serve import datasette

    run = tmp_path / "run"
    run.mkdir()
    (run / "records.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in RECORDS))
    db = export(run, tmp_path / "run.db").path
    conn = sqlite3.connect(db)
    got = dict(conn.execute("SELECT id, constraint_types FROM records").fetchall())
    assert json.loads(got[RECORDS[0].id]) == [NO_COMMA, WORDS] and got["plain"] is None
    assert conn.execute("SELECT count(*) FROM constraint_types").fetchone()[0] == len(C.TYPES)
    met = {r[0]: (r[4], r[3]) for r in conn.execute(CONSTRAINTS_MET)}
    assert met == pass_rates(RECORDS)  # the browser's query agrees with the report
    facets = metadata("run", "runs/x")["databases"]["run"]["tables"]["records"]["facets"]
    assert {"array": "constraint_types"} in facets

    ds = datasette(db, "runs/x")

    async def rows(path: str) -> list[dict[str, object]]:
        res = await ds.client.get(path)
        assert res.status_code == 200, res.text[:300]
        return res.json()["rows"]

    only = asyncio.run(rows(f"/run/records.json?_shape=objects&constraint_types__arraycontains={TITLE}"))
    assert [r["id"] for r in only] == [RECORDS[2].id]
    page = asyncio.run(ds.client.get("/run/records"))
    assert 'id="facet-constraint_types"' in page.text
