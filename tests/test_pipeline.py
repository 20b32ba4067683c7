"""Paper scale: the near-duplicate index (SimHash candidates, exact cosines), its store beside the journal, and the
streaming pipeline's fixed journal order under backends that finish out of order."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from wizardlite.backends.base import Feed, GenRequest, user
from wizardlite.backends.fake import FakeGenerator, _rule_based_reply
from wizardlite.evolve import dedup
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.pipeline import evolve_chunk
from wizardlite.evolve.step import Models
from wizardlite.recipe import DedupConfig, recipe_from_dict
from wizardlite.records import SEED, Record, record_id

ASSETS = Path(__file__).parent / "assets"
TH = 0.9


class TableEmbedder:
    """Returns the vector given for each text, and counts what it was asked to embed."""

    def __init__(self, table):
        self.table, self.calls = table, 0

    def encode(self, texts):  # noqa: ANN001, ANN201
        self.calls += len(texts)
        return np.stack([self.table[t] for t in texts])


def near_threshold_case(n=60, dim=16, seed=0):
    """Texts whose vectors sit just above or just below the threshold from earlier ones."""
    rng = np.random.default_rng(seed)
    table, texts = {}, []
    for i in range(n):
        if i < 8 or i % 3 == 0:
            v = rng.standard_normal(dim)
        else:  # cosine TH +- 1e-4 .. 1e-2 with an earlier vector
            base = table[texts[rng.integers(0, i)]]
            ortho = rng.standard_normal(dim)
            ortho -= ortho @ base * base
            ortho /= np.linalg.norm(ortho)
            c = TH + rng.choice([-1, 1]) * 10 ** rng.uniform(-4, -2)
            v = c * base + np.sqrt(1 - c * c) * ortho
        t = f"text {i}"
        table[t] = (v / np.linalg.norm(v)).astype(np.float32)
        texts.append(t)
    return table, texts


def scan(table, seeds, items):
    """The reference: each item against every kept vector, one at a time, in order."""
    kept = [(i, table[t]) for i, t in seeds]
    out = []
    for rid, t in items:
        sims = [float(v @ table[t]) for _, v in kept]
        j = int(np.argmax(sims)) if sims else -1
        if j >= 0 and sims[j] >= TH:
            out.append(kept[j][0])
        else:
            out.append(None)
            kept.append((rid, table[t]))
    return out


def test_index_decides_as_a_plain_scan_on_near_threshold_pairs(monkeypatch):
    monkeypatch.setattr(dedup, "BLOCK_ROWS", 7)  # several blocks, and a tie-break across them
    table, texts = near_threshold_case()
    seeds, items = [(f"s{i}", t) for i, t in enumerate(texts[:8])], [(f"r{i}", t) for i, t in enumerate(texts[8:])]
    want = scan(table, seeds, items)
    assert 5 < sum(w is not None for w in want) < len(items) - 5  # both outcomes occur
    for batch in (1, 5, len(items)):  # the decisions do not depend on how the records are grouped
        d = Deduper(DedupConfig(threshold=TH, exact=False), embedder=TableEmbedder(table))
        d.add(seeds)
        got = []
        for k in range(0, len(items), batch):
            got += [dup for dup, _ in d.check(items[k : k + batch])]
        assert got == want, batch


def test_stored_vectors_are_read_back_and_rows_past_the_journal_cut(tmp_path):
    table, texts = near_threshold_case(20)
    items = [(f"r{i}", t) for i, t in enumerate(texts)]
    emb = TableEmbedder(table)
    d = Deduper(DedupConfig(threshold=TH, exact=False), embedder=emb, store=tmp_path / "idx")
    d.add(items[:4])
    decided = d.check(items[4:])
    members = d.index.ids
    # a resume whose journal lost the last two members: their rows go, the rest are not embedded again
    emb2 = TableEmbedder(table)
    r = Deduper(DedupConfig(threshold=TH, exact=False), embedder=emb2, store=tmp_path / "idx")
    r.add([(i, t) for i, t in items if i in members[:-2]])
    assert r.index.ids == members[:-2] and emb2.calls == 1  # one probe for the vector size
    assert np.array_equal(r.index.vectors, d.index.vectors[:-2])
    assert (tmp_path / "idx.ids").read_text().splitlines()[1:] == members[:-2]
    # a store made with another model is not read back
    other = Deduper(DedupConfig(threshold=TH, exact=False, model="another"), embedder=TableEmbedder(table),
                    store=tmp_path / "idx")
    other.add(items[:4])
    assert other.embedder.calls == 5 and (tmp_path / "idx.ids").read_text().splitlines()[1:] == [i for i, _ in items[:4]]
    assert len(decided) == 16


def fake_recipe(tmp_path: Path, **extra):
    data = {"run": {"out": str(tmp_path / "run"), "seed": 11},
            "seeds": {"path": str(ASSETS / "seeds_small.jsonl")},
            "evolver": {"backend": "fake"},
            "evolve": {"rounds": 3, "chunk_size": 4},
            "dedup": {"threshold": 0.8},
            # the fake backend's answers are not about their instructions; test_relevance.py tests the rule
            "eliminate": {"off_topic": False}}
    for k, v in extra.items():
        data.setdefault(k, {}).update(v)
    return recipe_from_dict(data)


def seed(text: str) -> Record:
    rid = record_id(None, 0, "seed", text)
    return Record(id=rid, parent_id=None, root_id=rid, round=0, operation="seed", instruction=text, status=SEED)


@pytest.mark.parametrize("two_models", [False, True])
def test_out_of_order_backends_give_the_same_records_in_the_same_order(two_models, bow_embedder):
    words = "rivers tides volcanoes glaciers deserts forests comets atoms cells magnets lenses gears".split()
    seeds = [seed(f"Explain {a} and {b} to a student.") for a in words for b in words[:2] if a != b]
    recipe = recipe_from_dict({"run": {"seed": 4}, "dedup": {"threshold": 0.8}})

    def chunk(capacity, shuffle):
        ev = FakeGenerator(_rule_based_reply, capacity=capacity, shuffle=shuffle)
        an = FakeGenerator(_rule_based_reply, capacity=capacity, shuffle=shuffle) if two_models else ev
        d = Deduper(recipe.dedup, embedder=bow_embedder)
        d.add([(s.id, s.instruction) for s in seeds])
        out = evolve_chunk(seeds, 1, recipe, Models(ev, an, ev.info.as_dict(), an.info.as_dict()), d)
        order = [r.task for r in ev.requests]
        return [(r.id, r.status, r.reason, r.response, r.scores) for r in out], order

    ref, ref_order = chunk(1, None)
    for shuffle in (1, 2, 3):
        got, order = chunk(5, shuffle)
        assert got == ref and order != ref_order  # another order of work, the same records
    assert {s for _, s, _, _, _ in ref} == {"kept", "eliminated", "duplicate"}


def test_feed_takes_requests_put_while_the_backend_works():
    gen = FakeGenerator(lambda r: r.messages[-1]["content"].upper(), capacity=3, shuffle=0)
    feed = Feed([GenRequest(user(f"q{i}")) for i in range(3)])
    seen = {}

    def on_result(i, res):
        seen[i] = res.text
        if len(feed) < 9:
            feed.put([GenRequest(user(f"more{len(feed)}"))])
        elif len(seen) == 9:
            feed.close()

    gen.serve(feed, on_result)
    assert seen == {i: (f"Q{i}" if i < 3 else f"MORE{i}") for i in range(9)}


def test_resume_with_near_dedup_reads_the_stored_index(tmp_path, monkeypatch, bow_embedder):
    from wizardlite.evolve import pipeline, run

    monkeypatch.setattr(dedup, "Embedder", lambda *a, **k: bow_embedder)
    whole = run(fake_recipe(tmp_path / "a"))

    calls = {"n": 0}
    real = pipeline.check_records

    def dies(records, *args):  # the process dies after the 3rd journal write
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real(records, *args)

    monkeypatch.setattr(pipeline, "check_records", dies)
    with pytest.raises(KeyboardInterrupt):
        run(fake_recipe(tmp_path / "b"))
    monkeypatch.setattr(pipeline, "check_records", real)
    part = (tmp_path / "b/run/records.jsonl").read_text().splitlines()
    assert 6 < len(part) < 6 + 18
    resumed = run(fake_recipe(tmp_path / "b"))

    def rows(out):
        return [json.loads(x) | {"timings": {}} for x in (out / "records.jsonl").read_text().splitlines()]

    assert rows(resumed) == rows(whole)
    assert {"kept", "duplicate"} <= {r["status"] for r in rows(whole)}
    ids = (resumed / "dedup_index.ids").read_text().splitlines()[1:]
    assert ids == [r["id"] for r in rows(whole) if r["status"] in ("seed", "kept")]

    # the killed run's journal alone, in another folder (another machine: `just prove` publishes
    # no vectors): the index is embedded again and the run ends as the uninterrupted one
    (tmp_path / "c/run").mkdir(parents=True)
    (tmp_path / "c/run/records.jsonl").write_text("".join(x + "\n" for x in part))
    for name in ("runlog.jsonl", "recipe.resolved.json"):
        shutil.copyfile(tmp_path / "b/run" / name, tmp_path / "c/run" / name)
    assert rows(run(fake_recipe(tmp_path / "c"))) == rows(whole)


def test_simhash_index_finds_every_row_above_its_floor_with_the_exact_cosine():
    """384-d vectors with neighbours planted at cosines from 0.70 to 0.99: for every query whose
    exact best is at the index's floor or above, the index returns that cosine and that row;
    below the floor, what it returns is a real cosine no higher than the exact best."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3000, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    src = rng.integers(0, len(base), 600)
    cos = rng.uniform(0.70, 0.99, 600).astype(np.float32)[:, None]
    ortho = rng.standard_normal((600, 384)).astype(np.float32)
    ortho -= (ortho * base[src]).sum(1, keepdims=True) * base[src]
    ortho /= np.linalg.norm(ortho, axis=1, keepdims=True)
    queries = np.vstack([cos * base[src] + np.sqrt(1 - cos**2) * ortho, base[:50] + 0.0]).astype(np.float32)
    index = dedup.VectorIndex(floor=0.82)
    index.add([str(i) for i in range(len(base))], base)
    got, where = index.best(queries)
    sims = queries @ base.T
    want, want_row = sims.max(1), sims.argmax(1)
    above = want >= 0.82
    assert 250 < above.sum() < len(queries) - 100  # both sides of the floor occur
    assert np.allclose(got[above], want[above], atol=1e-5) and (where[above] == want_row[above]).all()
    found = where >= 0
    assert np.allclose(got[found], sims[found, where[found]], atol=1e-5) and (got[~above] <= want[~above] + 1e-5).all()


def test_hamming_radius_covers_pairs_at_the_floor():
    """The radius is where the codes of a pair at the floor cosine land, but for a ~7-sigma chance:
    20,000 such pairs all fall inside it, and unrelated pairs (cosine ~0) almost all fall outside."""
    rng = np.random.default_rng(5)
    index = dedup.VectorIndex(floor=0.82)
    a = rng.standard_normal((20000, 384)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    o = rng.standard_normal((20000, 384)).astype(np.float32)
    o -= (o * a).sum(1, keepdims=True) * a
    o /= np.linalg.norm(o, axis=1, keepdims=True)
    b = 0.82 * a + np.sqrt(1 - 0.82**2) * o
    ham = np.unpackbits(index._code(a) ^ index._code(b), axis=1).sum(1)
    assert ham.max() <= index.radius < index.bits
    far = np.unpackbits(index._code(a) ^ index._code(o), axis=1).sum(1)
    assert (far <= index.radius).mean() < 1e-3
    assert dedup.hamming_radius(1.0, 256) == 0 and dedup.hamming_radius(-1.0, 256) == 256
