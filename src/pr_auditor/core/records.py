"""Evaluation → record dict (the schema documented in docs/records.md), and the run summary. No I/O.

Records are data: stable keys, JSON-serialisable values. Alarms filter on ``kind``/``verdict``/
``emergency``/``status``, never on ``message`` or ``title`` (PR titles are attacker-controlled).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pr_auditor.core.errors import describe
from pr_auditor.core.model import (
    AuditEvent,
    Evaluation,
    Review,
    ReviewDismissal,
    RuleSuite,
    Verdict,
    Violation,
    ViolationCode,
    Window,
    iso,
)

SCHEMA_VERSION = 1
#: Top-level keys whose ``null`` is information (a deleted author, no merge commit, no review rule),
#: so every writer must keep them even where its defaults drop None values.
NULLABLE_KEYS = frozenset(
    {
        "author",
        "merged_by",
        "merge_commit_sha",
        "review_decision",
        "resume_from",
        "changed_by",
        "changed_at",
        "policy_version",  # null only in the failed summary of a run whose policy could not be read
        "committer",  # a direct push whose committer e-mail is linked to no account
        "new_head",  # a rewritten branch
        "pusher",  # a push found by the head walk: GitHub cannot say who pushed
        "pushed_at",  # the same
        "protection",  # unreadable protection
        "previous",  # protection seen for the first time
        "actor",  # a rule suite or audit-log event whose actor GitHub no longer names (a deleted account)
        "pull_request",  # an admin override that did not come from a PR merge
    }
)


def record_id(kind: str, *parts: str) -> str:
    """Deterministic identity of a record, so any consumer can dedupe: the same change always gets the same
    id, whichever run (or re-emission after a crash) wrote it. Parts per kind: ``pull_request``
    (repository, number, merge commit), ``direct_push`` (repository, branch, sha), ``history_rewrite``
    (repository, branch, old head, new head), ``protection`` (repository, branch, protection digest),
    ``policy_change`` (scope, previous version, new version, state revision), ``ruleset_bypass`` (repository,
    rule suite id), ``bypass`` (repository, audit-log document id), ``coverage`` (scope or repository, source,
    and the lost period or the audit-log document id). Repository names are case-insensitive."""
    digest = hashlib.sha256("\x1f".join((kind, *parts)).encode()).hexdigest()
    return f"{kind}:{digest[:32]}"


def pull_request_record_id(repository: str, number: int, merge_commit_sha: str | None) -> str:
    return record_id("pull_request", repository.casefold(), str(number), merge_commit_sha or "")


def pull_request_record(evaluation: Evaluation, *, window: Window, run_id: str) -> dict[str, Any]:
    """One record per audited PR — compliant ones too: auditors sample from the whole population."""
    pr = evaluation.pull_request
    record: dict[str, Any] = {
        "kind": "pull_request",
        "schema_version": SCHEMA_VERSION,
        "record_id": pull_request_record_id(pr.repository, pr.number, pr.merge_commit_sha),
        "repository": pr.repository,
        "number": pr.number,
        "url": pr.url,
        "title": pr.title,
        "author": pr.author.login if pr.author else None,
        "merged_by": pr.merged_by.login if pr.merged_by else None,
        "merged_at": iso(pr.merged_at),
        "base": pr.base,
        "head_ref": pr.head_ref,
        "head_sha": pr.head_sha,
        "merge_commit_sha": pr.merge_commit_sha,
        "labels": list(pr.labels),
        "verdict": evaluation.verdict.value,
        "violations": [{"code": v.code.value, "detail": v.detail} for v in evaluation.violations],
        "approvers": list(evaluation.approvers),
        "discounted_approvals": [str(d) for d in evaluation.discounted],
        "required_approvals": evaluation.required_approvals,
        "emergency": evaluation.emergency is not None,
        "review_decision": pr.review_decision,
        "archived_repository": pr.archived,
        "policy_version": evaluation.policy_version,
        "window": window.as_dict(),
        "run_id": run_id,
        "post_merge_reviews": [post_merge_review(r) for r in evaluation.post_merge_reviews],
        "post_merge_dismissals": [post_merge_dismissal(d) for d in evaluation.post_merge_dismissals],
        "message": message(evaluation),
    }
    if evaluation.emergency is not None:
        evidence = evaluation.emergency
        record["emergency_label"] = {
            "label": evidence.label,
            "present_at_merge": evidence.present_at_merge,
            "added_by": evidence.added_by,
            "added_at": iso(evidence.added_at) if evidence.added_at else None,
        }
    if evaluation.exempt_reason:
        record["exempt_reason"] = evaluation.exempt_reason
    return record


def post_merge_review(review: Review) -> dict[str, Any]:
    """A review submitted after the merge, as evidence: who, what, when (``login`` null: a deleted account)."""
    return {
        "login": review.author.login if review.author else None,
        "state": review.state.value,
        "submitted_at": iso(review.submitted_at) if review.submitted_at else None,
    }


def post_merge_dismissal(dismissal: ReviewDismissal) -> dict[str, Any]:
    """A review dismissed after the merge, as evidence: whose review, its state at merge (which the verdict
    kept), when it was dismissed and by whom (``null``: a deleted account)."""
    return {
        "login": dismissal.reviewer.login if dismissal.reviewer else None,
        "previous_state": dismissal.previous_state.value,
        "dismissed_at": iso(dismissal.at),
        "dismissed_by": dismissal.actor.login if dismissal.actor else None,
    }


def message(evaluation: Evaluation) -> str:
    """The human line: the PR's reference and each violation with its detail (who, how many of how many:
    ``insufficient_approvals: 1 of 2 required approvals (counted: bob)``). Non-compliant ones contain
    ``is non-compliant!`` (the phrase the classic Rewind filter matched) and still begin
    ``<ref> is non-compliant! violations: <first code>``. Nothing the PR's author writes (title, body, branch)
    appears in it: the details name logins, counts, the policy's own pattern and labels, and the line is
    ASCII (anything else escaped), so no one can forge or break it."""
    ref = f"{evaluation.pull_request.repository}#{evaluation.pull_request.number}"
    if evaluation.verdict is Verdict.NON_COMPLIANT:
        return f"{ref} is non-compliant! violations: {violations_line(evaluation.violations)}"
    if evaluation.verdict is Verdict.EXEMPT:
        return f"{ref} is exempt (author in exempt_authors)"
    return f"{ref} is compliant"


def violations_line(violations: Iterable[Violation]) -> str:
    """``code: detail; code: detail``, ASCII only (other characters backslash-escaped)."""
    line = "; ".join(f"{v.code.value}: {v.detail}" for v in violations)
    return line.encode("ascii", "backslashreplace").decode("ascii")


def _short(sha: str) -> str:
    return sha[:7]


def direct_push_record(
    *,
    repository: str,
    branch: str,
    sha: str,
    url: str,
    author: str | None,
    committer: str | None,
    committed_date: datetime,
    exempt: bool,
    run_id: str,
    policy_version: str,
    pusher: str | None = None,
    pushed_at: datetime | None = None,
    detected_by: str = "head_walk",
    claimed_identity: str | None = None,
) -> dict[str, Any]:
    """A commit on an in-scope branch that no merged PR brought in. ``pusher`` is who pushed (GitHub's
    repository activity; None where GitHub cannot say), ``author``/``committer`` what the commit claims.
    ``claimed_identity``: an exempt pusher's identity the commit claims though someone else pushed it.
    The message names only the repository, branch and short sha: commit messages and names are written by
    whoever pushed."""
    where = f"{repository}@{branch} {_short(sha)}"
    detail = f"commit {_short(sha)} reached {branch} without a merged pull request"
    if claimed_identity is not None:
        detail += f"; it claims to be {claimed_identity} (exempt) but was pushed by {pusher or 'an unknown pusher'}"
    record: dict[str, Any] = {
        "kind": "direct_push",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("direct_push", repository.casefold(), branch, sha),
        "repository": repository,
        "branch": branch,
        "sha": sha,
        "url": url,
        "pusher": pusher,
        "author": author,
        "committer": committer,
        "committed_date": iso(committed_date),
        "pushed_at": iso(pushed_at) if pushed_at is not None else None,
        "detected_by": detected_by,
        "verdict": (Verdict.EXEMPT if exempt else Verdict.NON_COMPLIANT).value,
        "violations": [] if exempt else [{"code": ViolationCode.NO_PULL_REQUEST.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": (
            f"{where} is exempt (pusher in exempt_pushers)"
            if exempt
            else f"{where} is non-compliant! {ViolationCode.NO_PULL_REQUEST.value}: {detail}"
        ),
    }
    if exempt:
        record["exempt_reason"] = "pusher is in exempt_pushers"
    if claimed_identity is not None:
        record["claimed_identity"] = claimed_identity
    return record


def history_rewrite_record(
    *,
    repository: str,
    branch: str,
    old_head: str,
    new_head: str | None,
    status: str,
    run_id: str,
    policy_version: str,
    pusher: str | None = None,
    pushed_at: datetime | None = None,
    detected_by: str = "head_walk",
) -> dict[str, Any]:
    """The last audited head is no longer an ancestor of the branch (force-push, reset, re-creation,
    deletion). ``pusher``: who force-pushed, from GitHub's repository activity (None where it cannot say)."""
    new = new_head or ""
    detail = (
        f"{branch} moved from {_short(old_head)} to {_short(new) or 'nothing'}, which does not contain it ({status})"
    )
    return {
        "kind": "history_rewrite",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("history_rewrite", repository.casefold(), branch, old_head, new),
        "repository": repository,
        "branch": branch,
        "old_head": old_head,
        "new_head": new_head,
        "comparison": status,
        "pusher": pusher,
        "pushed_at": iso(pushed_at) if pushed_at is not None else None,
        "detected_by": detected_by,
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.FORCE_PUSH.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{repository}@{branch} is non-compliant! {ViolationCode.FORCE_PUSH.value}: {detail}",
    }


