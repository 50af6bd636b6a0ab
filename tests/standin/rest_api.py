"""GitHub REST (``/api/v3/...``) endpoints the auditor and PyGithub use.

Bodies start from the examples in GitHub's OpenAPI description (npm ``@octokit/openapi``,
``components/examples``, loaded lazily once), with every URL rewritten to the stand-in's origin and
the fields that matter overridden from the model, so field names and nesting are GitHub's.

Endpoints: ``GET /user``, ``GET /rate_limit`` (free, as on GitHub), ``GET /orgs/{org}``,
``GET /repos/{o}/{r}``, ``GET /repos/{o}/{r}/issues/{n}`` (PRs only: the issue side of a PR, which
PyGithub fetches for ``search_issues(...)[i].repository``), ``GET /repos/{o}/{r}/pulls/{n}``, ``GET /repos/{o}/{r}/pulls/{n}/reviews``,
``GET /search/issues``, ``GET /repos/{o}/{r}/compare/{base}...{head}``, ``GET /repos/{o}/{r}/activity``.
Anything else is ``404 Not Found``.

Stand-in choices: a deleted review author or PR author is shown as the ``ghost`` user (GitHub
shows ``ghost`` for deleted PR authors; for reviews it sometimes shows ``null``);
``author_association`` is ``MEMBER`` for pushers, ``CONTRIBUTOR`` for other humans, ``NONE`` for
bots and ghosts.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from . import bypasses
from .model import Fault, GitHubState, PullRequest, Repository, Review, User, stable_id
from .search import NOT_SEARCHABLE, SEARCH_CAP, SearchError, run_search

OPENAPI_PATH = (
    Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
)
DOCS = "https://docs.github.com/rest"
SEARCH_DOCS = "https://docs.github.com/v3/search/"

_examples: dict[str, Any] | None = None
_examples_lock = threading.Lock()


def example(name: str) -> Any:
    """A deep copy of ``components.examples[name].value`` from GitHub's OpenAPI description."""
    global _examples
    with _examples_lock:
        if _examples is None:
            with OPENAPI_PATH.open(encoding="utf-8") as fh:
                _examples = json.load(fh)["components"]["examples"]
    return copy.deepcopy(_examples[name]["value"])


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rewrite(value: Any, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in pairs:
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _rewrite(v, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, pairs) for v in value]
    return value


