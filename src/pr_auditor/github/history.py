"""Branch histories: repositories by push time, branch heads, history pages, REST compare.

Facts relied on: ``organization.repositories`` can be ordered by ``PUSHED_AT`` (so repositories not
pushed since the last run are never listed past the first older one); ``Repository.object(oid:)`` gives the
commit a walk started from even after the branch moved; ``Commit.history`` lists a commit's ancestors newest
first, 100 a page; ``Commit.associatedPullRequests`` returns the merged PR that introduced the commit and,
off the default branch, open PRs too (so the caller checks state, base and merge commit itself); a
``GitActor.user`` is null when the e-mail is linked to no account; REST compare ``base...head`` answers
``status`` ahead/behind/diverged/identical with ``ahead_by`` and ``merge_base_commit``, and 404 for a base
GitHub no longer has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pr_auditor.core.branch_model import (
    BranchKey,
    Commit,
    Comparison,
    Protection,
    PullRef,
    RepoHeads,
    Unreadable,
    Walk,
    Walked,
)
from pr_auditor.core.model import iso
from pr_auditor.github import queries
from pr_auditor.github.decode import nodes, required, timestamp
from pr_auditor.github.protection import read_protection
from pr_auditor.github.transport import PAGE_SIZE, Transport

BATCH = 20  # repositories or branches per request (see queries.history_pages for the node budget)


class BranchReader:
    """Reads what the branch audit needs, batching several repositories into each GraphQL request."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def requests(self) -> int:
        return self.transport.requests

    @requests.setter
    def requests(self, value: int) -> None:  # the protocol declares a plain attribute
        self.transport.requests = value

    def _query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        return self.transport.attempt(self.transport.query, document, variables)

    # --- listing ------------------------------------------------------------------------------------------

    def repositories(
        self, orgs: tuple[str, ...], *, pushed_since: datetime | None, all_branches: Callable[[str], bool]
    ) -> list[RepoHeads]:
        found: list[RepoHeads] = []
        for org in orgs:
            found.extend(self._pushed(org, pushed_since))
        wanted = [repo for repo in found if all_branches(repo.repository)]
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            document, variables = queries.branch_refs([_split(repo.repository) for repo in batch])
            data = self._query(document, variables)
            for i, repo in enumerate(batch):
                refs = required(required(data, f"r{i}"), "refs")
                heads = {**repo.heads, **_ref_heads(refs)}
                found[found.index(repo)] = RepoHeads(repo.repository, repo.pushed_at, repo.default_branch, heads)
        return found

    def _pushed(self, org: str, since: datetime | None) -> list[RepoHeads]:
        """Repositories newest push first, stopping at the first one pushed before ``since``."""
        found: list[RepoHeads] = []
        after: str | None = None
        while True:
            data = self._query(queries.REPOSITORIES_BY_PUSH, {"login": org, "after": after})
            connection = required(required(data, "organization"), "repositories")
            for node in required(connection, "nodes"):
                if node is None:
                    continue
                pushed = timestamp(node["pushedAt"]) if node.get("pushedAt") else None
                if since is not None and (pushed is None or pushed < since):
                    return found
                ref = node.get("defaultBranchRef")
                if not ref or not ref.get("target"):
                    continue  # an empty repository has no branch to audit
                branch = str(required(ref, "name"))
                head = str(required(required(ref, "target"), "oid"))
                found.append(RepoHeads(str(required(node, "nameWithOwner")), pushed, branch, {branch: head}))
            page = required(connection, "pageInfo")
            if not page.get("hasNextPage"):
                return found
            after = page.get("endCursor")

    # --- history ------------------------------------------------------------------------------------------

    def walk(self, walks: Sequence[Walk]) -> dict[BranchKey, Walked]:
        """Every walk paged until its stop, its limit or the start of history; pages of several walks share
        a request."""
        collected: dict[BranchKey, list[Commit]] = {(w.repository, w.branch): [] for w in walks}
        reached: dict[BranchKey, bool] = dict.fromkeys(collected, False)
        cursors: dict[BranchKey, str | None] = dict.fromkeys(collected, None)
        pending = list(walks)
        while pending:
            batch, pending = pending[:BATCH], pending[BATCH:]
            pages = [(*_split(w.repository), w.head, PAGE_SIZE, cursors[(w.repository, w.branch)]) for w in batch]
            document, variables = queries.history_pages(pages)
            data = self._query(document, variables)
            for i, w in enumerate(batch):
                key = (w.repository, w.branch)
                connection = required(required(required(data, f"w{i}"), "object"), "history")
                for node in required(connection, "nodes"):
                    commit = decode_commit(node)
                    if commit.oid == w.stop:
                        reached[key] = True
                        break
                    collected[key].append(commit)
                    if len(collected[key]) >= w.limit:
                        break
                page = required(connection, "pageInfo")
                done = reached[key] or len(collected[key]) >= w.limit or not page.get("hasNextPage")
                if not done:
                    cursors[key] = page.get("endCursor")
                    pending.append(w)
        return {key: Walked(tuple(commits), reached[key]) for key, commits in collected.items()}

    def commits_between(self, repository: str, branch: str, since: datetime, until: datetime) -> Iterator[Commit]:
        """The branch's commits by committed date in [since, until), newest first, streamed page by page."""
        owner, name = _split(repository)
        after: str | None = None
        while True:
            variables = {
                "owner": owner,
                "name": name,
                "branch": f"refs/heads/{branch}",
                "since": iso(since),
                "until": iso(until),
                "after": after,
            }
            data = self._query(queries.COMMITS_BETWEEN, variables)
            ref = required(data, "repository").get("ref")
            if not ref:
                return
            connection = required(required(ref, "target"), "history")
            page = required(connection, "pageInfo")
            yield from [decode_commit(node) for node in required(connection, "nodes")]  # the page decodes whole
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def compare(self, repository: str, base: str, head: str) -> Comparison | None:
        path = f"/repos/{repository}/compare/{quote(base)}...{quote(head)}"
        body = self.transport.attempt(self.transport.rest_get, path)
        if body is None:
            return None
        merge_base = body.get("merge_base_commit") or {}
        return Comparison(
            status=str(required(body, "status")),
            ahead_by=int(body.get("ahead_by") or 0),
            merge_base=merge_base.get("sha"),
        )

    # --- protection -----------------------------------------------------------------------------------------

    def protection(self, branches: Sequence[BranchKey]) -> dict[BranchKey, Protection | Unreadable]:
        return read_protection(self._query, branches)


