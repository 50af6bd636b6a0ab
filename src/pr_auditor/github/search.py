"""PR search: every PR merged in a window, as complete snapshots.

Facts relied on (docs/github-facts.md): GraphQL ``search`` returns the true total in ``issueCount`` but
stops paging at 1,000 results; ``merged:A..B`` is inclusive to the second; a query may be at most 256
characters; a connection holds at most 100 nodes a page, so PRs with longer review or label histories need
follow-up requests.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pr_auditor.core.errors import IncompleteSearchError, SourceError
from pr_auditor.core.model import PullRequest, Window, iso
from pr_auditor.core.windows import search_range, split_window
from pr_auditor.github import queries
from pr_auditor.github.access import verify_access
from pr_auditor.github.decode import edited_after_merge, required, snapshot, whole_number
from pr_auditor.github.transport import PAGE_SIZE, Transport

log = logging.getLogger(__name__)

SEARCH_CAP = 1000  # GitHub search returns at most 1,000 results per query
SPLIT_TARGET = 900  # aim sub-windows below the cap with room for PRs merged while we page
MAX_QUERY_LENGTH = 256  # GitHub rejects longer search queries
FOLLOW_UP_BATCH = 25  # connections continued per follow-up request (25 x 100 nodes, far below 500,000)

Parked = list[tuple[dict[str, Any], Window]]  # PRs with >100 reviews, labels or label events, and their window


@dataclass(frozen=True, slots=True)
class Page:
    """One search page, already turned into snapshots (so a malformed answer is retried as a whole)."""

    total: int
    complete: list[PullRequest]
    unfinished: list[dict[str, Any]]
    has_next: bool
    cursor: str | None
    last_created: str | None = None  # createdAt of the page's last PR: where a capped search continues


class GitHubSource:
    """Finds every PR merged in a window for a set of organisations, as complete snapshots.

    Retries and error translation are the transport's; this class splits windows past the search cap and
    completes PRs whose connections did not fit in their page.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.sub_windows = 0

    @property
    def requests(self) -> int:
        """Requests sent through the transport (shared with other readers on the same transport)."""
        return self.transport.requests

    @requests.setter
    def requests(self, value: int) -> None:  # the audit's source protocol declares a plain attribute
        self.transport.requests = value

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        """Fail fast on a bad token or an unknown organisation, before any search. Returns the viewer."""
        return verify_access(self.transport, orgs)

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        """Every PR merged in [since, until) in the organisations. Windows past the cap are split."""
        unfinished: Parked = []
        for group in qualifier_groups(tuple(f"org:{org}" for org in orgs), window):
            yield from self._search_window(group, window, unfinished)
        yield from self._finish(unfinished)

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
                page = self.transport.attempt(self._search_page, query, after)
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
                yield from _in_window(pr, window)
            unfinished.extend((node, window) for node in page.unfinished)
            if len(unfinished) >= FOLLOW_UP_BATCH:
                yield from self._finish(unfinished)
                unfinished.clear()
            last_created = page.last_created or last_created
            if not page.has_next:
                return last_created if capped else None
            after = page.cursor

    def _search_page(self, query: str, after: str | None) -> Page:
        data = self.transport.query(queries.SEARCH_MERGED, {"query": query, "first": PAGE_SIZE, "after": after})
        search = required(data, "search")
        complete: list[PullRequest] = []
        unfinished: list[dict[str, Any]] = []
        for node in required(search, "nodes"):
            if node is None or node.get("__typename") != "PullRequest":
                continue
            node = _with_edit_history(node)
            if _has_more(node):
                unfinished.append(node)
            else:
                complete.append(snapshot(node))
        page = required(search, "pageInfo")
        prs = [node for node in required(search, "nodes") if node and node.get("__typename") == "PullRequest"]
        return Page(
            last_created=str(required(prs[-1], "createdAt")) if prs else None,
            total=whole_number(search, "issueCount"),
            complete=complete,
            unfinished=unfinished,
            has_next=bool(page.get("hasNextPage")),
            cursor=page.get("endCursor"),
        )

    def _finish(self, parked: Parked) -> Iterator[PullRequest]:
        """Fetch the rest of every connection that did not fit in its page, batched by alias, then snapshot."""
        nodes = [_copy_connections(node) for node, _ in parked]
        while True:
            wanted = [
                (node, connection)
                for node in nodes
                for connection in queries.FOLLOW_UP_CONNECTIONS
                if required(required(node, connection), "pageInfo").get("hasNextPage")
            ][:FOLLOW_UP_BATCH]
            if not wanted:
                break
            pages = []
            for node, connection in wanted:
                owner, name = str(required(required(node, "repository"), "nameWithOwner")).split("/", 1)
                cursor = required(required(node, connection), "pageInfo").get("endCursor")
                pages.append((owner, name, whole_number(node, "number"), connection, cursor))
            document, variables = queries.follow_up(pages)
            answers = self.transport.attempt(self._follow_up_answers, document, variables, wanted)
            for (node, connection), more in zip(wanted, answers, strict=True):
                node[connection]["nodes"].extend(required(more, "nodes"))
                node[connection]["pageInfo"] = required(more, "pageInfo")
        for node, (_, window) in zip(nodes, parked, strict=True):
            yield from _in_window(snapshot(node), window)

    def _follow_up_answers(
        self, document: str, variables: Mapping[str, Any], wanted: list[tuple[dict[str, Any], str]]
    ) -> list[dict[str, Any]]:
        data = self.transport.query(document, variables)
        return [
            required(required(required(data, f"c{i}"), "pullRequest"), connection)
            for i, (_, connection) in enumerate(wanted)
        ]

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
            repos = tuple(f"repo:{name}" for term in scope for name in self._repositories(term.removeprefix("org:")))
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

    def _repositories(self, org: str) -> list[str]:
        names: list[str] = []
        after: str | None = None
        while True:
            data = self.transport.attempt(
                self.transport.query, queries.ORG_REPOSITORIES, {"login": org, "after": after}
            )
            connection = required(required(data, "organization"), "repositories")
            names.extend(str(required(node, "nameWithOwner")) for node in required(connection, "nodes") if node)
            page = required(connection, "pageInfo")
            if not page.get("hasNextPage"):
                return names
            after = page.get("endCursor")


def _with_edit_history(node: Mapping[str, Any]) -> dict[str, Any]:
    """The node with its ``userContentEdits`` connection: still to be read from its first page (by the
    follow-ups) when the description was edited after the merge, else empty and complete (never edited
    after the merge: the current body is the body at merge)."""
    pending = edited_after_merge(node)
    history = {"nodes": [], "pageInfo": {"hasNextPage": pending, "endCursor": None}}
    return {**node, "userContentEdits": history}


def _has_more(node: Mapping[str, Any]) -> bool:
    return any(
        required(required(node, connection), "pageInfo").get("hasNextPage")
        for connection in queries.FOLLOW_UP_CONNECTIONS
    )


def _copy_connections(node: Mapping[str, Any]) -> dict[str, Any]:
    copied = dict(node)
    for connection in queries.FOLLOW_UP_CONNECTIONS:
        page = required(node, connection)
        copied[connection] = {
            **page,
            "nodes": list(required(page, "nodes")),
            "pageInfo": dict(required(page, "pageInfo")),
        }
    return copied


def _in_window(pr: PullRequest, window: Window) -> Iterator[PullRequest]:
    """GitHub's range is widened to whole seconds; keep exactly [since, until)."""
    if window.contains(pr.merged_at):
        yield pr


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
