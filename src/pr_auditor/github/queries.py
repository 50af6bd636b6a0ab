"""GraphQL documents sent to GitHub. Contract tests validate each against GitHub's published schema.

One search page carries 100 merged PRs with their reviews, labels, timeline (labels, renames, dismissals) and
first commits with their authors (GitHub allows at most 100 per connection and 500,000 nodes per call:
100 x (100 + 100 + 100 + 20 + 20 x 100) = 232,000 is below). By GitHub's published cost formula a page costs
about 24 points of the 5,000 an hour a token has, 20 of them for the commits' authors (see ``_PR_COMMIT``).

The description's edit history (``userContentEdits``; each entry holds the whole text of a revision, up to
64 KB) is not selected in the search: the page selects ``lastEditedAt``, and only PRs whose description was
edited after the merge have their history read, by the batched follow-ups (see docs/verdict-at-merge.md).
https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
"""

from __future__ import annotations

_ACTOR = "__typename login"

_REVIEW = f"""
fragment AuditReview on PullRequestReview {{
  id
  author {{ {_ACTOR} }}
  state
  submittedAt
  authorCanPushToRepository
  commit {{ oid }}
}}
"""

_TIMELINE_ITEM = f"""
fragment AuditTimelineItem on PullRequestTimelineItems {{
  __typename
  ... on LabeledEvent {{ createdAt actor {{ {_ACTOR} }} label {{ name }} }}
  ... on UnlabeledEvent {{ createdAt actor {{ {_ACTOR} }} label {{ name }} }}
  ... on RenamedTitleEvent {{ createdAt previousTitle currentTitle }}
  ... on ReviewDismissedEvent {{
    createdAt previousReviewState actor {{ {_ACTOR} }} review {{ id author {{ {_ACTOR} }} }}
  }}
}}
"""
_TIMELINE_TYPES = "[LABELED_EVENT, UNLABELED_EVENT, RENAMED_TITLE_EVENT, REVIEW_DISMISSED_EVENT]"

# A PR's commits, each with ``Commit.authors`` (the git author, then the Co-authored-by trailers) and the
# committer: who wrote part of the change (segregation of duties). ``authors`` is a connection inside a
# connection, and GitHub prices a query by the connections it must fill (first x first), so the search page
# reads the first COMMITS_IN_SEARCH commits of each PR (1 + 100 x 4 + 100 x 20 = 2,401 requests, 24 points a
# page instead of 3) and longer PRs are completed by the follow-ups, 100 commits a page. At most 100
# authors a commit are read: trailers beyond that are not looked at.
COMMITS_IN_SEARCH = 20
_PR_COMMIT = """
fragment AuditPullRequestCommit on PullRequestCommit {
  commit {
    oid
    authors(first: 100) { nodes { user { login } } }
    committer { user { login } }
  }
}
"""
#: Revisions of a description per follow-up page: each can be 64 KB, so pages stay small.
EDITS_PAGE = 20

_PULL_REQUEST = f"""
fragment AuditPullRequest on PullRequest {{
  number
  createdAt
  url
  title
  body
  mergedAt
  baseRefName
  headRefName
  headRefOid
  reviewDecision
  lastEditedAt
  author {{ {_ACTOR} }}
  mergedBy {{ {_ACTOR} }}
  mergeCommit {{ oid }}
  repository {{ nameWithOwner isArchived defaultBranchRef {{ name }} }}
  labels(first: 100) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ name }} }}
  reviews(first: 100) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...AuditReview }} }}
  timelineItems(first: 100, itemTypes: {_TIMELINE_TYPES}) {{
    totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...AuditTimelineItem }}
  }}
  commits(first: {COMMITS_IN_SEARCH}) {{
    totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...AuditPullRequestCommit }}
  }}
}}
"""

SEARCH_MERGED = (
    """
query AuditSearch($query: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  search(query: $query, type: ISSUE, first: $first, after: $after) {
    issueCount
    pageInfo { hasNextPage endCursor }
    nodes { __typename ...AuditPullRequest }
  }
}
"""
    + _PULL_REQUEST
    + _REVIEW
    + _TIMELINE_ITEM
    + _PR_COMMIT
)

_FOLLOW_UP_SELECTIONS = {
    "reviews": ("reviews(first: 100, after: $a{i})", "nodes {{ ...AuditReview }}", _REVIEW),
    "labels": ("labels(first: 100, after: $a{i})", "nodes {{ name }}", ""),
    "timelineItems": (
        f"timelineItems(first: 100, after: $a{{i}}, itemTypes: {_TIMELINE_TYPES})",
        "nodes {{ ...AuditTimelineItem }}",
        _TIMELINE_ITEM,
    ),
    # newest first; the first page too is read as a follow-up (cursor null), for PRs edited after the merge
    "userContentEdits": (f"userContentEdits(first: {EDITS_PAGE}, after: $a{{i}})", "nodes {{ editedAt diff }}", ""),
    "commits": ("commits(first: 100, after: $a{i})", "nodes {{ ...AuditPullRequestCommit }}", _PR_COMMIT),
}
FOLLOW_UP_CONNECTIONS = tuple(_FOLLOW_UP_SELECTIONS)


