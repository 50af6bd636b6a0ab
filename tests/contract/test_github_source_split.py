"""The GitHub PR source is split by job: the port's adapter holds only the port's members, and none of the
search modules has a class over the house limit (one job each)."""

from __future__ import annotations

import inspect
from pathlib import Path

from tests.contract.test_architecture import PACKAGE, classes_over_the_limit

from pr_auditor.audit.ports import PullRequestSource
from pr_auditor.github.source import GitHubSource


def public_members(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def test_the_pr_source_has_only_the_port_s_members() -> None:
    port = public_members(PullRequestSource) | set(inspect.get_annotations(PullRequestSource))
    assert public_members(GitHubSource) <= port
    assert port <= public_members(GitHubSource)


def test_no_class_of_the_github_adapter_is_over_the_limit_once_the_source_is_split() -> None:
    over = [line for line in classes_over_the_limit(PACKAGE) if line.startswith("pr_auditor.github.")]
    # transport and history are split by their own issue; the PR source and its helpers must stay small
    assert [line for line in over if ".transport." not in line and ".history." not in line] == []
    assert all(Path(PACKAGE, "github", name).exists() for name in ("source.py", "follow_ups.py", "search_page.py"))
