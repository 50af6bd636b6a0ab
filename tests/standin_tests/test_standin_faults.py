"""Fault injection in the GitHub stand-in, observed through PyGithub."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import github
import pytest
import requests
from github import Auth, Github

from standin import Fault, GitHubState, StandIn, add_pr, make_state

TOKEN = "test-token"
VIEWER = "query { viewer { login } }"
SEARCH = """query($q: String!) { search(query: $q, type: ISSUE, first: 10) {
  issueCount pageInfo { hasNextPage endCursor } nodes { ... on PullRequest { number } } } }"""


@pytest.fixture(scope="module")
def server() -> Iterator[StandIn]:
    state = make_state()
    for n in range(1, 11):
        add_pr(state, number=n, merged_at=datetime(2024, 6, 3, 12, n, tzinfo=UTC))
    with StandIn(state) as s:
        yield s


@pytest.fixture
def state(server: StandIn) -> Iterator[GitHubState]:
    st = server.state
    st.faults.clear()
    st.reset_counters()
    yield st
    st.faults.clear()


def client(server: StandIn, **kw: Any) -> Github:
    return Github(
        auth=Auth.Token(TOKEN), base_url=server.base_url, seconds_between_requests=0, seconds_between_writes=0, **kw
    )


def gql(gh: Github, query: str = VIEWER, **variables: Any) -> dict[str, Any]:
    return gh.requester.graphql_query(query, variables)[1]


def test_502_is_retried_by_default(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("http_502", times=2, match="graphql"))
    assert gql(client(server))["data"]["viewer"]["login"] == "auditor"
    assert state.faults.fired["http_502"] == 2
    assert state.count("graphql") == 3
    assert [r.status for r in state.requests] == [502, 502, 200]
    assert not state.faults.pending


def test_5xx_raw_without_retry(server: StandIn, state: GitHubState) -> None:
    gh = client(server, retry=None)
    state.faults.add(Fault("http_502", match="graphql"))
    with pytest.raises(github.GithubException) as exc:
        gql(gh)
    assert exc.value.status == 502
    state.faults.add(Fault("http_500", match="rest"))
    with pytest.raises(github.GithubException) as exc:
        gh.get_repo("acme/app")
    assert exc.value.status == 500
    state.faults.add(Fault("http_503"))
    with pytest.raises(github.GithubException) as exc:
        gql(gh)
    assert exc.value.status == 503


def test_5xx_retries_exhausted_raise_retry_error(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("http_500", times=50, match="graphql"))
    with pytest.raises(requests.exceptions.RetryError):
        gql(client(server))
    assert state.faults.fired["http_500"] == 11  # first try + GithubRetry(total=10)


def test_fault_after_and_match(server: StandIn, state: GitHubState) -> None:
    gh = client(server, retry=None)
    state.faults.add(Fault("http_500", match="graphql", after=2))
    assert gh.get_repo("acme/app").name == "app"  # REST does not match
    gql(gh)
    gql(gh)
    with pytest.raises(github.GithubException):
        gql(gh)
    gql(gh)
    assert state.faults.fired_total == 1
    assert [r.fault for r in state.requests] == [None, None, None, "http_500", None]


def test_timeout(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("timeout", delay_s=1.5, match="graphql"))
    with pytest.raises(requests.exceptions.ReadTimeout):
        gql(client(server, retry=None, timeout=1))
    state.faults.add(Fault("timeout", delay_s=1.5, match="graphql"))
    assert gql(client(server, timeout=1))["data"]["viewer"]["login"] == "auditor"  # retried
    assert state.faults.fired["timeout"] == 2


def test_disconnect(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("disconnect", match="rest"))
    with pytest.raises(requests.exceptions.ConnectionError):
        client(server, retry=None).get_repo("acme/app")
    state.faults.add(Fault("disconnect", match="rest"))
    assert client(server).get_repo("acme/app").name == "app"


def test_secondary_rate_limit(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("secondary_rate_limit", match="graphql", retry_after=1))
    with pytest.raises(github.RateLimitExceededException) as exc:
        gql(client(server, retry=None))
    assert exc.value.headers is not None
    assert exc.value.headers["retry-after"] == "1"
    assert "secondary rate limit" in str(exc.value.data)
    state.faults.add(Fault("secondary_rate_limit", match="graphql", retry_after=1))
    assert gql(client(server))["data"]["viewer"]["login"] == "auditor"  # waited Retry-After


def test_primary_rate_limit(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("primary_rate_limit", match="rest", reset_in=60))
    with pytest.raises(github.RateLimitExceededException) as exc:
        client(server, retry=None).get_repo("acme/app")
    assert exc.value.headers is not None
    assert exc.value.headers["x-ratelimit-remaining"] == "0"
    state.faults.add(Fault("primary_rate_limit", match="rest", reset_in=60))
    capped = github.GithubRetry(max_rate_limit_wait=5)
    with pytest.raises(github.GithubException):  # RateLimitExceededExceedsMaxWait
        client(server, retry=capped).get_repo("acme/app")
    state.faults.add(Fault("primary_rate_limit", match="rest", reset_in=0))
    assert client(server).get_repo("acme/app").name == "app"  # waited until the reset


def test_graphql_errors(server: StandIn, state: GitHubState) -> None:
    gh = client(server)
    state.faults.add(Fault("graphql_errors", error_type="SERVICE_UNAVAILABLE", message="try later"))
    with pytest.raises(github.GithubException) as exc:
        gql(gh)
    assert exc.value.status == 400
    assert exc.value.data["data"] is None  # type: ignore[index]
    state.faults.add(Fault("graphql_errors", partial=True))
    resp = requests.post(
        server.graphql_url, json={"query": VIEWER}, headers={"Authorization": f"token {TOKEN}"}, timeout=5
    ).json()
    assert resp["data"] == {"viewer": {"login": "auditor"}}
    assert "Something went wrong" in resp["errors"][0]["message"]
    assert gh.get_repo("acme/app").name == "app"  # a GraphQL fault never hits REST


def test_incomplete_results(server: StandIn, state: GitHubState) -> None:
    state.faults.add(Fault("incomplete_results", match="search", keep=0.5))
    resp = requests.get(
        server.base_url + "/search/issues",
        params={"q": "is:pr org:acme", "per_page": 10},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    ).json()
    assert resp["incomplete_results"] is True
    assert resp["total_count"] == 10
    assert len(resp["items"]) == 5
    state.faults.add(Fault("incomplete_results", match="graphql", keep=0.5))
    gql(client(server))  # not a search: the fault waits
    body = requests.post(
        server.graphql_url,
        json={"query": SEARCH, "variables": {"q": "is:pr org:acme"}},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    ).json()
    assert body["data"]["search"]["issueCount"] == 10
    assert len(body["data"]["search"]["nodes"]) == 5
    assert body["errors"][0]["path"] == ["search"]
    assert state.faults.fired["incomplete_results"] == 2


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("meteor")  # type: ignore[arg-type]
