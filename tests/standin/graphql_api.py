"""GitHub GraphQL (``POST /api/graphql``) executed by graphql-core against GitHub's published schema.

How it works:

* The schema (npm ``@octokit/graphql-schema``) is built once per process (:func:`schema`); each
  query text is parsed and validated once (:func:`parse_and_validate`, cached), so a document GitHub
  would reject is rejected here, with graphql-core's wording (GitHub's graphql-ruby words messages
  differently; the shape ``{"errors": [{"message", "locations"}]}`` with HTTP 200 is the same).
* Before execution a static pass (:func:`analyze`) applies GitHub's limits: ``first``/``last``
  required on connections whose ``nodes``/``edges`` are selected (``MISSING_PAGINATION_BOUNDARIES``),
  1..100 (``EXCESSIVE_PAGINATION``; GitHub's message, but the stand-in also rejects 0), at most
  500,000 nodes (``MAX_NODE_LIMIT_EXCEEDED``), and computes the rate-limit cost with GitHub's
  published formula (requests per connection = product of the enclosing connections' page sizes;
  cost = round(sum / 100), at least 1). Such errors come back without ``data``, as on GitHub.
* Objects are dicts keyed by GraphQL field name (``__typename`` for abstract types). Fields that
  take arguments are callables ``(info, **args)``. A field whose value is a list (or a
  :class:`ConnectionSource`) and whose type name ends in ``Connection`` is paginated generically
  with opaque cursors (``base64("cursor:N")``, GitHub's search cursor format). A field the
  stand-in does not model raises "The GitHub stand-in does not implement ..." instead of silently
  answering null.
* Errors carry GitHub's top-level ``type`` (``NOT_FOUND``, ``INVALID_CURSOR_ARGUMENTS``...).

Stand-in choices:

* Exhausted GraphQL budget: HTTP 200 with ``{"errors": [{"type": "RATE_LIMITED", "message":
  "API rate limit already exceeded for user ID N."}]}`` and ``X-RateLimit-Remaining: 0`` (GitHub's
  GraphQL behaviour as documented/observed; PyGithub raises ``GithubException(400)`` and does not
  wait).
* GraphQL ``search`` has no ``incomplete_results`` field. The ``incomplete_results`` fault models
  a search-backend timeout as a 200 whose ``search`` page silently misses items (``pageInfo`` and
  ``issueCount`` unchanged, so following ``endCursor`` never recovers them) *plus* an error entry
  with GitHub's timeout message and ``path: ["search"]`` — the only signal a client gets.
* An unknown ``org:``/``repo:`` in ``search(query:)`` fails the (non-null) ``search`` field with
  ``type: "INVALID"`` and GitHub's REST message, so ``data`` is null.
* ``latestOpinionatedReviews`` = each author's latest APPROVED/CHANGES_REQUESTED/DISMISSED review.
* ``PENDING`` reviews are only visible to their author (the viewer), as on GitHub.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gc
import json
import math
import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeAlias, TypeGuard

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute,
    get_named_type,
    parse,
    validate,
    value_from_ast_untyped,
)
from graphql.type import GraphQLInterfaceType, GraphQLObjectType

from .git_graphql import branch_ref_node, git_commit_fields, git_fields
from .model import (
    BodyRevision,
    Fault,
    GitCommit,
    GitHubState,
    LabelEvent,
    PullRequest,
    RateBucket,
    Repository,
    Review,
    TitleRename,
    User,
)
from .search import NOT_SEARCHABLE, SEARCH_CAP, SearchError, parse_query, run_search

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "node_modules" / "@octokit" / "graphql-schema" / "schema.graphql"
MAX_NODES = 500_000
MAX_PAGE = 100
TIMEOUT_MESSAGE = (
    "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your "
    "request and contact us if the problem persists."
)
SOMETHING_WRONG = (
    "Something went wrong while executing your query. This may be the result of a timeout, or it "
    "could be a GitHub bug. Please include `{rid}` when reporting this issue."
)

Info: TypeAlias = "GraphQLResolveInfo[Any]"

_schema_lock = threading.Lock()
_schema: GraphQLSchema | None = None


def schema() -> GraphQLSchema:
    """GitHub's schema, built once per process (~1.5 s)."""
    global _schema
    with _schema_lock:
        if _schema is None:
            sdl = SCHEMA_PATH.read_text(encoding="utf-8")
            _schema = build_schema(sdl, assume_valid_sdl=True, assume_valid=True)
            # The schema is ~10^6 long-lived objects; move them out of the collector's view so
            # full collections during request handling do not walk them every time.
            gc.collect()
            gc.freeze()
        return _schema


class GitHubError(Exception):
    """An error GitHub reports with a top-level ``type``."""

    def __init__(self, type_: str | None, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


# --------------------------------------------------------------------------- parse + validate

_doc_cache: dict[str, DocumentNode | list[dict[str, Any]]] = {}
_doc_lock = threading.Lock()


def _locations(err: GraphQLError) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in (err.locations or [])]


