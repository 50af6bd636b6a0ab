"""The subset of GitHub's issue/PR search language the stand-in understands, parsed strictly.

Supported terms (space separated; several ``org:``/``repo:``/``base:``/``author:`` values are OR'ed,
different qualifiers are AND'ed, several ``merged:``/``created:`` ranges are AND'ed):

``is:pr`` ``type:pr`` ``is:issue`` ``type:issue`` ``is:merged`` ``is:unmerged`` ``is:open``
``is:closed`` ``state:open|closed`` ``org:X`` ``user:X`` ``repo:X/Y`` ``base:BRANCH``
``author:LOGIN`` (``author:app/dependabot`` or ``author:dependabot[bot]`` for bots) ``label:NAME``
``merged:RANGE`` ``created:RANGE`` ``sort:created|updated[-asc|-desc]``.

RANGE is ``A..B`` (both ends inclusive), ``A..*``, ``*..B``, ``>A``, ``>=A``, ``<A``, ``<=A`` or a
single ``A``; each bound is a date ``YYYY-MM-DD`` (a whole UTC day) or a datetime to the second
with ``Z`` or a ``±HH:MM`` offset.

Stand-in choices (not documented GitHub behaviour):

* GitHub treats unknown qualifiers and bare words as free text. The stand-in has no text index,
  so it *rejects* them (REST 422 / GraphQL error) instead of silently matching nothing or
  everything — a client that builds a wrong query learns it in tests.
* Datetimes without an offset are rejected (GitHub's docs always show one).
* A non-existent ``org:``/``repo:``/``user:`` makes the whole search fail with GitHub's REST 422
  message "The listed users and repositories cannot be searched..." (the stand-in fails if *any*
  listed owner/repository is unknown).
* The default order ("best match") is modelled as ``created`` descending, ties broken by
  repository and number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .model import GitHubState, PullRequest

SEARCH_CAP = 1000
#: GitHub rejects a search query longer than this, whole query counted (REST 422 "The search is longer than
#: 256 characters.", resource Search, field q, code invalid; seen in release-it/release-it#1147 and
#: Songmu/tagpr#177), and the GraphQL ``search`` field answers with the same message.
MAX_QUERY_LENGTH = 256

NOT_SEARCHABLE = (
    "The listed users and repositories cannot be searched either because the resources do not "
    "exist or you do not have permission to view them."
)


class SearchError(Exception):
    """A query GitHub (or the strict stand-in) refuses. ``code`` is the REST error code."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Range:
    """Half-open interval ``lo <= t < hi`` (None = unbounded)."""

    lo: datetime | None
    hi: datetime | None

    def contains(self, t: datetime | None) -> bool:
        if t is None:
            return False
        return (self.lo is None or t >= self.lo) and (self.hi is None or t < self.hi)


@dataclass
class SearchQuery:
    kinds: set[str] = field(default_factory=set)  # "pr" / "issue"
    merged: bool | None = None  # is:merged / is:unmerged
    state: Literal["open", "closed"] | None = None
    orgs: list[str] = field(default_factory=list)
    repos: list[tuple[str, str]] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    merged_ranges: list[Range] = field(default_factory=list)
    created_ranges: list[Range] = field(default_factory=list)
    sort: tuple[str, bool] = ("created", True)  # (field, descending)
    explicit_sort: bool = False


_TOKEN = re.compile(r'(?:[^\s"]+:"[^"]*"|[^\s"]+|"[^"]*")')
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})$")


def _parse_bound(text: str) -> tuple[datetime, bool]:
    """(start instant, is_date_only)."""
    if _DATE.match(text):
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=UTC), True
    if _DATETIME.match(text):
        norm = text[:-1] + "+00:00" if text.endswith("Z") else text
        if re.search(r"[+-]\d{4}$", norm):
            norm = norm[:-2] + ":" + norm[-2:]
        try:
            return datetime.fromisoformat(norm).astimezone(UTC), False
        except ValueError as exc:
            raise SearchError(f"Invalid date in search qualifier: {text!r}") from exc
    raise SearchError(
        f"Invalid date {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS with Z or an offset "
        "(stand-in: datetimes without an offset are rejected)"
    )


def _end_of(bound: tuple[datetime, bool]) -> datetime:
    """Exclusive end of an inclusive bound (a whole day, or one second)."""
    start, is_date = bound
    return start + (timedelta(days=1) if is_date else timedelta(seconds=1))


def parse_range(value: str) -> Range:
    try:
        if ".." in value:
            a, b = value.split("..", 1)
            lo = None if a == "*" else _parse_bound(a)[0]
            hi = None if b == "*" else _end_of(_parse_bound(b))
            if a == "*" and b == "*":
                raise SearchError("Invalid range '*..*'")
            return Range(lo, hi)
        for op in (">=", "<=", ">", "<"):
            if value.startswith(op):
                bound = _parse_bound(value[len(op) :])
                if op == ">=":
                    return Range(bound[0], None)
                if op == ">":
                    return Range(_end_of(bound), None)
                if op == "<":
                    return Range(None, bound[0])
                return Range(None, _end_of(bound))
        bound = _parse_bound(value)
        return Range(bound[0], _end_of(bound))
    except SearchError:
        raise
    except ValueError as exc:
        raise SearchError(f"Invalid date range {value!r}") from exc


