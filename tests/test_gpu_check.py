"""The prepared GPU run (benchmarks/gpu_check.py, benchmarks/gpu_wheels.py) without a GPU: pieces
of at most the limit that join back byte for byte, a manifest that catches an altered or missing
part, the trimmed wheels (and their RECORD), which pins travel, and `--dry-run` end to end on a
folder of small stand-in wheels, as CI runs it.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_check  # noqa: E402
import gpu_wheels  # noqa: E402

KiB = 1024


def fake_wheel(folder: Path, name: str, version: str = "0.0.1", files: dict[str, bytes] | None = None,
               requires: tuple[str, ...] = ()) -> Path:
    """A small installable wheel; its module is fake_<name>, so it never hides a real package."""
    dist = name.replace("-", "_")
    files = files or {f"fake_{dist}/__init__.py": b"VALUE = 1\n"}
    info = f"{dist}-{version}.dist-info"
    meta = "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                      *(f"Requires-Dist: {r}" for r in requires)]) + "\n"
    members = files | {f"{info}/METADATA": meta.encode(),
                       f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
        z.writestr(f"{info}/RECORD", "".join(f"{n},,\n" for n in members) + f"{info}/RECORD,,\n")
    return path


def fake_converter(folder: Path) -> Path:
    path = folder / "converter-llama.cpp-9.9.9.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"print('convert')\n"
        info = tarfile.TarInfo("llama.cpp-9.9.9/convert_hf_to_gguf.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_pieces_stay_under_the_limit_and_join_back(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    sizes = {"big.whl": 700 * KiB, "mid.whl": 200 * KiB, "a.whl": 90 * KiB, "b.whl": 30 * KiB}
    files = []
    for i, (n, size) in enumerate(sizes.items()):
        (src / n).write_bytes(bytes((i * 7 + k) % 251 for k in range(size)))
        files.append(src / n)
    limit = 256 * KiB + 300 * KiB  # the packer keeps 256 KiB for the manifest
    m = gpu_wheels.pack(files, tmp_path / "out", limit=limit)
    big = next(i for i in m["items"] if i["name"] == "big.whl")
    assert len(big["parts"]) == 3  # 700 KiB in parts of at most 300 KiB
    for piece in m["pieces"]:
        assert sum(p.stat().st_size for p in (tmp_path / "out" / piece).iterdir()) <= limit
        assert (tmp_path / "out" / piece / gpu_wheels.MANIFEST).is_file()  # every piece describes the whole
    assert gpu_wheels.verify(tmp_path / "out") == []
    joined = gpu_wheels.assemble(tmp_path / "out", tmp_path / "joined")
    assert sorted(p.name for p in joined) == sorted(sizes)
    for p in joined:
        assert p.read_bytes() == (src / p.name).read_bytes()


def test_verify_names_an_altered_part_a_missing_piece_and_an_overfull_one(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    files = [src / "x.whl", src / "y.whl"]
    files[0].write_bytes(b"x" * 200 * KiB)
    files[1].write_bytes(b"y" * 200 * KiB)
    out = tmp_path / "out"
    gpu_wheels.pack(files, out, limit=256 * KiB + 250 * KiB)
    assert gpu_wheels.verify(out) == []
    part = out / "piece-01" / "x.whl" if (out / "piece-01" / "x.whl").exists() else out / "piece-01" / "y.whl"
    data = bytearray(part.read_bytes())
    data[10] ^= 1
    part.write_bytes(bytes(data))
    (problem,) = gpu_wheels.verify(out)
    assert f"piece-01/{part.name} does not match its sha256" in problem
    with pytest.raises(SystemExit, match="joined parts do not match the manifest's sha256"):
        gpu_wheels.assemble(out, tmp_path / "joined")
    import shutil

    shutil.rmtree(out / "piece-02")
    assert any(p.startswith("piece-02/ is missing") for p in gpu_wheels.verify(out))
    (out / "piece-01" / "extra.bin").write_bytes(b"z" * 400 * KiB)
    assert any("over the" in p for p in gpu_wheels.verify(out))


def test_trimmed_wheels_drop_what_the_run_does_not_need_and_still_install(tmp_path: Path):
    import subprocess

    unsloth = fake_wheel(tmp_path, "unsloth", files={"unsloth/__init__.py": b"", "studio/app.js": b"x" * 5000,
                                                     "studio/backend/main.py": b""})
    libs = {f"bitsandbytes/libbitsandbytes_{v}.so": b"\0" * 100 for v in ("cpu", "cuda118", "cuda130", "rocm64")}
    bnb = fake_wheel(tmp_path, "bitsandbytes", files={"bitsandbytes/__init__.py": b""} | libs)
    dest = tmp_path / "trimmed"
    dest.mkdir()
    for name, wheel, kept in (("unsloth", unsloth, {"unsloth/__init__.py"}),
                              ("bitsandbytes", bnb, {"bitsandbytes/__init__.py", "bitsandbytes/libbitsandbytes_cpu.so",
                                                     "bitsandbytes/libbitsandbytes_cuda130.so"})):
        out, why = gpu_wheels.trim(name, wheel, dest)
        with zipfile.ZipFile(out) as z:
            names = set(z.namelist())
            record = z.read(next(n for n in names if n.endswith("RECORD"))).decode()
        assert {n for n in names if ".dist-info/" not in n} == kept and why
        assert {ln.split(",")[0] for ln in record.splitlines() if ".dist-info/" not in ln} == kept
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                        str(tmp_path / "site"), str(out)], check=True)
    assert not (tmp_path / "site" / "studio").exists() and (tmp_path / "site" / "unsloth").is_dir()


def test_requirements_are_read_for_the_device_python(tmp_path: Path):
    w = fake_wheel(tmp_path, "pkg", requires=("a>=1", "b; python_version < '3.10'", "c; extra == 'dev'",
                                              "D_e<2; sys_platform == 'linux'", "f; sys_platform == 'win32'"))
    assert gpu_wheels.requirements_of(w) == [("a", ">=1"), ("d-e", "<2")]


def test_which_pins_travel():
    assert not gpu_wheels.needs_carrying("transformers", "==5.17.0")  # the image has exactly it
    assert gpu_wheels.needs_carrying("accelerate", "==1.16.0")  # the image has 1.15.0
    assert gpu_wheels.needs_carrying("peft", "==0.21.2")  # the image's version is not known
    assert gpu_wheels.needs_carrying("trl", "==1.15.0")  # not in the image
    assert not gpu_wheels.needs_carrying("torch", "")


def test_the_stack_it_carries_is_the_projects_pins():
    pins = gpu_wheels.project_pins()
    missing = [n for n in gpu_wheels.STACK if n not in pins]
    assert not missing, f"gpu_wheels.STACK names packages pyproject.toml does not pin: {missing}"
    assert not set(gpu_wheels.SKIP) & set(pins), "a skipped requirement is one the project itself needs"


@pytest.fixture
def wheel_folder(tmp_path: Path) -> Path:
    staged = tmp_path / "staged"
    staged.mkdir()
    files = [fake_wheel(staged, p.rstrip("-").replace("_", "-")) for p in gpu_check.REQUIRED if p != "converter-"]
    files.append(fake_converter(staged))
    gpu_wheels.pack(files, tmp_path / "wheels")
    return tmp_path / "wheels"


def test_dry_run_checks_the_folder_and_plans_both_engines(wheel_folder: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    rc = gpu_check.main(["--wheels", str(wheel_folder), "--dry-run", "--work", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "--engine unsloth --max-steps 60" in out and "--engine qlora --max-steps 60" in out
    assert "| smollm2 | unsloth |" in out and (tmp_path / "work" / "gpu_check.md").is_file()
    assert (tmp_path / "work" / "site" / "fake_trl" / "__init__.py").is_file()  # installed offline
    assert (tmp_path / "work" / "llama.cpp-9.9.9" / "convert_hf_to_gguf.py").is_file()


def test_dry_run_refuses_a_folder_with_a_bad_part(wheel_folder: Path, tmp_path: Path):
    part = next((wheel_folder / "piece-01").glob("trl-*"))
    part.write_bytes(part.read_bytes() + b"!")
    with pytest.raises(SystemExit, match=f"piece-01/{part.name} does not match"):
        gpu_check.main(["--wheels", str(wheel_folder), "--dry-run", "--work", str(tmp_path / "work")])


def test_dry_run_refuses_a_folder_without_unsloth(tmp_path: Path):
    staged = tmp_path / "staged"
    staged.mkdir()
    files = [fake_wheel(staged, n) for n in ("trl", "bitsandbytes")] + [fake_converter(staged)]
    gpu_wheels.pack(files, tmp_path / "wheels")
    with pytest.raises(SystemExit, match="lacks unsloth, unsloth_zoo, datasets"):
        gpu_check.main(["--wheels", str(tmp_path / "wheels"), "--dry-run", "--work", str(tmp_path / "work")])


def test_the_table_reads_the_fine_tunes_json(tmp_path: Path):
    def run(engine: str, tps: float, vram: float, ok: bool = True) -> gpu_check.Run:
        r = gpu_check.Run("smollm2", engine, tmp_path, [], rc=0, seconds=61.0, peak_vram_mib=vram)
        parity = [{"ftype": "f16", "argmax": 0.991, "first_n": 0.88, "ok": True, "causes": []},
                  {"ftype": "q8_0", "argmax": 0.96 if ok else 0.5, "first_n": 0.7, "ok": ok,
                   "causes": [] if ok else ["template: ..."]}]
        r.resolved = {"engine": engine, "results": {"steps": 60, "tokens_per_s": tps, "last_train_loss": 1.2345,
                                                    "eval_loss_after": 1.5, "seconds": {"train_s": 20.0},
                                                    "parity": parity}}
        return r

    runs = [run("unsloth", 9000.0, 1500.0), run("qlora", 4500.0, 3000.0, ok=False)]
    text = gpu_check.table(runs)
    assert "| smollm2 | unsloth | 60 | 9000 | 1500 | 1.2345 | 1.5000 | 0.991 / 0.880 | q8_0: 0.960 / 0.700 |" in text
    assert "q8_0: 0.500 / 0.700 FAIL (template)" in text
    assert gpu_check.ratios(runs) == ["smollm2: Unsloth / qlora tokens/s 2.00x, peak VRAM 0.50x"]
    md = gpu_check.report(runs, {"versions": {"torch": "2.11.0"}, "device": "NVIDIA H100", "torch_cuda": "13.0"},
                          "python benchmarks/gpu_check.py --wheels .whl/gpu-check", dry=False)
    assert md.startswith("# GPU check") and "NVIDIA H100" in md and json.dumps(md)
