"""The life of a record across runs, on plain-data fakes: claim → write → confirm → archive → notify, and what
a later run finishes after a crash, a failed publish or a failed archive. Also the policy-change record, the
reconciliation sweep, and a forged future clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.ports import Archive, ArchiveChunk, MemoryLedger, MemoryState, Notifier, Record
from pr_auditor.audit.runs import AuditFailedError, AuditPorts, Schedule, run_scheduled
from pr_auditor.core.errors import ArchiveError, NotifyError
from pr_auditor.core.model import PullRequest, Window
from pr_auditor.core.policy import policy_from_mapping

from builders import pull_request, review

START = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
SCHEDULE = Schedule(overlap=2 * HOUR, chunk=24 * HOUR, first_start=START, sweep_period=7 * 24 * HOUR)


class Crash(BaseException):
    """The runtime ending the process (timeout, OOM): nothing the code could catch."""


@dataclass
class Source:
    """PRs become visible to search at ``visible_at`` (index lag); ``merged_pull_requests`` honours the clock."""

    prs: list[tuple[PullRequest, datetime]]
    clock: list[datetime]
    requests: int = 0
    sub_windows: int = 0

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        return "auditor"

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        self.requests += 1
        for pr, visible_at in self.prs:
            if window.contains(pr.merged_at) and visible_at <= self.clock[0]:
                yield pr


@dataclass
class Notifications:
    sent: list[Record] = field(default_factory=list)
    failures: int = 0

    def publish(self, record: Record) -> None:
        if self.failures:
            self.failures -= 1
            raise NotifyError("publishing failed (InternalError)")
        self.sent.append(record)


@dataclass
class Evidence:
    chunks: list[ArchiveChunk] = field(default_factory=list)
    failures: int = 0

    def write_chunk(self, chunk: ArchiveChunk) -> str:
        if self.failures:
            self.failures -= 1
            raise ArchiveError("evidence bucket: PutObject failed (AccessDenied)")
        self.chunks.append(chunk)
        return f"manifest-{len(self.chunks)}"


_: tuple[Notifier, Archive] = (Notifications(), Evidence())


@dataclass
class Checkpoint:
    marks: dict[str, datetime] = field(default_factory=dict)

    def watermark(self, scope: str) -> datetime | None:
        return self.marks.get(scope)

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None:
        self.marks[scope] = max(until, self.marks.get(scope, until))


@dataclass
class World:
    """One deployment: its ledger, state, archive, notifier and log, and a clock the test moves."""

    source: Source
    clock: list[datetime]
    policy: dict[str, Any] = field(default_factory=dict)
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    state: MemoryState = field(default_factory=MemoryState)
    evidence: Evidence = field(default_factory=Evidence)
    notifications: Notifications = field(default_factory=Notifications)
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    log: list[Record] = field(default_factory=list)
    crash_on_write: int | None = None  # the n-th record write dies (after its claim)

    def emit(self, record: Record) -> None:
        if record.get("kind") != "run_summary" and self.crash_on_write is not None:
            self.crash_on_write -= 1
            if self.crash_on_write < 0:
                self.crash_on_write = None
                raise Crash
        self.log.append(record)

    def run(self, at: datetime, *, event_time: datetime | None = None) -> Any:
        self.clock[0] = at
        return run_scheduled(
            ("acme",),
            now=event_time or at,
            schedule=SCHEDULE,
            checkpoint=self.checkpoint,
            run_id=f"run@{at:%dT%H%M}",
            has_time=lambda: True,
            ports=AuditPorts(
                self.source,
                policy_from_mapping(self.policy),
                self.emit,
                self.ledger,
                self.evidence,
                self.notifications,
                now=lambda: self.clock[0],
            ),
            state=self.state,
        )

    def prs(self, kind: str = "pull_request") -> list[Record]:
        return [r for r in self.log if r.get("kind") == kind]


def world(*merges: tuple[int, float, float, bool]) -> World:
    """(number, merged hours after START, index lag in hours, approved)."""
    clock = [START]
    prs = []
    for number, hours, lag, approved in merges:
        merged_at = START + hours * HOUR
        # the approval is given before this PR's merge (reviews after the merge do not count)
        approval = replace(review("bob"), submitted_at=merged_at - timedelta(minutes=5))
        pr = pull_request(number=number, merged_at=merged_at, merge_commit_sha=f"m{number}",
                          reviews=(approval,) if approved else ())  # fmt: skip
        prs.append((pr, merged_at + lag * HOUR))
    return World(Source(prs, clock), clock)


def test_a_record_whose_writer_died_after_its_claim_is_written_by_a_later_run_with_the_same_id() -> None:
    # Given two PRs, and a run that dies after claiming the second one but before writing it
    w = world((1, 1, 0, True), (2, 1.5, 0, False))
    w.crash_on_write = 1
    with pytest.raises(Crash):
        w.run(START + 2 * HOUR)
    assert [r["number"] for r in w.prs()] == [1]
    # When the next run starts within the lease, Then it leaves the claim alone (its owner may be alive)
    w.run(START + 2 * HOUR + timedelta(minutes=10))
    assert [r["number"] for r in w.prs()] == [1]
    # When a run starts after the lease, Then the pending records are written: the one that never was, and
    # the one whose confirmation the crash cut off again (a repeat, never a loss), under the same record_id
    w.run(START + 3 * HOUR)
    assert [r["number"] for r in w.prs()] == [1, 1, 2]
    assert w.prs()[0] == w.prs()[1]
    assert w.prs("run_summary")[-1]["counts"]["recovered"] == 2
    # And every record is archived exactly once, and its finding published exactly once
    archived = [r["record_id"] for c in w.evidence.chunks for r in c.records]
    assert sorted(archived) == sorted({r["record_id"] for r in w.prs()})
    assert [r["number"] for r in w.notifications.sent] == [2]
    assert not any(e.is_open for e in w.ledger.entries.values())


def test_a_failed_publish_is_retried_by_the_next_run_and_never_sent_twice() -> None:
    # Given an unapproved PR and an SNS that fails once
    w = world((1, 1, 0, False))
    w.notifications.failures = 1
    # When the first run records it
    w.run(START + 2 * HOUR)
    # Then the record exists, the failure is counted, and nothing was sent
    assert [r["number"] for r in w.prs()] == [1]
    assert w.prs("run_summary")[-1]["counts"]["notify_failed"] == 1
    assert w.notifications.sent == []
    # When later runs see the same PR again in their overlap
    w.run(START + 3 * HOUR)
    w.run(START + 4 * HOUR)
    # Then exactly one message was published, and the record was not written again
    assert [r["number"] for r in w.notifications.sent] == [1]
    assert [r["number"] for r in w.prs()] == [1]


def test_a_failed_archive_fails_the_chunk_keeps_the_watermark_and_a_later_run_archives_the_records() -> None:
    w = world((1, 1, 0, True))
    w.evidence.failures = 1
    with pytest.raises(AuditFailedError, match="AccessDenied"):
        w.run(START + 2 * HOUR)
    assert w.prs("run_summary")[-1]["status"] == "failed"
    assert w.checkpoint.marks == {}
    assert w.evidence.chunks == []
    w.run(START + 3 * HOUR)
    assert [r["number"] for r in w.prs()] == [1]  # written once; archived by the later run
    assert [r["number"] for c in w.evidence.chunks for r in c.records] == [1]
    assert w.checkpoint.marks["acme"] == START + 3 * HOUR
    assert w.evidence.chunks[0].summary["status"] == "completed"


def test_a_forged_future_event_cannot_push_the_watermark_past_the_function_clock() -> None:
    w = world((1, 1, 0, True))
    w.run(START + 2 * HOUR, event_time=datetime(9999, 1, 1, tzinfo=UTC))
    assert w.checkpoint.marks["acme"] == START + 2 * HOUR


def test_a_policy_change_is_recorded_once_with_its_keys_and_notified() -> None:
    # Given a first run under a policy of two approvals
    w = world()
    w.policy = {"required_approvals": 2, "repositories": {"acme/api": {"required_approvals": 3}}}
    w.run(START + 1 * HOUR)
    assert w.prs("policy_change") == []  # the first run only remembers the policy
    # When ops relax it before the next run
    w.policy = {"required_approvals": 0, "exempt_authors": ["release-bot"]}
    w.run(START + 2 * HOUR)
    w.run(START + 3 * HOUR)
    # Then one policy_change record says what changed, old → new, and that it relaxes the rules
    [change] = w.prs("policy_change")
    assert change["previous_policy_version"] != change["policy_version"]
    assert {(c["key"], str(c["old"]), str(c["new"]), c["relaxes"]) for c in change["changes"]} == {
        ("required_approvals", "2", "0", True),
        ("exempt_authors", "[]", "['release-bot']", True),
        ("repositories.acme/api.required_approvals", "3", "0", True),
        ("repositories.acme/api.exempt_authors", "[]", "['release-bot']", True),
    }
    assert change["relaxed"] is True
    assert change["record_id"].startswith("policy_change:")
    assert [r["kind"] for r in w.notifications.sent] == ["policy_change"]
    # And relaxing, restoring and relaxing again are three changes, each recorded once
    w.policy = {"required_approvals": 2, "repositories": {"acme/api": {"required_approvals": 3}}}
    w.run(START + 4 * HOUR)
    w.policy = {"required_approvals": 0, "exempt_authors": ["release-bot"]}
    w.run(START + 5 * HOUR)
    assert [c["relaxed"] for c in w.prs("policy_change")] == [True, False, True]
    assert len({c["record_id"] for c in w.prs("policy_change")}) == 3


def test_a_pr_the_index_showed_after_the_overlap_is_found_by_the_sweep_and_counted_late() -> None:
    # Given a PR merged at 01:00 that the search index shows only 30 hours later (the overlap is 2 hours)
    w = world((1, 1, 30, False), (2, 3, 0, True))
    for hour in range(2, 53):
        w.run(START + hour * HOUR)
    # Then the hourly runs never saw it, but the daily sweep did, once, and counted it as late
    [late] = [r for r in w.prs() if r["number"] == 1]
    assert late["run_id"].split(":")[1] == "sweep"
    assert sum(s["counts"]["late_indexed"] for s in w.prs("run_summary")) == 1
    assert sorted(r["number"] for r in w.prs()) == [1, 2]
    assert [r["number"] for r in w.notifications.sent] == [1]
    streams = {c.stream for c in w.evidence.chunks}
    assert streams == {"scheduled", "sweep"}
