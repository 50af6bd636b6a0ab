"""The tamper-evident evidence archive: per completed chunk, one records object and one hash-chained manifest.

Layout (docs/evidence-archive.md):

    records/<scope>/<stream>/<yyyy>/<mm>/<dd>/<since>_<until>_<run_id>.jsonl.gz   the chunk's records + run_summary
    manifests/<scope>/<stream>/<seq:012d>.json                                    window, counts, hashes, link

Each (scope, stream) is its own chain: manifest ``seq`` holds the SHA-256 of manifest ``seq - 1``. The chain
head (last key, hash, seq) lives in the state table (``chain#<scope>#<stream>``), so a write needs no listing.
Order of a write: records object, manifest, head. A chunk whose write fails adds nothing to the chain: an
orphan records object without a manifest is harmless (``verify`` warns about it).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import secrets
import struct
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import chain
from typing import Any, TypeVar

from pr_auditor.audit.ports import (
    Archive,
    ArchiveChunk,
    ConflictError,
    Document,
    HeadRestorer,
    ObjectStore,
    Record,
    Signer,
    StateStore,
)
from pr_auditor.aws.evidence_store import S3Store
from pr_auditor.core.errors import ArchiveError, ObjectExistsError, StateError
from pr_auditor.core.model import iso
from pr_auditor.evidence.dir_store import DirStore
from pr_auditor.evidence.signing import TrustedKeys, canonical_json, keys_in, public_key_object, sign_manifest

SCHEMA_VERSION = 1
STREAMS = ("scheduled", "backfill", "sweep")
MANIFESTS = "manifests/"
RECORDS = "records/"
_MANIFEST_NAME = re.compile(r"(\d{12})(?:-[0-9a-f]{16})?\.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
log = logging.getLogger("pr_auditor")
T = TypeVar("T")
R = TypeVar("R")

__all__ = ["DirStore", "EvidenceArchive", "S3Archive", "S3Store", "iter_archived_records", "iter_records"]


# --------------------------------------------------------------------------- layout and encoding (pure)
def chain_name(scope: str, stream: str) -> str:
    """The state document holding the head of a chain."""
    return f"chain#{scope}#{stream}"


def manifest_prefix(scope: str, stream: str) -> str:
    return f"{MANIFESTS}{scope}/{stream}/"


def manifest_key(scope: str, stream: str, seq: int, nonce: str | None = None) -> str:
    """``<seq>.json``; ``<seq>-<nonce>.json`` when someone else took that key first (the nonce is random:
    nobody can take the writer's next key before it does)."""
    return f"{manifest_prefix(scope, stream)}{seq:012d}{f'-{nonce}' if nonce else ''}.json"


def seq_of(key: str) -> int | None:
    """The sequence number in a manifest key, or None if the key is not a manifest's."""
    found = _MANIFEST_NAME.fullmatch(key.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else None


def records_key(scope: str, stream: str, window: Mapping[str, str], run_id: str) -> str:
    since, until = parse_instant(window["since"]), parse_instant(window["until"])
    name = f"{since:%Y%m%dT%H%M%SZ}_{until:%Y%m%dT%H%M%SZ}_{_UNSAFE.sub('-', run_id)[:120]}.jsonl.gz"
    return f"{RECORDS}{scope}/{stream}/{since:%Y/%m/%d}/{name}"


def parse_instant(value: Any) -> datetime:
    """A window edge as stored (ISO-8601, ``Z``) → aware UTC datetime; ValueError if it is not one."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return moment.astimezone(UTC)


def encode_records(records: Iterable[Record]) -> bytes:
    """JSON lines (ASCII, sorted keys) in gzip with mtime 0: the same records always give the same bytes.
    Compressed line by line (a chunk's text is never held whole), into exactly the bytes ``gzip.compress``
    gives for the whole text: its header, the same deflate stream, CRC-32 and length."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [gzip.compress(b"", compresslevel=6, mtime=0)[:10]]  # this Python's gzip header
    crc = size = 0
    for record in records:
        line = (
            json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False) + "\n"
        ).encode("ascii")
        crc, size = zlib.crc32(line, crc), size + len(line)
        parts.append(deflate.compress(line))
    parts += [deflate.flush(), struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return b"".join(parts)


def decode_records(body: bytes) -> list[Record]:
    """Inverse of ``encode_records``; ValueError (or OSError from gzip) when the object is not one."""
    lines = gzip.decompress(body).decode("ascii").splitlines()
    records = [json.loads(line) for line in lines if line]
    if not all(isinstance(record, dict) for record in records):
        raise ValueError("a line is not a JSON object")
    return records


def count_records(lines: Iterable[Record]) -> Record:
    """What a manifest states about its records object: records per kind and verdict (run summaries apart),
    how many run summaries it holds, and the (last) run summary's own counts."""
    by_kind: dict[str, Counter[str]] = {}
    summaries: list[Record] = []
    for line in lines:
        if line.get("kind") == "run_summary":
            summaries.append(line)
            continue
        by_kind.setdefault(str(line.get("kind")), Counter())[str(line.get("verdict") or "none")] += 1
    return {
        "records": sum(sum(verdicts.values()) for verdicts in by_kind.values()),
        "by_kind": {kind: dict(sorted(verdicts.items())) for kind, verdicts in sorted(by_kind.items())},
        "run_summaries": len(summaries),
        "run_summary": dict(summaries[-1].get("counts") or {}) if summaries else None,
    }


def span_of(window: Mapping[str, str], records: Iterable[Record]) -> dict[str, str]:
    """The chunk's window stretched over the windows its records were audited in: a record carried over from
    an earlier chunk (written but not archived there) keeps its own window, so a reader asking for a period
    must also open chunks whose span, not only whose window, meets it."""
    since, until = parse_instant(window["since"]), parse_instant(window["until"])
    for record in records:
        own = record.get("window")
        if isinstance(own, Mapping) and "since" in own and "until" in own:
            since = min(since, parse_instant(own["since"]))
            until = max(until, parse_instant(own["until"]))
    return {"since": iso(since), "until": iso(until)}


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def meets(window: Mapping[str, Any], since: datetime | None, until: datetime | None) -> bool:
    """Does [window.since, window.until) meet [since, until)? (None: unbounded.)"""
    return (until is None or parse_instant(window["since"]) < until) and (
        since is None or parse_instant(window["until"]) > since
    )


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The state document of a chain: its last manifest (key, SHA-256 of its bytes, seq). ``pending`` holds
    the manifest's text from the moment its key is reserved until the object is stored (then it is
    dropped): a write that stops in between is finished by the next one, never forked."""

    key: str
    sha256: str
    seq: int
    pending: str | None = None

    @classmethod
    def from_document(cls, name: str, document: Document | None) -> ChainHead | None:
        if document is None:
            return None
        try:
            pending = document.get("pending")
            return cls(
                str(document["key"]),
                str(document["sha256"]),
                int(document["seq"]),
                pending if isinstance(pending, str) else None,
            )
        except (KeyError, TypeError, ValueError):
            raise ArchiveError(f"state document {name}: not a chain head (key, sha256, seq)") from None


def build_manifest(
    chunk: ArchiveChunk,
    *,
    seq: int,
    records_key: str,
    records_body: bytes,
    previous: ChainHead | None,
    written_at: datetime,
) -> Record:
    return {
        "schema_version": SCHEMA_VERSION,
        "scope": chunk.scope,
        "stream": chunk.stream,
        "seq": seq,
        "window": {"since": chunk.window["since"], "until": chunk.window["until"]},
        "span": span_of(chunk.window, chunk.records),
        "run_id": chunk.run_id,
        "status": chunk.summary.get("status"),
        "counts": count_records(chain(chunk.records, (chunk.summary,))),
        "policy_version": chunk.summary.get("policy_version"),
        "records_key": records_key,
        "records_sha256": sha256_hex(records_body),
        "records_bytes": len(records_body),
        "previous_manifest_key": previous.key if previous else None,
        "previous_manifest_sha256": previous.sha256 if previous else None,
        "written_at": iso(written_at),
    }


def _check_chunk(chunk: ArchiveChunk) -> None:
    if chunk.stream not in STREAMS:
        raise ArchiveError(f"evidence stream {chunk.stream!r}: expected one of {', '.join(STREAMS)}")
    if not chunk.scope or "/" in chunk.scope or "#" in chunk.scope:
        raise ArchiveError(f"evidence scope {chunk.scope!r}: must be non-empty, without '/' or '#'")
    try:
        if parse_instant(chunk.window["since"]) >= parse_instant(chunk.window["until"]):
            raise ArchiveError(f"evidence window {dict(chunk.window)}: since must be before until")
    except (KeyError, ValueError):
        raise ArchiveError(f"evidence window {dict(chunk.window)}: expected ISO-8601 since and until") from None


# --------------------------------------------------------------------------- the writer (the Archive port)
class EvidenceArchive:
    """Writes each chunk as a records object plus the next signed manifest of its chain, over any ObjectStore.

    The head in the state table is reserved before the manifest is stored (key, hash and the manifest's
    text): two writers cannot both extend the chain, and a write cut off between the two steps is finished
    by the next write. The writer reads nothing of the chain from the bucket except its own reserved key
    (and, when the head is gone, the last manifest signed with its key), so nothing another principal put
    there is ever adopted, and an object at the writer's next key is skipped, not a stall."""

    def __init__(
        self,
        store: ObjectStore,
        state: StateStore,
        *,
        signer: Signer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        attempts: int = 3,
    ) -> None:
        self._store = store
        self._state = state
        self._signer = signer
        self._clock = clock
        self._attempts = attempts
        self._published = False

    def write_chunk(self, chunk: ArchiveChunk) -> str:
        _check_chunk(chunk)
        body = encode_records(chain(chunk.records, (chunk.summary,)))
        key = records_key(chunk.scope, chunk.stream, chunk.window, chunk.run_id)
        put_records(self._store, key, body)
        if not self._published:
            publish_key(self._store, self._signer)
            self._published = True
        name = chain_name(chunk.scope, chunk.stream)
        for _ in range(self._attempts):
            head, revision = self._load_head(name, chunk.scope, chunk.stream)
            if head is not None and head.pending is not None:
                settled = self._settle(name, head, revision)  # an earlier write reserved the head and stopped
                if _is_chunk_of(head.pending, key, body):
                    return settled  # it was this very chunk (a retry in the same run): written once
                continue
            seq = head.seq + 1 if head else 1
            manifest = build_manifest(
                chunk, seq=seq, records_key=key, records_body=body, previous=head, written_at=self._clock()
            )
            data = sign_manifest(manifest, self._signer)
            target = manifest_key(chunk.scope, chunk.stream, seq)
            reserved = ChainHead(target, sha256_hex(data), seq, data.decode("ascii"))
            if self._save_head(name, reserved, revision, conflict_ok=True):
                return self._settle(name, reserved, revision + 1)
        raise ArchiveError(f"evidence chain {name}: another writer kept moving the head; the chunk is retried")

    def restore_heads(self, scope: str) -> list[Document]:
        """Every chain of ``scope`` whose head document is gone while the archive holds manifests signed with
        this writer's key: the head is restored from the last of them (the chain continues, never restarts)
        and the facts are returned, one per chain, for a ``state_reset`` finding."""
        restored: list[Document] = []
        for stream in STREAMS:
            name = chain_name(scope, stream)
            if self._load(name)[0] is not None:
                continue
            head = last_signed_head(self._store, scope, stream, TrustedKeys.of_signer(self._signer))
            if head is not None and self._save_head(name, head, 0, conflict_ok=True):
                restored.append({"scope": scope, "stream": stream, "manifest_key": head.key, "seq": head.seq,
                                 "sha256": head.sha256})  # fmt: skip
        return restored

    def _settle(self, name: str, head: ChainHead, revision: int) -> str:
        """Store the reserved manifest, then drop it from the head. Its key taken by an object that is not
        this manifest (someone else's put) is skipped: the head is moved to a key with a random part."""
        assert head.pending is not None
        data = head.pending.encode("ascii")
        for _ in range(self._attempts):
            try:
                self._store.put_new(head.key, data, content_type="application/json")
            except ObjectExistsError:
                if self._store.read(head.key) != data:
                    log.warning("evidence: %s was taken by a foreign object; skipping that key", head.key)
                    scope, stream = head.key[len(MANIFESTS) :].split("/")[:2]
                    head = replace(head, key=manifest_key(scope, stream, head.seq, secrets.token_hex(8)))
                    self._save_head(name, head, revision)
                    revision += 1
                    continue
            self._save_head(name, replace(head, pending=None), revision)
            return head.key
        raise ArchiveError(f"evidence chain {name}: seq {head.seq} keys kept being taken; the chunk is retried")

    def _load(self, name: str) -> tuple[ChainHead | None, int]:
        try:
            document, revision = self._state.load(name)
        except StateError as exc:
            raise ArchiveError(f"evidence chain head {name}: {exc}") from exc
        return ChainHead.from_document(name, document), revision

    def _load_head(self, name: str, scope: str, stream: str) -> tuple[ChainHead | None, int]:
        """The head; when its document is gone, the last manifest signed with this writer's key (a chain
        is continued, never started afresh over a signed one)."""
        head, revision = self._load(name)
        if head is None and revision == 0:
            found = last_signed_head(self._store, scope, stream, TrustedKeys.of_signer(self._signer))
            if found is not None:
                log.warning("evidence: chain head %s was gone; continuing from %s", name, found.key)
            return found, revision
        return head, revision

    def _save_head(self, name: str, head: ChainHead, revision: int, *, conflict_ok: bool = False) -> bool:
        document: Document = {"key": head.key, "sha256": head.sha256, "seq": head.seq, "written_at": iso(self._clock())}
        if head.pending is not None:
            document["pending"] = head.pending
        try:
            self._state.save(name, document, revision=revision)
        except ConflictError:
            if conflict_ok:
                return False
            raise ArchiveError(f"evidence chain head {name}: another writer moved it; the chunk is retried") from None
        except StateError as exc:
            raise ArchiveError(f"evidence chain head {name}: {exc}") from exc
        return True


def put_records(store: ObjectStore, key: str, body: bytes) -> None:
    """Write the records object once. The same key again (a retry within the same run) is fine when it
    holds the same bytes; other bytes under it fail the chunk, which a later run retries."""
    try:
        store.put_new(key, body, content_type="application/gzip")
    except ObjectExistsError:
        if store.read(key) != body:
            raise ArchiveError(f"{key}: exists already with other records; the chunk is retried") from None


def publish_key(store: ObjectStore, signer: Signer) -> None:
    """Write the signer's public key once (``keys/<key id>.pem``). Other bytes there are left to ``verify``
    (which then finds no valid signature under that key, or pass it ``--public-key``)."""
    key, pem = public_key_object(signer.key_id), signer.public_key_pem()
    try:
        store.put_new(key, pem, content_type="application/x-pem-file")
    except ObjectExistsError:
        if store.read(key) != pem:
            log.warning("evidence: %s holds another key; verify will say so (pin --public-key)", key)


def last_signed_head(store: ObjectStore, scope: str, stream: str, keys: TrustedKeys) -> ChainHead | None:
    """The chain's last manifest that carries a valid signature (listing the chain: only when the head
    document is gone); foreign objects above it are passed over."""
    for key in sorted(manifest_keys(store, scope, stream), key=lambda k: (seq_of(k) or 0, k), reverse=True):
        data = store.read(key)
        document = _json_object(data)
        if data is not None and document is not None and keys.why_foreign(document) is None:
            return ChainHead(key, sha256_hex(data), int(document.get("seq") or seq_of(key) or 0))
    return None


def _is_chunk_of(manifest_text: str, records_key: str, body: bytes) -> bool:
    document = _json_object(manifest_text.encode("ascii"))
    return document is not None and (document.get("records_key"), document.get("records_sha256")) == (
        records_key,
        sha256_hex(body),
    )


def _json_object(data: bytes | None) -> dict[str, Any] | None:
    try:
        document = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


class S3Archive(EvidenceArchive):
    """The deployed archive: the evidence bucket (Object Lock, COMPLIANCE default retention, KMS by default),
    the chain heads in the state table, and the KMS signing key."""

    def __init__(
        self,
        bucket: str,
        state: StateStore,
        *,
        signer: Signer,
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(S3Store(bucket, client=client), state, signer=signer, clock=clock)


# --------------------------------------------------------------------------- readers
def chains_in(store: ObjectStore, *, scope: str | None = None, stream: str | None = None) -> list[tuple[str, str]]:
    """The (scope, stream) chains in the archive: every one, those of one scope or stream, or the one asked
    for (which is returned even when it does not exist, so that ``verify`` can say so)."""
    if scope and stream:
        return [(scope, stream)]
    scopes = [scope] if scope else store.list_children(MANIFESTS)
    found: list[tuple[str, str]] = []
    for name in scopes:
        streams = store.list_children(f"{MANIFESTS}{name}/")
        found.extend((name, each) for each in streams if stream is None or each == stream)
    return found


def manifest_keys(store: ObjectStore, scope: str, stream: str) -> list[str]:
    """The manifest keys of one chain in seq order (zero-padded, so key order is seq order)."""
    return [key for key in store.list_keys(manifest_prefix(scope, stream)) if seq_of(key) is not None]


def in_order(fetch: Callable[[T], R], items: Iterable[T], *, workers: int) -> Iterator[R]:
    """``map(fetch, items)`` with up to ``workers`` fetches in flight (S3 reads are I/O-bound), results in
    order, and a bounded look-ahead so memory does not grow with the archive."""
    if workers <= 1:
        yield from map(fetch, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fetch, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def iter_records(
    store: ObjectStore,
    *,
    scope: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    workers: int = 8,
    keys: TrustedKeys | None = None,
) -> Iterator[Record]:
    """Every record (and each chunk's ``run_summary``) of the chunks whose span meets [since, until), chain
    by chain and in seq order, read through the manifests signed by a trusted key (default: the archive's
    ``keys/``); foreign manifests are never read as evidence. A record archived twice with the same content
    (a retried chunk) is yielded once; the same ``record_id`` with *other* content is yielded again, so the
    reader sees the conflict (``verify`` names both objects). A records object whose bytes differ from its
    manifest's hash raises ArchiveError: run ``pr-auditor verify``. Filter on each record's own time for an
    exact period."""
    trusted = keys if keys is not None else keys_in(store)
    seen: dict[str, set[str]] = {}
    for chain_scope, stream in chains_in(store, scope=scope):

        def load(key: str) -> list[Record]:
            return _chunk_records(store, key, since, until, trusted)

        for records in in_order(load, manifest_keys(store, chain_scope, stream), workers=workers):
            for record in records:
                record_id = record.get("record_id")
                if isinstance(record_id, str):
                    versions = seen.setdefault(record_id, set())
                    content = sha256_hex(canonical_json(record))
                    if content in versions:
                        continue
                    versions.add(content)
                yield record


def _chunk_records(
    store: ObjectStore, key: str, since: datetime | None, until: datetime | None, keys: TrustedKeys
) -> list[Record]:
    try:
        manifest = _json_object(store.read(key))
        if manifest is None or keys.why_foreign(manifest) is not None:
            log.warning("evidence: %s is not a manifest signed by the archive's key; not read", key)
            return []
        if not meets(manifest.get("span") or manifest["window"], since, until):
            return []
        body = store.read(str(manifest["records_key"]))
        if body is None or sha256_hex(body) != manifest["records_sha256"]:
            raise ArchiveError(f"{manifest['records_key']}: missing or changed (run pr-auditor verify)")
        return decode_records(body)
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise ArchiveError(f"{key}: cannot read this chunk ({type(exc).__name__}: {exc})") from None


def iter_archived_records(
    client: Any,
    bucket: str,
    *,
    scope: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Record]:
    """``iter_records`` over the evidence bucket (the report command's reader)."""
    return iter_records(S3Store(bucket, client=client), scope=scope, since=since, until=until)


_archives: tuple[type[Archive], ...] = (EvidenceArchive, S3Archive)
_restorers: tuple[type[HeadRestorer], ...] = (EvidenceArchive, S3Archive)