class Builder:
    """Builds REST bodies for one request (knows the origin)."""

    def __init__(self, state: GitHubState, origin: str) -> None:
        self.state = state
        self.origin = origin
        self.api = origin + "/api/v3"

    # ------------------------------------------------------------------ generic host rewrite
    def _hosts(self) -> list[tuple[str, str]]:
        return [
            ("https://api/github.com", self.api),
            ("https://api.github.com", self.api),
            ("https://uploads.github.com", self.origin + "/api/uploads"),
            ("https://github.com", self.origin),
        ]

    # ------------------------------------------------------------------ users / orgs
    def user(self, u: User | None) -> dict[str, Any]:
        if u is None:
            login, uid, typ, html = "ghost", 10137, "User", f"{self.origin}/ghost"
        else:
            login, uid, typ = u.rest_login, u.id, u.type
            html = f"{self.origin}/apps/{u.login}" if u.type == "Bot" else f"{self.origin}/{u.login}"
        body: dict[str, Any] = _rewrite(
            example("simple-user"), [("/users/octocat", f"/users/{quote(login)}"), *self._hosts()]
        )
        body.update(
            login=login,
            id=uid,
            node_id=f"U_{uid}",
            avatar_url=f"{self.origin}/avatars/u/{uid}",
            html_url=html,
            type=typ,
            site_admin=False,
        )
        return body

    def org_user(self, login: str) -> dict[str, Any]:
        body = self.user(User(login))
        oid = stable_id("org", login)
        body.update(id=oid, node_id=f"O_{oid}", type="Organization", html_url=f"{self.origin}/{login}")
        return body

    def organization(self, login: str) -> dict[str, Any]:
        repos = self.state.org_repos(login) or []
        body: dict[str, Any] = _rewrite(
            example("organization-full"), [("/orgs/github", f"/orgs/{login}"), *self._hosts()]
        )
        oid = stable_id("org", login)
        body.update(
            login=login,
            id=oid,
            node_id=f"O_{oid}",
            name=login,
            html_url=f"{self.origin}/{login}",
            avatar_url=f"{self.origin}/avatars/o/{oid}",
            public_repos=sum(1 for r in repos if not r.private),
            total_private_repos=sum(1 for r in repos if r.private),
            owned_private_repos=sum(1 for r in repos if r.private),
        )
        return body

    def viewer(self) -> dict[str, Any]:
        u = self.state.users.get(self.state.viewer) or User(self.state.viewer)
        body: dict[str, Any] = _rewrite(
            example("private-user"), [("/users/octocat", f"/users/{u.login}"), *self._hosts()]
        )
        body.update(self.user(u))
        body.update(name=u.login, email=None, company=None)
        return body

    # ------------------------------------------------------------------ repositories
    def repository(self, repo: Repository) -> dict[str, Any]:
        pairs = [
            ("/repos/octocat/Hello-World", f"/repos/{repo.full_name}"),
            ("github.com/octocat/Hello-World", f"github.com/{repo.full_name}"),
            ("github.com:octocat/Hello-World", f"github.com:{repo.full_name}"),
            *self._hosts(),
        ]
        body: dict[str, Any] = _rewrite(example("full-repository"), pairs)
        for k in ("parent", "source", "template_repository"):
            body.pop(k, None)
        viewer_can_push = self.state.viewer in repo.pushers
        body.update(
            id=repo.id,
            node_id=f"R_{repo.id}",
            name=repo.name,
            full_name=repo.full_name,
            owner=self.org_user(repo.owner),
            organization=self.org_user(repo.owner),
            private=repo.private,
            visibility="private" if repo.private else "public",
            html_url=f"{self.origin}/{repo.full_name}",
            description=None,
            fork=False,
            homepage=None,
            license=None,
            default_branch=repo.default_branch,
            archived=repo.archived,
            disabled=False,
            topics=[],
            permissions={
                "admin": False,
                "maintain": False,
                "push": viewer_can_push,
                "triage": viewer_can_push,
                "pull": True,
            },
            mirror_url=None,
        )
        return body

    # ------------------------------------------------------------------ pull requests
    def _pr_pairs(self, pr: PullRequest) -> list[tuple[str, str]]:
        o_r = pr.repo.full_name
        n = str(pr.number)
        return [
            ("/repos/octocat/Hello-World/pulls/1347", f"/repos/{o_r}/pulls/{n}"),
            ("/repos/octocat/Hello-World/issues/1347", f"/repos/{o_r}/issues/{n}"),
            ("/octocat/Hello-World/pull/1347", f"/{o_r}/pull/{n}"),
            (
                "/repos/octocat/Hello-World/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e",
                f"/repos/{o_r}/statuses/{pr.head_oid}",
            ),
            ("/repos/octocat/Hello-World", f"/repos/{o_r}"),
            *self._hosts(),
        ]

    def _labels(self, pr: PullRequest) -> list[dict[str, Any]]:
        return [
            {
                "id": stable_id("label", pr.repo.full_name, name),
                "node_id": f"LA_{stable_id('label', pr.repo.full_name, name)}",
                "url": f"{self.api}/repos/{pr.repo.full_name}/labels/{quote(name)}",
                "name": name,
                "description": None,
                "color": "ededed",
                "default": False,
            }
            for name in pr.labels
        ]

    @staticmethod
    def _rest_state(pr: PullRequest) -> str:
        return "open" if pr.state == "OPEN" else "closed"

    @staticmethod
    def _association(pr: PullRequest, u: User | None) -> str:
        if u is None or u.type == "Bot":
            return "NONE"
        return "MEMBER" if pr.repo.can_push(u) else "CONTRIBUTOR"

    def pull(self, pr: PullRequest) -> dict[str, Any]:
        body: dict[str, Any] = _rewrite(example("pull-request"), self._pr_pairs(pr))
        repo_json = self.repository(pr.repo)
        org = self.org_user(pr.repo.owner)
        closed = iso(pr.closed_at or pr.merged_at) if pr.state != "OPEN" else None
        body.update(
            id=pr.id,
            node_id=f"PR_{pr.id}",
            number=pr.number,
            state=self._rest_state(pr),
            locked=False,
            title=pr.title,
            user=self.user(pr.author),
            body=pr.body,
            labels=self._labels(pr),
            milestone=None,
            active_lock_reason=None,
            created_at=iso(pr.created_at),
            updated_at=iso(pr.updated_at()),
            closed_at=closed,
            merged_at=iso(pr.merged_at),
            merge_commit_sha=pr.merge_commit_oid,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            head={
                "label": f"{pr.repo.owner}:{pr.head_ref}",
                "ref": pr.head_ref,
                "sha": pr.head_oid,
                "user": org,
                "repo": repo_json,
            },
            base={
                "label": f"{pr.repo.owner}:{pr.base_ref}",
                "ref": pr.base_ref,
                "sha": f"{stable_id('base', pr.repo.full_name, pr.base_ref, pr.number):040x}"[-40:],
                "user": org,
                "repo": repo_json,
            },
            author_association=self._association(pr, pr.author),
            auto_merge=None,
            draft=False,
            merged=pr.merged_at is not None,
            mergeable=None,
            rebaseable=None,
            mergeable_state="unknown",
            merged_by=self.user(pr.merged_by) if pr.merged_at is not None else None,
            comments=0,
            review_comments=0,
            maintainer_can_modify=False,
            commits=1,
            additions=1,
            deletions=0,
            changed_files=1,
        )
        return body

    def review(self, pr: PullRequest, r: Review, idx: int) -> dict[str, Any]:
        rid = r.id or (pr.id * 1000 + idx) % 2_000_000_000
        o_r = pr.repo.full_name
        pairs = [
            ("/octocat/Hello-World/pull/12#pullrequestreview-80", f"/{o_r}/pull/{pr.number}#pullrequestreview-{rid}"),
            ("/repos/octocat/Hello-World/pulls/12", f"/repos/{o_r}/pulls/{pr.number}"),
            *self._hosts(),
        ]
        body: dict[str, Any] = _rewrite(example("pull-request-review-items")[0], pairs)
        body.update(
            id=rid,
            node_id=f"PRR_{rid}",
            user=self.user(r.author),
            body=r.body,
            state=r.state,
            submitted_at=None if r.state == "PENDING" else iso(r.submitted_at),
            commit_id=r.commit_oid,
            author_association=self._association(pr, r.author),
        )
        return body

    def search_item(self, pr: PullRequest) -> dict[str, Any]:
        template = example("issue-search-result-item-paginated")["items"][0]
        o_r = pr.repo.full_name
        n = pr.number
        body: dict[str, Any] = _rewrite(template, self._hosts())
        body.update(
            url=f"{self.api}/repos/{o_r}/issues/{n}",
            repository_url=f"{self.api}/repos/{o_r}",
            labels_url=f"{self.api}/repos/{o_r}/issues/{n}/labels{{/name}}",
            comments_url=f"{self.api}/repos/{o_r}/issues/{n}/comments",
            events_url=f"{self.api}/repos/{o_r}/issues/{n}/events",
            html_url=f"{self.origin}/{o_r}/pull/{n}",
            id=pr.id,
            node_id=f"PR_{pr.id}",
            number=n,
            title=pr.title,
            type=None,
            user=self.user(pr.author),
            labels=self._labels(pr),
            state=self._rest_state(pr),
            assignee=None,
            assignees=[],
            milestone=None,
            comments=0,
            created_at=iso(pr.created_at),
            updated_at=iso(pr.updated_at()),
            closed_at=iso(pr.closed_at or pr.merged_at) if pr.state != "OPEN" else None,
            pull_request={
                "url": f"{self.api}/repos/{o_r}/pulls/{n}",
                "html_url": f"{self.origin}/{o_r}/pull/{n}",
                "diff_url": f"{self.origin}/{o_r}/pull/{n}.diff",
                "patch_url": f"{self.origin}/{o_r}/pull/{n}.patch",
                "merged_at": iso(pr.merged_at),
            },
            body=pr.body,
            score=1.0,
            locked=False,
            author_association=self._association(pr, pr.author),
            state_reason=None,
            draft=False,
        )
        return body

    def rate_limit(self) -> dict[str, Any]:
        body: dict[str, Any] = example("rate-limit-overview")
        for name, bucket in self.state.rate.items():
            bucket.refresh()
            body["resources"][name] = {
                "limit": bucket.limit,
                "used": bucket.used,
                "remaining": bucket.remaining,
                "reset": bucket.reset,
            }
        body["rate"] = dict(body["resources"]["core"])
        return body


