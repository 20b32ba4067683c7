"""HF folder -> GGUF through llama.cpp's own converter, of exactly the llama.cpp that loads the file.

Run as: python -m wizardlite.gguf.convert install              (done by ./install.sh)
        python -m wizardlite.gguf.convert MODEL_FOLDER OUT.gguf [f16|q8_0|q4_k_m|q5_k_m]

The converter (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`, their `conversion/` package
and `gguf-py`) is taken at install time from the sdist of the installed llama-cpp-python, whose
`vendor/llama.cpp` is the source the library was compiled from, and put in
`<venv>/share/wizardlite/llama.cpp-<version>/`. It runs in a subprocess, so its own gguf-py
(newer than the `gguf` release our reader uses) never meets ours. Nothing is downloaded at run
time. K-quants are made from the F16 file by llama.cpp's `llama_model_quantize`. Set
WIZARDLITE_CONVERTER to use a converter folder of your own (a llama.cpp checkout).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from wizardlite.errors import ModelError
from wizardlite.models import QUANT_TYPES, quantize, quiet_llama_cpp
from wizardlite.recipe import GGUF_TYPES

# From the sdist's vendor/llama.cpp: the two converters and what they import.
VENDORED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")
STAMP = "wizardlite-vendored.json"
# What to do about the converter's failures that users meet (its message, then ours).
ADVICE = {
    "pre-tokenizer was not recognized": "llama.cpp does not know this tokenizer's pre-tokenizer and will not guess "
                                        "how it splits text; a newer llama-cpp-python may know it",
}


def llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        raise ModelError("llama-cpp-python is not installed: run ./install.sh") from None


def converter_dir(version: str | None = None) -> Path:
    """Where the converter of this llama-cpp-python lives (it may not be there yet)."""
    if override := os.environ.get("WIZARDLITE_CONVERTER"):
        return Path(override)
    return Path(sys.prefix) / "share" / "wizardlite" / f"llama.cpp-{version or llama_cpp_version()}"


def installed_dir() -> Path:
    d = converter_dir()
    if not (d / STAMP).is_file():
        raise ModelError(f"llama.cpp's GGUF converter is not installed at {d}: run ./install.sh "
                         "(or: python -m wizardlite.gguf.convert install)")
    return d


def install(sdist: Path | None = None) -> Path:
    """Put the converter of the installed llama-cpp-python in place; the sdist is fetched from
    PyPI by pip unless given. Does nothing when it is already there."""
    version = llama_cpp_version()
    dest = converter_dir(version)
    if (dest / STAMP).is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        if sdist is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            f"llama-cpp-python=={version}", "-d", tmp], check=True)
            sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        staging = Path(tempfile.mkdtemp(dir=tmp))
        with tarfile.open(sdist) as tar:
            prefix = f"{tar.getnames()[0].split('/')[0]}/vendor/llama.cpp/"
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                       and any(m.name[len(prefix):] == v or (v.endswith("/") and m.name[len(prefix):].startswith(v))
                               for v in VENDORED)]
            if not any(m.name.endswith("convert_hf_to_gguf.py") for m in members):
                raise ModelError(f"{sdist} has no vendor/llama.cpp/convert_hf_to_gguf.py: is it llama-cpp-python's sdist?")
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(staging, members=members, filter="data")
        (staging / STAMP).write_text(json.dumps({"llama_cpp_python": version, "sdist": Path(sdist).name}), encoding="utf-8")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, dest)  # whole or not at all
    return dest


def architectures() -> frozenset[str]:
    """The HF architectures (`config.json` "architectures") the converter turns into GGUF text
    models, read from its table without importing it (which would cost torch's start-up)."""
    tree = ast.parse((installed_dir() / "conversion" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "TEXT_MODEL_MAP" and node.value:
            return frozenset(ast.literal_eval(node.value))
    raise ModelError("llama.cpp's converter has no TEXT_MODEL_MAP: reinstall it with ./install.sh")


def architecture_of(folder: Path) -> str:
    """The architecture the converter will look up for an HF folder (as it does: the first of
    `architectures`, or of the text sub-config's)."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    archs = (cfg.get("text_config") or {}).get("architectures") or cfg.get("architectures") or []
    return str(archs[0]) if archs else cfg.get("model_type", "?")


def check_architecture(folder: Path) -> None:
    arch = architecture_of(folder)
    if arch not in architectures():
        raise ModelError(f"llama.cpp's converter (llama-cpp-python {llama_cpp_version()}) cannot export the "
                         f"architecture '{arch}' of {folder} to GGUF: choose another base, or drop \"gguf\" from "
                         "finetune.export")


def _run(script: str, args: list[str], log: Path | None) -> None:
    """Run one of the converter's scripts; a failure becomes one line with its last error."""
    d = installed_dir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(d / "gguf-py")}
    env.pop("NO_LOCAL_GGUF", None)
    proc = subprocess.run([sys.executable, str(d / script), *args], env=env, capture_output=True, text=True)
    if log is not None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"$ {script} {' '.join(args)}\n{proc.stderr}{proc.stdout}\n")
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1] if lines else "")
        advice = next((f": {a}" for key, a in ADVICE.items() if key in why), "")
        raise ModelError(f"llama.cpp's {script} failed: {why.strip()[:300]}{advice}" + (f" (log: {log})" if log else ""))


