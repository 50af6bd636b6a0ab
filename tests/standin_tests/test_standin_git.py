"""The stand-in's git history, REST compare and branch protection, over real HTTP (raw GraphQL and REST)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from standin import StandIn, make_state
from standin.git import force_push, init_branch, merge_pr, open_pr, push
from standin.model import BranchRule, GitHubState, Repository, Ruleset

HEADERS = {"Authorization": "token test-token"}

COMMIT = """
query($owner: String!, $name: String!, $oid: GitObjectID!) {
  repository(owner: $owner, name: $name) {
    pushedAt
    object(oid: $oid) {
      ... on Commit {
        oid committedDate
        author { user { login } }
        parents(first: 5) { nodes { oid } }
        associatedPullRequests(first: 5) { nodes { number state baseRefName mergeCommit { oid } } }
        history(first: 100) { nodes { oid } }
      }
    }
  }
}
"""

PROTECTION = """
query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    viewerCanAdminister
    ref(qualifiedName: "refs/heads/main") {
      branchProtectionRule { requiredApprovingReviewCount isAdminEnforced }
      rules(first: 10) {
        nodes {
          parameters { ... on PullRequestParameters { requiredApprovingReviewCount } }
          repositoryRuleset { name bypassActors(first: 10) { nodes { actor { ... on Team { slug } } } } }
        }
      }
    }
  }
}
"""


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, Repository, StandIn]]:
    state = make_state(org="acme", repos=("api",))
    state.clock = lambda: datetime(2026, 11, 30, tzinfo=UTC)
    repo = state.orgs["acme"][0]
    init_branch(state, repo)
    with StandIn(state) as server:
        yield state, repo, server


def graphql(server: StandIn, query: str, **variables: Any) -> dict[str, Any]:
    answer = requests.post(
        server.graphql_url, json={"query": query, "variables": variables}, headers=HEADERS, timeout=10
    )
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    return body["data"]


def commit(server: StandIn, oid: str) -> dict[str, Any]:
    return graphql(server, COMMIT, owner="acme", name="api", oid=oid)["repository"]["object"]


def test_a_squash_merge_commit_is_associated_with_its_merged_pr(
    github: tuple[GitHubState, Repository, StandIn],
) -> None:
    state, repo, server = github
    pr = merge_pr(state, repo, style="squash")
    node = commit(server, repo.branches["main"])
    assert node["associatedPullRequests"]["nodes"] == [
        {"number": pr.number, "state": "MERGED", "baseRefName": "main", "mergeCommit": {"oid": pr.merge_commit_oid}}
    ]


def test_a_direct_push_is_associated_with_nothing_and_history_lists_it_first(
    github: tuple[GitHubState, Repository, StandIn],
) -> None:
    state, repo, server = github
    root = repo.branches["main"]
    (sha,) = push(state, repo, at=datetime(2026, 10, 1, tzinfo=UTC))  # backdated
    node = commit(server, sha)
    assert node["associatedPullRequests"]["nodes"] == []
    assert [n["oid"] for n in node["history"]["nodes"]] == [sha, root]
    assert node["parents"]["nodes"] == [{"oid": root}]
    assert node["author"]["user"]["login"] == "olivia-admin"


def test_open_prs_are_associated_only_with_commits_off_the_default_branch(
    github: tuple[GitHubState, Repository, StandIn],
) -> None:
    state, repo, server = github
    pr = open_pr(state, repo)
    assert [n["number"] for n in commit(server, pr.head_oid)["associatedPullRequests"]["nodes"]] == [pr.number]
    repo.branches["main"] = pr.head_oid  # pushed onto main: now on the default branch
    assert commit(server, pr.head_oid)["associatedPullRequests"]["nodes"] == []


def test_a_merge_commit_has_the_base_and_the_pr_head_as_parents(
    github: tuple[GitHubState, Repository, StandIn],
) -> None:
    state, repo, server = github
    base = repo.branches["main"]
    pr = merge_pr(state, repo, style="merge")
    assert [p["oid"] for p in commit(server, repo.branches["main"])["parents"]["nodes"]] == [base, pr.head_oid]


def test_repositories_can_be_listed_by_push_time(github: tuple[GitHubState, Repository, StandIn]) -> None:
    state, repo, server = github
    other = Repository("acme", "web", pushers=set(repo.pushers))
    state.add_repo(other)
    state.clock = lambda: datetime(2026, 12, 1, tzinfo=UTC)
    init_branch(state, other)
    query = """query { organization(login: "acme") {
      repositories(first: 10, orderBy: {field: PUSHED_AT, direction: DESC}) { nodes { name pushedAt } } } }"""
    nodes = graphql(server, query)["organization"]["repositories"]["nodes"]
    assert nodes == [
        {"name": "web", "pushedAt": "2026-12-01T00:00:00Z"},
        {"name": "api", "pushedAt": "2026-11-30T00:00:00Z"},
    ]


@pytest.mark.parametrize(
    ("rewrite", "status"),
    [
        pytest.param(lambda s, r, old: push(s, r), "ahead", id="fast-forward"),
        pytest.param(lambda s, r, old: force_push(s, r, onto=old), "diverged", id="force-push"),
        pytest.param(lambda s, r, old: r.branches.update(main=old), "behind", id="reset"),
        pytest.param(lambda s, r, old: None, "identical", id="unchanged"),
    ],
)
def test_rest_compare_says_whether_the_old_head_is_an_ancestor(
    github: tuple[GitHubState, Repository, StandIn], rewrite: Any, status: str
) -> None:
    state, repo, server = github
    first = repo.branches["main"]
    push(state, repo, at=datetime(2026, 11, 2, tzinfo=UTC))
    old = repo.branches["main"]
    rewrite(state, repo, first)
    answer = requests.get(
        f"{server.base_url}/repos/acme/api/compare/{old}...{repo.branches['main']}", headers=HEADERS, timeout=10
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == status
    assert body["ahead_by"] == len(body["commits"])
    assert body["url"].startswith(server.base_url)


def test_rest_compare_of_an_unknown_commit_is_not_found(github: tuple[GitHubState, Repository, StandIn]) -> None:
    _, repo, server = github
    url = f"{server.base_url}/repos/acme/api/compare/{'0' * 40}...{repo.branches['main']}"
    assert requests.get(url, headers=HEADERS, timeout=10).status_code == 404


def test_protection_is_readable_with_admin_rights_and_hidden_without(
    github: tuple[GitHubState, Repository, StandIn],
) -> None:
    state, repo, server = github
    repo.branch_rules.append(BranchRule("main", required_approvals=2, admin_enforced=True))
    repo.rulesets.append(Ruleset("reviews", required_approvals=1, bypass=[("Team", "sre")]))
    seen = graphql(server, PROTECTION, owner="acme", name="api")["repository"]
    assert seen["viewerCanAdminister"] is True
    assert seen["ref"]["branchProtectionRule"] == {"requiredApprovingReviewCount": 2, "isAdminEnforced": True}
    (rule,) = seen["ref"]["rules"]["nodes"]
    assert rule["repositoryRuleset"]["bypassActors"]["nodes"] == [{"actor": {"slug": "sre"}}]
    state.protection_readable = False
    hidden = graphql(server, PROTECTION, owner="acme", name="api")["repository"]
    assert hidden["viewerCanAdminister"] is False
    assert hidden["ref"]["branchProtectionRule"] is None
    assert hidden["ref"]["rules"]["nodes"][0]["repositoryRuleset"]["bypassActors"] is None


def test_history_pages_by_100(github: tuple[GitHubState, Repository, StandIn]) -> None:
    state, repo, server = github
    push(state, repo, n=150, at=datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=1))
    query = """query($oid: GitObjectID!, $after: String) { repository(owner: "acme", name: "api") {
      object(oid: $oid) { ... on Commit { history(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor } nodes { oid } } } } } }"""
    first = graphql(server, query, oid=repo.branches["main"])["repository"]["object"]["history"]
    assert len(first["nodes"]) == 100 and first["pageInfo"]["hasNextPage"]
    second = graphql(server, query, oid=repo.branches["main"], after=first["pageInfo"]["endCursor"])
    assert len(second["repository"]["object"]["history"]["nodes"]) == 51
