"""Every change to an in-scope branch, not only merged PRs: direct pushes, rewritten history, protection drift.

Gather → decide → record, like the PR audit, over a narrow ``BranchSource`` (GitHub in production, plain
data in tests) and the ``StateStore`` (last audited head per branch, last protection seen, last push time
per scope). No GitHub or AWS imports here. See docs/branch-audit.md for what is read and guaranteed.

Order matters for "never lose a finding": ``audit_branches`` only *reads* state. The caller claims and
emits ``BranchAudit.records`` first, then calls ``BranchAudit.commit(state)`` to move the heads; a crash in
between repeats the walk (same ``record_id``s, deduplicated by the ledger) instead of skipping commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pr_auditor.audit.ports import BranchSource, Document, Record, StateStore
from pr_auditor.core.branch_model import (
    BranchKey,
    Commit,
    RepoHeads,
    Unreadable,
    Walk,
)
from pr_auditor.core.branch_rules import (
    digest,
    is_exempt_pusher,
    is_merged_into,
    is_rewrite,
    pull_request_commits,
    weaknesses,
)
from pr_auditor.core.model import iso
from pr_auditor.core.policy import Policy, RepoPolicy
from pr_auditor.core.records import direct_push_record, history_rewrite_record, protection_record

PAGE = 100  # commits per history page (GitHub's maximum for a connection)
PROTECTION_EVERY = timedelta(days=1)


# --- the run ----------------------------------------------------------------------------------------------


@dataclass
class BranchAudit:
    """Records to claim and emit, the state to write *after* they are claimed, and what the run saw."""

    records: list[Record] = field(default_factory=list)
    updates: list[tuple[str, Document, int]] = field(default_factory=list)  # (name, document, revision read)
    repositories: int = 0
    branches: int = 0
    baselines: int = 0
    new_commits: int = 0
    requests: int = 0

    def commit(self, state: StateStore) -> None:
        """Move heads, protection and the push watermark. Raises ConflictError if another run moved them."""
        for name, document, revision in self.updates:
            state.save(name, document, revision=revision)

    def counts(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for record in self.records:
            kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
        return {
            "repositories": self.repositories,
            "branches": self.branches,
            "baselines": self.baselines,
            "new_commits": self.new_commits,
            "github_requests": self.requests,
            **kinds,
        }


def scope_name(orgs: tuple[str, ...]) -> str:
    return ",".join(sorted(org.casefold() for org in orgs))


def audit_branches(
    orgs: tuple[str, ...],
    *,
    source: BranchSource,
    policy: Policy,
    state: StateStore,
    run_id: str,
    now: datetime,
) -> BranchAudit:
    """Walk every in-scope branch from its last audited head, and read protection when it is due."""
    before = source.requests
    audit = BranchAudit()
    pushed_name = f"pushed#{scope_name(orgs)}"
    pushed_doc, pushed_rev = state.load(pushed_name)
    checked = _parse_time((pushed_doc or {}).get("protection_checked_at"))
    protection_due = checked is None or now - checked >= PROTECTION_EVERY
    since = None if protection_due else _parse_time((pushed_doc or {}).get("pushed_at"))
    repos = source.repositories(
        orgs, pushed_since=since, all_branches=lambda name: policy.for_repository(name).branches is not None
    )
    audit.repositories = len(repos)
    context = _Context(policy, run_id, audit, now)
    walks: list[tuple[Walk, Document, int]] = []
    in_scope: list[BranchKey] = []
    for repo in repos:
        rules = policy.for_repository(repo.repository)
        for branch, head in sorted(repo.heads.items()):
            if not rules.branch_in_scope(branch, repo.default_branch):
                continue
            in_scope.append((repo.repository, branch))
            name = f"head#{repo.repository}#{branch}"
            document, revision = state.load(name)
            old = (document or {}).get("head")
            if not old:
                audit.baselines += 1  # first sight: today's head is the baseline
                audit.updates.append((name, _head_doc(head, run_id, now), revision))
            elif old != head:
                walks.append((Walk(repo.repository, branch, head, str(old), PAGE), document or {}, revision))
    audit.branches = len(in_scope)
    _walk_branches(source, walks, context, now)
    if protection_due:
        _check_protection(source, in_scope, state, context, now)
    newest = max((r.pushed_at for r in repos if r.pushed_at is not None), default=since)
    watermark: Document = dict(pushed_doc or {})
    if newest is not None:
        watermark["pushed_at"] = iso(newest)
    if protection_due:
        watermark["protection_checked_at"] = iso(now)
    audit.updates.append((pushed_name, watermark, pushed_rev))
    audit.requests = source.requests - before
    return audit


@dataclass(frozen=True, slots=True)
class _Context:
    policy: Policy
    run_id: str
    audit: BranchAudit
    now: datetime

    def emit(self, record: Record) -> None:
        # When the audit saw it: a commit's own date is the client's word, and can be backdated.
        record.setdefault("detected_at", iso(self.now))
        self.audit.records.append(record)


def _walk_branches(
    source: BranchSource, walks: list[tuple[Walk, Document, int]], context: _Context, now: datetime
) -> None:
    """First pages for every moved branch; a branch whose old head was not among them is compared, then
    walked again to the right stop (the old head if it is an ancestor, else the merge base)."""
    if not walks:
        return
    first = source.walk([walk for walk, _, _ in walks])
    again: list[tuple[Walk, Document, int]] = []
    for walk, document, revision in walks:
        walked = first[(walk.repository, walk.branch)]
        if walked.reached_stop:
            _judge(walk, walked.commits, document, revision, context, now)
            continue
        assert walk.stop is not None
        comparison = source.compare(walk.repository, walk.stop, walk.head)
        if not is_rewrite(comparison):
            assert comparison is not None
            again.append(
                (Walk(walk.repository, walk.branch, walk.head, walk.stop, comparison.ahead_by), document, revision)
            )
            continue
        context.emit(
            history_rewrite_record(
                repository=walk.repository,
                branch=walk.branch,
                old_head=walk.stop,
                new_head=walk.head,
                status=comparison.status if comparison else "unknown_old_head",
                run_id=context.run_id,
                policy_version=context.policy.version,
            )
        )
        if comparison is not None and comparison.ahead_by == 0:
            _judge(walk, (), document, revision, context, now)  # moved back: nothing new reached the branch
            continue
        stop = comparison.merge_base if comparison else None
        limit = comparison.ahead_by if comparison else PAGE
        again.append((Walk(walk.repository, walk.branch, walk.head, stop, limit), document, revision))
    if again:
        second = source.walk([walk for walk, _, _ in again])
        for walk, document, revision in again:
            _judge(walk, second[(walk.repository, walk.branch)].commits, document, revision, context, now)


def _judge(
    walk: Walk, commits: Sequence[Commit], document: Document, revision: int, context: _Context, now: datetime
) -> None:
    rules = context.policy.for_repository(walk.repository)
    brought = pull_request_commits(commits, walk.branch)
    context.audit.new_commits += len(commits)
    for commit in commits:
        if commit.oid in brought:
            continue
        context.emit(push_record(walk.repository, walk.branch, commit, rules, context.run_id, context.policy.version))
    name = f"head#{walk.repository}#{walk.branch}"
    context.audit.updates.append((name, {**document, **_head_doc(walk.head, context.run_id, now)}, revision))


def push_record(
    repository: str, branch: str, commit: Commit, rules: RepoPolicy, run_id: str, policy_version: str
) -> Record:
    """The ``direct_push`` record of a commit no merged PR brought into ``branch``."""
    return direct_push_record(
        repository=repository,
        branch=branch,
        sha=commit.oid,
        url=commit.url,
        author=commit.author,
        committer=commit.committer,
        committed_date=commit.committed_date,
        exempt=is_exempt_pusher(commit, rules),
        run_id=run_id,
        policy_version=policy_version,
    )


def _check_protection(
    source: BranchSource, branches: list[BranchKey], state: StateStore, context: _Context, now: datetime
) -> None:
    if not branches:
        return
    readings = source.protection(branches)
    for repository, branch in branches:
        reading = readings[(repository, branch)]
        name = f"protection#{repository}#{branch}"
        document, revision = state.load(name)
        previous = (document or {}).get("protection")
        was_unknown = bool((document or {}).get("unknown"))
        rules = context.policy.for_repository(repository)
        if isinstance(reading, Unreadable):
            current: dict[str, Any] = {"unknown": reading.missing_permission}
            changed = not was_unknown
            weak: list[str] = []
        else:
            current = reading.as_dict()
            changed = document is None or was_unknown or previous != current
            weak = weaknesses(reading, rules)
        if changed:
            context.emit(
                protection_record(
                    repository=repository,
                    branch=branch,
                    protection=None if isinstance(reading, Unreadable) else current,
                    previous=previous if isinstance(previous, dict) else None,
                    digest=digest(current),
                    weaknesses=weak,
                    missing_permission=reading.missing_permission if isinstance(reading, Unreadable) else None,
                    run_id=context.run_id,
                    policy_version=context.policy.version,
                )
            )
        stored: Document = {"checked_at": iso(now), "run_id": context.run_id}
        if isinstance(reading, Unreadable):
            stored.update(unknown=reading.missing_permission, protection=previous)
        else:
            stored["protection"] = current
        context.audit.updates.append((name, stored, revision))


def _head_doc(head: str, run_id: str, now: datetime) -> Document:
    return {"head": head, "audited_at": iso(now), "run_id": run_id}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def commits_in_window(
    orgs: tuple[str, ...], since: datetime, until: datetime, *, source: WindowSource, policy: Policy, run_id: str
) -> Iterator[Record]:
    """Best effort for ``pr-auditor audit`` over a window: in-scope commits whose *committed date* falls in
    [since, until) that no merged PR brought in. Commit dates are set by the client, so a backdated push
    escapes this; only the scheduled head walk guarantees completeness. Records are yielded branch by branch,
    so one branch's history is held at a time."""
    for repo in source.repositories(
        orgs, pushed_since=since, all_branches=lambda name: policy.for_repository(name).branches is not None
    ):
        rules = policy.for_repository(repo.repository)
        for branch in sorted(repo.heads):
            if not rules.branch_in_scope(branch, repo.default_branch):
                continue
            commits, candidates = _streamed_history(
                source.commits_between(repo.repository, branch, since, until), branch
            )
            brought = pull_request_commits(commits, branch)
            for oid, commit in candidates.items():
                if oid in brought or not since <= commit.committed_date < until:
                    continue
                yield push_record(repo.repository, branch, commit, rules, run_id, policy.version)
            del commits, candidates, brought  # released before the next branch's history is read


