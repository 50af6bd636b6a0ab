"""Pure evaluation: (PullRequest, RepoPolicy) → Evaluation. One small rule per question; no I/O.

The approval semantics are the README's ("How the verdict is reached"): per reviewer only the latest
opinionated review counts, and an approval counts only if it is not the author's, not a bot's (unless
allowed), not by someone who wrote a commit of the PR (unless allowed), from someone who can push, and given
on the head that was merged (unless stale ones are allowed).

The verdict is what was true when the change went in: reviews submitted after the merge neither approve nor
block (GitHub accepts reviews on merged PRs), reviews dismissed after it keep their state, and the ticket reference is read from the title and body as they
were at the merge (later renames and edits undone). See docs/verdict-at-merge.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from pr_auditor.core.model import (
    OPINIONATED_STATES,
    Discounted,
    EmergencyEvidence,
    Evaluation,
    LabelEvent,
    PullRequest,
    Review,
    ReviewDismissal,
    ReviewState,
    TitleRename,
    Verdict,
    Violation,
    ViolationCode,
    iso,
)
from pr_auditor.core.policy import RepoPolicy

# --- reviews -------------------------------------------------------------------------------------


def is_submitted_after_merge(review: Review, pr: PullRequest) -> bool:
    """Was the review submitted after the PR was merged? GitHub accepts reviews on merged PRs, so an
    approval (or a change request) given afterwards did not authorise (or block) the change that went in.
    It is listed in the record as ``post_merge_reviews`` and never changes the verdict. Timestamps are to
    the second; a review in the merge's own second counts as before it. Fix: none; review before merging."""
    return review.submitted_at is not None and review.submitted_at > pr.merged_at


def is_dismissed_after_merge(dismissal: ReviewDismissal, pr: PullRequest) -> bool:
    """Was the review dismissed after the PR was merged? GitHub lets a maintainer dismiss a review on a merged
    PR, and the review then reads ``DISMISSED`` for good: a change request dismissed an hour after the merge
    would otherwise clear a merge over an objection. For the verdict such a review keeps the state it had
    (``previousReviewState``); the record lists the dismissal. The merge's own second counts as before it.
    Fix: none; dismiss before merging (with a reason)."""
    return dismissal.at > pr.merged_at


def state_at_merge(review: Review, pr: PullRequest) -> Review:
    """The review as it stood at the merge: a review dismissed only after the merge gets its previous state
    back. A ``DISMISSED`` review with no dismissal event read stays dismissed."""
    if review.state is not ReviewState.DISMISSED or review.id is None:
        return review
    dismissals = [d for d in pr.dismissals if d.review_id == review.id]
    if not dismissals:
        return review
    first = min(dismissals, key=lambda d: d.at)
    return replace(review, state=first.previous_state) if is_dismissed_after_merge(first, pr) else review


def reviews_at_merge(pr: PullRequest) -> tuple[Review, ...]:
    """The reviews that existed when the PR was merged, in the state they had then: the verdict's material."""
    return tuple(state_at_merge(r, pr) for r in pr.reviews if not is_submitted_after_merge(r, pr))


def post_merge_dismissals(pr: PullRequest) -> tuple[ReviewDismissal, ...]:
    """Dismissals after the merge, oldest first: evidence for auditors, not part of the verdict."""
    return tuple(sorted((d for d in pr.dismissals if is_dismissed_after_merge(d, pr)), key=lambda d: d.at))


def post_merge_reviews(pr: PullRequest) -> tuple[Review, ...]:
    """Reviews submitted after the merge, oldest first: evidence for auditors, not part of the verdict."""
    later = (r for r in pr.reviews if is_submitted_after_merge(r, pr))
    return tuple(sorted(later, key=lambda r: r.submitted_at or pr.merged_at))


def latest_opinions(reviews: Iterable[Review]) -> dict[str, Review]:
    """Each reviewer's latest opinionated review (APPROVED, CHANGES_REQUESTED, DISMISSED).

    Why: GitHub keeps every review; a reviewer who approved and later requested changes has withdrawn
    the approval, while a later COMMENTED review says nothing about the change. DISMISSED is the state
    GitHub gives a review an admin dismissed, so it withdraws what it said. PENDING reviews were never
    submitted. Reviews by deleted accounts (no author) cannot be attributed and are left out here.
    """
    latest: dict[str, Review] = {}
    ordered = sorted(
        (r for r in reviews if r.author is not None and r.state in OPINIONATED_STATES),
        key=lambda r: (r.submitted_at is None, r.submitted_at),
    )
    for review in ordered:
        assert review.author is not None
        latest[review.author.login.casefold()] = review
    return latest


