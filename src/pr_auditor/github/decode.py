"""Pure decoding: GitHub GraphQL nodes (plain dicts) → frozen domain snapshots. No I/O.

Facts relied on: a Bot's GraphQL login has no ``[bot]`` suffix (``Actor.of`` normalises it); deleted
accounts are ``null`` actors; GitHub's timestamps are ISO 8601 with a zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pr_auditor.core.errors import MalformedAnswerError
from pr_auditor.core.model import (
    Actor,
    BodyEdit,
    Contributor,
    LabelEvent,
    PullRequest,
    Review,
    ReviewDismissal,
    ReviewState,
    TitleRename,
)


def snapshot(node: Mapping[str, Any]) -> PullRequest:
    """A complete GraphQL PullRequest node → the frozen domain snapshot. Raises SourceError if malformed."""
    repo = required(node, "repository")
    merge_commit = node.get("mergeCommit") or {}
    default_branch = (repo.get("defaultBranchRef") or {}).get("name") or ""
    return PullRequest(
        repository=str(required(repo, "nameWithOwner")),
        number=whole_number(node, "number"),
        url=str(required(node, "url")),
        title=str(node.get("title") or ""),
        body=str(node.get("body") or ""),
        author=actor(node.get("author")),
        merged_by=actor(node.get("mergedBy")),
        merged_at=timestamp(required(node, "mergedAt")),
        base=str(required(node, "baseRefName")),
        head_ref=str(node.get("headRefName") or ""),
        head_sha=str(required(node, "headRefOid")),
        merge_commit_sha=merge_commit.get("oid"),
        default_branch=str(default_branch),
        labels=tuple(str(required(label, "name")) for label in nodes(node, "labels")),
        reviews=tuple(review(r) for r in nodes(node, "reviews")),
        label_events=tuple(label_event(e) for e in nodes(node, "timelineItems") if e.get("__typename") in _LABEL_TYPES),
        title_renames=tuple(
            title_rename(e) for e in nodes(node, "timelineItems") if e.get("__typename") == "RenamedTitleEvent"
        ),
        body_edits=tuple(body_edit(e) for e in nodes(node, "userContentEdits")) if "userContentEdits" in node else (),
        body_edited_at=timestamp(node["lastEditedAt"]) if node.get("lastEditedAt") else None,
        review_decision=node.get("reviewDecision"),
        archived=bool(repo.get("isArchived")),
        dismissals=tuple(
            dismissal(e) for e in nodes(node, "timelineItems") if e.get("__typename") == "ReviewDismissedEvent"
        ),
        contributors=contributors(node),
    )


_LABEL_TYPES = {"LabeledEvent": True, "UnlabeledEvent": False}


def actor(node: Mapping[str, Any] | None) -> Actor | None:
    """GraphQL actor → Actor; ``null`` (a deleted account) → None."""
    if not node or not node.get("login"):
        return None
    return Actor.of(str(node["login"]), is_bot=node.get("__typename") == "Bot")


def review_state(node: Mapping[str, Any], name: str) -> ReviewState:
    state = str(required(node, name))
    try:
        return ReviewState(state)
    except ValueError:
        raise MalformedAnswerError(f"malformed review in GitHub's answer: unknown {name} {state!r}") from None


def review(node: Mapping[str, Any]) -> Review:
    parsed = review_state(node, "state")
    submitted = node.get("submittedAt")
    return Review(
        author=actor(node.get("author")),
        state=parsed,
        submitted_at=timestamp(submitted) if submitted else None,
        commit_oid=(node.get("commit") or {}).get("oid"),
        author_can_push=bool(node.get("authorCanPushToRepository")),
        id=str(node["id"]) if node.get("id") else None,
    )


def dismissal(node: Mapping[str, Any]) -> ReviewDismissal:
    """A ``ReviewDismissedEvent``; its ``review`` is null when GitHub no longer has the review."""
    dismissed = node.get("review") or {}
    return ReviewDismissal(
        review_id=str(dismissed["id"]) if dismissed.get("id") else None,
        reviewer=actor(dismissed.get("author")),
        previous_state=review_state(node, "previousReviewState"),
        at=timestamp(required(node, "createdAt")),
        actor=actor(node.get("actor")),
    )


def contributors(node: Mapping[str, Any]) -> tuple[Contributor, ...]:
    """The accounts GitHub linked to the PR's commits: each ``Commit.authors`` entry (the git author first,
    then the ``Co-authored-by`` trailers) and the committer. Identities GitHub could not link to an account
    (``user: null``) cannot be compared with a reviewer's login and are left out."""
    found: list[Contributor] = []
    for entry in nodes(node, "commits") if "commits" in node else ():
        commit = required(entry, "commit")
        oid = str(required(commit, "oid"))
        for index, author in enumerate(nodes(commit, "authors")):
            login = (author.get("user") or {}).get("login")
            if login:
                found.append(Contributor(str(login), "author" if index == 0 else "co-author", oid))
        login = ((commit.get("committer") or {}).get("user") or {}).get("login")
        if login:
            found.append(Contributor(str(login), "committer", oid))
    return tuple(found)


def label_event(node: Mapping[str, Any]) -> LabelEvent:
    return LabelEvent(
        label=str(required(required(node, "label"), "name")),
        added=_LABEL_TYPES[str(node["__typename"])],
        actor=actor(node.get("actor")),
        at=timestamp(required(node, "createdAt")),
    )


def title_rename(node: Mapping[str, Any]) -> TitleRename:
    return TitleRename(
        previous=str(required(node, "previousTitle")),
        current=str(required(node, "currentTitle")),
        at=timestamp(required(node, "createdAt")),
    )


def body_edit(node: Mapping[str, Any]) -> BodyEdit:
    """A ``UserContentEdit``: ``diff`` is the whole text of that revision, null when it is gone."""
    diff = node.get("diff")
    return BodyEdit(at=timestamp(required(node, "editedAt")), text=None if diff is None else str(diff))


def edited_after_merge(node: Mapping[str, Any]) -> bool:
    """Was the description edited after the merge (``lastEditedAt`` later than ``mergedAt``)? Only then is its
    edit history needed: otherwise the current body is the body at merge."""
    edited = node.get("lastEditedAt")
    return edited is not None and timestamp(edited) > timestamp(required(node, "mergedAt"))


def timestamp(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise MalformedAnswerError(f"malformed timestamp in GitHub's answer: {value!r}") from None
    if moment.tzinfo is None:
        raise MalformedAnswerError(f"timestamp without a timezone in GitHub's answer: {value!r}")
    return moment


def whole_number(node: Any, name: str) -> int:
    """A required whole number (``issueCount``, ``number``): anything else makes the answer unusable."""
    value = required(node, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedAnswerError(f"malformed answer from GitHub: field {name!r} is not a whole number")
    return value


def required(node: Any, name: str) -> Any:
    """A required field: a null or missing one makes the whole answer unusable (never silently skipped)."""
    value = node.get(name) if isinstance(node, Mapping) else None
    if value is None:
        raise MalformedAnswerError(f"malformed answer from GitHub: field {name!r} is missing or null")
    return value


def nodes(node: Mapping[str, Any], connection: str) -> list[dict[str, Any]]:
    """The non-null nodes of a required connection."""
    return [n for n in (required(required(node, connection), "nodes")) if n is not None]
