"""Who moved a branch, and how: GitHub's repository activity (``GET /repos/{owner}/{repo}/activity``).

Facts relied on (GitHub's REST description of the endpoint): each entry has ``id``, ``before``, ``after``,
``ref`` (``refs/heads/NAME``), ``timestamp``, ``activity_type`` (``push``, ``force_push``,
``branch_creation``, ``branch_deletion``, ``pr_merge``, ``merge_queue_merge``) and ``actor`` (a simple user,
nullable: who pushed or merged, the authenticated account, not the commit's client-set identities). Filters:
``ref`` (``refs/heads/NAME`` or ``NAME``), ``activity_type`` (one value per request), ``direction``
(default ``desc``, newest first), ``per_page`` (at most 100). Pages go by an opaque cursor in the ``Link``
header (``after``/``before``), never by page number. An older GitHub Enterprise Server has no such endpoint
and answers 404. https://docs.github.com/rest/repos/repos#list-repository-activities
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pr_auditor.core.branch_model import PUSH_KINDS, Activity, ActivityMark
from pr_auditor.github.decode import required, timestamp

PER_PAGE = 100  # GitHub's maximum for this endpoint
ZERO = "0" * 40  # ``before`` of a creation, ``after`` of a deletion
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')

#: One REST GET of a listing: (url or path, query parameters) → (body, Link header), None on 404.
Get = Callable[[str, Mapping[str, str]], "tuple[Any, str | None] | None"]


class ActivityReader:
    """Reads a branch's activity newest first and stops at what was already judged.

    Cost: one request per branch when everything new fits on a page (the common case between hourly runs).
    When it does not (a busy branch, a long window), the rest is read again filtered server-side to the four
    kinds the branch audit judges, one ``activity_type`` per request as GitHub allows, so a branch where PRs
    are merged all day costs pages of *pushes*, not pages of merges."""

    def __init__(self, get: Get) -> None:
        self._get = get

    def read(
        self, repository: str, branch: str, *, mark: ActivityMark | None, since: datetime | None = None
    ) -> list[Activity] | None:
        """The branch's entries newer than ``mark`` (or at/after ``since``), oldest first; with neither, the
        first page only (enough for a baseline). None when the server has no activity endpoint."""
        path = f"/repos/{repository}/activity"
        first = self._pages(path, {"ref": f"refs/heads/{branch}"}, mark, since, limit=1)
        if first is None:
            return None
        found, complete = first
        if not complete and (mark is not None or since is not None):
            found = []
            for kind in PUSH_KINDS:
                more = self._pages(path, {"ref": f"refs/heads/{branch}", "activity_type": kind}, mark, since)
                found.extend(more[0] if more else [])
        unique = {entry.id: entry for entry in found}
        return sorted(unique.values(), key=lambda entry: (entry.at, entry.id))

    def _pages(
        self,
        path: str,
        params: dict[str, str],
        mark: ActivityMark | None,
        since: datetime | None,
        limit: int | None = None,
    ) -> tuple[list[Activity], bool] | None:
        """Entries newest first until the mark (or ``since``), at most ``limit`` pages; (entries, reached)."""
        found: list[Activity] = []
        url: str | None = path
        query: Mapping[str, str] = {**params, "per_page": str(PER_PAGE)}
        pages = 0
        while url is not None:
            answer = self._get(url, query)
            if answer is None:
                return None
            body, link = answer
            pages += 1
            for item in body or []:
                entry = decode_activity(item)
                if _is_judged(entry, mark, since):
                    return found, True
                found.append(entry)
            url = _next_url(link)
            query = {}  # the Link URL carries the filters and the cursor
            if url is not None and limit is not None and pages >= limit:
                return found, False
        return found, True


def _is_judged(entry: Activity, mark: ActivityMark | None, since: datetime | None) -> bool:
    """Has paging (newest first) reached what was judged before: the marked entry, anything older than it,
    or anything before ``since``? Entries sharing the mark's second are read again (the ledger dedupes)."""
    if mark is not None and (entry.id == mark.id or entry.at < mark.at):
        return True
    return since is not None and entry.at < since


def _next_url(link: str | None) -> str | None:
    match = _NEXT.search(link or "")
    return match.group(1) if match else None


def decode_activity(item: Mapping[str, Any]) -> Activity:
    """A REST activity item → Activity; ``refs/heads/`` stripped, the all-zero SHA read as no commit."""
    ref = str(required(item, "ref"))
    actor = item.get("actor") or {}
    before, after = str(item.get("before") or ZERO), str(item.get("after") or ZERO)
    return Activity(
        id=int(required(item, "id")),
        branch=ref.removeprefix("refs/heads/"),
        kind=str(required(item, "activity_type")),
        before=None if before == ZERO else before,
        after=None if after == ZERO else after,
        actor=str(actor["login"]) if actor.get("login") else None,
        at=timestamp(str(required(item, "timestamp"))),
    )
