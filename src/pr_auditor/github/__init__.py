"""The only package that talks to GitHub, one module per job: ``transport`` (requests, retries, errors),
``access`` (the access check), ``search`` (merged-PR search), ``decode`` (nodes → snapshots, pure),
``history`` (branch heads and histories, compare) and ``protection`` (effective branch protection)."""

from __future__ import annotations

from pr_auditor.github.history import BranchReader
from pr_auditor.github.search import GitHubSource
from pr_auditor.github.transport import Connection, Transport


def open_source(token: str, connection: Connection) -> GitHubSource:
    """The configured PR source: PyGithub's transport retries plus the transport's answer retries."""
    return GitHubSource(Transport.open(token, connection))


def open_branch_reader(token: str, connection: Connection) -> BranchReader:
    """The configured branch reader (history, compare, protection) for ``branch_audit.audit_branches``."""
    return BranchReader(Transport.open(token, connection))


__all__ = ["BranchReader", "Connection", "GitHubSource", "Transport", "open_branch_reader", "open_source"]
