"""The branch audit's decisions, as small pure functions named as questions. No I/O.

Each says what it checks, why, and how to fix a finding; ``tests/unit/test_branch_audit.py`` tables them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pr_auditor.core.branch_model import Commit, Comparison, Protection, PullRef
from pr_auditor.core.policy import RepoPolicy


def is_merged_into(pull: PullRef, branch: str) -> bool:
    """Was this PR merged into this very branch? GitHub also associates open PRs with commits that are not
    on the default branch, and a PR merged into another branch says nothing about this one."""
    return pull.state == "MERGED" and pull.base == branch


def pull_request_commits(commits: Sequence[Commit], branch: str) -> dict[str, int]:
    """Which of the new commits a merged PR brought into ``branch`` → that PR's number.

    - squash and merge-commit merges: the commit is the PR's merge commit;
    - rebase merges: GitHub's merge commit is the last rebased commit; the commits before it on the first-
      parent line that GitHub associates with the same merged PR are the other rebased commits;
    - merge-commit merges: the commits reachable from the merge commit's other parents (the PR's branch),
      but never a commit of the branch's own first-parent line (a direct push merged into a PR's branch is
      still a direct push).
    Everything else reached the branch without a merged PR.
    """
    by_oid = {c.oid: c for c in commits}
    mainline = _first_parent_line(commits, by_oid)
    brought: dict[str, int] = {}
    merges: list[tuple[Commit, int]] = []
    for commit in commits:
        for pull in commit.pulls:
            if is_merged_into(pull, branch) and pull.merge_commit == commit.oid:
                brought[commit.oid] = pull.number
                merges.append((commit, pull.number))
    for merge, number in merges:
        current = merge
        while current.parents and (parent := by_oid.get(current.parents[0])) is not None:
            if parent.oid in brought or not any(p.number == number and is_merged_into(p, branch) for p in parent.pulls):
                break
            brought[parent.oid] = number
            current = parent
        pending = list(merge.parents[1:])
        while pending:
            oid = pending.pop()
            side = by_oid.get(oid)
            if side is None or oid in brought or oid in mainline:
                continue
            brought[oid] = number
            pending.extend(side.parents)
    return brought


def _first_parent_line(commits: Sequence[Commit], by_oid: Mapping[str, Commit]) -> set[str]:
    line: set[str] = set()
    current = commits[0] if commits else None
    while current is not None and current.oid not in line:
        line.add(current.oid)
        current = by_oid.get(current.parents[0]) if current.parents else None
    return line


def is_exempt_pusher(commit: Commit, policy: RepoPolicy) -> bool:
    """Is the commit's committer listed in ``exempt_pushers`` (a release bot)? GitHub does not say who
    pushed a commit; the committer is the closest it shows. Case-insensitive; ``x`` also names ``x[bot]``.
    To fix a finding: push through a pull request, or list the bot if its direct pushes are intended."""
    if commit.committer is None:
        return False
    wanted = commit.committer.casefold()
    return any(wanted in (entry.casefold(), f"{entry.casefold()}[bot]") for entry in policy.exempt_pushers)


def is_rewrite(comparison: Comparison | None) -> bool:
    """Is the last audited head no longer an ancestor of the current head (a force-push, a reset, a branch
    deleted and re-created)? Unknown old heads count: GitHub forgets commits no branch reaches any more."""
    return comparison is None or comparison.status in ("diverged", "behind")


def weaknesses(protection: Protection, policy: RepoPolicy) -> list[str]:
    """How the branch's protection lets through changes the policy would not accept (empty: it does not).
    To fix: raise the branch protection or ruleset to at least the policy, or lower the policy."""
    found: list[str] = []
    if protection.required_approvals < policy.required_approvals:
        found.append(
            f"requires {protection.required_approvals} approving review(s), policy requires {policy.required_approvals}"
        )
    if policy.required_approvals and not policy.count_stale_approvals and not protection.dismiss_stale_reviews:
        found.append("approvals are not dismissed when new commits are pushed")
    if policy.required_approvals and not protection.admins_included:
        found.append("administrators may bypass the protection")
    if protection.bypass_actors:
        found.append(f"bypass allowed for {', '.join(protection.bypass_actors)}")
    return found


def digest(value: Mapping[str, Any]) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
