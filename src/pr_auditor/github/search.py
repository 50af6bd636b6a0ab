"""PR search: every PR merged in a window, split past GitHub's cap, as complete snapshots.

Facts relied on (docs/github-facts.md): GraphQL ``search`` returns the true total in ``issueCount`` but
stops paging at 1,000 results; ``merged:A..B`` is inclusive to the second; a query may be at most 256
characters. Decoding a page is ``search_page``'s job; PRs whose connections did not fit in their page are
completed by ``follow_ups``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator

from pr_auditor.core.errors import IncompleteSearchError, SourceError
from pr_auditor.core.model import PullRequest, Window, iso
from pr_auditor.core.windows import search_range, split_window
from pr_auditor.github import queries
from pr_auditor.github.decode import required
from pr_auditor.github.follow_ups import FOLLOW_UP_BATCH, FollowUps, Parked
from pr_auditor.github.search_page import Page, decode_page, in_window
from pr_auditor.github.transport import PAGE_SIZE, Transport

log = logging.getLogger(__name__)

SEARCH_CAP = 1000  # GitHub search returns at most 1,000 results per query
SPLIT_TARGET = 900  # aim sub-windows below the cap with room for PRs merged while we page
MAX_QUERY_LENGTH = 256  # GitHub rejects longer search queries


class MergedSearch:
    """Pages through the search for a window; splits windows past the search cap or answered incomplete.

    Retries and error translation are the transport's; ``sub_windows`` counts the extra windows searched.
    """

    def __init__(self, transport: Transport, follow_ups: FollowUps) -> None:
        self.transport = transport
        self.follow_ups = follow_ups
        self.sub_windows = 0

    def merged(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        """Every PR merged in [since, until) in the organisations."""
        unfinished: Parked = []
        for group in qualifier_groups(tuple(f"org:{org}" for org in orgs), window):
            yield from self._search_window(group, window, unfinished)
        yield from self.follow_ups.finish(unfinished)

    def _search_window(self, scope: tuple[str, ...], window: Window, unfinished: Parked) -> Iterator[PullRequest]:
        """Every PR of one window. Past the cap, the search continues from the creation time of the last PR
        it could page to (results are sorted by creation): every query then fills its ten pages, where
        fixed time slices leave half-empty last pages. PRs created in that very second come again and are
        deduplicated by the caller."""
        created_from: str | None = None
        while True:
            resume = yield from self._search_query(scope, window, created_from, unfinished)
            if resume is None:
                return
            if resume == created_from:
                # More PRs created in one second than the cap: the continuation cannot advance.
                yield from self._split(scope, window, SEARCH_CAP + 1, unfinished)
                return
            self.sub_windows += 1
            created_from = resume

    def _search_query(
        self, scope: tuple[str, ...], window: Window, created_from: str | None, unfinished: Parked
    ) -> Generator[PullRequest, None, str | None]:
        """Page through one query; returns where to continue when it held more than the cap, else None.
        PRs that need follow-ups are parked in ``unfinished`` and completed in batches, so that a few PRs
        with long review histories cost one request between them."""
        query = search_query(scope, window, created_from)
        after: str | None = None
        capped = False
        last_created: str | None = None
        while True:
            try:
                page = self.transport.attempt(self._page, query, after)
            except IncompleteSearchError:
                # GitHub timed out and returned part of the page: ask for less at a time.
                halves = split_window(window, 2, target=1)
                if not halves:
                    raise
                self.sub_windows += 1
                log.info("search for %s came back incomplete: bisecting", window.as_dict())
                for half in halves:
                    yield from self._search_window(scope, half, unfinished)
                return None
            capped = capped or page.total > SEARCH_CAP
            for pr in page.complete:
                if in_window(pr, window):
                    yield pr
            unfinished.extend((node, window) for node in page.unfinished)
            if len(unfinished) >= FOLLOW_UP_BATCH:
                yield from self.follow_ups.finish(unfinished)
                unfinished.clear()
            last_created = page.last_created or last_created
            if not page.has_next:
                return last_created if capped else None
            after = page.cursor

    def _page(self, query: str, after: str | None) -> Page:
        return decode_page(
            self.transport.query(queries.SEARCH_MERGED, {"query": query, "first": PAGE_SIZE, "after": after})
        )

    def _split(self, scope: tuple[str, ...], window: Window, total: int, unfinished: Parked) -> Iterator[PullRequest]:
        parts = split_window(window, total, target=SPLIT_TARGET)
        if parts:
            self.sub_windows += len(parts) - 1
            log.info("window %s holds %d PRs: split into %d parts", window.as_dict(), total, len(parts))
            for part in parts:
                yield from self._search_window(scope, part, unfinished)
            return
        # One second still holds more than the cap: partition by repository instead of by time.
        if all(term.startswith("org:") for term in scope):
            repos = tuple(
                f"repo:{name}" for term in scope for name in org_repositories(self.transport, term.removeprefix("org:"))
            )
            groups = qualifier_groups(repos, window)
        elif len(scope) > 1:
            groups = [scope[: len(scope) // 2], scope[len(scope) // 2 :]]
        else:
            raise SourceError(f"{total} PRs merged in one second in {scope[0]} exceed GitHub's search cap")
        self.sub_windows += len(groups) - 1
        log.info(
            "%d PRs merged in one second (%s): searching %d repository groups", total, window.as_dict(), len(groups)
        )
        for group in groups:
            yield from self._search_window(group, window, unfinished)


def org_repositories(transport: Transport, org: str) -> list[str]:
    """Every repository of the organisation (``owner/name``): the partition of a second too crowded to search."""
    names: list[str] = []
    after: str | None = None
    while True:
        data = transport.attempt(transport.query, queries.ORG_REPOSITORIES, {"login": org, "after": after})
        connection = required(required(data, "organization"), "repositories")
        names.extend(str(required(node, "nameWithOwner")) for node in required(connection, "nodes") if node)
        page = required(connection, "pageInfo")
        if not page.get("hasNextPage"):
            return names
        after = page.get("endCursor")


def search_query(scope: tuple[str, ...], window: Window, created_from: str | None = None) -> str:
    """``is:pr is:merged merged:A..B [created:>=C] org:X … sort:created-asc`` — A and B inclusive, to the
    second, in UTC; C (inclusive) continues a search that held more than the cap."""
    first, last = search_range(window)
    created = f" created:>={created_from}" if created_from else ""
    return f"is:pr is:merged merged:{iso(first)}..{iso(last)}{created} {' '.join(scope)} sort:created-asc"


_LONGEST_CREATED = "2026-01-01T00:00:00Z"  # any continuation point has this length


def qualifier_groups(qualifiers: tuple[str, ...], window: Window) -> list[tuple[str, ...]]:
    """Group ``org:``/``repo:`` qualifiers so that each search query stays within GitHub's 256 characters."""
    groups: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    for qualifier in qualifiers:
        candidate = (*current, qualifier)
        if current and len(search_query(candidate, window, _LONGEST_CREATED)) > MAX_QUERY_LENGTH:
            groups.append(current)
            candidate = (qualifier,)
        current = candidate
    if current:
        groups.append(current)
    return groups
