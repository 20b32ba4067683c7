"""GGUF export of SmolLM2-135M: wall time and file size per type, as `wizardlite finetune`
writes them (llama.cpp's converter to F16, then llama_model_quantize for the others).

Run as: HF_HUB_OFFLINE=1 python benchmarks/bench_export.py [--out /tmp/bench-export]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from wizardlite.gguf import convert
from wizardlite.gguf.to_hf import base_folder
from wizardlite.report import table_md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="folder for the files (default: a temporary one)")
    args = ap.parse_args()
    folder = base_folder("smollm2")
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-export-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    t = time.perf_counter()
    f16 = convert.convert(folder, out / "model.f16.gguf", name="SmolLM2-135M")
    rows.append(["f16", "convert_hf_to_gguf.py", f"{time.perf_counter() - t:.1f}", f"{f16.stat().st_size / 2**20:.1f}"])
    for qtype in ("q8_0", "q5_k_m", "q4_k_m"):
        t = time.perf_counter()
        path = convert.derive(f16, out / f"model.{qtype}.gguf", qtype)
        rows.append([qtype, "llama_model_quantize (from f16)", f"{time.perf_counter() - t:.1f}",
                     f"{path.stat().st_size / 2**20:.1f}"])
    print(table_md(["type", "by", "seconds", "MiB"], rows))


if __name__ == "__main__":
    main()
