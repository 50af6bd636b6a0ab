"""Every change to an in-scope branch, not only merged PRs: direct pushes, rewritten history, protection drift.

Gather → decide → record, like the PR audit, over a narrow ``BranchSource`` (GitHub in production, plain
data in tests) and the ``StateStore`` (per branch: last audited head and last judged activity entry; last
protection seen; last push time per scope). Pushes come from GitHub's repository activity (who pushed, and
pushes later undone), their commits from compare; the head walk is the cross-check, and the fallback where
activity is not served. No GitHub or AWS imports here. See docs/branch-audit.md for what is read and guaranteed.

Order matters for "never lose a finding": ``audit_branches`` only *reads* state. The caller claims and
emits ``BranchAudit.records`` first, then calls ``BranchAudit.commit(state)`` to move the heads; a crash in
between repeats the walk (same ``record_id``s, deduplicated by the ledger) instead of skipping commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pr_auditor.audit.ports import BranchSource, Document, Record, StateStore
from pr_auditor.core.branch_model import (
    PUSH_KINDS,
    Activity,
    ActivityMark,
    BranchKey,
    Commit,
    Pushed,
    RepoHeads,
    Unreadable,
    Walk,
)
from pr_auditor.core.branch_rules import (
    CLOCK_MARGIN,
    claimed_exempt_identity,
    digest,
    is_exempt_pusher,
    is_rewrite,
    newest_first,
    pull_request_commits,
    pushed_since_last_read,
    unexplained_head,
    weaknesses,
)
from pr_auditor.core.model import iso
from pr_auditor.core.policy import Policy, RepoPolicy
from pr_auditor.core.records import direct_push_record, head_change_record, history_rewrite_record, protection_record

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
    notes: list[str] = field(default_factory=list)  # said once in the run summary

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
    """Judge every push GitHub's repository activity shows on an in-scope branch since the last judged
    entry, cross-check each branch head against it (the head walk), and read protection when it is due."""
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
    branch = _BranchJudge(source, context)
    in_scope: list[BranchKey] = []
    for repo in repos:
        rules = policy.for_repository(repo.repository)
        listed = [name for name in sorted(repo.heads) if rules.branch_in_scope(name, repo.default_branch)]
        for name in listed:
            in_scope.append((repo.repository, name))
            branch.judge(repo, name, repo.heads[name], state)
        if rules.branches is not None:  # globs: in-scope branches can be deleted (the default one cannot)
            for name in _gone(repo.repository, listed, state, audit):
                branch.judge_gone(repo, name, state)
    audit.branches = len(in_scope)
    branch.finish()
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


NO_ACTIVITY_NOTE = (
    "GitHub does not serve repository activity here (older GitHub Enterprise Server?): pushes are found by "
    "walking branch heads, without who pushed, and exempt_pushers cannot apply"
)


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


class _BranchJudge:
    """Per branch: the activity since the last judged entry (each push's commits from compare), then the
    head cross-check; the commits of every push are read by SHA in batches at the end (``finish``)."""

    def __init__(self, source: BranchSource, context: _Context) -> None:
        self.source, self.context = source, context
        self.activity_served = True
        self.pushes = _Pushes(source, context)
        self.heads: list[tuple[str, Document, int]] = []

    def finish(self) -> None:
        """Judge the commits of every push, then queue the heads (written after the records are claimed)."""
        self.pushes.judge()
        self.context.audit.updates.extend(self.heads)

    def judge(self, repo: RepoHeads, branch: str, head: str, state: StateStore) -> None:
        name = f"head#{repo.repository}#{branch}"
        document, revision = state.load(name)
        stored = dict(document or {})
        mark = _mark(stored)
        old = stored.get("head")
        quiet = old == head and not pushed_since_last_read(repo.pushed_at, _parse_time(stored.get("audited_at")))
        entries = (
            [] if quiet and mark is not None and self.activity_served else self._activity(repo.repository, branch, mark)
        )
        stored.update(_head_doc(head, self.context.run_id, self.context.now))
        if entries is not None:
            newest = entries[-1] if entries else None
            stored["activity"] = _mark_doc(newest, mark, self.context.now)
        if not old and mark is None:
            self.context.audit.baselines += 1  # first sight: today's head is the baseline
            self.heads.append((name, stored, revision))
            return
        if entries is not None and mark is not None:
            for entry in entries:
                self.entry(repo, entry)
            explained = [entry.after for entry in entries if entry.after]
            if old and unexplained_head(str(old), head, explained):
                self.context.emit(
                    head_change_record(
                        repository=repo.repository,
                        branch=branch,
                        old_head=str(old),
                        new_head=head,
                        run_id=self.context.run_id,
                        policy_version=self.context.policy.version,
                    )
                )
                self.pushes.walk(repo.repository, branch, str(old), head)
            elif entries and entries[-1].after is not None and head in explained:
                stored["head"] = entries[-1].after  # pushed again after the listing: judged up to there
        elif old and old != head:
            self.pushes.walk(repo.repository, branch, str(old), head)  # no activity (yet): the head walk decides
        self.heads.append((name, stored, revision))

    def judge_gone(self, repo: RepoHeads, branch: str, state: StateStore) -> None:
        """An in-scope branch seen before and not listed now: its activity since the mark says who deleted
        it (a rewrite by the pusher) and what was pushed to it before; nothing said, nothing changed."""
        name = f"head#{repo.repository}#{branch}"
        document, revision = state.load(name)
        mark = _mark(document or {})
        entries = self._activity(repo.repository, branch, mark) if mark is not None else None
        if not entries:
            return
        for entry in entries:
            self.entry(repo, entry)
        stored = {**(document or {}), **_head_doc(entries[-1].after, self.context.run_id, self.context.now)}
        stored["activity"] = _mark_doc(entries[-1], mark, self.context.now)
        self.heads.append((name, stored, revision))

    def _activity(self, repository: str, branch: str, mark: ActivityMark | None) -> list[Activity] | None:
        if not self.activity_served:
            return None
        entries = self.source.activity(repository, branch, mark=mark)
        if entries is None:
            self.activity_served = False
            self.context.audit.notes.append(NO_ACTIVITY_NOTE)
        return entries

    def entry(self, repo: RepoHeads, entry: Activity) -> None:
        """One activity entry: a deletion or a force-push is a history rewrite by its actor; a push, a
        force-push or a creation brought the commits compare lists."""
        if entry.kind not in PUSH_KINDS:
            return  # PR merges (button or queue) are judged by the PR audit
        base = entry.before
        if entry.kind == "branch_creation":
            base = repo.default_branch if entry.branch != repo.default_branch else None
        comparison = (
            self.source.compare(repo.repository, base, entry.after, commits=True)
            if base is not None and entry.after is not None
            else None
        )
        if entry.kind in ("force_push", "branch_deletion") and entry.before is not None:
            status = "deleted" if entry.after is None else comparison.status if comparison else "unknown_old_head"
            self.context.emit(
                history_rewrite_record(
                    repository=repo.repository,
                    branch=entry.branch,
                    old_head=entry.before,
                    new_head=entry.after,
                    status=status,
                    pusher=entry.actor,
                    pushed_at=entry.at,
                    detected_by="activity",
                    run_id=self.context.run_id,
                    policy_version=self.context.policy.version,
                )
            )
        if comparison is not None and entry.after is not None:
            self.pushes.add(
                Pushed(
                    repo.repository, entry.branch, entry.after, comparison.commits, entry.actor, entry.at, "activity"
                )
            )


class _Pushes:
    """The pushes a run found (from activity or the head walk); their commits are read by SHA in batches."""

    def __init__(self, source: BranchSource, context: _Context) -> None:
        self.source, self.context = source, context
        self.found: list[Pushed] = []

    def add(self, pushed: Pushed) -> None:
        self.found.append(pushed)

    def walk(self, repository: str, branch: str, old: str, head: str) -> None:
        """The head walk: the commits ``head`` has that the last audited head has not, from compare (never
        a history walk that stops at the first sight of ``old``: ``git log`` order can list ``old`` before a
        backdated new commit on a merge's other line)."""
        comparison = self.source.compare(repository, old, head, commits=True)
        if is_rewrite(comparison):
            self.context.emit(
                history_rewrite_record(
                    repository=repository,
                    branch=branch,
                    old_head=old,
                    new_head=head,
                    status=comparison.status if comparison else "unknown_old_head",
                    run_id=self.context.run_id,
                    policy_version=self.context.policy.version,
                )
            )
        if comparison is None:
            walked = self.source.walk([Walk(repository, branch, head, None, PAGE)])[(repository, branch)]
            shas: tuple[str, ...] = tuple(c.oid for c in walked.commits)  # GitHub forgot ``old``: the newest page
        else:
            shas = comparison.commits
        self.found.append(Pushed(repository, branch, head, shas, None, None, "head_walk"))

    def judge(self) -> None:
        """Read every pushed commit by SHA (100 a request, across branches) and judge each once."""
        wanted = [(p.repository, sha) for p in self.found for sha in p.shas]
        commits = self.source.commits(wanted) if wanted else {}
        seen: set[tuple[str, str, str]] = set()
        for pushed in self.found:
            ordered = [commits[(pushed.repository, sha)] for sha in newest_first(pushed.shas, pushed.head)
                       if (pushed.repository, sha) in commits]  # fmt: skip
            self.context.audit.new_commits += len(ordered)
            brought = pull_request_commits(ordered, pushed.branch)
            rules = self.context.policy.for_repository(pushed.repository)
            for commit in ordered:
                key = (pushed.repository, pushed.branch, commit.oid)
                if commit.oid in brought or key in seen:
                    continue
                seen.add(key)
                self.context.emit(push_record(pushed, commit, rules, self.context.run_id, self.context.policy.version))


def push_record(pushed: Pushed, commit: Commit, rules: RepoPolicy, run_id: str, policy_version: str) -> Record:
    """The ``direct_push`` record of a commit no merged PR brought into the branch: exempt only when who
    *pushed* it is in ``exempt_pushers``, never by the identity the commit claims."""
    return direct_push_record(
        repository=pushed.repository,
        branch=pushed.branch,
        sha=commit.oid,
        url=commit.url,
        author=commit.author,
        committer=commit.committer,
        committed_date=commit.committed_date,
        exempt=is_exempt_pusher(pushed.pusher, rules),
        pusher=pushed.pusher,
        pushed_at=pushed.pushed_at,
        detected_by=pushed.detected_by,
        claimed_identity=claimed_exempt_identity(commit, pushed.pusher, rules),
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


def _mark(document: Document) -> ActivityMark | None:
    """The last judged activity entry of a branch, from its head document (None: never read)."""
    found = document.get("activity")
    if not isinstance(found, dict) or not isinstance(found.get("at"), str):
        return None
    return ActivityMark(int(found.get("id") or 0), datetime.fromisoformat(found["at"]))


def _mark_doc(newest: Activity | None, mark: ActivityMark | None, now: datetime) -> Document:
    """The new cursor: the newest entry read; with none, the old mark, or (first read) the run's time less
    the clock margin (GitHub's clock may lag the function's: an entry stamped just before is read again)."""
    if newest is not None:
        return {"id": newest.id, "at": iso(newest.at)}
    if mark is not None:
        return {"id": mark.id, "at": iso(mark.at)}
    return {"id": 0, "at": iso(now - CLOCK_MARGIN)}


def _gone(repository: str, listed: list[str], state: StateStore, audit: BranchAudit) -> list[str]:
    """In-scope branches of the repository seen by an earlier run and not listed now (state document
    ``branches#<repo>``, updated with the audit's other state)."""
    name = f"branches#{repository}"
    document, revision = state.load(name)
    known = [str(b) for b in (document or {}).get("branches", [])]
    if sorted(known) != listed:
        audit.updates.append((name, {"branches": listed}, revision))
    return [branch for branch in known if branch not in listed]


def _head_doc(head: str | None, run_id: str, now: datetime) -> Document:
    return {"head": head, "audited_at": iso(now), "run_id": run_id}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def commits_in_window(
    orgs: tuple[str, ...], since: datetime, until: datetime, *, source: WindowSource, policy: Policy, run_id: str
) -> list[Record]:
    """``pr-auditor audit`` over a window: the in-scope commits *pushed* in [since, until) that no merged PR
    brought in, from GitHub's repository activity (who pushed, when) and compare (what each push brought).
    Where activity is not served (older GHES), best effort by *committed* date, which the client sets: a
    backdated push escapes that; only the scheduled audit's head walk is complete there."""
    context = _Context(policy, run_id, BranchAudit(), until)
    judge = _BranchJudge(source, context)
    fallback: list[tuple[RepoHeads, str]] = []
    for repo in source.repositories(
        orgs, pushed_since=since, all_branches=lambda name: policy.for_repository(name).branches is not None
    ):
        rules = policy.for_repository(repo.repository)
        for branch in sorted(repo.heads):
            if not rules.branch_in_scope(branch, repo.default_branch):
                continue
            entries = (
                source.activity(repo.repository, branch, mark=None, since=since) if judge.activity_served else None
            )
            if entries is None:
                judge.activity_served = False
                fallback.append((repo, branch))
                continue
            for entry in entries:
                if since <= entry.at < until:
                    judge.entry(repo, entry)
    judge.pushes.judge()
    records = [record for record in context.audit.records if record["kind"] == "direct_push"]
    dated = source.commits_between([(repo.repository, branch) for repo, branch in fallback], since, until)
    for repo, branch in fallback:
        rules = policy.for_repository(repo.repository)
        commits = dated[(repo.repository, branch)]
        brought = pull_request_commits(commits, branch)
        for commit in commits:
            if commit.oid in brought or not since <= commit.committed_date < until:
                continue
            pushed = Pushed(repo.repository, branch, commit.oid, (commit.oid,), None, None, "head_walk")
            records.append(push_record(pushed, commit, rules, run_id, policy.version))
    return records


class WindowSource(BranchSource, Protocol):
    """What the windowed (CLI) variant needs: the branch source, and branches' commits by committed date
    (the fallback where activity is not served), several branches a request."""

    def commits_between(
        self, branches: Sequence[BranchKey], since: datetime, until: datetime
    ) -> dict[BranchKey, list[Commit]]: ...