def parse_and_validate(query: str) -> DocumentNode | list[dict[str, Any]]:
    """The parsed document, or GitHub-shaped error dicts. Cached by query text."""
    cached = _doc_cache.get(query)
    if cached is not None:
        return cached
    try:
        doc = parse(query)
    except GraphQLError as exc:
        result: DocumentNode | list[dict[str, Any]] = [{"message": exc.message, "locations": _locations(exc)}]
    else:
        errors = validate(schema(), doc)
        result = [{"message": e.message, "locations": _locations(e)} for e in errors] if errors else doc
    with _doc_lock:
        if len(_doc_cache) > 2000:
            _doc_cache.clear()
        _doc_cache[query] = result
    return result


_SEARCH_FIELD = re.compile(r"\bsearch\s*\(")


def selects_search(raw_body: str) -> bool:
    """Cheap check whether a GraphQL request body selects ``search(...)`` (fault matching)."""
    return bool(_SEARCH_FIELD.search(raw_body))


# --------------------------------------------------------------------------- static analysis


@dataclass
class Analysis:
    errors: list[dict[str, Any]] = field(default_factory=list)
    nodes: int = 0
    requests: int = 0

    @property
    def cost(self) -> int:
        return max(1, round(self.requests / 100))


def _is_connection_type(name: str) -> bool:
    return name.endswith("Connection")


def analyze(doc: DocumentNode, operation_name: str | None, variables: dict[str, Any]) -> Analysis:
    """GitHub's pre-execution checks (pagination boundaries, node limit) and the query's cost."""
    sch = schema()
    out = Analysis()
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        ops = [o for o in ops if o.name is not None and o.name.value == operation_name]
    if len(ops) != 1:
        return out  # execution reports the problem
    op = ops[0]
    var_values = dict(variables)
    for vd in op.variable_definitions or ():
        name = vd.variable.name.value
        if name not in var_values and vd.default_value is not None:
            var_values[name] = value_from_ast_untyped(vd.default_value)
    root = {"query": sch.query_type, "mutation": sch.mutation_type}.get(op.operation.value)
    if root is None:
        return out

    def arg_int(node: FieldNode, name: str) -> int | None:
        for a in node.arguments or ():
            if a.name.value == name:
                v = value_from_ast_untyped(a.value, var_values)
                return v if isinstance(v, int) and not isinstance(v, bool) else None
        return None

    def selects_items(sel: SelectionSetNode | None, seen: frozenset[str]) -> bool:
        for s in sel.selections if sel else ():
            if isinstance(s, FieldNode) and s.name.value in ("nodes", "edges"):
                return True
            if isinstance(s, InlineFragmentNode) and selects_items(s.selection_set, seen):
                return True
            if isinstance(s, FragmentSpreadNode) and s.name.value not in seen:
                frag = fragments.get(s.name.value)
                if frag and selects_items(frag.selection_set, seen | {s.name.value}):
                    return True
        return False

    def walk(sel: SelectionSetNode | None, parent: Any, path: list[str], mult: int, seen: frozenset[str]) -> None:
        if sel is None:
            return
        for s in sel.selections:
            if isinstance(s, FieldNode):
                name = s.name.value
                if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                    continue
                fdef = parent.fields.get(name)
                if fdef is None:
                    continue
                rtype = get_named_type(fdef.type)
                key = s.alias.value if s.alias else name
                here = [*path, key]
                child_mult = mult
                if _is_connection_type(rtype.name) and ("first" in fdef.args or "last" in fdef.args):
                    first, last = arg_int(s, "first"), arg_int(s, "last")
                    loc = s.loc.source.get_location(s.loc.start) if s.loc and s.loc.source else None
                    err_base: dict[str, Any] = {"path": here}
                    if loc is not None:
                        err_base["locations"] = [{"line": loc.line, "column": loc.column}]
                    size = first if first is not None else last
                    which = "first" if first is not None else "last"
                    if size is None:
                        if selects_items(s.selection_set, seen):
                            out.errors.append(
                                {
                                    "type": "MISSING_PAGINATION_BOUNDARIES",
                                    **err_base,
                                    "message": "You must provide a `first` or `last` value to properly "
                                    f"paginate the `{name}` connection.",
                                }
                            )
                        size = 0
                    elif size > MAX_PAGE:
                        out.errors.append(
                            {
                                "type": "EXCESSIVE_PAGINATION",
                                **err_base,
                                "message": f"Requesting {size} records on the `{name}` connection exceeds "
                                f"the `{which}` limit of {MAX_PAGE} records.",
                            }
                        )
                    elif size < 1:
                        out.errors.append(
                            {
                                "type": "EXCESSIVE_PAGINATION" if size == 0 else "INVALID_ARGUMENTS",
                                **err_base,
                                "message": f"`{which}` on the `{name}` connection must be between 1 and "
                                f"{MAX_PAGE} (the stand-in rejects {size}).",
                            }
                        )
                    out.requests += mult
                    out.nodes += mult * max(size, 0)
                    child_mult = mult * max(size, 1)
                walk(s.selection_set, rtype, here, child_mult, seen)
            elif isinstance(s, InlineFragmentNode):
                t = sch.get_type(s.type_condition.name.value) if s.type_condition else parent
                walk(s.selection_set, t, path, mult, seen)
            elif isinstance(s, FragmentSpreadNode) and s.name.value not in seen:
                frag = fragments.get(s.name.value)
                if frag is not None:
                    t = sch.get_type(frag.type_condition.name.value)
                    walk(frag.selection_set, t, path, mult, seen | {s.name.value})

    walk(op.selection_set, root, [], 1, frozenset())
    if out.nodes > MAX_NODES and not out.errors:
        out.errors.append(
            {
                "type": "MAX_NODE_LIMIT_EXCEEDED",
                "message": f"This query requests up to {out.nodes:,} possible nodes which exceeds the "
                f"maximum limit of {MAX_NODES:,}.",
            }
        )
    return out


