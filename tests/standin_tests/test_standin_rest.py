"""The GitHub stand-in's REST endpoints, over real HTTP with PyGithub and requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import github
import pytest
import requests
from github import Auth, Github

from standin import GitHubState, PullRequest, StandIn, generate_org

SINCE = datetime(2024, 6, 1, tzinfo=UTC)
UNTIL = datetime(2024, 6, 8, tzinfo=UTC)
TOKEN = "test-token"


@pytest.fixture(scope="module")
def state() -> GitHubState:
    return generate_org(seed=11, n_prs=1100, since=SINCE, until=UNTIL).unlimited()


@pytest.fixture(scope="module")
def server(state: GitHubState) -> Iterator[StandIn]:
    with StandIn(state) as s:
        yield s


@pytest.fixture(scope="module")
def gh(server: StandIn) -> Github:
    return Github(
        auth=Auth.Token(TOKEN),
        base_url=server.base_url,
        seconds_between_requests=0,
        seconds_between_writes=0,
        per_page=100,
    )


def get(server: StandIn, path: str, **params: Any) -> requests.Response:
    return requests.get(server.base_url + path, params=params, headers={"Authorization": f"token {TOKEN}"}, timeout=10)


def first(state: GitHubState, scenario: str) -> PullRequest:
    return next(p for p in state.prs if p.scenario == scenario and SINCE <= (p.merged_at or SINCE) < UNTIL)


def test_pull_request_shape(server: StandIn, gh: Github, state: GitHubState) -> None:
    pr = first(state, "dependabot_pr")
    got = gh.get_repo(pr.repo.full_name).get_pull(pr.number)
    assert got.merged is True
    assert got.merged_at == pr.merged_at
    assert got.merged_by.login == (pr.merged_by.login if pr.merged_by else "ghost")
    assert got.base.ref == pr.base_ref
    assert got.head.sha == pr.head_oid
    assert got.head.ref == pr.head_ref
    assert got.merge_commit_sha == pr.merge_commit_oid
    assert got.user.login == "dependabot[bot]"
    assert got.user.type == "Bot"
    assert got.html_url == f"{server.origin}/{pr.repo.full_name}/pull/{pr.number}"
    assert got.url.startswith(server.base_url)
    raw = get(server, f"/repos/{pr.repo.full_name}/pulls/{pr.number}").json()
    assert raw["_links"]["self"]["href"] == f"{server.base_url}/repos/{pr.repo.full_name}/pulls/{pr.number}"
    assert "octocat" not in str(raw)
    assert "https://github.com" not in str(raw) and "api.github.com" not in str(raw)


def test_reviews_bots_and_ghost(gh: Github, state: GitHubState) -> None:
    pr = first(state, "bot_approval")
    (rev,) = gh.get_repo(pr.repo.full_name).get_pull(pr.number).get_reviews()
    assert rev.user.login == "renovate[bot]"
    assert rev.user.type == "Bot"
    assert rev.state == "APPROVED"
    assert rev.commit_id == pr.head_oid
    assert rev.submitted_at == pr.reviews[0].submitted_at
    pr = first(state, "deleted_reviewer_approval")
    (rev,) = gh.get_repo(pr.repo.full_name).get_pull(pr.number).get_reviews()
    assert rev.user.login == "ghost"
    pr = first(state, "ghost_author")
    assert gh.get_repo(pr.repo.full_name).get_pull(pr.number).user.login == "ghost"


def test_reviews_paginate_past_100(gh: Github, state: GitHubState) -> None:
    pr = first(state, "many_reviews")
    reviews = list(gh.get_repo(pr.repo.full_name).get_pull(pr.number).get_reviews())
    assert len(reviews) == len(pr.reviews) > 100
    assert [r.state for r in reviews].index("APPROVED") >= 100


def test_repository_and_org(server: StandIn, gh: Github, state: GitHubState) -> None:
    infra = gh.get_repo("acme/infra")
    assert infra.default_branch == "master"
    assert gh.get_repo("acme/legacy-billing").archived is True
    assert gh.get_organization("acme").login == "acme"
    with pytest.raises(github.UnknownObjectException):
        gh.get_organization("nope").login  # noqa: B018 (attribute access triggers the GET)
    resp = get(server, "/orgs/nope")
    assert resp.status_code == 404
    assert resp.json()["message"] == "Not Found"
    assert gh.get_user().login == "auditor"
    limits = get(server, "/rate_limit").json()
    assert set(limits["resources"]) >= {"core", "search", "graphql"}


def test_search_issues_with_pygithub(server: StandIn, gh: Github, state: GitHubState) -> None:
    q = "is:pr is:merged org:acme merged:2024-06-01..2024-06-02"
    expected = {
        (p.repo.name, p.number)
        for p in state.prs
        if p.merged_at and p.merged_at < datetime(2024, 6, 3, tzinfo=UTC) and p.merged_at >= SINCE
    }
    items = list(gh.search_issues(q))
    assert {(i.repository.name, i.number) for i in items[:3]} <= expected  # item.repository costs a request each
    assert len(items) == len(expected)
    assert all(i.pull_request is not None for i in items)
    resp = get(server, "/search/issues", q=q, per_page=10)
    body = resp.json()
    assert body["total_count"] == len(expected)
    assert body["incomplete_results"] is False
    assert 'rel="next"' in resp.headers["Link"] and 'rel="last"' in resp.headers["Link"]
    assert server.base_url in resp.headers["Link"]
    assert resp.headers["X-RateLimit-Resource"] == "search"


def test_search_cap_and_errors(server: StandIn, gh: Github) -> None:
    q = "is:pr is:merged org:acme merged:2024-06-01..2024-06-07"
    resp = get(server, "/search/issues", q=q, per_page=100, page=10)
    assert resp.status_code == 200
    assert resp.json()["total_count"] > 1000
    assert 'rel="last"' not in resp.headers.get("Link", "")  # page 10 is the last reachable
    resp = get(server, "/search/issues", q=q, per_page=100, page=11)
    assert resp.status_code == 422
    assert resp.json()["message"] == "Only the first 1000 search results are available"
    results = gh.search_issues(q)
    assert results.totalCount == 1000 or results.totalCount > 1000
    resp = get(server, "/search/issues", q="is:pr org:nope")
    assert resp.status_code == 422
    assert "cannot be searched" in resp.json()["errors"][0]["message"]
    with pytest.raises(github.GithubException) as exc:
        list(gh.search_issues("is:pr org:acme bogus:qualifier"))
    assert exc.value.status == 422


def test_unknown_path_and_bad_token(server: StandIn) -> None:
    assert get(server, "/nope").status_code == 404
    resp = requests.get(server.base_url + "/user", headers={"Authorization": "token wrong"}, timeout=5)
    assert resp.status_code == 401
    assert resp.json() == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}


def test_core_budget_exhaustion(server: StandIn, state: GitHubState) -> None:
    bucket = state.rate["core"]
    saved = bucket.remaining
    bucket.set(0)
    try:
        resp = get(server, "/repos/acme/api")
        assert resp.status_code == 403
        assert resp.json()["message"].startswith("API rate limit exceeded")
        assert resp.headers["X-RateLimit-Remaining"] == "0"
        assert get(server, "/rate_limit").status_code == 200  # free, as on GitHub
    finally:
        bucket.set(saved)


def test_search_budget_is_30_per_minute_by_default(server: StandIn, state: GitHubState) -> None:
    bucket = state.rate["search"]
    saved = (bucket.remaining, bucket.limit)
    bucket.set(1, limit=30)
    try:
        gh = Github(auth=Auth.Token(TOKEN), base_url=server.base_url, retry=None, seconds_between_requests=0)
        assert gh.search_issues("is:pr org:acme").totalCount > 0
        with pytest.raises(github.RateLimitExceededException):
            gh.search_issues("is:pr org:acme merged:2024-06-02").totalCount  # noqa: B018
        assert state.rate["core"].remaining > 0  # REST core budget is separate
    finally:
        bucket.set(saved[0], limit=saved[1])
    assert GitHubState().rate["search"].limit == 30
