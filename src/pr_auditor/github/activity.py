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
    When it does not (a busy branch, a long window), the first page's time span estimates how many pages
    are left: up to four, they are read as they come; beyond, the rest is read filtered server-side to the
    four kinds the branch audit judges, one ``activity_type`` per request as GitHub allows. So a branch where
    PRs are merged all day costs pages of *pushes*, not pages of merges, and a moderately busy one no more
    than its pages."""

    def __init__(self, get: Get) -> None:
        self._get = get

    def read(
        self, repository: str, branch: str, *, mark: ActivityMark | None, since: datetime | None = None
    ) -> list[Activity] | None:
        """The branch's entries newer than ``mark`` (or at/after ``since``), oldest first; with neither, the
        first page only (enough for a baseline). None when the server has no activity endpoint."""
        path = f"/repos/{repository}/activity"
        ref = {"ref": f"refs/heads/{branch}"}
        first = self._pages(path, {**ref, "per_page": str(PER_PAGE)}, mark, since, limit=1)
        if first is None:
            return None
        found, rest = first
        bound = mark.at if mark is not None else since
        if rest is not None and bound is not None:
            if _pages_left(found, bound) <= len(PUSH_KINDS):
                more = self._pages(rest, {}, mark, since)
                found.extend(more[0] if more else [])
            else:
                found = []
                for kind in PUSH_KINDS:
                    typed = self._pages(path, {**ref, "activity_type": kind, "per_page": str(PER_PAGE)}, mark, since)
                    found.extend(typed[0] if typed else [])
        unique = {entry.id: entry for entry in found}
        return sorted(unique.values(), key=lambda entry: (entry.at, entry.id))

    def _pages(
        self,
        url: str,
        query: Mapping[str, str],
        mark: ActivityMark | None,
        since: datetime | None,
        limit: int | None = None,
    ) -> tuple[list[Activity], str | None] | None:
        """Entries newest first until the mark (or ``since``), at most ``limit`` pages; (entries, the next
        page's URL if the mark was not reached)."""
        found: list[Activity] = []
        next_url: str | None = url
        pages = 0
        while next_url is not None:
            answer = self._get(next_url, query)
            if answer is None:
                return None
            body, link = answer
            pages += 1
            for item in body or []:
                entry = decode_activity(item)
                if _is_judged(entry, mark, since):
                    return found, None
                found.append(entry)
            next_url = _next_url(link)
            query = {}  # the Link URL carries the filters and the cursor
            if next_url is not None and limit is not None and pages >= limit:
                return found, next_url
        return found, None


def _pages_left(page: list[Activity], bound: datetime) -> float:
    """How many more pages, at the first page's pace, until ``bound`` (the mark or the window's start)."""
    if len(page) < 2:
        return 0.0
    span = (page[0].at - page[-1].at).total_seconds()
    left = (page[-1].at - bound).total_seconds()
    if span <= 0:
        return float("inf")
    return left / span


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
