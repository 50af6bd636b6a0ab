"""The stand-in's rule suites and organisation audit log, over real HTTP, checked against GitHub's OpenAPI
description (``@octokit/openapi``: api.github.com for rule suites, ghec for the audit log). Rule-suite bodies
are checked strictly: a key the description does not declare fails the test, so the stand-in cannot invent
fields the auditor would then rely on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from standin import StandIn, make_state
from standin.bypasses import admin_merge, protection_change, repositories_removed, ruleset_bypass
from standin.git import init_branch, merge_pr, push
from standin.model import GitHubState

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TOKEN = "test-token"
GENERATED = Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "openapi" / "generated"


@cache
def _spec(name: str) -> dict[str, Any]:
    with (GENERATED / f"{name}.json").open(encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec


def _json_schema(node: Any, spec: dict[str, Any], *, strict: bool) -> Any:
    """OpenAPI 3.0 schema → JSON Schema: ``$ref`` resolved, ``nullable`` as a null type, and (``strict``)
    objects closed to undeclared keys."""
    if isinstance(node, list):
        return [_json_schema(item, spec, strict=strict) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _json_schema(target, spec, strict=strict)
    out = {
        key: _json_schema(value, spec, strict=strict)
        for key, value in node.items()
        if key not in ("nullable", "example")
    }
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    elif strict and out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def check(spec_name: str, path: str, body: Any, *, strict: bool) -> None:
    """Validate ``body`` against the 200 response of ``GET path`` in GitHub's description."""
    spec = _spec(spec_name)
    schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, _json_schema(schema, spec, strict=strict))


@pytest.fixture
def world() -> Iterator[tuple[GitHubState, StandIn]]:
    clock = [NOW - timedelta(days=45)]
    state = make_state(org="acme", repos=("api", "web"), tokens=(TOKEN,), clock=lambda: clock[0])
    repo = state.orgs["acme"][0]
    init_branch(state, repo, at=clock[0])
    for days in (40, 10, 0.5):  # a bypass 40 days ago (past the look-back), 10 days ago, and 12 hours ago
        clock[0] = NOW - timedelta(days=days)
        before = repo.branches["main"]
        (after,) = push(state, repo, author="olivia-admin")
        ruleset_bypass(state, repo, actor="olivia-admin", before=before, after=after, at=clock[0])
    clock[0] = NOW
    with StandIn(state) as server:
        yield state, server


def get(server: StandIn, path: str, **params: Any) -> requests.Response:
    return requests.get(server.base_url + path, params=params, headers={"Authorization": f"token {TOKEN}"}, timeout=10)


def test_the_organisation_lists_bypasses_within_the_period_and_never_past_a_month(world: Any) -> None:
    # Given bypasses 40 days, 10 days and 12 hours old
    _, server = world
    # When the organisation's rule suites are listed per period
    day = get(server, "/orgs/acme/rulesets/rule-suites", rule_suite_result="bypass", time_period="day")
    month = get(server, "/orgs/acme/rulesets/rule-suites", rule_suite_result="bypass", time_period="month")
    # Then the bodies are GitHub's list of rule suites, the newest first, and nothing older than a month is there
    for answer in (day, month):
        assert answer.status_code == 200
        check("api.github.com", "/orgs/{org}/rulesets/rule-suites", answer.json(), strict=True)
    assert len(day.json()) == 1
    assert [s["result"] for s in month.json()] == ["bypass", "bypass"]
    assert month.json()[0]["pushed_at"] > month.json()[1]["pushed_at"]
    assert {s["repository_name"] for s in month.json()} == {"api"}  # the name without its owner, as GitHub writes it


