"""The package metadata builds without warnings: `pip install -e .` on a fresh clone shows no
deprecation notice from the build backend."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest
from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_string_and_the_backend_reads_it():
    meta = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    license = meta["project"]["license"]
    assert isinstance(license, str) and canonicalize_license_expression(license) == license
    # SPDX strings are read by setuptools 77 and later; an older backend would reject them.
    setuptools = next(Requirement(r) for r in meta["build-system"]["requires"] if r.startswith("setuptools"))
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")


def test_the_build_backend_reads_the_metadata_without_a_warning():
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} here; pip builds with the >=77 that pyproject.toml asks for")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what pip prints as a BuildBackendWarning fails here
        dist = apply_configuration(Distribution(), PYPROJECT)
    assert dist.metadata.license_expression == "Apache-2.0"