def is_by_the_author(review: Review, pr: PullRequest) -> bool:
    """Is this review the PR author's own? An author's approval never counts: nobody authorises their
    own change. Fix: ask another maintainer to review."""
    return (
        review.author is not None
        and pr.author is not None
        and review.author.login.casefold() == pr.author.login.casefold()
    )


def is_bot_approval(review: Review) -> bool:
    """Is this approval from a bot (``…[bot]`` / Actor type Bot)? Bots do not count unless the policy
    says ``bot_approvals_count: true``. Fix: a human reviewer approves, or the policy allows bots."""
    return review.author is not None and review.author.is_bot


def is_contributor_approval(review: Review, pr: PullRequest) -> bool:
    """Did the approver author, commit or co-author (``Co-authored-by``) a commit of the PR? Then the approval
    is not independent: segregation of duties wants someone who wrote none of the change to authorise it.
    These identities are client-set text, so this can only withdraw an approval, never grant anything.
    Fix: another maintainer reviews, or the policy sets ``allow_contributor_approvals: true``."""
    if review.author is None:
        return False
    login = review.author.login.casefold()
    return any(contributor.login.casefold() == login for contributor in pr.contributors)


def can_reviewer_push(review: Review) -> bool:
    """Could the reviewer push to the repository (``authorCanPushToRepository``)? Only people who could
    have merged the change themselves can authorise it. Fix: a maintainer with write access reviews."""
    return review.author_can_push


def is_approval_on_merged_head(review: Review, pr: PullRequest) -> bool:
    """Was the approval given on the commit that was merged (the PR's final head)? An approval of an
    earlier commit did not see the last push. Fix: re-request review after pushing, or enable
    "dismiss stale approvals" in branch protection."""
    return review.commit_oid is not None and review.commit_oid == pr.head_sha


def discount_reason(review: Review, pr: PullRequest, policy: RepoPolicy) -> str | None:
    """Why an approval does not count, or None if it counts. The first failing rule is the reason."""
    if is_by_the_author(review, pr):
        return "author"
    if is_bot_approval(review) and not policy.bot_approvals_count:
        return "bot"
    if not policy.allow_contributor_approvals and is_contributor_approval(review, pr):
        return "contributor"
    if not can_reviewer_push(review):
        return "cannot push"
    if not policy.count_stale_approvals and not is_approval_on_merged_head(review, pr):
        return f"stale — approved {_short(review.commit_oid)}, merged head {_short(pr.head_sha)}"
    return None


@dataclass(frozen=True, slots=True)
class ApprovalTally:
    approvers: tuple[str, ...]
    discounted: tuple[Discounted, ...]
    standing_change_requests: tuple[str, ...]


def tally_approvals(pr: PullRequest, policy: RepoPolicy) -> ApprovalTally:
    """Which approvals count, which do not (and why), and whose change requests still stand at merge.
    Only reviews submitted by the merge are looked at."""
    approvers: list[str] = []
    discounted: list[Discounted] = []
    requests: list[str] = []
    at_merge = reviews_at_merge(pr)
    for review in latest_opinions(at_merge).values():
        assert review.author is not None
        login = review.author.login
        if review.state is ReviewState.APPROVED:
            reason = discount_reason(review, pr, policy)
            if reason is None:
                approvers.append(login)
            else:
                discounted.append(Discounted(login, reason))
        elif review.state is ReviewState.DISMISSED:
            discounted.append(Discounted(login, "review dismissed"))
        elif has_standing_change_request(review, pr):
            requests.append(login)
    for review in at_merge:
        if review.author is None and review.state is ReviewState.APPROVED:
            discounted.append(Discounted("ghost", "deleted account"))
    return ApprovalTally(tuple(sorted(approvers)), tuple(discounted), tuple(sorted(requests)))


