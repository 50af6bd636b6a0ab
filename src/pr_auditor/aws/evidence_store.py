"""The evidence archive's deployed backend: an S3 bucket (Object Lock, versioned) behind the ``ObjectStore`` port.

The archive writer and ``pr-auditor verify`` talk to an ``ObjectStore`` (``pr_auditor.audit.ports``): create
an object only if its key is new, read one, list keys under a prefix. ``pr_auditor.evidence.dir_store`` serves
an auditor's downloaded copy with the same layout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from pr_auditor.audit.ports import ObjectStore
from pr_auditor.core.errors import ArchiveError, ConfigError, MissingBucketError, ObjectExistsError


class S3Store:
    """An S3 bucket. Writes are conditional (``If-None-Match: *``), so a key is written once: a second writer
    for the same key fails with 412 instead of stacking a new version on top of locked evidence.

    Each put carries the body's SHA-256 (``ChecksumAlgorithm="SHA256"``: the SDK sends
    ``x-amz-checksum-sha256``): S3 rejects a body that does not match it, and Object Lock requires a
    ``Content-MD5`` or ``x-amz-checksum-*`` header on every put to a bucket with a default retention. Retention and encryption come from the bucket's defaults (COMPLIANCE retention, the
    evidence KMS key), so no per-object lock or SSE headers are sent.
    """

    def __init__(self, bucket: str, *, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client if client is not None else _default_client()

    def put_new(self, key: str, body: bytes, *, content_type: str) -> None:
        self._call(
            "put_object",
            key,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
        )

    def read(self, key: str) -> bytes | None:
        try:
            answer = self._call("get_object", key, Bucket=self.bucket, Key=key)
        except _NoSuchKeyError:
            return None
        body: bytes = answer["Body"].read()
        return body

    def list_keys(self, prefix: str) -> Iterator[str]:
        pages = self._call("get_paginator", prefix, "list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"]
        except _boto_errors() as exc:
            raise _translate(exc, self.bucket, "list_objects_v2", prefix) from exc

    def list_children(self, prefix: str) -> list[str]:
        pages = self._call("get_paginator", prefix, "list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        names: list[str] = []
        try:
            for page in pages:
                names.extend(p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        except _boto_errors() as exc:
            raise _translate(exc, self.bucket, "list_objects_v2", prefix) from exc
        return sorted(names)

    def rewritten_keys(self, prefix: str) -> list[str]:
        # Object Lock keeps every version, so a forger's overwrite or delete leaves the original behind and
        # the key with two versions (or a delete marker): needs s3:ListBucketVersions.
        versions: Counter[str] = Counter()
        pages = self._call("get_paginator", prefix, "list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        try:
            for page in pages:
                versions.update(item["Key"] for item in page.get("Versions", []))
                versions.update(item["Key"] for item in page.get("DeleteMarkers", []) for _ in range(2))
        except _boto_errors() as exc:
            raise _translate(exc, self.bucket, "list_object_versions", prefix) from exc
        return sorted(key for key, count in versions.items() if count > 1)

    def _call(self, operation: str, key: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(*args, **kwargs)
        except _boto_errors() as exc:
            raise _translate(exc, self.bucket, operation, key) from exc


class _NoSuchKeyError(ArchiveError):
    pass


def _boto_errors() -> tuple[type[Exception], ...]:
    """botocore's exception bases, imported only when an exception is being matched (boto3 is optional for
    the CLI; an ``except`` clause evaluates its expression only when something was raised)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def _translate(exc: Exception, bucket: str, operation: str, key: str) -> ArchiveError:
    """botocore's exceptions → the archive's small error tree."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        where = f"s3://{bucket}/{key}"
        if code == "PreconditionFailed":
            return ObjectExistsError(f"{where}: exists already")
        if code in ("NoSuchKey", "404"):
            return _NoSuchKeyError(where)
        if code == "NoSuchBucket":
            return MissingBucketError(f"bucket {bucket}: no such bucket")
        # 409 ConditionalRequestConflict (a concurrent write to the same key), AccessDenied, throttling, …
        return ArchiveError(f"{where}: {operation} failed ({code})")
    return ArchiveError(f"s3://{bucket}/{key}: {operation} failed ({type(exc).__name__})")


def _default_client() -> Any:
    try:
        import boto3  # in the Lambda runtime; for the CLI an optional extra
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigError("--bucket needs boto3: pip install '.[aws]' in the pr-auditor clone") from None
    return boto3.client("s3")


_: ObjectStore = S3Store("bucket", client=object())
