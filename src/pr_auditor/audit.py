"""Orchestration: source → evaluate → records → sink, for one window. Adapters are passed in."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pr_auditor.errors import SourceError
from pr_auditor.evaluate import evaluate, is_in_scope
from pr_auditor.model import PullRequest, Window
from pr_auditor.policy import Policy
from pr_auditor.records import RunStats, pull_request_record, run_summary_record

Record = dict[str, Any]
Sink = Callable[[Record], None]


class PullRequestSource(Protocol):
    """What the audit needs from GitHub; ``GitHubSource`` is the real one, tests pass plain-data fakes."""

    requests: int
    sub_windows: int

    def verify_access(self, orgs: tuple[str, ...]) -> str: ...

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterable[PullRequest]: ...


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
    clock: Callable[[], float] = time.monotonic,
) -> Record:
    """Audit every PR merged in the window, emit one record each and a closing run_summary.

    A PR returned twice (by a split window, or a search index that moved while we paged) is recorded
    once. If GitHub cannot be read completely the run emits a *failed* summary and raises
    AuditFailedError: a partial window is never reported as complete.
    """
    started = clock()
    stats = RunStats()
    seen: set[tuple[str, int, str]] = set()

    def summary(error: SourceError | None = None) -> Record:
        return run_summary_record(
            run_id=request.run_id,
            orgs=request.orgs,
            window=request.window,
            stats=stats,
            github_requests=source.requests,
            sub_windows=1 + source.sub_windows,
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
                stats.skip_out_of_scope(pr)
                continue
            evaluation = evaluate(pr, rules, policy_version=policy.version)
            stats.count(evaluation)
            emit(pull_request_record(evaluation, window=request.window, run_id=request.run_id))
    except SourceError as exc:
        failed = summary(exc)
        emit(failed)
        raise AuditFailedError(exc, failed) from exc
    done = summary()
    emit(done)
    return done
