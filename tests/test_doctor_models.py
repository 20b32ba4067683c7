"""`wizardlite doctor` and the model registry: they must report, never crash."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from wizardlite import models
from wizardlite.cli import app
from wizardlite.errors import ModelError
from wizardlite.tools import doctor

KEYS = {"evolver.parallel", "evolver.n_threads", "evolver.n_gpu_layers", "finetune.engine"}


def render() -> str:
    buf = io.StringIO()
    doctor.report(Console(file=buf, width=200, color_system=None))
    return buf.getvalue()


def test_doctor_prints_the_table_and_suggestions():
    out = render()
    for line in ("python", "cpu", "ram", "gpu", "llama-cpp-python", "torch", "unsloth",
                 "sentence-transformers", "suggested settings"):
        assert line in out
    for key in KEYS:
        assert key in out
    assert "Traceback" not in out


def test_suggested_settings_keys_and_ranges():
    s = doctor.suggested_settings()
    assert set(s) == KEYS
    assert isinstance(s["evolver.parallel"], int) and s["evolver.parallel"] >= 1
    assert isinstance(s["evolver.n_threads"], int) and s["evolver.n_threads"] >= 1
    assert s["evolver.n_gpu_layers"] in (0, -1)
    assert s["finetune.engine"] in ("cpu", "unsloth")


def test_suggested_settings_follow_the_hardware():
    cpu = doctor.Hardware(physical_cores=8, logical_cores=16, ram_gb=32)
    assert doctor.suggested_settings(cpu) == {"evolver.parallel": 8, "evolver.n_threads": 8,
                                             "evolver.n_gpu_layers": 0, "finetune.engine": "cpu"}
    gpu = doctor.Hardware(physical_cores=16, logical_cores=32, ram_gb=128, cuda_gpus=(("H100", 80.0),),
                          llama_gpu_offload=True, unsloth_installed=True)
    s = doctor.suggested_settings(gpu)
    assert s["evolver.n_gpu_layers"] == -1 and s["finetune.engine"] == "unsloth"
    assert s["evolver.parallel"] > doctor.suggested_settings(cpu)["evolver.parallel"]
    # A CPU-only llama.cpp build cannot offload, whatever GPU the machine has.
    cpu_build = doctor.Hardware(physical_cores=16, logical_cores=32, ram_gb=128, cuda_gpus=(("H100", 80.0),))
    assert doctor.suggested_settings(cpu_build)["evolver.n_gpu_layers"] == 0


def test_a_failing_check_becomes_a_line(monkeypatch):
    def boom() -> list[doctor.Check]:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(doctor, "_model_checks", boom)
    out = render()
    assert "check failed: RuntimeError: driver exploded" in out


def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(doctor, "dist_version", lambda dist: None)
    check = doctor._package_check("sentence_transformers", "sentence-transformers", "pip install sentence-transformers")
    assert check.status == doctor.MISSING and "pip install sentence-transformers" in check.detail
    hw = doctor.Hardware(physical_cores=2, logical_cores=2, ram_gb=4)
    assert "pip install llama-cpp-python" in doctor._llama_check(hw).detail
    assert "needs an NVIDIA GPU" in doctor._unsloth_check(hw).detail


# ---------------------------------------------------------------------------- models


def test_resolve_finds_the_embedded_gguf():
    try:
        path = models.resolve("smollm2")
    except ModelError as e:
        pytest.skip(f"embedded model not installed: {e}")
    assert path.suffix == ".gguf" and path.is_file()
    assert path.read_bytes()[:4] == models.GGUF_MAGIC
    assert models.resolve("SmolLM2") == path  # names are case-insensitive
    assert models.resolve(str(path)) == path  # a path resolves to itself


def test_corrupt_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 4096)
    with pytest.raises(ModelError, match=r"not a GGUF file .*re-download or convert"):
        models.resolve(str(bad))
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF" + b"\x00" * 10)
    with pytest.raises(ModelError, match="truncated"):
        models.resolve(str(short))


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(ModelError, match=r"no GGUF at .*missing\.gguf: .*--model PATH"):
        models.resolve(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="no model at"):
        models.resolve(str(tmp_path / "nothing-here"), kind="embedding")
    with pytest.raises(ModelError, match=r"unknown model 'nosuchmodel'.*smollm2"):
        models.resolve("nosuchmodel", models_dir=tmp_path)


def test_manifest_entries_are_listed(tmp_path):
    (tmp_path / "manifest.toml").write_text('[models.tiny]\npath = "tiny.gguf"\nkind = "gguf"\n')
    (tmp_path / "stray.gguf").write_bytes(b"GGUF" + b"\x00" * 2048)
    names = {e.name: e for e in models.available(tmp_path)}
    assert names["tiny"].path == tmp_path / "tiny.gguf"
    assert "stray" in names
    with pytest.raises(ModelError, match="no GGUF at"):
        models.resolve("tiny", models_dir=tmp_path)  # listed, but the file is not there


# ---------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("command", ["models", "doctor"])
def test_cli_commands_exit_zero(command: str, monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)  # no models/ folder here: the embedded ones must still list
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 0, result.output
    assert "smollm2" in result.output


def test_requantising_to_an_unknown_type_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="q8_0"):
        models.requantized(tmp_path / "x.gguf", "q3_xs", tmp_path)


@pytest.mark.slow
def test_derived_q8_0_is_built_once_and_loads(tmp_path):
    pytest.importorskip("llama_cpp")
    import gguf

    from wizardlite.backends import GenRequest, Sampling, user
    from wizardlite.backends.llamacpp import LlamaCppGenerator
    from wizardlite.recipe import BackendConfig

    path = models.resolve("smollm2-q8_0", models_dir=tmp_path)
    assert path.parent == tmp_path / "cache" and path.name.endswith(".Q8_0.gguf")
    types = {t.tensor_type.name for t in gguf.GGUFReader(path).tensors}
    assert "Q8_0" in types and "Q4_1" not in types
    stamp = path.stat().st_mtime_ns
    assert models.resolve("smollm2-q8_0", models_dir=tmp_path) == path and path.stat().st_mtime_ns == stamp
    assert not list((tmp_path / "cache").glob(".*.tmp"))
    with LlamaCppGenerator(BackendConfig(model=str(path), parallel=2, n_ctx=256, n_threads=1)) as gen:
        out = gen.generate([GenRequest(user("Name a colour."), Sampling(temperature=0, max_tokens=8))])
    assert out[0].text.strip() and out[0].completion_tokens > 0
