"""Follow-ups: the rest of every connection (reviews, labels, timeline, edit history) that did not fit in its
search page, read for several PRs per request by alias (docs/github-facts.md: 100 nodes a connection page)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pr_auditor.core.model import PullRequest, Window
from pr_auditor.github import queries
from pr_auditor.github.decode import required, snapshot, whole_number
from pr_auditor.github.search_page import in_window
from pr_auditor.github.transport import Transport

FOLLOW_UP_BATCH = 25  # connections continued per follow-up request (25 x 100 nodes, far below 500,000)

Parked = list[tuple[dict[str, Any], Window]]  # PRs with >100 reviews, labels or label events, and their window


class FollowUps:
    """Completes parked PRs in batches, so that a few PRs with long histories cost one request between them."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def finish(self, parked: Parked) -> Iterator[PullRequest]:
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
            answers = self.transport.attempt(self._answers, document, variables, wanted)
            for (node, connection), more in zip(wanted, answers, strict=True):
                node[connection]["nodes"].extend(required(more, "nodes"))
                node[connection]["pageInfo"] = required(more, "pageInfo")
        for node, (_, window) in zip(nodes, parked, strict=True):
            pr = snapshot(node)
            if in_window(pr, window):
                yield pr

    def _answers(
        self, document: str, variables: Mapping[str, Any], wanted: list[tuple[dict[str, Any], str]]
    ) -> list[dict[str, Any]]:
        data = self.transport.query(document, variables)
        return [
            required(required(required(data, f"c{i}"), "pullRequest"), connection)
            for i, (_, connection) in enumerate(wanted)
        ]


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
