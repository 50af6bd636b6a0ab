"""The stand-in's repository activity (``GET /repos/{o}/{r}/activity``) and paged compare, over real HTTP,
with every body validated against GitHub's OpenAPI description (npm @octokit/openapi): the shape, the
filters, cursor paging through the ``Link`` header, a pusher distinct from the commit's identity, commits of
an undone push still readable by SHA, and the 404 of an older GitHub Enterprise Server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30Validator

from standin.generate import make_state
from standin.git import delete_branch, force_push, init_branch, merge_pr, push
from standin.model import GitHubState, Repository
from standin.rest_api import OPENAPI_PATH
from standin.server import StandIn

TOKEN = "test-token"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@cache
def openapi() -> dict[str, Any]:
    with OPENAPI_PATH.open(encoding="utf-8") as fh:
        document: dict[str, Any] = json.load(fh)
    return document


def response_schema(path: str, status: str = "200") -> dict[str, Any]:
    """GitHub's schema of a GET response, with the description's components at the root for its $refs."""
    answer = openapi()["paths"][path]["get"]["responses"][status]
    if "$ref" in answer:
        answer = openapi()["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    return {**answer["content"]["application/json"]["schema"], "components": openapi()["components"]}


def assert_github_shape(body: Any, path: str, status: str = "200") -> None:
    errors = [e.message for e in OAS30Validator(response_schema(path, status)).iter_errors(body)]
    assert errors == []


ACTIVITY = "/repos/{owner}/{repo}/activity"


class World:
    def __init__(self, state: GitHubState, server: StandIn) -> None:
        self.state, self.server = state, server
        self.now = T0
        state.clock = lambda: self.now

    @property
    def repo(self) -> Repository:
        found = self.state.find_repo("acme", "api")
        assert found is not None
        return found

    def later(self, minutes: int = 5) -> None:
        self.now += timedelta(minutes=minutes)

    def get(self, path: str, **params: Any) -> requests.Response:
        url = path if path.startswith("http") else self.server.base_url + path
        return requests.get(url, params=params, headers={"Authorization": f"token {TOKEN}"}, timeout=10)


@pytest.fixture
def world() -> Iterator[World]:
    state = make_state(org="acme", repos=("api",), pushers=("alice", "bob", "olivia-admin", "mallory"))
    with StandIn(state) as server:
        w = World(state, server)
        init_branch(state, w.repo)
        yield w


def test_a_push_shows_who_pushed_not_who_the_commit_claims_in_githubs_shape(world: World) -> None:
    # Given mallory pushes a commit whose author and committer claim to be the release bot
    world.later()
    (sha,) = push(world.state, world.repo, author="release", committer="release", pusher="mallory")
    # When the activity of main is read
    answer = world.get("/repos/acme/api/activity", ref="main")
    # Then the newest entry is mallory's push, in GitHub's published shape
    assert answer.status_code == 200
    assert_github_shape(answer.json(), ACTIVITY)
    newest = answer.json()[0]
    assert (newest["activity_type"], newest["after"], newest["ref"]) == ("push", sha, "refs/heads/main")
    assert newest["actor"]["login"] == "mallory"
    assert world.repo.commits[sha].committer is not None and world.repo.commits[sha].committer.login == "release"
    assert newest["timestamp"] == "2026-11-20T09:05:00Z"


def test_every_kind_of_branch_move_validates_including_a_deleted_actor(world: World) -> None:
    base = world.repo.branches["main"]
    world.later()
    push(world.state, world.repo)
    world.later()
    merge_pr(world.state, world.repo, style="merge")
    world.later()
    force_push(world.state, world.repo, onto=base, n=1)
    world.later()
    init_branch(world.state, world.repo, "release")
    world.later()
    delete_branch(world.state, world.repo, "release")
    world.repo.activity[-1].actor = None  # a deleted account: GitHub answers a null actor
    body = world.get("/repos/acme/api/activity", per_page=100).json()
    assert_github_shape(body, ACTIVITY)
    kinds = [entry["activity_type"] for entry in body]
    assert kinds == ["branch_deletion", "branch_creation", "force_push", "pr_merge", "push", "branch_creation"]
    deletion = body[0]
    assert deletion["after"] == "0" * 40 and deletion["actor"] is None
    assert body[-1]["before"] == "0" * 40


def test_the_filters_answer_as_githubs_do(world: World) -> None:
    world.later()
    push(world.state, world.repo, pusher="alice")
    world.later()
    merge_pr(world.state, world.repo, merged_by="bob")
    world.now = T0 + timedelta(days=10)
    push(world.state, world.repo, pusher="alice")
    get = world.get
    assert [e["actor"]["login"] for e in get("/repos/acme/api/activity", actor="alice").json()] == ["alice", "alice"]
    assert [e["activity_type"] for e in get("/repos/acme/api/activity", activity_type="pr_merge").json()] == [
        "pr_merge"
    ]
    assert len(get("/repos/acme/api/activity", time_period="week").json()) == 1
    assert (
        get("/repos/acme/api/activity", ref="refs/heads/main").json()
        == get("/repos/acme/api/activity", ref="main").json()
    )
    assert get("/repos/acme/api/activity", ref="other").json() == []
    oldest_first = get("/repos/acme/api/activity", direction="asc").json()
    assert oldest_first[0]["activity_type"] == "branch_creation"
    invalid = get("/repos/acme/api/activity", activity_type="push,force_push")
    assert invalid.status_code == 422  # one type per request, as GitHub's enum allows
    assert_github_shape(invalid.json(), ACTIVITY, "422")


def test_pages_go_by_the_cursor_in_the_link_header_never_by_page_number(world: World) -> None:
    for _ in range(6):
        world.later()
        push(world.state, world.repo)
    seen: list[int] = []
    url: str | None = world.server.base_url + "/repos/acme/api/activity?per_page=2"
    pages = 0
    while url is not None:
        answer = world.get(url)
        pages += 1
        seen.extend(entry["id"] for entry in answer.json())
        link = answer.headers.get("Link", "")
        assert "page=" not in link.replace("per_page=", "")
        found = re.search(r'<([^>]+)>;\s*rel="next"', link)
        url = found.group(1) if found else None
        if pages > 1:
            assert 'rel="prev"' in link and "before=" in link
    assert pages == 4 and len(seen) == 7 and seen == sorted(seen, reverse=True)


def test_the_commits_of_a_push_undone_by_a_force_push_stay_readable_by_sha(world: World) -> None:
    base = world.repo.branches["main"]
    world.later()
    (undone,) = push(world.state, world.repo, pusher="mallory")
    world.later()
    force_push(world.state, world.repo, onto=base, n=0, pusher="mallory")
    entries = world.get("/repos/acme/api/activity").json()
    assert [(e["activity_type"], e["before"], e["after"]) for e in entries[:2]] == [
        ("force_push", undone, base),
        ("push", base, undone),
    ]
    compared = world.get(f"/repos/acme/api/compare/{base}...{undone}", per_page=100, page=1)
    assert compared.status_code == 200
    assert_github_shape(compared.json(), "/repos/{owner}/{repo}/compare/{basehead}")
    assert [c["sha"] for c in compared.json()["commits"]] == [undone]
    query = 'query($h: GitObjectID!) { repository(owner: "acme", name: "api") { object(oid: $h) { oid } } }'
    answer = requests.post(
        world.server.graphql_url,
        json={"query": query, "variables": {"h": undone}},
        headers={"Authorization": f"bearer {TOKEN}"},
        timeout=10,
    ).json()
    assert answer["data"]["repository"]["object"]["oid"] == undone


def test_compare_pages_its_commits_with_per_page_and_page(world: World) -> None:
    base = world.repo.branches["main"]
    world.later()
    pushed = push(world.state, world.repo, n=5)
    first = world.get(f"/repos/acme/api/compare/{base}...{pushed[-1]}", per_page=2, page=1)
    third = world.get(f"/repos/acme/api/compare/{base}...{pushed[-1]}", per_page=2, page=3)
    assert first.json()["ahead_by"] == 5 and 'rel="next"' in first.headers["Link"]
    assert [c["sha"] for c in first.json()["commits"] + third.json()["commits"]] == [*pushed[:2], pushed[4]]


def test_an_older_enterprise_server_without_activity_answers_404(world: World) -> None:
    world.state.activity_served = False
    answer = world.get("/repos/acme/api/activity")
    assert answer.status_code == 404 and answer.json()["message"] == "Not Found"
