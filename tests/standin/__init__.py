"""A GitHub stand-in: a real HTTP server on 127.0.0.1 that PyGithub talks to (REST + GraphQL).

Quick start::

    from standin import StandIn, generate_org, Fault
    state = generate_org(seed=1, n_prs=250, since=..., until=...)
    with StandIn(state) as server:
        gh = Github(auth=Auth.Token("test-token"), base_url=server.base_url,
                    seconds_between_requests=0, seconds_between_writes=0)
        state.faults.add(Fault("http_502", match="graphql"))
        ...
        state.count("graphql")
"""

from .generate import (
    ADMIN,
    BOTS,
    HEAD,
    HUMANS,
    OUTSIDER,
    SCENARIOS,
    add_pr,
    generate_org,
    make_state,
    review,
    scenario_counts,
    user,
)
from .model import (
    FAULT_KINDS,
    Fault,
    FaultPlan,
    GitHubState,
    LabelEvent,
    PullRequest,
    RateBucket,
    Repository,
    RequestRecord,
    Review,
    User,
)
from .server import StandIn

__all__ = [
    "ADMIN",
    "BOTS",
    "FAULT_KINDS",
    "HEAD",
    "HUMANS",
    "OUTSIDER",
    "SCENARIOS",
    "Fault",
    "FaultPlan",
    "GitHubState",
    "LabelEvent",
    "PullRequest",
    "RateBucket",
    "Repository",
    "RequestRecord",
    "Review",
    "StandIn",
    "User",
    "add_pr",
    "generate_org",
    "make_state",
    "review",
    "scenario_counts",
    "user",
]