# --------------------------------------------------------------------------- connections


@dataclass
class ConnectionSource:
    """Items behind a connection field. ``convert`` turns a model item into its GraphQL dict."""

    items: Sequence[Any]
    convert: Callable[[Any], Any] | None = None
    total: int | None = None
    cap: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: fraction of the page to keep (``incomplete_results`` fault)
    keep: float = 1.0


def encode_cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    m = re.fullmatch(r"cursor:(\d+)", text)
    if not m:
        raise GitHubError("INVALID_CURSOR_ARGUMENTS", f"`{cursor}` does not appear to be a valid cursor.")
    return int(m.group(1))


def paginate(src: ConnectionSource, args: dict[str, Any]) -> dict[str, Any]:
    items = src.items
    n = len(items)
    visible = n if src.cap is None else min(n, src.cap)
    first, last = args.get("first"), args.get("last")
    after, before = args.get("after"), args.get("before")
    start, end = 0, visible
    if after is not None:
        start = min(decode_cursor(after), visible)
    if before is not None:
        end = max(min(end, decode_cursor(before) - 1), start)
    lo, hi = start, end
    if first is not None:
        hi = min(end, lo + max(first, 0))
    if last is not None:
        lo = max(lo, hi - max(last, 0))
    has_next = hi < visible
    has_prev = lo > 0
    indexes = list(range(lo, hi))
    if src.keep < 1.0 and indexes:
        kept = max(0, math.ceil(len(indexes) * src.keep))
        indexes = indexes[:kept]
    convert = src.convert
    memo: list[list[Any]] = []

    def page_nodes() -> list[Any]:
        if not memo:
            memo.append([convert(items[i]) if convert else items[i] for i in indexes])
        return memo[0]

    def edges(_info: Info, **_: Any) -> list[dict[str, Any]]:
        return [
            {"__typename": "Edge", "cursor": encode_cursor(i + 1), "node": node}
            for i, node in zip(indexes, page_nodes(), strict=True)
        ]

    return {
        "totalCount": src.total if src.total is not None else n,
        "nodes": lambda _info, **_: page_nodes(),
        "edges": edges,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": encode_cursor(lo + 1) if hi > lo else None,
            "endCursor": encode_cursor(hi) if hi > lo else None,
        },
        **src.extra,
    }


_PLAIN = frozenset({str, int, bool, float, type(None), dict})


@cache
def _field_is_connection(type_name: str) -> bool:
    return _is_connection_type(type_name)


def field_resolver(source: Any, info: Info, **args: Any) -> Any:
    """Dict-based resolver: value, or ``value(info, **args)`` if callable; lists → connections."""
    key = info.field_name
    try:
        value = source[key]
    except KeyError:
        raise GitHubError(
            None, f"The GitHub stand-in does not implement the field `{info.parent_type.name}.{key}`."
        ) from None
    except TypeError:
        value = getattr(source, key, None)
    cls = value.__class__
    if cls in _PLAIN:
        return value
    if callable(value):
        value = value(info, **args)
    if isinstance(value, ConnectionSource):
        return paginate(value, args)
    if isinstance(value, list) and _field_is_connection(get_named_type(info.return_type).name):
        return paginate(ConnectionSource(value), args)
    return value


# --------------------------------------------------------------------------- object builders


@functools.lru_cache(maxsize=1 << 16)
def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(prefix: str, num: int) -> str:
    return base64.b64encode(f"{prefix}:{num}".encode()).decode().rstrip("=")


@dataclass
class Ctx:
    state: GitHubState
    origin: str
    now: datetime
    analysis: Analysis
    bucket: RateBucket | None = None
    fault: Fault | None = None
    #: lower-case organisation logins an installation token may see; None: no restriction
    visible_orgs: frozenset[str] | None = None
    extra_errors: list[dict[str, Any]] = field(default_factory=list)
    repo_cache: dict[int, dict[str, Any]] = field(default_factory=dict)
    actor_cache: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def actor(u: User | None, ctx: Ctx) -> dict[str, Any] | None:
    if u is None:
        return None
    cached = ctx.actor_cache.get((u.login, u.type))
    if cached is not None:
        return cached
    node = _actor(u, ctx)
    ctx.actor_cache[(u.login, u.type)] = node
    return node


