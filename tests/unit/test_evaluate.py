"""Rule tables for the pure core: one readable id per case; Given a PR and a policy, Then the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pr_auditor.core.evaluate import (
    body_at_merge,
    emergency_evidence,
    evaluate,
    has_ticket_reference,
    is_in_scope,
    latest_opinions,
    title_at_merge,
)
from pr_auditor.core.model import Review, Verdict
from pr_auditor.core.policy import policy_from_mapping

from builders import HEAD, OLD, after_merge, body_edit, bot, label_event, pull_request, rename, review, user


@dataclass
class Case:
    id: str
    reviews: list[Review]
    verdict: Verdict
    codes: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    discounted: list[str] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=dict)
    pr: dict[str, Any] = field(default_factory=dict)


TICKET = r"[A-Z]{2,}-\d+"

CASES = [
    Case("one-writer-approval", [review("bob")], Verdict.COMPLIANT, approvers=["bob"]),
    Case("unreviewed", [], Verdict.NON_COMPLIANT, ["insufficient_approvals"]),
    Case(
        "self-approval",
        [review("alice")],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["alice: author"],
    ),
    Case(
        "self-approval-case-insensitive",
        [review("Alice")],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["Alice: author"],
    ),
    Case(
        "merger-is-not-an-implicit-approver",
        [],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        pr={"merged_by": user("carol")},
    ),
    Case("merger-who-approved-explicitly-counts", [review("bob")], Verdict.COMPLIANT, approvers=["bob"]),
    Case(
        "two-required-one-given",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        approvers=["bob"],
        policy={"required_approvals": 2},
    ),
    Case(
        "two-required-two-given",
        [review("bob"), review("carol")],
        Verdict.COMPLIANT,
        approvers=["bob", "carol"],
        policy={"required_approvals": 2},
    ),
    Case("zero-required-unreviewed", [], Verdict.COMPLIANT, policy={"required_approvals": 0}),
    Case(
        "same-reviewer-twice-counts-once",
        [review("bob", minutes_before_merge=20), review("bob", minutes_before_merge=5)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        approvers=["bob"],
        policy={"required_approvals": 2},
    ),
    Case(
        "later-comment-keeps-approval",
        [review("bob", minutes_before_merge=20), review("bob", "COMMENTED", minutes_before_merge=5)],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "approval-then-changes-requested",
        [review("bob", minutes_before_merge=20), review("bob", "CHANGES_REQUESTED", minutes_before_merge=5)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals", "changes_requested"],
    ),
    Case(
        "changes-requested-then-approval",
        [review("bob", "CHANGES_REQUESTED", minutes_before_merge=20), review("bob", minutes_before_merge=5)],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "approval-dismissed",
        [review("bob", "DISMISSED")],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: review dismissed"],
    ),
    Case(
        "standing-change-request-from-another-writer",
        [review("bob"), review("carol", "CHANGES_REQUESTED")],
        Verdict.NON_COMPLIANT,
        ["changes_requested"],
        approvers=["bob"],
    ),
    Case(
        "change-request-from-non-writer-is-not-blocking",
        [review("bob"), review("outsider", "CHANGES_REQUESTED", can_push=False)],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "bot-approval",
        [review("ci-bot", is_bot=True)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["ci-bot[bot]: bot"],
    ),
    Case(
        "bot-approval-allowed-by-policy",
        [review("ci-bot", is_bot=True)],
        Verdict.COMPLIANT,
        approvers=["ci-bot[bot]"],
        policy={"bot_approvals_count": True},
    ),
    Case(
        "approval-from-non-pusher",
        [review("dave", can_push=False)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["dave: cannot push"],
    ),
    Case(
        "stale-approval",
        [review("carol", commit=OLD)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=[f"carol: stale — approved {OLD[:7]}, merged head {HEAD[:7]}"],
    ),
    Case(
        "stale-approval-allowed-by-policy",
        [review("carol", commit=OLD)],
        Verdict.COMPLIANT,
        approvers=["carol"],
        policy={"count_stale_approvals": True},
    ),
    Case(
        "approval-without-commit-is-stale",
        [review("carol", commit=None)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=[f"carol: stale — approved unknown commit, merged head {HEAD[:7]}"],
    ),
    Case(
        "deleted-reviewer-never-counts",
        [review(None)],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["ghost: deleted account"],
    ),
    Case(
        "deleted-author-does-not-crash",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        pr={"author": None, "merged_by": None},
    ),
    Case(
        "pending-review-is-ignored",
        [review("bob", "PENDING")],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
    ),
    Case(
        "emergency-label-at-merge",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["emergency_label"],
        approvers=["bob"],
        pr={"labels": ("Emergency",), "label_events": (label_event("Emergency"),)},
    ),
    Case(
        "emergency-label-added-after-merge",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["emergency_label"],
        approvers=["bob"],
        pr={"labels": ("emergency",), "label_events": (label_event("emergency", minutes_after_merge=90),)},
    ),
    Case(
        "emergency-label-removed-before-merge",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        pr={
            "labels": (),
            "label_events": (
                label_event("emergency", minutes_after_merge=-60),
                label_event("emergency", added=False, minutes_after_merge=-30),
            ),
        },
    ),
    Case(
        "custom-emergency-label",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["emergency_label"],
        approvers=["bob"],
        policy={"emergency_labels": ["hotfix"]},
        pr={"labels": ("HOTFIX",)},
    ),
    Case(
        "exempt-author",
        [],
        Verdict.EXEMPT,
        policy={"exempt_authors": ["dependabot"]},
        pr={"author": bot("dependabot")},
    ),
    Case(
        "exempt-author-with-emergency-label",
        [],
        Verdict.NON_COMPLIANT,
        ["emergency_label", "insufficient_approvals"],
        policy={"exempt_authors": ["dependabot[bot]"]},
        pr={"author": bot("dependabot"), "labels": ("emergency",)},
    ),
    Case(
        "missing-ticket",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["missing_ticket"],
        approvers=["bob"],
        policy={"ticket_pattern": r"[A-Z]{2,}-\d+"},
    ),
    Case(
        "ticket-in-branch-name",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        policy={"ticket_pattern": r"[A-Z]{2,}-\d+"},
        pr={"head_ref": "OPS-123-fix-login"},
    ),
    Case(
        "ticket-in-body",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        policy={"ticket_pattern": r"[A-Z]{2,}-\d+"},
        pr={"body": "Fixes SEC-77"},
    ),
    # --- the verdict is what was true at merge --------------------------------------------------------
    Case(
        "approved-only-after-the-merge",
        [review("bob", minutes_before_merge=after_merge(40))],
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
    ),
    Case(
        "merged-over-a-change-request-then-approved",
        [review("bob"), review("carol", "CHANGES_REQUESTED"), review("carol", minutes_before_merge=after_merge(30))],
        Verdict.NON_COMPLIANT,
        ["changes_requested"],
        approvers=["bob"],
    ),
    Case(
        "change-request-raised-only-after-the-merge",
        [review("bob"), review("carol", "CHANGES_REQUESTED", minutes_before_merge=after_merge(30))],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "approval-withdrawn-after-the-merge-still-counts",
        [review("bob"), review("bob", "CHANGES_REQUESTED", minutes_before_merge=after_merge(5))],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "deleted-account-approving-after-the-merge-is-not-listed-as-discounted",
        [review("bob"), review(None, minutes_before_merge=after_merge(5))],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "review-in-the-second-of-the-merge-counts",
        [review("bob", minutes_before_merge=0)],
        Verdict.COMPLIANT,
        approvers=["bob"],
    ),
    Case(
        "ticket-added-to-the-title-after-the-merge",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["missing_ticket"],
        approvers=["bob"],
        policy={"ticket_pattern": TICKET},
        pr={
            "title": "OPS-9 Add rate limiting",
            "title_renames": (rename("Add rate limiting", "OPS-9 Add rate limiting", minutes_after_merge=20),),
        },
    ),
    Case(
        "ticket-removed-from-the-title-after-the-merge",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        policy={"ticket_pattern": TICKET},
        pr={
            "title": "Add rate limiting",
            "title_renames": (rename("OPS-9 Add rate limiting", "Add rate limiting", minutes_after_merge=20),),
        },
    ),
    Case(
        "title-renamed-before-the-merge",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        policy={"ticket_pattern": TICKET},
        pr={
            "title": "OPS-9 Add rate limiting",
            "title_renames": (rename("Add rate limiting", "OPS-9 Add rate limiting", minutes_after_merge=-20),),
        },
    ),
    Case(
        "ticket-added-to-the-body-after-the-merge",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["missing_ticket"],
        approvers=["bob"],
        policy={"ticket_pattern": TICKET},
        pr={
            "body": "Fixes SEC-77",
            "body_edits": (
                body_edit("Fixes SEC-77", minutes_after_merge=15),
                body_edit("Speeds things up", minutes_after_merge=-120),
            ),
        },
    ),
    Case(
        "ticket-added-to-the-body-before-the-merge",
        [review("bob")],
        Verdict.COMPLIANT,
        approvers=["bob"],
        policy={"ticket_pattern": TICKET},
        pr={
            "body": "Fixes SEC-77, faster",
            "body_edits": (
                body_edit("Speeds things up", minutes_after_merge=-120),
                body_edit("Fixes SEC-77", minutes_after_merge=-15),
                body_edit("Fixes SEC-77, faster", minutes_after_merge=60),
            ),
        },
    ),
    Case(
        "body-at-merge-deleted-from-the-history",
        [review("bob")],
        Verdict.NON_COMPLIANT,
        ["missing_ticket"],
        approvers=["bob"],
        policy={"ticket_pattern": TICKET},
        pr={
            "body": "Fixes SEC-77",
            "body_edits": (
                body_edit(None, minutes_after_merge=-120),
                body_edit("Fixes SEC-77", minutes_after_merge=15),
            ),
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_verdict_table(case: Case) -> None:
    # Given a merged PR with these reviews and this policy
    pr = pull_request(reviews=tuple(case.reviews), **case.pr)
    policy = policy_from_mapping(case.policy)
    # When it is evaluated
    result = evaluate(pr, policy.default, policy_version=policy.version)
    # Then the verdict, the violations and the approval accounting are as an auditor would expect
    assert result.verdict is case.verdict
    assert [v.code.value for v in result.violations] == case.codes
    assert list(result.approvers) == case.approvers
    assert [str(d) for d in result.discounted] == case.discounted
    assert result.policy_version == policy.version
    # And reviews submitted after the merge are kept as evidence, never dropped
    assert [r for r in result.post_merge_reviews] == [
        r for r in case.reviews if r.submitted_at and r.submitted_at > pr.merged_at
    ]


def test_post_merge_reviews_are_listed_oldest_first_with_their_state() -> None:
    pr = pull_request(
        reviews=(
            review("carol", "CHANGES_REQUESTED", minutes_before_merge=after_merge(50)),
            review("bob", minutes_before_merge=after_merge(40)),
            review("dave", "COMMENTED", minutes_before_merge=5),
        )
    )
    result = evaluate(pr, policy_from_mapping({}).default, policy_version="v")
    assert [(r.author.login if r.author else None, r.state.value) for r in result.post_merge_reviews] == [
        ("bob", "APPROVED"),
        ("carol", "CHANGES_REQUESTED"),
    ]
    assert result.verdict is Verdict.NON_COMPLIANT


@pytest.mark.parametrize(
    ("renames", "expected"),
    [
        ((), "now"),
        ((rename("before", "now", minutes_after_merge=-5),), "now"),
        (
            (rename("at merge", "later", minutes_after_merge=5), rename("later", "now", minutes_after_merge=9)),
            "at merge",
        ),
        (
            (rename("later", "now", minutes_after_merge=9), rename("at merge", "later", minutes_after_merge=5)),
            "at merge",
        ),
        (
            (rename("first", "at merge", minutes_after_merge=-5), rename("at merge", "now", minutes_after_merge=5)),
            "at merge",
        ),
    ],
    ids=["never-renamed", "renamed-before", "renamed-twice-after", "renames-out-of-order", "renamed-before-and-after"],
)
def test_title_at_merge_undoes_the_renames_after_the_merge(renames: tuple[object, ...], expected: str) -> None:
    assert title_at_merge(pull_request(title="now", title_renames=renames)) == expected


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ((), "now"),
        ((body_edit("now", minutes_after_merge=-60), body_edit("opened", minutes_after_merge=-90)), "now"),
        ((body_edit("now", minutes_after_merge=30), body_edit("opened", minutes_after_merge=-90)), "opened"),
        ((body_edit("now", minutes_after_merge=30), body_edit(None, minutes_after_merge=-90)), None),
        ((body_edit("now", minutes_after_merge=30),), None),
        ((body_edit("now", minutes_after_merge=30), body_edit("", minutes_after_merge=-90)), ""),
    ],
    ids=[
        "never-edited",
        "edited-before",
        "edited-after",
        "revision-deleted",
        "history-starts-after-merge",
        "opened-empty",
    ],
)
def test_body_at_merge_is_the_latest_revision_made_by_the_merge(
    edits: tuple[object, ...], expected: str | None
) -> None:
    assert body_at_merge(pull_request(body="now", body_edits=edits)) == expected


def test_missing_ticket_detail_says_the_body_could_not_be_read_and_names_no_text() -> None:
    pr = pull_request(
        head_ref="feature/\u2028evil",
        reviews=(review("bob"),),
        body="SEC-1",
        body_edits=(body_edit("SEC-1", minutes_after_merge=5), body_edit(None, minutes_after_merge=-60)),
    )
    policy = policy_from_mapping({"ticket_pattern": "SEC-[0-9]+"})
    (violation,) = evaluate(pr, policy.default, policy_version="v").violations
    assert "the body at merge could not be read" in violation.detail
    assert "evil" not in violation.detail and "SEC-1" not in violation.detail.replace("SEC-[0-9]+", "")


def test_insufficient_approvals_detail_names_every_discounted_approval() -> None:
    pr = pull_request(reviews=(review("alice"), review("ci-bot", is_bot=True), review("carol", commit=OLD)))
    policy = policy_from_mapping({"required_approvals": 1})
    detail = evaluate(pr, policy.default, policy_version="v").violations[0].detail
    assert detail == (
        "0 of 1 required approvals (counted: none); not counted: alice: author; ci-bot[bot]: bot; "
        f"carol: stale — approved {OLD[:7]}, merged head {HEAD[:7]}"
    )


def test_emergency_added_after_merge_records_who_and_when() -> None:
    pr = pull_request(
        labels=("emergency",), label_events=(label_event("emergency", by="mallory", minutes_after_merge=90),)
    )
    evidence = emergency_evidence(pr, policy_from_mapping({}).default)
    assert evidence is not None
    assert (evidence.present_at_merge, evidence.added_by, evidence.added_at) == (
        False,
        "mallory",
        pr.merged_at.replace(hour=13, minute=30),
    )


def test_emergency_label_present_without_timeline_counts_as_present_at_merge() -> None:
    evidence = emergency_evidence(pull_request(labels=("emergency",)), policy_from_mapping({}).default)
    assert evidence is not None and evidence.present_at_merge and evidence.added_by is None


def test_latest_opinion_ignores_comments_and_orders_by_submission_time() -> None:
    reviews = [review("bob", "CHANGES_REQUESTED", minutes_before_merge=5), review("bob", minutes_before_merge=50)]
    assert latest_opinions(reviews)["bob"].state.value == "CHANGES_REQUESTED"


@pytest.mark.parametrize(
    ("base", "default_branch", "branches", "expected"),
    [
        ("main", "main", None, True),
        ("develop", "develop", None, True),
        ("release/1.2", "main", None, False),
        ("release/1.2", "main", ["main", "release/*"], True),
        ("main", "main", ["release/*"], False),
    ],
    ids=["default-branch", "default-branch-any-name", "other-branch", "glob-match", "glob-excludes-default"],
)
def test_scope_by_branch(base: str, default_branch: str, branches: list[str] | None, expected: bool) -> None:
    policy = policy_from_mapping({"branches": branches} if branches else {})
    assert is_in_scope(pull_request(base=base, default_branch=default_branch), policy.default) is expected


def test_no_ticket_pattern_means_every_pr_has_a_ticket() -> None:
    assert has_ticket_reference(pull_request(title="no key here"), policy_from_mapping({}).default)
