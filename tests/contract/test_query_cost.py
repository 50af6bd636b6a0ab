"""What the search page and its follow-ups cost by GitHub's published formula (requests to fill each connection,
nested ones once per parent; points = requests / 100), as the stand-in computes it, and their node counts
against GitHub's 500,000. Reading each commit's ``authors`` is the expensive part: these numbers say so.
https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api"""

from __future__ import annotations

from graphql import parse

from pr_auditor.github import queries

from standin.graphql_api import MAX_NODES, analyze


def test_a_search_page_costs_24_points_with_the_first_20_commits_and_their_authors() -> None:
    analysis = analyze(parse(queries.SEARCH_MERGED), "AuditSearch", {"query": "q", "first": 100, "after": None})
    assert analysis.errors == []
    # 1 search + 100 x (labels, reviews, timeline, commits) + 100 x 20 commits' authors
    assert analysis.requests == 1 + 100 * 4 + 100 * queries.COMMITS_IN_SEARCH == 2_401
    assert analysis.cost == 24
    assert analysis.nodes == 232_100 < MAX_NODES


def test_a_batch_of_25_commit_follow_ups_stays_under_the_node_limit() -> None:
    document, variables = queries.follow_up([("acme", "api", n, "commits", "Y3Vyc29y") for n in range(25)])
    analysis = analyze(parse(document), None, variables)
    assert analysis.errors == []
    assert analysis.nodes == 25 * (100 + 100 * 100) < MAX_NODES
    assert analysis.cost == 25