def _actor(u: User, ctx: Ctx) -> dict[str, Any]:
    path = f"/apps/{u.login}" if u.type == "Bot" else f"/{u.login}"
    return {
        "__typename": u.type,
        "login": u.login,
        "id": node_id("BOT" if u.type == "Bot" else "U", u.id),
        "databaseId": u.id,
        "name": u.login,
        "url": ctx.origin + path,
        "resourcePath": path,
        "avatarUrl": lambda _info, **_: f"{ctx.origin}/avatars/u/{u.id}",
    }


def _association(pr: PullRequest, u: User | None) -> str:
    if u is None:
        return "NONE"
    if pr.repo.can_push(u):
        return "MEMBER"
    return "CONTRIBUTOR" if u.type == "User" else "NONE"


def repo_node(repo: Repository, ctx: Ctx) -> dict[str, Any]:
    cached = ctx.repo_cache.get(id(repo))
    if cached is not None:
        return cached
    state = ctx.state
    url = f"{ctx.origin}/{repo.owner}/{repo.name}"

    def pull_request(info: Info, number: int, **_: Any) -> dict[str, Any] | None:
        pr = state.get_pr(repo.owner, repo.name, number)
        if pr is None:
            raise GitHubError("NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}.")
        return pr_node(pr, ctx)

    def pull_requests(
        _info: Info,
        states: list[str] | None = None,
        baseRefName: str | None = None,
        headRefName: str | None = None,
        labels: list[str] | None = None,
        orderBy: dict[str, str] | None = None,
        **_: Any,
    ) -> ConnectionSource:
        prs = state.repo_prs(repo)
        if states:
            prs = [p for p in prs if p.state in states]
        if baseRefName is not None:
            prs = [p for p in prs if p.base_ref == baseRefName]
        if headRefName is not None:
            prs = [p for p in prs if p.head_ref == headRefName]
        if labels:
            want = {x.lower() for x in labels}
            prs = [p for p in prs if want & {x.lower() for x in p.labels}]
        if orderBy:
            fld = orderBy.get("field", "CREATED_AT")
            keyf: Callable[[PullRequest], Any] = (
                (lambda p: p.updated_at()) if fld == "UPDATED_AT" else (lambda p: p.created_at)
            )
            prs = sorted(prs, key=keyf, reverse=orderBy.get("direction") == "DESC")
        return ConnectionSource(prs, convert=lambda p: pr_node(p, ctx))

    node: dict[str, Any] = {
        "__typename": "Repository",
        "id": node_id("R", repo.id),
        "databaseId": repo.id,
        "name": repo.name,
        "nameWithOwner": repo.full_name,
        "owner": org_node(repo.owner, ctx),
        "isArchived": repo.archived,
        "isPrivate": repo.private,
        "isFork": False,
        "isDisabled": False,
        "visibility": "PRIVATE" if repo.private else "PUBLIC",
        "url": url,
        "resourcePath": f"/{repo.owner}/{repo.name}",
        "defaultBranchRef": branch_ref_node(repo.default_branch, repo, ctx),
        "pullRequest": pull_request,
        "pullRequests": pull_requests,
        **git_fields(repo, ctx),
    }
    ctx.repo_cache[id(repo)] = node
    return node


def ref_node(name: str, repo: Repository) -> dict[str, Any]:
    return {
        "__typename": "Ref",
        "id": node_id("REF", hash((repo.full_name, name)) & 0xFFFFFFF),
        "name": name,
        "prefix": "refs/heads/",
    }


def org_node(login: str, ctx: Ctx) -> dict[str, Any]:
    repos = ctx.state.org_repos(login) or []

    def repository(_info: Info, name: str, **_: Any) -> dict[str, Any] | None:
        repo = ctx.state.find_repo(login, name)
        return repo_node(repo, ctx) if repo else None

    def repositories(
        _info: Info,
        isArchived: bool | None = None,
        orderBy: dict[str, str] | None = None,
        **_: Any,
    ) -> ConnectionSource:
        items = sorted((r for r in repos if isArchived is None or r.archived == isArchived), key=lambda r: r.name)
        if orderBy and orderBy.get("field") == "PUSHED_AT":
            epoch = datetime.min.replace(tzinfo=UTC)
            items.sort(key=lambda r: r.pushed_at or epoch, reverse=orderBy.get("direction") == "DESC")
        return ConnectionSource(items, convert=lambda r: repo_node(r, ctx))

    oid = next((r.id for r in repos), 0) or hash(login) & 0xFFFFFF
    return {
        "__typename": "Organization",
        "id": node_id("O", oid),
        "databaseId": oid,
        "login": login,
        "name": login,
        "url": f"{ctx.origin}/{login}",
        "resourcePath": f"/{login}",
        "repository": repository,
        "repositories": repositories,
    }


