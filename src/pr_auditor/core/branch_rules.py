"""The branch audit's decisions, as small pure functions named as questions. No I/O.

Each says what it checks, why, and how to fix a finding; ``tests/unit/test_branch_audit.py`` tables them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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


def _names(entry: str, login: str) -> bool:
    """Does the policy entry name this login? Case-insensitive; ``x`` also names the app ``x[bot]``."""
    wanted, listed = login.casefold(), entry.casefold()
    return wanted in (listed, f"{listed}[bot]")


def is_exempt_pusher(pusher: str | None, policy: RepoPolicy) -> bool:
    """Is who *pushed* (the actor of GitHub's repository activity, a REST login such as ``release[bot]``)
    listed in ``exempt_pushers``? Never the commit's author or committer: the client sets those freely, so
    anyone can write a commit that claims to be the release bot. An unknown pusher is never exempt.
    To fix a finding: push through a pull request, or list the pusher if its direct pushes are intended."""
    if pusher is None:
        return False
    return any(_names(entry, pusher) for entry in policy.exempt_pushers)


def claimed_exempt_identity(commit: Commit, pusher: str | None, policy: RepoPolicy) -> str | None:
    """Which exempt pusher's identity does the commit claim (committer, author, or the names it writes: git
    names an app's commits ``name[bot]`` and GitHub links no account to a bot's identity) when someone else
    pushed it? Worth saying on the record: a forged identity is how an exemption would be abused. GraphQL
    writes a bot's login without ``[bot]``, so both forms are compared."""
    if is_exempt_pusher(pusher, policy):
        return None
    for claimed in (commit.committer, commit.author, *commit.claimed):
        if claimed is None:
            continue
        bare = claimed.removesuffix("[bot]")
        if any(_names(entry, bare) or _names(entry, f"{bare}[bot]") for entry in policy.exempt_pushers):
            return claimed
    return None


def unexplained_head(old: str, new: str, explained: Sequence[str]) -> bool:
    """Did the branch head move (from the last audited head ``old`` to ``new``) without an activity entry
    ending at ``new``? GitHub's activity should account for every push; a head it does not account for is
    a gap in the record (a lag, a missing entry, or a source that is not what it claims), so it is a finding,
    and the head walk judges the commits anyway. To fix: find out who moved the branch."""
    return old != new and new not in explained


CLOCK_MARGIN = timedelta(minutes=5)  # GitHub's clock and the function's may disagree by this much


def pushed_since_last_read(pushed_at: datetime | None, last_read: datetime | None) -> bool:
    """Was the repository pushed since this branch's activity was last read (the run's time, less a margin
    for clock skew)? Only then can it have new activity: the daily protection check lists every repository,
    and reading the activity of the quiet ones would cost a request each for nothing. Unknown times count as
    pushed."""
    return pushed_at is None or last_read is None or pushed_at >= last_read - CLOCK_MARGIN


def newest_first(shas: Sequence[str], head: str) -> list[str]:
    """Compare lists commits oldest first (by date, which the client sets); the PR rules read the first
    commit as the branch head, so put ``head`` first and the rest newest first."""
    rest = [sha for sha in reversed(shas) if sha != head]
    return [head, *rest] if head in shas else rest


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
