"""The GitHub stand-in's GraphQL endpoint, over real HTTP with PyGithub."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import github
import pytest
import requests
from github import Auth, Github

from standin import GitHubState, StandIn, add_pr, generate_org, make_state, review

SINCE = datetime(2024, 6, 1, tzinfo=UTC)
UNTIL = datetime(2024, 6, 8, tzinfo=UTC)
TOKEN = "test-token"

PAGE_QUERY = """
query($q: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining nodeCount }
  search(query: $q, type: ISSUE, first: $first, after: $after) {
    issueCount
    pageInfo { hasNextPage endCursor }
    nodes {
      ... on PullRequest {
        id number url title state mergedAt merged
        author { __typename login }
        mergedBy { __typename login }
        baseRefName headRefName headRefOid
        mergeCommit { oid }
        reviewDecision
        repository { nameWithOwner isArchived defaultBranchRef { name } }
        labels(first: 20) { totalCount nodes { name } }
        reviews(first: 100) {
          totalCount
          pageInfo { hasNextPage endCursor }
          nodes {
            author { __typename login }
            state submittedAt authorCanPushToRepository
            commit { oid }
          }
        }
        timelineItems(first: 50, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {
          totalCount
          nodes {
            __typename
            ... on LabeledEvent { createdAt actor { __typename login } label { name } }
            ... on UnlabeledEvent { createdAt actor { __typename login } label { name } }
          }
        }
      }
    }
  }
}
"""


def client(server: StandIn, **kw: Any) -> Github:
    return Github(
        auth=Auth.Token(kw.pop("token", TOKEN)),
        base_url=server.base_url,
        seconds_between_requests=0,
        seconds_between_writes=0,
        **kw,
    )


def gql(gh: Github, query: str, **variables: Any) -> dict[str, Any]:
    _, data = gh.requester.graphql_query(query, variables)
    return data


def raw_gql(server: StandIn, query: str, variables: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        server.graphql_url,
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"bearer {TOKEN}"},
        timeout=10,
    )


def search_all(gh: Github, q: str) -> tuple[int, list[dict[str, Any]], int]:
    """(issueCount, nodes, pages) following endCursor until hasNextPage is false."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        data = gql(gh, PAGE_QUERY, q=q, first=100, after=after)["data"]["search"]
        pages += 1
        nodes += data["nodes"]
        if not data["pageInfo"]["hasNextPage"]:
            return data["issueCount"], nodes, pages
        after = data["pageInfo"]["endCursor"]


@pytest.fixture(scope="module")
def org_state() -> GitHubState:
    state = generate_org(seed=7, n_prs=1200, since=SINCE, until=UNTIL)
    state.rate["graphql"].set(10**9, limit=10**9)
    return state


@pytest.fixture(scope="module")
def server(org_state: GitHubState) -> Iterator[StandIn]:
    with StandIn(org_state) as s:
        yield s


@pytest.fixture(scope="module")
def gh(server: StandIn) -> Github:
    return client(server)


# --------------------------------------------------------------------------- basics


def test_viewer_login_and_rate_headers(server: StandIn, gh: Github) -> None:
    headers, data = gh.requester.graphql_query("query { viewer { login } }", {})
    assert data == {"data": {"viewer": {"login": "auditor"}}}
    assert headers["x-ratelimit-resource"] == "graphql"
    assert int(headers["x-ratelimit-remaining"]) > 0


def test_bad_token_is_401_for_graphql_and_rest(server: StandIn) -> None:
    bad = client(server, token="nope")
    with pytest.raises(github.BadCredentialsException):
        gql(bad, "query { viewer { login } }")
    with pytest.raises(github.BadCredentialsException):
        _ = bad.get_user().login
    resp = requests.post(server.graphql_url, json={"query": "{ viewer { login } }"}, timeout=5)
    assert resp.status_code == 401
    assert resp.json()["message"] == "Bad credentials"