def parse_query(q: str) -> SearchQuery:
    if not q.strip():
        raise SearchError("The search query is empty", code="missing")
    if len(q) > MAX_QUERY_LENGTH:
        raise SearchError(f"The search is longer than {MAX_QUERY_LENGTH} characters.")
    sq = SearchQuery()
    for token in _TOKEN.findall(q):
        if ":" not in token or token.startswith('"'):
            raise SearchError(
                f"The GitHub stand-in does not support free-text search terms ({token!r}); use qualifiers only"
            )
        if token.startswith("-"):
            raise SearchError(f"The GitHub stand-in does not support negated qualifiers ({token!r})")
        qual, value = token.split(":", 1)
        qual = qual.lower()
        value = value.strip('"')
        if not value:
            raise SearchError(f"Empty value for qualifier {qual!r}")
        if qual in ("is", "type"):
            v = value.lower()
            if v in ("pr", "pull-request"):
                sq.kinds.add("pr")
            elif v == "issue":
                sq.kinds.add("issue")
            elif qual == "is" and v == "merged":
                sq.merged = True
            elif qual == "is" and v == "unmerged":
                sq.merged = False
            elif qual == "is" and v in ("open", "closed"):
                sq.state = v
            else:
                raise SearchError(f"The GitHub stand-in does not support {token!r}")
        elif qual == "state":
            if value.lower() not in ("open", "closed"):
                raise SearchError(f"Invalid state {value!r}")
            sq.state = value.lower()
        elif qual in ("org", "user"):
            sq.orgs.append(value)
        elif qual == "repo":
            if value.count("/") != 1 or not all(value.split("/")):
                raise SearchError(f"Invalid repository {value!r}: use owner/name")
            owner, name = value.split("/")
            sq.repos.append((owner, name))
        elif qual == "base":
            sq.bases.append(value)
        elif qual == "author":
            sq.authors.append(value)
        elif qual == "label":
            sq.labels.append(value)
        elif qual == "merged":
            sq.merged_ranges.append(parse_range(value))
        elif qual == "created":
            sq.created_ranges.append(parse_range(value))
        elif qual == "sort":
            m = re.fullmatch(r"(created|updated)(?:-(asc|desc))?", value.lower())
            if not m:
                raise SearchError(f"The GitHub stand-in supports sort:created|updated[-asc|-desc], not {value!r}")
            sq.sort = (m.group(1), m.group(2) != "asc")
            sq.explicit_sort = True
        else:
            raise SearchError(f"The GitHub stand-in does not support the search qualifier {qual + ':'!r}")
    return sq


def _author_matches(pr: PullRequest, wanted: list[str]) -> bool:
    if pr.author is None:
        return any(w.lower() == "ghost" for w in wanted)
    login = pr.author.login.lower()
    for w in wanted:
        w = w.lower()
        if pr.author.type == "Bot":
            if w in (f"app/{login}", f"{login}[bot]"):
                return True
        elif w == login:
            return True
    return False


def run_search(
    state: GitHubState,
    q: str,
    *,
    now: datetime,
    sort: str | None = None,
    order: str | None = None,
) -> list[PullRequest]:
    """All matching pull requests visible to search at ``now``, in result order (uncapped)."""
    sq = parse_query(q)
    if sort is not None and not sq.explicit_sort:
        if sort not in ("created", "updated"):
            raise SearchError(f"The GitHub stand-in supports sort=created|updated, not {sort!r}")
        sq.sort = (sort, order != "asc")
    for org in sq.orgs:
        if not state.org_exists(org):
            raise SearchError(NOT_SEARCHABLE)
    for owner, name in sq.repos:
        if state.find_repo(owner, name) is None:
            raise SearchError(NOT_SEARCHABLE)
    key = (state.version, q, sq.sort)
    cached = state.search_cache.get(key)
    if cached is None:
        cached = _matches(state, sq)
        if len(state.search_cache) > 256:
            state.search_cache.clear()
        state.search_cache[key] = cached
    matches, lagged = cached
    if not lagged:
        return list(matches)
    return [pr for pr in matches if pr.indexed_at is None or pr.indexed_at <= now]


def _matches(state: GitHubState, sq: SearchQuery) -> tuple[list[PullRequest], bool]:
    """Sorted matches ignoring index lag, and whether any of them has an ``indexed_at``."""
    if sq.kinds == {"issue"}:
        return [], False  # the stand-in models no issues
    if sq.merged_ranges:
        r0 = sq.merged_ranges[0]
        candidates = state.merged_between(r0.lo, r0.hi)
        rest_merged = sq.merged_ranges[1:]
    else:
        candidates = list(state.all_prs_for_search())
        rest_merged = []
    orgs = {o.lower() for o in sq.orgs}
    repos = {(o.lower(), n.lower()) for o, n in sq.repos}
    bases = set(sq.bases)
    labels = {lbl.lower() for lbl in sq.labels}
    out: list[PullRequest] = []
    for pr in candidates:
        owner, name = pr.repo.owner.lower(), pr.repo.name.lower()
        if (orgs or repos) and owner not in orgs and (owner, name) not in repos:
            continue
        if sq.merged is True and pr.merged_at is None:
            continue
        if sq.merged is False and pr.merged_at is not None:
            continue
        if sq.state == "open" and pr.state != "OPEN":
            continue
        if sq.state == "closed" and pr.state == "OPEN":
            continue
        if bases and pr.base_ref not in bases:
            continue
        if sq.authors and not _author_matches(pr, sq.authors):
            continue
        if labels and not labels.issubset({lbl.lower() for lbl in pr.labels}):
            continue
        if any(not r.contains(pr.merged_at) for r in rest_merged):
            continue
        if any(not r.contains(pr.created_at) for r in sq.created_ranges):
            continue
        out.append(pr)
    field_, desc = sq.sort
    if field_ == "created":
        out.sort(key=lambda p: (p.created_at, p.repo.full_name, p.number), reverse=desc)
    else:
        out.sort(key=lambda p: (p.updated_at(), p.repo.full_name, p.number), reverse=desc)
    return out, any(pr.indexed_at is not None for pr in out)
