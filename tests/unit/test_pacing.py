"""The pacer spends GitHub's points-per-minute budget, never more, and waits as long as GitHub asks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from github import GithubException
from github.GithubException import RateLimitExceededException

from pr_auditor.github.failures import is_rate_limited, rate_limited
from pr_auditor.github.pacing import Pacer, most_points_in_a_minute


@dataclass
class Clock:
    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(clock: Clock, **budgets: float) -> Pacer:
    return Pacer(budgets, sleep=clock.sleep, monotonic=lambda: clock.now)


def starts_of(clock: Clock, paced: Pacer, family: str, count: int) -> list[float]:
    starts = []
    for _ in range(count):
        paced.before_request(family)
        starts.append(clock.now)
    return starts


def test_no_minute_ever_carries_more_points_than_the_budget_allows() -> None:
    # Given a pacer at 1,800 GraphQL points a minute and a client that would send as fast as it can
    clock = Clock()
    starts = starts_of(clock, pacer(clock, graphql=1800), "graphql", 5000)
    # Then any 60 seconds hold at most the burst plus a minute's refill, below GitHub's 2,000
    most = max(sum(1 for t in starts if first <= t < first + 60) for first in starts[::50])
    assert most <= most_points_in_a_minute(1800) + 1 <= 2000
    # And the rate is the budget's: 5,000 requests take about 5,000 / 30 a second
    assert starts[-1] - starts[0] == pytest.approx((5000 - 60) / 30, rel=0.01)


def test_requests_slower_than_the_budget_never_wait() -> None:
    # Given requests that take 50 ms each (20 a second, below 30 a second)
    clock = Clock()
    paced = pacer(clock, graphql=1800)
    for _ in range(2000):
        paced.before_request("graphql")
        clock.now += 0.05
    # Then the pacer never slept
    assert clock.slept == []


def test_each_endpoint_family_has_its_own_bucket() -> None:
    clock = Clock()
    paced = pacer(clock, graphql=60, rest=60)  # one point a second, a burst of two
    starts_of(clock, paced, "graphql", 2)
    paced.before_request("rest")  # REST's bucket is still full
    assert clock.slept == []
    paced.before_request("graphql")
    assert clock.slept == [pytest.approx(1.0)]


def test_a_pause_github_asked_for_holds_every_family() -> None:
    clock = Clock()
    paced = pacer(clock)
    paced.pause(30)
    paced.before_request("rest")
    assert clock.slept == [pytest.approx(30)]


def headers_error(status: int, headers: dict[str, str], message: str = "") -> GithubException:
    kind = RateLimitExceededException if "rate limit" in message else GithubException
    return kind(status, {"message": message}, headers)


def test_retry_after_is_the_wait_when_github_sends_it() -> None:
    limited = headers_error(403, {"Retry-After": "7"}, "You have exceeded a secondary rate limit.")
    assert is_rate_limited(limited)
    assert rate_limited(limited, now=0).retry_in == 7


def test_an_exhausted_budget_waits_for_its_reset() -> None:
    limited = headers_error(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1100"}, "API rate limit exceeded")
    assert rate_limited(limited, now=1000).retry_in == 101


def test_a_secondary_limit_without_a_hint_waits_a_minute_then_longer_each_time() -> None:
    limited = headers_error(429, {})
    assert is_rate_limited(limited)
    assert [rate_limited(limited, now=0, earlier_hits=n).retry_in for n in range(3)] == [60, 120, 240]


def test_a_plain_403_is_not_a_rate_limit() -> None:
    assert not is_rate_limited(headers_error(403, {}, "Resource not accessible by integration"))