# --------------------------------------------------------------------------- helpers


def not_found() -> Response:
    return Response(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})


def _int_param(params: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(params.get(name, [str(default)])[0])
    except ValueError:
        return default


def _link_header(base: str, params: dict[str, list[str]], page: int, last: int) -> str | None:
    def url(p: int) -> str:
        flat = {k: v[0] for k, v in params.items()}
        flat["page"] = str(p)
        return f"<{base}?{urlencode(flat, quote_via=quote)}>"

    links = []
    if page > 1:
        links.append(f'{url(page - 1)}; rel="prev"')
    if page < last:
        links.append(f'{url(page + 1)}; rel="next"')
        links.append(f'{url(last)}; rel="last"')
    if page > 1:
        links.append(f'{url(1)}; rel="first"')
    return ", ".join(links) or None


def _page(
    items: list[Any], params: dict[str, list[str]], base: str, *, cap: int | None = None
) -> tuple[list[Any], dict[str, str], int, int]:
    per_page = max(1, min(100, _int_param(params, "per_page", 30)))
    page = max(1, _int_param(params, "page", 1))
    visible = len(items) if cap is None else min(len(items), cap)
    last = max(1, math.ceil(visible / per_page))
    start = (page - 1) * per_page
    chunk = items[start : min(start + per_page, visible)]
    headers: dict[str, str] = {}
    link = _link_header(base, params, page, last)
    if link:
        headers["Link"] = link
    return chunk, headers, page, per_page


# --------------------------------------------------------------------------- dispatch


def handle(
    state: GitHubState,
    method: str,
    path: str,
    params: dict[str, list[str]],
    *,
    origin: str,
    fault: Fault | None,
) -> Response:
    if method != "GET":
        return not_found()
    b = Builder(state, origin)
    prefix = "/api/v3"
    if not path.startswith(prefix):
        return not_found()
    rel = path[len(prefix) :].rstrip("/")
    parts = [p for p in rel.split("/") if p]
    if (answer := bypasses.handle(state, b, parts, params, origin + path)) is not None:
        return answer  # rule suites, the audit log (standin/bypasses.py)
    if parts == ["user"]:
        return Response(200, b.viewer())
    if parts == ["rate_limit"]:
        return Response(200, b.rate_limit())
    if parts == ["search", "issues"]:
        return _search_issues(state, b, params, origin + path, fault)
    if len(parts) == 2 and parts[0] == "orgs":
        repos = state.org_repos(parts[1])
        if repos is None:
            return not_found()
        canonical = next(o for o in state.orgs if o.lower() == parts[1].lower())
        return Response(200, b.organization(canonical))
    if len(parts) >= 3 and parts[0] == "repos":
        repo = state.find_repo(parts[1], parts[2])
        if repo is None:
            return not_found()
        if len(parts) == 3:
            return Response(200, b.repository(repo))
        if len(parts) == 5 and parts[3] == "compare" and "..." in parts[4]:
            return _compare(b, repo, parts[4], params, origin + path)
        if len(parts) == 4 and parts[3] == "activity":
            return _activity(state, b, repo, params, origin + path)
        if len(parts) == 5 and parts[3] == "issues" and parts[4].isdigit():
            pr = state.get_pr(repo.owner, repo.name, int(parts[4]))
            if pr is None:
                return not_found()
            issue = b.search_item(pr)
            issue.pop("score", None)
            return Response(200, issue)
        if len(parts) in (5, 6) and parts[3] == "pulls" and parts[4].isdigit():
            pr = state.get_pr(repo.owner, repo.name, int(parts[4]))
            if pr is None:
                return not_found()
            if len(parts) == 5:
                return Response(200, b.pull(pr))
            if parts[5] == "reviews":
                visible = [
                    (i, r)
                    for i, r in enumerate(pr.reviews)
                    if r.state != "PENDING" or (r.author is not None and r.author.login == state.viewer)
                ]
                chunk, headers, _, _ = _page(visible, params, origin + path)
                return Response(200, [b.review(pr, r, i) for i, r in chunk], headers)
    return not_found()


def _search_issues(
    state: GitHubState, b: Builder, params: dict[str, list[str]], base: str, fault: Fault | None
) -> Response:
    q = params.get("q", [""])[0]
    if not q.strip():
        return Response(
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Search", "field": "q", "code": "missing"}],
                "documentation_url": SEARCH_DOCS,
                "status": "422",
            },
        )
    per_page = max(1, min(100, _int_param(params, "per_page", 30)))
    page = max(1, _int_param(params, "page", 1))
    if (page - 1) * per_page >= SEARCH_CAP:
        return Response(
            422,
            {
                "message": "Only the first 1000 search results are available",
                "documentation_url": SEARCH_DOCS,
                "status": "422",
            },
        )
    try:
        prs = run_search(
            state,
            q,
            now=state.clock(),
            sort=params.get("sort", [None])[0],
            order=params.get("order", [None])[0],
        )
    except SearchError as exc:
        return Response(
            422,
            {
                "message": "Validation Failed",
                "errors": [{"message": exc.message, "resource": "Search", "field": "q", "code": exc.code}],
                "documentation_url": SEARCH_DOCS,
                "status": "422",
            },
        )
    chunk, headers, _, _ = _page(prs, params, base, cap=SEARCH_CAP)
    incomplete = False
    if fault is not None and fault.kind == "incomplete_results":
        incomplete = True
        chunk = chunk[: max(0, math.ceil(len(chunk) * fault.keep))]
    body = {
        "total_count": len(prs),
        "incomplete_results": incomplete,
        "items": [b.search_item(pr) for pr in chunk],
    }
    return Response(200, body, headers)


