"""GraphQL objects for git history and branch protection (``Ref.target``, ``Commit.history``,
``Commit.associatedPullRequests``, ``Repository.pushedAt``, ``Ref.branchProtectionRule``, ``Ref.rules``).

* ``associatedPullRequests`` follows GitHub's schema text: "The merged Pull Request that introduced the
  commit to the repository. If the commit is not present in the default branch, additionally returns open
  Pull Requests associated with the commit".
* Without permission to read protection (``state.protection_readable = False``): ``viewerCanAdminister``
  is false, ``branchProtectionRule`` is null and rulesets' ``bypassActors`` are null (GitHub hides
  protection settings from tokens without admin rights / Apps without "Administration: read").
"""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from . import git
from .model import BranchRule, GitCommit, Repository, Ruleset

if TYPE_CHECKING:
    from .graphql_api import Ctx, Info


def _gq() -> Any:
    from . import graphql_api

    return graphql_api


def git_fields(repo: Repository, ctx: Ctx) -> dict[str, Any]:
    """Extra Repository fields: pushedAt, viewer rights, ``ref``, ``refs`` and ``object``."""
    gq = _gq()

    def ref(_info: Info, qualifiedName: str, **_: Any) -> dict[str, Any] | None:
        name = qualifiedName.removeprefix("refs/heads/")
        return branch_ref_node(name, repo, ctx) if name in repo.branches else None

    def refs(_info: Info, refPrefix: str, **_: Any) -> Any:
        names = sorted(repo.branches) if refPrefix == "refs/heads/" else []
        return gq.ConnectionSource(names, convert=lambda name: branch_ref_node(name, repo, ctx))

    def object_(_info: Info, oid: str | None = None, expression: str | None = None, **_: Any) -> Any:
        wanted = oid or repo.branches.get(expression or "")
        return gq.commit_node(wanted, repo, ctx) if wanted in repo.commits else None

    readable = ctx.state.protection_readable
    return {
        "pushedAt": gq.iso(repo.pushed_at),
        "viewerCanAdminister": readable,
        "viewerPermission": "ADMIN" if readable else "READ",
        "ref": ref,
        "refs": refs,
        "object": object_,
    }


def branch_ref_node(name: str, repo: Repository, ctx: Ctx) -> dict[str, Any]:
    gq = _gq()
    node = dict(gq.ref_node(name, repo))
    head = repo.branches.get(name)

    def rules(_info: Info, **_: Any) -> Any:
        found = [ruleset for ruleset in repo.rulesets if _applies(ruleset, name, repo)]
        return gq.ConnectionSource(found, convert=lambda ruleset: _rule_node(ruleset, repo, ctx))

    node.update(
        target=gq.commit_node(head, repo, ctx) if head else None,
        branchProtectionRule=_protection_rule(name, repo, ctx),
        rules=rules,
    )
    return node


def git_commit_fields(commit: GitCommit, repo: Repository, ctx: Ctx) -> dict[str, Any]:
    gq = _gq()

    def history(_info: Info, since: str | None = None, until: str | None = None, **_: Any) -> Any:
        oids = git.history(repo, commit.oid)
        if since or until:  # committed dates, as GitHub filters them (client-set, so only best effort)
            lo = datetime.fromisoformat(since) if since else None
            hi = datetime.fromisoformat(until) if until else None
            oids = [
                oid
                for oid in oids
                if (lo is None or repo.commits[oid].committed_at >= lo)
                and (hi is None or repo.commits[oid].committed_at <= hi)
            ]
        return gq.ConnectionSource(oids, convert=lambda oid: gq.commit_node(oid, repo, ctx))

    def parents(_info: Info, **_: Any) -> Any:
        return gq.ConnectionSource(commit.parents, convert=lambda oid: gq.commit_node(oid, repo, ctx))

    def associated(_info: Info, **_: Any) -> Any:
        prs = []
        if commit.introduced_by is not None:
            pr = ctx.state.get_pr(repo.owner, repo.name, commit.introduced_by)
            if pr is not None and pr.state == "MERGED":
                prs.append(pr)
        default_head = repo.branches.get(repo.default_branch)
        on_default = default_head is not None and commit.oid in git.ancestors(repo, default_head)
        if not on_default:
            for number in commit.open_prs:
                pr = ctx.state.get_pr(repo.owner, repo.name, number)
                if pr is not None and pr.state == "OPEN":
                    prs.append(pr)
        return gq.ConnectionSource(prs, convert=lambda pr: gq.pr_node(pr, ctx))

    def git_actor(who: Any, at: Any) -> dict[str, Any]:
        login = who.login if who else "someone"
        return {
            "__typename": "GitActor",
            "name": who.rest_login if who else login,  # what git writes: an app's commits say ``name[bot]``
            "email": f"{login}@example.com",
            "date": gq.iso(at),
            "user": gq.actor(who, ctx) if who is not None and who.type == "User" else None,
        }

    def authors(_info: Info, **_: Any) -> Any:
        """``Commit.authors``: the git author first, then each ``Co-authored-by`` trailer, linked to an account
        only where GitHub knows the e-mail (``user`` null otherwise)."""
        trailers = [
            {
                "__typename": "GitActor",
                "name": co.name,
                "email": co.email,
                "date": gq.iso(commit.authored_at),
                "user": gq.actor(co.user, ctx) if co.user is not None and co.user.type == "User" else None,
            }
            for co in commit.co_authors
        ]
        return gq.ConnectionSource([git_actor(commit.author, commit.authored_at), *trailers])

    headline = commit.message.splitlines()[0] if commit.message else ""
    return {
        "committedDate": gq.iso(commit.committed_at),
        "authoredDate": gq.iso(commit.authored_at),
        "message": commit.message,
        "messageHeadline": headline,
        "author": git_actor(commit.author, commit.authored_at),
        "committer": git_actor(commit.committer, commit.committed_at),
        "authors": authors,
        "history": history,
        "parents": parents,
        "associatedPullRequests": associated,
    }