def follow_up(pages: list[tuple[str, str, int, str, str | None]]) -> tuple[str, dict[str, object]]:
    """One request for the next page of several PRs' connections (reviews past 100, …), by alias.

    ``pages``: (owner, name, number, connection, cursor) each; a null cursor asks for the first page. Batching keeps a PR with 120 reviews from
    costing a request of its own: the follow-ups of a whole window usually fit in one request.
    """
    params: list[str] = []
    fields: list[str] = []
    fragments: dict[str, str] = {}
    variables: dict[str, object] = {}
    for i, (owner, name, number, connection, cursor) in enumerate(pages):
        call, nodes, fragment = _FOLLOW_UP_SELECTIONS[connection]
        params.append(f"$o{i}: String!, $n{i}: String!, $p{i}: Int!, $a{i}: String")
        fields.append(
            f"c{i}: repository(owner: $o{i}, name: $n{i}) {{ pullRequest(number: $p{i}) {{ "
            f"{call.format(i=i)} {{ pageInfo {{ hasNextPage endCursor }} {nodes.format()} }} }} }}"
        )
        if fragment:
            fragments[connection] = fragment
        variables.update({f"o{i}": owner, f"n{i}": name, f"p{i}": number, f"a{i}": cursor})
    body = "\n  ".join(fields)
    document = f"query AuditFollowUp({', '.join(params)}) {{\n  {body}\n}}\n" + "".join(fragments.values())
    return document, variables


ORG_REPOSITORIES = """
query AuditOrgRepositories($login: String!, $after: String) {
  organization(login: $login) {
    repositories(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { nameWithOwner } }
  }
}
"""


