"""A PR source over several organisations, each read through its own client: a GitHub App's installation
token sees one organisation only, so one search cannot span organisations as a token's search does."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from pr_auditor.core.model import PullRequest, Window
from pr_auditor.github.source import GitHubSource


class PerOrgSource:
    """Fans the audit's calls out to one ``GitHubSource`` per organisation and sums their counters.

    Sources are opened on first use by ``open_org`` (which looks up the App's installation, so a missing
    installation fails the access check like an unknown organisation does); ``opened`` are ready ones.
    """

    def __init__(
        self, open_org: Callable[[str], GitHubSource], opened: Mapping[str, GitHubSource] | None = None
    ) -> None:
        self._open_org = open_org
        self._sources = {org.casefold(): source for org, source in (opened or {}).items()}
        self.requests = 0
        self.sub_windows = 0

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        """Every organisation has an installation, and each installation's token works."""
        try:
            return ", ".join(sorted({self._source(org).verify_access((org,)) for org in orgs}))
        finally:
            self._sum()

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        """Every PR merged in [since, until), one organisation after the other."""
        try:
            for org in orgs:
                for pr in self._source(org).merged_pull_requests((org,), window):
                    self._sum()
                    yield pr
        finally:
            self._sum()

    def source_for(self, org: str) -> GitHubSource:
        """The organisation's own source (its installation's token), opened on first use."""
        return self._source(org)

    def _source(self, org: str) -> GitHubSource:
        key = org.casefold()
        if key not in self._sources:
            self._sources[key] = self._open_org(org)
        return self._sources[key]

    def _sum(self) -> None:
        self.requests = sum(source.requests for source in self._sources.values())
        self.sub_windows = sum(source.sub_windows for source in self._sources.values())