def _applies(ruleset: Ruleset, branch: str, repo: Repository) -> bool:
    if ruleset.enforcement == "DISABLED":
        return False
    return any(
        (pattern == "~DEFAULT_BRANCH" and branch == repo.default_branch) or fnmatchcase(branch, pattern)
        for pattern in ruleset.include
    )


def _protection_rule(branch: str, repo: Repository, ctx: Ctx) -> dict[str, Any] | None:
    if not ctx.state.protection_readable:
        return None
    rule = next((r for r in repo.branch_rules if fnmatchcase(branch, r.pattern)), None)
    return _rule_dict(rule, ctx) if rule else None


def _rule_dict(rule: BranchRule, ctx: Ctx) -> dict[str, Any]:
    gq = _gq()

    def allowances(_info: Info, **_: Any) -> Any:
        users = [ctx.state.users.get(login) for login in rule.bypass_pull_request]
        return gq.ConnectionSource(
            [u for u in users if u is not None],
            convert=lambda u: {"__typename": "BypassPullRequestAllowance", "actor": gq.actor(u, ctx)},
        )

    return {
        "__typename": "BranchProtectionRule",
        "pattern": rule.pattern,
        "requiredApprovingReviewCount": rule.required_approvals,
        "requiresApprovingReviews": bool(rule.required_approvals),
        "dismissesStaleReviews": rule.dismiss_stale,
        "requiresCodeOwnerReviews": rule.code_owner,
        "isAdminEnforced": rule.admin_enforced,
        "bypassPullRequestAllowances": allowances,
    }


def _rule_node(ruleset: Ruleset, repo: Repository, ctx: Ctx) -> dict[str, Any]:
    gq = _gq()

    def bypass_actors(_info: Info, **_: Any) -> Any:
        if not ctx.state.protection_readable:
            return None
        return gq.ConnectionSource(
            ruleset.bypass,
            convert=lambda entry: {
                "__typename": "RepositoryRulesetBypassActor",
                "bypassMode": "ALWAYS",
                "organizationAdmin": entry[0] == "OrganizationAdmin",
                "repositoryRoleName": None,
                "actor": None
                if entry[0] == "OrganizationAdmin"
                else {"__typename": entry[0], "slug": entry[1], "name": entry[1]},
            },
        )

    return {
        "__typename": "RepositoryRule",
        "type": "PULL_REQUEST",
        "parameters": {
            "__typename": "PullRequestParameters",
            "requiredApprovingReviewCount": ruleset.required_approvals,
            "dismissStaleReviewsOnPush": ruleset.dismiss_stale,
            "requireCodeOwnerReview": ruleset.code_owner,
            "requireLastPushApproval": False,
            "requiredReviewThreadResolution": False,
            "allowedMergeMethods": ["MERGE", "SQUASH", "REBASE"],
        },
        "repositoryRuleset": {
            "__typename": "RepositoryRuleset",
            "name": ruleset.name,
            "enforcement": ruleset.enforcement,
            "bypassActors": bypass_actors,
        },
    }
