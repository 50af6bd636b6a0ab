"""GraphQL documents sent to GitHub. Contract tests validate each against GitHub's published schema.

One search page carries 100 merged PRs with their reviews, labels and label timeline (GitHub allows at
most 100 per connection and 500,000 nodes per call: 100 x (100 + 100 + 100) is far below). By GitHub's
published cost formula a page costs about 4 points of the 5,000 an hour a token has.
https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
"""

from __future__ import annotations

_ACTOR = "__typename login"

_REVIEW = f"""
fragment AuditReview on PullRequestReview {{
  author {{ {_ACTOR} }}
  state
  submittedAt
  authorCanPushToRepository
  commit {{ oid }}
}}
"""

_LABEL_EVENT = f"""
fragment AuditLabelEvent on PullRequestTimelineItems {{
  __typename
  ... on LabeledEvent {{ createdAt actor {{ {_ACTOR} }} label {{ name }} }}
  ... on UnlabeledEvent {{ createdAt actor {{ {_ACTOR} }} label {{ name }} }}
}}
"""

_PULL_REQUEST = f"""
fragment AuditPullRequest on PullRequest {{
  number
  url
  title
  body
  mergedAt
  baseRefName
  headRefName
  headRefOid
  reviewDecision
  author {{ {_ACTOR} }}
  mergedBy {{ {_ACTOR} }}
  mergeCommit {{ oid }}
  repository {{ nameWithOwner isArchived defaultBranchRef {{ name }} }}
  labels(first: 100) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ name }} }}
  reviews(first: 100) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...AuditReview }} }}
  timelineItems(first: 100, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {{
    totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...AuditLabelEvent }}
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
    + _LABEL_EVENT
)

MORE_REVIEWS = (
    """
query AuditMoreReviews($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviews(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { ...AuditReview } }
    }
  }
}
"""
    + _REVIEW
)

MORE_LABELS = """
query AuditMoreLabels($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      labels(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { name } }
    }
  }
}
"""

MORE_LABEL_EVENTS = (
    """
query AuditMoreLabelEvents($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      timelineItems(first: 100, after: $after, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {
        pageInfo { hasNextPage endCursor } nodes { ...AuditLabelEvent }
      }
    }
  }
}
"""
    + _LABEL_EVENT
)


def access_check(orgs: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """One request that proves the token works (``viewer``) and every organisation exists."""
    params = ", ".join(f"$o{i}: String!" for i in range(len(orgs)))
    fields = "\n  ".join(f"o{i}: organization(login: $o{i}) {{ login }}" for i in range(len(orgs)))
    signature = f"({params})" if orgs else ""
    document = f"query AuditAccess{signature} {{\n  viewer {{ login }}\n  {fields}\n}}\n"
    return document, {f"o{i}": org for i, org in enumerate(orgs)}
