"""What reaches the terminal: wizardlite's own progress bars, lines and summaries.

The libraries' own output is hidden: llama.cpp's log (about 300 lines for a Q8_0 requantisation,
more for each model load) and transformers' progress bars ("Loading weights", "Writing model
shards"), which would break into wizardlite's progress display. Their errors still reach the
user: llama.cpp's last error lines are kept and quoted in the one-line error wizardlite raises,
and a library that fails raises as before. `wizardlite --verbose` (or WIZARDLITE_VERBOSE=1)
shows everything.

Run as: wizardlite --verbose evolve ...
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

VERBOSE_ENV = "WIZARDLITE_VERBOSE"  # `wizardlite --verbose` sets it; set it yourself when calling the library

GGML_LOG_ERROR, GGML_LOG_CONT = 4, 5  # ggml.h's enum ggml_log_level
llama_errors: list[str] = []  # llama.cpp's last error lines, for the message when a load or quantisation fails
_llama_callback: Any = None  # kept referenced: llama.cpp calls it from C


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def set_verbose() -> None:
    os.environ[VERBOSE_ENV] = "1"


# Loggers whose warnings are about something wizardlite handles: bitsandbytes' CPU backend, on CPUs
# with AVX512-BF16, tries to fetch a kernel from the Hugging Face Hub when it is imported (by
# transformers, under sentence-transformers in evolve as under the trainer) and warns when it cannot:
# offline it never can, and its own fallback kernels are the ones used.
HANDLED_LOGGERS = ("bitsandbytes.backends.cpu.ops", "kernels")


def quiet_handled_loggers() -> None:
    """Silence HANDLED_LOGGERS below errors (not with --verbose)."""
    import logging

    if not verbose():
        for name in HANDLED_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def route_llama_logs(lc: Any, show: bool = False) -> None:
    """Send llama.cpp's log (ggml's included) nowhere, keeping its last error lines in
    `llama_errors`; to stderr as well with `show` or --verbose. `lc` is the llama_cpp module.

    Our own callback rather than llama-cpp-python's logger level: its level table predates
    ggml's current numbering (ggml.h: 1 debug, 2 info, 3 warn, 4 error, 5 continued), so at
    level ERROR it prints llama.cpp's warnings and hides its errors."""
    global _llama_callback
    last = [0]

    @lc.llama_log_callback
    def callback(level: int, text: bytes, _user: Any) -> None:
        line = text.decode("utf-8", errors="replace")
        level = last[0] if level == GGML_LOG_CONT else level
        last[0] = level
        if level == GGML_LOG_ERROR and line.strip():
            llama_errors.append(line.strip())
            del llama_errors[:-5]
        if show or verbose():
            print(line, end="", flush=True, file=sys.stderr)

    _llama_callback = callback
    lc.llama_log_set(callback, ctypes.c_void_p(0))


def llama_said() -> str:
    """" (llama.cpp: <its last error line>)", or "" when it logged no error."""
    return f" (llama.cpp: {llama_errors[-1]})" if llama_errors else ""


@contextmanager
def library_bars_off() -> Iterator[None]:
    """transformers' (and huggingface_hub's) progress bars off inside the block, unless --verbose."""
    if verbose():
        yield
        return
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
