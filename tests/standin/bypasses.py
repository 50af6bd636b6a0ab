"""GitHub's own records of bypasses, as the stand-in serves them: rule suites and the organisation audit log.

Endpoints (REST, GitHub's shapes; bodies checked against the OpenAPI description in
``standin_tests/test_standin_bypasses.py``):

* ``GET /orgs/{org}/rulesets/rule-suites`` and ``GET /repos/{o}/{r}/rulesets/rule-suites`` — filters
  ``rule_suite_result``, ``time_period`` (``hour``/``day``/``week``/``month``, default ``day``), ``ref``,
  ``actor_name``, ``repository_name`` (org only); ``page``/``per_page`` paging with a ``Link`` header. Nothing
  older than a month is ever listed or served (GitHub's look-back); ``…/rule-suites/{id}`` adds
  ``rule_evaluations``. ``BypassLog.org_rule_suites = False`` makes the organisation endpoints answer 404
  (a user account, an older server), so the auditor has to read each repository.
* ``GET /orgs/{org}/audit-log`` — GitHub Enterprise Cloud only: ``BypassLog.audit_log`` is ``"enabled"``,
  ``"403"`` or ``"404"`` (the default: not an Enterprise Cloud organisation). ``phrase`` understands
  ``action:NAME`` (a category or an exact action) and ``created:>=ISO``; ``order`` ``asc``/``desc``
  (default ``desc``); cursor paging (``after``) through the ``Link`` header, 100 a page at most.
* ``GET /repos/{o}/{r}/commits/{sha}/pulls`` — the merged PR whose merge commit is ``sha``.
* ``GET /users/{owner}/repos`` — the account's repositories (the per-repository fallback lists them).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from .model import GitHubState, PullRequest, Repository
    from .rest_api import Builder, Response

#: GitHub's ``time_period`` spans; ``month`` is also how far back GitHub keeps rule suites at all.
PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


@dataclass
class RuleSuiteEntry:
    id: int
    repo: Repository
    actor: str | None
    actor_id: int | None
    ref: str
    before_sha: str
    after_sha: str
    pushed_at: datetime
    result: str
    evaluations: list[dict[str, Any]]


@dataclass
class BypassLog:
    """What GitHub recorded of bypasses and overrides in the stand-in organisation(s)."""

    suites: list[RuleSuiteEntry] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # audit-log events, GitHub's JSON
    audit_log: str = "404"  # "enabled" | "403" | "404"
    org_rule_suites: bool = True


# --------------------------------------------------------------------------- building the world


def ruleset_bypass(
    state: GitHubState,
    repo: Repository,
    *,
    actor: str,
    before: str,
    after: str,
    at: datetime,
    branch: str | None = None,
    ruleset: str = "main is protected",
    rule_types: tuple[str, ...] = ("pull_request",),
) -> RuleSuiteEntry:
    """A push by someone on a ruleset's bypass list that failed ``rule_types`` and went through anyway."""
    from .model import stable_id

    ruleset_id = stable_id("ruleset", repo.full_name, ruleset) % 10_000
    evaluations = [
        {
            "rule_source": {"type": "ruleset", "id": ruleset_id, "name": ruleset},
            "enforcement": "active",
            "result": "fail",
            "rule_type": rule_type,
            "details": "Changes must be made through a pull request." if rule_type == "pull_request" else None,
        }
        for rule_type in rule_types
    ]
    evaluations.append(
        {
            "rule_source": {"type": "ruleset", "id": ruleset_id, "name": ruleset},
            "enforcement": "active",
            "result": "pass",
            "rule_type": "non_fast_forward",
        }
    )
    log = state.bypasses
    entry = RuleSuiteEntry(
        id=1000 + len(log.suites) + 1,
        repo=repo,
        actor=actor,
        actor_id=stable_id("user", actor) % 1_000_000,
        ref=f"refs/heads/{branch or repo.default_branch}",
        before_sha=before,
        after_sha=after,
        pushed_at=at.replace(microsecond=0),
        result="bypass",
        evaluations=evaluations,
    )
    log.suites.append(entry)
    return entry


