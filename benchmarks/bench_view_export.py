"""How long `wizardlite view` takes to export a large run to SQLite, and how fast the view's
queries run on it.

Run as: python benchmarks/bench_view_export.py                  # 250k records (50k seeds x 4 rounds)
        python benchmarks/bench_view_export.py --records 20000  # a quick look

The journal is synthetic but shaped like a real one: seeds evolved round by round (each seed's
last kept descendant is evolved again), statuses and reasons in the proportions of the
175-seed runs, records of about 1.5 KB like a real SmolLM2 run's, judge ratings for the kept
ones. Printed: the full export, an export with nothing new, the export of one more round
appended to the journal against a full rebuild of the same grown journal (the ratio), the
time of the view's queries, and of its pages as Datasette renders them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from wizardlite.records import content_hash
from wizardlite.view.database import export
from wizardlite.view.queries import (
    ELIMINATED_BY_REASON,
    KEPT_PER_OPERATION_AND_ROUND,
    LINEAGE,
    MOST_EVOLVED_LINEAGES,
)

OPERATIONS = ["constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth"]
OUTCOMES = [("kept", "", 0.40), ("duplicate", "duplicate", 0.35), ("eliminated", "no_gain", 0.16),
            ("eliminated", "sorry_short", 0.06), ("eliminated", "truncated", 0.02), ("eliminated", "copied_prompt", 0.01)]
WORDS = ("the a of to and in for with that on by as each list explain write describe give three steps example data "
         "model answer short reason table code python function river city history energy plan budget email poem "
         "summary compare contrast why how what which when must include exactly words between constraint").split()


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def record(rng: random.Random, parent: dict[str, Any] | None, rnd: int, i: int) -> dict[str, Any]:
    instruction = text(rng, rng.randint(15, 60))
    if parent is None:
        rid = content_hash(None, 0, "seed", f"{i}:{instruction}")
        return {"id": rid, "parent_id": None, "root_id": rid, "round": 0, "operation": "seed",
                "instruction": instruction, "response": text(rng, rng.randint(20, 120)), "status": "seed",
                "reason": "", "duplicate_of": None, "evolver": {}, "answerer": {}, "generation": {}, "timings": {},
                "tokens": {}, "scores": {}, "meta": {"source": "synthetic.jsonl", "line": i + 1}}
    op = rng.choice(OPERATIONS)
    status, reason, _ = rng.choices(OUTCOMES, weights=[w for *_, w in OUTCOMES])[0]
    sampling = {"temperature": 0.7, "top_p": 0.95, "top_k": 40, "repeat_penalty": 1.1, "max_tokens": 256}
    model = {"name": "smollm2-q8_0", "sha256": "0" * 64, "backend": "llamacpp"}
    return {"id": content_hash(parent["id"], rnd, op, instruction), "parent_id": parent["id"],
            "root_id": parent["root_id"], "round": rnd, "operation": op, "instruction": instruction,
            "response": text(rng, rng.randint(40, 110)), "status": status, "reason": reason,
            "duplicate_of": parent["root_id"] if status == "duplicate" else None, "evolver": model, "answerer": model,
            "generation": {"evolve_seed": rng.getrandbits(31), "evolve_sampling": sampling, "evolve_finish": "stop",
                           "raw_evolved": instruction, "answer_seed": rng.getrandbits(31), "answer_sampling": sampling,
                           "answer_finish": "stop", "equality_reply": "Not Equal", "equality": False},
            "timings": {"evolve_s": 1.2, "answer_s": 3.4, "equality_s": 0.3},
            "tokens": {"prompt": 250, "completion": 180}, "scores": {"max_similarity": round(rng.random(), 4)}, "meta": {}}


def write_rounds(run: Path, heads: list[dict[str, Any]], rounds: range, rng: random.Random) -> None:
    with open(run / "records.jsonl", "a") as rec, open(run / "scores.jsonl", "a") as sc:
        for rnd in rounds:
            for k, parent in enumerate(heads):
                child = record(rng, parent, rnd, k)
                rec.write(json.dumps(child) + "\n")
                if child["status"] == "kept":
                    heads[k] = child
                    sc.write(json.dumps({"id": child["id"], "judge_key": "bench", "judge": {"name": "judge"},
                                        "raw": "7", "difficulty": rng.randint(1, 10), "finish_reason": "stop"}) + "\n")


def timed(fn: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds: on a shared machine the CPU time is what an idle one would take."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=250_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    rng = random.Random(0)
    seeds = args.records // (args.rounds + 1)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        heads = [record(rng, None, 0, i) for i in range(seeds)]
        (run / "records.jsonl").write_text("".join(json.dumps(h) + "\n" for h in heads))
        write_rounds(run, heads, range(1, args.rounds + 1), rng)
        size = (run / "records.jsonl").stat().st_size
        db = run / "run.db"
        full, full_cpu, s = timed(lambda: export(run, db))
        print(f"journal: {s.records_total} records, {size / 1e6:.0f} MB ({size / s.records_total:.0f} B/record); "
              f"{s.scores_added} ratings")
        print(f"full export:              {full:6.1f} s wall, {full_cpu:5.1f} s CPU "
              f"({s.records_total / full_cpu:,.0f} records per CPU second; database {db.stat().st_size / 1e6:.0f} MB)")
        again, again_cpu, _ = timed(lambda: export(run, db))
        print(f"export, nothing new:      {again:6.2f} s wall, {again_cpu:5.2f} s CPU")
        write_rounds(run, heads, range(args.rounds + 1, args.rounds + 2), rng)
        inc, inc_cpu, s = timed(lambda: export(run, db))
        assert not s.rebuilt
        rebuild, rebuild_cpu, _ = timed(lambda: export(run, run / "rebuilt.db"))
        print(f"one more round appended:  {inc:6.1f} s wall, {inc_cpu:5.1f} s CPU for {s.records_added} new records; "
              f"a full rebuild of the same journal {rebuild:.1f} s wall, {rebuild_cpu:.1f} s CPU "
              f"(appending takes {inc_cpu / rebuild_cpu:.0%} of the CPU time)")
        conn = sqlite3.connect(db)
        some = conn.execute("SELECT id FROM records WHERE depth = ? LIMIT 1", (args.rounds,)).fetchone()[0]
        queries = {"facet by reason": "SELECT reason, count(*) FROM records GROUP BY reason",
                   "search 'river budget'": "SELECT count(*) FROM records_fts WHERE records_fts MATCH 'river budget'",
                   "kept per operation and round": KEPT_PER_OPERATION_AND_ROUND,
                   "eliminated by reason": ELIMINATED_BY_REASON,
                   "most-evolved lineages": MOST_EVOLVED_LINEAGES}
        for name, sql in queries.items():
            t, _, out = timed(lambda sql=sql: conn.execute(sql).fetchall())
            print(f"query {name + ':':30} {1000 * t:7.0f} ms" + (f" ({out[0][0]} matches)" if "search" in name else ""))
        t, _, tree = timed(lambda: conn.execute(LINEAGE, {"id": some}).fetchall())
        print(f"query {'lineage of one record:':30} {1000 * t:7.1f} ms ({len(tree)} records in the tree)")
        seed = conn.execute("SELECT root_id FROM records WHERE id = ?", (some,)).fetchone()[0]
        time_pages(db, {"records table, 4 facets": "/run/records",
                        "search 'river budget', 4 facets": "/run/records?_search=river+budget",
                        "a record's page": f"/run/records/{some}", "a seed's tree page": f"/run/records/{seed}",
                        "most-evolved lineages": "/run/most_evolved_lineages"})


def time_pages(db: Path, pages: dict[str, str]) -> None:
    """Each page as Datasette renders it for the browser (in process, no network)."""
    from wizardlite.view.serve import datasette

    ds = datasette(db, "bench")

    async def get(path: str) -> int:
        return (await ds.client.get(path)).status_code

    asyncio.run(get("/"))  # startup
    for name, path in pages.items():
        t, _, status = timed(lambda path=path: asyncio.run(get(path)))
        assert status == 200, (path, status)
        print(f"page {name + ':':31} {1000 * t:7.0f} ms")


if __name__ == "__main__":
    main()
