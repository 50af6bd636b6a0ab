"""The rule-suite and audit-log readers over real HTTP against the GitHub stand-in: what they decode, and
what they cost in requests (the bound in docs/bypasses.md: one listing per organisation plus one read per
bypass; per repository only where the organisation endpoint does not answer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pr_auditor.audit.ports import NotReadable
from pr_auditor.github.audit_log import AuditLogReader
from pr_auditor.github.rule_suites import RuleSuiteReader
from pr_auditor.github.transport import Connection, Transport

from standin import StandIn, make_state
from standin.bypasses import protection_change, ruleset_bypass
from standin.model import GitHubState

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
TOKEN = "test-token"
REPOS = 100


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[GitHubState, StandIn]]:
    state = make_state(org="acme", repos=tuple(f"r{i:03}" for i in range(REPOS)), tokens=(TOKEN,), clock=lambda: NOW)
    repos = state.orgs["acme"]
    for i, hours in enumerate((1, 5, 30)):  # three bypasses in the last day and a half, in three repositories
        ruleset_bypass(
            state, repos[i * 7], actor="olivia", before="a" * 40, after=f"{i:040x}", at=NOW - timedelta(hours=hours)
        )
    for i in range(150):  # more audit-log events than one page holds
        protection_change(state, repos[i % REPOS], action="repository_ruleset.update", actor="olivia",
                          at=NOW - timedelta(minutes=300 - i))  # fmt: skip
    with StandIn(state) as server:
        yield state, server


def transport(server: StandIn) -> Transport:
    return Transport.open(TOKEN, Connection(api_url=server.base_url, throttle_seconds=0))


def test_the_organisation_endpoint_costs_one_listing_plus_one_read_per_bypass(
    world: tuple[GitHubState, StandIn],
) -> None:
    # Given an organisation of 100 repositories with three bypasses in the last week
    _, server = world
    reader = RuleSuiteReader(transport(server))
    # When the week's bypasses are listed and each is read by id
    listed = reader.bypasses("acme", period="week")
    assert not isinstance(listed, NotReadable)
    full = [reader.evaluated("acme", s) for s in listed]
    # Then they are decoded with their repository's full name and the rule that failed, for 1 + 3 requests
    assert sorted(s.repository for s in full) == ["acme/r000", "acme/r007", "acme/r014"]
    assert {e.rule_type for s in full for e in s.evaluations if e.result == "fail"} == {"pull_request"}
    assert reader.requests == 1 + 3


def test_without_the_organisation_endpoint_every_repository_is_listed(world: tuple[GitHubState, StandIn]) -> None:
    # Given an account whose organisation endpoint answers 404 (a user account, an older server)
    state, server = world
    state.bypasses.org_rule_suites = False
    try:
        reader = RuleSuiteReader(transport(server))
        # When the day's bypasses are listed
        listed = reader.bypasses("acme", period="day")
        assert not isinstance(listed, NotReadable)
        # Then each repository was asked (1 org try + 1 page of repositories + 100 listings), once per run
        assert sorted(s.repository for s in listed) == ["acme/r000", "acme/r007"]
        assert reader.requests == 1 + 1 + REPOS
        reader.bypasses("acme", period="day")
        assert reader.requests == 2 * (1 + REPOS) + 1  # the organisation endpoint is not asked again
        # And a suite is read by id from its repository
        assert reader.evaluated("acme", listed[0]).evaluations
    finally:
        state.bypasses.org_rule_suites = True


def test_the_audit_log_pages_by_cursor_and_answers_not_readable_where_github_does_not_serve_it(
    world: tuple[GitHubState, StandIn],
) -> None:
    state, server = world
    reader = AuditLogReader(transport(server))
    # Given an organisation without the audit log: 404, then 403
    for answer in ("404", "403"):
        state.bypasses.audit_log = answer
        assert isinstance(
            reader.events("acme", since=NOW - timedelta(days=1), category="repository_ruleset"), NotReadable
        )
    # When it is enabled, 150 events are read oldest first across two pages
    state.bypasses.audit_log = "enabled"
    before = reader.requests
    events = reader.events("acme", since=NOW - timedelta(days=1), category="repository_ruleset")
    assert not isinstance(events, NotReadable)
    assert len(events) == 150 and reader.requests - before == 2
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert (events[0].action, events[0].repository, events[0].actor) == (
        "repository_ruleset.update",
        "acme/r000",
        "olivia",
    )
