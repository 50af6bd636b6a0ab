"""The hashed requirement locks that ``make lock`` writes (uv pip compile --generate-hashes), read as data.

from locks import read_lock, canonical
for pin in read_lock(path):      # Pin(name, version, marker, hashes, via)
    ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
_HASH = re.compile(r"^\s+--hash=sha256:([0-9a-f]{64})\s*\\?$")
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?(\S.*)$")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]
    via: tuple[str, ...]  # what required it; "pr-auditor" for the project's own requirements

    def applies(self, environment: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(environment)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[Pin]:
    pins: list[Pin] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            pins.append(Pin(**current))  # type: ignore[arg-type]

    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _PIN.match(line):
            close()
            marker = Marker(m.group(3)) if m.group(3) else None
            current = {"name": canonical(m.group(1)), "version": m.group(2), "marker": marker, "hashes": (), "via": ()}
        elif current is not None and (h := _HASH.match(line)):
            current["hashes"] = (*current["hashes"], h.group(1))  # type: ignore[misc]
        elif current is not None and (v := _VIA.match(line)):
            if v.group(1) != "via":
                current["via"] = (*current["via"], v.group(1).split(" (")[0])  # type: ignore[misc]
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{path.name}: unexpected line {line!r}")
    close()
    return pins


def marker_environment(python: str) -> dict[str, str]:
    """PEP 508 marker values for CPython ``python`` (e.g. "3.13") on Linux."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "extra": "",
    }