def head_change_record(
    *, repository: str, branch: str, old_head: str, new_head: str, run_id: str, policy_version: str
) -> dict[str, Any]:
    """A branch head moved and no entry of GitHub's repository activity says who moved it or how: the
    commits are still judged (by the head walk), but the missing account is a finding of its own."""
    detail = f"{branch} moved from {_short(old_head)} to {_short(new_head)} and no activity entry explains it"
    return {
        "kind": "head_change",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("head_change", repository.casefold(), branch, old_head, new_head),
        "repository": repository,
        "branch": branch,
        "old_head": old_head,
        "new_head": new_head,
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.UNEXPLAINED_HEAD_CHANGE.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{repository}@{branch} is non-compliant! {ViolationCode.UNEXPLAINED_HEAD_CHANGE.value}: {detail}",
    }


def protection_record(
    *,
    repository: str,
    branch: str,
    protection: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    digest: str,
    weaknesses: list[str],
    missing_permission: str | None,
    run_id: str,
    policy_version: str,
) -> dict[str, Any]:
    """A branch's effective protection when first seen or changed (old → new). Weaker than the policy is
    non-compliant. Protection the credentials cannot read has status ``unknown`` — not unprotected, and not a
    failed run — and is a finding of its own (``protection_unreadable``): the control cannot be evidenced
    until someone grants the permission it names. The verdict keeps its three values."""
    where = f"{repository}@{branch}"
    violations = [{"code": ViolationCode.WEAK_PROTECTION.value, "detail": w} for w in weaknesses]
    if missing_permission is not None:
        verdict, status = Verdict.NON_COMPLIANT.value, "unknown"
        detail = f"protection cannot be read: the credentials lack {missing_permission}"
        violations = [{"code": ViolationCode.PROTECTION_UNREADABLE.value, "detail": detail}]
        message = f"{where} protection is unknown, non-compliant! {ViolationCode.PROTECTION_UNREADABLE.value}: {detail}"
    else:
        verdict = (Verdict.NON_COMPLIANT if weaknesses else Verdict.COMPLIANT).value
        status = "first_seen" if previous is None else "changed"
        message = (
            f"{where} protection ({status}) is non-compliant! {ViolationCode.WEAK_PROTECTION.value}: "
            + "; ".join(weaknesses)
            if weaknesses
            else f"{where} protection ({status}) meets the policy"
        )
    record: dict[str, Any] = {
        "kind": "protection",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("protection", repository.casefold(), branch, digest),
        "repository": repository,
        "branch": branch,
        "status": status,
        "protection": protection,
        "previous": previous,
        "weaker_than_policy": bool(weaknesses),
        "weaknesses": weaknesses,
        "verdict": verdict,
        "violations": violations,
        "run_id": run_id,
        "policy_version": policy_version,
        "message": message,
    }
    if missing_permission is not None:
        record["missing_permission"] = missing_permission
    return record


