"""Plain-data builders for domain snapshots, so rule tables read as data (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.core.model import Actor, BodyEdit, LabelEvent, PullRequest, Review, ReviewState, TitleRename

MERGED_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEAD = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"
OLD = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


def user(login: str) -> Actor:
    return Actor.of(login)


def bot(login: str) -> Actor:
    return Actor.of(login, is_bot=True)


def review(
    login: str | None,
    state: str = "APPROVED",
    *,
    minutes_before_merge: int = 10,
    commit: str | None = HEAD,
    can_push: bool = True,
    is_bot: bool = False,
) -> Review:
    author = None if login is None else Actor.of(login, is_bot=is_bot)
    return Review(
        author=author,
        state=ReviewState(state),
        submitted_at=MERGED_AT - timedelta(minutes=minutes_before_merge),
        commit_oid=commit,
        author_can_push=can_push,
    )


def label_event(
    label: str, *, added: bool = True, by: str | None = "ops-lead", minutes_after_merge: int = -30
) -> LabelEvent:
    return LabelEvent(
        label=label,
        added=added,
        actor=Actor.of(by) if by else None,
        at=MERGED_AT + timedelta(minutes=minutes_after_merge),
    )


def after_merge(minutes: int) -> int:
    """``minutes_before_merge`` for a review submitted ``minutes`` after the merge."""
    return -minutes


def rename(previous: str, current: str, *, minutes_after_merge: int) -> TitleRename:
    return TitleRename(previous=previous, current=current, at=MERGED_AT + timedelta(minutes=minutes_after_merge))


def body_edit(text: str | None, *, minutes_after_merge: int) -> BodyEdit:
    return BodyEdit(at=MERGED_AT + timedelta(minutes=minutes_after_merge), text=text)


def pull_request(**overrides: Any) -> PullRequest:
    fields: dict[str, Any] = {
        "repository": "acme/api",
        "number": 42,
        "url": "https://github.com/acme/api/pull/42",
        "title": "Add rate limiting",
        "author": user("alice"),
        "merged_by": user("bob"),
        "merged_at": MERGED_AT,
        "base": "main",
        "head_sha": HEAD,
        "merge_commit_sha": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
        "default_branch": "main",
        "head_ref": "feature/rate-limit",
    }
    fields.update(overrides)
    return PullRequest(**fields)
