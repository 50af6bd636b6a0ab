"""run_audit over a plain-data fake source: every PR once, out-of-scope counted, failures never look complete."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from pr_auditor.audit import AuditFailedError, AuditRequest, run_audit
from pr_auditor.errors import UnavailableError
from pr_auditor.model import PullRequest, Window
from pr_auditor.policy import policy_from_mapping

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