def _compare(b: Builder, repo: Repository, spec: str, params: dict[str, list[str]], base_url: str) -> Response:
    """``GET /repos/{o}/{r}/compare/{base}...{head}`` for commits of the git model (``standin.git``):
    ``status`` ahead/behind/diverged/identical, ``ahead_by``, ``behind_by``, ``merge_base_commit``, and up
    to 250 ``commits`` oldest first, as GitHub's REST API documents; with ``per_page``/``page`` the commits
    are paged (``Link`` header), ``total_commits`` still counts them all."""
    from . import git

    base, _, head = spec.partition("...")
    base, head = repo.branches.get(base, base), repo.branches.get(head, head)
    if base not in repo.commits or head not in repo.commits:
        return not_found()
    status, ahead, merge_base, behind = git.compare(repo, base, head)
    body: dict[str, Any] = _rewrite(example("commit-comparison"), b._hosts())
    api = f"{b.api}/repos/{repo.full_name}"

    template = body["commits"][0] if body.get("commits") else {}

    def commit(oid: str) -> dict[str, Any]:
        """A commit in GitHub's ``commit`` shape (the example's, with the model's values): identities are the
        commit's own (client-set); ``author``/``committer`` are the accounts GitHub linked, if any."""
        git_commit = repo.commits[oid]
        out: dict[str, Any] = copy.deepcopy(template)
        out.update(
            sha=oid,
            node_id=f"C_{oid[:16]}",
            url=f"{api}/commits/{oid}",
            html_url=f"{b.origin}/{repo.full_name}/commit/{oid}",
            comments_url=f"{api}/commits/{oid}/comments",
            author=b.user(git_commit.author) if git_commit.author is not None else None,
            committer=b.user(git_commit.committer) if git_commit.committer is not None else None,
            parents=[
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{b.origin}/{repo.full_name}/commit/{p}"}
                for p in git_commit.parents
            ],
        )
        inner = out.get("commit", {})
        for role, who, when in (
            ("author", git_commit.author, git_commit.authored_at),
            ("committer", git_commit.committer, git_commit.committed_at),
        ):
            login = who.login if who is not None else "ghost"
            inner[role] = {"name": login, "email": f"{login}@users.noreply.example", "date": iso(when)}
        inner.update(message=git_commit.message, url=f"{api}/git/commits/{oid}")
        inner["tree"] = {"sha": oid, "url": f"{api}/git/trees/{oid}"}
        return out

    body.update(
        url=f"{api}/compare/{spec}",
        html_url=f"{b.origin}/{repo.full_name}/compare/{spec}",
        status=status,
        ahead_by=len(ahead),
        behind_by=behind,
        total_commits=len(ahead),
        base_commit=commit(base),
        merge_base_commit=commit(merge_base) if merge_base else None,
        commits=[commit(oid) for oid in ahead[:250]],
        files=[],
    )
    if "page" in params or "per_page" in params:
        chunk, headers, _, _ = _page(ahead, params, base_url)
        body["commits"] = [commit(oid) for oid in chunk]
        return Response(200, body, headers)
    return Response(200, body)


