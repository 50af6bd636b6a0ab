"""The branch audit over real HTTP: BranchReader → stand-in (GitHub's schema, git history, REST compare,
protection) → decisions → records, across runs that share one state store."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.branch_audit import BranchAudit, audit_branches, commits_in_window
from pr_auditor.audit.ports import MemoryState
from pr_auditor.core.errors import SourceError
from pr_auditor.core.policy import Policy, policy_from_mapping
from pr_auditor.github import Connection, open_branch_reader

from standin.generate import make_state
from standin.git import (
    activity,
    create_branch,
    delete_branch,
    force_push,
    init_branch,
    merge_pr,
    new_commit,
    open_pr,
    push,
)
from standin.model import BranchRule, Fault, GitHubState, Repository, Ruleset
from standin.server import StandIn

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
POLICY = policy_from_mapping({"required_approvals": 1})


class Org:
    """One organisation on the stand-in, and the runs of the scheduled branch audit against it."""

    def __init__(self, state: GitHubState, server: StandIn) -> None:
        self.state, self.server = state, server
        self.store = MemoryState()
        self.now = NOW
        self.runs = 0
        state.clock = lambda: self.now  # pushes happen at the test's time

    def repo(self, name: str = "api") -> Repository:
        found = self.state.find_repo("acme", name)
        assert found is not None
        return found

    def run(self, policy: Policy = POLICY, *, later: timedelta = timedelta(hours=1)) -> BranchAudit:
        self.now += later
        self.runs += 1
        connection = Connection(api_url=self.server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
        reader = open_branch_reader("test-token", connection)
        audit = audit_branches(
            ("acme",), source=reader, policy=policy, state=self.store, run_id=f"run-{self.runs}", now=self.now
        )
        audit.commit(self.store)
        return audit


@pytest.fixture
def org() -> Iterator[Org]:
    state = make_state(org="acme", repos=("api", "web"), pushers=("alice", "bob", "olivia-admin"))
    state.clock = lambda: NOW
    for repo in state.orgs["acme"]:
        init_branch(state, repo)
        repo.branch_rules.append(BranchRule("main", required_approvals=1, dismiss_stale=True, admin_enforced=True))
    with StandIn(state) as server:
        yield Org(state, server)


def of_kind(audit: BranchAudit, kind: str) -> list[dict[str, Any]]:
    return [record for record in audit.records if record["kind"] == kind]


def test_the_first_run_takes_todays_heads_as_its_baseline(org: Org) -> None:
    push(org.state, org.repo(), n=3)
    audit = org.run()
    assert audit.baselines == 2
    assert of_kind(audit, "direct_push") == []


def test_a_direct_push_is_found(org: Org) -> None:
    org.run()
    (sha,) = push(org.state, org.repo(), author="olivia-admin")
    audit = org.run()
    (record,) = of_kind(audit, "direct_push")
    assert record["sha"] == sha
    assert record["repository"] == "acme/api" and record["branch"] == "main"
    assert record["verdict"] == "non_compliant"
    assert record["violations"][0]["code"] == "no_pull_request"
    assert record["author"] == record["committer"] == "olivia-admin"
    assert record["url"].endswith(f"/acme/api/commit/{sha}")
    assert "@" not in str(record["author"]) and sha[:7] in record["message"]
    assert org.run().records == []  # audited once: the head moved


def test_a_direct_push_backdated_a_month_is_found_on_the_next_run(org: Org) -> None:
    org.run()
    (sha,) = push(org.state, org.repo(), at=NOW - timedelta(days=31))
    (record,) = of_kind(org.run(), "direct_push")
    assert record["sha"] == sha
    assert record["committed_date"].startswith("2026-10-30")


@pytest.mark.parametrize("style", ["squash", "merge", "rebase"])
def test_commits_a_merged_pr_brought_in_are_never_flagged(org: Org, style: str) -> None:
    org.run()
    merge_pr(org.state, org.repo(), style=style, commits=3)
    audit = org.run()
    assert audit.records == []  # the activity says pr_merge: the PR audit judges it; no head change unexplained
    org.state.activity_served = False  # and the head walk, where activity is not served, agrees
    org.run()
    merge_pr(org.state, org.repo(), style=style, commits=3)
    walked = org.run()
    assert walked.new_commits >= 1
    assert of_kind(walked, "direct_push") == []


def test_a_direct_push_between_merged_prs_is_the_only_finding(org: Org) -> None:
    org.run()
    merge_pr(org.state, org.repo(), style="rebase", commits=2)
    (sha,) = push(org.state, org.repo())
    merge_pr(org.state, org.repo(), style="merge", commits=2)
    audit = org.run()
    assert [r["sha"] for r in of_kind(audit, "direct_push")] == [sha]


def test_the_original_commits_of_a_squashed_pr_pushed_directly_are_still_direct_pushes(org: Org) -> None:
    # Given a squash-merged PR whose own commits never reached main …
    org.run()
    pr = merge_pr(org.state, org.repo(), style="squash", commits=1)
    org.run()
    # … when an admin pushes the PR's original head commit onto main by hand
    repo = org.repo()
    original = repo.commits[pr.head_oid]
    original.parents = [repo.branches["main"]]
    repo.branches["main"] = pr.head_oid
    (record,) = of_kind(org.run(), "direct_push")
    assert record["sha"] == pr.head_oid


def test_an_open_pr_does_not_make_a_pushed_commit_compliant(org: Org) -> None:
    org.run()
    pr = open_pr(org.state, org.repo())
    repo = org.repo()
    repo.branches["main"] = pr.head_oid  # the PR's commit pushed straight onto main
    (record,) = of_kind(org.run(), "direct_push")
    assert record["sha"] == pr.head_oid


def test_a_push_by_an_exempt_pusher_is_exempt(org: Org) -> None:
    org.run()
    push(org.state, org.repo(), author="release-bot")
    policy = policy_from_mapping({"exempt_pushers": ["release-bot"]})
    (record,) = of_kind(org.run(policy), "direct_push")
    assert record["verdict"] == "exempt"
    assert record["violations"] == []


def test_a_force_push_gives_one_history_rewrite_and_audits_the_new_commits(org: Org) -> None:
    repo = org.repo()
    base = repo.branches["main"]
    push(org.state, repo, n=2)
    org.run()
    new_head = force_push(org.state, repo, onto=base, n=1)
    audit = org.run()
    (rewrite,) = of_kind(audit, "history_rewrite")
    assert rewrite["new_head"] == new_head and rewrite["comparison"] == "diverged"
    assert rewrite["violations"][0]["code"] == "force_push"
    assert [r["sha"] for r in of_kind(audit, "direct_push")] == [new_head]
    assert org.run().records == []  # the baseline moved


def test_a_branch_reset_to_an_older_commit_is_a_rewrite_with_nothing_new(org: Org) -> None:
    repo = org.repo()
    base = repo.branches["main"]
    push(org.state, repo, n=2)
    org.run()
    repo.branches["main"] = base
    repo.pushed_at = org.state.clock()
    audit = org.run()
    (rewrite,) = of_kind(audit, "history_rewrite")
    assert rewrite["comparison"] == "behind"
    assert of_kind(audit, "direct_push") == []


def test_more_than_a_page_of_new_commits_are_all_audited(org: Org) -> None:
    org.run()
    pushed = push(org.state, org.repo(), n=150)
    audit = org.run()
    assert sorted(r["sha"] for r in of_kind(audit, "direct_push")) == sorted(pushed)
    assert of_kind(audit, "history_rewrite") == []


def test_repositories_not_pushed_since_the_last_run_are_not_walked(org: Org) -> None:
    org.now += timedelta(minutes=5)
    push(org.state, org.repo("web"))
    org.run()
    org.now += timedelta(minutes=5)
    push(org.state, org.repo("web"))
    org.state.reset_counters()
    audit = org.run()
    assert audit.repositories == 1  # only web: api was last pushed before the previous run's newest push
    assert len(of_kind(audit, "direct_push")) == 1
    # the push-ordered listing, web's activity, the push's compare, its commits by SHA
    assert audit.requests == org.state.count() == 4


def test_protection_lowered_from_two_reviews_to_none_gives_one_weaker_protection_record(org: Org) -> None:
    policy = policy_from_mapping({"required_approvals": 2})
    repo = org.repo()
    repo.branch_rules[:] = [BranchRule("main", required_approvals=2, dismiss_stale=True, admin_enforced=True)]
    first = [r for r in of_kind(org.run(policy), "protection") if r["repository"] == "acme/api"]
    assert [r["status"] for r in first] == ["first_seen"] and first[0]["verdict"] == "compliant"
    repo.branch_rules[0].required_approvals = 0
    audit = org.run(policy, later=timedelta(days=1))
    (record,) = of_kind(audit, "protection")
    assert record["status"] == "changed" and record["verdict"] == "non_compliant"
    assert record["weaker_than_policy"] is True
    assert record["previous"]["required_approvals"] == 2 and record["protection"]["required_approvals"] == 0
    assert "policy requires 2" in record["weaknesses"][0]
    assert of_kind(org.run(policy, later=timedelta(days=1)), "protection") == []  # recorded once


def test_rulesets_count_and_their_bypass_actors_are_named(org: Org) -> None:
    repo = org.repo()
    repo.branch_rules.clear()
    repo.rulesets.append(Ruleset("main-reviews", required_approvals=2, dismiss_stale=True, bypass=[("Team", "sre")]))
    (record,) = [r for r in of_kind(org.run(), "protection") if r["repository"] == "acme/api"]
    assert record["protection"]["required_approvals"] == 2
    assert record["protection"]["bypass_actors"] == ["team:sre"]
    assert record["weaker_than_policy"] is True


def test_unreadable_protection_is_recorded_once_as_unknown_and_the_run_completes(org: Org) -> None:
    org.state.protection_readable = False
    push(org.state, org.repo())
    audit = org.run()
    unknown = of_kind(audit, "protection")
    assert {r["status"] for r in unknown} == {"unknown"} and len(unknown) == 2  # api and web
    assert all("Administration: read" in r["missing_permission"] for r in unknown)
    assert of_kind(org.run(later=timedelta(days=1)), "protection") == []


def test_the_cli_variant_finds_the_direct_pushes_pushed_in_the_window_whatever_their_dates(org: Org) -> None:
    # Given a push before the window, then inside it a push dated three days back and a merged PR
    org.now = NOW - timedelta(days=2)
    push(org.state, org.repo())
    org.now = NOW - timedelta(hours=2)
    (backdated,) = push(org.state, org.repo(), at=NOW - timedelta(days=3), pusher="mallory")
    merge_pr(org.state, org.repo(), style="squash", at=NOW - timedelta(hours=1))
    # When the CLI audits the last day
    reader = open_branch_reader("test-token", Connection(api_url=org.server.base_url, throttle_seconds=0))
    records = commits_in_window(("acme",), NOW - timedelta(days=1), NOW, source=reader, policy=POLICY, run_id="cli-1")
    # Then the window means pushed, not committed: only the backdated push, with who pushed it
    assert [(r["sha"], r["pusher"], r["detected_by"]) for r in records] == [(backdated, "mallory", "activity")]


def test_the_cli_variant_falls_back_to_committed_dates_where_activity_is_not_served(org: Org) -> None:
    org.state.activity_served = False
    (inside,) = push(org.state, org.repo(), at=NOW - timedelta(hours=2))
    push(org.state, org.repo(), at=NOW - timedelta(days=3))
    merge_pr(org.state, org.repo(), style="squash", at=NOW - timedelta(hours=1))
    (web,) = push(org.state, org.repo("web"), at=NOW - timedelta(hours=3))
    reader = open_branch_reader("test-token", Connection(api_url=org.server.base_url, throttle_seconds=0))
    records = commits_in_window(("acme",), NOW - timedelta(days=1), NOW, source=reader, policy=POLICY, run_id="cli-1")
    assert sorted((r["sha"], r["pusher"], r["detected_by"]) for r in records) == sorted(
        [(inside, None, "head_walk"), (web, None, "head_walk")]
    )
    # one 404 tells activity is not served; both branches' dated commits share one history request
    assert (reader.requests_by_source["activity"], reader.requests_by_source["history"]) == (1, 1)


def test_a_failing_history_read_moves_no_head_and_the_next_run_finds_the_push(org: Org) -> None:
    org.run()
    (sha,) = push(org.state, org.repo())
    org.state.faults.add(Fault("http_500", times=50, match="graphql"))
    with pytest.raises(SourceError):
        org.run()
    org.state.faults.clear()
    assert [r["sha"] for r in of_kind(org.run(), "direct_push")] == [sha]


def test_a_transient_failure_is_retried_within_the_run(org: Org) -> None:
    org.run()
    (sha,) = push(org.state, org.repo())
    org.state.faults.add(Fault("graphql_errors", times=1, match="graphql", partial=True))
    assert [r["sha"] for r in of_kind(org.run(), "direct_push")] == [sha]


def test_requests_by_source_count_retries_and_add_up_to_the_transport(org: Org) -> None:
    org.run()
    (sha,) = push(org.state, org.repo())
    org.state.faults.add(Fault("http_500", times=1, match="rest", path="/activity"))
    connection = Connection(api_url=org.server.base_url, throttle_seconds=0, retries=2, backoff_seconds=0.01)
    reader = open_branch_reader("test-token", connection)
    org.now += timedelta(hours=1)
    org.state.reset_counters()
    audit = audit_branches(("acme",), source=reader, policy=POLICY, state=org.store, run_id="r", now=org.now)
    assert [r["sha"] for r in of_kind(audit, "direct_push")] == [sha]
    assert reader.requests_by_source["activity"] == 2  # api's first answer failed and was retried
    assert sum(reader.requests_by_source.values()) == reader.requests == org.state.count()


def test_random_activity_over_many_runs_reports_every_direct_push_exactly_once(org: Org) -> None:
    # Given an organisation that keeps merging PRs (all three styles) with direct pushes mixed in
    rng = random.Random(9)
    org.run()
    expected: list[tuple[str, str, str]] = []
    found: list[tuple[str, str, str]] = []
    for _ in range(6):
        org.now += timedelta(minutes=7)
        expected += activity(org.state, rng, merges=5, pushes=2)
        audit = org.run(later=timedelta(minutes=1))
        found += [(r["repository"], r["branch"], r["sha"]) for r in of_kind(audit, "direct_push")]
    # Then each direct push is reported once and nothing a merged PR brought in is
    assert sorted(found) == sorted(expected)


def test_activity_costs_one_request_per_repository_pushed_since_the_last_run(org: Org) -> None:
    # Given both repositories audited, then a day later (the daily protection check lists every repository)
    org.run()
    org.now += timedelta(hours=23, minutes=30)
    (sha,) = push(org.state, org.repo("web"), pusher="alice")
    connection = Connection(api_url=org.server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
    reader = open_branch_reader("test-token", connection)
    # When the next run reads
    org.now += timedelta(minutes=30)
    audit = audit_branches(("acme",), source=reader, policy=POLICY, state=org.store, run_id="r", now=org.now)
    # Then only web, the one pushed since, costs an activity request; its push one compare and one lookup
    assert [r["sha"] for r in of_kind(audit, "direct_push")] == [sha]
    counts = reader.requests_by_source
    assert (counts["activity"], counts["compare"], counts["commits"]) == (1, 1, 1)
    assert counts.get("history", 0) == 0  # no head walk where activity explains every move
    assert sum(counts.values()) == reader.requests == audit.requests


@pytest.mark.parametrize(
    ("merges", "activity_requests"),
    [
        pytest.param(150, 2, id="a-page-or-two-of-merges-read-as-they-come"),
        pytest.param(700, 1 + 4, id="a-day-of-merges-read-as-four-filtered-push-kinds"),
    ],
)
def test_a_busy_branch_costs_its_pages_or_the_four_push_kinds_whichever_is_fewer(
    org: Org, merges: int, activity_requests: int
) -> None:
    # Given a branch where many PRs were merged and 3 direct pushes made since the last run
    org.run()
    pushed: list[str] = []
    for i in range(merges):
        org.now += timedelta(seconds=20)
        merge_pr(org.state, org.repo(), style="squash", commits=1)
        if i % (merges // 3) == 0:
            pushed += push(org.state, org.repo())
    connection = Connection(api_url=org.server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
    reader = open_branch_reader("test-token", connection)
    org.now += timedelta(minutes=5)
    audit = audit_branches(("acme",), source=reader, policy=POLICY, state=org.store, run_id="r", now=org.now)
    # Then every push is found, and activity costs the pages, or the first page and one read per push kind
    assert sorted(r["sha"] for r in of_kind(audit, "direct_push")) == sorted(pushed)
    assert reader.requests_by_source["activity"] == activity_requests


def test_a_deleted_in_scope_branch_is_a_rewrite_by_who_deleted_it_and_its_last_push_is_still_judged(
    org: Org,
) -> None:
    # Given release branches in scope, and release/1 audited once
    policy = policy_from_mapping({"required_approvals": 1, "branches": ["main", "release/*"]})
    create_branch(org.state, org.repo(), "release/1", at_commit=org.repo().branches["main"])
    org.run(policy)
    # When alice pushes to it and mallory deletes it before the next run
    org.now += timedelta(minutes=5)
    (sha,) = push(org.state, org.repo(), "release/1", pusher="alice")
    org.now += timedelta(minutes=5)
    delete_branch(org.state, org.repo(), "release/1", pusher="mallory")
    audit = org.run(policy)
    # Then the push is a direct push by alice, and the deletion a rewrite by mallory
    assert [(r["sha"], r["pusher"]) for r in of_kind(audit, "direct_push")] == [(sha, "alice")]
    (rewrite,) = of_kind(audit, "history_rewrite")
    assert (rewrite["branch"], rewrite["pusher"], rewrite["new_head"], rewrite["comparison"]) == (
        "release/1",
        "mallory",
        None,
        "deleted",
    )
    # And when it is created again with a new commit on it, that commit is judged against the default branch
    org.now += timedelta(minutes=5)
    fresh = new_commit(org.state, org.repo(), [org.repo().branches["main"]], author="bob")
    create_branch(org.state, org.repo(), "release/1", at_commit=fresh, pusher="bob")
    again = org.run(policy)
    assert [(r["sha"], r["pusher"]) for r in of_kind(again, "direct_push")] == [(fresh, "bob")]
    assert of_kind(again, "history_rewrite") == [] and of_kind(again, "head_change") == []


@pytest.mark.parametrize("activity_served", [True, False], ids=["from-activity", "by-committed-date-fallback"])
def test_the_cli_variant_credits_every_merge_style_and_reports_only_the_direct_pushes(
    org: Org, activity_served: bool
) -> None:
    # Given, within the window, a merge-commit merge, a rebase merge (3 rebased commits), a squash merge and
    # two direct pushes between them, on one branch
    org.state.activity_served = activity_served
    org.now = NOW - timedelta(hours=5)
    first = push(org.state, org.repo())
    merge_pr(org.state, org.repo(), style="merge", commits=2, at=NOW - timedelta(hours=4))
    merge_pr(org.state, org.repo(), style="rebase", commits=3, at=NOW - timedelta(hours=3))
    org.now = NOW - timedelta(hours=2)
    second = push(org.state, org.repo())
    merge_pr(org.state, org.repo(), style="squash", at=NOW - timedelta(hours=1))
    reader = open_branch_reader("test-token", Connection(api_url=org.server.base_url, throttle_seconds=0))
    # When the windowed check reads the day
    records = commits_in_window(("acme",), NOW - timedelta(days=1), NOW, source=reader, policy=POLICY, run_id="cli-2")
    # Then only the direct pushes are records: no merge style's commits were taken for pushes
    assert sorted(r["sha"] for r in records) == sorted([*first, *second])