def test_a_suite_by_id_carries_its_rule_evaluations_and_an_expired_one_is_gone(world: Any) -> None:
    state, server = world
    fresh, expired = state.bypasses.suites[-1], state.bypasses.suites[0]
    # When a suite is read by id at the organisation and at the repository
    for path, spec_path in (
        (f"/orgs/acme/rulesets/rule-suites/{fresh.id}", "/orgs/{org}/rulesets/rule-suites/{rule_suite_id}"),
        (
            f"/repos/acme/api/rulesets/rule-suites/{fresh.id}",
            "/repos/{owner}/{repo}/rulesets/rule-suites/{rule_suite_id}",
        ),
    ):
        answer = get(server, path)
        # Then it is GitHub's rule suite, with the failed rule that was bypassed
        assert answer.status_code == 200
        check("api.github.com", spec_path, answer.json(), strict=True)
        failed = [e for e in answer.json()["rule_evaluations"] if e["result"] == "fail"]
        assert [(e["rule_type"], e["enforcement"]) for e in failed] == [("pull_request", "active")]
    # And a suite past the month's look-back is not served any more
    assert get(server, f"/orgs/acme/rulesets/rule-suites/{expired.id}").status_code == 404


def test_without_the_organisation_endpoint_each_repository_answers(world: Any) -> None:
    state, server = world
    state.bypasses.org_rule_suites = False
    assert get(server, "/orgs/acme/rulesets/rule-suites").status_code == 404
    answer = get(server, "/repos/acme/api/rulesets/rule-suites", rule_suite_result="bypass", time_period="week")
    check("api.github.com", "/repos/{owner}/{repo}/rulesets/rule-suites", answer.json(), strict=True)
    assert len(answer.json()) == 1
    repos = get(server, "/users/acme/repos", per_page=1)
    check("api.github.com", "/users/{username}/repos", repos.json(), strict=False)
    assert 'rel="next"' in repos.headers["Link"]


def test_the_audit_log_answers_404_or_403_unless_the_organisation_has_it(world: Any) -> None:
    state, server = world
    assert get(server, "/orgs/acme/audit-log").status_code == 404
    state.bypasses.audit_log = "403"
    assert get(server, "/orgs/acme/audit-log").status_code == 403


def test_audit_log_events_have_githubs_shape_filter_by_phrase_and_page_by_cursor(world: Any) -> None:
    # Given an Enterprise Cloud organisation with an admin merge, two protection changes and a removal
    state, server = world
    state.bypasses.audit_log = "enabled"
    repo = state.orgs["acme"][0]
    pr = merge_pr(state, repo, at=NOW - timedelta(hours=2))
    admin_merge(state, pr, actor="olivia-admin", at=NOW - timedelta(hours=2))
    protection_change(state, repo, action="protected_branch.update", actor="olivia-admin", at=NOW - timedelta(hours=1))
    protection_change(
        state, repo, action="repository_ruleset.update", actor="olivia-admin", at=NOW - timedelta(minutes=30)
    )
    repositories_removed(state, "acme", ["web"], actor="olivia-admin", at=NOW - timedelta(minutes=10))
    # When the log is read by category, one event a page, oldest first
    since = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = get(
        server, "/orgs/acme/audit-log", phrase=f"action:protected_branch created:>={since}", order="asc", per_page=1
    )
    # Then each page is GitHub's audit-log shape, and the Link header's cursor leads to the next event
    check("ghec", "/orgs/{org}/audit-log", first.json(), strict=False)
    assert [e["action"] for e in first.json()] == ["protected_branch.policy_override"]
    override = first.json()[0]
    assert (override["from"], override["after"], override["repo"]) == (
        "pull_requests#merge",
        pr.merge_commit_oid,
        "acme/api",
    )
    following = requests.get(first.links["next"]["url"], headers={"Authorization": f"token {TOKEN}"}, timeout=10)
    check("ghec", "/orgs/{org}/audit-log", following.json(), strict=False)
    assert [e["action"] for e in following.json()] == ["protected_branch.update"]
    assert "next" not in following.links
    # And the merge commit leads back to its PR
    pulls = get(server, f"/repos/acme/api/commits/{pr.merge_commit_oid}/pulls")
    check("api.github.com", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls", pulls.json(), strict=False)
    assert [p["number"] for p in pulls.json()] == [pr.number]
    # And an event before ``created:>=`` is not listed
    late = (NOW - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [e["action"] for e in get(server, "/orgs/acme/audit-log", phrase=f"created:>={late}").json()] == [
        "integration_installation.repositories_removed"
    ]
