"""An auditor's downloaded copy of the evidence archive: a local folder holding the bucket's keys as paths
(``aws s3 sync s3://BUCKET DIR`` keeps them), behind the same ``ObjectStore`` port as the bucket. The demo
writes one too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pr_auditor.audit.ports import ObjectStore
from pr_auditor.core.errors import ArchiveError, MissingBucketError, ObjectExistsError


class DirStore:
    """A local folder holding the archive's keys as relative paths (an auditor's downloaded copy)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_new(self, key: str, body: bytes, *, content_type: str) -> None:
        del content_type
        path = self._path(key)
        partial = path.with_name(f".{path.name}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(body)
            os.link(partial, path)  # atomic, and fails if the key exists: written once, never half-written
        except FileExistsError:
            raise ObjectExistsError(f"{path}: exists already") from None
        except OSError as exc:
            raise ArchiveError(f"{path}: cannot write ({exc.strerror})") from None
        finally:
            partial.unlink(missing_ok=True)

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArchiveError(f"{path}: cannot read ({exc.strerror})") from None

    def list_keys(self, prefix: str) -> Iterator[str]:
        self._require_root()
        base = self._path(prefix.rstrip("/")) if prefix.rstrip("/") else self.root
        found: list[str] = []
        for folder, _, files in os.walk(base):
            relative = Path(folder).relative_to(self.root).as_posix()
            names = (name for name in files if not name.startswith("."))  # skips a write in progress
            found.extend(f"{relative}/{name}" if relative != "." else name for name in names)
        yield from sorted(key for key in found if key.startswith(prefix))

    def list_children(self, prefix: str) -> list[str]:
        self._require_root()
        base = self._path(prefix.rstrip("/")) if prefix.rstrip("/") else self.root
        return sorted(entry.name for entry in base.iterdir() if entry.is_dir()) if base.is_dir() else []

    def rewritten_keys(self, prefix: str) -> list[str]:
        del prefix
        return []  # a folder keeps no versions: the hashes and links are all there is to check

    def _require_root(self) -> None:
        if not self.root.is_dir():
            raise MissingBucketError(f"--dir {self.root}: no such folder")

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or any(part in ("..", "") for part in parts) or PurePosixPath(key).is_absolute():
            raise ArchiveError(f"not an archive key: {key!r}")
        return self.root.joinpath(*parts)


_: ObjectStore = DirStore(Path("."))
