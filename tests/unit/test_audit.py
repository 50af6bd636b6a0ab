"""run_audit over a plain-data fake source: every PR once, out-of-scope counted, failures never look complete."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.ports import MemoryLedger
from pr_auditor.audit.runs import (
    AuditFailedError,
    AuditPorts,
    AuditRequest,
    Schedule,
    run_audit,
    run_backfill,
    run_scheduled,
)
from pr_auditor.core.errors import UnavailableError
from pr_auditor.core.model import PullRequest, Window
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.core.records import pull_request_record_id

from builders import pull_request, review

WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


@dataclass
class FakeSource:
    """Plain data plus an optional error raised after yielding ``fail_after`` PRs."""

    prs: list[PullRequest]
    error: Exception | None = None
    fail_after: int = 0
    requests: int = 0
    sub_windows: int = 0
    asked: list[tuple[tuple[str, ...], Window]] = field(default_factory=list)

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        self.requests += 1
        return "auditor"

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        self.asked.append((orgs, window))
        for index, pr in enumerate(self.prs):
            if self.error is not None and index == self.fail_after:
                raise self.error
            self.requests += 1
            yield pr
        if self.error is not None and self.fail_after >= len(self.prs):
            raise self.error


def audit(source: FakeSource, policy: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    summary = run_audit(
        AuditRequest(orgs=("acme",), window=WINDOW, run_id="run-1"),
        source=source,
        policy=policy_from_mapping(policy or {}),
        emit=records.append,
    )
    return summary, records


def test_every_pr_gets_one_record_and_the_run_ends_with_a_summary() -> None:
    # Given three merged PRs, one of them returned twice by the source
    ok = pull_request(number=1, reviews=(review("bob"),))
    bad = pull_request(number=2)
    release = pull_request(number=3, base="release/1.0")
    source = FakeSource([ok, bad, ok, release])
    # When the window is audited
    summary, records = audit(source)
    # Then each in-scope PR is recorded once, the out-of-scope one only counted, and the summary closes the run
    assert [(r["kind"], r.get("number")) for r in records] == [
        ("pull_request", 1),
        ("pull_request", 2),
        ("run_summary", None),
    ]
    assert records[-1] is summary
    assert summary["status"] == "completed"
    assert summary["counts"] == {
        "compliant": 1,
        "non_compliant": 1,
        "exempt": 0,
        "audited": 2,
        "out_of_scope": 1,
        "duplicates": 1,
        "already_recorded": 0,
        "late_indexed": 0,
        "recovered": 0,
        "notify_failed": 0,
        "direct_pushes": 0,
    }
    assert summary["github_requests"] == 5


def test_a_pr_in_a_release_branch_is_audited_when_the_policy_covers_it() -> None:
    _, records = audit(FakeSource([pull_request(base="release/1.0")]), {"branches": ["main", "release/*"]})
    assert records[0]["verdict"] == "non_compliant"


def test_a_failing_source_ends_the_run_with_a_failed_summary_and_an_error() -> None:
    # Given a source that fails after one PR
    source = FakeSource(
        [pull_request(number=1), pull_request(number=2)], UnavailableError("GitHub answered HTTP 502"), 1
    )
    records: list[dict[str, Any]] = []
    # When the window is audited, Then the run raises rather than reporting a partial window as complete
    with pytest.raises(AuditFailedError, match="HTTP 502") as failure:
        run_audit(
            AuditRequest(orgs=("acme",), window=WINDOW, run_id="run-1"),
            source=source,
            policy=policy_from_mapping({}),
            emit=records.append,
        )
    assert [r["kind"] for r in records] == ["pull_request", "run_summary"]
    assert records[-1]["status"] == "failed"
    assert records[-1]["error"] == {"type": "UnavailableError", "message": "GitHub answered HTTP 502"}
    assert failure.value.summary is records[-1]


@dataclass
class FakeCheckpoint:
    marks: dict[str, datetime] = field(default_factory=dict)

    def watermark(self, scope: str) -> datetime | None:
        return self.marks.get(scope)

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None:
        self.marks[scope] = max(until, self.marks.get(scope, until))


@dataclass
class WindowedSource(FakeSource):
    """Returns only the PRs merged in the asked window, and can fail on the n-th window asked."""

    fail_on_window: int | None = None

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        self.asked.append((orgs, window))
        if self.fail_on_window == len(self.asked):
            raise UnavailableError("GitHub answered HTTP 502")
        yield from (pr for pr in self.prs if window.contains(pr.merged_at))


HOUR = timedelta(hours=1)
SCHEDULE = Schedule(overlap=2 * HOUR, chunk=24 * HOUR, first_start=WINDOW.since)


def merged(hours: float, number: int) -> PullRequest:
    return pull_request(number=number, merged_at=WINDOW.since + timedelta(hours=hours), merge_commit_sha=f"m{number}")


def scheduled(source: FakeSource, checkpoint: FakeCheckpoint, now: datetime, ledger: MemoryLedger, **kw: Any) -> Any:
    records: list[dict[str, Any]] = []
    run = run_scheduled(
        ("acme",),
        now=now,
        schedule=SCHEDULE,
        checkpoint=checkpoint,
        run_id="r",
        has_time=kw.pop("has_time", lambda: True),
        ports=AuditPorts(source, policy_from_mapping({}), records.append, ledger, now=lambda: now),
    )
    return run, records


def test_a_catch_up_after_an_outage_checkpoints_every_chunk() -> None:
    # Given three days of merges and no run yet
    source = WindowedSource([merged(h, n) for n, h in enumerate((1, 30, 55, 70), start=1)])
    checkpoint, ledger = FakeCheckpoint(), MemoryLedger()
    # When the first run happens three days in
    run, records = scheduled(source, checkpoint, WINDOW.since + 72 * HOUR, ledger)
    # Then it audits day by day and the watermark ends at the run's time
    assert [w.until - w.since for _, w in source.asked] == [24 * HOUR] * 3
    assert sorted(r["number"] for r in records if r["kind"] == "pull_request") == [1, 2, 3, 4]
    assert checkpoint.marks["acme"] == WINDOW.since + 72 * HOUR
    assert run.pending == []


def test_out_of_time_stops_between_chunks_and_the_next_run_continues_from_the_watermark() -> None:
    source = WindowedSource([merged(h, n) for n, h in enumerate((1, 30, 55), start=1)])
    checkpoint, ledger = FakeCheckpoint(), MemoryLedger()
    run, _ = scheduled(source, checkpoint, WINDOW.since + 72 * HOUR, ledger, has_time=lambda: False)
    assert len(run.summaries) == 1  # always at least one chunk per invocation
    assert run.as_result()["resume_from"] == "2026-11-21T00:00:00Z"
    assert checkpoint.marks["acme"] == WINDOW.since + 24 * HOUR
    _, records = scheduled(source, checkpoint, WINDOW.since + 73 * HOUR, ledger)
    # the next run starts at the watermark minus the overlap, and records only what was not recorded yet
    assert source.asked[1][1].since == WINDOW.since + 22 * HOUR
    assert sorted(r["number"] for r in records if r["kind"] == "pull_request") == [2, 3]


def test_a_failing_chunk_leaves_the_watermark_at_the_last_complete_chunk() -> None:
    source = WindowedSource([merged(1, 1), merged(30, 2)], fail_on_window=2)
    checkpoint = FakeCheckpoint()
    with pytest.raises(AuditFailedError):
        scheduled(source, checkpoint, WINDOW.since + 48 * HOUR, MemoryLedger())
    assert checkpoint.marks["acme"] == WINDOW.since + 24 * HOUR


def test_a_change_seen_again_in_the_overlap_is_not_recorded_twice() -> None:
    source = WindowedSource([merged(23, 1)])
    checkpoint, ledger = FakeCheckpoint(), MemoryLedger()
    _, first = scheduled(source, checkpoint, WINDOW.since + 24 * HOUR, ledger)
    _, second = scheduled(source, checkpoint, WINDOW.since + 25 * HOUR, ledger)
    assert [r["number"] for r in first if r["kind"] == "pull_request"] == [1]
    assert [r for r in second if r["kind"] == "pull_request"] == []
    assert second[-1]["counts"]["already_recorded"] == 1


def test_a_backfill_ignores_the_watermark_and_uses_the_same_ledger() -> None:
    source = WindowedSource([merged(h, n) for n, h in enumerate((1, 30, 40), start=1)])
    ledger = MemoryLedger()
    first = source.prs[0]
    ledger.claim({"record_id": pull_request_record_id(first.repository, first.number, first.merge_commit_sha)},
                 notify=False, now=WINDOW.since)  # fmt: skip
    progress: list[tuple[int, int]] = []
    run = run_backfill(
        ("acme",),
        Window(WINDOW.since, WINDOW.since + 48 * HOUR),
        chunk=24 * HOUR,
        run_id="b",
        progress=lambda done, total, _: progress.append((done, total)),
        ports=AuditPorts(source, policy_from_mapping({}), lambda record: None, ledger),
    )
    assert run.as_result()["audited"] == 2
    assert progress == [(1, 2), (2, 2)]
