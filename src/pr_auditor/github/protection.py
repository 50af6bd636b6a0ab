"""Effective branch protection: the branch protection rule and the rulesets that apply to a branch.

Facts relied on: without admin rights (a token) or "Administration: read" (a GitHub App) GitHub answers
``branchProtectionRule: null`` and hides ruleset bypass actors, and ``Repository.viewerCanAdminister`` is
false; such an answer is "unknown", never "unprotected". Rulesets in ``EVALUATE`` mode do not enforce
anything, so only ``ACTIVE`` ones count. When several sources apply, the strictest requirement wins (GitHub
layers branch protection and rulesets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pr_auditor.core.branch_model import BranchKey, Protection, Unreadable
from pr_auditor.github import queries
from pr_auditor.github.decode import required

BATCH = 50  # branches per request: protection answers are small
MISSING_PERMISSION = 'admin rights on the repository (a GitHub App needs "Administration: read")'

Query = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def read_protection(query: Query, branches: Sequence[BranchKey]) -> dict[BranchKey, Protection | Unreadable]:
    found: dict[BranchKey, Protection | Unreadable] = {}
    for start in range(0, len(branches), BATCH):
        batch = branches[start : start + BATCH]
        targets = [(repo.split("/", 1)[0], repo.split("/", 1)[1], branch) for repo, branch in batch]
        document, variables = queries.protection(targets)
        data = query(document, variables)
        for i, key in enumerate(batch):
            found[key] = decode_protection(required(data, f"p{i}"))
    return found


def decode_protection(repository: Mapping[str, Any]) -> Protection | Unreadable:
    """A repository node with ``viewerCanAdminister`` and the branch's ``ref`` → its effective protection."""
    if not repository.get("viewerCanAdminister"):
        return Unreadable(MISSING_PERMISSION)
    ref = repository.get("ref") or {}
    approvals, stale, owners, admins = 0, False, False, False
    bypass: set[str] = set()
    sources: list[str] = []
    rule = ref.get("branchProtectionRule")
    if rule:
        sources.append(f"branch_protection_rule:{rule.get('pattern')}")
        if rule.get("requiresApprovingReviews"):
            approvals = int(rule.get("requiredApprovingReviewCount") or 0)
        stale = bool(rule.get("dismissesStaleReviews"))
        owners = bool(rule.get("requiresCodeOwnerReviews"))
        admins = bool(rule.get("isAdminEnforced"))
        for allowance in (rule.get("bypassPullRequestAllowances") or {}).get("nodes") or []:
            bypass.add(_actor((allowance or {}).get("actor")))
    enforced_by_ruleset = False
    for node in ((ref.get("rules") or {}).get("nodes")) or []:
        ruleset = (node or {}).get("repositoryRuleset") or {}
        parameters = (node or {}).get("parameters") or {}
        if node.get("type") != "PULL_REQUEST" or ruleset.get("enforcement") != "ACTIVE":
            continue
        sources.append(f"ruleset:{ruleset.get('name')}")
        approvals = max(approvals, int(parameters.get("requiredApprovingReviewCount") or 0))
        stale = stale or bool(parameters.get("dismissStaleReviewsOnPush"))
        owners = owners or bool(parameters.get("requireCodeOwnerReview"))
        enforced_by_ruleset = True  # rulesets bind administrators unless they are listed as bypass actors
        actors = ruleset.get("bypassActors")
        if actors is None:
            return Unreadable(MISSING_PERMISSION)
        for entry in actors.get("nodes") or []:
            if entry.get("organizationAdmin"):
                bypass.add("organization_admin")
            elif entry.get("repositoryRoleName"):
                bypass.add(f"role:{entry['repositoryRoleName']}")
            else:
                bypass.add(_actor(entry.get("actor")))
    return Protection(
        required_approvals=approvals,
        dismiss_stale_reviews=stale,
        code_owner_review=owners,
        admins_included=admins or enforced_by_ruleset,
        bypass_actors=tuple(sorted(bypass)),
        sources=tuple(sources),
    )


def _actor(node: Mapping[str, Any] | None) -> str:
    if not node:
        return "unknown"
    kind = str(node.get("__typename") or "actor").lower()
    return f"{kind}:{node.get('login') or node.get('slug') or '?'}"
