"""One set of training libraries for every engine: the CPU install and `.[gpu]` pin the same trl,
transformers, peft and datasets, a set that the pinned Unsloth accepts, and that is what is installed.

Unsloth's requirements are read from its installed metadata when it is installed (a GPU machine);
elsewhere from UNSLOTH_REQUIRES below, copied from the METADATA of the wheels the `gpu` extra pins
(`pip download unsloth==2026.10.9 unsloth_zoo==2026.10.9 --no-deps`, Requires-Dist without extras).
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SHARED = ("trl", "transformers", "peft", "datasets", "torch", "accelerate", "bitsandbytes")
UNSLOTH_REQUIRES = {
    ("unsloth", "2026.10.9"): [
        "torch<2.15.0,>=2.4.0", "bitsandbytes!=0.46.0,!=0.48.0,>=0.45.5",
        "datasets!=4.0.*,!=4.1.0,!=4.4.*,!=4.5.0,<5.0.0,>=3.4.1", "accelerate>=0.34.1", "peft!=0.11.0,>=0.18.0",
        "transformers!=4.53.0,!=4.54.0,!=4.55.0,!=4.55.1,!=4.57.0,!=4.57.4,!=4.57.5,!=5.0.0,!=5.1.0,<=5.17.0,>=4.52.4",
        "trl!=0.19.0,<=1.15.0,>=0.18.2"],
    ("unsloth_zoo", "2026.10.9"): [
        "torch<2.15.0,>=2.4.0", "accelerate>=0.34.1", "trl!=0.19.0,<=1.15.0,>=0.18.2", "peft!=0.11.0,>=0.18.0",
        "transformers!=4.53.0,!=4.54.0,!=4.55.0,!=4.55.1,!=4.57.4,!=4.57.5,!=5.0.0,!=5.1.0,<=5.17.0,>=4.52.4",
        "datasets!=4.0.*,!=4.1.0,!=4.4.*,!=4.5.0,<5.0.0,>=3.4.1"],
}


def _norm(name: str) -> str:
    return name.lower().replace("-", "_")


def _project() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    core = {_norm(r.name): r for r in map(Requirement, data["dependencies"])}
    gpu = {_norm(r.name): r for r in map(Requirement, data["optional-dependencies"]["gpu"])}
    return core, gpu


def _pinned(req: Requirement) -> str:
    exact = [s.version for s in req.specifier if s.operator == "=="]
    assert exact, f"{req} is not pinned to one version (==)"
    return exact[0]


def _unsloth_requires(name: str, pinned: str) -> list[Requirement]:
    """What the pinned Unsloth package asks of the shared libraries (extras left out)."""
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        reqs = [Requirement(r) for r in UNSLOTH_REQUIRES[(name, pinned)]]
    else:
        assert dist.version == pinned, f"{name} {dist.version} is installed, the gpu extra pins {pinned}"
        env = default_environment() | {"extra": ""}
        reqs = [r for r in map(Requirement, dist.requires or []) if r.marker is None or r.marker.evaluate(env)]
    return [r for r in reqs if _norm(r.name) in SHARED]


def test_the_training_stack_is_pinned_once_for_every_engine():
    core, gpu = _project()
    for name in ("trl", "transformers", "peft", "datasets", "bitsandbytes"):
        _pinned(core[name])
    # `.[gpu]` adds Unsloth only: it must not bring its own trl/transformers/peft pins
    assert set(gpu) == {"unsloth", "unsloth_zoo"}, f"the gpu extra pins more than Unsloth: {sorted(gpu)}"


@pytest.mark.parametrize("name", ["unsloth", "unsloth_zoo"])
def test_the_pinned_unsloth_accepts_the_pinned_stack(name: str):
    core, gpu = _project()
    for req in _unsloth_requires(name, _pinned(gpu[name])):
        shared = core[_norm(req.name)]
        pinned = [s.version for s in shared.specifier if s.operator == "=="]
        # a pin must satisfy Unsloth; a range (torch) must lie within Unsloth's upper bound
        if pinned:
            assert req.specifier.contains(pinned[0], prereleases=True), \
                f"pyproject pins {shared}, but {name} {_pinned(gpu[name])} needs {req}"
        else:
            uppers = [s for s in req.specifier if s.operator in ("<", "<=")]
            mine = [s for s in shared.specifier if s.operator in ("<", "<=")]
            assert not uppers or mine, f"pyproject allows {shared}, but {name} needs {req}: bound it the same way"


@pytest.mark.parametrize("name", ["trl", "transformers", "peft", "datasets", "bitsandbytes"])
def test_what_is_installed_is_what_is_pinned(name: str):
    """CI tests the pinned set, so a GPU run of `.[gpu]` uses the versions that CI tested."""
    core, _ = _project()
    assert version(name) == _pinned(core[name]), \
        f"{name} {version(name)} is installed but pyproject pins {core[name]}: reinstall with ./install.sh"
