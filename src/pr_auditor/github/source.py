"""The PR source: the ``PullRequestSource`` port over GitHub, and nothing else.

The work is done one job per module: ``search`` (queries, cap and incomplete-result splitting),
``follow_ups`` (connections that did not fit in their page), ``search_page`` (an answer → snapshots),
``access`` (the access check); all of them share one ``Transport`` (retries, throttle, request count).
"""

from __future__ import annotations

from collections.abc import Iterator

from pr_auditor.core.model import PullRequest, Window
from pr_auditor.github.access import verify_access
from pr_auditor.github.follow_ups import FollowUps
from pr_auditor.github.search import MergedSearch
from pr_auditor.github.transport import Transport


class GitHubSource:
    """Finds every PR merged in a window for a set of organisations, as complete snapshots."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._search = MergedSearch(transport, FollowUps(transport))

    @property
    def requests(self) -> int:
        """Requests sent through the transport (shared with other readers on the same transport)."""
        return self.transport.requests

    @requests.setter
    def requests(self, value: int) -> None:  # the audit's source protocol declares a plain attribute
        self.transport.requests = value

    @property
    def sub_windows(self) -> int:
        """Extra search windows the cap, an incomplete answer or a crowded second made necessary."""
        return self._search.sub_windows

    @sub_windows.setter
    def sub_windows(self, value: int) -> None:  # a plain attribute in the protocol too
        self._search.sub_windows = value

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        """Fail fast on a bad token or an unknown organisation, before any search. Returns the viewer."""
        return verify_access(self.transport, orgs)

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        """Every PR merged in [since, until) in the organisations. Windows past the cap are split."""
        return self._search.merged(orgs, window)
