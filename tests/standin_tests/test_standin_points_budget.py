"""The stand-in enforces GitHub's secondary limit in points per minute, as GitHub answers it."""

from __future__ import annotations

import requests

from standin import GitHubState, StandIn, make_state
from standin.model import PointsBudget

VIEWER = {"query": "query Viewer { viewer { login } }"}
HEADERS = {"Authorization": "token test-token"}


def test_the_default_budget_is_githubs_published_secondary_limit() -> None:
    # Given a fresh stand-in state
    state = GitHubState()
    # Then it enforces 2,000 GraphQL and 900 REST points a minute, and unlimited() lifts them
    assert state.secondary == PointsBudget(graphql=2000, rest=900, window_s=60.0)
    assert state.unlimited().secondary is None


def test_a_request_over_the_points_budget_is_refused_with_403_and_retry_after() -> None:
    # Given a stand-in allowing 3 GraphQL points in a 30-second window
    state = make_state()
    state.secondary = PointsBudget(graphql=3, rest=900, window_s=30)
    with StandIn(state) as server:
        # When a client sends four queries at once
        answers = [requests.post(server.graphql_url, json=VIEWER, headers=HEADERS, timeout=5) for _ in range(4)]
        rest = requests.get(f"{server.base_url}/repos/acme/app", headers=HEADERS, timeout=5)
    # Then the first three are answered and the fourth is GitHub's secondary-limit 403, with Retry-After
    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    refused = answers[-1]
    assert refused.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    # And REST has a budget of its own; the refusal is logged as such
    assert rest.status_code == 200
    assert [r.fault for r in state.requests].count("secondary_budget") == 1
    assert state.requests[0].operation == "Viewer"


def test_a_rest_write_costs_five_points_and_a_graphql_query_one() -> None:
    budget = PointsBudget(graphql=5, rest=5, window_s=60)
    assert budget.charge("rest", 5, now=0.0) is None
    assert budget.charge("rest", 1, now=1.0) == 59.0  # the 5 points leave the window at t = 60
    assert all(budget.charge("graphql", 1, now=2.0) is None for _ in range(5))
    assert budget.charge("graphql", 1, now=3.0) == 59.0
    assert budget.charge("graphql", 1, now=62.5) is None  # the window slid past the first points
