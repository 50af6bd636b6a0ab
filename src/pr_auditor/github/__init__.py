"""The only package that talks to GitHub, one module per job: ``transport`` (requests, retries, errors),
``access`` (the access check), ``source`` (the PR source port), ``search`` (merged-PR search),
``search_page`` (a search answer → snapshots), ``follow_ups`` (connections past their page), ``decode``
(nodes → snapshots, pure), ``history`` (branch heads and histories, compare) and ``protection`` (effective
branch protection)."""

from __future__ import annotations

from pr_auditor.audit.ports import BypassSources
from pr_auditor.github.audit_log import AuditLogReader
from pr_auditor.github.history import BranchReader
from pr_auditor.github.per_org import PerOrgSource
from pr_auditor.github.rule_suites import RuleSuiteReader
from pr_auditor.github.source import GitHubSource
from pr_auditor.github.transport import Connection, Transport


def open_source(token: str, connection: Connection) -> GitHubSource:
    """The configured PR source: PyGithub's transport retries plus the transport's answer retries."""
    return GitHubSource(Transport.open(token, connection))


def open_branch_reader(token: str, connection: Connection) -> BranchReader:
    """The configured branch reader (history, compare, protection) for ``branch_audit.audit_branches``."""
    return BranchReader(Transport.open(token, connection))


def branch_readers(
    source: GitHubSource | PerOrgSource, orgs: tuple[str, ...]
) -> list[tuple[tuple[str, ...], BranchReader]]:
    """Branch readers on the same transports as the PR source (one throttle, one request count): one for all
    the organisations with a token, one per organisation with a GitHub App (an installation token sees one)."""
    if isinstance(source, PerOrgSource):
        return [((org,), BranchReader(source.source_for(org).transport)) for org in orgs]
    return [(orgs, BranchReader(source.transport))]


def bypass_readers(
    source: GitHubSource | PerOrgSource, orgs: tuple[str, ...], *, audit_log: bool
) -> list[tuple[tuple[str, ...], BypassSources]]:
    """Rule-suite readers (and audit-log readers when ``audit_log``) on the PR source's transports, grouped
    like ``branch_readers``."""

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