def commit_node(oid: str, repo: Repository, ctx: Ctx) -> dict[str, Any]:
    node = {
        "__typename": "Commit",
        "id": node_id("C", int(oid[:7], 16) if re.fullmatch(r"[0-9a-f]{7,}", oid[:7]) else 0),
        "oid": oid,
        "abbreviatedOid": oid[:7],
        "url": f"{ctx.origin}/{repo.owner}/{repo.name}/commit/{oid}",
    }
    git = repo.commits.get(oid)
    if git is not None:
        node.update(git_commit_fields(git, repo, ctx))
    return node


def label_node(name: str, repo: Repository, ctx: Ctx) -> dict[str, Any]:
    return {
        "__typename": "Label",
        "id": node_id("LA", hash((repo.full_name, name)) & 0xFFFFFFF),
        "name": name,
        "color": "ededed",
        "description": None,
        "isDefault": False,
        "url": f"{ctx.origin}/{repo.owner}/{repo.name}/labels/{name}",
    }


def review_node(pr: PullRequest, r: Review, idx: int, ctx: Ctx, pr_url: str) -> dict[str, Any]:
    rid = r.id or (pr.id * 1000 + idx) % 2_000_000_000
    submitted = iso(r.submitted_at)
    return {
        "__typename": "PullRequestReview",
        "id": node_id("PRR", rid),
        "databaseId": rid,
        "fullDatabaseId": str(rid),
        "author": actor(r.author, ctx),
        "authorAssociation": _association(pr, r.author),
        "authorCanPushToRepository": pr.review_author_can_push(r),
        "state": r.state,
        "body": r.body,
        "bodyText": r.body,
        "submittedAt": None if r.state == "PENDING" else submitted,
        "createdAt": submitted,
        "publishedAt": submitted,
        "updatedAt": submitted,
        "lastEditedAt": None,
        "commit": commit_node(r.commit_oid, pr.repo, ctx),
        "url": f"{pr_url}#pullrequestreview-{rid}",
        "resourcePath": f"/{pr.repo.full_name}/pull/{pr.number}#pullrequestreview-{rid}",
        "pullRequest": lambda _info, **_: pr_node(pr, ctx),
        "repository": lambda _info, **_: repo_node(pr.repo, ctx),
    }


def _label_event_node(pr: PullRequest, e: LabelEvent, idx: int, ctx: Ctx) -> dict[str, Any]:
    return {
        "__typename": "LabeledEvent" if e.action == "labeled" else "UnlabeledEvent",
        "id": node_id("LE" if e.action == "labeled" else "UNLE", pr.id * 1000 + idx),
        "createdAt": iso(e.at),
        "actor": actor(e.actor, ctx),
        "label": label_node(e.label, pr.repo, ctx),
        "labelable": lambda _info, **_: pr_node(pr, ctx),
    }


def _renamed_event_node(pr: PullRequest, e: TitleRename, idx: int, ctx: Ctx) -> dict[str, Any]:
    return {
        "__typename": "RenamedTitleEvent",
        "id": node_id("RTE", pr.id * 1000 + idx),
        "createdAt": iso(e.at),
        "actor": actor(e.actor, ctx),
        "previousTitle": e.previous,
        "currentTitle": e.current,
        "subject": lambda _info, **_: pr_node(pr, ctx),
    }


def _content_edit_node(pr: PullRequest, revision: BodyRevision, idx: int, ctx: Ctx) -> dict[str, Any]:
    """A ``UserContentEdit``: ``diff`` holds the whole text of that revision (null once deleted)."""
    return {
        "__typename": "UserContentEdit",
        "id": node_id("UCE", pr.id * 1000 + idx),
        "createdAt": iso(revision.at),
        "updatedAt": iso(revision.deleted_at or revision.at),
        "editedAt": iso(revision.at),
        "editor": actor(revision.editor, ctx),
        "deletedAt": iso(revision.deleted_at) if revision.deleted_at else None,
        "deletedBy": actor(revision.deleted_by, ctx) if revision.deleted_at else None,
        "diff": None if revision.deleted_at else revision.text,
    }


_TIMELINE_TYPES = {
    "RenamedTitleEvent": "RENAMED_TITLE_EVENT",
    "LabeledEvent": "LABELED_EVENT",
    "UnlabeledEvent": "UNLABELED_EVENT",
    "MergedEvent": "MERGED_EVENT",
    "PullRequestReview": "PULL_REQUEST_REVIEW",
    "ReviewDismissedEvent": "REVIEW_DISMISSED_EVENT",
}


def _visible_reviews(pr: PullRequest, ctx: Ctx) -> list[tuple[int, Review]]:
    viewer = ctx.state.viewer
    return [
        (i, r)
        for i, r in enumerate(pr.reviews)
        if r.state != "PENDING" or (r.author is not None and r.author.login == viewer)
    ]