def _streamed_history(history: Iterable[Commit], branch: str) -> tuple[list[Commit], dict[str, Commit]]:
    """A branch's history as it streams in, kept small: for ``pull_request_commits`` each commit keeps only
    its oid, parents, date and the PRs merged into this branch (oids shared, not repeated per parent); the
    whole commit (URL, author, committer) is kept only when no PR names it as its merge commit, since only
    those can become a direct-push record."""
    strings: dict[str, str] = {}
    slim: list[Commit] = []
    candidates: dict[str, Commit] = {}
    for commit in history:
        pulls = tuple(pull for pull in commit.pulls if is_merged_into(pull, branch))
        oid = strings.setdefault(commit.oid, commit.oid)
        parents = tuple(strings.setdefault(parent, parent) for parent in commit.parents)
        slim.append(Commit(oid, parents, commit.committed_date, "", None, None, pulls))
        if not any(pull.merge_commit == commit.oid for pull in pulls):
            candidates[oid] = commit
    return slim, candidates


class WindowSource(Protocol):
    """What the windowed (CLI) variant needs: the listing, and a branch's commits by committed date."""

    def repositories(
        self, orgs: tuple[str, ...], *, pushed_since: datetime | None, all_branches: Callable[[str], bool]
    ) -> list[RepoHeads]: ...

    def commits_between(self, repository: str, branch: str, since: datetime, until: datetime) -> Iterable[Commit]: ...
