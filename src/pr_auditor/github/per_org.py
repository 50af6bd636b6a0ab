"""A PR source over several organisations, each read through its own client: a GitHub App's installation
token sees one organisation only, so one search cannot span organisations as a token's search does."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pr_auditor.errors import UnknownOrgError
from pr_auditor.github.search import GitHubSource
from pr_auditor.model import PullRequest, Window


class PerOrgSource:
    """Fans the audit's calls out to one ``GitHubSource`` per organisation and sums their counters."""

    def __init__(self, sources: Mapping[str, GitHubSource]) -> None:
        self._sources = {org.casefold(): source for org, source in sources.items()}
        self.requests = 0
        self.sub_windows = 0

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        """Every organisation has an installation, and each installation's token works."""
        missing = [org for org in orgs if org.casefold() not in self._sources]
        if missing:
            raise UnknownOrgError(f"the GitHub App is not installed on: {', '.join(missing)}")
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

    def _source(self, org: str) -> GitHubSource:
        return self._sources[org.casefold()]

    def _sum(self) -> None:
        self.requests = sum(source.requests for source in self._sources.values())
        self.sub_windows = sum(source.sub_windows for source in self._sources.values())