def test_query_invalid_against_schema_is_rejected(server: StandIn, gh: Github) -> None:
    resp = raw_gql(server, "query { viewer { login loginn } }")
    assert resp.status_code == 200
    body = resp.json()
    assert "data" not in body
    assert "loginn" in body["errors"][0]["message"]
    assert body["errors"][0]["locations"]
    with pytest.raises(github.GithubException) as exc:
        gql(gh, "query { search(query: 1, type: ISSUE, first: 1) { issueCount } }")
    assert exc.value.status == 400


def test_syntax_error_and_missing_query(server: StandIn) -> None:
    assert "errors" in raw_gql(server, "query { viewer { ").json()
    resp = requests.post(server.graphql_url, json={}, headers={"Authorization": f"token {TOKEN}"}, timeout=5)
    assert resp.json() == {"errors": [{"message": "A query attribute must be specified and must be a string."}]}


def test_unknown_organization_is_not_found(server: StandIn, gh: Github) -> None:
    body = raw_gql(server, 'query { organization(login: "nope") { login } }').json()
    assert body["data"] == {"organization": None}
    (err,) = body["errors"]
    assert err["type"] == "NOT_FOUND"
    assert err["path"] == ["organization"]
    assert err["message"] == "Could not resolve to an Organization with the login of 'nope'."
    with pytest.raises(github.UnknownObjectException):
        gql(gh, 'query { organization(login: "nope") { login } }')
    data = gql(gh, 'query { organization(login: "acme") { login repositories(first: 10) { totalCount } } }')
    assert data["data"]["organization"]["repositories"]["totalCount"] == 6


def test_unimplemented_field_says_so(server: StandIn) -> None:
    body = raw_gql(server, "query { viewer { login bio } }").json()
    assert "does not implement the field `User.bio`" in body["errors"][0]["message"]


# --------------------------------------------------------------------------- pagination rules


