"""Git history for the stand-in: commits with parents, branches, pushes, the three merge styles, force-pushes.

What GitHub does and the builders copy:

* **squash merge**: one new commit on the base branch (parent: the old base head); it is the PR's
  ``mergeCommit``. The PR's own commits stay on its head branch only.
* **merge commit**: a new commit with parents (old base head, PR head); it is the PR's ``mergeCommit``.
* **rebase merge**: each PR commit is re-created on top of the base; the last one is the ``mergeCommit``.
* Every commit a merged PR brought (its own commits, the squash/merge commit, rebased copies) is
  associated with that PR (``associatedPullRequests``); a direct push is associated with nothing.
* Every push moves the repository's ``pushedAt`` and adds an entry to the repository's activity
  (``push``, ``force_push``, ``branch_creation``, ``branch_deletion``, ``pr_merge``) whose ``actor`` is who
  pushed: ``pusher`` when given, which can differ from the commit's author and committer (set by the client).
* Commits a force-push left behind stay readable by SHA (GitHub keeps them; compare still answers).

Traversal helpers (``history``, ``reachable``, ``compare``) answer what GraphQL ``history`` and REST
``compare`` answer: history in ``git log`` order, as GitHub documents for ``Commit.history`` — newest
committer date first, a parent queued when the first of its children is shown, so with a backdated commit
on one side of a merge, a parent can be listed before that child.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .generate import add_pr, review, user
from .model import ZERO_OID, Activity, GitCommit, GitHubState, PullRequest, Repository

BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
_activity_ids = itertools.count(41_000_001)  # GitHub's activity ids are integers that grow


def _oid(repo: Repository, *parts: object) -> str:
    text = "/".join(str(p) for p in (repo.full_name, len(repo.commits), *parts))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()  # git object ids are SHA-1


def _now(state: GitHubState, at: datetime | None) -> datetime:
    return at if at is not None else state.clock().replace(microsecond=0)


def new_commit(
    state: GitHubState,
    repo: Repository,
    parents: Sequence[str],
    *,
    author: str | None = "alice",
    committer: str | None = None,
    at: datetime | None = None,
    message: str = "change",
    introduced_by: int | None = None,
) -> str:
    """Create a commit object (not on any branch yet). ``committer`` defaults to the author."""
    when = _now(state, at)
    oid = _oid(repo, *parents, message, when.isoformat())
    who = user(state, author)
    repo.commits[oid] = GitCommit(
        oid=oid,
        parents=list(parents),
        message=message,
        author=who,
        committer=user(state, committer) if committer is not None else who,
        authored_at=when,
        committed_at=when,
        introduced_by=introduced_by,
    )
    return oid


def init_branch(state: GitHubState, repo: Repository, branch: str | None = None, *, at: datetime | None = None) -> str:
    """A branch with one root commit (default: the repository's default branch)."""
    name = branch or repo.default_branch
    oid = new_commit(state, repo, [], author="olivia-admin", at=at or BASE_TIME, message="initial commit")
    _moved(state, repo, name, oid, pusher="olivia-admin")
    return oid


def _moved(
    state: GitHubState, repo: Repository, branch: str, head: str | None, *, pusher: str | None, kind: str = ""
) -> None:
    """Move (or delete, ``head`` None) a branch; record the activity entry GitHub would show."""
    before = repo.branches.get(branch)
    if head is None:
        repo.branches.pop(branch, None)
    else:
        repo.branches[branch] = head
    now = state.clock().replace(microsecond=0)
    repo.pushed_at = now
    if not kind:
        if before is None:
            kind = "branch_creation"
        elif head is None:
            kind = "branch_deletion"
        else:
            kind = "push"  # callers name a force-push
    repo.activity.append(
        Activity(
            id=next(_activity_ids),
            ref=f"refs/heads/{branch}",
            before=before or ZERO_OID,
            after=head or ZERO_OID,
            activity_type=kind,
            actor=user(state, pusher) if pusher is not None else None,
            timestamp=now,
        )
    )


def delete_branch(state: GitHubState, repo: Repository, branch: str, *, pusher: str = "olivia-admin") -> None:
    """``git push --delete``: the branch is gone, its commits stay readable by SHA."""
    _moved(state, repo, branch, None, pusher=pusher)


def create_branch(
    state: GitHubState, repo: Repository, branch: str, *, at_commit: str, pusher: str = "olivia-admin"
) -> None:
    """A new branch pointing at an existing commit."""
    _moved(state, repo, branch, at_commit, pusher=pusher)


def push(
    state: GitHubState,
    repo: Repository,
    branch: str | None = None,
    *,
    n: int = 1,
    author: str | None = "olivia-admin",
    committer: str | None = None,
    at: datetime | None = None,
    pusher: str | None = None,
) -> list[str]:
    """A direct push of ``n`` commits onto the branch (fast-forward). ``at`` backdates them. ``pusher`` (who
    authenticated the push; default: the author) is what the activity shows, whatever the commits claim."""
    name = branch or repo.default_branch
    head = repo.branches[name]
    made = []
    for i in range(n):
        when = (at or _now(state, None)) + timedelta(seconds=i)
        head = new_commit(state, repo, [head], author=author, committer=committer, at=when, message=f"direct {i}")
        made.append(head)
    _moved(state, repo, name, head, pusher=pusher if pusher is not None else author)
    return made


def merge_pr(
    state: GitHubState,
    repo: Repository,
    *,
    style: str = "squash",
    base: str | None = None,
    commits: int = 2,
    author: str = "alice",
    merged_by: str = "bob",
    at: datetime | None = None,
    approvers: Sequence[str] = ("bob",),
    labels: Sequence[str] = (),
    indexed_at: datetime | None = None,
    scenario: str | None = None,
    branched_from: str | None = None,
) -> PullRequest:
    """A PR from a feature branch off ``base``, approved and merged with ``style`` (squash, merge, rebase).
    ``labels``, ``indexed_at`` (search-index lag) and ``scenario`` go to :func:`add_pr` as they are.
    ``branched_from``: the commit the PR's branch started from (default: the base's current head)."""
    name = base or repo.default_branch
    when = _now(state, at)
    start = branched_from or repo.branches[name]
    number = max((p.number for p in state.prs if p.repo is repo), default=0) + 1
    feature = start
    own = []
    for i in range(commits):
        feature = new_commit(
            state, repo, [feature], author=author, at=when - timedelta(hours=2, seconds=-i), message=f"pr {i}"
        )
        repo.commits[feature].introduced_by = number
        own.append(feature)
    base_head = repo.branches[name]
    if style == "squash":
        merge = new_commit(state, repo, [base_head], author=author, committer="web-flow", at=when, message="squash")
    elif style == "merge":
        merge = new_commit(
            state, repo, [base_head, feature], author=merged_by, committer="web-flow", at=when, message="merge"
        )
    elif style == "rebase":
        merge = base_head
        for i, original in enumerate(own):
            merge = new_commit(
                state,
                repo,
                [merge],
                author=author,
                committer="web-flow",
                at=when + timedelta(seconds=i),
                message=f"rebased {original[:7]}",
            )
            repo.commits[merge].introduced_by = number
    else:
        raise ValueError(f"unknown merge style {style!r}")
    repo.commits[merge].introduced_by = number
    pr = add_pr(
        state,
        repo,
        number=number,
        author=author,
        merged_by=merged_by,
        merged_at=when,
        base_ref=name,
        head_ref=f"feature/{number}",
        head_oid=feature,
        merge_commit_oid=merge,
        reviews=[review(login) for login in approvers],
        labels=labels,
        indexed_at=indexed_at,
        scenario=scenario or f"{style}_merge",
    )
    _moved(state, repo, name, merge, pusher=merged_by, kind="pr_merge")
    return pr


def open_pr(state: GitHubState, repo: Repository, *, base: str | None = None, author: str = "alice") -> PullRequest:
    """An open PR with one commit on its own branch (associated with the PR, not on the base)."""
    name = base or repo.default_branch
    number = max((p.number for p in state.prs if p.repo is repo), default=0) + 1
    head = new_commit(state, repo, [repo.branches[name]], author=author, message="open pr")
    repo.commits[head].open_prs.append(number)
    return add_pr(state, repo, number=number, author=author, merged_at=None, base_ref=name, head_oid=head)


def force_push(
    state: GitHubState,
    repo: Repository,
    branch: str | None = None,
    *,
    onto: str,
    n: int = 1,
    author: str = "olivia-admin",
    pusher: str | None = None,
) -> str:
    """Rewrite the branch: ``n`` new commits on top of ``onto`` (an older commit), pushed with force.
    ``n=0`` moves the branch back to ``onto``: the push it undoes stays readable by SHA."""
    name = branch or repo.default_branch
    head = onto
    for i in range(n):
        head = new_commit(state, repo, [head], author=author, message=f"rewritten {i}")
    _moved(state, repo, name, head, pusher=pusher if pusher is not None else author, kind="force_push")
    return head


# --------------------------------------------------------------------------- traversal


_cache: dict[tuple[str, int, str, int], Any] = {}


def _cached(kind: int, repo: Repository, head: str, compute: Callable[[], Any]) -> Any:
    key = (repo.full_name, len(repo.commits), head, kind)
    if key not in _cache:
        if len(_cache) > 50_000:
            _cache.clear()
        _cache[key] = compute()
    return _cache[key]


def history(repo: Repository, head: str) -> list[str]:
    """Commits reachable from ``head`` in ``git log`` order (newest committer date first; a parent is queued
    when its first child is shown, so it can come before a backdated child on another line)."""
    return list(_cached(0, repo, head, lambda: _history(repo, head)))


def _history(repo: Repository, head: str) -> list[str]:
    order = 0
    queued = {head}
    ready = [(-repo.commits[head].committed_at.timestamp(), order, head)]
    out: list[str] = []
    while ready:
        _, _, oid = heapq.heappop(ready)
        out.append(oid)
        for parent in repo.commits[oid].parents:
            if parent in queued or parent not in repo.commits:
                continue
            queued.add(parent)
            order += 1
            heapq.heappush(ready, (-repo.commits[parent].committed_at.timestamp(), order, parent))
    return out


def ancestors(repo: Repository, head: str) -> set[str]:
    """``head`` and every commit reachable from it."""
    found: set[str] = _cached(1, repo, head, lambda: _ancestors(repo, head))
    return found


def _ancestors(repo: Repository, head: str) -> set[str]:
    seen: set[str] = set()
    pending = [head]
    while pending:
        oid = pending.pop()
        if oid in seen or oid not in repo.commits:
            continue
        seen.add(oid)
        pending.extend(repo.commits[oid].parents)
    return seen


def compare(repo: Repository, base: str, head: str) -> tuple[str, list[str], str | None, int]:
    """REST compare ``base...head``: (status, commits ahead (oldest first), merge base, behind_by)."""
    from_head, from_base = ancestors(repo, head), ancestors(repo, base)
    ahead = [oid for oid in reversed(history(repo, head)) if oid not in from_base]
    behind = len(from_base - from_head)
    common = [oid for oid in history(repo, head) if oid in from_base]
    merge_base = common[0] if common else None
    if not ahead and not behind:
        status = "identical"
    elif ahead and behind:
        status = "diverged"
    else:
        status = "ahead" if ahead else "behind"
    return status, ahead, merge_base, behind


# --------------------------------------------------------------------------- activity for long simulations


def init_all(state: GitHubState, *, at: datetime | None = None) -> None:
    """Give every repository without history a default branch with one root commit."""
    for repos in state.orgs.values():
        for repo in repos:
            if repo.default_branch not in repo.branches:
                init_branch(state, repo, at=at)


def activity(state: GitHubState, rng: random.Random, *, merges: int, pushes: int) -> list[tuple[str, str, str]]:
    """Random activity on default branches: ``merges`` PRs merged (squash, merge or rebase at random) and
    ``pushes`` direct pushes, interleaved. Returns the direct pushes as (repository, branch, sha): exactly
    the commits a complete branch audit must report."""
    repos = [repo for repos in state.orgs.values() for repo in repos if repo.default_branch in repo.branches]
    steps = ["merge"] * merges + ["push"] * pushes
    rng.shuffle(steps)
    pushed: list[tuple[str, str, str]] = []
    for step in steps:
        repo = rng.choice(repos)
        if step == "merge":
            merge_pr(state, repo, style=rng.choice(("squash", "merge", "rebase")), commits=rng.randint(1, 3))
        else:
            (sha,) = push(state, repo, author=rng.choice(("olivia-admin", "alice")))
            pushed.append((repo.full_name, repo.default_branch, sha))
    return pushed
