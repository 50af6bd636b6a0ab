"""The ports the audit core talks through (typed protocols), with in-memory implementations for the CLI and
for tests. Adapters implement them: GitHub (``pr_auditor.github``), the DynamoDB state table, SNS and S3
(``pr_auditor.aws``), a local evidence folder (``pr_auditor.evidence.dir_store``). No I/O here.

The ledger is the heart of "never lose a finding, never report one twice". An entry goes through:

    claim (pending, the record stored in the entry) ─▶ record written ─▶ recorded (saved per chunk)
         ─▶ notified (findings only, saved at once)  ─▶ archived (the chunk's evidence object exists)

An entry stays *open* until it is recorded, archived and, if it is a finding, notified; a later run
finishes open entries whose claim is older than the lease (the run that claimed them is gone): it re-emits
a pending record (same ``record_id``: the worst case is a repeated record, never a lost one), publishes a
missing notification, and carries unarchived records into its own evidence object. Only the function
writes the ledger; every other reader (the CLI) only asks ``is_recorded``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from pr_auditor.core.branch_model import (
    Activity,
    ActivityMark,
    BranchKey,
    Commit,
    Comparison,
    Protection,
    RepoHeads,
    Unreadable,
    Walk,
    Walked,
)
from pr_auditor.core.model import AuditEvent, PullRequest, RuleSuite, Window
from pr_auditor.core.model import Record as Record  # re-exported: adapters name records through the ports

Document = dict[str, Any]


class PullRequestSource(Protocol):
    """What the audit needs from GitHub; the GitHub adapter is the real one, tests pass plain-data fakes."""

    requests: int
    sub_windows: int

    def verify_access(self, orgs: tuple[str, ...]) -> str: ...

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterable[PullRequest]: ...


class ConflictError(Exception):
    """A state document changed since it was read (optimistic concurrency): re-read and decide again."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the ledger knows of one record."""

    record_id: str
    record: Record
    claimed_at: datetime
    recorded: bool = False
    archived: bool = False
    needs_notification: bool = False
    notified: bool = False

    @property
    def is_open(self) -> bool:
        return not (self.recorded and self.archived and (self.notified or not self.needs_notification))


class Ledger(Protocol):
    """Which records were written, archived and notified, across runs (DynamoDB in AWS)."""

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        """Claim ``record["record_id"]`` as pending, storing the record. False if it was claimed before."""
        ...

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        """Persist the entries' new states (recorded, archived, notified); finished ones leave the open set."""
        ...

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        """Entries not yet finished whose claim is older than ``claimed_before``, oldest first."""
        ...


class LedgerReader(Protocol):
    """Read-only view of the ledger (the CLI against a deployed stack never writes it)."""

    def is_recorded(self, record_id: str) -> bool: ...


class StateStore(Protocol):
    """Small JSON documents with optimistic concurrency: the policy in force, branch heads, protection,
    the last reconciliation sweep. ``revision`` is 0 for a document that does not exist yet."""

    def load(self, name: str) -> tuple[Document | None, int]: ...

    def save(self, name: str, document: Document, *, revision: int) -> None:
        """Write ``document`` if its stored revision is still ``revision``; else raise ConflictError."""
        ...


class Notifier(Protocol):
    """Publishes one message per finding (SNS in AWS). Raises NotifyError when the publish failed."""

    def publish(self, record: Record) -> None: ...


@dataclass(frozen=True, slots=True)
class ArchiveChunk:
    """One completed chunk's evidence: its records (including records carried over from earlier runs that
    were written but not archived) and its run_summary."""

    scope: str
    stream: str  # "scheduled" | "backfill" | "sweep": each stream is its own hash chain
    window: Mapping[str, str]  # {"since", "until"}
    run_id: str
    records: Sequence[Record]  # a tuple, or PackedRecords (a large chunk's, decoded one at a time)
    summary: Record


class Archive(Protocol):
    """Write-once evidence storage (S3 Object Lock in AWS): records object + hash-chained manifest."""

    def write_chunk(self, chunk: ArchiveChunk) -> str:
        """Store the chunk; returns the manifest's key. Raises ArchiveError if either object failed."""
        ...