def test_first_over_100_and_missing_first_are_rejected(server: StandIn, gh: Github) -> None:
    body = raw_gql(server, 'query { search(query: "is:pr org:acme", type: ISSUE, first: 101) { issueCount } }').json()
    assert body["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    assert "exceeds the `first` limit of 100 records" in body["errors"][0]["message"]
    assert "data" not in body
    body = raw_gql(server, 'query { search(query: "is:pr", type: ISSUE) { nodes { __typename } } }').json()
    assert body["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    assert body["errors"][0]["path"] == ["search"]
    # totalCount alone needs no page size
    q = 'query { repository(owner: "acme", name: "api") { pullRequests { totalCount } } }'
    assert gql(gh, q)["data"]["repository"]["pullRequests"]["totalCount"] > 0
    with pytest.raises(github.GithubException):
        gql(gh, PAGE_QUERY, q="is:pr org:acme", first=0)


def test_node_limit(server: StandIn) -> None:
    q = """query { search(query: "is:pr org:acme", type: ISSUE, first: 100) { nodes { ... on PullRequest {
      reviews(first: 100) { nodes { comments(first: 100) { nodes { id } } } } } } } }"""
    body = raw_gql(server, q).json()
    assert body["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "500,000" in body["errors"][0]["message"]


def test_invalid_cursor(server: StandIn) -> None:
    q = 'query { search(query: "is:pr org:acme", type: ISSUE, first: 5, after: "zzz") { issueCount } }'
    body = raw_gql(server, q).json()
    assert body["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS"


# --------------------------------------------------------------------------- search


def test_search_pages_with_cursors(gh: Github, org_state: GitHubState) -> None:
    q = "is:pr is:merged org:acme merged:2024-06-01..2024-06-02 sort:created-asc"
    count, nodes, pages = search_all(gh, q)
    expected = [p for p in org_state.prs if p.merged_at and SINCE <= p.merged_at < SINCE + timedelta(days=2)]
    assert count == len(expected) == len(nodes)
    assert pages == -(-count // 100)
    assert len({n["id"] for n in nodes}) == count
    created = [n["number"] for n in nodes]
    assert created  # sorted ascending by creation: numbers ascend per repository
    assert {n["repository"]["nameWithOwner"] for n in nodes} <= {f"acme/{r.name}" for r in org_state.orgs["acme"]}
    for n in nodes:
        assert n["url"].startswith(f"http://127.0.0.1:{gh.requester.base_url.split(':')[2].split('/')[0]}/acme/")
        assert "/pull/" in n["url"]


def test_search_result_cap_at_1000(gh: Github, org_state: GitHubState) -> None:
    count, nodes, pages = search_all(gh, "is:pr is:merged org:acme merged:2024-06-01..2024-06-07")
    in_window = [p for p in org_state.prs if p.merged_at and SINCE <= p.merged_at < UNTIL]
    assert count == len(in_window) > 1000  # issueCount is the true total
    assert len(nodes) == 1000  # but hasNextPage stops at 1,000
    assert pages == 10
    import base64

    past = base64.b64encode(b"cursor:1000").decode()
    data = gql(gh, PAGE_QUERY, q="is:pr org:acme merged:2024-06-01..2024-06-07", first=100, after=past)
    assert data["data"]["search"]["nodes"] == []
    assert data["data"]["search"]["pageInfo"]["hasNextPage"] is False


def test_rate_limit_cost_is_charged(gh: Github, org_state: GitHubState) -> None:
    before = org_state.rate["graphql"].remaining
    data = gql(gh, PAGE_QUERY, q="is:pr org:acme merged:2024-06-01", first=100)["data"]["rateLimit"]
    # 1 search + 100 x (reviews, labels, timelineItems) requests = 301 → 3 points
    assert data["cost"] == 3
    assert data["nodeCount"] == 100 + 100 * (100 + 20 + 50)
    assert org_state.rate["graphql"].remaining == before - 3


def test_unknown_org_and_unsupported_qualifier_in_search(server: StandIn, gh: Github) -> None:
    body = raw_gql(server, 'query { search(query: "is:pr org:nope", type: ISSUE, first: 5) { issueCount } }').json()
    assert body["data"] is None
    assert body["errors"][0]["type"] == "INVALID"
    assert "cannot be searched" in body["errors"][0]["message"]
    with pytest.raises(github.GithubException, match="does not support"):
        gql(gh, PAGE_QUERY, q="is:pr org:acme reviewed-by:alice", first=5)
    with pytest.raises(github.GithubException, match="free-text"):
        gql(gh, PAGE_QUERY, q="is:pr org:acme hello", first=5)


def test_actors_bots_and_deleted_users(gh: Github, org_state: GitHubState) -> None:
    _, nodes, _ = search_all(gh, "is:pr is:merged org:acme merged:2024-06-01..2024-06-03")
    by_scenario: dict[str, dict[str, Any]] = {}
    scen = {(p.repo.full_name, p.number): p.scenario for p in org_state.prs}
    for n in nodes:
        by_scenario.setdefault(scen[(n["repository"]["nameWithOwner"], n["number"])], n)
    bot_pr = by_scenario["dependabot_pr"]
    assert bot_pr["author"] == {"__typename": "Bot", "login": "dependabot"}
    assert by_scenario["ghost_author"]["author"] is None
    deleted = by_scenario["deleted_reviewer_approval"]["reviews"]["nodes"]
    assert deleted[0]["author"] is None
    assert deleted[0]["state"] == "APPROVED"
    bot_review = by_scenario["bot_approval"]["reviews"]["nodes"][0]
    assert bot_review["author"] == {"__typename": "Bot", "login": "renovate"}


# --------------------------------------------------------------------------- hand-made states


@pytest.fixture
def small() -> Iterator[tuple[StandIn, Github, GitHubState, list[datetime]]]:
    now = [datetime(2024, 6, 10, tzinfo=UTC)]
    state = make_state(clock=lambda: now[0])
    with StandIn(state) as s:
        yield s, client(s), state, now


def numbers(gh: Github, q: str) -> list[int]:
    _, nodes, _ = search_all(gh, q)
    return sorted(n["number"] for n in nodes)


def test_window_edges_are_inclusive(small: tuple[StandIn, Github, GitHubState, list[datetime]]) -> None:
    _, gh, state, _ = small
    t0 = datetime(2024, 6, 3, 0, 0, 0, tzinfo=UTC)
    t1 = datetime(2024, 6, 3, 23, 59, 59, tzinfo=UTC)
    add_pr(state, number=1, merged_at=t0 - timedelta(seconds=1))
    add_pr(state, number=2, merged_at=t0)
    add_pr(state, number=3, merged_at=t1)
    add_pr(state, number=4, merged_at=t1 + timedelta(seconds=1))
    assert numbers(gh, "is:pr is:merged org:acme merged:2024-06-03T00:00:00Z..2024-06-03T23:59:59Z") == [2, 3]
    assert numbers(gh, "is:pr org:acme merged:2024-06-03") == [2, 3]
    assert numbers(gh, "is:pr org:acme merged:2024-06-02..2024-06-03") == [1, 2, 3]
    assert numbers(gh, "is:pr org:acme merged:>=2024-06-03T23:59:59Z") == [3, 4]
    assert numbers(gh, "is:pr org:acme merged:<2024-06-03T00:00:00Z") == [1]
    assert numbers(gh, "is:pr org:acme merged:2024-06-03T02:00:00+02:00..2024-06-03T23:59:59+00:00") == [2, 3]
    with pytest.raises(github.GithubException):
        numbers(gh, "is:pr org:acme merged:2024-06-03T00:00:00..2024-06-04T00:00:00")  # no offset


def test_index_lag_hides_from_search_not_from_repository(
    small: tuple[StandIn, Github, GitHubState, list[datetime]],
) -> None:
    _, gh, state, now = small
    merged = now[0] - timedelta(minutes=1)
    add_pr(state, number=7, merged_at=merged, indexed_at=merged + timedelta(minutes=30))
    assert numbers(gh, "is:pr org:acme") == []
    q = 'query { repository(owner: "acme", name: "app") { pullRequest(number: 7) { number merged } } }'
    assert gql(gh, q)["data"]["repository"]["pullRequest"] == {"number": 7, "merged": True}
    now[0] += timedelta(hours=1)
    assert numbers(gh, "is:pr org:acme") == [7]


def test_reviews_past_100_and_timeline(small: tuple[StandIn, Github, GitHubState, list[datetime]]) -> None:
    _, gh, state, _ = small
    merged = datetime(2024, 6, 5, 12, tzinfo=UTC)
    reviews = [review("carol", "COMMENTED") for _ in range(110)] + [review("bob"), review("carol", "COMMENTED")]
    add_pr(
        state,
        number=9,
        merged_at=merged,
        reviews=reviews,
        labels=["Emergency"],
    )
    q = """query($after: String) { repository(owner: "acme", name: "app") { pullRequest(number: 9) {
      reviews(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { state author { login } } }
      timelineItems(first: 10, itemTypes: [LABELED_EVENT, MERGED_EVENT]) { totalCount nodes { __typename } } } } }"""
    page1 = gql(gh, q)["data"]["repository"]["pullRequest"]
    assert page1["reviews"]["totalCount"] == 112
    assert page1["reviews"]["pageInfo"]["hasNextPage"] is True
    assert all(r["state"] == "COMMENTED" for r in page1["reviews"]["nodes"])
    assert [t["__typename"] for t in page1["timelineItems"]["nodes"]] == ["LabeledEvent", "MergedEvent"]
    page2 = gql(gh, q, after=page1["reviews"]["pageInfo"]["endCursor"])["data"]["repository"]["pullRequest"]
    assert len(page2["reviews"]["nodes"]) == 12
    assert {"state": "APPROVED", "author": {"login": "bob"}} in page2["reviews"]["nodes"]
    assert page2["reviews"]["pageInfo"]["hasNextPage"] is False


def test_review_facts(small: tuple[StandIn, Github, GitHubState, list[datetime]]) -> None:
    _, gh, state, _ = small
    add_pr(
        state,
        number=11,
        author="alice",
        head_oid="a" * 40,
        reviews=[review("alice"), review("dave"), review("bob", commit_oid="b" * 40), review("bob", "PENDING")],
    )
    q = """query { repository(owner: "acme", name: "app") { pullRequest(number: 11) {
      headRefOid reviews(first: 10) { nodes { author { login } state authorCanPushToRepository commit { oid } } }
      latestOpinionatedReviews(first: 10, writersOnly: true) { nodes { author { login } } } } } }"""
    pr = gql(gh, q)["data"]["repository"]["pullRequest"]
    got = [
        (r["author"]["login"], r["authorCanPushToRepository"], r["commit"]["oid"][0]) for r in pr["reviews"]["nodes"]
    ]
    assert got == [("alice", True, "a"), ("dave", False, "a"), ("bob", True, "b")]  # PENDING hidden
    assert [r["author"]["login"] for r in pr["latestOpinionatedReviews"]["nodes"]] == ["alice", "bob"]


def test_graphql_budget_exhaustion(small: tuple[StandIn, Github, GitHubState, list[datetime]]) -> None:
    server, gh, state, _ = small
    state.rate["graphql"].set(0)
    resp = raw_gql(server, "query { viewer { login } }")
    assert resp.status_code == 200
    assert resp.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    with pytest.raises(github.GithubException):
        gql(gh, "query { viewer { login } }")


def test_request_log_and_latency(small: tuple[StandIn, Github, GitHubState, list[datetime]]) -> None:
    _, gh, state, _ = small
    state.reset_counters()
    gql(gh, "query { viewer { login } }")
    assert gh.get_repo("acme/app").default_branch == "main"
    assert state.count() == 2
    assert state.count("graphql") == 1
    assert state.count("rest") == 1
    state.latency_ms = 60
    gql(gh, "query { viewer { login } }")
    assert state.requests[-1].duration_ms >= 60
    state.reset_counters()
    assert state.count() == 0


HISTORY_QUERY = """
query {
  repository(owner: "acme", name: "app") {
    pullRequest(number: 1) {
      title body lastEditedAt includesCreatedEdit
      userContentEdits(first: 2) {
        totalCount pageInfo { hasNextPage endCursor } nodes { editedAt diff deletedAt editor { login } }
      }
      timelineItems(first: 10, itemTypes: [RENAMED_TITLE_EVENT]) {
        nodes { __typename ... on RenamedTitleEvent { createdAt previousTitle currentTitle actor { login } } }
      }
    }
  }
}
"""


def test_renames_and_description_edits_are_served_like_github() -> None:
    # Given a PR renamed once and whose description was edited twice, the first edit later deleted
    state = make_state(tokens=(TOKEN,))
    merged = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    pr = add_pr(state, title="Fix", body="opened", merged_at=merged)
    alice = state.users["alice"]
    pr.rename("OPS-1 Fix", merged + timedelta(minutes=5), alice)
    pr.edit_body("first edit", merged - timedelta(minutes=5), alice)
    pr.edit_body("second edit", merged + timedelta(minutes=9), alice)
    pr.body_history[1].deleted_at = merged + timedelta(minutes=10)
    with StandIn(state) as server:
        data = gql(client(server), HISTORY_QUERY)["data"]["repository"]["pullRequest"]
    # Then the current title and body, the rename with both titles, and the edit history newest first, the
    # first entry being the text the PR was opened with; a deleted revision has no text
    assert (data["title"], data["body"], data["lastEditedAt"]) == ("OPS-1 Fix", "second edit", "2024-06-03T12:09:00Z")
    assert data["includesCreatedEdit"] is True
    [rename] = data["timelineItems"]["nodes"]
    assert (rename["previousTitle"], rename["currentTitle"], rename["actor"]["login"]) == ("Fix", "OPS-1 Fix", "alice")
    edits = data["userContentEdits"]
    assert edits["totalCount"] == 3 and edits["pageInfo"]["hasNextPage"] is True
    assert [(e["diff"], e["deletedAt"] is not None) for e in edits["nodes"]] == [("second edit", False), (None, True)]


def test_a_description_never_edited_has_no_history() -> None:
    state = make_state(tokens=(TOKEN,))
    add_pr(state, title="Fix", body="opened")
    with StandIn(state) as server:
        data = gql(client(server), HISTORY_QUERY)["data"]["repository"]["pullRequest"]
    assert data["lastEditedAt"] is None and data["includesCreatedEdit"] is False
    assert data["userContentEdits"]["totalCount"] == 0
