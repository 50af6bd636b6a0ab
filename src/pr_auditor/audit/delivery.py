"""The life of every record: claim in the ledger → write → confirm → archive → notify, and what a later run
finishes after a crash. ``AuditPorts`` carries the adapters a run talks to; ``ReadOnlyLedger`` is the CLI's
view of a deployed stack's ledger. The layout of the state is in docs/state-and-delivery.md."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import islice

from pr_auditor.audit.ports import (
    Archive,
    ArchiveChunk,
    BranchSource,
    BypassSources,
    Ledger,
    LedgerEntry,
    LedgerReader,
    MemoryLedger,
    NoArchive,
    NoNotifier,
    Notifier,
    PackedRecords,
    PullRequestSource,
    Record,
    RecordIds,
)
from pr_auditor.core.errors import NotifyError
from pr_auditor.core.messages import is_finding
from pr_auditor.core.model import Window
from pr_auditor.core.policy import Policy

Sink = Callable[[Record], None]
log = logging.getLogger(__name__)

#: A ledger entry claimed longer ago than this belongs to a run that is gone (a Lambda runs 15 minutes at
#: most), so a later run may finish it: re-emit its record, publish its message, archive it.
LEASE = timedelta(minutes=16)


@dataclass(frozen=True, slots=True)
class AuditPorts:
    """Everything a run talks to. The CLI passes a memory ledger and no archive or notifier."""

    source: PullRequestSource
    policy: Policy
    emit: Sink
    ledger: Ledger = field(default_factory=MemoryLedger)
    archive: Archive = field(default_factory=NoArchive)
    notifier: Notifier = field(default_factory=NoNotifier)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # wall clock: claims, leases
    clock: Callable[[], float] = time.monotonic  # durations
    #: Branch readers for the direct-push, rewrite and protection audit, per group of organisations
    #: (None: PRs only).
    branches: Callable[[tuple[str, ...]], Sequence[tuple[tuple[str, ...], BranchSource]]] | None = None
    #: Readers of GitHub's own bypass records (rule suites, the audit log), per group of organisations
    #: (None: not read). See audit/bypasses.py.
    bypasses: Callable[[tuple[str, ...]], Sequence[tuple[tuple[str, ...], BypassSources]]] | None = None
    #: The CLI: no archive, no notifier and an in-run ledger (``RecordIds``), so a record is released as
    #: soon as it is written: nothing is kept for the chunk's confirmation or evidence object.
    streaming: bool = False


def scope_of(orgs: tuple[str, ...]) -> str:
    """The checkpoint key of a set of organisations (order and case do not matter)."""
    return ",".join(sorted({org.casefold() for org in orgs}))


class PendingEntries:
    """Ledger entries a chunk still has to confirm or archive: their states, and their records packed
    (``PackedRecords``) rather than held as dicts, so a chunk of 100,000 records stays small."""

    SAVE_BATCH = 500  # entries rebuilt and saved at a time

    def __init__(self) -> None:
        self._states: list[tuple[str, datetime, bool, bool, bool]] = []
        self.records = PackedRecords()

    def append(self, entry: LedgerEntry) -> None:
        self._states.append(
            (entry.record_id, entry.claimed_at, entry.recorded, entry.needs_notification, entry.notified)
        )
        self.records.append(entry.record)

    def extend(self, other: PendingEntries) -> None:
        self._states.extend(other._states)
        self.records.extend(other.records)

    def __len__(self) -> int:
        return len(self._states)

    def entries(self, *, archived: bool = False) -> Iterator[LedgerEntry]:
        for (record_id, claimed_at, recorded, needs, notified), record in zip(self._states, self.records, strict=True):
            yield LedgerEntry(record_id, record, claimed_at, recorded, archived, needs, notified)

    def save(self, ledger: Ledger, *, archived: bool = False) -> None:
        entries = self.entries(archived=archived)
        while batch := list(islice(entries, self.SAVE_BATCH)):
            ledger.save(batch)


class Delivery:
    """The life of every record of one invocation: claim → write → confirm, notify, archive.

    A record is claimed in the ledger (pending, the record stored in the entry) *before* it is written, and
    confirmed as recorded after; findings are published once and the ledger remembers it at once; at the
    end of a chunk its records go to the evidence archive and the entries are closed. Whatever a crash
    interrupts, a later run finishes from the ledger (``recover``): the worst case is a record written
    twice with the same ``record_id``, never one lost.
    """

    def __init__(self, ports: AuditPorts) -> None:
        self._ports = ports
        self._written = PendingEntries()  # recorded in this chunk, not yet confirmed in the ledger
        self._to_archive = PendingEntries()  # confirmed, waiting for the chunk's evidence object
        self.recovered = 0
        self.notify_failed = 0
        #: Written by this invocation before its first chunk (branch findings, a policy change), and the
        #: GitHub request count when that work began: the first chunk's summary reports both.
        self.preamble: list[Record] = []
        self.requests_mark: int | None = None
        #: Hooks that amend a record before it is claimed (a PR merged over an admin override gains
        #: ``admin_bypass``; see audit/bypasses.py), and what each bypass source read for the next run_summary
        #: (``sources``).
        self.amenders: list[Callable[[Record], None]] = []
        self.sources: dict[str, object] = {}
        self.notes: list[str] = []  # said once, in the next run summary (a source GitHub does not serve)

    def now(self) -> datetime:
        """The run's wall clock (the ports' ``now``)."""
        return self._ports.now()

    def deliver(self, record: Record) -> bool:
        """Claim, write and notify one record. False if an earlier run (or this one) already claimed it."""
        for amend in self.amenders:
            amend(record)
        notify = is_finding(record)
        now = self._ports.now()
        if not self._ports.ledger.claim(record, notify=notify, now=now):
            return False
        self._ports.emit(record)
        entry = LedgerEntry(str(record["record_id"]), record, now, recorded=True, needs_notification=notify)
        entry = self._notify(entry)
        if not self._ports.streaming:
            self._written.append(entry)
        return True

    def recover(self, *, lease: timedelta = LEASE) -> int:
        """Finish what earlier runs left open; returns how many entries were open."""
        entries = self._ports.ledger.open_entries(claimed_before=self._ports.now() - lease)
        for entry in entries:
            if not entry.recorded:
                self._ports.emit(entry.record)  # re-emitted: same record_id, the consumer can dedupe
                entry = replace(entry, recorded=True)
                self.recovered += 1
            entry = self._notify(entry)
            if entry.archived:
                self._ports.ledger.save([entry])
            else:
                self._written.append(entry)
        if entries:
            log.warning("finished %d ledger entries left open by earlier runs", len(entries))
        return len(entries)

    def take_notes(self) -> list[str]:
        """The notes gathered since the last call (each run summary says them once)."""
        notes, self.notes = self.notes, []
        return notes

    def take_counts(self) -> tuple[int, int, list[Record]]:
        """(records re-emitted, publishes failed, records written before the first chunk) since the last
        call: each run summary reports its share."""
        counts = (self.recovered, self.notify_failed, self.preamble)
        self.recovered = self.notify_failed = 0
        self.preamble = []
        return counts

    def _notify(self, entry: LedgerEntry) -> LedgerEntry:
        if not entry.needs_notification or entry.notified:
            return entry
        try:
            self._ports.notifier.publish(entry.record)
        except NotifyError as exc:
            # The finding stays un-notified in the ledger; a later run publishes it. The record and the
            # alarm already exist, so the run goes on (and the failure is counted in its summary).
            log.error("%s; a later run retries it", exc)
            self.notify_failed += 1
            return entry
        notified = replace(entry, notified=True)
        self._ports.ledger.save([notified])  # at once: a second message would need a crash right here
        return notified

    def confirm(self) -> None:
        """Mark every record written so far as recorded (one batch), so no later run re-emits it."""
        if self._written:
            self._written.save(self._ports.ledger)
            self._to_archive.extend(self._written)
            self._written = PendingEntries()

    def write(self, record: Record) -> None:
        """Write a record that is not a change (a run summary): no ledger entry."""
        self._ports.emit(record)

    def close_chunk(self, *, stream: str, window: Window, run_id: str, summary: Record) -> None:
        """Confirm, store the chunk's evidence, then close its entries. Raises ArchiveError (the chunk then
        does not count: the caller leaves the watermark, and the entries stay open for a later run)."""
        self.confirm()
        entries, self._to_archive = self._to_archive, PendingEntries()
        self._ports.archive.write_chunk(
            ArchiveChunk(
                scope=scope_of(summary["orgs"]),
                stream=stream,
                window=window.as_dict(),
                run_id=run_id,
                records=entries.records,
                summary=summary,
            )
        )
        entries.save(self._ports.ledger, archived=True)


class ReadOnlyLedger:
    """The CLI against a deployed stack: changes the stack already recorded are skipped (and counted), the
    rest is deduplicated within this process. It never writes the stack's ledger — only the function does,
    so the stack's evidence always reaches its log group and archive."""

    def __init__(self, reader: LedgerReader) -> None:
        self._reader = reader
        self._local = RecordIds()  # ids only: the CLI releases every record once it is written
        self.skipped = 0

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        if self._reader.is_recorded(str(record["record_id"])):
            self.skipped += 1
            return False
        return self._local.claim(record, notify=notify, now=now)

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        self._local.save(entries)

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        del claimed_before
        return []


_: Ledger = ReadOnlyLedger(MemoryLedger())
