"""The only package that talks to GitHub, one module per job: ``connection`` (the PyGithub client and its
settings), ``pacing`` (when the next request may start), ``failures`` (GitHub's answers → our errors),
``transport`` (send and retry), ``access`` (the access check), ``source`` (the PR source port), ``search``
(merged-PR search), ``search_page`` (a search answer → snapshots), ``follow_ups`` (connections past their
page), ``decode`` (nodes → snapshots, pure), ``heads`` and ``history`` (branch heads and histories),
``activity`` (who pushed), ``compare`` (what a push brought), ``protection`` (effective branch protection),
``rule_suites`` and ``audit_log`` (GitHub's own records of bypasses)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pr_auditor.audit.ports import BypassSources
    from pr_auditor.github.connection import Connection
    from pr_auditor.github.history import BranchReader
    from pr_auditor.github.per_org import PerOrgSource
    from pr_auditor.github.source import GitHubSource
    from pr_auditor.github.transport import Transport

#: Imported on first use, so that reading settings (``connection``, ``credentials``, ``pacing``) at a cold
#: start does not import PyGithub, its JWT and cryptography.
_LAZY = {
    "BranchReader": "pr_auditor.github.history",
    "Connection": "pr_auditor.github.connection",
    "GitHubSource": "pr_auditor.github.source",
    "PerOrgSource": "pr_auditor.github.per_org",
    "Transport": "pr_auditor.github.transport",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_source(token: str, connection: Connection) -> GitHubSource:
    """The configured PR source: PyGithub's transport retries plus the transport's answer retries."""
    from pr_auditor.github.source import GitHubSource
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


def bypass_readers(
    source: GitHubSource | PerOrgSource, orgs: tuple[str, ...], *, audit_log: bool
) -> list[tuple[tuple[str, ...], BypassSources]]:
    """Rule-suite readers (and audit-log readers when ``audit_log``) on the PR source's transports, grouped
    like ``branch_readers``."""
    from pr_auditor.audit.ports import BypassSources
    from pr_auditor.github.audit_log import AuditLogReader
    from pr_auditor.github.per_org import PerOrgSource
    from pr_auditor.github.rule_suites import RuleSuiteReader

    def sources(transport: Transport) -> BypassSources:
        return BypassSources(RuleSuiteReader(transport), AuditLogReader(transport) if audit_log else None)

    if isinstance(source, PerOrgSource):
        return [((org,), sources(source.source_for(org).transport)) for org in orgs]
    return [(orgs, sources(source.transport))]


__all__ = [
    "BranchReader",
    "Connection",
    "GitHubSource",
    "Transport",
    "branch_readers",
    "bypass_readers",
    "open_branch_reader",
    "open_source",
]
