"""Where the report's records come from: JSON-lines files (plain or gzip) or the evidence archive in S3.

Records are streamed, never loaded whole. The archive is read through ``pr_auditor.evidence.archive`` (its
``iter_archived_records``) and its hash chains checked through ``pr_auditor.evidence.verify``, imported only when
``--bucket`` is used.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pr_auditor.core.errors import ConfigError
from pr_auditor.evidence.report.core import Record

Progress = Callable[[int], object]  # bytes read since the last call
_GZIP_MAGIC = b"\x1f\x8b"
_PROGRESS_EVERY = 2000  # lines


class InputError(ConfigError):
    """An input file is missing or is not JSON lines; the message names the file (and line)."""


def check_inputs(paths: Sequence[Path]) -> None:
    """Every ``--input`` must be a readable file, before anything is written."""
    for path in paths:
        if not path.is_file():
            raise InputError(f"--input {path}: no such file")


def _open(path: Path) -> tuple[io.BufferedReader, io.BufferedIOBase]:
    """(raw file, line stream): gzip is recognised by its magic bytes, whatever the file is called."""
    raw = path.open("rb")
    if raw.read(2) == _GZIP_MAGIC:
        raw.seek(0)
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    raw.seek(0)
    return raw, raw


def read_files(paths: Sequence[Path], *, progress: Progress | None = None) -> Iterator[Record]:
    """Each JSON object of each file, in order. A line that is not a JSON object stops the report: evidence
    that does not parse is not silently skipped."""
    for path in paths:
        raw, lines = _open(path)
        reported = 0
        with raw, lines:
            try:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    yield _parse(line, path, number)
                    if progress is not None and number % _PROGRESS_EVERY == 0:
                        position = raw.tell()
                        progress(position - reported)
                        reported = position
            except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
                raise InputError(f"{path}: cannot read ({exc})") from None
        if progress is not None:
            progress(path.stat().st_size - reported)


def _parse(line: bytes, path: Path, number: int) -> Record:
    try:
        record: Any = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}:{number}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    return record


def total_bytes(paths: Sequence[Path]) -> int:
    return sum(path.stat().st_size for path in paths)


# --- the evidence archive (S3) ---------------------------------------------------------------------------


def s3_client(region: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigError("--bucket needs boto3: pip install '.[aws]' in the pr-auditor clone") from None
    return boto3.client("s3", region_name=region) if region else boto3.client("s3")


def read_archive(client: Any, bucket: str, *, scope: str | None, since: datetime, until: datetime) -> Iterator[Record]:
    """The archived records (and run summaries) of the chunks that meet [since, until), each once. A records
    object whose bytes differ from its manifest's hash raises ArchiveError (exit 1): no pack is written."""
    from pr_auditor.evidence.archive import iter_archived_records

    return iter_archived_records(client, bucket, scope=scope, since=since, until=until)


def chain_status(client: Any, bucket: str, *, scope: str | None, since: datetime, until: datetime) -> dict[str, Any]:
    """Whether the archive's hash chains are intact and cover the period (``pr-auditor verify``), as
    ``{"verified": bool, "detail": "<verify's verdict line>; <its first problem>", "heads": [...]}``. ``heads``
    is each chain's last manifest (chain, seq, key, sha256): the value an auditor writes down, so that a later
    copy of the archive can be checked to extend this one rather than replace it."""
    from pr_auditor.aws.evidence_store import S3Store
    from pr_auditor.evidence.verify import verify_archive

    result = verify_archive(S3Store(bucket, client=client), scope=scope, since=since, until=until)
    lines = [line for line in result.lines() if not line.startswith(("head ", "warning: "))]
    heads = [
        {"chain": chain.name, "seq": chain.head.seq, "key": chain.head.key, "sha256": chain.head.sha256}
        for chain in result.chains
        if chain.head is not None
    ]
    return {"verified": result.intact, "detail": "; ".join(lines[:2]), "heads": heads}


def local_chain_status() -> dict[str, Any]:
    return {
        "verified": None,
        "detail": "records read from local files; run `pr-auditor verify --bucket …` on the archive",
        "heads": [],
    }