def pr_node(pr: PullRequest, ctx: Ctx) -> dict[str, Any]:
    repo = pr.repo
    url = f"{ctx.origin}/{repo.owner}/{repo.name}/pull/{pr.number}"

    def reviews(
        _info: Info,
        states: list[str] | None = None,
        author: str | None = None,
        **_: Any,
    ) -> ConnectionSource:
        items = _visible_reviews(pr, ctx)
        if states:
            items = [(i, r) for i, r in items if r.state in states]
        if author is not None:
            items = [(i, r) for i, r in items if r.author is not None and r.author.login == author]
        return ConnectionSource(items, convert=lambda t: review_node(pr, t[1], t[0], ctx, url))

    def latest_opinionated(
        _info: Info,
        writersOnly: bool = False,
        **_: Any,
    ) -> ConnectionSource:
        latest: dict[str, tuple[int, Review]] = {}
        for i, r in _visible_reviews(pr, ctx):
            if r.author is None or r.state not in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                continue
            if writersOnly and not pr.review_author_can_push(r):
                continue
            latest[r.author.login] = (i, r)
        items = sorted(latest.values(), key=lambda t: t[1].submitted_at)
        return ConnectionSource(items, convert=lambda t: review_node(pr, t[1], t[0], ctx, url))

    def latest_reviews(_info: Info, **_: Any) -> ConnectionSource:
        latest: dict[str, tuple[int, Review]] = {}
        for i, r in _visible_reviews(pr, ctx):
            if r.author is not None and r.state != "PENDING":
                latest[r.author.login] = (i, r)
        items = sorted(latest.values(), key=lambda t: t[1].submitted_at)
        return ConnectionSource(items, convert=lambda t: review_node(pr, t[1], t[0], ctx, url))

    def timeline(
        _info: Info,
        itemTypes: list[str] | None = None,
        since: str | None = None,
        skip: int | None = None,
        **_: Any,
    ) -> ConnectionSource:
        events: list[tuple[datetime, str, Callable[[], dict[str, Any]]]] = []
        for i, e in enumerate(pr.label_events):
            tname = "LabeledEvent" if e.action == "labeled" else "UnlabeledEvent"
            events.append((e.at, tname, partial(_label_event_node, pr, e, i, ctx)))
        for i, rename in enumerate(pr.title_renames):
            events.append((rename.at, "RenamedTitleEvent", partial(_renamed_event_node, pr, rename, i, ctx)))
        for i, r in _visible_reviews(pr, ctx):
            if r.state != "PENDING":
                events.append((r.submitted_at, "PullRequestReview", partial(review_node, pr, r, i, ctx, url)))
            if r.state == "DISMISSED":
                at = r.dismissed_at or r.submitted_at
                events.append((at, "ReviewDismissedEvent", partial(_dismissed, pr, r, i, at, ctx, url)))
        if pr.merged_at is not None:
            events.append((pr.merged_at, "MergedEvent", partial(_merged_event, pr, ctx, url)))
        if itemTypes:
            wanted = set(itemTypes)
            events = [ev for ev in events if _TIMELINE_TYPES[ev[1]] in wanted]
        if since is not None:
            since_dt = datetime.fromisoformat(since.replace("Z", "+00:00"))
            events = [ev for ev in events if ev[0] >= since_dt]
        events.sort(key=lambda ev: ev[0])
        total = len(events)
        if skip:
            events = events[skip:]
        return ConnectionSource(
            events,
            convert=lambda ev: ev[2](),
            total=total,
            extra={"filteredCount": total, "pageCount": len(events), "updatedAt": iso(pr.updated_at())},
        )

    def labels(_info: Info, **_: Any) -> ConnectionSource:
        return ConnectionSource(pr.labels, convert=lambda name: label_node(name, repo, ctx))

    def commits(_info: Info, **_: Any) -> ConnectionSource:
        return ConnectionSource(list(enumerate(pr.pr_commits())), convert=lambda t: _pr_commit_node(pr, *t, ctx))

    def content_edits(_info: Info, **_: Any) -> ConnectionSource:
        # GitHub lists the newest edit first.
        history = list(enumerate(pr.body_history))[::-1]
        return ConnectionSource(history, convert=lambda t: _content_edit_node(pr, t[1], t[0], ctx))

    return {
        "__typename": "PullRequest",
        "id": node_id("PR", pr.id),
        "databaseId": pr.id,
        "fullDatabaseId": str(pr.id),
        "number": pr.number,
        "url": url,
        "permalink": url,
        "resourcePath": f"/{repo.owner}/{repo.name}/pull/{pr.number}",
        "title": pr.title,
        "body": pr.body,
        "bodyText": pr.body,
        "state": pr.state,
        "createdAt": iso(pr.created_at),
        "updatedAt": iso(pr.updated_at()),
        "mergedAt": iso(pr.merged_at),
        "closedAt": iso(pr.closed_at or pr.merged_at),
        "merged": pr.merged_at is not None,
        "closed": pr.state != "OPEN",
        "isDraft": False,
        "locked": False,
        "author": actor(pr.author, ctx),
        "authorAssociation": _association(pr, pr.author),
        "mergedBy": actor(pr.merged_by, ctx),
        "editor": None,
        "lastEditedAt": iso(pr.last_edited_at()) if pr.last_edited_at() else None,
        "includesCreatedEdit": bool(pr.body_history),
        "userContentEdits": content_edits,
        "baseRefName": pr.base_ref,
        "headRefName": pr.head_ref,
        "headRefOid": pr.head_oid,
        "baseRef": ref_node(pr.base_ref, repo),
        "headRef": ref_node(pr.head_ref, repo) if pr.state == "OPEN" else None,
        "mergeCommit": commit_node(pr.merge_commit_oid, repo, ctx) if pr.merge_commit_oid else None,
        "reviewDecision": pr.review_decision,
        "repository": lambda _info, **_: repo_node(repo, ctx),
        "baseRepository": lambda _info, **_: repo_node(repo, ctx),
        "labels": labels,
        "commits": commits,
        "reviews": reviews,
        "latestReviews": latest_reviews,
        "latestOpinionatedReviews": latest_opinionated,
        "timelineItems": timeline,
    }


