# wizardlite tasks. Everything runs inside ./.venv (made by ./install.sh).
#   just evolve && just finetune     the whole workflow on the embedded defaults
#   just test                        every test (what CI runs)

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")
recipe := "recipes/default.toml"
ifeval := "recipes/testsets/ifeval_input_data.jsonl"

# list the tasks
default:
    @just --list

# install into ./.venv
install:
    ./install.sh

# evolve the seeds of a recipe (extra flags go to `wizardlite evolve`)
evolve *ARGS:
    wizardlite evolve --recipe {{recipe}} {{ARGS}}

# fine-tune on the last evolve run of the recipe
finetune *ARGS:
    wizardlite finetune --recipe {{recipe}} {{ARGS}}

# difficulty scores and base-vs-tuned comparison on the last runs
judge *ARGS:
    wizardlite judge --recipe {{recipe}} {{ARGS}}

# IFEval, no judge: the recipe's fine-tuned GGUF vs the embedded base, paired, on the shipped 541 prompts (`just ifeval=PATH eval`: another file)
eval *ARGS:
    HF_HUB_OFFLINE=1 wizardlite eval --recipe {{recipe}} --data {{ifeval}} --against smollm2-q8_0 {{ARGS}}

# every test, the slow ones on real models included (pytest's "no tests" is a failure)
test *ARGS:
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 pytest -q {{ARGS}}

# the fast tests only (scripted fake model, no llama.cpp, no training)
test-fast *ARGS:
    HF_HUB_OFFLINE=1 pytest -q -m "not slow" {{ARGS}}

# generation throughput: sequential vs batched llama.cpp, prefix reuse
bench *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/bench_generate.py {{ARGS}}

# fine-tuning throughput: wizardlite's CPU engine vs a plain PyTorch+PEFT loop
bench-finetune *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/bench_finetune.py {{ARGS}}

# the wheels `gpu-check` needs on a CUDA machine without a registry, in pieces of at most 60 MiB (needs PyPI)
gpu-wheels DIR *ARGS:
    python benchmarks/gpu_wheels.py {{DIR}} {{ARGS}}

# one GPU: Unsloth QLoRA vs the qlora engine, tokens/s, peak VRAM, loss, export + parity (`--dry-run`: no GPU)
gpu-check *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/gpu_check.py {{ARGS}}

# IFEval on the embedded model (541 prompts, resumable), verdicts cross-checked with the reference scorer
bench-ifeval *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/bench_ifeval.py --data {{ifeval}} {{ARGS}}

# does verified evolution help? base / seeds / paper / verified / equal-size arms on IFEval (hours; resumable)
bench-ifeval-gain *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/ifeval_gain.py {{ARGS}}

# the ifeval_gain models on IFEval's constraint types asked in the training data's own words
bench-constraint-probe *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/constraint_probe.py {{ARGS}}

# paper scale: near-dup index at 250k, MiniLM sentences/s, a 52k-seed fake evolve, http client req/s
bench-scale *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/bench_scale.py {{ARGS}}

# ruff, mypy, and the import rule (core <- backends <- stages <- cli; stages never import each other)
lint:
    ruff check wizardlite tests benchmarks
    mypy wizardlite
    lint-imports

models:
    wizardlite models

doctor:
    wizardlite doctor

# the proof: the shipped recipe, pre-registered (benchmarks/proof/PROTOCOL.md), on T1-T3 (days; resumable)
prove *ARGS:
    HF_HUB_OFFLINE=1 python benchmarks/proof/prove.py {{ARGS}}