@dataclass(slots=True)
class RunStats:
    """What a run saw, accumulated as it goes; turned into the ``run_summary`` record at the end."""

    verdicts: Counter[str] = field(default_factory=Counter)
    out_of_scope: int = 0
    duplicates: int = 0  # returned twice within this run
    already_recorded: int = 0  # recorded by an earlier run (overlap, retry, backfill): no second finding
    late_indexed: int = 0  # newly recorded although merged before an earlier pass (the index lagged)
    recovered: int = 0  # records re-emitted for entries an interrupted run left pending
    notify_failed: int = 0  # findings whose message could not be published (retried by a later run)
    direct_pushes: int = 0  # commits no merged PR brought in (non-compliant or exempt)
    notes: list[str] = field(default_factory=list)  # said once per run (a source GitHub does not serve here)

    def count(self, evaluation: Evaluation) -> None:
        self.verdicts[evaluation.verdict.value] += 1

    def count_other(self, record: dict[str, Any]) -> None:
        if record.get("kind") == "direct_push":
            self.direct_pushes += 1

    @property
    def audited(self) -> int:
        return sum(self.verdicts.values())


def run_summary_record(
    *,
    run_id: str,
    orgs: tuple[str, ...],
    window: Window,
    stats: RunStats,
    github_requests: int,
    sub_windows: int,
    duration_seconds: float,
    policy_version: str | None,
    error: BaseException | None = None,
) -> dict[str, Any]:
    """The closing record of a run: the window, counts per verdict, GitHub requests, duration, status."""
    counts = {verdict.value: stats.verdicts.get(verdict.value, 0) for verdict in Verdict}
    counts.update(
        audited=stats.audited,
        out_of_scope=stats.out_of_scope,
        duplicates=stats.duplicates,
        already_recorded=stats.already_recorded,
        late_indexed=stats.late_indexed,
        recovered=stats.recovered,
        notify_failed=stats.notify_failed,
        direct_pushes=stats.direct_pushes,
    )
    status = "failed" if error else "completed"
    record: dict[str, Any] = {
        "kind": "run_summary",
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "orgs": list(orgs),
        "window": window.as_dict(),
        "counts": counts,
        "github_requests": github_requests,
        "sub_windows": sub_windows,
        "duration_seconds": round(duration_seconds, 3),
        "policy_version": policy_version,
        "message": (
            f"audit run {status}: {stats.audited} PRs audited, {counts['non_compliant']} non-compliant"
            + (f"; error: {describe(error)}" if error else "")
        ),
    }
    if error is not None:
        record["error"] = {"type": type(error).__name__, "message": describe(error)}
    if stats.notes:
        record["notes"] = list(dict.fromkeys(stats.notes))
    return record


