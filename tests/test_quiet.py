"""The console on a first run: wizardlite's own progress and summary only. llama.cpp's
quantize log and transformers' "Loading weights" bar are hidden, errors still reach the user,
and `wizardlite --verbose` shows everything. Library output is written by C code and by
libraries that keep global switches, so each case runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wizardlite import models
from wizardlite.cli import app
from wizardlite.errors import ModelError
from wizardlite.quiet import VERBOSE_ENV, verbose

REQUANTISE = "from pathlib import Path; import sys; from wizardlite import models; " \
             "print(models.requantized(models.find('smollm2').path, 'q8_0', Path(sys.argv[1])))"
EMBED = "from wizardlite.evolve.dedup import Embedder; print(Embedder('all-MiniLM-L6-v2').encode(['hi']).shape)"


def run_python(code: str, *args: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV} | ({VERBOSE_ENV: "1"} if verbose else {})
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_requantising_the_embedded_model_prints_nothing_unless_verbose(tmp_path: Path):
    quiet = run_python(REQUANTISE, str(tmp_path / "quiet"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout.strip().endswith(".Q8_0.gguf")
    loud = run_python(REQUANTISE, str(tmp_path / "loud"), verbose=True)
    assert loud.returncode == 0 and "converting to q8_0" in loud.stderr and loud.stderr.count("\n") > 200


@pytest.mark.slow
def test_loading_the_embedding_model_shows_no_progress_bar_unless_verbose():
    quiet = run_python(EMBED)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "(1, 384)", quiet.stderr
    assert "Loading weights" not in quiet.stderr
    assert "Loading weights" in run_python(EMBED, verbose=True).stderr


def test_a_failed_quantisation_still_says_why(tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 2048)  # a header that promises the impossible
    with pytest.raises(ModelError, match=r"could not .*quantise .*\(llama\.cpp: .+\)"):
        models.requantized(bad, "q8_0", tmp_path / "models")


def test_verbose_flag(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    assert not verbose()
    res = CliRunner().invoke(app, ["--verbose", "models"])
    assert res.exit_code == 0, res.output
    assert verbose()
    monkeypatch.delenv(VERBOSE_ENV)


HUB_WARNING = ("import logging, sys; from typer.testing import CliRunner; from wizardlite.cli import app; "
               "logging.basicConfig(stream=sys.stdout); "
               "assert CliRunner().invoke(app, sys.argv[1:] + ['constraints']).exit_code == 0; "
               "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('Failed to load CPU gemm_4bit_forward')")


@pytest.mark.parametrize("loud", [False, True])
def test_bitsandbytes_hub_kernel_warning_is_hidden_in_every_command_unless_verbose(loud: bool):
    # bitsandbytes logs it when transformers imports it: under sentence-transformers in evolve,
    # not only under the trainer; offline the kernel can never be fetched and its fallback is used
    res = run_python(HUB_WARNING, *(["--verbose"] if loud else []))
    assert res.returncode == 0, res.stderr
    assert ("gemm_4bit_forward" in res.stdout) is loud
