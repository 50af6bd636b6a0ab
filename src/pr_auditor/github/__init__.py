"""The only package that talks to GitHub, one module per job: ``transport`` (requests, retries, errors),
``access`` (the access check), ``search`` (merged-PR search), ``decode`` (nodes → snapshots, pure),
``history`` (branch heads and histories, compare) and ``protection`` (effective branch protection)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pr_auditor.github.connection import Connection
    from pr_auditor.github.history import BranchReader
    from pr_auditor.github.per_org import PerOrgSource
    from pr_auditor.github.search import GitHubSource
    from pr_auditor.github.transport import Transport

#: Imported on first use, so that reading settings (``connection``, ``credentials``, ``pacing``) at a cold
#: start does not import PyGithub, its JWT and cryptography.
_LAZY = {
    "BranchReader": "pr_auditor.github.history",
    "Connection": "pr_auditor.github.connection",
    "GitHubSource": "pr_auditor.github.search",
    "PerOrgSource": "pr_auditor.github.per_org",
    "Transport": "pr_auditor.github.transport",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_source(token: str, connection: Connection) -> GitHubSource:
    """The configured PR source: PyGithub's transport retries plus the transport's answer retries."""
    from pr_auditor.github.search import GitHubSource
    from pr_auditor.github.transport import Transport

    return GitHubSource(Transport.open(token, connection))


def open_branch_reader(token: str, connection: Connection) -> BranchReader:
    """The configured branch reader (history, compare, protection) for ``branch_audit.audit_branches``."""
    from pr_auditor.github.history import BranchReader
    from pr_auditor.github.transport import Transport

    return BranchReader(Transport.open(token, connection))


def branch_readers(
    source: GitHubSource | PerOrgSource, orgs: tuple[str, ...]
) -> list[tuple[tuple[str, ...], BranchReader]]:
    """Branch readers on the same transports as the PR source (one throttle, one request count): one for all
    the organisations with a token, one per organisation with a GitHub App (an installation token sees one)."""
    from pr_auditor.github.history import BranchReader
    from pr_auditor.github.per_org import PerOrgSource

    if isinstance(source, PerOrgSource):
        return [((org,), BranchReader(source.source_for(org).transport)) for org in orgs]
    return [(orgs, BranchReader(source.transport))]


__all__ = [
    "BranchReader",
    "Connection",
    "GitHubSource",
    "Transport",
    "branch_readers",
    "open_branch_reader",
    "open_source",
]
