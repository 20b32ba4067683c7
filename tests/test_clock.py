"""benchmarks/clock.py: a step's wall time is on disk while it runs, and adds up over sessions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from clock import StepClock  # noqa: E402


def test_a_running_step_has_its_time_on_disk_and_a_resumed_one_adds_to_it(tmp_path: Path):
    path = tmp_path / "steps.json"
    path.write_text(json.dumps({"a/evolve": 100.0, "b/eval": 7.0}))  # an earlier session's times
    clock = StepClock(path, every_s=0.05)
    with clock.timing("a/evolve"):
        deadline = time.monotonic() + 10
        while clock.read()["a/evolve"] == 100.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        during = clock.read()["a/evolve"]  # what a session cut off here would have kept
        assert 100.0 < during < 111.0
    after = clock.read()
    assert after["a/evolve"] >= during and after["b/eval"] == 7.0  # the other step's time is left as it was


def test_a_step_that_fails_still_counts_its_time(tmp_path: Path):
    clock = StepClock(tmp_path / "steps.json", every_s=60.0)  # no tick inside: only the final write
    with pytest.raises(RuntimeError), clock.timing("x"):
        time.sleep(0.15)
        raise RuntimeError("cut off")
    assert clock.read()["x"] >= 0.1
