"""Orchestration: source → evaluate → records → delivery, for one window; and the chunked, checkpointed runs
(scheduled catch-up with its reconciliation sweep, and backfill) built from it. Adapters are passed in as
typed ports; the clocks are arguments."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pr_auditor.audit.branch_audit import audit_branches
from pr_auditor.audit.bypasses import read_bypasses
from pr_auditor.audit.delivery import AuditPorts, Delivery, ReadOnlyLedger, Sink, scope_of
from pr_auditor.audit.policy_in_force import policy_history, record_policy_change
from pr_auditor.audit.ports import (
    Checkpoint,
    ConflictError,
    HeadRestorer,
    Ledger,
    MemoryLedger,
    PullRequestSource,
    Record,
    StateStore,
    compact_key,
)
from pr_auditor.core.errors import AuditError, ConfigError, SourceError, describe
from pr_auditor.core.evaluate import evaluate, is_in_scope
from pr_auditor.core.model import Window, iso
from pr_auditor.core.policy import Policy
from pr_auditor.core.records import RunStats, pull_request_record, run_summary_record, state_reset_record
from pr_auditor.core.windows import chunked, plan_chunks

log = logging.getLogger(__name__)

__all__ = [
    "AuditFailedError",
    "AuditPorts",
    "AuditRejectedError",
    "AuditRequest",
    "Checkpoint",
    "ChunkedRun",
    "Delivery",
    "PullRequestSource",
    "ReadOnlyLedger",
    "Schedule",
    "failed_run_summary",
    "record_policy_change",
    "run_audit",
    "run_backfill",
    "run_scheduled",
    "scope_of",
]


@dataclass(frozen=True, slots=True)
class AuditRequest:
    orgs: tuple[str, ...]
    window: Window
    run_id: str
    #: Newly recorded PRs merged before this moment were missed by an earlier pass (the search index
    #: showed them late): counted as ``late_indexed``.
    late_before: datetime | None = None
    #: The evidence chain the chunk belongs to: "scheduled", "sweep", "backfill" (or "cli": not archived).
    stream: str = "cli"


class AuditRejectedError(ConfigError):
    """The run stopped on bad configuration found only once it started (a token no header can carry, say);
    ``summary`` is the failed run_summary already emitted. Retrying will not help: fix the input."""

    def __init__(self, cause: ConfigError, summary: Record) -> None:
        super().__init__(describe(cause))
        self.summary = summary


class AuditFailedError(SourceError):
    """The run could not audit its whole window; ``summary`` is the failed run_summary already emitted.
    ``__cause__`` is what failed (GitHub, the state table, the archive, or a bug)."""

    def __init__(self, cause: BaseException, summary: Record) -> None:
        super().__init__(describe(cause))
        self.summary = summary


def run_audit(
    request: AuditRequest,
    *,
    source: PullRequestSource,
    policy: Policy,
    emit: Sink,
    ledger: Ledger | None = None,
    clock: Callable[[], float] = time.monotonic,
    delivery: Delivery | None = None,
    extra_records: Callable[[], Iterable[Record]] | None = None,
    policy_at: Callable[[datetime], Policy] | None = None,
) -> Record:
    """Audit every PR merged in the window, deliver one record each and a closing run_summary.

    A PR returned twice within the run (a split window, a search index that moved while we paged) is
    recorded once; a PR the ledger says was recorded before (the trailing overlap, a retried window, a
    backfill) is not recorded again, so it raises no second finding. Any failure — GitHub, the state table,
    or a bug — emits a *failed* summary before it is raised: a partial window is never reported as
    complete, and no run ends without a summary. ``policy_at`` gives the policy in force at a PR's merge
    (the recorded history); without it every PR is judged under ``policy``.
    """
    if delivery is None:
        delivery = Delivery(AuditPorts(source, policy, emit, ledger if ledger is not None else MemoryLedger()))
    started = clock()
    stats = RunStats()
    seen: set[bytes] = set()  # compact keys of the PRs seen in this window (16 bytes each, nothing of the PR)
    requests_before, sub_windows_before = source.requests, source.sub_windows
    if delivery.requests_mark is not None:  # the first chunk also reports the work done before it
        requests_before, delivery.requests_mark = delivery.requests_mark, None

    def summary(error: BaseException | None = None) -> Record:
        stats.recovered, stats.notify_failed, preamble = delivery.take_counts()
        stats.notes.extend(delivery.take_notes())
        for record in preamble:
            stats.count_other(record)
        sources, delivery.sources = delivery.sources, {}
        record = run_summary_record(
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
        if sources:
            record["sources"] = sources  # what each of GitHub's bypass sources read, or why it could not
        return record

    try:
        source.verify_access(request.orgs)
        for pr in source.merged_pull_requests(request.orgs, request.window):
            key = compact_key("\x1f".join(map(str, pr.key)))
            if key in seen:
                stats.duplicates += 1
                continue
            seen.add(key)
            in_force = policy_at(pr.merged_at) if policy_at is not None else policy
            rules = in_force.for_repository(pr.repository)
            if not is_in_scope(pr, rules):
                stats.out_of_scope += 1  # counted, not a finding
                continue
            evaluation = evaluate(pr, rules, policy_version=in_force.version)
            record = pull_request_record(evaluation, window=request.window, run_id=request.run_id)
            if not delivery.deliver(record):
                stats.already_recorded += 1
                continue
            stats.verdicts[record["verdict"]] += 1  # the record's: an amender may have added a violation
            if request.late_before is not None and pr.merged_at < request.late_before:
                stats.late_indexed += 1
        for record in extra_records() if extra_records is not None else ():
            if delivery.deliver(record):
                stats.count_other(record)
            else:
                stats.already_recorded += 1
        done = summary()
        # The chunk counts only once its evidence is stored: the completed summary is written after that.
        delivery.close_chunk(stream=request.stream, window=request.window, run_id=request.run_id, summary=done)
    except Exception as exc:
        failed = summary(exc)
        try:
            delivery.confirm()  # what was written stays written: no re-emission by a later run
        except AuditError:
            log.exception("could not confirm the records written before the failure; a later run re-emits them")
        delivery.write(failed)
        raise _summarised(exc, failed) from exc
    delivery.write(done)
    return done


@dataclass(frozen=True, slots=True)
class Schedule:
    """How scheduled runs plan their windows and their reconciliation sweep (validated settings)."""

    overlap: timedelta
    chunk: timedelta
    first_start: datetime
    #: The sweep re-searches this trailing period (GitHub's index sometimes lags hours) …
    sweep_period: timedelta = timedelta(days=7)
    #: … this often. ``timedelta(0)`` switches it off.
    sweep_every: timedelta = timedelta(days=1)


@dataclass(slots=True)
class ChunkedRun:
    """What an invocation did: the summaries of the chunks it completed, and the chunks it left."""

    summaries: list[Record]
    pending: list[Window]
    records: list[Record] = field(default_factory=list)  # records other than PRs (policy changes, …)

    def as_result(self) -> Record:
        return {
            "chunks_completed": len(self.summaries),
            "chunks_pending": len(self.pending),
            "resume_from": iso(self.pending[0].since) if self.pending else None,
            "audited": sum(s["counts"]["audited"] for s in self.summaries),
            "non_compliant": sum(s["counts"]["non_compliant"] for s in self.summaries),
            "late_indexed": sum(s["counts"]["late_indexed"] for s in self.summaries),
            "github_requests": sum(s["github_requests"] for s in self.summaries),
            "other_records": dict(Counter(str(r.get("kind")) for r in self.records)),
            "windows": [s["window"] for s in self.summaries],
        }


def _audit_chunks(
    orgs: tuple[str, ...],
    chunks: list[Window],
    *,
    stream: str,
    run_id: str,
    ports: AuditPorts,
    delivery: Delivery,
    has_time: Callable[[], bool],
    late_before: Callable[[Window], datetime | None] = lambda _: None,
    after_chunk: Callable[[Window], None] = lambda _: None,
    policy_at: Callable[[datetime], Policy] | None = None,
) -> Iterator[tuple[int, Record]]:
    """Audit, archive and checkpoint chunk after chunk; yields (index, summary). Stops when out of time."""
    for index, window in enumerate(chunks):
        if index and not has_time():
            log.warning("out of time: %d chunk(s) left from %s", len(chunks) - index, iso(window.since))
            return
        summary = run_audit(
            AuditRequest(orgs, window, f"{run_id}:{stream}:{index}", late_before(window), stream),
            source=ports.source,
            policy=ports.policy,
            emit=ports.emit,
            clock=ports.clock,
            delivery=delivery,
            policy_at=policy_at,
        )
        after_chunk(window)
        yield index, summary


def run_scheduled(
    orgs: tuple[str, ...],
    *,
    now: datetime,
    schedule: Schedule,
    checkpoint: Checkpoint,
    run_id: str,
    has_time: Callable[[], bool],
    ports: AuditPorts,
    state: StateStore | None = None,
    policy_origin: Callable[[], Record] | None = None,
) -> ChunkedRun:
    """Finish what earlier runs left open; record a policy change; audit from the watermark (minus the
    overlap) up to ``now`` in chunks, archiving each and then advancing the watermark; then, when due and
    time allows, the reconciliation sweep. ``now`` never passes the function's own clock, so a forged
    future event cannot push the watermark ahead. Stops starting chunks when ``has_time()`` says the
    invocation is running out of time; the next invocation continues from the watermark. A failing chunk
    raises and leaves the watermark where the last complete chunk put it."""
    scope = scope_of(orgs)
    now = min(now, ports.now())
    with failures_summarised(orgs, Window(now - schedule.chunk, now), run_id, ports):
        return _run_scheduled(orgs, scope, now, schedule, checkpoint, run_id, has_time, ports, state, policy_origin)


def _run_scheduled(
    orgs: tuple[str, ...],
    scope: str,
    now: datetime,
    schedule: Schedule,
    checkpoint: Checkpoint,
    run_id: str,
    has_time: Callable[[], bool],
    ports: AuditPorts,
    state: StateStore | None,
    policy_origin: Callable[[], Record] | None,
) -> ChunkedRun:
    delivery = Delivery(ports)
    delivery.recover()
    extra: list[Record] = []
    branch_failure: AuditFailedError | None = None
    delivery.requests_mark = ports.source.requests
    if state is not None:
        extra.extend(record_policy_change(scope, ports.policy, state, delivery, run_id, policy_origin, now=ports.now()))
        bypasses = read_bypasses(orgs, now=now, run_id=run_id, ports=ports, state=state, delivery=delivery)
        extra.extend(bypasses.records)
        extra.extend(record_state_resets(scope, ports, delivery, run_id))
        try:
            extra.extend(audit_branch_heads(orgs, now=now, run_id=run_id, ports=ports, state=state, delivery=delivery))
        except Exception as exc:
            # The branch audit failing must not stop the PR audit: its failure gets its own failed summary,
            # the heads stay where they were (audited again next run), and the invocation fails at the end.
            failed = failed_run_summary(orgs, Window(now - schedule.chunk, now), f"{run_id}:branches",
                                        ports.policy.version, exc)  # fmt: skip
            failed["github_requests"] = ports.source.requests - (delivery.requests_mark or 0)
            delivery.requests_mark = ports.source.requests
            ports.emit(failed)
            branch_failure = AuditFailedError(exc, failed)
            branch_failure.__cause__ = exc
    policy_at = judged_by_history(ports.policy, state)
    watermark = checkpoint.watermark(scope)
    chunks = plan_chunks(
        watermark=watermark,
        now=now,
        overlap=schedule.overlap,
        chunk=schedule.chunk,
        first_start=schedule.first_start,
    )
    delivery.preamble = list(extra)
    run = ChunkedRun([], [], extra)
    done = 0
    for index, summary in _audit_chunks(
        orgs,
        chunks,
        stream="scheduled",
        run_id=run_id,
        ports=ports,
        delivery=delivery,
        has_time=has_time,
        late_before=lambda window: watermark if watermark is not None and window.since < watermark else None,
        after_chunk=lambda window: checkpoint.advance(scope, window.until, run_id=run_id),
        policy_at=policy_at,
    ):
        run.summaries.append(summary)
        done = index + 1
    run.pending = chunks[done:]
    if not run.pending and state is not None and has_time():
        floor = chunks[0].since if watermark is None and chunks else now
        run.summaries.extend(_sweep(orgs, now=now, floor=floor, schedule=schedule, state=state, run_id=run_id,
                                    ports=ports, delivery=delivery, has_time=has_time,
                                    policy_at=policy_at))  # fmt: skip
    delivery.confirm()  # records written outside a chunk (no chunk ran): confirmed, archived by a later run
    if state is not None:
        bypasses.finish(state)
        if bypasses.failure is not None and branch_failure is None:
            branch_failure = _bypass_failure(orgs, Window(now - schedule.chunk, now), run_id, ports, bypasses.failure)
    if branch_failure is not None:
        raise branch_failure
    return run


def _bypass_failure(
    orgs: tuple[str, ...], window: Window, run_id: str, ports: AuditPorts, cause: BaseException
) -> AuditFailedError:
    """A bypass source failed (its watermark stayed): the PR audit went on, the invocation fails at its end
    with a failed summary of its own, like a failed branch audit."""
    failed = failed_run_summary(orgs, window, f"{run_id}:bypasses", ports.policy.version, cause)
    ports.emit(failed)
    error = AuditFailedError(cause, failed)
    error.__cause__ = cause
    return error


def audit_branch_heads(
    orgs: tuple[str, ...], *, now: datetime, run_id: str, ports: AuditPorts, state: StateStore, delivery: Delivery
) -> list[Record]:
    """Every commit that reached an in-scope branch since its last audited head and that no merged PR
    brought in, every rewritten history, every protection change: claimed and written like PR records
    (they go into this run's first evidence object); the heads move only after their records are claimed."""
    if ports.branches is None:
        return []
    delivered: list[Record] = []
    for group, reader in ports.branches(orgs):
        branch = audit_branches(group, source=reader, policy=ports.policy, state=state, run_id=run_id, now=now)
        delivered.extend(record for record in branch.records if delivery.deliver(record))
        delivery.notes.extend(branch.notes)
        delivery.confirm()
        try:
            branch.commit(state)
        except ConflictError:
            log.warning("another run moved the branch heads of %s; their records dedupe by id", ",".join(group))
        log.info("branch audit of %s: %s", ",".join(group), branch.counts())
    return delivered


def _sweep(
    orgs: tuple[str, ...],
    *,
    now: datetime,
    floor: datetime,
    schedule: Schedule,
    state: StateStore,
    run_id: str,
    ports: AuditPorts,
    delivery: Delivery,
    has_time: Callable[[], bool],
    policy_at: Callable[[datetime], Policy] | None = None,
) -> list[Record]:
    """Re-search a longer trailing period for PRs the search index showed later than the overlap; every PR
    it records is ``late_indexed``. Progress is kept in the state table, so a sweep cut short by the time
    limit resumes where it stopped instead of starting over."""
    if schedule.sweep_every <= timedelta(0):
        return []
    name = f"sweep#{scope_of(orgs)}"
    found, revision = state.load(name)
    if found is None:
        # The first run starts the clock: a sweep never reaches back before the audit began.
        state.save(name, {"floor": iso(floor), "last_completed": iso(now)}, revision=revision)
        return []
    document = found
    cursor, target = document.get("cursor"), document.get("target")
    if cursor is None or target is None:
        if datetime.fromisoformat(document["last_completed"]) + schedule.sweep_every > now:
            return []
        start = max(now - schedule.sweep_period, datetime.fromisoformat(document["floor"]))
        if start >= now:
            return []
        cursor, target = iso(start), iso(now)
    chunks = chunked(Window(datetime.fromisoformat(cursor), datetime.fromisoformat(target)), schedule.chunk)
    summaries: list[Record] = []

    def progress(window: Window) -> None:
        nonlocal revision
        document.update(cursor=iso(window.until), target=target)
        if window.until >= chunks[-1].until:
            document.update(cursor=None, target=None, last_completed=target)
        try:
            state.save(name, document, revision=revision)
        except ConflictError:
            log.warning("another run moved the sweep on; this one stops sweeping")
            raise
        revision += 1

    try:
        for _, summary in _audit_chunks(orgs, chunks, stream="sweep", run_id=run_id, ports=ports, delivery=delivery,
                                        has_time=has_time, late_before=lambda _: now, after_chunk=progress,
                                        policy_at=policy_at):  # fmt: skip
            summaries.append(summary)
    except ConflictError:
        pass
    return summaries


def record_state_resets(scope: str, ports: AuditPorts, delivery: Delivery, run_id: str) -> list[Record]:
    """A chain head gone from the state table while the archive holds the signed chain (the table was
    emptied, restored or replaced): the chain continues from the archive, and a ``state_reset`` finding
    says so, instead of starting afresh silently."""
    if not isinstance(ports.archive, HeadRestorer):
        return []  # no archive (the CLI), or one without chain heads
    records: list[Record] = []
    for restored in ports.archive.restore_heads(scope):
        record = state_reset_record(
            scope=scope,
            stream=str(restored["stream"]),
            manifest_key=str(restored["manifest_key"]),
            seq=int(restored["seq"]),
            sha256=str(restored["sha256"]),
            run_id=run_id,
        )
        if delivery.deliver(record):
            records.append(record)
    return records


def run_backfill(
    orgs: tuple[str, ...],
    window: Window,
    *,
    chunk: timedelta,
    run_id: str,
    ports: AuditPorts,
    has_time: Callable[[], bool] = lambda: True,
    progress: Callable[[int, int, Record], None] | None = None,
    state: StateStore | None = None,
    policy_origin: Callable[[], Record] | None = None,
) -> ChunkedRun:
    """Audit an arbitrary historical window in chunks, independent of the watermark, with the same ledger
    and its own evidence chain. Returns the chunks it could not start in time (resume from the first one).
    With the stack's ``state``, a policy change is recorded first and each PR is judged under the policy
    recorded in force at its merge: relaxing the parameter for one backfill launders nothing."""
    chunks = chunked(window, chunk)
    run = ChunkedRun([], [])
    with failures_summarised(orgs, window, run_id, ports):
        delivery = Delivery(ports)
        delivery.recover()
        if state is not None:
            run.records.extend(record_policy_change(scope_of(orgs), ports.policy, state, delivery, run_id,
                                                    policy_origin, now=ports.now()))  # fmt: skip
        run.records.extend(record_state_resets(scope_of(orgs), ports, delivery, run_id))
        delivery.preamble = list(run.records)
        for index, summary in _audit_chunks(
            orgs, chunks, stream="backfill", run_id=run_id, ports=ports, delivery=delivery, has_time=has_time,
            policy_at=judged_by_history(ports.policy, state),
        ):  # fmt: skip
            run.summaries.append(summary)
            if progress is not None:
                progress(index + 1, len(chunks), summary)
        run.pending = chunks[len(run.summaries) :]
        delivery.confirm()
    return run


def judged_by_history(policy: Policy, state: StateStore | None) -> Callable[[datetime], Policy] | None:
    """The policy in force at a moment, from the history the state keeps (``policy`` where none is kept)."""
    if state is None:
        return None
    history = policy_history(state)
    return lambda moment: history.in_force_at(moment, fallback=policy)


@contextmanager
def failures_summarised(orgs: tuple[str, ...], window: Window, run_id: str, ports: AuditPorts) -> Iterator[None]:
    """No run ends without a summary: a failure outside a chunk (finishing open ledger entries, reading the
    state, a bug) writes a failed run_summary for the run's window, then is raised as AuditFailedError.
    A chunk's own failure has written its summary already and passes through."""
    started = ports.clock()
    try:
        yield
    except (AuditFailedError, AuditRejectedError):
        raise
    except Exception as exc:
        failed = failed_run_summary(orgs, window, run_id, ports.policy.version, exc, duration=ports.clock() - started)
        ports.emit(failed)
        raise _summarised(exc, failed) from exc


def _summarised(cause: Exception, summary: Record) -> AuditFailedError | AuditRejectedError:
    """The error a run raises once its failed summary is written: bad input stays bad input (exit 2)."""
    if isinstance(cause, ConfigError):
        return AuditRejectedError(cause, summary)
    return AuditFailedError(cause, summary)


def failed_run_summary(
    orgs: tuple[str, ...],
    window: Window,
    run_id: str,
    policy_version: str | None,
    error: BaseException,
    *,
    duration: float = 0.0,
) -> Record:
    """The summary of a run that failed before it audited anything: every count zero, the error described."""
    return run_summary_record(
        run_id=run_id,
        orgs=orgs,
        window=window,
        stats=RunStats(),
        github_requests=0,
        sub_windows=0,
        duration_seconds=duration,
        policy_version=policy_version,
        error=error,
    )
