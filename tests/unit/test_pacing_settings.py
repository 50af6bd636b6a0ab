"""The pacer's budgets come from the environment, checked against GitHub's secondary limits."""

from __future__ import annotations

import pytest

from pr_auditor.core.errors import ConfigError
from pr_auditor.github.pacing import most_points_in_a_minute
from pr_auditor.settings import connection_from_env


def test_the_shipped_budgets_keep_any_minute_below_githubs_limits() -> None:
    connection = connection_from_env({}, max_wait_seconds=120)
    assert connection.throttle_seconds == 0
    assert most_points_in_a_minute(connection.graphql_points_per_minute) < 2000
    assert most_points_in_a_minute(connection.rest_points_per_minute) < 900


def test_a_budget_is_read_from_the_environment() -> None:
    env = {"GITHUB_GRAPHQL_POINTS_PER_MINUTE": "600", "GITHUB_REST_POINTS_PER_MINUTE": "300"}
    connection = connection_from_env(env, max_wait_seconds=120)
    assert (connection.graphql_points_per_minute, connection.rest_points_per_minute) == (600, 300)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GITHUB_GRAPHQL_POINTS_PER_MINUTE", "2000"),
        ("GITHUB_REST_POINTS_PER_MINUTE", "0"),
        ("GITHUB_REST_POINTS_PER_MINUTE", "x"),
    ],
)
def test_a_budget_github_would_refuse_is_a_one_line_error_naming_the_key(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        connection_from_env({name: value}, max_wait_seconds=120)