def _pr_commit_node(pr: PullRequest, idx: int, commit: GitCommit, ctx: Ctx) -> dict[str, Any]:
    """A ``PullRequestCommit``: the commit as the repository's history has it (or the PR's own commit)."""
    url = f"{ctx.origin}/{pr.repo.owner}/{pr.repo.name}/pull/{pr.number}/commits/{commit.oid}"
    return {
        "__typename": "PullRequestCommit",
        "id": node_id("PURC", pr.id * 1000 + idx),
        "commit": {**commit_node(commit.oid, pr.repo, ctx), **git_commit_fields(commit, pr.repo, ctx)},
        "pullRequest": lambda _info, **_: pr_node(pr, ctx),
        "url": url,
        "resourcePath": url.removeprefix(ctx.origin),
    }


def _merged_event(pr: PullRequest, ctx: Ctx, url: str) -> dict[str, Any]:
    return {
        "__typename": "MergedEvent",
        "id": node_id("ME", pr.id),
        "createdAt": iso(pr.merged_at),
        "actor": actor(pr.merged_by, ctx),
        "commit": commit_node(pr.merge_commit_oid, pr.repo, ctx) if pr.merge_commit_oid else None,
        "mergeRefName": pr.base_ref,
        "mergeRef": ref_node(pr.base_ref, pr.repo),
        "url": f"{url}#event-{pr.id}",
        "resourcePath": f"/{pr.repo.full_name}/pull/{pr.number}#event-{pr.id}",
        "pullRequest": lambda _info, **_: pr_node(pr, ctx),
    }


def _dismissed(pr: PullRequest, r: Review, i: int, at: datetime, ctx: Ctx, url: str) -> dict[str, Any]:
    return {
        "__typename": "ReviewDismissedEvent",
        "id": node_id("RDE", pr.id * 1000 + i),
        "createdAt": iso(at),
        "actor": actor(r.dismissed_by, ctx),
        "dismissalMessage": "",
        "previousReviewState": r.previous_state,
        "review": review_node(pr, r, i, ctx, url),
        "pullRequest": lambda _info, **_: pr_node(pr, ctx),
    }


# --------------------------------------------------------------------------- root