def access_check(orgs: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """One request that proves the token works (``viewer``) and every organisation exists."""
    params = ", ".join(f"$o{i}: String!" for i in range(len(orgs)))
    fields = "\n  ".join(f"o{i}: organization(login: $o{i}) {{ login }}" for i in range(len(orgs)))
    signature = f"({params})" if orgs else ""
    document = f"query AuditAccess{signature} {{\n  viewer {{ login }}\n  {fields}\n}}\n"
    return document, {f"o{i}": org for i, org in enumerate(orgs)}


# --- branch audit: repositories by push time, branch histories, protection -----------------------------------

REPOSITORIES_BY_PUSH = """
query AuditRepositoriesByPush($login: String!, $after: String) {
  organization(login: $login) {
    repositories(first: 100, after: $after, orderBy: {field: PUSHED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes { nameWithOwner pushedAt defaultBranchRef { name target { oid } } }
    }
  }
}
"""

_COMMIT = """
fragment AuditCommit on Commit {
  oid
  url
  committedDate
  author { name user { login } }
  committer { name user { login } }
  parents(first: 10) { nodes { oid } }
  associatedPullRequests(first: 10) { nodes { number state baseRefName mergeCommit { oid } } }
}
"""


def branch_refs(repositories: list[tuple[str, str]]) -> tuple[str, dict[str, object]]:
    """One request for the branches (name and head) of several repositories, by alias."""
    params = ", ".join(f"$o{i}: String!, $n{i}: String!" for i in range(len(repositories)))
    fields = "\n  ".join(
        f'r{i}: repository(owner: $o{i}, name: $n{i}) {{ refs(refPrefix: "refs/heads/", first: 100) '
        "{ pageInfo { hasNextPage } nodes { name target { oid } } } }"
        for i in range(len(repositories))
    )
    variables: dict[str, object] = {}
    for i, (owner, name) in enumerate(repositories):
        variables.update({f"o{i}": owner, f"n{i}": name})
    return f"query AuditBranchRefs({params}) {{\n  {fields}\n}}\n", variables


def history_pages(walks: list[tuple[str, str, str, int, str | None]]) -> tuple[str, dict[str, object]]:
    """One request for the next history page of several branches: (owner, name, head oid, size, cursor).

    Walking from the head *oid* (not the branch name) keeps a page sequence consistent while the branch
    moves; 20 walks x 100 commits x (10 parents + 10 PRs) stays far below GitHub's 500,000 nodes."""
    params: list[str] = []
    fields: list[str] = []
    variables: dict[str, object] = {}
    for i, (owner, name, head, size, cursor) in enumerate(walks):
        params.append(f"$o{i}: String!, $n{i}: String!, $h{i}: GitObjectID!, $f{i}: Int!, $a{i}: String")
        fields.append(
            f"w{i}: repository(owner: $o{i}, name: $n{i}) {{ object(oid: $h{i}) {{ ... on Commit {{ "
            f"history(first: $f{i}, after: $a{i}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ ...AuditCommit }} }}"
            " } } }"
        )
        variables.update({f"o{i}": owner, f"n{i}": name, f"h{i}": head, f"f{i}": size, f"a{i}": cursor})
    body = "\n  ".join(fields)
    return f"query AuditHistory({', '.join(params)}) {{\n  {body}\n}}\n" + _COMMIT, variables


def commits_by_oid(commits: list[tuple[str, str, str]]) -> tuple[str, dict[str, object]]:
    """One request for several commits by SHA, in any repositories: (owner, name, oid) each. A commit a
    force-push left behind is still readable by SHA (``Repository.object(oid:)``)."""
    params: list[str] = []
    fields: list[str] = []
    variables: dict[str, object] = {}
    for i, (owner, name, oid) in enumerate(commits):
        params.append(f"$o{i}: String!, $n{i}: String!, $h{i}: GitObjectID!")
        fields.append(f"c{i}: repository(owner: $o{i}, name: $n{i}) {{ object(oid: $h{i}) {{ ...AuditCommit }} }}")
        variables.update({f"o{i}": owner, f"n{i}": name, f"h{i}": oid})
    body = "\n  ".join(fields)
    return f"query AuditCommitsByOid({', '.join(params)}) {{\n  {body}\n}}\n" + _COMMIT, variables


def commits_between_pages(
    branches: list[tuple[str, str, str, str | None]], since: str, until: str
) -> tuple[str, dict[str, object]]:
    """One request for the next page of commits dated in [since, until] on several branches: (owner, name,
    qualified branch, cursor) each — the CLI's fallback where activity is not served, batched like the walk."""
    params = ["$since: GitTimestamp!", "$until: GitTimestamp!"]
    fields: list[str] = []
    variables: dict[str, object] = {"since": since, "until": until}
    for i, (owner, name, branch, cursor) in enumerate(branches):
        params.append(f"$o{i}: String!, $n{i}: String!, $b{i}: String!, $a{i}: String")
        fields.append(
            f"b{i}: repository(owner: $o{i}, name: $n{i}) {{ ref(qualifiedName: $b{i}) {{ target {{ ... on Commit {{ "
            f"history(first: 100, after: $a{i}, since: $since, until: $until) "
            "{ pageInfo { hasNextPage endCursor } nodes { ...AuditCommit } } } } } }"
        )
        variables.update({f"o{i}": owner, f"n{i}": name, f"b{i}": branch, f"a{i}": cursor})
    body = "\n  ".join(fields)
    return f"query AuditCommitsBetweenPages({', '.join(params)}) {{\n  {body}\n}}\n" + _COMMIT, variables


def protection(branches: list[tuple[str, str, str]]) -> tuple[str, dict[str, object]]:
    """One request for the effective protection of several branches: (owner, name, branch) each.

    ``viewerCanAdminister`` says whether the answer can be trusted: without admin rights GitHub answers
    ``branchProtectionRule: null`` and hides ruleset bypass actors, which must not read as "unprotected"."""
    params: list[str] = []
    fields: list[str] = []
    variables: dict[str, object] = {}
    for i, (owner, name, branch) in enumerate(branches):
        params.append(f"$o{i}: String!, $n{i}: String!, $b{i}: String!")
        fields.append(
            f"p{i}: repository(owner: $o{i}, name: $n{i}) {{ viewerCanAdminister "
            f"ref(qualifiedName: $b{i}) {{ ...AuditProtection }} }}"
        )
        variables.update({f"o{i}": owner, f"n{i}": name, f"b{i}": branch})
    body = "\n  ".join(fields)
    return f"query AuditProtection({', '.join(params)}) {{\n  {body}\n}}\n" + _PROTECTION, variables


_PROTECTION = """
fragment AuditProtection on Ref {
  branchProtectionRule {
    pattern
    requiredApprovingReviewCount
    requiresApprovingReviews
    dismissesStaleReviews
    requiresCodeOwnerReviews
    isAdminEnforced
    bypassPullRequestAllowances(first: 100) {
      nodes { actor { __typename ... on User { login } ... on Team { slug } ... on App { slug } } }
    }
  }
  rules(first: 20) {
    nodes {
      type
      parameters {
        ... on PullRequestParameters { requiredApprovingReviewCount dismissStaleReviewsOnPush requireCodeOwnerReview }
      }
      repositoryRuleset {
        name
        enforcement
        bypassActors(first: 20) {
          nodes { organizationAdmin repositoryRoleName actor { __typename ... on App { slug } ... on Team { slug } } }
        }
      }
    }
  }
}
"""
