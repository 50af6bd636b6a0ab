"""Repositories by push time and their branch heads (the branch audit's listing).

Facts relied on: ``organization.repositories`` can be ordered by ``PUSHED_AT`` (so repositories not pushed
since the last run are never listed past the first older one); ``refs(refPrefix: "refs/heads/")`` lists a
repository's branches with their head commit, several repositories batched into one request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pr_auditor.core.branch_model import RepoHeads
from pr_auditor.github import queries
from pr_auditor.github.decode import required, timestamp

BATCH = 20  # repositories or branches per request (see queries.history_pages for the node budget)

Query = Callable[[str, Mapping[str, Any]], dict[str, Any]]


class HeadLister:
    """Lists the repositories pushed since a time, with the heads of their branches."""

    def __init__(self, query: Query) -> None:
        self._query = query

    def repositories(
        self, orgs: tuple[str, ...], *, pushed_since: datetime | None, all_branches: Callable[[str], bool]
    ) -> list[RepoHeads]:
        found: list[RepoHeads] = []
        for org in orgs:
            found.extend(self._pushed(org, pushed_since))
        wanted = [repo for repo in found if all_branches(repo.repository)]
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            document, variables = queries.branch_refs([split(repo.repository) for repo in batch])
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


def _ref_heads(refs: Mapping[str, Any]) -> dict[str, str]:
    heads: dict[str, str] = {}
    for ref in required(refs, "nodes"):
        target = (ref or {}).get("target")
        if target:
            heads[str(required(ref, "name"))] = str(required(target, "oid"))
    return heads


def split(repository: str) -> tuple[str, str]:
    owner, name = repository.split("/", 1)
    return owner, name
