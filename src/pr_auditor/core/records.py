"""Evaluation → record dict (the schema documented in the README, "Records"), and the run summary. No I/O.

Records are data: stable keys, JSON-serialisable values. Alarms filter on ``kind``/``verdict``/
``emergency``/``status``, never on ``message`` or ``title`` (PR titles are attacker-controlled).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pr_auditor.core.errors import describe
from pr_auditor.core.model import Evaluation, Review, Verdict, ViolationCode, Window, iso

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
        "protection",  # unreadable protection
        "previous",  # protection seen for the first time
    }
)


def record_id(kind: str, *parts: str) -> str:
    """Deterministic identity of a record, so any consumer can dedupe: the same change always gets the same
    id, whichever run (or re-emission after a crash) wrote it. Parts per kind: ``pull_request``
    (repository, number, merge commit), ``direct_push`` (repository, branch, sha), ``history_rewrite``
    (repository, branch, old head, new head), ``protection`` (repository, branch, protection digest),
    ``policy_change`` (scope, previous version, new version, state revision). Repository names are case-insensitive."""
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


def message(evaluation: Evaluation) -> str:
    """The human line: the PR's reference and the violation codes, nothing else. Non-compliant ones contain
    ``is non-compliant!`` (the phrase the classic Rewind filter matched). Nothing the PR's author controls
    (title, body, branch, label names) appears in it, so no one can forge or break the line; the details
    are in ``violations``."""
    ref = f"{evaluation.pull_request.repository}#{evaluation.pull_request.number}"
    if evaluation.verdict is Verdict.NON_COMPLIANT:
        return f"{ref} is non-compliant! violations: {', '.join(v.code.value for v in evaluation.violations)}"
    if evaluation.verdict is Verdict.EXEMPT:
        return f"{ref} is exempt (author in exempt_authors)"
    return f"{ref} is compliant"


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
) -> dict[str, Any]:
    """A commit on an in-scope branch that no merged PR brought in. The message names only the repository,
    branch and short sha: commit messages and names are written by whoever pushed."""
    where = f"{repository}@{branch} {_short(sha)}"
    detail = f"commit {_short(sha)} reached {branch} without a merged pull request"
    record: dict[str, Any] = {
        "kind": "direct_push",
        "schema_version": SCHEMA_VERSION,
        "record_id": record_id("direct_push", repository.casefold(), branch, sha),
        "repository": repository,
        "branch": branch,
        "sha": sha,
        "url": url,
        "author": author,
        "committer": committer,
        "committed_date": iso(committed_date),
        "verdict": (Verdict.EXEMPT if exempt else Verdict.NON_COMPLIANT).value,
        "violations": [] if exempt else [{"code": ViolationCode.NO_PULL_REQUEST.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": (
            f"{where} is exempt (committer in exempt_pushers)"
            if exempt
            else f"{where} is non-compliant! {ViolationCode.NO_PULL_REQUEST.value}: {detail}"
        ),
    }
    if exempt:
        record["exempt_reason"] = "committer is in exempt_pushers"
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
) -> dict[str, Any]:
    """The last audited head is no longer an ancestor of the branch (force-push, reset, re-creation)."""
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
        "verdict": Verdict.NON_COMPLIANT.value,
        "violations": [{"code": ViolationCode.FORCE_PUSH.value, "detail": detail}],
        "run_id": run_id,
        "policy_version": policy_version,
        "message": f"{repository}@{branch} is non-compliant! {ViolationCode.FORCE_PUSH.value}: {detail}",
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
) -> dict[str, Any]:
    """The policy in force changed since the last run: which keys, old → new, and who changed it when the
    store can tell (``changed_by``/``changed_at``). Relaxing the rules is evidence, never silent."""
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
    return record


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
