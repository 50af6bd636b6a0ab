"""REST compare ``GET /repos/{owner}/{repo}/compare/{base}...{head}``: whether ``base`` is still an ancestor
of ``head``, and exactly which commits ``head`` has that ``base`` has not.

Facts relied on (GitHub's REST description): ``status`` is ahead, behind, diverged or identical, with
``ahead_by`` and ``merge_base_commit``; 404 for a base GitHub no longer has; ``commits`` are listed oldest
first, at most 250 unpaged, and paged with ``per_page``/``page`` (``ahead_by`` still counts them all). The
server computes reachability, so the answer does not depend on commit dates (which the client sets) or on the
``git log`` order GraphQL's history uses. https://docs.github.com/rest/commits/commits#compare-two-commits
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from pr_auditor.core.branch_model import Comparison
from pr_auditor.github.decode import required

PER_PAGE = 100

#: One REST GET: (path, query parameters) → (body, Link header), None on 404.
Get = Callable[[str, Mapping[str, str]], "tuple[Any, str | None] | None"]


class CompareReader:
    """Compares two commits; with ``commits=True`` pages through every commit ``head`` brought."""

    def __init__(self, get: Get) -> None:
        self._get = get

    def compare(self, repository: str, base: str, head: str, *, commits: bool = False) -> Comparison | None:
        path = f"/repos/{repository}/compare/{quote(base)}...{quote(head)}"
        shas: list[str] = []
        page = 1
        while True:
            answer = self._get(path, {"per_page": str(PER_PAGE), "page": str(page)} if commits else {})
            if answer is None:
                return None
            body, _ = answer
            ahead_by = int(body.get("ahead_by") or 0)
            listed = [str(required(c, "sha")) for c in body.get("commits") or []]
            shas.extend(listed)
            if not commits or not listed or len(shas) >= ahead_by:
                break
            page += 1
        merge_base = body.get("merge_base_commit") or {}
        return Comparison(
            status=str(required(body, "status")),
            ahead_by=ahead_by,
            merge_base=merge_base.get("sha"),
            commits=tuple(shas) if commits else (),
        )
