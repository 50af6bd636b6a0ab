"""The GitHub adapter over real HTTP: PyGithub → stand-in (GitHub's schema) → snapshots → rules.

The same cases as the rule tables travel through GraphQL, so what the adapter reads is what the rules
expect (bot logins, deleted accounts, push access, review commits, label timelines, >100 reviews).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.runs import AuditRequest, run_audit
from pr_auditor.core.errors import AuthError, RateLimitError, SourceError, UnavailableError, UnknownOrgError
from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.model import PullRequest, Window
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.github import Connection, GitHubSource, open_source

from standin.generate import add_pr, generate_org, make_state, review
from standin.model import Fault, GitHubState, LabelEvent, PointsBudget, Repository, User
from standin.server import StandIn

pytestmark = pytest.mark.integration

MERGED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
OLD_COMMIT = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


def source_for(server: StandIn, token: str = "test-token", **overrides: Any) -> GitHubSource:
    options: dict[str, Any] = {
        "api_url": server.base_url,
        "throttle_seconds": 0,
        "retries": 3,
        "backoff_seconds": 0.01,
        "max_wait_seconds": 5,
    }
    options.update(overrides)
    return open_source(token, Connection(**options))


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, StandIn]]:
    state = make_state(org="acme", repos=("api",), pushers=("alice", "bob", "carol", "olivia-admin"))
    with StandIn(state) as server:
        yield state, server


def audited(server: StandIn, window: Window = WINDOW, orgs: tuple[str, ...] = ("acme",)) -> list[PullRequest]:
    return list(source_for(server).merged_pull_requests(orgs, window))


@dataclass
class Case:
    id: str
    reviews: list[Any]
    verdict: str
    codes: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    discounted: list[str] = field(default_factory=list)
    pr: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)


def at(minutes_before: int) -> datetime:
    return MERGED - timedelta(minutes=minutes_before)


CASES = [
    Case("one-writer-approval", [review("bob")], "compliant", approvers=["bob"]),
    Case("unreviewed", [], "non_compliant", ["insufficient_approvals"]),
    Case("self-approval", [review("alice")], "non_compliant", ["insufficient_approvals"], discounted=["alice: author"]),
    Case(
        "later-comment-keeps-approval",
        [review("bob", at=at(30)), review("bob", "COMMENTED", at=at(5))],
        "compliant",
        approvers=["bob"],
    ),
    Case(
        "approval-then-changes-requested",
        [review("bob", at=at(30)), review("bob", "CHANGES_REQUESTED", at=at(5))],
        "non_compliant",
        ["insufficient_approvals", "changes_requested"],
    ),
    Case(
        "approval-dismissed",
        [review("bob", "DISMISSED")],
        "non_compliant",
        ["insufficient_approvals"],
        discounted=["bob: review dismissed"],
    ),
    Case(
        "standing-change-request",
        [review("bob"), review("carol", "CHANGES_REQUESTED")],
        "non_compliant",
        ["changes_requested"],
        approvers=["bob"],
    ),
    Case(
        "bot-approval",
        [review(User("renovate", "Bot"))],
        "non_compliant",
        ["insufficient_approvals"],
        discounted=["renovate[bot]: bot"],
    ),
    Case(
        "bot-approval-allowed",
        [review(User("renovate", "Bot"), can_push=True)],
        "compliant",
        approvers=["renovate[bot]"],
        policy={"bot_approvals_count": True},
    ),
    Case(
        "approval-from-non-pusher",
        [review("mallory-ext")],
        "non_compliant",
        ["insufficient_approvals"],
        discounted=["mallory-ext: cannot push"],
    ),
    Case(
        "stale-approval",
        [review("carol", commit_oid=OLD_COMMIT)],
        "non_compliant",
        ["insufficient_approvals"],
        pr={"head_oid": "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"},
        discounted=["carol: stale — approved 1a2b3c4, merged head 5d6e7f8"],
    ),
    Case(
        "deleted-reviewer",
        [review(None)],
        "non_compliant",
        ["insufficient_approvals"],
        discounted=["ghost: deleted account"],
    ),
    Case("deleted-author", [review("bob")], "compliant", approvers=["bob"], pr={"author": None}),
    Case(
        "emergency-label-case-insensitive",
        [review("bob")],
        "non_compliant",
        ["emergency_label"],
        approvers=["bob"],
        pr={"labels": ["EMERGENCY"]},
    ),
    Case(
        "exempt-dependency-bot",
        [],
        "exempt",
        pr={"author": User("dependabot", "Bot")},
        policy={"exempt_authors": ["dependabot[bot]"]},
    ),
    Case(
        "missing-ticket",
        [review("bob")],
        "non_compliant",
        ["missing_ticket"],
        approvers=["bob"],
        pr={"title": "Tweak", "head_ref": "tweak"},
        policy={"ticket_pattern": r"[A-Z]{2,}-\d+"},
    ),
    Case(
        "ticket-in-title",
        [review("bob")],
        "compliant",
        approvers=["bob"],
        pr={"title": "OPS-9 Tweak"},
        policy={"ticket_pattern": r"[A-Z]{2,}-\d+"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_cases_travel_through_githubs_graphql(github: tuple[GitHubState, StandIn], case: Case) -> None:
    state, server = github
    # Given one merged PR in the stand-in
    add_pr(state, "api", reviews=case.reviews, merged_at=MERGED, **case.pr)
    # When the adapter reads it and the rules judge it
    [pr] = audited(server)
    policy = policy_from_mapping(case.policy)
    result = evaluate(pr, policy.default, policy_version=policy.version)
    # Then the verdict is the one the pure rules give for the same case
    assert result.verdict.value == case.verdict
    assert [v.code.value for v in result.violations] == case.codes
    assert list(result.approvers) == case.approvers
    assert [str(d) for d in result.discounted] == case.discounted


def test_snapshot_carries_every_field_the_record_needs(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    made = add_pr(state, "api", title="OPS-1 Fix", body="Fixes OPS-1", reviews=[review("bob")], merged_at=MERGED)
    [pr] = audited(server)
    assert pr.repository == "acme/api"
    assert pr.number == made.number
    assert pr.url == f"{server.origin}/acme/api/pull/{made.number}"
    assert (pr.title, pr.body, pr.head_ref) == ("OPS-1 Fix", "Fixes OPS-1", made.head_ref)
    assert pr.author is not None and pr.author.login == "alice"
    assert pr.merged_by is not None and pr.merged_by.login == "bob"
    assert pr.merged_at == MERGED
    assert (pr.base, pr.default_branch) == ("main", "main")
    assert (pr.head_sha, pr.merge_commit_sha) == (made.head_oid, made.merge_commit_oid)
    assert pr.review_decision == "APPROVED"


def test_window_edges_are_since_inclusive_and_until_exclusive(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    second = timedelta(seconds=1)
    for moment in (WINDOW.since - second, WINDOW.since, WINDOW.until - second, WINDOW.until):
        add_pr(state, "api", reviews=[review("bob")], merged_at=moment)
    got = sorted(pr.merged_at for pr in audited(server))
    assert got == [WINDOW.since, WINDOW.until - second]


def test_an_approval_after_the_hundredth_review_is_read(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    # Given 130 comments, then the only approval
    comments = [review("carol", "COMMENTED", at=at(300 - i)) for i in range(130)]
    add_pr(state, "api", reviews=[*comments, review("bob", at=at(1))], merged_at=MERGED)
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    before = state.count("graphql")
    [long_history, short] = sorted(audited(server), key=lambda pr: -len(pr.reviews))
    assert len(long_history.reviews) == 131
    assert evaluate(long_history, policy_from_mapping({}).default, policy_version="v").approvers == ("bob",)
    assert len(short.reviews) == 1
    # access check is not used here: one search page + one batched follow-up
    assert state.count("graphql") - before == 2


def test_emergency_label_added_after_merge_is_read_from_the_timeline(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    late = LabelEvent("emergency", "labeled", state.users["olivia-admin"], MERGED + timedelta(hours=2))
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED, labels=["emergency"], label_events=[late])
    [pr] = audited(server)
    result = evaluate(pr, policy_from_mapping({}).default, policy_version="v")
    assert result.emergency is not None
    assert (result.emergency.present_at_merge, result.emergency.added_by) == (False, "olivia-admin")
    assert result.emergency.added_at == MERGED + timedelta(hours=2)


def test_archived_repositories_and_other_default_branches_are_audited() -> None:
    state = make_state(org="acme", repos=(Repository("acme", "legacy", "develop", archived=True, pushers={"bob"}),))
    add_pr(state, "legacy", reviews=[review("bob")], merged_at=MERGED)
    with StandIn(state) as server:
        [pr] = audited(server)
    assert (pr.archived, pr.base, pr.default_branch) == (True, "develop", "develop")


def test_a_window_past_the_search_cap_is_split_and_every_pr_audited_once() -> None:
    # Given 3,500 PRs merged in one day (GitHub search stops at 1,000 per query)
    state = generate_org(seed=7, n_prs=3500, since=WINDOW.since, until=WINDOW.until, outside_window=True)
    expected = {
        (p.repo.full_name, p.number)
        for p in state.prs
        if p.merged_at is not None and WINDOW.since <= p.merged_at < WINDOW.until
    }
    with StandIn(state) as server:
        source = source_for(server)
        records: list[dict[str, Any]] = []
        summary = run_audit(
            AuditRequest(orgs=("acme",), window=WINDOW, run_id="t"),
            source=source,
            policy=policy_from_mapping({"branches": ["*"]}),
            emit=records.append,
        )
    seen = [(r["repository"], r["number"]) for r in records if r["kind"] == "pull_request"]
    # Then every PR merged in the window is recorded exactly once, and none outside it
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    assert summary["sub_windows"] > 1
    assert summary["github_requests"] == state.count("graphql")
    assert summary["github_requests"] <= 1.05 * -(-len(expected) // 100) + 5
    print(
        f"\n3,500-PR window: {len(seen)} recorded, {summary['github_requests']} requests, {summary['sub_windows']} sub-windows"
    )


def test_an_incomplete_search_is_bisected_until_every_part_is_complete(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    for hour in range(1, 23):
        add_pr(state, "api", reviews=[review("bob")], merged_at=WINDOW.since + timedelta(hours=hour))
    # Given GitHub times out twice and returns half pages
    state.faults.add(Fault("incomplete_results", times=2, keep=0.5, match="graphql"))
    source = source_for(server)
    got = list(source.merged_pull_requests(("acme",), WINDOW))
    assert len({pr.number for pr in got}) == 22
    assert source.sub_windows >= 2


def test_more_than_the_cap_in_one_second_is_partitioned_by_repository() -> None:
    # Given 1,200 PRs merged in the same second across three repositories
    state = make_state(org="acme", repos=("api", "web", "infra")).unlimited()
    moment = WINDOW.since + timedelta(hours=5)
    for i in range(1200):
        add_pr(state, ("api", "web", "infra")[i % 3], reviews=[review("bob")], merged_at=moment)
    with StandIn(state) as server:
        source = source_for(server)
        got = list(source.merged_pull_requests(("acme",), Window(moment, moment + timedelta(seconds=1))))
    assert len({(pr.repository, pr.number) for pr in got}) == 1200
    assert source.sub_windows >= 1  # one second could not be split by time: it went by repository


def test_bad_token_is_an_immediate_auth_error(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    with pytest.raises(AuthError, match="401"):
        source_for(server, token="wrong").verify_access(("acme",))
    assert state.count("graphql") == 1  # no retry storm


def test_unknown_organisation_is_named(github: tuple[GitHubState, StandIn]) -> None:
    _, server = github
    with pytest.raises(UnknownOrgError, match="no-such-org"):
        source_for(server).verify_access(("acme", "no-such-org"))


def test_graphql_errors_with_partial_data_are_a_failure_not_a_result(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    # Given every attempt (1 + 3 retries) answers 200 with partial data and an error
    state.faults.add(Fault("graphql_errors", times=4, partial=True, error_type="SERVICE_UNAVAILABLE", match="graphql"))
    with pytest.raises(UnavailableError, match="SERVICE_UNAVAILABLE"):
        audited(server)
    assert state.count("graphql") == 4


def test_a_passing_graphql_error_is_retried_and_the_page_read_whole(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    state.faults.add(Fault("graphql_errors", partial=True, error_type="SERVICE_UNAVAILABLE", match="graphql"))
    assert len(audited(server)) == 1
    assert state.count("graphql") == 2


def test_a_transient_502_is_retried(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    state.faults.add(Fault("http_502", times=2, match="graphql"))
    assert len(audited(server)) == 1


def test_persistent_5xx_ends_as_a_source_error(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    state.faults.add(Fault("http_500", times=50, match="graphql"))
    with pytest.raises(SourceError, match=r"after retries|HTTP 500"):
        audited(server)


def test_an_exhausted_graphql_budget_is_waited_out_when_its_reset_is_near(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    # Given the point budget is spent and resets in about a second
    bucket = state.rate["graphql"]
    bucket.set(0)
    bucket.reset = int(time.time()) + 1
    slept: list[float] = []
    source = source_for(server)
    source.transport.sleep = lambda seconds: (slept.append(seconds), time.sleep(seconds))[0]
    assert len(list(source.merged_pull_requests(("acme",), WINDOW))) == 1
    assert len(slept) == 1
    assert 0 < slept[0] <= 3


def test_an_exhausted_graphql_budget_that_resets_too_late_fails_the_run_at_once(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    bucket = state.rate["graphql"]
    bucket.set(0)
    bucket.reset = int(time.time()) + 3600
    with pytest.raises(RateLimitError, match="budget exhausted"):
        list(source_for(server).merged_pull_requests(("acme",), WINDOW))
    assert state.count("graphql") == 1


def test_a_client_without_pacing_survives_the_secondary_budget_by_waiting_retry_after(
    github: tuple[GitHubState, StandIn],
) -> None:
    # Given a stand-in allowing 3 GraphQL points in any 2 seconds, and a client that does not pace itself
    state, server = github
    state.secondary = PointsBudget(graphql=3, rest=900, window_s=2)
    transport = source_for(server, retries=4, graphql_points_per_minute=10**6).transport
    # When it sends 7 queries
    answers = [transport.attempt(transport.query, "query Viewer { viewer { login } }", {}) for _ in range(7)]
    # Then every one was answered in the end: the refusals (403 + Retry-After) were waited out
    assert all(answer["viewer"]["login"] == "auditor" for answer in answers)
    assert state.count("graphql", status=403) >= 1
    assert state.count("graphql", status=200) == 7


def test_the_shipped_pacing_is_never_refused_by_a_budget_it_keeps_below(github: tuple[GitHubState, StandIn]) -> None:
    # Given a stand-in allowing 10 GraphQL points in any 3 seconds (200 a minute) and a client paced at
    # 120 a minute: its 4-point burst plus 3 seconds' refill (6) never exceed 10
    state, server = github
    state.secondary = PointsBudget(graphql=10, rest=900, window_s=3)
    transport = source_for(server, graphql_points_per_minute=120).transport
    # When it sends 12 queries as fast as the pacer lets it
    for _ in range(12):
        transport.attempt(transport.query, "query Viewer { viewer { login } }", {})
    # Then none was refused
    assert state.count("graphql", status=403) == 0
    assert state.count("graphql", status=200) == 12