def policy_change_record(
    *,
    scope: str,
    previous_version: str,
    policy_version: str,
    changes: list[dict[str, Any]],
    origin: dict[str, Any],
    run_id: str,
    revision: int = 0,
    policy: dict[str, Any] | None = None,
    previous_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The policy in force changed since the last run: which keys, old → new, and who changed it when the
    store can tell (``changed_by``/``changed_at``). Relaxing the rules is evidence, never silent. Given the
    canonical texts (``policy``, ``previous_policy``), the record carries them, so that the evidence page can
    show each version's text, not only its hash."""
    relaxed = [change["key"] for change in changes if change.get("relaxes")]
    keys = ", ".join(change["key"] for change in changes) or "formatting only"
    record: dict[str, Any] = {
        "kind": "policy_change",
        "schema_version": SCHEMA_VERSION,
        # The state revision makes A → B, B → A, A → B three changes; a crash before the revision moves
        # repeats the same id, so the change is still recorded once.
        "record_id": record_id("policy_change", scope, previous_version, policy_version, str(revision)),
        "scope": scope,
        "previous_policy_version": previous_version,
        "policy_version": policy_version,
        "changes": changes,
        "relaxed": bool(relaxed),
        "verdict": Verdict.COMPLIANT.value,
        "violations": [],
        "changed_by": origin.get("changed_by"),
        "changed_at": origin.get("changed_at"),
        "run_id": run_id,
        "message": f"audit policy changed ({previous_version} -> {policy_version}): {keys}"
        + (f"; relaxed: {', '.join(relaxed)}" if relaxed else ""),
    }
    if policy is not None:
        record["policy"] = policy
    if previous_policy is not None:
        record["previous_policy"] = previous_policy
    return record


def skipped_run_summary_record(
    *, run_id: str, orgs: tuple[str, ...], window: Window, held_by: str, held_until: datetime
) -> dict[str, Any]:
    """A run that found another run holding the stack's run lease: it audits nothing and says who holds the
    lease and until when (``status: skipped``). Neither completed nor failed: the holder does the work."""
    record = run_summary_record(
        run_id=run_id, orgs=orgs, window=window, stats=RunStats(), github_requests=0, sub_windows=0,
        duration_seconds=0.0, policy_version=None,
    )  # fmt: skip
    record.update(
        status="skipped",
        held_by={"run_id": held_by, "until": iso(held_until)},
        message=f"audit run skipped: run {held_by} holds the run lease until {iso(held_until)}",
    )
    return record


# --- GitHub's own records of bypasses and overrides (see docs/bypasses.md) ------------------------------


def _branch_of(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def ruleset_bypass_record(suite: RuleSuite, *, run_id: str, policy_version: str) -> dict[str, Any]:
    """A push GitHub let past failing ruleset rules because the pusher is on a bypass list (a rule suite
    with result ``bypass``). Always a finding: the bypass list is allowed to do it, ops must still see it.
    The rules bypassed are the active rules that failed; the message names only GitHub's own identifiers."""
    bypassed = [e for e in suite.evaluations if e.result == "fail" and e.enforcement == "active"]
    rulesets = sorted(
        {e.source_name or f"{e.source_type}:{e.source_id}" for e in bypassed if e.source_type == "ruleset"}
    )
    branch = _branch_of(suite.ref)
    rules = ", ".join(sorted({e.rule_type for e in bypassed})) or "no failing rule listed"
    detail = f"{suite.actor or 'a deleted account'} pushed {_short(suite.after_sha)} to {branch} past: {rules}"
    where = f"{suite.repository}@{branch}"
    return {
        "kind": "ruleset_bypass",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("ruleset_bypass", suite.repository.casefold(), str(suite.id)),
        "repository": suite.repository,
        "rule_suite_id": suite.id,
        "actor": suite.actor,
        "ref": suite.ref,
        "branch": branch,
        "before_sha": suite.before_sha,
        "after_sha": suite.after_sha,
        "pushed_at": iso(suite.pushed_at),
        "rules_bypassed": [
            {
                "rule_type": e.rule_type,
                "source_type": e.source_type,
                "source_id": e.source_id,
                "source_name": e.source_name,
                "details": e.details,
            }
            for e in bypassed
        ],
        "rulesets_bypassed": rulesets,
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.RULESET_BYPASS.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{where} is non-compliant! {ViolationCode.RULESET_BYPASS.value}: rule suite {suite.id}",
    }


def admin_bypass_record(
    event: AuditEvent, *, pull_request: dict[str, Any] | None, run_id: str, policy_version: str
) -> dict[str, Any]:
    """An administrator overrode branch protection (audit log ``protected_branch.policy_override``). When it
    came from a PR merge (``from: pull_requests#merge``) ``pull_request`` names the PR (number and url) and
    ``merge_commit_sha`` is the event's ``after``. Always a finding: see docs/bypasses.md for how the PR's own
    record is marked too."""
    fields = event.fields
    repository = event.repository or str(fields.get("org") or "")
    branch = _branch_of(str(fields.get("branch") or ""))
    from_merge = fields.get("from") == "pull_requests#merge"
    codes = [str(code) for code in fields.get("overridden_codes") or []]
    what = f"{repository}#{pull_request['number']}" if pull_request else f"{branch or 'a protected branch'}"
    detail = f"{event.actor or 'a deleted account'} overrode branch protection on {what}" + (
        f" ({', '.join(codes)})" if codes else ""
    )
    return {
        "kind": "bypass",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("bypass", repository.casefold(), event.document_id),
        "repository": repository,
        "branch": branch or None,
        "actor": event.actor,
        "at": iso(event.at),
        "action": event.action,
        "from": fields.get("from"),
        "before_sha": fields.get("before"),
        "after_sha": fields.get("after"),
        "merge_commit_sha": fields.get("after") if from_merge else None,
        "pull_request": pull_request,
        "overridden_codes": codes,
        "reasons": [
            {"code": r.get("code"), "message": r.get("message")}
            for r in fields.get("reasons") or []
            if isinstance(r, dict)
        ],
        "audit_log_document_id": event.document_id,
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.ADMIN_BYPASS.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{what} is non-compliant! {ViolationCode.ADMIN_BYPASS.value}: branch protection overridden",
    }


def mark_admin_bypass(record: dict[str, Any], bypass_record_id: str, actor: str | None) -> None:
    """Amend a ``pull_request`` record (before it is claimed) whose merge overrode branch protection: it gains
    ``admin_bypass: true`` and an ``admin_bypass`` violation, so it is a finding even when its reviews
    satisfied the policy. The record's verdict was what the reviews said; the override is what happened."""
    detail = f"merged by {actor or 'a deleted account'} overriding branch protection (audit log)"
    record["admin_bypass"] = True
    record["admin_bypass_record_id"] = bypass_record_id
    record["violations"] = [*record["violations"], {"code": ViolationCode.ADMIN_BYPASS.value, "detail": detail}]
    record["verdict"] = Verdict.NON_COMPLIANT.value
    codes = ", ".join(v["code"] for v in record["violations"])
    record["message"] = f"{record['repository']}#{record['number']} is non-compliant! violations: {codes}"


def coverage_gap_record(
    *, scope: str, source: str, lost_since: datetime, lost_until: datetime, run_id: str, policy_version: str
) -> dict[str, Any]:
    """A period a source can no longer be read for: the auditor read it last at ``lost_since`` and GitHub now
    looks back only to ``lost_until`` (rule suites: one month). What happened in between is lost for good."""
    days: list[str] = []
    day = lost_since.date()
    while day <= (lost_until - timedelta(microseconds=1)).date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    detail = (
        f"{source} not read from {iso(lost_since)} to {iso(lost_until)}: past GitHub's look-back ({len(days)} day(s))"
    )
    return {
        "kind": "coverage",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("coverage", scope, source, iso(lost_since), iso(lost_until)),
        "scope": scope,
        "source": source,
        "repository": None,
        "reason": "past_look_back",
        "lost": {"since": iso(lost_since), "until": iso(lost_until)},
        "days_lost": days,
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.COVERAGE_GAP.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{scope} coverage is non-compliant! {ViolationCode.COVERAGE_GAP.value}: {source}, {len(days)} day(s) lost",
    }


def repository_removed_record(
    event: AuditEvent, repository: str, *, run_id: str, policy_version: str
) -> dict[str, Any]:
    """A repository left the GitHub App installation (audit log ``integration_installation.repositories_removed``):
    from now on the auditor cannot see its changes."""
    detail = f"{event.actor or 'a deleted account'} removed {repository} from the auditor's installation"
    return {
        "kind": "coverage",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("coverage", repository.casefold(), "audit_log", event.document_id),
        "scope": str(event.fields.get("org") or repository.split("/", 1)[0]),
        "source": "audit_log",
        "repository": repository,
        "reason": "repositories_removed",
        "actor": event.actor,
        "at": iso(event.at),
        "audit_log_document_id": event.document_id,
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.COVERAGE_GAP.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{repository} coverage is non-compliant! {ViolationCode.COVERAGE_GAP.value}: removed from the installation",
    }


def protection_change_record(event: AuditEvent, *, run_id: str, policy_version: str) -> dict[str, Any]:
    """A protection or ruleset change the audit log names (``changed_by``) that no ``protection`` record of the
    branch audit matched in time (an organisation ruleset, say): kept as evidence, judged by the daily
    protection check, not by this record (verdict compliant)."""
    repository = event.repository or str(event.fields.get("org") or "")
    branch = event.fields.get("branch") or event.fields.get("name")
    return {
        "kind": "protection",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("protection", repository.casefold(), "audit_log", event.document_id),
        "repository": repository,
        "branch": _branch_of(str(branch)) if branch else None,
        "status": "changed_in_audit_log",
        "protection": None,
        "previous": None,
        "weaker_than_policy": False,
        "weaknesses": [],
        "changed_by": event.actor,
        "changed_at": iso(event.at),
        "audit_log_changes": [{"action": event.action, "actor": event.actor, "at": iso(event.at)}],
        "verdict": Verdict.COMPLIANT.value,
        "violations": [],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{repository} protection changed ({event.action}) by {event.actor or 'a deleted account'}",
    }


def state_reset_record(
    *, scope: str, stream: str, manifest_key: str, seq: int, sha256: str, run_id: str
) -> dict[str, Any]:
    """The state table had lost the head of an evidence chain while the archive holds a chain signed by the
    auditor: the table was emptied, restored or replaced (which also resets the watermark, the branch heads
    and the policy in force). The chain continues from its last signed manifest; this record says so."""
    return {
        "kind": "state_reset",
        "schema_version": SCHEMA_VERSION,
        # One per lost head: the same chain restored from the same manifest is the same reset.
        "record_id": record_id("state_reset", scope, stream, str(seq), sha256),
        "scope": scope,
        "stream": stream,
        "restored_from": {"manifest_key": manifest_key, "seq": seq, "sha256": sha256},
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [
            {
                "code": "state_reset",
                "detail": f"the chain head of {scope}/{stream} was gone from the state table; "
                f"continued from seq {seq} in the archive",
            }
        ],
        "run_id": run_id,
        "message": f"audit state was reset: the evidence chain {scope}/{stream} lost its head (restored from "
        f"seq {seq}); the watermark, branch heads and policy history may be gone too",
    }
