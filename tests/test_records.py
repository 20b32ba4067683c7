import json

from wizardlite.io import Journal, ReadReport
from wizardlite.records import Record, derived_seed, local_rng, read_records, record_id


def test_ids_are_content_hashes_of_parent_and_content():
    a = record_id("p1", 1, "deepen", "Explain tides.")
    assert a == record_id("p1", 1, "deepen", "Explain tides.  ")  # surrounding space is not content
    assert a != record_id("p2", 1, "deepen", "Explain tides.")
    assert a != record_id("p1", 2, "deepen", "Explain tides.")
    assert a != record_id("p1", 1, "deepen", "Explain the tides.")
    assert len(a) == 16


def test_local_rng_depends_only_on_its_keys():
    assert local_rng(1, "x", 2).random() == local_rng(1, "x", 2).random()
    assert local_rng(1, "x", 2).random() != local_rng(2, "x", 2).random()
    assert derived_seed(1, "a") == derived_seed(1, "a") != derived_seed(1, "b")
    assert 0 <= derived_seed(5, "z") < 2**31


def test_record_round_trip_and_unknown_fields(tmp_path):
    r = Record(id="a", parent_id=None, root_id="a", round=0, operation="seed", instruction="hi")
    assert Record.from_dict(r.to_dict()) == r
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps(r.to_dict()) + "\n" + json.dumps({**r.to_dict(), "bogus": 1}) + "\n{not json\n")
    rep = ReadReport(str(p))
    assert read_records(p, rep) == [r]
    assert sorted(n for n, _ in rep.skipped) == [2, 3]


def test_journal_cuts_a_torn_last_line_and_keeps_the_rest(tmp_path):
    p = tmp_path / "j.jsonl"
    j = Journal(p)
    j.append([{"n": 1}, {"n": 2}])
    with open(p, "a") as f:
        f.write('{"n": 3, "half')  # the process died mid-write
    j2 = Journal(p)
    assert j2.read() == [{"n": 1}, {"n": 2}]
    j2.append([{"n": 3}])
    assert [r["n"] for r in Journal(p).read()] == [1, 2, 3]
