"""Dismissals as of the merge and contributors' approvals, through the deployed path and GitHub's GraphQL.

The Lambda handler runs on moto against the GitHub stand-in over real HTTP; the stand-in serves
``ReviewDismissedEvent`` (``createdAt``, ``previousReviewState``), ``PullRequest.commits`` and ``Commit.authors``
(the git author, then ``Co-authored-by`` trailers) in GitHub's schema shapes, executed by graphql-core.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor import handler
from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.github import Connection, open_source
from pr_auditor.github.queries import COMMITS_IN_SEARCH

from harness import (
    LambdaContext,
    captured_function_logs,
    deployed_function,
    function_clock,
    read_queue,
    scheduled_event,
    ship,
)
from standin.generate import add_pr, dismissed, make_state, pr_commit, review
from standin.model import GitHubState
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_reviewsTOKEN0123456789abcdefSECRET"
EVENT_TIME = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MERGED = EVENT_TIME - timedelta(minutes=20)  # inside the first run's window (09:00-10:00)


def run_handler(
    state: GitHubState, monkeypatch: pytest.MonkeyPatch, policy_text: str
) -> tuple[list[dict[str, Any]], Any]:
    """One scheduled run of the deployed function: the records it logged, and the ops queue's messages."""
    with deployed_function(monkeypatch, state, token=TOKEN, policy_text=policy_text) as route:
        event = scheduled_event(EVENT_TIME, event_id="1")
        with captured_function_logs(handler.logger) as lines, function_clock(event):
            handler.lambda_handler(event, LambdaContext())
        records = [json.loads(event) for event in ship(route, lines)]
        return records, read_queue(route)


def pull_requests(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["number"]: r for r in records if r.get("kind") == "pull_request"}


def test_a_change_request_dismissed_five_minutes_after_the_merge_leaves_the_pr_non_compliant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a PR merged over carol's change request, which an admin dismissed five minutes after the merge
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    objection = dismissed(review("carol", "CHANGES_REQUESTED"), MERGED + timedelta(minutes=5), by="olivia-admin")
    add_pr(state, "api", reviews=[review("bob"), objection], merged_at=MERGED, review_decision="APPROVED")
    # And one whose change request was dismissed before the merge (a legitimate dismissal)
    earlier = dismissed(review("carol", "CHANGES_REQUESTED"), MERGED - timedelta(minutes=5), by="olivia-admin")
    add_pr(state, "api", reviews=[review("bob"), earlier], merged_at=MERGED)
    # When the scheduled run audits the hour
    records, messages = run_handler(state, monkeypatch, "required_approvals: 1\n")
    prs = pull_requests(records)
    # Then the first stays non-compliant: carol's objection stood at the merge
    assert prs[1]["verdict"] == "non_compliant"
    assert [v["code"] for v in prs[1]["violations"]] == ["changes_requested"]
    assert prs[1]["post_merge_dismissals"] == [
        {
            "login": "carol",
            "previous_state": "CHANGES_REQUESTED",
            "dismissed_at": "2026-11-21T09:45:00Z",
            "dismissed_by": "olivia-admin",
        }
    ]
    # And the second is compliant, with no dismissal after its merge
    assert prs[2]["verdict"] == "compliant"
    assert prs[2]["post_merge_dismissals"] == []
    # And ops get the finding, with the dismissal in it
    [finding] = messages
    assert finding["alarm"]["number"] == 1
    assert finding["alarm"]["post_merge_dismissals"] == prs[1]["post_merge_dismissals"]