@runtime_checkable
class HeadRestorer(Protocol):
    """An archive that can tell (and repair) a state reset; the evidence archive is one, ``NoArchive`` not."""

    def restore_heads(self, scope: str) -> list[Document]:
        """Chains of ``scope`` whose head is gone from the state while the archive holds a signed chain: the
        heads are restored from the archive, and each is returned (``scope``, ``stream``, ``manifest_key``,
        ``seq``, ``sha256``) for a ``state_reset`` finding."""
        ...


class Checkpoint(Protocol):
    """The watermark: the end of the last window audited completely, per set of organisations."""

    def watermark(self, scope: str) -> datetime | None: ...

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds the run lease, and until when (it lapses on its own then)."""

    run_id: str
    until: datetime


class RunLease(Protocol):
    """One run at a time for the whole stack (a conditional write with an expiry in DynamoDB)."""

    def acquire(self, run_id: str, *, now: datetime, until: datetime) -> LeaseHolder | None:
        """Take the lease for ``run_id`` until ``until``. None when taken; else the live holder, untouched."""
        ...

    def release(self, run_id: str, *, now: datetime) -> None:
        """End ``run_id``'s lease now; a lease that another run holds is left alone."""
        ...


class BranchSource(Protocol):
    """What the branch audit needs from GitHub; ``pr_auditor.github.BranchReader`` is the real one."""

    requests: int

    def repositories(
        self, orgs: tuple[str, ...], *, pushed_since: datetime | None, all_branches: Callable[[str], bool]
    ) -> list[RepoHeads]:
        """Repositories pushed at or after ``pushed_since`` (all when None), with their branch heads."""
        ...

    def activity(
        self, repository: str, branch: str, *, mark: ActivityMark | None, since: datetime | None = None
    ) -> list[Activity] | None:
        """The branch's activity entries newer than ``mark`` (or at/after ``since``), oldest first; with
        neither, at least the newest (a baseline). None when GitHub does not serve activity (older GHES)."""
        ...

    def walk(self, walks: Sequence[Walk]) -> dict[BranchKey, Walked]: ...

    def commits(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Commit]:
        """Commits by (repository, sha), readable even when no branch reaches them any more."""
        ...

    def compare(self, repository: str, base: str, head: str, *, commits: bool = False) -> Comparison | None:
        """None when ``base`` is unknown to GitHub (a rewritten head that was garbage-collected). With
        ``commits``, every SHA ``head`` has and ``base`` has not."""
        ...

    def protection(self, branches: Sequence[BranchKey]) -> dict[BranchKey, Protection | Unreadable]: ...


class ObjectStore(Protocol):
    """Where the evidence archive's objects live: an S3 bucket, or a folder with the same layout."""

    def put_new(self, key: str, body: bytes, *, content_type: str) -> None:
        """Create ``key`` with ``body``; ObjectExistsError if the key exists, ArchiveError on any failure."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is no (current) object under ``key``."""
        ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, in ascending key order."""
        ...

    def list_children(self, prefix: str) -> list[str]:
        """The names one level below ``prefix`` ("folders"), sorted."""
        ...

    def rewritten_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` changed after their first write (more than one version, or a delete marker).
        The writer writes every key once, so any such key was tampered with. [] where there is no history."""
        ...


@dataclass(frozen=True, slots=True)
class NotReadable:
    """A source GitHub does not serve to these credentials (a 403 or 404): reported, never a failure."""

    reason: str


class RuleSuiteSource(Protocol):
    """GitHub's rule suites (``github.rule_suites.RuleSuiteReader``): pushes evaluated against rulesets.
    GitHub looks back one month at most; ``period`` is one of ``hour``, ``day``, ``week``, ``month``."""

    requests: int

    def bypasses(self, org: str, *, period: str) -> list[RuleSuite] | NotReadable:
        """Suites with result ``bypass`` pushed within ``period`` (without their rule evaluations)."""
        ...

    def evaluated(self, org: str, suite: RuleSuite) -> RuleSuite:
        """The same suite read by id, with its rule evaluations."""
        ...


