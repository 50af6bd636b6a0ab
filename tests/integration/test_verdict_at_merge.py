"""The verdict as of the merge, through GitHub's GraphQL (the stand-in, real HTTP): reviews given after the
merge, reviews dismissed, titles renamed and descriptions edited after the merge do not change the verdict.

Given a PR merged at MERGED whose history continues afterwards (reviews, renames, edits, as GitHub allows),
When the adapter reads it and the rules judge it, Then the verdict is what was true at the merge, and the
record lists the reviews given afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.ports import Record
from pr_auditor.audit.runs import AuditRequest, run_audit
from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.model import PullRequest, Window
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.github import Connection, open_source

from standin.generate import add_pr, dismissed, make_state, review
from standin.model import GitHubState
from standin.model import PullRequest as StandInPR
from standin.server import StandIn

pytestmark = pytest.mark.integration

MERGED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
TICKET = {"ticket_pattern": r"[A-Z]{2,}-\d+"}


def minutes(n: int) -> datetime:
    """``n`` minutes after the merge (negative: before it)."""
    return MERGED + timedelta(minutes=n)


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, StandIn]]:
    state = make_state(org="acme", repos=("api",), pushers=("alice", "bob", "carol", "olivia-admin"))
    with StandIn(state) as server:
        yield state, server


def read(server: StandIn) -> list[PullRequest]:
    connection = Connection(api_url=server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
    return list(open_source("test-token", connection).merged_pull_requests(("acme",), WINDOW))


def later(state: GitHubState, pr: StandInPR) -> None:
    """No history after the merge."""


@dataclass
class Case:
    id: str
    reviews: list[Any]
    verdict: str
    codes: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    after: Callable[[GitHubState, StandInPR], None] = later
    pr: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)


def renamed(title: str, at: int) -> Callable[[GitHubState, StandInPR], None]:
    return lambda state, pr: pr.rename(title, minutes(at), state.users["alice"])


def edited(body: str, at: int) -> Callable[[GitHubState, StandInPR], None]:
    return lambda state, pr: pr.edit_body(body, minutes(at), state.users["alice"])


def revision_deleted(state: GitHubState, pr: StandInPR) -> None:
    """The author edits the description after the merge and deletes the revision that was there at merge."""
    pr.edit_body("Speeds things up", minutes(-90), pr.author)
    pr.edit_body("Fixes SEC-77", minutes(30), pr.author)
    pr.body_history[1].deleted_at, pr.body_history[1].deleted_by = minutes(31), pr.author


CASES = [
    Case("approved-only-after-the-merge", [review("bob", at=minutes(40))], "non_compliant", ["insufficient_approvals"]),
    Case(
        "merged-over-a-change-request-then-approved",
        [review("bob"), review("carol", "CHANGES_REQUESTED"), review("carol", at=minutes(30))],
        "non_compliant",
        ["changes_requested"],
        approvers=["bob"],
    ),
    Case(
        "change-request-raised-only-after-the-merge",
        [review("bob"), review("carol", "CHANGES_REQUESTED", at=minutes(30))],
        "compliant",
        approvers=["bob"],
    ),
    Case(
        "change-request-dismissed-after-the-merge",
        [review("bob"), dismissed(review("carol", "CHANGES_REQUESTED"), minutes(5))],
        "non_compliant",
        ["changes_requested"],
        approvers=["bob"],
    ),
    Case(
        "approval-dismissed-after-the-merge",
        [dismissed(review("bob"), minutes(30))],
        "compliant",
        approvers=["bob"],
    ),
    Case(
        "ticket-added-to-the-title-after-the-merge",
        [review("bob")],
        "non_compliant",
        ["missing_ticket"],
        approvers=["bob"],
        after=renamed("OPS-9 Tweak", 20),
        pr={"title": "Tweak", "head_ref": "tweak"},
        policy=TICKET,
    ),
    Case(
        "ticket-added-to-the-body-after-the-merge",
        [review("bob")],
        "non_compliant",
        ["missing_ticket"],
        approvers=["bob"],
        after=edited("Fixes SEC-77", 15),
        pr={"title": "Tweak", "head_ref": "tweak", "body": "Speeds things up"},
        policy=TICKET,
    ),
    Case(
        "title-renamed-before-the-merge",
        [review("bob")],
        "compliant",
        approvers=["bob"],
        after=renamed("OPS-9 Tweak", -20),
        pr={"title": "Tweak", "head_ref": "tweak"},
        policy=TICKET,
    ),
    Case(
        "body-edited-before-the-merge",
        [review("bob")],
        "compliant",
        approvers=["bob"],
        after=edited("Fixes SEC-77", -15),
        pr={"title": "Tweak", "head_ref": "tweak", "body": "Speeds things up"},
        policy=TICKET,
    ),
    Case(
        "ticket-removed-from-the-title-after-the-merge",
        [review("bob")],
        "compliant",
        approvers=["bob"],
        after=renamed("Tweak", 20),
        pr={"title": "OPS-9 Tweak", "head_ref": "tweak"},
        policy=TICKET,
    ),
    Case(
        "body-at-merge-deleted-from-the-history",
        [review("bob")],
        "non_compliant",
        ["missing_ticket"],
        approvers=["bob"],
        after=revision_deleted,
        pr={"title": "Tweak", "head_ref": "tweak", "body": "Refs SEC-77"},
        policy=TICKET,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_verdict_is_what_was_true_at_the_merge(github: tuple[GitHubState, StandIn], case: Case) -> None:
    state, server = github
    # Given a PR merged at MERGED, and what happened to it afterwards
    made = add_pr(state, "api", reviews=case.reviews, merged_at=MERGED, **case.pr)
    case.after(state, made)
    # When the adapter reads it through GitHub's GraphQL and the rules judge it
    [pr] = read(server)
    policy = policy_from_mapping(case.policy)
    result = evaluate(pr, policy.default, policy_version=policy.version)
    # Then the verdict is the one of the moment of the merge
    assert result.verdict.value == case.verdict
    assert [v.code.value for v in result.violations] == case.codes
    assert list(result.approvers) == case.approvers


def test_a_body_whose_revision_at_merge_was_deleted_is_not_searched_and_the_detail_says_so(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    made = add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED, title="Tweak", head_ref="tweak")
    revision_deleted(state, made)
    [pr] = read(server)
    assert pr.body == "Fixes SEC-77"  # today's body holds a ticket, but it was not there at the merge
    [violation] = evaluate(pr, policy_from_mapping(TICKET).default, policy_version="v").violations
    assert "the body at merge could not be read" in violation.detail


def test_the_records_list_the_post_merge_reviews(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    # Given an emergency change merged unreviewed, approved 40 minutes later, and commented on after that
    add_pr(
        state,
        "api",
        reviews=[review("carol", at=minutes(40)), review("bob", "COMMENTED", at=minutes(55))],
        merged_at=MERGED,
        labels=["emergency"],
        review_decision="APPROVED",
    )
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    records: list[Record] = []
    connection = Connection(api_url=server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
    # When it is audited
    run_audit(
        AuditRequest(orgs=("acme",), window=WINDOW, run_id="r"),
        source=open_source("test-token", connection),
        policy=policy_from_mapping({}),
        emit=records.append,
    )
    prs = {r["number"]: r for r in records if r["kind"] == "pull_request"}
    # Then the retroactive approval is evidence in the record, and the verdict stays non-compliant
    assert prs[1]["verdict"] == "non_compliant"
    assert [v["code"] for v in prs[1]["violations"]] == ["emergency_label", "insufficient_approvals"]
    assert prs[1]["post_merge_reviews"] == [
        {"login": "carol", "state": "APPROVED", "submitted_at": "2026-11-20T12:40:00Z"},
        {"login": "bob", "state": "COMMENTED", "submitted_at": "2026-11-20T12:55:00Z"},
    ]
    assert prs[2]["post_merge_reviews"] == []


def test_edit_histories_cost_batched_follow_ups_only_for_prs_edited_after_the_merge(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    # Given 120 merged PRs: all renamed before the merge, 30 with descriptions edited before the merge, 30 edited
    # after it, and one edited 45 times after the merge (three pages of its history)
    for n in range(120):
        made = add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED - timedelta(minutes=n), body="v0")
        made.rename(f"OPS-{n} {made.title}", made.created_at + timedelta(minutes=1), made.author)
        if n < 30:
            made.edit_body(f"before SEC-{n}", made.merged_at - timedelta(minutes=1), made.author)  # type: ignore[operator]
        elif n < 60:
            made.edit_body(f"after SEC-{n}", made.merged_at + timedelta(minutes=5), made.author)  # type: ignore[operator]
    noisy = state.prs[60]
    for k in range(45):
        noisy.edit_body(f"edit {k}", MERGED + timedelta(hours=1, minutes=k), noisy.author)
    before = state.count("graphql")
    # When the window is read
    prs = {pr.number: pr for pr in read(server)}
    # Then: two search pages, and the 31 edit histories (one of three pages) in a few batched follow-ups of up to
    # 25 connections each, not one request per PR
    follow_ups = state.count("graphql") - before - 2
    assert 2 <= follow_ups <= 4
    assert len(prs) == 120
    assert all(pr.title_renames[0].current == pr.title and pr.title.startswith("OPS-") for pr in prs.values())
    assert all(not prs[n + 1].body_edits for n in range(30))  # edited before the merge only: history not read
    assert all(len(prs[n + 1].body_edits) == 2 for n in range(30, 60))  # the opening text and the later edit
    assert len(prs[61].body_edits) == 46  # the opening text and 45 edits, read over three pages