def has_standing_change_request(review: Review, pr: PullRequest) -> bool:
    """Did a reviewer who can push still have CHANGES_REQUESTED as their latest opinion at merge?

    Why: merging over an objection from a maintainer is a change nobody authorised. Fix: resolve the
    objection and have the reviewer approve, or dismiss the review with a reason.
    """
    return review.state is ReviewState.CHANGES_REQUESTED and review.author_can_push and not is_by_the_author(review, pr)


# --- labels, exemptions, tickets -------------------------------------------------------------------


def emergency_evidence(pr: PullRequest, policy: RepoPolicy) -> EmergencyEvidence | None:
    """Was an emergency label on the PR at merge, or added afterwards? Either makes it an emergency change.

    The timeline is replayed up to the merge to know what was present then; a label added after the
    merge is a retroactive justification, which auditors want to see with who added it and when. A label
    present now with no timeline event (history beyond what was read) is treated as present at merge.
    """
    at_merge: dict[str, LabelEvent] = {}
    added_later: dict[str, LabelEvent] = {}
    for event in sorted(pr.label_events, key=lambda e: e.at):
        if not policy.is_emergency_label(event.label):
            continue
        name = event.label.casefold()
        if event.at <= pr.merged_at:
            if event.added:
                at_merge[name] = event
            else:
                at_merge.pop(name, None)
        elif event.added and name not in at_merge:
            added_later.setdefault(name, event)
    seen_in_timeline = {e.label.casefold() for e in pr.label_events}
    for label in pr.labels:
        if policy.is_emergency_label(label) and label.casefold() not in seen_in_timeline:
            return EmergencyEvidence(label=label, present_at_merge=True, added_by=None, added_at=None)
    for events, present in ((at_merge, True), (added_later, False)):
        for event in events.values():
            return EmergencyEvidence(
                label=event.label,
                present_at_merge=present,
                added_by=event.actor.login if event.actor else None,
                added_at=event.at,
            )
    return None


def is_exempt_author(pr: PullRequest, policy: RepoPolicy) -> bool:
    """Is the author listed in ``exempt_authors`` (e.g. a dependency bot)? Such PRs are ``exempt``
    unless they carry an emergency label. Deleted authors are never exempt."""
    return pr.author is not None and policy.is_exempt_login(pr.author.login)


def title_at_merge(pr: PullRequest) -> str:
    """The title as it was when the PR was merged: renames after the merge are undone.

    Each ``RenamedTitleEvent`` records the title before and after it, so the title at merge is the
    ``previous`` title of the first rename after the merge, or the current title if there was none.
    """
    later = [rename for rename in pr.title_renames if rename.at > pr.merged_at]
    if not later:
        return pr.title
    first: TitleRename = min(later, key=lambda rename: rename.at)
    return first.previous


def body_at_merge(pr: PullRequest) -> str | None:
    """The description as it was when the PR was merged, or None if GitHub no longer holds that revision.

    A description not edited since the merge is the current body. Otherwise the history holds every
    revision, the first being the text the PR was opened with; the body at merge is the latest revision
    made by the merge. Its text is missing when someone deleted that revision from the history (GitHub lets
    the author and maintainers do so), when it predates GitHub's edit history, or when the history came
    back empty although the description was edited after the merge.
    """
    if not pr.body_edits:
        edited_later = pr.body_edited_at is not None and pr.body_edited_at > pr.merged_at
        return None if edited_later else pr.body
    by_merge = [edit for edit in pr.body_edits if edit.at <= pr.merged_at]
    if not by_merge:
        return None
    return max(by_merge, key=lambda edit: edit.at).text


@dataclass(frozen=True, slots=True)
class TicketCheck:
    """Whether a ticket reference was found at merge, and whether the body at merge could be read."""

    found: bool
    body_read: bool = True


def ticket_check(pr: PullRequest, policy: RepoPolicy) -> TicketCheck:
    """Search ``ticket_pattern`` in the title, body and head branch as they were at merge. A body at merge
    that cannot be read is not searched (never replaced by today's body, which anyone may have edited)."""
    pattern = policy.ticket_pattern
    if pattern is None:
        return TicketCheck(found=True)
    body = body_at_merge(pr)
    texts = (title_at_merge(pr), body or "", pr.head_ref)
    return TicketCheck(found=any(pattern.search(text) for text in texts if text), body_read=body is not None)


