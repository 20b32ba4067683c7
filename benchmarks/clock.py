"""Wall time per step of a long experiment, summed over sessions and kept when a session ends
in the middle of a step: the running step's time is written every few seconds, not only at its
end, so that a time-left estimate made from it counts what a resumed step really took.

    clock = StepClock(work / "steps.json")
    with clock.timing("shipped/finetune"):
        ...                                   # its seconds so far land in steps.json as it runs
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wizardlite.io import atomic_write_text


class StepClock:
    def __init__(self, path: Path, every_s: float = 30.0):
        self.path, self.every_s = path, every_s

    def read(self) -> dict[str, float]:
        return json.loads(self.path.read_text()) if self.path.is_file() else {}

    def _write(self, key: str, seconds: float) -> None:
        t = self.read()  # read just before writing: another driver may have written its own steps
        t[key] = round(seconds, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(t, indent=2) + "\n")

    @contextmanager
    def timing(self, key: str) -> Iterator[None]:
        """Add the wall time of the block to `key`, written as it runs and once more at its end."""
        before, t0 = self.read().get(key, 0.0), time.monotonic()
        with every(self.every_s, lambda: self._write(key, before + time.monotonic() - t0)):
            yield


@contextmanager
def every(seconds: float, fn: Callable[[], None]) -> Iterator[None]:
    """Call `fn` every `seconds` in a thread while the block runs, and once more when it ends."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(seconds):
            fn()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        fn()