@pytest.mark.parametrize(
    ("policy_text", "verdict", "approvers", "discounted"),
    [
        ("required_approvals: 1\n", "non_compliant", [], ["bob: contributor"]),
        ("allow_contributor_approvals: true\n", "compliant", ["bob"], []),
        ("repositories: {acme/api: {allow_contributor_approvals: true}}\n", "compliant", ["bob"], []),
        ("repositories: {acme/web: {allow_contributor_approvals: true}}\n", "non_compliant", [], ["bob: contributor"]),
    ],
    ids=["discounted-by-default", "allowed-globally", "allowed-for-the-repository", "allowed-elsewhere-only"],
)
def test_a_contributor_s_approval_is_discounted_and_allowed_by_the_policy_key(
    monkeypatch: pytest.MonkeyPatch, policy_text: str, verdict: str, approvers: list[str], discounted: list[str]
) -> None:
    # Given alice's PR, one of whose commits carol wrote with bob as a Co-authored-by trailer, approved by bob
    state = make_state(org="acme", repos=("api", "web"), tokens=(TOKEN,))
    commits = [pr_commit(state, "alice"), pr_commit(state, "carol", co_authors=["bob"])]
    add_pr(state, "api", author="alice", reviews=[review("bob")], merged_at=MERGED, commits=commits)
    # When the scheduled run audits it under the policy
    records, _ = run_handler(state, monkeypatch, policy_text)
    [pr] = pull_requests(records).values()
    # Then bob's approval counts only where the policy allows contributors' approvals
    assert pr["verdict"] == verdict
    assert pr["approvers"] == approvers
    assert pr["discounted_approvals"] == discounted


# --- the adapter over real HTTP: commits past the search page, trailers GitHub could not link ---------------

WINDOW_SINCE = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, StandIn]]:
    state = make_state(org="acme", repos=("api",), pushers=("alice", "bob", "carol", "olivia-admin"))
    with StandIn(state) as server:
        yield state, server


def source(server: StandIn) -> Any:
    connection = Connection(api_url=server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
    return open_source("test-token", connection)


def window(since: datetime = WINDOW_SINCE, until: datetime | None = None) -> Any:
    from pr_auditor.core.model import Window

    return Window(since, until or since + timedelta(days=1))


def test_a_contributor_past_the_first_hundred_commits_is_found_by_the_follow_ups(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    merged = WINDOW_SINCE + timedelta(hours=12)
    # Given a PR of 130 commits by alice, the 125th co-authored by bob, who approved it; and a small PR
    commits = [pr_commit(state, "alice", at=merged - timedelta(hours=130 - n)) for n in range(130)]
    commits[124] = pr_commit(state, "alice", co_authors=["bob"], at=merged - timedelta(hours=6))
    add_pr(state, "api", reviews=[review("bob")], merged_at=merged, commits=commits)
    add_pr(state, "api", reviews=[review("bob")], merged_at=merged)
    before = state.count("graphql")
    # When the window is read
    prs = {pr.number: pr for pr in source(server).merged_pull_requests(("acme",), window())}
    # Then every commit was read: the search page's first 20, then 100 and 10 more by follow-ups
    assert len({c.oid for c in prs[1].contributors}) == 130
    assert state.count("graphql") - before == 3
    assert COMMITS_IN_SEARCH == 20
    policy = policy_from_mapping({}).default
    assert [str(d) for d in evaluate(prs[1], policy, policy_version="v").discounted] == ["bob: contributor"]
    assert evaluate(prs[2], policy, policy_version="v").approvers == ("bob",)


def test_a_trailer_github_could_not_link_to_an_account_discounts_nobody(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    # Given a commit whose Co-authored-by trailer names "bob" by an e-mail GitHub does not know
    commits = [pr_commit(state, "alice", co_authors=["Bob Builder"])]
    add_pr(state, "api", reviews=[review("bob")], merged_at=WINDOW_SINCE + timedelta(hours=1), commits=commits)
    [pr] = source(server).merged_pull_requests(("acme",), window())
    # Then only accounts are compared with approvers: bob's approval counts
    assert [(c.login, c.role) for c in pr.contributors] == [("alice", "author"), ("alice", "committer")]
    assert evaluate(pr, policy_from_mapping({}).default, policy_version="v").approvers == ("bob",)
