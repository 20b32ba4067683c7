"""Kill a real `wizardlite evolve` process (SIGKILL) at several points, run the same command
again, and check that the final files equal those of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ASSETS = Path(__file__).parent / "assets"
SEEDS = 6
ROUNDS = 3


def write_recipe(path: Path, out: Path, delay: float, extra: str = "") -> Path:
    path.write_text(f"""
[run]
seed = 5
out = "{out}"
[seeds]
path = "{ASSETS / 'seeds_small.jsonl'}"
[evolver]
backend = "fake"
fake_delay_s = {delay}
[evolve]
rounds = {ROUNDS}
chunk_size = 2
[dedup]
near = false
{extra}""")
    return path


def evolve(recipe: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "wizardlite", "evolve", "--recipe", str(recipe)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def final_state(out: Path) -> tuple[str, list[tuple]]:
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), "a record was written twice"
    keyed = sorted((r["id"], r["parent_id"], r["status"], r["reason"], r["instruction"], r["response"]) for r in recs)
    return (out / "data" / "train.jsonl").read_text(), keyed


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    p = evolve(write_recipe(tmp / "r.toml", tmp / "run", 0.0))
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    return final_state(tmp / "run")


@pytest.mark.parametrize("kill_at", [1, 8, SEEDS * ROUNDS])  # evolved records in the journal when killed
def test_kill_9_then_resume_gives_the_uninterrupted_result(tmp_path, reference, kill_at):
    out = tmp_path / "run"
    recipe = write_recipe(tmp_path / "r.toml", out, 0.03)
    p = evolve(recipe)
    deadline = time.time() + 120
    while lines(out / "records.jsonl") < SEEDS + kill_at and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert p.poll() is None, "the run finished before it could be killed; raise fake_delay_s"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (out / "data" / "train.jsonl").exists() or kill_at == SEEDS * ROUNDS
    q = evolve(recipe)
    assert q.wait(timeout=120) == 0, q.stderr.read().decode()
    assert final_state(out) == reference


VERIFIED = """
[verify]
k = 3
[evolve.operations]
verifiable_constraints = 2
deepen = 1
"""


def test_kill_9_mid_resampling_then_resume_gives_the_uninterrupted_result(tmp_path):
    """Constrained answers are resampled k times; a kill while attempts are out loses only
    unjournaled work, and the resumed run makes the same records."""
    ref = tmp_path / "ref"
    p = evolve(write_recipe(tmp_path / "ref.toml", ref, 0.0, VERIFIED))
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    out = tmp_path / "run"
    recipe = write_recipe(tmp_path / "r.toml", out, 0.02, VERIFIED)
    p = evolve(recipe)
    deadline = time.time() + 120
    while lines(out / "records.jsonl") < SEEDS + 5 and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert p.poll() is None, "the run finished before it could be killed; raise fake_delay_s"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    q = evolve(recipe)
    assert q.wait(timeout=120) == 0, q.stderr.read().decode()
    assert final_state(out) == final_state(ref)
    constrained = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines() if '"phrases"' in x]
    assert constrained, "the recipe made no constrained record: the test tests nothing"