def has_ticket_reference(pr: PullRequest, policy: RepoPolicy) -> bool:
    """Did the title, body or head branch match ``ticket_pattern`` at merge? True when no pattern is set.
    Edits after the merge do not count: a ticket added afterwards did not authorise the change.
    Fix: put the ticket key (e.g. ``OPS-123``) in the title or branch name before merging."""
    return ticket_check(pr, policy).found


def is_in_scope(pr: PullRequest, policy: RepoPolicy) -> bool:
    """Does the PR target a branch the policy covers (``branches`` globs; default: the default branch)?
    PRs into other branches are counted but are not findings."""
    return policy.branch_in_scope(pr.base, pr.default_branch)


# --- the verdict -----------------------------------------------------------------------------------


def evaluate(pr: PullRequest, policy: RepoPolicy, *, policy_version: str) -> Evaluation:
    """Judge one in-scope merged PR. Exempt authors short-circuit unless the change is an emergency."""
    tally = tally_approvals(pr, policy)
    emergency = emergency_evidence(pr, policy)
    exempt_reason: str | None = None
    violations: tuple[Violation, ...] = ()
    if emergency is None and is_exempt_author(pr, policy):
        assert pr.author is not None
        exempt_reason = f"author {pr.author.login} is in exempt_authors"
        verdict = Verdict.EXEMPT
    else:
        violations = tuple(_violations(pr, policy, tally, emergency))
        verdict = Verdict.NON_COMPLIANT if violations else Verdict.COMPLIANT
    return Evaluation(
        pull_request=pr,
        verdict=verdict,
        violations=violations,
        approvers=tally.approvers,
        discounted=tally.discounted,
        required_approvals=policy.required_approvals,
        policy_version=policy_version,
        emergency=emergency,
        exempt_reason=exempt_reason,
        post_merge_reviews=post_merge_reviews(pr),
        post_merge_dismissals=post_merge_dismissals(pr),
    )


def _violations(
    pr: PullRequest, policy: RepoPolicy, tally: ApprovalTally, emergency: EmergencyEvidence | None
) -> Iterable[Violation]:
    if emergency is not None:
        yield Violation(ViolationCode.EMERGENCY_LABEL, _emergency_detail(emergency))
    if len(tally.approvers) < policy.required_approvals:
        yield Violation(ViolationCode.INSUFFICIENT_APPROVALS, _approvals_detail(tally, policy))
    if tally.standing_change_requests:
        who = ", ".join(tally.standing_change_requests)
        yield Violation(ViolationCode.CHANGES_REQUESTED, f"changes still requested at merge by {who}")
    ticket = ticket_check(pr, policy)
    if not ticket.found:
        assert policy.ticket_pattern is not None
        yield Violation(ViolationCode.MISSING_TICKET, _ticket_detail(policy.ticket_pattern.pattern, ticket))


def _ticket_detail(pattern: str, ticket: TicketCheck) -> str:
    """Names the pattern and where it was looked for, never the texts (they are author-controlled)."""
    if ticket.body_read:
        return f"no match for /{pattern}/ in the title, body or head branch as they were at merge"
    return (
        f"no match for /{pattern}/ in the title or head branch as they were at merge; the body at merge could "
        "not be read (that revision is missing from its edit history), so the body was not searched"
    )


def _approvals_detail(tally: ApprovalTally, policy: RepoPolicy) -> str:
    counted = ", ".join(tally.approvers) or "none"
    detail = f"{len(tally.approvers)} of {policy.required_approvals} required approvals (counted: {counted})"
    if tally.discounted:
        detail += "; not counted: " + "; ".join(str(d) for d in tally.discounted)
    return detail


def _emergency_detail(evidence: EmergencyEvidence) -> str:
    who = f" by {evidence.added_by}" if evidence.added_by else ""
    when = f" at {iso(evidence.added_at)}" if evidence.added_at else ""
    if evidence.present_at_merge:
        added = f" (added{who}{when})" if who or when else ""
        return f"label {evidence.label!r} present at merge{added}"
    return f"label {evidence.label!r} added after merge{who}{when}"


def _short(oid: str | None) -> str:
    return oid[:7] if oid else "unknown commit"
