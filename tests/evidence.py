"""Evidence-archive test helpers: chunks of plausible records, the locked bucket, and a forger's tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pr_auditor.audit.ports import ArchiveChunk, LocalSigner, Record, Signer
from pr_auditor.core.model import iso
from pr_auditor.core.records import pull_request_record_id
from pr_auditor.evidence.archive import canonical_json, decode_records, encode_records, manifest_key, sha256_hex
from pr_auditor.evidence.signing import sign_manifest

START = datetime(2026, 1, 1, tzinfo=UTC)
#: The writer's key in the tests (a KMS key in AWS): one per test session.
SIGNER = LocalSigner.generate("test-signing-key")
#: Someone else's key: what a forger signs with.
FORGER = LocalSigner.generate("test-signing-key")
VERDICTS = ("compliant", "compliant", "non_compliant", "exempt")


def record(repository: str, number: int, *, window: dict[str, str], run_id: str, verdict: str) -> Record:
    merged_at = datetime.fromisoformat(window["until"]) - timedelta(minutes=1 + number % 50)
    return {
        "kind": "pull_request",
        "schema_version": 1,
        "record_id": pull_request_record_id(repository, number, f"{number:040x}"),
        "repository": repository,
        "number": number,
        "url": f"https://github.com/{repository}/pull/{number}",
        "title": f"Change {number} — caf\u00e9",  # non-ASCII: the records object must stay ASCII
        "author": "alice",
        "merged_by": None,
        "merged_at": iso(merged_at),
        "base": "main",
        "merge_commit_sha": f"{number:040x}",
        "verdict": verdict,
        "violations": [{"code": "insufficient_approvals", "detail": "0 of 1"}] if verdict == "non_compliant" else [],
        "approvers": ["bob"] if verdict == "compliant" else [],
        "policy_version": "sha256:feed",
        "window": window,
        "run_id": run_id,
    }


def summary(records: list[Record], *, window: dict[str, str], run_id: str) -> Record:
    counts = {verdict: sum(r["verdict"] == verdict for r in records) for verdict in sorted(set(VERDICTS))}
    return {
        "kind": "run_summary",
        "schema_version": 1,
        "run_id": run_id,
        "status": "completed",
        "window": window,
        "counts": counts | {"audited": len(records), "out_of_scope": 0, "duplicates": 0, "already_recorded": 0},
        "policy_version": "sha256:feed",
    }


def hourly_chunks(
    count: int,
    *,
    start: datetime = START,
    scope: str = "acme",
    stream: str = "scheduled",
    per_chunk: int = 3,
    overlap: timedelta = timedelta(minutes=120),
) -> Iterator[ArchiveChunk]:
    """``count`` consecutive hourly chunks as a scheduled stream writes them: each after the first starts
    ``overlap`` before the previous one ended (the trailing re-scan)."""
    number = 0
    for index in range(count):
        since = start + timedelta(hours=index) - (overlap if index else timedelta(0))
        window = {"since": iso(since), "until": iso(start + timedelta(hours=index + 1))}
        run_id = f"run-{index}:0"
        records = []
        for _ in range(per_chunk):
            number += 1
            records.append(record("acme/api", number, window=window, run_id=run_id, verdict=VERDICTS[number % 4]))
        yield ArchiveChunk(
            scope, stream, window, run_id, tuple(records), summary(records, window=window, run_id=run_id)
        )


# --------------------------------------------------------------------------- the evidence bucket (moto)
BUCKET = "pr-auditor-evidence"


def create_evidence_bucket(client: Any, name: str = BUCKET, *, days: int = 731) -> str:
    """The bucket the template creates: Object Lock (which turns versioning on), COMPLIANCE default retention."""
    client.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": client.meta.region_name},
        ObjectLockEnabledForBucket=True,
    )
    client.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": days}}},
    )  # fmt: skip
    return name


# --------------------------------------------------------------------------- a forger's tools
class Copy(Protocol):
    """What someone with write access (but no way round Object Lock) can do to an archive."""

    def get(self, key: str) -> bytes: ...

    def put(self, key: str, body: bytes) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass
class DirCopy:
    root: Path

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def put(self, key: str, body: bytes) -> None:
        (self.root / key).write_bytes(body)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()


@dataclass
class BucketCopy:
    """Overwrites add a new current version and deletes add a delete marker: the locked versions stay, but
    a reader of the current objects (``verify``) sees the forgery."""

    client: Any
    bucket: str = BUCKET

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


def manifest(copy: Copy, seq: int, scope: str = "acme", stream: str = "scheduled") -> Record:
    document: Record = json.loads(copy.get(manifest_key(scope, stream, seq)))
    return document


def rewrite_manifest(
    copy: Copy,
    seq: int,
    document: Record,
    scope: str = "acme",
    stream: str = "scheduled",
    *,
    signer: Signer | None = None,
) -> str:
    """Put ``document`` at seq's key: as it is (an unsigned or stale signature: foreign), or signed again
    with ``signer`` (``SIGNER``: as if the writer's key had been used outside the writer; ``FORGER``:
    another key presenting itself under the writer's key id)."""
    unsigned = {k: v for k, v in document.items() if k not in ("signature", "signing_key_id", "signature_algorithm")}
    body = sign_manifest(unsigned, signer) if signer is not None else canonical_json(document)
    copy.put(manifest_key(scope, stream, seq), body)
    return sha256_hex(body)


def rewrite_records(copy: Copy, key: str, change: Any) -> None:
    records = decode_records(copy.get(key))
    change(records)
    copy.put(key, encode_records(records))


def download(client: Any, bucket: str, root: Path) -> Path:
    """What an auditor does with ``aws s3 sync s3://BUCKET DIR``."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            path = root / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return root
