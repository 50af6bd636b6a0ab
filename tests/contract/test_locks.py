"""The development lock (requirements-dev.lock) against pyproject.toml and the layer lock.

`make install` installs only from requirements-dev.lock (pip --require-hashes), then the package with
--no-deps: a requirement that pyproject.toml gained but the lock lacks would be missing from every fresh
environment. Fix for every failure here: `make lock`.
"""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement

from locks import Pin, canonical, marker_environment, read_lock
from template_model import ROOT

SUPPORTED_PYTHONS = ["3.11", "3.12", "3.13"]


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def every_requirement() -> list[Requirement]:
    """Runtime dependencies, every extra, and the build backend (`make install` builds without isolation)."""
    data = pyproject()
    project = data["project"]
    assert isinstance(project, dict)
    texts = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        texts.extend(extra)
    build_system = data["build-system"]
    assert isinstance(build_system, dict)
    texts.extend(build_system["requires"])
    return [Requirement(text) for text in texts]


def pins_for(python: str) -> dict[str, Pin]:
    environment = marker_environment(python)
    chosen: dict[str, Pin] = {}
    for pin in read_lock(ROOT / "requirements-dev.lock"):
        if pin.applies(environment):
            assert pin.name not in chosen, f"two pins of {pin.name} apply on Python {python}"
            chosen[pin.name] = pin
    return chosen


@pytest.mark.parametrize("python", SUPPORTED_PYTHONS)
def test_given_each_supported_python_when_the_dev_lock_is_read_then_every_pyproject_requirement_is_pinned(
    python: str,
) -> None:
    pins = pins_for(python)
    environment = marker_environment(python)
    unmet = [
        f"{req} (locked: {pins[canonical(req.name)].version if canonical(req.name) in pins else 'nothing'})"
        for req in every_requirement()
        if (req.marker is None or req.marker.evaluate(environment))
        and (
            canonical(req.name) not in pins
            or not req.specifier.contains(pins[canonical(req.name)].version, prereleases=True)
        )
    ]
    assert not unmet, f"requirements-dev.lock on Python {python}: {unmet}; run `make lock`"
    assert all(pin.hashes for pin in pins.values())


def test_given_the_function_runtime_when_both_locks_are_read_then_the_tests_run_the_versions_the_layer_ships() -> None:
    dev = pins_for("3.13")
    layer = read_lock(ROOT / "layer" / "requirements.txt")
    differing = {pin.name: (pin.version, dev[pin.name].version if pin.name in dev else None) for pin in layer}
    assert {name: versions for name, versions in differing.items() if versions[0] != versions[1]} == {}


@pytest.mark.parametrize("lock", ["requirements-dev.lock", "layer/requirements.txt"])
def test_given_a_lock_when_its_header_is_read_then_it_says_how_to_regenerate_it(lock: str) -> None:
    header = (ROOT / lock).read_text(encoding="utf-8").split("\n\n", 1)[0].splitlines()[:8]
    assert any("`make lock`" in line for line in header), header
    assert all(line.startswith("#") for line in header[:4])
