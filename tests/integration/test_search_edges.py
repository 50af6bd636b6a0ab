"""Edges of the merged-PR search that a mutation pass found unpinned, over real HTTP to the GitHub stand-in:

- GitHub rejects a search query over 256 characters (the stand-in too: 256 passes, 257 fails), and the client
  packs ``org:`` qualifiers so that every query it may send, continuation included, stays within 256;
- a window whose ``since`` has a fraction of a second: GitHub's range is whole seconds, the filter keeps
  exactly [since, until), for PRs read in the search page and for PRs completed by follow-ups;
- an organisation that GraphQL answers as ``null`` fails the access check, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import requests

from pr_auditor.core.errors import UnknownOrgError
from pr_auditor.core.model import Window
from pr_auditor.github import Connection, open_source
from pr_auditor.github.search import qualifier_groups, search_query

from standin.generate import add_pr, make_state, review
from standin.model import GitHubState, Repository
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "test-token"
LIMIT = 256  # GitHub's, written out: a mutated constant in the code must not move the test with it
SECOND = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, StandIn]]:
    state = make_state(org="acme", repos=("api", "r" * 41, "r" * 42), pushers=("alice", "bob", "carol"))
    with StandIn(state) as server:
        yield state, server


def query_of_length(length: int) -> str:
    """A valid query of exactly ``length`` characters (between 235 and 300): qualifiers only, ending in a
    repository whose name is as long as needed (the fixture has ``rrr…`` repositories of 41 and 42)."""
    head = "is:pr is:merged org:acme" + " is:pr" * 30 + " repo:acme/"
    return head + "r" * (length - len(head))


def graphql_search(server: StandIn, query: str) -> dict[str, Any]:
    body = {"query": "query($q: String!) { search(query: $q, type: ISSUE, first: 1) { issueCount } }"}
    response = requests.post(
        server.graphql_url,
        json={**body, "variables": {"q": query}},
        headers={"Authorization": f"bearer {TOKEN}"},
        timeout=10,
    )
    return dict(response.json())


def rest_search(server: StandIn, query: str) -> requests.Response:
    return requests.get(
        server.base_url + "/search/issues",
        params={"q": query},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=10,
    )


@pytest.mark.parametrize(("length", "accepted"), [(LIMIT, True), (LIMIT + 1, False)], ids=["256", "257"])
def test_the_stand_in_rejects_a_search_query_over_256_characters_as_github_does(
    github: tuple[GitHubState, StandIn], length: int, accepted: bool
) -> None:
    _, server = github
    query = query_of_length(length)
    assert len(query) == length
    answer = graphql_search(server, query)
    rest = rest_search(server, query)
    if accepted:
        assert answer == {"data": {"search": {"issueCount": 0}}}
        assert rest.status_code == 200
    else:
        assert answer["data"] is None
        assert [e["message"] for e in answer["errors"]] == ["The search is longer than 256 characters."]
        assert rest.status_code == 422
        assert rest.json()["errors"] == [
            {
                "message": "The search is longer than 256 characters.",
                "resource": "Search",
                "field": "q",
                "code": "invalid",
            }
        ]


def packing_case(window: Window, total: int) -> tuple[str, ...]:
    """Organisation qualifiers whose first group fills a continuation query to exactly ``total`` characters."""
    empty = len(search_query((), window, "2026-01-01T00:00:00Z"))  # with both spaces around the empty scope
    room = total - empty  # the qualifiers and the single spaces between them
    names = [f"org:o{i:02d}-xxxxxxxx" for i in range(6)]  # 16 characters each, 17 with its space
    filler = room - sum(len(n) + 1 for n in names)
    return (*names, "org:" + "z" * (filler - len("org:")), "org:next", "org:last")


@pytest.mark.parametrize("fill", [LIMIT, LIMIT + 1], ids=["exactly-256-fits", "257-does-not"])
def test_every_query_the_client_may_send_stays_within_256_characters_and_groups_are_full(fill: int) -> None:
    # Given organisations whose first group makes a continuation query of exactly `fill` characters
    window = Window(SECOND, SECOND + timedelta(hours=1))
    qualifiers = packing_case(window, fill)
    # When the client groups them
    groups = qualifier_groups(qualifiers, window)
    # Then every query, with the longest continuation, is within GitHub's 256 characters
    longest = [len(search_query(group, window, "2026-01-01T00:00:00Z")) for group in groups]
    assert max(longest) <= LIMIT
    assert [q for group in groups for q in group] == list(qualifiers)
    # And no group could have taken the next qualifier (no more queries than needed)
    for group, following in pairwise(groups):
        assert len(search_query((*group, following[0]), window, "2026-01-01T00:00:00Z")) > LIMIT
    filler = qualifiers[6]
    assert groups[0] == (qualifiers[:7] if fill == LIMIT else qualifiers[:6])
    assert longest[0] == (LIMIT if fill == LIMIT else fill - len(filler) - 1)


def source(server: StandIn) -> Any:
    connection = Connection(api_url=server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01)
    return open_source(TOKEN, connection)


def test_a_fractional_since_keeps_exactly_the_window_in_the_page_and_in_the_follow_ups(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    # Given a window from half a second past 12:00:00 to half a second past 13:00:00
    window = Window(SECOND + timedelta(milliseconds=500), SECOND + timedelta(hours=1, milliseconds=500))
    # And PRs merged at 12:00:00 (before it) and 12:00:01, 13:00:00 (in it); one of each with 101 reviews,
    # so that it is completed by a follow-up, not read from the search page
    many = [review("carol", "COMMENTED", at=SECOND - timedelta(hours=2, minutes=i)) for i in range(100)]
    for moment in (SECOND, SECOND + timedelta(seconds=1), SECOND + timedelta(hours=1)):
        add_pr(state, "api", reviews=[review("bob")], merged_at=moment, title=f"short {moment:%H:%M:%S}")
        add_pr(state, "api", reviews=[*many, review("bob")], merged_at=moment, title=f"long {moment:%H:%M:%S}")
    # When the window is read (GitHub's range is whole seconds: merged:12:00:00..13:00:00)
    got = sorted((pr.title, len(pr.reviews)) for pr in source(server).merged_pull_requests(("acme",), window))
    # Then the PRs merged before `since` are left out, wherever they were completed
    assert got == [
        ("long 12:00:01", 101),
        ("long 13:00:00", 101),
        ("short 12:00:01", 1),
        ("short 13:00:00", 1),
    ]


def test_an_organisation_graphql_answers_as_null_fails_the_access_check_naming_it(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    # Given a second organisation that GitHub's GraphQL answers as null, with no error entry
    state.add_org("beta")
    state.add_repo(Repository("beta", "svc", pushers={"alice"}))
    state.null_orgs.add("beta")
    # When the access check runs for both
    with pytest.raises(UnknownOrgError, match=r"not visible to this token: beta$"):
        source(server).verify_access(("acme", "beta"))
    # And the organisation GitHub answers is fine on its own
    assert source(server).verify_access(("acme",)) == "auditor"
