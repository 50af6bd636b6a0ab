"""One search answer → snapshots (pure, no I/O): complete PRs, and those whose reviews, labels, timeline or
edit history did not fit in the page (``follow_ups`` completes them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pr_auditor.core.model import PullRequest, Window
from pr_auditor.github import queries
from pr_auditor.github.decode import edited_after_merge, required, snapshot, whole_number


@dataclass(frozen=True, slots=True)
class Page:
    """One search page, already turned into snapshots (so a malformed answer is retried as a whole)."""

    total: int
    complete: list[PullRequest]
    unfinished: list[dict[str, Any]]
    has_next: bool
    cursor: str | None
    last_created: str | None = None  # createdAt of the page's last PR: where a capped search continues


def decode_page(data: Mapping[str, Any]) -> Page:
    """The ``search`` of an ``AuditSearch`` answer → a Page. Raises MalformedAnswerError if malformed."""
    search = required(data, "search")
    complete: list[PullRequest] = []
    unfinished: list[dict[str, Any]] = []
    for node in required(search, "nodes"):
        if node is None or node.get("__typename") != "PullRequest":
            continue
        node = with_edit_history(node)
        if has_more(node):
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


def with_edit_history(node: Mapping[str, Any]) -> dict[str, Any]:
    """The node with its ``userContentEdits`` connection: still to be read from its first page (by the
    follow-ups) when the description was edited after the merge, else empty and complete (never edited
    after the merge: the current body is the body at merge)."""
    pending = edited_after_merge(node)
    history = {"nodes": [], "pageInfo": {"hasNextPage": pending, "endCursor": None}}
    return {**node, "userContentEdits": history}


def has_more(node: Mapping[str, Any]) -> bool:
    """Does any of the node's connections continue past its page?"""
    return any(
        required(required(node, connection), "pageInfo").get("hasNextPage")
        for connection in queries.FOLLOW_UP_CONNECTIONS
    )


def in_window(pr: PullRequest, window: Window) -> bool:
    """GitHub's range is widened to whole seconds; keep exactly [since, until)."""
    return window.contains(pr.merged_at)