def root_value(ctx: Ctx) -> dict[str, Any]:
    state = ctx.state

    def visible(owner: str) -> bool:
        return ctx.visible_orgs is None or owner.lower() in ctx.visible_orgs

    def organization(_info: Info, login: str, **_: Any) -> dict[str, Any] | None:
        if login.lower() in {org.lower() for org in state.null_orgs}:
            return None
        repos = state.org_repos(login)
        if repos is None or not visible(login):
            raise GitHubError("NOT_FOUND", f"Could not resolve to an Organization with the login of '{login}'.")
        canonical = next(o for o in state.orgs if o.lower() == login.lower())
        return org_node(canonical, ctx)

    def repository(_info: Info, owner: str, name: str, **_: Any) -> dict[str, Any]:
        repo = state.find_repo(owner, name)
        if repo is None or not visible(owner):
            raise GitHubError("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return repo_node(repo, ctx)

    def search(_info: Info, query: str, type: str, **_: Any) -> ConnectionSource:
        if type != "ISSUE":
            raise GitHubError("INVALID", f"The GitHub stand-in only supports search(type: ISSUE), not {type}.")
        try:
            scope = parse_query(query)
            # An installation token cannot search another organisation: GitHub answers as for an unknown one.
            if not all(map(visible, scope.orgs)) or not all(visible(owner) for owner, _ in scope.repos):
                raise SearchError(NOT_SEARCHABLE)
            prs = run_search(state, query, now=ctx.now)
        except SearchError as exc:
            raise GitHubError("INVALID", exc.message) from None
        keep = 1.0
        if ctx.fault is not None and ctx.fault.kind == "incomplete_results":
            keep = ctx.fault.keep
            ctx.extra_errors.append({"path": ["search"], "message": TIMEOUT_MESSAGE})
        count = len(prs)
        return ConnectionSource(
            prs,
            convert=lambda p: pr_node(p, ctx),
            total=count,
            cap=SEARCH_CAP,
            keep=keep,
            extra={
                "issueCount": count,
                "codeCount": 0,
                "discussionCount": 0,
                "repositoryCount": 0,
                "userCount": 0,
                "wikiCount": 0,
            },
        )

    def rate_limit(_info: Info, **_: Any) -> dict[str, Any]:
        b = ctx.bucket or state.rate["graphql"]
        return {
            "__typename": "RateLimit",
            "cost": ctx.analysis.cost,
            "limit": b.limit,
            "remaining": b.remaining,
            "used": b.used,
            "resetAt": iso(datetime.fromtimestamp(b.reset or 0, UTC)),
            "nodeCount": ctx.analysis.nodes,
        }

    viewer_user = state.users.get(state.viewer) or User(state.viewer)
    return {
        "viewer": actor(viewer_user, ctx),
        "organization": organization,
        "repository": repository,
        "search": search,
        "rateLimit": rate_limit,
    }


# --------------------------------------------------------------------------- request handling


@dataclass
class GraphQLResult:
    status: int
    payload: dict[str, Any]
    cost: int = 0
    bucket: RateBucket | None = None


def _format_error(err: GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = {}
    orig = err.original_error
    if isinstance(orig, GitHubError) and orig.type:
        out["type"] = orig.type
    if err.path:
        out["path"] = list(err.path)
    if err.locations:
        out["locations"] = _locations(err)
    out["message"] = err.message
    return out


def _never_awaitable(_value: Any) -> TypeGuard[Awaitable[Any]]:
    return False


def handle(
    state: GitHubState,
    raw_body: bytes,
    *,
    origin: str,
    fault: Fault | None,
    request_id: str,
    visible_orgs: frozenset[str] | None = None,
) -> GraphQLResult:
    try:
        body = json.loads(raw_body or b"null")
    except (ValueError, UnicodeDecodeError):
        return GraphQLResult(
            400, {"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"}
        )
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str):
        return GraphQLResult(
            200, {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
        )
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return GraphQLResult(200, {"errors": [{"message": "Variables must be a JSON object."}]})
    operation_name = body.get("operationName") or None

    doc = parse_and_validate(query)
    if isinstance(doc, list):
        return GraphQLResult(200, {"errors": doc})
    analysis = analyze(doc, operation_name, variables)
    if analysis.errors:
        return GraphQLResult(200, {"errors": analysis.errors})

    ok, bucket = state.consume("graphql", analysis.cost)
    if not ok:
        viewer = state.users.get(state.viewer) or User(state.viewer)
        return GraphQLResult(
            200,
            {
                "errors": [
                    {"type": "RATE_LIMITED", "message": f"API rate limit already exceeded for user ID {viewer.id}."}
                ]
            },
            0,
            bucket,
        )
    if fault is not None and fault.kind == "graphql_errors" and not fault.partial:
        err: dict[str, Any] = {"message": fault.message or SOMETHING_WRONG.format(rid=request_id)}
        if fault.error_type:
            err = {"type": fault.error_type, **err}
        return GraphQLResult(200, {"data": None, "errors": [err]}, analysis.cost, bucket)

    ctx = Ctx(
        state=state,
        origin=origin,
        now=state.clock(),
        analysis=analysis,
        bucket=bucket,
        fault=fault,
        visible_orgs=visible_orgs,
    )
    result = execute(
        schema(),
        doc,
        root_value=root_value(ctx),
        context_value=ctx,
        variable_values=variables,
        operation_name=operation_name,
        field_resolver=field_resolver,
        is_awaitable=_never_awaitable,  # resolvers are synchronous; skips a check per field
    )
    if not hasattr(result, "data"):  # pragma: no cover - resolvers are synchronous
        raise RuntimeError("unexpected asynchronous execution result")
    payload: dict[str, Any] = {}
    errors = [_format_error(e) for e in result.errors or ()] + ctx.extra_errors  # type: ignore[union-attr]
    if fault is not None and fault.kind == "graphql_errors" and fault.partial:
        err = {"message": fault.message or SOMETHING_WRONG.format(rid=request_id)}
        if fault.error_type:
            err = {"type": fault.error_type, **err}
        errors.append(err)
    if result.data is not None or not errors:
        payload["data"] = result.data
    else:
        payload["data"] = None
    if errors:
        payload["errors"] = errors
    if fault is not None and fault.kind == "malformed_count":
        _corrupt_issue_count(payload.get("data"))
    return GraphQLResult(200, payload, analysis.cost, bucket)


def _corrupt_issue_count(data: Any) -> None:
    """The ``malformed_count`` fault: every ``issueCount`` in the answer becomes a string."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "issueCount":
                data[key] = f"{value} or so"
            else:
                _corrupt_issue_count(value)
    elif isinstance(data, list):
        for item in data:
            _corrupt_issue_count(item)


__all__ = [
    "NOT_SEARCHABLE",
    "ConnectionSource",
    "GitHubError",
    "GraphQLResult",
    "analyze",
    "handle",
    "parse_and_validate",
    "schema",
    "selects_search",
]