def _atomic(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.{os.getpid()}.tmp")


def convert(folder: Path, out: Path, name: str = "", log: Path | None = None) -> Path:
    """An F16 GGUF of an HF model folder (weights, config and tokenizer), written whole or not at all."""
    tmp = _atomic(out)
    try:
        _run("convert_hf_to_gguf.py", [str(folder), "--outfile", str(tmp), "--outtype", "f16",
                                       "--model-name", name or folder.name], log)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def convert_vocab(folder: Path, out: Path, log: Path | None = None) -> Path:
    """Only the tokenizer and metadata: what the converter would write, in seconds."""
    _run("convert_hf_to_gguf.py", [str(folder), "--outfile", str(out), "--vocab-only"], log)
    return out


def convert_lora(adapter: Path, base: Path, out: Path, log: Path | None = None) -> Path:
    """A PEFT adapter folder as a GGUF LoRA (F16) that llama.cpp applies to the base at load time."""
    tmp = _atomic(out)
    try:
        _run("convert_lora_to_gguf.py", [str(adapter), "--base", str(base), "--outfile", str(tmp), "--outtype", "f16"], log)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def check_stop(gguf: Path, token: str) -> None:
    """Raise unless llama.cpp, reading this GGUF, ends a generation at `token`."""
    import llama_cpp as lc

    quiet_llama_cpp()  # the loader's chatter
    params = lc.llama_model_default_params()
    params.vocab_only = True
    model = lc.llama_model_load_from_file(str(gguf).encode(), params)
    if not model:
        raise ModelError(f"llama.cpp cannot read the tokenizer of {gguf}: convert the model again")
    try:
        vocab = lc.llama_model_get_vocab(model)
        text = token.encode()
        ids = (lc.llama_token * 8)()
        n = lc.llama_tokenize(vocab, text, len(text), ids, len(ids), False, True)
        ok = n == 1 and lc.llama_vocab_is_eog(vocab, ids[0])
    finally:
        lc.llama_model_free(model)
    if not ok:
        raise ModelError(f"llama.cpp would not stop at the end-of-turn token {token!r} of {gguf} "
                         f"({'not one token' if n != 1 else 'not an end-of-generation token'}): "
                         "set finetune.chat_template to a template whose turns end with the tokenizer's EOS")


def check_exportable(folder: Path, end_token: str | None) -> None:
    """Fail now, before hours of training, if the base cannot be exported: an architecture the
    converter does not know, a tokenizer it cannot write (it refuses BPE pre-tokenizers it has
    not seen rather than guess), or an end-of-turn token llama.cpp would not stop at."""
    check_architecture(folder)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = convert_vocab(folder, Path(tmp) / "vocab.gguf")
        if end_token:
            check_stop(vocab, end_token)


def derive(f16: Path, out: Path, gguf_type: str) -> Path:
    """`f16` as `gguf_type`: the same file for f16, else quantised by llama.cpp."""
    if gguf_type not in GGUF_TYPES:
        raise ModelError(f"GGUF type '{gguf_type}' is not one of {', '.join(GGUF_TYPES)}")
    if gguf_type == "f16":
        if f16 != out:
            os.replace(f16, out)
        return out
    assert gguf_type in QUANT_TYPES
    return quantize(f16, out, gguf_type)


def export_folder(folder: Path, out: Path, gguf_type: str = "f16") -> Path:
    """One GGUF of `gguf_type` from an HF folder (the command-line entry)."""
    check_architecture(folder)
    if gguf_type == "f16":
        return convert(folder, out)
    f16 = convert(folder, out.with_name(f".{out.stem}.f16.gguf"))
    try:
        return derive(f16, out, gguf_type)
    finally:
        f16.unlink(missing_ok=True)


if __name__ == "__main__":
    try:
        if sys.argv[1:] == ["install"]:
            print(f"llama.cpp's converter: {install()}")
        else:
            print(export_folder(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "f16"))
    except ModelError as e:
        sys.exit(f"error: {e}")
