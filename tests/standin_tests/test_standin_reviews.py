"""The stand-in serves dismissals, a PR's commits with ``Commit.authors``, and null organisations in GitHub's
GraphQL shapes (executed by graphql-core against GitHub's published schema, over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from standin import GitHubState, StandIn, add_pr, make_state, review
from standin.generate import dismissed, pr_commit

TOKEN = "test-token"
MERGED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def world() -> Iterator[tuple[GitHubState, StandIn]]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    with StandIn(state) as server:
        yield state, server


def query(server: StandIn, document: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        server.graphql_url,
        json={"query": document, "variables": variables},
        headers={"Authorization": f"bearer {TOKEN}"},
        timeout=10,
    )
    return dict(response.json())


PR = """
query {
  repository(owner: "acme", name: "api") {
    pullRequest(number: 1) {
      headRefOid
      reviews(first: 10) { nodes { id state } }
      timelineItems(first: 10, itemTypes: [REVIEW_DISMISSED_EVENT]) {
        nodes {
          __typename
          ... on ReviewDismissedEvent {
            createdAt previousReviewState actor { login } review { id state author { login } }
          }
        }
      }
      commits(first: 10) {
        totalCount
        nodes { commit { oid authors(first: 10) { nodes { name email user { login } } } committer { user { login } } } }
      }
    }
  }
}
"""


def test_a_dismissal_names_the_review_its_previous_state_and_when(world: tuple[GitHubState, StandIn]) -> None:
    state, server = world
    objection = dismissed(review("carol", "CHANGES_REQUESTED"), MERGED + timedelta(minutes=5), by="olivia-admin")
    add_pr(state, "api", reviews=[review("bob"), objection], merged_at=MERGED)
    pr = query(server, PR)["data"]["repository"]["pullRequest"]
    carol = pr["reviews"]["nodes"][1]
    assert carol["state"] == "DISMISSED"  # as GitHub shows a dismissed review whenever it is read
    assert pr["timelineItems"]["nodes"] == [
        {
            "__typename": "ReviewDismissedEvent",
            "createdAt": "2026-11-20T12:05:00Z",
            "previousReviewState": "CHANGES_REQUESTED",
            "actor": {"login": "olivia-admin"},
            "review": {"id": carol["id"], "state": "DISMISSED", "author": {"login": "carol"}},
        }
    ]


def test_commit_authors_list_the_git_author_then_the_trailers_linked_only_when_known(
    world: tuple[GitHubState, StandIn],
) -> None:
    state, server = world
    commits = [
        pr_commit(state, "alice"),
        pr_commit(state, "carol", committer="alice", co_authors=["bob", "Someone Else"]),
    ]
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED, commits=commits)
    pr = query(server, PR)["data"]["repository"]["pullRequest"]
    nodes = pr["commits"]["nodes"]
    assert pr["commits"]["totalCount"] == 2
    assert pr["headRefOid"] == nodes[-1]["commit"]["oid"]  # the head is the PR's last commit
    second = nodes[1]["commit"]
    assert [(a["name"], a["user"]) for a in second["authors"]["nodes"]] == [
        ("carol", {"login": "carol"}),
        ("bob", {"login": "bob"}),
        ("Someone Else", None),
    ]
    assert second["committer"] == {"user": {"login": "alice"}}


def test_a_pr_without_listed_commits_has_its_head_commit_by_its_author(world: tuple[GitHubState, StandIn]) -> None:
    state, server = world
    add_pr(state, "api", author="alice", reviews=[review("bob")], merged_at=MERGED)
    pr = query(server, PR)["data"]["repository"]["pullRequest"]
    [only] = pr["commits"]["nodes"]
    assert only["commit"]["oid"] == pr["headRefOid"]
    assert [a["user"] for a in only["commit"]["authors"]["nodes"]] == [{"login": "alice"}]


def test_an_organisation_can_be_answered_as_null_without_an_error(world: tuple[GitHubState, StandIn]) -> None:
    state, server = world
    state.null_orgs.add("ACME")
    answer = query(server, 'query { viewer { login } o0: organization(login: "acme") { login } }')
    assert answer == {"data": {"viewer": {"login": "auditor"}, "o0": None}}
