"""Domain data: frozen snapshots of what GitHub said about a pull request, and the verdict on it. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

#: One JSON record as written to the log, the ledger and the archive (see docs for the schema).
Record = dict[str, Any]


class ReviewState(StrEnum):
    APPROVED = "APPROVED"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    COMMENTED = "COMMENTED"
    DISMISSED = "DISMISSED"
    PENDING = "PENDING"


#: States that express an opinion on the change. A later COMMENTED review says nothing about it.
OPINIONATED_STATES = frozenset({ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED, ReviewState.DISMISSED})


@dataclass(frozen=True, slots=True)
class Actor:
    """A GitHub account. ``login`` is normalised: bots always carry the ``[bot]`` suffix.

    GraphQL reports a Bot's login without the suffix (``dependabot``) while REST and people write
    ``dependabot[bot]``; policies are written by people, so we normalise to the REST spelling.
    """

    login: str
    is_bot: bool = False

    @staticmethod
    def of(login: str, *, is_bot: bool = False) -> Actor:
        if is_bot and not login.endswith("[bot]"):
            login = f"{login}[bot]"
        return Actor(login=login, is_bot=is_bot or login.endswith("[bot]"))


@dataclass(frozen=True, slots=True)
class Review:
    """One submitted review. ``author`` is None for a deleted account (GitHub's ``ghost``)."""

    author: Actor | None
    state: ReviewState
    submitted_at: datetime | None
    commit_oid: str | None
    author_can_push: bool
    id: str | None = None  # GitHub's node id: links a ``ReviewDismissedEvent`` to its review


@dataclass(frozen=True, slots=True)
class ReviewDismissal:
    """A review dismissed (``ReviewDismissedEvent``): its state before the dismissal, and when and by whom.

    A dismissed review reads ``DISMISSED`` whenever it is read; only this event says when that happened."""

    review_id: str | None
    reviewer: Actor | None
    previous_state: ReviewState
    at: datetime
    actor: Actor | None


@dataclass(frozen=True, slots=True)
class Contributor:
    """Someone who wrote part of a PR: a commit's git author or committer, or a ``Co-authored-by`` trailer
    GitHub linked to an account. All three are client-set text: enough to doubt an approver's independence,
    never evidence of who did anything."""

    login: str
    role: str  # "author", "committer" or "co-author"
    oid: str


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """A label added or removed, from the PR timeline (``LabeledEvent``/``UnlabeledEvent``)."""

    label: str
    added: bool
    actor: Actor | None
    at: datetime


@dataclass(frozen=True, slots=True)
class TitleRename:
    """The title changed (``RenamedTitleEvent``): from ``previous`` to ``current`` at ``at``."""

    previous: str
    current: str
    at: datetime


@dataclass(frozen=True, slots=True)
class BodyEdit:
    """One revision of the PR description (``userContentEdits``), the first one being the text it was opened
    with. ``text`` is the whole description as of ``at`` (GitHub's ``diff`` field holds the full text, despite
    its name); None when GitHub no longer has it (a revision deleted from the history, or history before 2018).
    """

    at: datetime
    text: str | None


@dataclass(frozen=True, slots=True)
class PullRequest:
    """Everything the rules may look at, read once from GitHub. Rules never call back to GitHub."""

    repository: str
    number: int
    url: str
    title: str
    author: Actor | None
    merged_by: Actor | None
    merged_at: datetime
    base: str
    head_sha: str
    merge_commit_sha: str | None
    default_branch: str
    body: str = ""
    head_ref: str = ""
    labels: tuple[str, ...] = ()
    reviews: tuple[Review, ...] = ()
    label_events: tuple[LabelEvent, ...] = ()
    title_renames: tuple[TitleRename, ...] = ()
    body_edits: tuple[BodyEdit, ...] = ()  # empty: never edited, or not read (not edited after the merge)
    body_edited_at: datetime | None = None  # ``lastEditedAt``: when the description was last edited
    review_decision: str | None = None
    archived: bool = False
    dismissals: tuple[ReviewDismissal, ...] = ()  # ``ReviewDismissedEvent``s from the timeline
    contributors: tuple[Contributor, ...] = ()  # from the PR's commits (``Commit.authors``, ``committer``)

    @property
    def key(self) -> tuple[str, int, str]:
        """Identity of one merged change: a PR number alone can be reused across repositories."""
        return (self.repository, self.number, self.merge_commit_sha or "")

    @property
    def org(self) -> str:
        return self.repository.split("/", 1)[0]


class Verdict(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    EXEMPT = "exempt"


class ViolationCode(StrEnum):
    """Fixed vocabulary (a contract): add new codes, never rename."""

    INSUFFICIENT_APPROVALS = "insufficient_approvals"
    EMERGENCY_LABEL = "emergency_label"
    CHANGES_REQUESTED = "changes_requested"
    MISSING_TICKET = "missing_ticket"
    NO_PULL_REQUEST = "no_pull_request"  # a commit reached an in-scope branch without a merged PR
    FORCE_PUSH = "force_push"  # an in-scope branch's history was rewritten
    WEAK_PROTECTION = "weak_protection"  # a branch's protection lets through what the policy would not
    PROTECTION_UNREADABLE = "protection_unreadable"  # the credentials cannot read a branch's protection
    RULESET_BYPASS = "ruleset_bypass"  # GitHub evaluated a push against rulesets and let it bypass them
    ADMIN_BYPASS = "admin_bypass"  # an admin overrode branch protection (audit log policy_override)
    COVERAGE_GAP = "coverage_gap"  # a period or repository the auditor could not see
    UNEXPLAINED_HEAD_CHANGE = "unexplained_head_change"  # a branch head moved and no activity entry says how


@dataclass(frozen=True, slots=True)
class Violation:
    code: ViolationCode
    detail: str


@dataclass(frozen=True, slots=True)
class Discounted:
    """An approval that did not count, and why (``alice: author``)."""

    login: str
    reason: str

    def __str__(self) -> str:
        return f"{self.login}: {self.reason}"


@dataclass(frozen=True, slots=True)
class EmergencyEvidence:
    """Which emergency label made this an emergency change, and when and by whom it was applied."""

    label: str
    present_at_merge: bool
    added_by: str | None
    added_at: datetime | None

    @property
    def added_after_merge(self) -> bool:
        return not self.present_at_merge


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict on one PR with everything needed to defend it."""

    pull_request: PullRequest
    verdict: Verdict
    violations: tuple[Violation, ...]
    approvers: tuple[str, ...]
    discounted: tuple[Discounted, ...]
    required_approvals: int
    policy_version: str
    emergency: EmergencyEvidence | None = None
    exempt_reason: str | None = None
    #: Reviews submitted after the merge: evidence (a retroactive approval), never part of the verdict.
    post_merge_reviews: tuple[Review, ...] = ()
    #: Reviews dismissed after the merge: they kept their state for the verdict; listed as evidence.
    post_merge_dismissals: tuple[ReviewDismissal, ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open UTC interval [since, until)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.since >= self.until:
            raise ValueError(f"since ({iso(self.since)}) must be before until ({iso(self.until)})")

    def contains(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def as_dict(self) -> dict[str, str]:
        return {"since": iso(self.since), "until": iso(self.until)}


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z``; whole seconds unless the moment has a fraction."""
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


# --- GitHub's own records of bypasses and overrides (rule suites, the organisation audit log) -------------


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """One rule GitHub evaluated in a rule suite: which rule, from which source (a ruleset or classic
    branch protection), and whether it passed."""

    rule_type: str
    source_type: str
    source_id: int | None
    source_name: str | None
    enforcement: str
    result: str
    details: str | None = None


@dataclass(frozen=True, slots=True)
class RuleSuite:
    """A push GitHub evaluated against rulesets (``result`` ``bypass``: someone on a bypass list pushed past
    rules that failed). ``evaluations`` come from the suite read by id."""

    id: int
    repository: str  # "org/repo"
    actor: str | None
    ref: str
    before_sha: str
    after_sha: str
    pushed_at: datetime
    result: str
    evaluations: tuple[RuleEvaluation, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One organisation audit-log event, reduced to what the audit uses; ``fields`` keeps the action's own
    keys (``branch``, ``before``, ``after``, ``from``, ``reasons``, ...) as GitHub wrote them."""

    document_id: str
    action: str
    actor: str | None
    at: datetime
    repository: str | None  # "org/repo", None for organisation-level events
    fields: dict[str, Any]
