"""Every GraphQL document the adapter sends validates against GitHub's published schema (npm
@octokit/graphql-schema), so a query GitHub would reject fails here first."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from pr_auditor.github import queries

SCHEMA = Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "graphql-schema" / "schema.graphql"


@cache
def github_schema() -> GraphQLSchema:
    return build_schema(SCHEMA.read_text(), assume_valid_sdl=True, assume_valid=True)


DOCUMENTS = {
    "search": queries.SEARCH_MERGED,
    "access-check-one-org": queries.access_check(("acme",))[0],
    "access-check-three-orgs": queries.access_check(("a", "b", "c"))[0],
    "follow-up-reviews": queries.follow_up([("acme", "api", 1, "reviews", "Y3Vyc29y")])[0],
    "follow-up-mixed": queries.follow_up(
        [
            ("acme", "api", 1, "reviews", "Y3Vyc29y"),
            ("acme", "api", 1, "labels", "Y3Vyc29y"),
            ("acme", "web", 7, "timelineItems", "Y3Vyc29y"),
        ]
    )[0],
    "follow-up-labels-only": queries.follow_up([("acme", "api", 1, "labels", "Y3Vyc29y")])[0],
    "repositories-by-push": queries.REPOSITORIES_BY_PUSH,
    "branch-refs": queries.branch_refs([("acme", "api"), ("acme", "web")])[0],
    "history-pages": queries.history_pages([("acme", "api", "a" * 40, 100, None), ("acme", "web", "b" * 40, 50, "Y")])[
        0
    ],
    "commits-between-pages": queries.commits_between_pages(
        [("acme", "api", "refs/heads/main", None), ("acme", "web", "refs/heads/main", "Y")], "a", "b"
    )[0],
    "commits-by-oid": queries.commits_by_oid([("acme", "api", "a" * 40), ("acme", "web", "b" * 40)])[0],
    "protection": queries.protection([("acme", "api", "main"), ("acme", "web", "release/1")])[0],
    "follow-up-edit-history-first-page": queries.follow_up([("acme", "api", 1, "userContentEdits", None)])[0],
    "follow-up-edit-history-and-renames": queries.follow_up(
        [("acme", "api", 1, "userContentEdits", "Y3Vyc29y"), ("acme", "api", 2, "timelineItems", "Y3Vyc29y")]
    )[0],
    "follow-up-commits-past-the-search-page": queries.follow_up([("acme", "api", 1, "commits", "Y3Vyc29y")])[0],
    "follow-up-commits-and-dismissals": queries.follow_up(
        [("acme", "api", 1, "commits", "Y3Vyc29y"), ("acme", "api", 1, "timelineItems", "Y3Vyc29y")]
    )[0],
}


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_document_validates_against_githubs_schema(document: str) -> None:
    assert validate(github_schema(), parse(document)) == []


def test_a_document_github_would_reject_is_rejected_here_too() -> None:
    # Given a field GitHub's PullRequest type does not have
    broken = queries.SEARCH_MERGED.replace("headRefOid", "headCommitSha")
    errors = validate(github_schema(), parse(broken))
    assert len(errors) == 1
    assert errors[0].message.startswith("Cannot query field 'headCommitSha' on type 'PullRequest'.")
