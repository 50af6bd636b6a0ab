"""Orchestration: source → evaluate → records → sink, for one window; and the chunked, checkpointed runs
(scheduled catch-up and backfill) built from it. Adapters are passed in; the clock is an argument."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pr_auditor.errors import SourceError
from pr_auditor.evaluate import evaluate, is_in_scope
from pr_auditor.model import PullRequest, Verdict, Window, iso
from pr_auditor.policy import Policy
from pr_auditor.records import RunStats, pull_request_record, run_summary_record
from pr_auditor.windows import chunked, plan_chunks

Record = dict[str, Any]
Sink = Callable[[Record], None]
PRKey = tuple[str, int, str]
log = logging.getLogger(__name__)


class PullRequestSource(Protocol):
    """What the audit needs from GitHub; ``GitHubSource`` is the real one, tests pass plain-data fakes."""

    requests: int
    sub_windows: int

    def verify_access(self, orgs: tuple[str, ...]) -> str: ...

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterable[PullRequest]: ...


class Ledger(Protocol):
    """Remembers which merged changes were already recorded, across runs (DynamoDB in AWS)."""

    def claim(self, key: PRKey, *, verdict: Verdict, run_id: str) -> bool:
        """True if this run is the first to record the change; False if it was recorded before."""
        ...


class Checkpoint(Protocol):
    """The watermark: the end of the last window audited completely, per set of organisations."""

    def watermark(self, scope: str) -> datetime | None: ...

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None: ...


class MemoryLedger:
    """Dedupe within one process (the CLI without a state table; tests)."""

    def __init__(self) -> None:
        self.keys: set[PRKey] = set()

    def claim(self, key: PRKey, *, verdict: Verdict, run_id: str) -> bool:
        del verdict, run_id
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


@dataclass(frozen=True, slots=True)
class AuditRequest:
    orgs: tuple[str, ...]
    window: Window
    run_id: str


class AuditFailedError(SourceError):
    """The run could not audit its whole window; ``summary`` is the failed run_summary already emitted."""

    def __init__(self, cause: SourceError, summary: Record) -> None:
        super().__init__(str(cause))
        self.summary = summary


def run_audit(
    request: AuditRequest,
    *,
    source: PullRequestSource,
    policy: Policy,
    emit: Sink,
    ledger: Ledger | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Record:
    """Audit every PR merged in the window, emit one record each and a closing run_summary.

    A PR returned twice within the run (a split window, a search index that moved while we paged) is
    recorded once; a PR the ledger says was recorded by an earlier run (the trailing overlap, a retried
    window, a backfill) is not recorded again, so it raises no second finding and no second alarm. The
    ledger is claimed *before* the record is written: a failed claim stops the run before anything is
    emitted. If GitHub cannot be read completely the run emits a *failed* summary and raises
    AuditFailedError: a partial window is never reported as complete.
    """
    started = clock()
    stats = RunStats()
    seen: set[PRKey] = set()
    requests_before, sub_windows_before = source.requests, source.sub_windows

    def summary(error: SourceError | None = None) -> Record:
        return run_summary_record(
            run_id=request.run_id,
            orgs=request.orgs,
            window=request.window,
            stats=stats,
            github_requests=source.requests - requests_before,
            sub_windows=1 + source.sub_windows - sub_windows_before,
            duration_seconds=clock() - started,
            policy_version=policy.version,
            error=error,
        )

    try:
        source.verify_access(request.orgs)
        for pr in source.merged_pull_requests(request.orgs, request.window):
            if pr.key in seen:
                stats.duplicates += 1
                continue
            seen.add(pr.key)
            rules = policy.for_repository(pr.repository)
            if not is_in_scope(pr, rules):
                stats.out_of_scope += 1  # counted, not a finding
                continue
            evaluation = evaluate(pr, rules, policy_version=policy.version)
            if ledger is not None and not ledger.claim(pr.key, verdict=evaluation.verdict, run_id=request.run_id):
                stats.already_recorded += 1
                continue
            stats.count(evaluation)
            emit(pull_request_record(evaluation, window=request.window, run_id=request.run_id))
    except SourceError as exc:
        failed = summary(exc)
        emit(failed)
        raise AuditFailedError(exc, failed) from exc
    done = summary()
    emit(done)
    return done


@dataclass(frozen=True, slots=True)
class Schedule:
    """How scheduled runs plan their windows (validated settings, see settings.py)."""

    overlap: timedelta
    chunk: timedelta
    first_start: datetime


@dataclass(slots=True)
class ChunkedRun:
    """What an invocation did: the summaries of the chunks it completed, and the chunks it left."""

    summaries: list[Record]
    pending: list[Window]

    def as_result(self) -> Record:
        return {
            "chunks_completed": len(self.summaries),
            "chunks_pending": len(self.pending),
            "resume_from": iso(self.pending[0].since) if self.pending else None,
            "audited": sum(s["counts"]["audited"] for s in self.summaries),
            "non_compliant": sum(s["counts"]["non_compliant"] for s in self.summaries),
            "github_requests": sum(s["github_requests"] for s in self.summaries),
            "windows": [s["window"] for s in self.summaries],
        }


def scope_of(orgs: tuple[str, ...]) -> str:
    """The checkpoint key of a set of organisations (order and case do not matter)."""
    return ",".join(sorted({org.casefold() for org in orgs}))


def run_scheduled(
    orgs: tuple[str, ...],
    *,
    now: datetime,
    schedule: Schedule,
    checkpoint: Checkpoint,
    run_id: str,
    has_time: Callable[[], bool],
    **audit: Any,
) -> ChunkedRun:
    """Audit from the watermark (minus the overlap) to ``now`` in chunks, advancing the watermark after each
    chunk is completely audited and recorded. Stops starting chunks when ``has_time()`` says the invocation
    is running out of time; the next invocation continues from the watermark. A failing chunk raises and
    leaves the watermark where the last complete chunk put it."""
    scope = scope_of(orgs)
    chunks = plan_chunks(
        watermark=checkpoint.watermark(scope),
        now=now,
        overlap=schedule.overlap,
        chunk=schedule.chunk,
        first_start=schedule.first_start,
    )
    summaries: list[Record] = []
    for index, window in enumerate(chunks):
        if summaries and not has_time():
            log.warning(
                "out of time: %d chunk(s) left from %s for the next run", len(chunks) - index, iso(window.since)
            )
            return ChunkedRun(summaries, chunks[index:])
        summaries.append(run_audit(AuditRequest(orgs, window, f"{run_id}:{index}"), **audit))
        checkpoint.advance(scope, window.until, run_id=run_id)
    return ChunkedRun(summaries, [])


def run_backfill(
    orgs: tuple[str, ...],
    window: Window,
    *,
    chunk: timedelta,
    run_id: str,
    has_time: Callable[[], bool] = lambda: True,
    progress: Callable[[int, int, Record], None] | None = None,
    **audit: Any,
) -> ChunkedRun:
    """Audit an arbitrary historical window in chunks, independent of the watermark, with the same
    dedupe. Returns the chunks it could not start in time (resume from the first one)."""
    chunks = chunked(window, chunk)
    summaries: list[Record] = []
    for index, part in enumerate(chunks):
        if summaries and not has_time():
            return ChunkedRun(summaries, chunks[index:])
        summaries.append(run_audit(AuditRequest(orgs, part, f"{run_id}:{index}"), **audit))
        if progress is not None:
            progress(index + 1, len(chunks), summaries[-1])
    return ChunkedRun(summaries, [])