def _event(state: GitHubState, action: str, actor: str, at: datetime, **fields: Any) -> dict[str, Any]:
    from .model import stable_id

    millis = int(at.timestamp() * 1000)
    seq = len(state.bypasses.events) + 1
    doc = base64.urlsafe_b64encode(f"{action}:{seq}:{millis}".encode()).decode().rstrip("=")[:22]
    event = {
        "@timestamp": millis,
        "action": action,
        "actor": actor,
        "actor_id": stable_id("user", actor) % 1_000_000,
        "actor_location": {"country_code": "GB"},
        "created_at": millis,
        "_document_id": doc,
        "operation_type": "modify",
        **fields,
    }
    state.bypasses.events.append(event)
    return event


def admin_merge(state: GitHubState, pr: PullRequest, *, actor: str, at: datetime) -> dict[str, Any]:
    """An administrator merged ``pr`` past branch protection: the ``protected_branch.policy_override`` event
    GitHub writes (``from: pull_requests#merge``, ``after`` the merge commit)."""
    repo = pr.repo
    return _event(
        state,
        "protected_branch.policy_override",
        actor,
        at,
        org=repo.owner,
        org_id=1,
        repo=repo.full_name,
        repo_id=repo.id,
        branch=f"refs/heads/{pr.base_ref}",
        before=f"{pr.number:040x}",
        after=pr.merge_commit_oid,
        **{"from": "pull_requests#merge"},
        overridden_codes=["review_policy_not_satisfied"],
        reasons=[
            {
                "code": "review_policy_not_satisfied",
                "message": "At least 2 approving reviews are required by reviewers with write access.",
            }
        ],
    )


def protection_change(
    state: GitHubState, repo: Repository, *, action: str, actor: str, at: datetime, branch: str | None = None
) -> dict[str, Any]:
    """A ``protected_branch.*`` or ``repository_ruleset.*`` event on ``repo``."""
    fields: dict[str, Any] = {"org": repo.owner, "repo": repo.full_name, "repo_id": repo.id}
    if action.startswith("protected_branch."):
        fields["name"] = branch or repo.default_branch
    else:
        fields.update(ruleset_name="main is protected", ruleset_enforcement="active", ruleset_source_type="Repository")
    return _event(state, action, actor, at, **fields)


def repositories_removed(state: GitHubState, org: str, names: list[str], *, actor: str, at: datetime) -> dict[str, Any]:
    """Repositories taken out of a GitHub App installation's selection."""
    return _event(
        state,
        "integration_installation.repositories_removed",
        actor,
        at,
        org=org,
        integration="pr-auditor",
        repository_selection="selected",
        repositories_removed_names=[f"{org}/{name}" for name in names],
    )


# --------------------------------------------------------------------------- serving it


def handle(state: GitHubState, b: Builder, parts: list[str], params: dict[str, list[str]], url: str) -> Response | None:
    """The endpoints above, or None for any other path (the caller goes on with its own routes)."""
    from .rest_api import Response, not_found

    log = state.bypasses
    now = state.clock()
    if len(parts) >= 4 and parts[0] == "orgs" and parts[2:4] == ["rulesets", "rule-suites"]:
        if state.org_repos(parts[1]) is None or not log.org_rule_suites:
            return not_found()
        found = [s for s in log.suites if s.repo.owner.lower() == parts[1].lower()]
        return _suites(b, found, parts[4:], params, url, now, org_level=True)
    if len(parts) >= 5 and parts[0] == "repos" and parts[3:5] == ["rulesets", "rule-suites"]:
        repo = state.find_repo(parts[1], parts[2])
        if repo is None:
            return not_found()
        return _suites(b, [s for s in log.suites if s.repo is repo], parts[5:], params, url, now, org_level=False)
    if len(parts) == 3 and parts[0] == "orgs" and parts[2] == "audit-log":
        if state.org_repos(parts[1]) is None or log.audit_log == "404":
            return not_found()
        if log.audit_log == "403":
            return Response(403, {"message": "Resource not accessible by personal access token",
                                  "documentation_url": "https://docs.github.com/enterprise-cloud@latest/rest/orgs/orgs#get-the-audit-log-for-an-organization",
                                  "status": "403"})  # fmt: skip
        return _audit_log(log, parts[1], params, url)
    if len(parts) == 6 and parts[0] == "repos" and parts[3] == "commits" and parts[5] == "pulls":
        repo = state.find_repo(parts[1], parts[2])
        if repo is None:
            return not_found()
        pulls = [p for p in state.prs if p.repo is repo and p.merge_commit_oid == parts[4]]
        return Response(200, [b.pull(p) for p in pulls])
    if len(parts) == 3 and parts[0] == "users" and parts[2] == "repos":
        repos = state.org_repos(parts[1])
        if repos is None:
            return not_found()
        from .rest_api import _page

        chunk, headers, _, _ = _page(list(repos), params, url)
        return Response(200, [b.repository(r) for r in chunk], headers)
    return None


