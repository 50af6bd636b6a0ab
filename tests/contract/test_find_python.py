"""scripts/find-python: which interpreter the Makefile develops, tests and builds with, on machines made here.

Each case builds a PATH of stand-in interpreters (shell scripts answering the version question the way
Python does, or failing the way an inactive pyenv shim does) plus the few tools the script uses, and runs the
real script with nothing else on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "find-python"
BASH = shutil.which("bash") or "/bin/bash"
TOOLS = ("sort", "head", "tail", "grep", "cat")

INACTIVE_SHIM = '#!/bin/sh\necho "pyenv: $(basename "$0"): command not found" >&2\nexit 127\n'


def interpreter(version: str) -> str:
    """A stand-in that answers `-c 'print(major.minor)'` as that Python would."""
    return f'#!/bin/sh\n[ "$1" = -c ] && echo {version}\n'


def machine(tmp_path: Path, interpreters: dict[str, str]) -> dict[str, str]:
    """An environment whose PATH holds only the given interpreters and the script's tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    for name, body in interpreters.items():
        path = bin_dir / name
        path.write_text(body, encoding="utf-8")
        path.chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path / "home"), "PYENV_ROOT": str(tmp_path / "pyenv")}


def find(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [BASH, str(SCRIPT), *args], env=environment, capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize(
    ("interpreters", "chosen"),
    [
        pytest.param(
            {"python3": interpreter("3.12"), "python3.13": interpreter("3.13")}, "python3", id="python3-new-enough"
        ),
        pytest.param({"python3": interpreter("3.11")}, "python3", id="python3-is-the-minimum"),
        pytest.param(
            {"python3": interpreter("3.10"), "python3.11": interpreter("3.11"), "python3.13": interpreter("3.13")},
            "python3.13",
            id="python3-too-old-newest-taken",
        ),
        pytest.param({"python3.12": interpreter("3.12")}, "python3.12", id="no-python3-at-all"),
        pytest.param(
            {"python3": interpreter("3.9"), "python3.13": INACTIVE_SHIM, "python3.12": interpreter("3.12")},
            "python3.12",
            id="inactive-pyenv-shim-skipped",
        ),
    ],
)
def test_given_the_interpreters_on_path_when_a_development_python_is_found_then_it_is_the_expected_one(
    tmp_path: Path, interpreters: dict[str, str], chosen: str
) -> None:
    environment = machine(tmp_path, interpreters)
    result = find(environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == os.path.join(environment["PATH"], chosen)


@pytest.mark.parametrize(
    "interpreters",
    [
        pytest.param({"python3": interpreter("3.10")}, id="only-3.10"),
        pytest.param({}, id="no-python"),
        pytest.param({"python3": INACTIVE_SHIM, "python3.12": INACTIVE_SHIM}, id="only-inactive-shims"),
    ],
)
def test_given_no_python_311_or_newer_when_found_then_make_stops_saying_what_to_install(
    tmp_path: Path, interpreters: dict[str, str]
) -> None:
    result = find(machine(tmp_path, interpreters))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "needs Python 3.11 or newer" in result.stderr
    assert "Install Python 3.13" in result.stderr
    assert "PYTHON=/path/to/python3.13" in result.stderr


@pytest.mark.parametrize(
    ("version", "accepted"),
    [pytest.param("3.10", False, id="3.10-refused"), pytest.param("3.13", True, id="3.13-accepted")],
)
def test_given_an_explicit_python_when_checked_then_only_311_or_newer_is_accepted(
    tmp_path: Path, version: str, accepted: bool
) -> None:
    environment = machine(tmp_path, {"python3": interpreter("3.12"), "mypython": interpreter(version)})
    result = find(environment, "mypython")
    assert (result.returncode == 0) is accepted
    if accepted:
        assert result.stdout.strip() == os.path.join(environment["PATH"], "mypython")
    else:
        assert f"PYTHON=mypython is Python {version}; pr-auditor needs 3.11 or newer" in result.stderr


def test_given_python313_only_in_pyenv_when_the_runtime_is_looked_for_then_the_pyenv_one_is_used(
    tmp_path: Path,
) -> None:
    environment = machine(tmp_path, {"python3": interpreter("3.11"), "python3.13": INACTIVE_SHIM})
    installed = Path(environment["PYENV_ROOT"]) / "versions" / "3.13.1" / "bin" / "python3.13"
    installed.parent.mkdir(parents=True)
    installed.write_text(interpreter("3.13"), encoding="utf-8")
    installed.chmod(0o755)
    result = find(environment, "--exact", "3.13")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(installed)


def test_given_no_python313_anywhere_when_the_runtime_is_looked_for_then_the_message_names_the_install(
    tmp_path: Path,
) -> None:
    system_wide = ["/usr/local/bin/python3.13", "/usr/bin/python3.13", "/opt/homebrew/bin/python3.13"]
    if any(Path(path).exists() for path in system_wide):
        pytest.skip("this machine has a system-wide python3.13, which the script rightly finds")
    result = find(machine(tmp_path, {"python3": interpreter("3.12")}), "--exact", "3.13")
    assert result.returncode == 1
    assert "Python 3.13 was not found" in result.stderr
    assert "apt-get install python3.13" in result.stderr
    assert "pyenv install 3.13" in result.stderr
