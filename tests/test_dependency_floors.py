"""pyproject.toml's dependency floors are what CI's floors job installs, and they stay above the known-unsafe releases.

The pins come from ``.ci/min_versions.py``; this file re-reads pyproject.toml with ``packaging`` (an independent
parser, installed with pytest) so that a bug in the generator's own parsing cannot hide a disagreement.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
GENERATOR = REPO / ".ci" / "min_versions.py"

# Releases below these floors have a known code-execution or memory-safety hole on a path proxylab takes
# with untrusted input (uploaded Parquet, torch.load of checkpoints, images imported from a folder).
SECURITY_FLOORS = {
    "pyarrow": "14.0.1",  # CVE-2023-47248: arbitrary code execution reading Parquet/IPC
    "torch": "2.6",  # CVE-2025-32434: torch.load(weights_only=True) can still run code
    "pillow": "10.3",  # CVE-2023-4863 (libwebp), CVE-2023-50447, CVE-2024-28219
}


def _declared_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(r) for r in [*project["dependencies"], *(r for extra in extras for r in extra)]]


def _floor(requirement: Requirement) -> Version:
    floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    assert len(floors) == 1, f"{requirement} must have exactly one '>=' floor"
    return floors[0]


def _ci_pins() -> dict[str, str]:
    out = subprocess.run([sys.executable, str(GENERATOR)], capture_output=True, text=True, check=True).stdout
    pins = {}
    for line in out.splitlines():
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version
    return pins


def test_ci_pins_are_exactly_pyproject_floors():
    declared = {canonicalize_name(r.name): _floor(r) for r in _declared_requirements()}
    pins = _ci_pins()
    assert set(pins) == set(declared)
    assert {name: Version(v) for name, v in pins.items()} == declared


def test_floors_are_above_known_unsafe_releases():
    declared = {canonicalize_name(r.name): _floor(r) for r in _declared_requirements()}
    for name, safe in SECURITY_FLOORS.items():
        assert declared[name] >= Version(safe), f"{name} floor {declared[name]} admits releases below {safe}"


def test_security_floors_hold_for_a_plain_install():
    """A floor only in an extra does not bind a plain `pip install`: streamlit alone admits pyarrow 7.0-14.0.0, and
    proxylab reads uploaded Parquet whenever pyarrow is importable. Every security floor is a core dependency."""
    core = {canonicalize_name(Requirement(r).name): _floor(Requirement(r))
            for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    for name, safe in SECURITY_FLOORS.items():
        assert name in core, f"{name} >= {safe} must be a core dependency, not only an extra's"
        assert core[name] >= Version(safe)


def test_build_backend_floor_is_above_known_unsafe_setuptools():
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    setuptools = next(Requirement(r) for r in build if canonicalize_name(Requirement(r).name) == "setuptools")
    assert _floor(setuptools) >= Version("70.1"), "setuptools < 70.1: CVE-2024-6345 (package_index runs code)"


def test_ci_floors_job_installs_the_generated_pins_and_keeps_the_readme_command_last():
    script = (REPO / ".ci" / "run").read_text()
    floors_job = script.index(".ci/min_versions.py")
    readme_command = script.index("# --- the README's test command")
    assert floors_job < readme_command
    job = script[floors_job:readme_command]
    assert "--no-deps" in job and "-m pytest" in job


def _generator_module():
    spec = importlib.util.spec_from_file_location("min_versions", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("requirement", ["numpy", "numpy<2", "numpy>=1.24,>=1.25", "numpy>=1.24; python_version<'3.12'"])
def test_generator_rejects_requirements_without_one_plain_floor(requirement):
    with pytest.raises(ValueError, match="requirement must"):
        _generator_module().floor_of(requirement)


def test_generator_rejects_one_package_with_two_floors(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["pyarrow>=14.0.1"]\n[project.optional-dependencies]\n'
                         'test = ["PyArrow>=15"]\n')
    result = subprocess.run([sys.executable, str(GENERATOR), str(pyproject)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"min_versions: pyarrow must have one floor everywhere in {pyproject}, got 14.0.1 and 15"