def _suites(
    b: Builder,
    suites: list[RuleSuiteEntry],
    rest: list[str],
    params: dict[str, list[str]],
    url: str,
    now: datetime,
    *,
    org_level: bool,
) -> Response:
    from .rest_api import Response, _page, not_found

    kept = [s for s in suites if s.pushed_at >= now - PERIODS["month"]]  # GitHub's look-back
    if rest:
        suite = next((s for s in kept if rest[0].isdigit() and s.id == int(rest[0])), None)
        if suite is None or len(rest) != 1:
            return not_found()
        return Response(200, {**_suite(suite), "rule_evaluations": suite.evaluations})
    first = lambda name: params.get(name, [None])[0]  # noqa: E731
    period = first("time_period") or "day"
    if period not in PERIODS:
        return _invalid("time_period", period)
    result = first("rule_suite_result") or "all"
    if result not in ("pass", "fail", "bypass", "all"):
        return _invalid("rule_suite_result", result)
    found = [s for s in kept if s.pushed_at >= now - PERIODS[period] and result in ("all", s.result)]
    if ref := first("ref"):
        found = [s for s in found if s.ref in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}")]
    if actor := first("actor_name"):
        found = [s for s in found if s.actor == actor]
    if org_level and (name := first("repository_name")):
        found = [s for s in found if s.repo.name.lower() == name.lower()]
    found.sort(key=lambda s: (s.pushed_at, s.id), reverse=True)  # newest first
    chunk, headers, _, _ = _page(found, params, url)
    return Response(200, [_suite(s) for s in chunk], headers)


def _suite(s: RuleSuiteEntry) -> dict[str, Any]:
    return {
        "id": s.id,
        "actor_id": s.actor_id,
        "actor_name": s.actor,
        "before_sha": s.before_sha,
        "after_sha": s.after_sha,
        "ref": s.ref,
        "repository_id": s.repo.id,
        "repository_name": s.repo.name,
        "pushed_at": s.pushed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "result": s.result,
        "evaluation_result": s.result if s.result != "bypass" else "fail",
    }


def _invalid(name: str, value: str) -> Response:
    from .rest_api import Response

    return Response(422, {"message": f"Invalid value for {name}: {value}", "documentation_url": "https://docs.github.com/rest",
                          "status": "422"})  # fmt: skip


def _audit_log(log: BypassLog, org: str, params: dict[str, list[str]], url: str) -> Response:
    from .rest_api import Response

    first = lambda name: params.get(name, [None])[0]  # noqa: E731
    events = [e for e in log.events if str(e.get("org", "")).lower() == org.lower()]
    for term in (first("phrase") or "").split():
        key, _, value = term.partition(":")
        if key == "action":
            events = [e for e in events if e["action"] == value or e["action"].startswith(value + ".")]
        elif key == "created" and value.startswith(">="):
            since = datetime.fromisoformat(value[2:].replace("Z", "+00:00"))
            events = [e for e in events if e["@timestamp"] >= since.timestamp() * 1000]
    ascending = first("order") == "asc"
    events.sort(key=lambda e: (e["@timestamp"], e["_document_id"]), reverse=not ascending)
    per_page = max(1, min(100, int(first("per_page") or 30)))
    start = 0
    if after := first("after"):
        start = int(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode())
    chunk = events[start : start + per_page]
    headers: dict[str, str] = {}
    if start + per_page < len(events):
        cursor = base64.urlsafe_b64encode(str(start + per_page).encode()).decode().rstrip("=")
        flat = {k: v[0] for k, v in params.items() if k not in ("after", "before")}
        flat["after"] = cursor
        headers["Link"] = f'<{url}?{urlencode(flat, quote_via=quote)}>; rel="next"'
    return Response(200, chunk, headers)
