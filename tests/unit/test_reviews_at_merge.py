"""Reviews as they stood at the merge, and approvals that are really independent (pure rules, table tests).

- A review dismissed after ``mergedAt`` keeps its previous state for the verdict (``ReviewDismissedEvent``);
  the record lists the dismissal in ``post_merge_dismissals``.
- An approval by someone who authored, committed or co-authored a commit of the PR is discounted
  (``contributor``) unless ``allow_contributor_approvals`` is set, globally or for the repository.
- Emergency labels added or removed in the merge's own second, and ``relaxes("emergency_labels")``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from pr_auditor.core.errors import PolicyError
from pr_auditor.core.evaluate import emergency_evidence, evaluate
from pr_auditor.core.model import Actor, Contributor, ReviewDismissal, ReviewState, Verdict, Window
from pr_auditor.core.policy import canonical_policy, parse_policy, policy_changes, policy_from_mapping, relaxes
from pr_auditor.core.records import pull_request_record

from builders import MERGED_AT, after_merge, label_event, pull_request, review

WINDOW = Window(MERGED_AT - timedelta(hours=12), MERGED_AT + timedelta(hours=12))

# --- dismissals -------------------------------------------------------------------------------------------


def dismissed(login: str, was: str, *, minutes_after_merge: int, review_id: str = "PRR_1") -> tuple[Any, Any]:
    """A review by ``login`` that read ``was`` until an admin dismissed it ``minutes_after_merge`` after the
    merge (negative: before it): the review as GitHub shows it today, and its dismissal event."""
    shown = replace(review(login, "DISMISSED"), id=review_id)
    event = ReviewDismissal(
        review_id=review_id,
        reviewer=Actor.of(login),
        previous_state=ReviewState(was),
        at=MERGED_AT + timedelta(minutes=minutes_after_merge),
        actor=Actor.of("olivia-admin"),
    )
    return shown, event


@dataclass
class Case:
    id: str
    verdict: Verdict
    codes: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    discounted: list[str] = field(default_factory=list)
    reviews: tuple[Any, ...] = ()
    pr: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)


def with_dismissal(login: str, was: str, minutes: int, *others: Any, event_for: str = "PRR_1") -> dict[str, Any]:
    shown, event = dismissed(login, was, minutes_after_merge=minutes)
    return {"reviews": (*others, shown), "dismissals": (replace(event, review_id=event_for),)}


DISMISSAL_CASES = [
    Case(
        "change-request-dismissed-five-minutes-after-the-merge",
        Verdict.NON_COMPLIANT,
        ["changes_requested"],
        approvers=["bob"],
        pr=with_dismissal("carol", "CHANGES_REQUESTED", 5, review("bob")),
    ),
    Case(
        "change-request-dismissed-before-the-merge",
        Verdict.COMPLIANT,
        approvers=["bob"],
        discounted=["carol: review dismissed"],
        pr=with_dismissal("carol", "CHANGES_REQUESTED", -5, review("bob")),
    ),
    Case(
        "change-request-dismissed-in-the-merge-s-own-second",
        Verdict.COMPLIANT,
        approvers=["bob"],
        discounted=["carol: review dismissed"],
        pr=with_dismissal("carol", "CHANGES_REQUESTED", 0, review("bob")),
    ),
    Case(
        "approval-dismissed-after-the-merge-still-counted-at-the-merge",
        Verdict.COMPLIANT,
        approvers=["bob"],
        pr=with_dismissal("bob", "APPROVED", 30),
    ),
    Case(
        "approval-dismissed-before-the-merge",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: review dismissed"],
        pr=with_dismissal("bob", "APPROVED", -30),
    ),
    Case(
        "a-dismissal-of-another-review-restores-nothing",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: review dismissed"],
        pr=with_dismissal("bob", "APPROVED", 30, event_for="PRR_other"),
    ),
]


@pytest.mark.parametrize("case", DISMISSAL_CASES, ids=[c.id for c in DISMISSAL_CASES])
def test_a_review_dismissed_after_the_merge_keeps_its_state_for_the_verdict(case: Case) -> None:
    # Given a merged PR whose review was dismissed at some moment
    pr = pull_request(**case.pr)
    # When it is evaluated
    result = evaluate(pr, policy_from_mapping(case.policy).default, policy_version="v")
    # Then the review counts as it stood at the merge
    assert result.verdict is case.verdict
    assert [v.code.value for v in result.violations] == case.codes
    assert list(result.approvers) == case.approvers
    assert [str(d) for d in result.discounted] == case.discounted
    # And only dismissals after the merge are listed as evidence
    assert result.post_merge_dismissals == tuple(d for d in pr.dismissals if d.at > MERGED_AT)


def test_a_dismissed_review_without_its_event_stays_dismissed() -> None:
    shown, _ = dismissed("carol", "CHANGES_REQUESTED", minutes_after_merge=5)
    result = evaluate(pull_request(reviews=(review("bob"), shown)), policy_from_mapping({}).default, policy_version="v")
    assert result.verdict is Verdict.COMPLIANT
    assert [str(d) for d in result.discounted] == ["carol: review dismissed"]


def test_the_record_lists_dismissals_after_the_merge_oldest_first_beside_post_merge_reviews() -> None:
    # Given a change request dismissed 5 minutes after the merge, an approval dismissed 30 minutes after it, and
    # a review given after the merge
    carol, carol_event = dismissed("carol", "CHANGES_REQUESTED", minutes_after_merge=5, review_id="PRR_c")
    bob, bob_event = dismissed("bob", "APPROVED", minutes_after_merge=30, review_id="PRR_b")
    late = review("dave", minutes_before_merge=after_merge(40))
    pr = pull_request(reviews=(bob, carol, late), dismissals=(bob_event, carol_event))
    # When it is recorded
    evaluation = evaluate(pr, policy_from_mapping({}).default, policy_version="v")
    record = json.loads(json.dumps(pull_request_record(evaluation, window=WINDOW, run_id="r")))
    # Then the verdict is the merge's, and both dismissals are evidence, oldest first
    assert record["verdict"] == "non_compliant"
    assert [v["code"] for v in record["violations"]] == ["changes_requested"]
    assert record["approvers"] == ["bob"]
    assert record["post_merge_dismissals"] == [
        {
            "login": "carol",
            "previous_state": "CHANGES_REQUESTED",
            "dismissed_at": "2026-11-20T12:05:00Z",
            "dismissed_by": "olivia-admin",
        },
        {
            "login": "bob",
            "previous_state": "APPROVED",
            "dismissed_at": "2026-11-20T12:30:00Z",
            "dismissed_by": "olivia-admin",
        },
    ]
    assert [r["login"] for r in record["post_merge_reviews"]] == ["dave"]


# --- contributors -----------------------------------------------------------------------------------------

BOB_WROTE = (Contributor("alice", "author", "a" * 40), Contributor("bob", "author", "b" * 40))
BOB_COMMITTED = (Contributor("alice", "author", "a" * 40), Contributor("bob", "committer", "a" * 40))
BOB_CO_AUTHORED = (Contributor("alice", "author", "a" * 40), Contributor("Bob", "co-author", "a" * 40))

CONTRIBUTOR_CASES = [
    Case(
        "approver-authored-a-commit",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: contributor"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_WROTE},
    ),
    Case(
        "approver-committed-a-commit",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: contributor"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_COMMITTED},
    ),
    Case(
        "approver-co-authored-a-commit-case-insensitively",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: contributor"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_CO_AUTHORED},
    ),
    Case(
        "an-independent-approver-still-counts",
        Verdict.COMPLIANT,
        approvers=["carol"],
        discounted=["bob: contributor"],
        reviews=(review("bob"), review("carol")),
        pr={"contributors": BOB_WROTE},
    ),
    Case(
        "allowed-by-the-policy",
        Verdict.COMPLIANT,
        approvers=["bob"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_WROTE},
        policy={"allow_contributor_approvals": True},
    ),
    Case(
        "allowed-for-this-repository",
        Verdict.COMPLIANT,
        approvers=["bob"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_WROTE},
        policy={"repositories": {"ACME/api": {"allow_contributor_approvals": True}}},
    ),
    Case(
        "allowed-for-another-repository-only",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: contributor"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_WROTE},
        policy={"repositories": {"acme/web": {"allow_contributor_approvals": True}}},
    ),
    Case(
        "allowed-globally-but-not-for-this-repository",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["bob: contributor"],
        reviews=(review("bob"),),
        pr={"contributors": BOB_WROTE},
        policy={
            "allow_contributor_approvals": True,
            "repositories": {"acme/api": {"allow_contributor_approvals": False}},
        },
    ),
    Case(
        "the-author-s-own-approval-stays-an-author-approval",
        Verdict.NON_COMPLIANT,
        ["insufficient_approvals"],
        discounted=["alice: author"],
        reviews=(review("alice"),),
        pr={"contributors": BOB_WROTE},
    ),
]


@pytest.mark.parametrize("case", CONTRIBUTOR_CASES, ids=[c.id for c in CONTRIBUTOR_CASES])
def test_an_approval_by_someone_who_wrote_part_of_the_change_is_not_independent(case: Case) -> None:
    # Given a merged PR whose commits name these people, approved by these reviewers
    pr = pull_request(reviews=case.reviews, **case.pr)
    policy = policy_from_mapping(case.policy)
    # When it is evaluated under the repository's policy
    result = evaluate(pr, policy.for_repository(pr.repository), policy_version=policy.version)
    # Then contributors' approvals are discounted unless the policy allows them
    assert result.verdict is case.verdict
    assert [v.code.value for v in result.violations] == case.codes
    assert list(result.approvers) == case.approvers
    assert [str(d) for d in result.discounted] == case.discounted


def test_allow_contributor_approvals_is_validated_like_the_other_keys() -> None:
    with pytest.raises(PolicyError, match=r"^allow_contributor_approvals: expected true or false, got 'no'$"):
        parse_policy("allow_contributor_approvals: 'no'\n")
    with pytest.raises(PolicyError, match=r"^repositories\.acme/api\.allow_contributor_approvals: expected true"):
        parse_policy("repositories: {acme/api: {allow_contributor_approvals: 1}}\n")
    assert policy_from_mapping({}).default.allow_contributor_approvals is False


def test_the_key_leaves_the_version_of_policies_without_it_unchanged_and_allowing_relaxes() -> None:
    before = policy_from_mapping({"required_approvals": 1})
    assert policy_from_mapping({"required_approvals": 1, "allow_contributor_approvals": False}).version == (
        before.version
    )
    after = policy_from_mapping({"required_approvals": 1, "allow_contributor_approvals": True})
    assert after.version != before.version
    [change] = policy_changes(canonical_policy(before), canonical_policy(after))
    assert change == {"key": "allow_contributor_approvals", "old": None, "new": True, "relaxes": True}
    assert relaxes("allow_contributor_approvals", True, None) is False


# --- emergency labels in the merge's own second; relaxes("emergency_labels") ------------------------------


def test_an_emergency_label_added_in_the_merge_s_own_second_was_present_at_the_merge() -> None:
    # Given the label added at the very second of the merge (GitHub's timestamps are whole seconds)
    pr = pull_request(labels=("emergency",), label_events=(label_event("emergency", minutes_after_merge=0),))
    # Then it counts as present at the merge, not as a retroactive label
    evidence = emergency_evidence(pr, policy_from_mapping({}).default)
    assert evidence is not None
    assert evidence.present_at_merge is True


def test_an_emergency_label_removed_in_the_merge_s_own_second_was_gone_at_the_merge() -> None:
    # Given the label added half an hour before the merge and removed at the very second of the merge
    events = (
        label_event("emergency", minutes_after_merge=-30),
        label_event("emergency", added=False, minutes_after_merge=0),
    )
    pr = pull_request(labels=(), label_events=events, reviews=(review("bob"),))
    # Then the change was not an emergency change when it went in
    assert emergency_evidence(pr, policy_from_mapping({}).default) is None
    assert evaluate(pr, policy_from_mapping({}).default, policy_version="v").verdict is Verdict.COMPLIANT


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (["emergency", "hotfix"], ["emergency"], True),  # a label removed: its changes no longer flagged
        (["emergency"], ["emergency", "hotfix"], False),  # a label added: stricter
        (["emergency"], ["hotfix"], True),  # one swapped for another: the old one no longer flagged
        (["emergency"], [], True),
        ([], ["emergency"], False),
    ],
    ids=["label-removed", "label-added", "label-swapped", "all-removed", "first-added"],
)
def test_relaxes_emergency_labels_only_when_a_label_is_dropped(old: list[str], new: list[str], expected: bool) -> None:
    assert relaxes("emergency_labels", old, new) is expected


def test_a_contributor_is_never_evidence_of_anything_but_a_doubt() -> None:
    """A co-author trailer naming the release bot does not make the PR exempt, nor its author anyone else."""
    pr = pull_request(
        reviews=(review("bob"),),
        contributors=(Contributor("release-bot", "co-author", "a" * 40),),
    )
    policy = policy_from_mapping({"exempt_authors": ["release-bot"]}).default
    result = evaluate(pr, policy, policy_version="v")
    assert result.verdict is Verdict.COMPLIANT
    assert result.exempt_reason is None
    assert list(result.approvers) == ["bob"]