ACTIVITY_TYPES = ("push", "force_push", "branch_creation", "branch_deletion", "pr_merge", "merge_queue_merge")
TIME_PERIODS = {"day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}


def _validation_failed(field_name: str) -> Response:
    return Response(
        422,
        {
            "message": "Validation Failed",
            "errors": [f"{field_name} is not a valid value"],
            "documentation_url": DOCS,
            "status": "422",
        },
    )


def _activity(
    state: GitHubState, b: Builder, repo: Repository, params: dict[str, list[str]], base_url: str
) -> Response:
    """``GET /repos/{o}/{r}/activity``: filters ``ref`` (``refs/heads/NAME`` or ``NAME``), ``actor``,
    ``activity_type`` (one value), ``time_period``, ``direction`` (default ``desc``), ``per_page`` (default
    30, at most 100), paged by opaque ``before``/``after`` cursors in the ``Link`` header — never by page
    number. 404 where ``state.activity_served`` is False (an older GitHub Enterprise Server)."""
    import base64

    if not state.activity_served:
        return not_found()
    flat = {k: v[0] for k, v in params.items()}
    kind = flat.get("activity_type")
    if kind is not None and kind not in ACTIVITY_TYPES:
        return _validation_failed("activity_type")
    period = flat.get("time_period")
    if period is not None and period not in TIME_PERIODS:
        return _validation_failed("time_period")
    direction = flat.get("direction", "desc")
    if direction not in ("asc", "desc"):
        return _validation_failed("direction")
    ref = flat.get("ref")
    if ref is not None and not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    actor = (flat.get("actor") or "").casefold()
    now = state.clock()
    entries = [
        a
        for a in repo.activity
        if (ref is None or a.ref == ref)
        and (kind is None or a.activity_type == kind)
        and (not actor or (a.actor is not None and a.actor.rest_login.casefold() == actor))
        and (period is None or a.timestamp >= now - timedelta(days=TIME_PERIODS[period]))
    ]
    entries.sort(key=lambda a: a.id, reverse=direction == "desc")

    def cursor(entry_id: int) -> str:
        return base64.urlsafe_b64encode(f"cursor:{entry_id}".encode()).decode()

    def position(token: str) -> int | None:
        try:
            entry_id = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("cursor:"))
        except ValueError:
            return None
        return next((i for i, a in enumerate(entries) if a.id == entry_id), None)

    per_page = max(1, min(100, _int_param(params, "per_page", 30)))
    start, stop = 0, len(entries)
    if "after" in flat:
        at = position(flat["after"])
        if at is None:
            return _validation_failed("after")
        start = at + 1
    if "before" in flat:
        at = position(flat["before"])
        if at is None:
            return _validation_failed("before")
        stop, start = at, max(0, at - per_page) if "after" not in flat else start
    chunk = entries[start : min(stop, start + per_page)]
    links: list[str] = []
    keep = {k: v for k, v in flat.items() if k not in ("before", "after", "page")}
    if chunk and start + len(chunk) < len(entries):
        links.append(f'<{base_url}?{urlencode({**keep, "after": cursor(chunk[-1].id)}, quote_via=quote)}>; rel="next"')
    if chunk and start > 0:
        links.append(f'<{base_url}?{urlencode({**keep, "before": cursor(chunk[0].id)}, quote_via=quote)}>; rel="prev"')
    body = [
        {
            "id": a.id,
            "node_id": f"AC_{base64.b64encode(str(a.id).encode()).decode()}",
            "before": a.before,
            "after": a.after,
            "ref": a.ref,
            "timestamp": iso(a.timestamp),
            "activity_type": a.activity_type,
            "actor": b.user(a.actor) if a.actor is not None else None,
        }
        for a in chunk
    ]
    return Response(200, body, {"Link": ", ".join(links)} if links else {})


__all__ = ["NOT_SEARCHABLE", "Builder", "Response", "example", "handle"]
