"""Plain data of the branch audit: what GitHub answers about branches (commits, heads, comparisons,
protection). Frozen, no I/O; the GitHub adapter builds them and the rules read them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class PullRef:
    """A pull request GitHub associates with a commit (``Commit.associatedPullRequests``)."""

    number: int
    state: str  # MERGED | OPEN | CLOSED
    base: str
    merge_commit: str | None


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit of a branch's history. Logins are None when GitHub could not link the e-mail to an
    account (e-mail addresses are never kept: they are personal data and the client sets them anyway)."""

    oid: str
    parents: tuple[str, ...]
    committed_date: datetime
    url: str
    author: str | None
    committer: str | None
    pulls: tuple[PullRef, ...] = ()
    claimed: tuple[str, ...] = ()  # the author's and committer's names as the commit writes them (client-set)


@dataclass(frozen=True, slots=True)
class RepoHeads:
    """A repository as the listing saw it: when it was last pushed and the heads of its branches."""

    repository: str
    pushed_at: datetime | None
    default_branch: str
    heads: Mapping[str, str]  # branch → head oid (the default branch, and every branch when asked)


@dataclass(frozen=True, slots=True)
class Walk:
    """Read ``head``'s history, newest first, until ``stop`` is met, at most ``limit`` commits."""

    repository: str
    branch: str
    head: str
    stop: str | None
    limit: int


@dataclass(frozen=True, slots=True)
class Walked:
    commits: tuple[Commit, ...]  # the commits before ``stop`` (``stop`` itself excluded)
    reached_stop: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    """REST compare ``base...head``: ``status`` is ahead, behind, diverged or identical. ``commits``: the
    SHAs reachable from ``head`` and not from ``base`` (oldest first), when asked for."""

    status: str
    ahead_by: int
    merge_base: str | None
    commits: tuple[str, ...] = ()


PUSH_KINDS = ("push", "force_push", "branch_creation", "branch_deletion")  # what the branch audit judges


@dataclass(frozen=True, slots=True)
class Activity:
    """One entry of a repository's activity (``GET /repos/{o}/{r}/activity``): who moved a branch, and how.
    ``actor`` is the authenticated pusher or merger (REST login, ``name[bot]`` for an app), None only where
    GitHub cannot say; ``before`` is None for a creation, ``after`` None for a deletion."""

    id: int
    branch: str
    kind: str  # push | force_push | branch_creation | branch_deletion | pr_merge | merge_queue_merge
    before: str | None
    after: str | None
    actor: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ActivityMark:
    """The last activity entry already judged on a branch (the cursor kept in the state table)."""

    id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Pushed:
    """Commits that reached a branch, by whom and when (``pusher``/``pushed_at`` None: the head walk cannot
    say), found by ``detected_by`` (``activity`` or ``head_walk``); ``head`` is the branch's head after it."""

    repository: str
    branch: str
    head: str
    shas: tuple[str, ...]
    pusher: str | None
    pushed_at: datetime | None
    detected_by: str


@dataclass(frozen=True, slots=True)
class Protection:
    """A branch's effective protection: its branch protection rule and the rulesets that apply to it."""

    required_approvals: int = 0
    dismiss_stale_reviews: bool = False
    code_owner_review: bool = False
    admins_included: bool = False
    bypass_actors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "required_approvals": self.required_approvals,
            "dismiss_stale_reviews": self.dismiss_stale_reviews,
            "code_owner_review": self.code_owner_review,
            "admins_included": self.admins_included,
            "bypass_actors": list(self.bypass_actors),
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class Unreadable:
    """The credentials may not read the branch's protection (GitHub answered 403/404 or null)."""

    missing_permission: str


BranchKey = tuple[str, str]  # (repository, branch)