def _ref_heads(refs: Mapping[str, Any]) -> dict[str, str]:
    heads: dict[str, str] = {}
    for ref in required(refs, "nodes"):
        target = (ref or {}).get("target")
        if target:
            heads[str(required(ref, "name"))] = str(required(target, "oid"))
    return heads


def decode_commit(node: Mapping[str, Any]) -> Commit:
    """A history node → Commit. Logins only: e-mail addresses are never read."""
    return Commit(
        oid=str(required(node, "oid")),
        parents=tuple(str(required(p, "oid")) for p in nodes(node, "parents")),
        committed_date=timestamp(required(node, "committedDate")),
        url=str(required(node, "url")),
        author=_login(node.get("author")),
        committer=_login(node.get("committer")),
        pulls=tuple(
            PullRef(
                number=int(required(pr, "number")),
                state=str(required(pr, "state")),
                base=str(required(pr, "baseRefName")),
                merge_commit=(pr.get("mergeCommit") or {}).get("oid"),
            )
            for pr in nodes(node, "associatedPullRequests")
        ),
    )


def _login(git_actor: Mapping[str, Any] | None) -> str | None:
    user = (git_actor or {}).get("user")
    return str(user["login"]) if user and user.get("login") else None


def _split(repository: str) -> tuple[str, str]:
    owner, name = repository.split("/", 1)
    return owner, name