class AuditLogSource(Protocol):
    """The organisation audit log (``github.audit_log.AuditLogReader``; GitHub Enterprise Cloud only)."""

    requests: int

    def events(self, org: str, *, since: datetime, category: str) -> list[AuditEvent] | NotReadable:
        """Events of ``category`` (``protected_branch``, an action name, ...) created at or after ``since``,
        oldest first."""
        ...

    def pull_request_for(self, repository: str, sha: str) -> dict[str, Any] | None:
        """The merged PR whose merge commit is ``sha`` ({"number", "url"}), None if GitHub knows none."""
        ...


@dataclass(frozen=True, slots=True)
class BypassSources:
    """The readers of GitHub's own bypass records for one group of organisations; ``audit_log`` None: the
    audit log is not read (it is opt-in)."""

    rule_suites: RuleSuiteSource
    audit_log: AuditLogSource | None = None


class Signer(Protocol):
    """Signs the evidence archive's manifests with a private key the signer never reveals (an asymmetric KMS
    key in AWS: only the function's role may use it). ``sign`` returns an ECDSA P-256 signature (DER) of
    ``message`` under ECDSA_SHA_256 (the message is hashed with SHA-256 by the signer); ``public_key_pem``
    is the matching public key (SubjectPublicKeyInfo PEM), which anyone may use to verify."""

    key_id: str
    algorithm: str

    def sign(self, message: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


class PackedRecords(Sequence[Record]):
    """Records kept for a chunk's evidence as compressed JSON lines, 256 to a block, rather than as dicts: a
    record costs about a tenth of its dict's memory, and iterating decodes one block at a time (what the
    archive does: encode, count, span). Records are JSON documents, so a record read back equals the one
    packed (tuples come back as lists, which JSON does not tell apart)."""

    BLOCK = 256

    def __init__(self, records: Iterable[Record] = ()) -> None:
        self._blocks: list[bytes] = []
        self._open: list[str] = []
        self._count = 0
        for record in records:
            self.append(record)

    def append(self, record: Record) -> None:
        self._open.append(json.dumps(record, separators=(",", ":"), ensure_ascii=True, allow_nan=False))
        self._count += 1
        if len(self._open) >= self.BLOCK:
            self._blocks.append(zlib.compress("\n".join(self._open).encode("ascii")))
            self._open = []

    def extend(self, other: PackedRecords) -> None:
        for record in other:
            self.append(record)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Record]:
        for block in self._blocks:
            yield from map(json.loads, zlib.decompress(block).decode("ascii").split("\n"))
        yield from map(json.loads, list(self._open))

    def __getitem__(self, index: int) -> Record:  # type: ignore[override]
        position = range(self._count)[index]  # IndexError as a list would raise it
        for at, record in enumerate(self):
            if at == position:
                return record
        raise IndexError(index)


# --- in-memory implementations: the CLI without a stack, and the fakes of the unit tests ------------------


@dataclass
class MemoryLedger:
    """A whole ledger in one process, records included (recovery after a crash re-emits them): the fake of
    the unit tests. The CLI keeps only record ids (``RecordIds``)."""

    entries: dict[str, LedgerEntry] = field(default_factory=dict)

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        record_id = str(record["record_id"])
        if record_id in self.entries:
            return False
        self.entries[record_id] = LedgerEntry(record_id, dict(record), now, needs_notification=notify)
        return True

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        for entry in entries:
            self.entries[entry.record_id] = entry

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        found = [e for e in self.entries.values() if e.is_open and e.claimed_at < claimed_before]
        return sorted(found, key=lambda e: e.claimed_at)

    def is_recorded(self, record_id: str) -> bool:
        return record_id in self.entries


