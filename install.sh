#!/usr/bin/env bash
# Install wizardlite into ./.venv (created if missing). Safe to run again: it only adds what is missing.
#
#   ./install.sh            # CPU machine
#   CMAKE_ARGS="-DGGML_CUDA=on" ./install.sh --gpu   # NVIDIA GPU: CUDA llama.cpp and the Unsloth extra
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
gpu=0
[ "${1:-}" = "--gpu" ] && gpu=1

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip wheel

# torch first, pinned: a bare `torch` requirement can pull a multi-GB CUDA build onto a
# machine without a GPU. Where a CPU build of this version is on local disk, pip takes it.
if [ "$gpu" = 0 ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pip install -q "torch==2.13.0"
fi

# llama-cpp-python compiles from source (about 8 minutes on 2 cores; pip caches the wheel).
if [ "$gpu" = 1 ]; then
  pip install -q -e ".[dev,gpu]"
else
  pip install -q -e ".[dev]"
fi
# llama.cpp's HF -> GGUF converters, taken from the sdist of the llama-cpp-python just installed
# (its vendor/llama.cpp is what the library was compiled from) into .venv/share/wizardlite/.
.venv/bin/python -m wizardlite.gguf.convert install
.venv/bin/wizardlite --help >/dev/null
echo "wizardlite installed in .venv; activate it with: . .venv/bin/activate"