def compact_key(text: str) -> bytes:
    """16 bytes that stand for ``text`` in an in-run set: a BLAKE2b digest (a collision among 10^9 keys has
    odds of about 10^-21), a third of a record id's size and nothing of the record."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass
class RecordIds:
    """The CLI's in-run dedupe: a ledger that keeps a compact key per record id it was asked to claim and
    never a record. A terminal run has no earlier runs to finish (``open_entries`` is empty) and nothing to
    archive, so once a record is written it is released: memory grows by 16 bytes a record, not by its body."""

    keys: set[bytes] = field(default_factory=set)

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        del notify, now
        key = compact_key(str(record["record_id"]))
        if key in self.keys:
            return False
        self.keys.add(key)
        return True

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        del entries  # nothing outlives the process

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        del claimed_before
        return []

    def is_recorded(self, record_id: str) -> bool:
        return compact_key(record_id) in self.keys


@dataclass
class MemoryState:
    documents: dict[str, tuple[Document, int]] = field(default_factory=dict)

    def load(self, name: str) -> tuple[Document | None, int]:
        document, revision = self.documents.get(name, (None, 0))
        return (dict(document) if document is not None else None), revision

    def save(self, name: str, document: Document, *, revision: int) -> None:
        if self.documents.get(name, (None, 0))[1] != revision:
            raise ConflictError(name)
        self.documents[name] = (dict(document), revision + 1)


@dataclass
class MemoryLease:
    """The run lease in one process (unit tests); ``holder`` is the current one, lapsed or not."""

    holder: LeaseHolder | None = None

    def acquire(self, run_id: str, *, now: datetime, until: datetime) -> LeaseHolder | None:
        if self.holder is not None and self.holder.until > now and self.holder.run_id != run_id:
            return self.holder
        self.holder = LeaseHolder(run_id, until)
        return None

    def release(self, run_id: str, *, now: datetime) -> None:
        if self.holder is not None and self.holder.run_id == run_id:
            self.holder = LeaseHolder(run_id, now)


@dataclass
class NoArchive:
    """No evidence store (the CLI): every chunk is accepted and nothing is kept."""

    def write_chunk(self, chunk: ArchiveChunk) -> str:
        del chunk
        return ""


@dataclass
class NoNotifier:
    """No per-finding messages (the CLI prints findings to stdout)."""

    def publish(self, record: Record) -> None:
        del record


PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


@dataclass
class MemoryRuleSuites:
    """Rule suites as plain data, with GitHub's look-back: a period lists only what ``now()`` minus it reaches."""

    suites: list[RuleSuite] = field(default_factory=list)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    readable: bool = True
    requests: int = 0

    def bypasses(self, org: str, *, period: str) -> list[RuleSuite] | NotReadable:
        self.requests += 1
        if not self.readable:
            return NotReadable("403 Forbidden")
        start = self.now() - PERIODS[period]
        found = [
            s for s in self.suites if s.result == "bypass" and s.repository.split("/")[0].casefold() == org.casefold()
        ]
        return [replace(s, evaluations=()) for s in found if s.pushed_at >= start]

    def evaluated(self, org: str, suite: RuleSuite) -> RuleSuite:
        self.requests += 1
        return next(s for s in self.suites if s.id == suite.id)


@dataclass
class MemoryAuditLog:
    """Audit-log events as plain data; ``readable`` False answers like an organisation without the API."""

    log: list[AuditEvent] = field(default_factory=list)
    pulls: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (repository, merge sha) → PR
    readable: bool = True
    requests: int = 0

    def events(self, org: str, *, since: datetime, category: str) -> list[AuditEvent] | NotReadable:
        self.requests += 1
        if not self.readable:
            return NotReadable("404 Not Found")
        found = [e for e in self.log if e.at >= since and (e.action == category or e.action.startswith(category + "."))]
        return sorted(found, key=lambda e: e.at)

    def pull_request_for(self, repository: str, sha: str) -> dict[str, Any] | None:
        self.requests += 1
        return self.pulls.get((repository, sha))


@dataclass
class LocalSigner:
    """A P-256 key held in this process (``cryptography``): the tests, the demo, and anyone who wants to try
    the archive without KMS. Same algorithm and encoding as the KMS signer, so ``verify`` treats both alike."""

    private_key: Any
    key_id: str = "local"
    algorithm: str = "ECDSA_SHA_256"

    @classmethod
    def generate(cls, key_id: str = "local") -> LocalSigner:
        from cryptography.hazmat.primitives.asymmetric import ec

        return cls(ec.generate_private_key(ec.SECP256R1()), key_id)

    def sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature: bytes = self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        return signature

    def public_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        pem: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem


_: tuple[Ledger, LedgerReader, Ledger, StateStore, Archive, Notifier, RunLease] = (
    MemoryLedger(),
    MemoryLedger(),
    RecordIds(),
    MemoryState(),
    NoArchive(),
    NoNotifier(),
    MemoryLease(),
)
_sources: tuple[RuleSuiteSource, AuditLogSource] = (MemoryRuleSuites(), MemoryAuditLog())
